//! A bot that plays random legal moves: the library behind `examples/bot.rs`, and a small worked
//! example of a complete client. It gets a guest token, sits down in an open room of the wanted
//! game (or opens one), keeps its view of the game current from the `state` and `event` frames
//! with the typed helpers of [`super::games`], and plays until `game_over`.
//!
//! It plays every game kind gamehall ships ([`GAMES`]). In the turn-based ones, `tictactoe` and
//! `crazy_eights`, it sends one of the legal actions at random whenever its seat is on turn; its
//! randomness comes from its own seed, so a run against the same opponents is repeatable. In
//! `snake`, which does not wait for anybody, it looks at the board after each tick: when the cell
//! ahead would kill its snake it turns to a safer one, otherwise it now and then turns at random.
//!
//! It never sends more than one action per change of the game (per tick, in snake) nor two
//! within [`BotOptions::think_time`], so it stays under the server's per-connection frame limit.

use std::time::Duration;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use serde_json::Value;

use super::games::crazy_eights::{CrazyEightsEvent, CrazyEightsView};
use super::games::snake::{Direction, SnakeEvent, SnakeInput, SnakeParseError, SnakeView};
use super::games::tictactoe::{Move, Place, TicTacToeView};
use super::{ClientError, Connection, GamehallClient, Joined};
use crate::game::{Outcome, Seat};
use crate::ids::RoomId;
use crate::protocol::{ClientMsg, ErrorCode, Role, RoomStatus, ServerMsg};

/// The game kinds the bot knows how to play.
pub const GAMES: [&str; 3] = ["tictactoe", "crazy_eights", "snake"];

/// Refusals in a row after which the bot gives up: its view must be wrong.
const MAX_REFUSALS_IN_A_ROW: u32 = 20;

/// The chance, on a tick when nothing is in its way, that the bot's snake turns anyway: enough
/// to wander the board rather than trace its edge, little enough to look like steering.
const SNAKE_WHIM: (u32, u32) = (1, 8);

#[derive(Clone, Debug)]
pub struct BotOptions {
    /// The server's HTTP address, e.g. `http://127.0.0.1:8080`.
    pub server: String,
    /// The guest name to play under.
    pub name: String,
    /// The game kind to play, one of [`GAMES`].
    pub game: String,
    /// Options for a room the bot opens itself, e.g. `{"players": 3}`, or for snake
    /// `{"width": 10, "height": 10, "tick_hz": 10}`.
    pub options: Value,
    /// Join this room instead of looking for an open one.
    pub room: Option<RoomId>,
    /// Seeds the bot's choice of moves.
    pub seed: u64,
    /// How long to wait for the next frame before giving up (a room can wait for players).
    pub idle_timeout: Duration,
    /// The least time between two of the bot's actions. A bot answers in microseconds, and a
    /// client that sends faster than the server's per-connection limit
    /// (`RATE_LIMIT_WEBSOCKET_PER_SECOND`, 20 by default) is refused and, if it keeps on, closed
    /// with 1008; 100 ms stays well under it. In snake it also bounds how fast the snake can
    /// dodge: a think time longer than a tick (`1 / tick_hz`) makes an escape land a tick late.
    pub think_time: Duration,
}

