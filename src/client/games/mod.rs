//! Typed helpers for each game kind gamehall ships: action builders to pass to
//! [`Connection::act`](super::Connection::act) or to send in an `act` frame, views that
//! deserialise a `joined`/`state` frame's `state`, and event types that keep such a view current
//! from the `event` frames that follow, so a client never has to poke at raw JSON.
//!
//! | game kind | module | actions | view | events |
//! |---|---|---|---|---|
//! | `tictactoe` | [`tictactoe`] | [`tictactoe::Place`] | [`tictactoe::TicTacToeView`] | [`tictactoe::Move`] |
//! | `crazy_eights` | [`crazy_eights`] | [`crazy_eights::CardAction`] | [`crazy_eights::CrazyEightsView`] | [`crazy_eights::CrazyEightsEvent`] |
//! | `snake` | [`snake`] | [`snake::SnakeInput`] | [`snake::SnakeView`] | [`snake::SnakeEvent`] |

pub mod crazy_eights;
pub mod snake;
pub mod tictactoe;
