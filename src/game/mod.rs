//! Game rules: the [`Game`] trait, game kinds and the catalog the server offers.
//!
//! A game knows nothing of actors, sockets or the database. The room asks it to apply an action
//! and turns the events it returns into frames; this is what lets rules be tested (and replayed
//! from the archive) without a server.

pub mod crazy_eights;
pub mod options;
pub mod snake;
pub mod tictactoe;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::protocol::ErrorCode;

/// A seat at the table, numbered from 0 in join order.
pub type Seat = u8;

/// Who is looking at a game.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Viewer {
    Seat(Seat),
    Spectator,
}

/// One change to a game, as the room will broadcast it.
#[derive(Clone, Debug, PartialEq)]
pub struct GameEvent {
    /// Short name of the change (`"move"`), the event's `kind` on the wire.
    pub kind: Cow<'static, str>,
    /// What every seat and spectator sees.
    pub data: Value,
    /// For hidden information: what one seat sees instead of `data` (its own drawn card, say).
    pub private: Option<PrivateView>,
}

impl GameEvent {
    pub fn public(kind: &'static str, data: Value) -> Self {
        GameEvent {
            kind: Cow::Borrowed(kind),
            data,
            private: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct PrivateView {
    pub seat: Seat,
    pub data: Value,
}

/// Why an action was refused. A rejected action changes nothing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("it is not your turn")]
    NotYourTurn,
    #[error("illegal move: {0}")]
    IllegalMove(String),
    #[error("the game is over")]
    GameOver,
    #[error("bad action: {0}")]
    BadAction(String),
}

impl Rejection {
    pub fn code(&self) -> ErrorCode {
        match self {
            Rejection::NotYourTurn => ErrorCode::NotYourTurn,
            Rejection::IllegalMove(_) => ErrorCode::IllegalMove,
            Rejection::GameOver => ErrorCode::GameOver,
            Rejection::BadAction(_) => ErrorCode::BadAction,
        }
    }
}

/// How a game ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    /// Decided by the rules: `winners` won.
    Win,
    /// Decided by the rules: nobody won.
    Draw,
    /// Seats in `forfeited` left or did not come back within the reconnect grace; the others win.
    Forfeit,
    /// Every seat forfeited; nobody wins.
    Abandoned,
}

impl OutcomeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Win => "win",
            OutcomeKind::Draw => "draw",
            OutcomeKind::Forfeit => "forfeit",
            OutcomeKind::Abandoned => "abandoned",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub result: OutcomeKind,
    pub winners: Vec<Seat>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forfeited: Vec<Seat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scores: Option<Vec<i64>>,
}

impl Outcome {
    pub fn win(winner: Seat) -> Self {
        Outcome {
            result: OutcomeKind::Win,
            winners: vec![winner],
            forfeited: Vec::new(),
            scores: None,
        }
    }

    pub fn draw() -> Self {
        Outcome {
            result: OutcomeKind::Draw,
            winners: Vec::new(),
            forfeited: Vec::new(),
            scores: None,
        }
    }

    /// The outcome when `forfeited` seats are gone from a game of `seats`: the rest win, and
    /// with nobody left the game is abandoned.
    pub fn forfeit(seats: Seat, forfeited: Vec<Seat>) -> Self {
        let winners: Vec<Seat> = (0..seats).filter(|s| !forfeited.contains(s)).collect();
        Outcome {
            result: if winners.is_empty() {
                OutcomeKind::Abandoned
            } else {
                OutcomeKind::Forfeit
            },
            winners,
            forfeited,
            scores: None,
        }
    }
}

/// The rules of one running game. Deterministic: the same seed and the same actions always give
/// the same events, views and outcome.
pub trait Game: Send {
    /// Applies `seat`'s action; on `Err` nothing changed.
    fn apply(&mut self, seat: Seat, action: &Value) -> Result<Vec<GameEvent>, Rejection>;
    /// The state as `viewer` may see it: never another seat's hidden information.
    fn view(&self, viewer: Viewer) -> Value;
    /// `Some` once the rules have decided the game.
    fn outcome(&self) -> Option<Outcome>;

    /// Real-time games: advances the game by one tick of [`GameConfig::tick`]. Inputs that
    /// arrived since the last tick were already given to [`Game::apply`], which for such games
    /// only queues them (returning no events); the tick consumes them. Turn-based games never
    /// see a tick.
    ///
    /// The archive records a tick through the events it returns, so a tick that returns none
    /// must change nothing: a replay does not run it.
    fn tick(&mut self) -> Vec<GameEvent> {
        Vec::new()
    }

    /// The seat the game is waiting for, if it waits for one seat: the room runs the turn timer
    /// ([`GameConfig::turn_timeout`]) against it. `None` when nobody is on turn.
    fn turn(&self) -> Option<Seat> {
        None
    }

