//! A bot that plays random legal moves: the library behind `examples/bot.rs`, and a small worked
//! example of a complete client. It gets a guest token, sits down in an open room of the wanted
//! game (or opens one), keeps its view of the game current from the `state` and `event` frames
//! with the typed helpers of [`super::games`], and whenever its seat is on turn sends one of the
//! legal actions at random, until `game_over`.
//!
//! It plays `tictactoe` and `crazy_eights`, the turn-based games; its randomness comes from its
//! own seed, so a run against the same opponents is repeatable.

use std::time::Duration;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use serde_json::Value;

use super::games::crazy_eights::{CrazyEightsEvent, CrazyEightsView};
use super::games::tictactoe::{Move, Place, TicTacToeView};
use super::{ClientError, Connection, GamehallClient, Joined};
use crate::game::{Outcome, Seat};
use crate::ids::RoomId;
use crate::protocol::{ClientMsg, ErrorCode, Role, RoomStatus, ServerMsg};

/// The game kinds the bot knows how to play.
pub const GAMES: [&str; 2] = ["tictactoe", "crazy_eights"];

/// Refusals in a row after which the bot gives up: its view must be wrong.
const MAX_REFUSALS_IN_A_ROW: u32 = 20;

#[derive(Clone, Debug)]
pub struct BotOptions {
    /// The server's HTTP address, e.g. `http://127.0.0.1:8080`.
    pub server: String,
    /// The guest name to play under.
    pub name: String,
    /// The game kind to play, one of [`GAMES`].
    pub game: String,
    /// Options for a room the bot opens itself, e.g. `{"players": 3}`.
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
    /// with 1008; 100 ms stays well under it.
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
    // The `seq` at which the bot last sent an action: it sends one per change of the game.
    let mut acted_at = None;
    let mut last_sent: Option<tokio::time::Instant> = None;
    let mut refusals = 0;
    let mut actions = 0;
    let mut frames = Vec::new();
    loop {
        if let Some(table) = &table {
            if table.turn() == Some(seat) && acted_at != Some(seq) {
                let action = table
                    .legal_actions()
                    .choose(rng)
                    .cloned()
                    .ok_or_else(|| BotError::Confused("no legal action on my turn".into()))?;
                if let Some(last) = last_sent {
                    tokio::time::sleep_until(last + think_time).await;
                }
                last_sent = Some(tokio::time::Instant::now());
                conn.send(&ClientMsg::Act {
                    action,
                    reference: None,
                })
                .await?;
                acted_at = Some(seq);
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
                    acted_at = None;
                }
                // The game ended (a blocked game has no event of its own): `game_over` follows.
                ErrorCode::GameOver => {}
                // A turn timer may have moved for us just before our action arrived.
                ErrorCode::NotYourTurn | ErrorCode::IllegalMove | ErrorCode::BadAction => {
                    refusals += 1;
                    if refusals > MAX_REFUSALS_IN_A_ROW {
                        return Err(BotError::Confused(format!(
                            "{refusals} actions refused in a row, the last with {message}"
                        )));
                    }
                    acted_at = None;
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
        }
        Ok(())
    }

    fn turn(&self) -> Option<Seat> {
        match self {
            Table::TicTacToe(view) => view.turn,
            Table::CrazyEights(view) => view.turn,
        }
    }

    fn legal_actions(&self) -> Vec<Value> {
        match self {
            Table::TicTacToe(view) => view
                .free_cells()
                .into_iter()
                .map(|cell| serde_json::json!(Place { cell }))
                .collect(),
            Table::CrazyEights(view) => view
                .legal_actions()
                .into_iter()
                .map(|action| serde_json::json!(action))
                .collect(),
        }
    }
}