impl BotOptions {
    pub fn new(server: impl Into<String>, game: impl Into<String>) -> Self {
        BotOptions {
            server: server.into(),
            name: "bot".into(),
            game: game.into(),
            options: Value::Null,
            room: None,
            seed: 0,
            idle_timeout: Duration::from_secs(300),
            think_time: Duration::from_millis(100),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BotError {
    /// Boxed: a client error is large, and most of the bot's results are not errors.
    #[error(transparent)]
    Client(Box<ClientError>),
    #[error("the bot does not play {0:?}; it plays {GAMES:?}")]
    UnsupportedGame(String),
    #[error("joined as a spectator, not a player")]
    NoSeat,
    #[error("cannot follow the game: {0}")]
    Confused(String),
}

impl From<ClientError> for BotError {
    fn from(err: ClientError) -> Self {
        BotError::Client(Box::new(err))
    }
}

/// How a bot's game went.
#[derive(Clone, Debug)]
pub struct BotReport {
    pub room: RoomId,
    pub seat: Seat,
    pub outcome: Outcome,
    /// Actions the bot sent (refused ones included).
    pub actions: usize,
    /// Every frame the bot received after its `joined`, in order.
    pub frames: Vec<ServerMsg>,
}

/// Gets a token, finds or opens a room, and plays one game to its end.
pub async fn run(options: &BotOptions) -> Result<BotReport, BotError> {
    if !GAMES.contains(&options.game.as_str()) {
        return Err(BotError::UnsupportedGame(options.game.clone()));
    }
    let client = GamehallClient::new(options.server.clone());
    let me = client.guest(&options.name).await?;
    let mut conn = client.connect(&me.token).await?;
    let joined = match &options.room {
        Some(room) => conn.join(room, Role::Player).await?,
        None => sit_down(&client, &mut conn, &me.token, options).await?,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    play(
        &mut conn,
        joined,
        &mut rng,
        options.idle_timeout,
        options.think_time,
    )
    .await
}

/// Takes a free seat in the first open room of the game that still has one, or opens a room.
async fn sit_down(
    client: &GamehallClient,
    conn: &mut Connection,
    token: &str,
    options: &BotOptions,
) -> Result<Joined, BotError> {
    let open = client.list_rooms(Some(&options.game)).await?;
    for room in open
        .iter()
        .filter(|r| r.status == RoomStatus::Waiting && r.players.len() < usize::from(r.seats))
    {
        match conn.join(&room.id, Role::Player).await {
            Ok(joined) => return Ok(joined),
            // Somebody else took the last seat first: try the next room.
            Err(ClientError::Server {
                code: ErrorCode::RoomFull | ErrorCode::RoomNotFound,
                ..
            }) => continue,
            Err(err) => return Err(err.into()),
        }
    }
    let room = client
        .create_room(token, &options.game, options.options.clone())
        .await?;
    Ok(conn.join(&room.id, Role::Player).await?)
}

/// Plays the game `joined` sat the connection down at, to its end.
pub async fn play(
    conn: &mut Connection,
    joined: Joined,
    rng: &mut ChaCha8Rng,
    idle_timeout: Duration,
    think_time: Duration,
) -> Result<BotReport, BotError> {
    let seat = joined.seat.ok_or(BotError::NoSeat)?;
    let game = joined.game.clone();
    let mut table = Table::from_state(&game, &joined.state)?;
    let mut seq = joined.seq;
    // The `seq` at which the bot last decided what to do: it acts at most once per change of the
    // game (every tick is one in snake), and frames that change nothing are no reason to.
    let mut decided_at = None;
    let mut last_sent: Option<tokio::time::Instant> = None;
    let mut refusals = 0;
    let mut actions = 0;
    let mut frames = Vec::new();
    loop {
        if let Some(table) = table.as_ref().filter(|_| decided_at != Some(seq)) {
            decided_at = Some(seq);
            let rested =
                last_sent.is_none_or(|last| tokio::time::Instant::now() >= last + think_time);
            if let Some(action) = table.next_action(seat, rng, rested)? {
                if let Some(last) = last_sent {
                    tokio::time::sleep_until(last + think_time).await;
                }
                last_sent = Some(tokio::time::Instant::now());
                conn.send(&ClientMsg::Act {
                    action,
                    reference: None,
                })
                .await?;
                actions += 1;
            }
        }
        let msg = conn.recv_timeout(idle_timeout).await?;
        frames.push(msg.clone());
        match msg {
            ServerMsg::Event {
                seq: at,
                kind,
                data,
                ..
            } => {
                seq = at;
                refusals = 0;
                if let Some(table) = &mut table {
                    table.apply(&kind, &data)?;
                }
            }
            ServerMsg::State { seq: at, state, .. } => {
                seq = at;
                table = Table::from_state(&game, &state)?;
            }
            ServerMsg::GameOver { outcome, .. } => {
                return Ok(BotReport {
                    room: joined.room,
                    seat,
                    outcome,
                    actions,
                    frames,
                })
            }
            ServerMsg::Error {
                code,
                message,
                retry_after_ms,
                ..
            } => match code {
                ErrorCode::RateLimited => {
                    tokio::time::sleep(Duration::from_millis(retry_after_ms.unwrap_or(100))).await;
                    decided_at = None;
                }
                // The game ended (a blocked game has no event of its own): `game_over` follows.
                ErrorCode::GameOver => {}
                // A turn timer may have moved for us just before our action arrived; a snake
                // may have died on the tick before its input arrived.
                ErrorCode::NotYourTurn | ErrorCode::IllegalMove | ErrorCode::BadAction => {
                    refusals += 1;
                    if refusals > MAX_REFUSALS_IN_A_ROW {
                        return Err(BotError::Confused(format!(
                            "{refusals} actions refused in a row, the last with {message}"
                        )));
                    }
                    decided_at = None;
                }
                code => return Err(ClientError::Server { code, message }.into()),
            },
            _ => {}
        }
    }
}

/// The bot's view of its game, of whichever kind.
enum Table {
    TicTacToe(TicTacToeView),
    CrazyEights(CrazyEightsView),
    Snake(SnakeView),
}

impl Table {
    /// `None` before the game has started (the room sends `null`).
    fn from_state(game: &str, state: &Value) -> Result<Option<Table>, BotError> {
        if state.is_null() {
            return Ok(None);
        }
        let confused = |err: serde_json::Error| BotError::Confused(format!("{game} state: {err}"));
        let table = match game {
            "tictactoe" => Table::TicTacToe(TicTacToeView::deserialize(state).map_err(confused)?),
            "crazy_eights" => {
                Table::CrazyEights(CrazyEightsView::deserialize(state).map_err(confused)?)
            }
            "snake" => Table::Snake(SnakeView::from_value(state).map_err(snake_confused)?),
            other => return Err(BotError::UnsupportedGame(other.to_owned())),
        };
        Ok(Some(table))
    }

    fn apply(&mut self, kind: &str, data: &Value) -> Result<(), BotError> {
        let confused = |err: serde_json::Error| BotError::Confused(format!("{kind} event: {err}"));
        match self {
            Table::TicTacToe(view) if kind == "move" => {
                view.apply(&Move::deserialize(data).map_err(confused)?)
            }
            Table::TicTacToe(_) => {}
            Table::CrazyEights(view) => {
                if let Some(event) = CrazyEightsEvent::parse(kind, data).map_err(confused)? {
                    view.apply(&event);
                }
            }
            Table::Snake(view) => {
                if let Some(event) = SnakeEvent::parse(kind, data).map_err(snake_confused)? {
                    view.apply(&event);
                }
            }
        }
        Ok(())
    }

    /// What the bot sends now, if anything. `rested`: its think time has passed since its last
    /// action, so it may act on a whim; a move it must make (its turn, a dodge) waits for it.
    fn next_action(
        &self,
        seat: Seat,
        rng: &mut ChaCha8Rng,
        rested: bool,
    ) -> Result<Option<Value>, BotError> {
        let legal: Vec<Value> = match self {
            Table::TicTacToe(view) if view.turn == Some(seat) => view
                .free_cells()
                .into_iter()
                .map(|cell| serde_json::json!(Place { cell }))
                .collect(),
            Table::CrazyEights(view) if view.turn == Some(seat) => view
                .legal_actions()
                .into_iter()
                .map(|action| serde_json::json!(action))
                .collect(),
            Table::TicTacToe(_) | Table::CrazyEights(_) => return Ok(None),
            Table::Snake(view) => {
                return Ok(steer(view, seat, rng, rested)
                    .map(|dir| serde_json::json!(SnakeInput::new(dir))))
            }
        };
        legal
            .choose(rng)
            .cloned()
            .map(Some)
            .ok_or_else(|| BotError::Confused("no legal action on my turn".into()))
    }
}

fn snake_confused(err: SnakeParseError) -> BotError {
    BotError::Confused(err.to_string())
}

/// Where `seat`'s snake turns after the tick `view` shows, if it turns. Cells rank by what
/// moving into them risks: nothing, a head-on meeting (another head could get there too), or
/// death (a wall or a body). With the cell ahead at risk the snake takes the least risky turn,
/// at random among equals, and goes on if no turn is better; with nothing ahead, it turns now
/// and then, only ever to a riskless cell.
fn steer(view: &SnakeView, seat: Seat, rng: &mut ChaCha8Rng, rested: bool) -> Option<Direction> {
    let snake = view.snake(seat).filter(|s| s.alive)?;
    let head = snake.head()?;
    let risk = |dir: Direction| {
        let cell = head.step(dir);
        if view.is_deadly(cell) {
            2
        } else if view.is_contested(cell, seat) {
            1
        } else {
            0
        }
    };
    let ahead = risk(snake.dir);
    let turns: Vec<(Direction, u8)> = snake
        .directions()
        .into_iter()
        .filter(|&dir| dir != snake.dir)
        .map(|dir| (dir, risk(dir)))
        .collect();
    let wanted = if ahead == 0 {
        if !rested || !rng.gen_ratio(SNAKE_WHIM.0, SNAKE_WHIM.1) {
            return None;
        }
        0
    } else {
        turns
            .iter()
            .map(|&(_, risk)| risk)
            .min()
            .filter(|&r| r < ahead)?
    };
    let choices: Vec<Direction> = turns
        .into_iter()
        .filter(|&(_, risk)| risk == wanted)
        .map(|(dir, _)| dir)
        .collect();
    choices.choose(rng).copied()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Seat 0 heads right along row 2 of a 10 by 10 board towards `head_x`; seat 1 sits in
    /// the bottom-left corner, out of the way.
    fn board(head_x: i32, extra: Option<serde_json::Value>) -> SnakeView {
        let mut snakes = vec![
            json!({"seat": 0, "body": [[head_x, 2], [head_x - 1, 2], [head_x - 2, 2]],
                   "dir": "right", "alive": true, "length": 3}),
            json!({"seat": 1, "body": [[0, 9], [1, 9], [2, 9]],
                   "dir": "left", "alive": true, "length": 3}),
        ];
        snakes.extend(extra);
        SnakeView::from_value(&json!({
            "width": 10, "height": 10, "tick": 5, "tick_hz": 10, "food": [], "snakes": snakes
        }))
        .unwrap()
    }

    #[test]
    fn a_snake_turns_away_from_the_wall_ahead_and_only_to_a_safe_cell() {
        let view = board(9, None);
        for seed in 0..20 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            // Even when its think time has not passed: the dodge waits for it, not the tick.
            let dir = steer(&view, 0, &mut rng, false);
            assert!(
                matches!(dir, Some(Direction::Up | Direction::Down)),
                "{dir:?}"
            );
        }
        // A body above the head leaves only `down`.
        let blocked = board(
            9,
            Some(json!({"seat": 2, "body": [[9, 1], [8, 1], [7, 1]],
                        "dir": "left", "alive": true, "length": 3})),
        );
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert_eq!(steer(&blocked, 0, &mut rng, false), Some(Direction::Down));
    }

    #[test]
    fn a_free_snake_turns_only_on_a_whim_and_only_when_rested() {
        let view = board(5, None);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        assert!((0..200).all(|_| steer(&view, 0, &mut rng, false).is_none()));
        let turns: Vec<Direction> = (0..400)
            .filter_map(|_| steer(&view, 0, &mut rng, true))
            .collect();
        assert!(
            (20..=90).contains(&turns.len()),
            "{} whims in 400 ticks",
            turns.len()
        );
        assert!(turns
            .iter()
            .all(|d| matches!(d, Direction::Up | Direction::Down)));
        // The dead do not steer.
        let mut dead = view.clone();
        dead.snakes[0].alive = false;
        dead.snakes[0].body.clear();
        assert_eq!(steer(&dead, 0, &mut rng, true), None);
    }

    #[test]
    fn the_snake_table_follows_ticks_and_sends_inputs() {
        let state = json!(board(9, None));
        let mut table = Table::from_state("snake", &state).unwrap().unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let action = table.next_action(0, &mut rng, true).unwrap().unwrap();
        assert!(
            action == json!({"dir": "up"}) || action == json!({"dir": "down"}),
            "{action}"
        );
        let mut next = board(9, None);
        next.tick = 6;
        next.snakes[0].alive = false;
        next.snakes[0].body.clear();
        let tick = json!({"tick": 6, "snakes": next.snakes, "food": next.food});
        table.apply("tick", &tick).unwrap();
        table.apply("started", &json!({})).unwrap();
        assert!(table.next_action(0, &mut rng, true).unwrap().is_none());
        assert!(matches!(
            table.apply("tick", &json!({"tick": "six"})),
            Err(BotError::Confused(_))
        ));
    }
}