    /// Applies the game's rule for a turn whose deadline passed. The default forfeits the seat;
    /// a game may instead move for the seat or skip it, returning the events as from `apply`.
    fn on_turn_timeout(&mut self, seat: Seat) -> TimeoutRule {
        let _ = seat;
        TimeoutRule::Forfeit
    }

    /// What [`TimeoutRule::Played`] from [`Game::on_turn_timeout`] means for this game, as the
    /// room names it in its `turn_timeout` event.
    fn timeout_play(&self) -> TimeoutPlay {
        TimeoutPlay::Skip
    }
}

/// How a game that does not forfeit a late seat plays it instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutPlay {
    /// The seat's turn passes to the next seat.
    Skip,
    /// The game made a move for the seat.
    AutoMove,
}

impl TimeoutPlay {
    /// The `rule` of a `turn_timeout` event.
    pub fn as_str(self) -> &'static str {
        match self {
            TimeoutPlay::Skip => "skip",
            TimeoutPlay::AutoMove => "auto_move",
        }
    }
}

/// What a game does with a seat that let its turn deadline pass.
#[derive(Clone, Debug, PartialEq)]
pub enum TimeoutRule {
    /// The game moved for the seat or skipped it; these events say how.
    Played(Vec<GameEvent>),
    /// The seat loses its place, as if it had left: the room ends the game with a forfeit.
    Forfeit,
}

/// Validated options for one room of a kind.
#[derive(Clone, Debug, PartialEq)]
pub struct GameConfig {
    /// Seats to fill before the game starts.
    pub seats: Seat,
    /// The options as the game kind normalised them, stored with the archived game.
    pub options: Value,
    /// Real-time games: the fixed interval at which the room calls [`Game::tick`].
    pub tick: Option<std::time::Duration>,
    /// Turn-based games with a clock: how long [`Game::turn`] may take before
    /// [`Game::on_turn_timeout`] applies.
    pub turn_timeout: Option<std::time::Duration>,
}

impl GameConfig {
    /// A turn-based game without a clock.
    pub fn seats(seats: Seat, options: Value) -> Self {
        GameConfig {
            seats,
            options,
            tick: None,
            turn_timeout: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OptionsError {
    #[error("unknown game {0:?}")]
    UnknownGame(String),
    #[error("invalid options: {0}")]
    Invalid(String),
}

/// The only source of randomness a game may use: a ChaCha RNG seeded from the room's seed, so
/// that the archived seed and actions replay a game exactly.
pub fn seeded_rng(seed: u64) -> rand_chacha::ChaCha8Rng {
    use rand::SeedableRng;
    rand_chacha::ChaCha8Rng::seed_from_u64(seed)
}

/// A kind of game the server can host: a name and a constructor.
pub trait GameKind: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn configure(&self, options: &Value) -> Result<GameConfig, OptionsError>;
    fn setup(&self, config: &GameConfig, seed: u64) -> Box<dyn Game>;
}

/// The game kinds a server offers, by name.
#[derive(Clone, Default)]
pub struct GameCatalog {
    kinds: BTreeMap<&'static str, Arc<dyn GameKind>>,
}

impl GameCatalog {
    /// Every game kind gamehall ships.
    pub fn standard() -> Self {
        GameCatalog::default()
            .with(tictactoe::TicTacToeKind)
            .with(snake::SnakeKind)
            .with(crazy_eights::CrazyEightsKind)
    }

    pub fn with(mut self, kind: impl GameKind) -> Self {
        self.kinds.insert(kind.name(), Arc::new(kind));
        self
    }

    pub fn get(&self, name: &str) -> Result<Arc<dyn GameKind>, OptionsError> {
        self.kinds
            .get(name)
            .cloned()
            .ok_or_else(|| OptionsError::UnknownGame(name.to_owned()))
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.kinds.keys().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forfeit_gives_the_game_to_the_seats_left() {
        let outcome = Outcome::forfeit(2, vec![1]);
        assert_eq!(outcome.result, OutcomeKind::Forfeit);
        assert_eq!(outcome.winners, vec![0]);
        let outcome = Outcome::forfeit(2, vec![0, 1]);
        assert_eq!(outcome.result, OutcomeKind::Abandoned);
        assert!(outcome.winners.is_empty());
    }

    #[test]
    fn the_same_seed_gives_the_same_random_stream() {
        use rand::Rng;
        let draw = |seed| {
            let mut rng = seeded_rng(seed);
            (0..8).map(|_| rng.gen::<u32>()).collect::<Vec<_>>()
        };
        assert_eq!(draw(42), draw(42));
        assert_ne!(draw(42), draw(43));
    }

    #[test]
    fn catalog_names_unknown_games() {
        let catalog = GameCatalog::standard();
        assert!(catalog.get("tictactoe").is_ok());
        assert!(catalog.get("snake").is_ok());
        assert_eq!(
            catalog.get("chess").err(),
            Some(OptionsError::UnknownGame("chess".into()))
        );
    }
}
