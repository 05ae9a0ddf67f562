//! The room actor: the single owner of one game's state.
//!
//! Every join, move, chat and disconnect for a room goes through its mailbox, so the game needs
//! no locks and a move is applied exactly once, in arrival order. The room holds the seats, the
//! spectators, the gap-free event log used by `resume`, and the reconnect-grace timers.
//!
//! Game code runs under `catch_unwind`: a game that panics stops its own room (its members get
//! `room_crashed`), is reported to the registry, and touches nothing else.
//!
//! Two clocks may drive a game besides its players: the fixed tick of a real-time game
//! ([`GameConfig::tick`], one `run_interval` per room) and the turn timer of a game with a
//! deadline per turn ([`GameConfig::turn_timeout`], one `run_later` at a time, replaced whenever
//! the turn changes). Both feed the same gap-free event log as players' actions, and the log
//! records what caused each event so that the archive can replay it.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use std::num::NonZeroU32;

use actix::prelude::*;
use bytestring::ByteString;
use chrono::{DateTime, Utc};
use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use prometheus::{Histogram, IntCounter};
use serde_json::{json, Value};
use slog::{debug, info, o, warn, Logger};

use crate::archive::{
    ArchiveFinished, ArchiveHandle, ArchivedAction, ArchivedEvent, ArchivedPlayer, ArchivedPrivate,
    GameRecord, JsonText,
};
use crate::auth::{unix_now, Identity};
use crate::game::{
    Game, GameConfig, GameKind, Outcome, PrivateView, Rejection, Seat, TimeoutRule, Viewer,
};
use crate::ids::{ConnId, GameId, PlayerId, RoomId};
use crate::metrics::{LimitScope, Metrics};
use crate::outbox::Outbox;
use crate::protocol::{
    room_event, ErrorCode, PresenceStatus, Ref, Role, RoomStatus, RoomSummary, SeatInfo, Seq,
    ServerMsg, TurnClock, MAX_CHAT_CHARS,
};
use crate::registry::{Registry, RoomCrashed, RoomListing, RoomTally};

mod retired;
pub use retired::{Entry, FinalViews, RetiredRoom};

/// What every room of a server shares.
#[derive(Clone)]
pub struct RoomConfig {
    pub reconnect_grace: Duration,
    pub max_events: usize,
    /// Where finished games go, and whether a batch is being written; `None` when archiving
    /// is off (`USE_GAME_ARCHIVAL=false`).
    pub archive: Option<ArchiveHandle>,
    /// Actions and chat lines per second for the whole room; `None` when rate limiting is off.
    pub actions_per_second: Option<NonZeroU32>,
    pub metrics: Arc<Metrics>,
}

/// Everything a room needs at birth.
pub struct RoomSpec {
    pub id: RoomId,
    pub kind: Arc<dyn GameKind>,
    pub config: GameConfig,
    pub seed: u64,
    pub room_config: RoomConfig,
    pub registry: Addr<Registry>,
    /// The counts the room's listing keeps current.
    pub tally: Arc<RoomTally>,
    pub log: Logger,
}

/// One change to the game, kept for `resume` (and, at the end, for the archive).
#[derive(Clone, Debug)]
pub struct LoggedEvent {
    pub seq: Seq,
    pub kind: Cow<'static, str>,
    /// The public `event` frame, exactly as it was broadcast. The log keeps these bytes (shared
    /// with the outboxes that sent them) rather than the `Value` they were made from, which
    /// takes about ten times the memory: a room holds up to `MAX_EVENTS_PER_GAME` of them, and a
    /// real-time game logs one per tick. `resume` sends them as they are; the archive reads
    /// `data` back from them once, when the game ends.
    pub frame: ByteString,
    pub private: Option<PrivateView>,
    /// What made the game produce it, on the first of the events one cause produced; `None` on
    /// the others and on the room's own events.
    pub cause: Option<Cause>,
    /// Actions the game accepted without events since the previous event (queued real-time
    /// inputs), in order: applied before `cause`.
    pub inputs: Vec<(Seat, JsonText)>,
    pub at: SystemTime,
}

/// What made a game produce events.
#[derive(Clone, Debug, PartialEq)]
pub enum Cause {
    /// A seat's action, as text: only the archive reads it, and the text takes a fraction of
    /// the memory of the parsed `Value` (about 650 bytes for `{"cell": 4}`).
    Action(Seat, JsonText),
    /// The room's tick of a real-time game, numbered from 1.
    Tick(u64),
}

/// The fixed tick of a real-time game.
struct Ticker {
    /// `None` once the game is over.
    handle: Option<SpawnHandle>,
    period: Duration,
    /// When the next tick is due; `run_interval` keeps to this schedule, catching up when late.
    next_due: Instant,
    /// Ticks run so far.
    count: u64,
    /// This game kind's series of `gamehall_tick_duration_seconds` and
    /// `gamehall_tick_overruns_total`, resolved once.
    duration: Histogram,
    overruns: IntCounter,
}

/// The deadline of the seat on turn.
struct TurnTimer {
    seat: Seat,
    deadline: Instant,
    /// The same deadline on the wall clock, as clients are told it.
    deadline_ms: u64,
    handle: SpawnHandle,
}

/// A connection in the room: a seated player's or a spectator's.
struct Member {
    player: PlayerId,
    name: Arc<str>,
    seat: Option<Seat>,
    outbox: Outbox,
    session: Recipient<Detached>,
}

struct SeatSlot {
    player: PlayerId,
    name: Arc<str>,
    /// The live connection, if any; `None` while the player is inside the reconnect grace.
    conn: Option<ConnId>,
    grace: Option<SpawnHandle>,
    /// The player sent `leave`, or stayed away past their reconnect grace, and has not come
    /// back. Unlike a player inside their grace they are owed no missed events, so a finished
    /// room whose every player is gone this way retires at once instead of one reconnect grace
    /// after the end.
    departed: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Waiting,
    Playing,
    Finished,
    Crashed,
}

pub struct Room {
    id: RoomId,
    game_id: GameId,
    kind: Arc<dyn GameKind>,
    config: GameConfig,
    seed: u64,
    room_config: RoomConfig,
    registry: Addr<Registry>,
    /// This room's line in the registry's room list, which the room keeps current itself.
    listing: Arc<RoomListing>,
    log: Logger,
    phase: Phase,
    game: Option<Box<dyn Game>>,
    seats: Vec<Option<SeatSlot>>,
    members: HashMap<ConnId, Member>,
    history: VecDeque<LoggedEvent>,
    /// Set one reconnect grace after the end, when the log is given back: from then on the
    /// room can only show its final state, and retires once nobody is in it.
    log_released: bool,
    seq: Seq,
    outcome: Option<Outcome>,
    created_at: u64,
    started: Option<Instant>,
    /// Wall-clock start, for the archive.
    started_at: Option<DateTime<Utc>>,
    limiter: Option<DefaultDirectRateLimiter>,
    /// Actions accepted without events, waiting to be logged with the next event.
    pending_inputs: Vec<(Seat, JsonText)>,
    ticker: Option<Ticker>,
    turn_timer: Option<TurnTimer>,
}

// ---- messages ------------------------------------------------------------------------------

/// A connection wants a seat or to watch.
#[derive(Message)]
#[rtype(result = "Result<Membership, Refusal>")]
pub struct Join {
    pub who: Identity,
    pub role: Role,
    pub conn: ConnId,
    pub outbox: Outbox,
    pub session: Recipient<Detached>,
    pub reference: Option<Ref>,
}

/// A connection comes back and wants every event after `since_seq`.
#[derive(Message)]
#[rtype(result = "Result<Membership, Refusal>")]
pub struct Resume {
    pub who: Identity,
    pub conn: ConnId,
    pub outbox: Outbox,
    pub session: Recipient<Detached>,
    pub since_seq: Seq,
    pub reference: Option<Ref>,
}

/// How a connection is in the room after a join or resume.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Membership {
    pub role: Role,
    pub seat: Option<Seat>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
}

impl Refusal {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Refusal {
            code,
            message: message.into(),
        }
    }
}

/// A game action from a member. Errors go back on the member's outbox; no reply is awaited, so a
/// move costs one mailbox hop.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Act {
    pub conn: ConnId,
    pub action: Value,
    pub reference: Option<Ref>,
    /// When the session read the frame: the start of the move→broadcast latency.
    pub received_at: Instant,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Chat {
    pub conn: ConnId,
    pub text: String,
    pub reference: Option<Ref>,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Leave {
    pub conn: ConnId,
    pub reference: Option<Ref>,
}

/// The connection is gone (socket closed, heartbeat timeout). A seated player keeps the seat for
/// the reconnect grace.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Disconnected {
    pub conn: ConnId,
}

/// The room's summary as of now, asked of the room itself.
#[derive(Message)]
#[rtype(result = "RoomSummary")]
pub struct GetSummary;

/// From the registry when the server stops and the drain time is over: end a running game as
/// abandoned (so it is archived). Answers whether there was a game to end.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct EndForShutdown;

/// From the registry: the room has been finished long enough, or the server stops.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CloseRoom;

/// To a session: it is no longer in `room` (crash, reap, or another connection took its seat).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Detached {
    pub room: RoomId,
}

// ---- the actor ------------------------------------------------------------------------------

impl Room {
    pub fn new(spec: RoomSpec) -> Self {
        let seats = (0..spec.config.seats).map(|_| None).collect();
        let limiter = spec.room_config.actions_per_second.map(|rate| {
            RateLimiter::direct_with_clock(Quota::per_second(rate), crate::limits::shared_clock())
        });
        let game_id = GameId::generate();
        let created_at = unix_now();
        let listing = RoomListing::new(
            RoomSummary::new_room(
                spec.id.clone(),
                spec.kind.name(),
                game_id,
                spec.config.seats,
                created_at,
            ),
            spec.tally,
        );
        Room {
            log: spec
                .log
                .new(o!("room_id" => spec.id.to_string(), "game_id" => game_id.to_string())),
            id: spec.id,
            game_id,
            kind: spec.kind,
            config: spec.config,
            seed: spec.seed,
            room_config: spec.room_config,
            registry: spec.registry,
            listing: Arc::new(listing),
            phase: Phase::Waiting,
            game: None,
            seats,
            members: HashMap::new(),
            history: VecDeque::new(),
            log_released: false,
            seq: 0,
            outcome: None,
            created_at,
            started: None,
            started_at: None,
            limiter,
            pending_inputs: Vec::new(),
            ticker: None,
            turn_timer: None,
        }
    }

    /// The room's line in the room list, for the registry to keep.
    pub fn listing(&self) -> Arc<RoomListing> {
        Arc::clone(&self.listing)
    }

    pub fn summary(&self) -> RoomSummary {
        RoomSummary {
            id: self.id.clone(),
            game: self.kind.name().to_owned(),
            game_id: self.game_id,
            status: self.status(),
            seats: self.config.seats,
            players: self.players(),
            spectators: self.members.values().filter(|m| m.seat.is_none()).count(),
            seq: self.seq,
            created_at: self.created_at,
            outcome: self.outcome.clone(),
        }
    }

    fn status(&self) -> RoomStatus {
        match self.phase {
            Phase::Waiting => RoomStatus::Waiting,
            Phase::Playing => RoomStatus::Playing,
            Phase::Finished => RoomStatus::Finished,
            Phase::Crashed => RoomStatus::Crashed,
        }
    }

    fn players(&self) -> Vec<SeatInfo> {
        self.seats
            .iter()
            .enumerate()
            .filter_map(|(seat, slot)| {
                slot.as_ref().map(|slot| SeatInfo {
                    seat: seat as Seat,
                    player: slot.player.clone(),
                    name: slot.name.to_string(),
                    connected: slot.conn.is_some(),
                })
            })
            .collect()
    }

    /// Who sits at `seat`, for log lines: a line about a seat names its player, so that one
    /// player's story can be followed across rooms. Empty for a free seat, which no log line
    /// should be about, but a log line is no reason to panic.
    fn player_at(&self, seat: Seat) -> &str {
        self.seats
            .get(seat as usize)
            .and_then(Option::as_ref)
            .map_or("", |slot| slot.player.as_str())
    }

    fn seat_of(&self, player: &PlayerId) -> Option<Seat> {
        self.seats
            .iter()
            .position(|slot| slot.as_ref().is_some_and(|s| &s.player == player))
            .map(|i| i as Seat)
    }

    /// Writes this room's summary into its listing. Called after a change and before the
    /// frames that tell clients of it, so a client that reads the frame and then asks the HTTP
    /// API finds the change there.
    fn report(&self) {
        self.listing.update(self.summary());
    }

    fn send_to(&self, conn: ConnId, msg: &ServerMsg) {
        if let Some(member) = self.members.get(&conn) {
            member.outbox.send(msg.encode());
            self.room_config.metrics.frames_out(msg, 1);
        }
    }

    fn error_to(&self, conn: ConnId, code: ErrorCode, message: impl Into<String>, r: Option<Ref>) {
        self.room_config.metrics.error_sent(code);
        self.send_to(conn, &ServerMsg::error(code, message, r));
    }

    /// Applies the room's rate limit to one action or chat line; refuses it with
    /// `rate_limited` (and when to retry) if the room is over its rate.
    fn admit(&self, conn: ConnId, reference: &Option<Ref>) -> bool {
        let Some(limiter) = &self.limiter else {
            return true;
        };
        let Err(not_until) = limiter.check() else {
            return true;
        };
        let wait = not_until.wait_time_from(crate::limits::shared_clock().now());
        self.room_config.metrics.rate_limited(LimitScope::Room);
        self.room_config.metrics.error_sent(ErrorCode::RateLimited);
        self.send_to(
            conn,
            &ServerMsg::Error {
                code: ErrorCode::RateLimited,
                message: "this room is over its rate of actions; slow down".into(),
                reference: reference.clone(),
                retry_after_ms: Some(wait.as_millis().max(1) as u64),
            },
        );
        false
    }

    /// Sends one frame, serialised once, to every member.
    fn broadcast(&mut self, msg: &ServerMsg) {
        self.room_config
            .metrics
            .frames_out(msg, self.members.len() as u64);
        let frame = msg.encode();
        let dead: Vec<ConnId> = self
            .members
            .iter()
            .filter(|(_, member)| !member.outbox.send(frame.clone()))
            .map(|(conn, _)| *conn)
            .collect();
        self.prune(dead);
    }

    /// Takes a connection out of the room. The member table is given back once it is empty:
    /// a finished room outlives its players by `GC_COMPLETED_GAMES_AFTER`, and an empty table
    /// keeps the slots of everyone who sat there.
    fn remove_member(&mut self, conn: ConnId) -> Option<Member> {
        let member = self.members.remove(&conn);
        if self.members.is_empty() {
            self.members = HashMap::new();
        }
        member
    }

    /// Forgets spectators whose connection is gone (seats have their own watcher and grace),
    /// and tells the registry, so the lobby's spectator count drops with them.
    fn prune(&mut self, dead: Vec<ConnId>) {
        let before = self.members.len();
        for conn in dead {
            if self.members.get(&conn).is_some_and(|m| m.seat.is_none()) {
                self.remove_member(conn);
            }
        }
        if self.members.len() != before {
            self.report();
        }
    }

    /// The game as `viewer` sees it, or `Null` before it starts. `None` if the game panicked.
    fn view_for(&mut self, viewer: Viewer, ctx: &mut Context<Self>) -> Option<Value> {
        let Some(game) = self.game.as_ref() else {
            return Some(Value::Null);
        };
        match catch_unwind(AssertUnwindSafe(|| game.view(viewer))) {
            Ok(view) => Some(view),
            Err(panic) => {
                self.crash(panic_message(&panic), ctx);
                None
            }
        }
    }

    /// Logs an event under the next `seq` and sends it: the private version to its seat, the
    /// public one to everyone else, and a copy carrying `reference` to the acting connection.
    /// Each version is serialised once and its bytes shared by every member who gets it.
    fn emit(
        &mut self,
        kind: Cow<'static, str>,
        data: Value,
        private: Option<PrivateView>,
        cause: Option<Cause>,
        actor: Option<(ConnId, Ref)>,
    ) {
        self.seq += 1;
        let seq = self.seq;
        let public = ServerMsg::encode_event(seq, &kind, &data, None);
        let private_frame = private
            .as_ref()
            .map(|p| ServerMsg::encode_event(seq, &kind, &p.data, None));
        self.room_config.metrics.frames_out(
            &ServerMsg::Event {
                seq,
                kind: Cow::Borrowed(""),
                data: Value::Null,
                reference: None,
            },
            self.members.len() as u64,
        );
        let mut dead = Vec::new();
        for (conn, member) in &self.members {
            let mine = matches!((&private, member.seat), (Some(p), Some(seat)) if p.seat == seat);
            let sent = match &actor {
                Some((actor_conn, reference)) if actor_conn == conn => {
                    let data = match (&private, mine) {
                        (Some(p), true) => &p.data,
                        _ => &data,
                    };
                    member
                        .outbox
                        .send(ServerMsg::encode_event(seq, &kind, data, Some(reference)))
                }
                _ => match (&private_frame, mine) {
                    (Some(frame), true) => member.outbox.send(frame.clone()),
                    _ => member.outbox.send(public.clone()),
                },
            };
            if !sent {
                dead.push(*conn);
            }
        }
        self.prune(dead);
        if self.history.len() >= self.room_config.max_events {
            self.history.pop_front();
        }
        self.history.push_back(LoggedEvent {
            seq,
            kind,
            frame: public,
            private,
            cause,
            inputs: std::mem::take(&mut self.pending_inputs),
            at: SystemTime::now(),
        });
    }

    /// Emits a room event: one the room makes itself, not the game.
    fn emit_room_event(&mut self, kind: &'static str, data: Value) {
        self.emit(Cow::Borrowed(kind), data, None, None, None);
    }

    fn start_game(&mut self, ctx: &mut Context<Self>) {
        let kind = Arc::clone(&self.kind);
        let config = self.config.clone();
        let seed = self.seed;
        match catch_unwind(AssertUnwindSafe(|| kind.setup(&config, seed))) {
            Ok(game) => self.game = Some(game),
            Err(panic) => return self.crash(panic_message(&panic), ctx),
        }
        self.phase = Phase::Playing;
        self.started = Some(Instant::now());
        self.started_at = Some(Utc::now());
        self.report();
        self.room_config
            .metrics
            .games_started
            .with_label_values(&[self.kind.name()])
            .inc();
        // Who plays, in seat order, so that a player's games can be found from this line too.
        let player_ids = (0..self.config.seats)
            .map(|seat| self.player_at(seat))
            .collect::<Vec<_>>()
            .join(",");
        info!(self.log, "game started"; "game" => self.kind.name(), "seats" => self.config.seats,
            "player_ids" => player_ids);
        let players = serde_json::to_value(self.players()).unwrap_or(Value::Null);
        self.emit_room_event(
            room_event::STARTED,
            json!({ "players": players, "game": self.kind.name() }),
        );
        // Each member's first view of the game, which may hold their hidden information.
        let viewers: Vec<(ConnId, Option<Seat>)> =
            self.members.iter().map(|(c, m)| (*c, m.seat)).collect();
        for (conn, seat) in viewers {
            let viewer = seat.map_or(Viewer::Spectator, Viewer::Seat);
            let Some(state) = self.view_for(viewer, ctx) else {
                return;
            };
            self.send_to(
                conn,
                &ServerMsg::State {
                    seq: self.seq,
                    state,
                    reference: None,
                },
            );
        }
        self.check_outcome(ctx);
        // A zero period would spin the room's worker; `configure` never gives one.
        match (self.phase, self.config.tick) {
            (Phase::Playing, Some(period)) if !period.is_zero() => self.start_ticking(period, ctx),
            _ => {}
        }
        self.update_turn_timer(None, ctx);
    }

    /// Runs the game's tick every `period` until the game ends or the room stops.
    fn start_ticking(&mut self, period: Duration, ctx: &mut Context<Self>) {
        let game = self.kind.name();
        let metrics = &self.room_config.metrics;
        self.ticker = Some(Ticker {
            handle: Some(ctx.run_interval(period, |room, ctx| room.on_tick(ctx))),
            period,
            next_due: Instant::now() + period,
            count: 0,
            duration: metrics.tick_duration.with_label_values(&[game]),
            overruns: metrics.tick_overruns.with_label_values(&[game]),
        });
    }

    fn on_tick(&mut self, ctx: &mut Context<Self>) {
        let began = Instant::now();
        let Some(ticker) = self.ticker.as_mut().filter(|t| t.handle.is_some()) else {
            return;
        };
        // `run_interval` fires on a fixed schedule and catches up after a stall, so lateness is
        // measured against the schedule, not against the previous tick.
        let late = began.saturating_duration_since(ticker.next_due);
        ticker.next_due += ticker.period;
        ticker.count += 1;
        let (number, period) = (ticker.count, ticker.period);
        if self.phase != Phase::Playing {
            return self.stop_clocks(ctx);
        }
        let Some(game) = self.game.as_mut() else {
            return;
        };
        let events = match catch_unwind(AssertUnwindSafe(|| game.tick())) {
            Ok(events) => events,
            Err(panic) => return self.crash(panic_message(&panic), ctx),
        };
        let mut cause = Some(Cause::Tick(number));
        for event in events {
            self.emit(event.kind, event.data, event.private, cause.take(), None);
        }
        self.check_outcome(ctx);
        self.update_turn_timer(None, ctx);
        // The ticker outlives the game's end (only its handle goes), so the tick that ended
        // the game is measured too.
        let took = began.elapsed();
        let Some(ticker) = &self.ticker else {
            return;
        };
        ticker.duration.observe(took.as_secs_f64());
        if took > period || late > period {
            ticker.overruns.inc();
            debug!(self.log, "tick overrun"; "tick" => number,
                "took_ms" => took.as_millis() as u64, "late_ms" => late.as_millis() as u64);
        }
    }

    /// Games with a turn timer: after anything that may have changed whose turn it is, arms
    /// the deadline of the seat on turn (announced by a `turn` event), or disarms it when
    /// nobody is. The deadline is replaced when the turn passes to another seat or `acted`, the
    /// seat on turn, has just acted or timed out; another seat's action leaves it alone.
    fn update_turn_timer(&mut self, acted: Option<Seat>, ctx: &mut Context<Self>) {
        let Some(timeout) = self.config.turn_timeout else {
            return;
        };
        let turn = match (&self.game, self.phase) {
            (Some(game), Phase::Playing) => match catch_unwind(AssertUnwindSafe(|| game.turn())) {
                Ok(turn) => turn,
                Err(panic) => return self.crash(panic_message(&panic), ctx),
            },
            _ => None,
        };
        let current = self.turn_timer.as_ref().map(|t| t.seat);
        let Some(seat) = turn else {
            if let Some(timer) = self.turn_timer.take() {
                ctx.cancel_future(timer.handle);
            }
            return;
        };
        if current == Some(seat) && acted != Some(seat) {
            return;
        }
        if let Some(timer) = self.turn_timer.take() {
            ctx.cancel_future(timer.handle);
        }
        let deadline_ms = unix_millis(SystemTime::now() + timeout);
        self.turn_timer = Some(TurnTimer {
            seat,
            deadline: Instant::now() + timeout,
            deadline_ms,
            handle: ctx.run_later(timeout, move |room, ctx| room.on_turn_timeout(seat, ctx)),
        });
        let clock = TurnClock {
            seat,
            deadline_ms,
            remaining_ms: timeout.as_millis() as u64,
        };
        self.emit_room_event(
            room_event::TURN,
            serde_json::to_value(clock).unwrap_or(Value::Null),
        );
    }

    /// The turn deadline as a joining or resuming client should see it.
    fn turn_clock(&self) -> Option<TurnClock> {
        self.turn_timer.as_ref().map(|timer| TurnClock {
            seat: timer.seat,
            deadline_ms: timer.deadline_ms,
            remaining_ms: timer
                .deadline
                .saturating_duration_since(Instant::now())
                .as_millis() as u64,
        })
    }

    /// `seat` let its turn deadline pass: the game's timeout rule plays it or forfeits it.
    fn on_turn_timeout(&mut self, seat: Seat, ctx: &mut Context<Self>) {
        if self.turn_timer.as_ref().map(|t| t.seat) != Some(seat) {
            return;
        }
        self.turn_timer = None;
        if self.phase != Phase::Playing {
            return;
        }
        let Some(game) = self.game.as_mut() else {
            return;
        };
        let rule = catch_unwind(AssertUnwindSafe(|| {
            (game.on_turn_timeout(seat), game.timeout_play())
        }));
        info!(self.log, "turn deadline passed"; "seat" => seat,
            "player_id" => self.player_at(seat));
        match rule {
            Err(panic) => self.crash(panic_message(&panic), ctx),
            Ok((TimeoutRule::Forfeit, _)) => {
                self.emit_room_event(
                    room_event::TURN_TIMEOUT,
                    json!({ "seat": seat, "rule": room_event::FORFEIT_RULE }),
                );
                if let Some(slot) = &self.seats[seat as usize] {
                    let (player, name) = (slot.player.clone(), Arc::clone(&slot.name));
                    self.presence(&player, &name, Some(seat), PresenceStatus::Forfeited);
                }
                self.forfeit(seat, "turn_timeout", ctx);
            }
            Ok((TimeoutRule::Played(events), play)) => {
                self.emit_room_event(
                    room_event::TURN_TIMEOUT,
                    json!({ "seat": seat, "rule": play.as_str() }),
                );
                for event in events {
                    self.emit(event.kind, event.data, event.private, None, None);
                }
                self.check_outcome(ctx);
                self.update_turn_timer(Some(seat), ctx);
            }
        }
    }

    /// The game is over: no more ticks, no more deadlines.
    fn stop_clocks(&mut self, ctx: &mut Context<Self>) {
        if let Some(handle) = self.ticker.as_mut().and_then(|t| t.handle.take()) {
            ctx.cancel_future(handle);
        }
        if let Some(timer) = self.turn_timer.take() {
            ctx.cancel_future(timer.handle);
        }
    }

    fn check_outcome(&mut self, ctx: &mut Context<Self>) {
        let Some(game) = self.game.as_ref() else {
            return;
        };
        match catch_unwind(AssertUnwindSafe(|| game.outcome())) {
            Ok(Some(outcome)) => self.finish(outcome, ctx),
            Ok(None) => {}
            Err(panic) => self.crash(panic_message(&panic), ctx),
        }
    }

    fn finish(&mut self, outcome: Outcome, ctx: &mut Context<Self>) {
        self.stop_clocks(ctx);
        self.phase = Phase::Finished;
        self.room_config
            .metrics
            .games_finished
            .with_label_values(&[self.kind.name(), outcome.result.as_str()])
            .inc();
        let duration = self
            .started
            .map(|s| s.elapsed().as_secs_f64())
            .unwrap_or(0.0);
        info!(self.log, "game finished";
            "result" => ?outcome.result, "winners" => ?outcome.winners,
            "events" => self.seq, "duration_s" => duration);
        // To the archiver and the registry before the players: a client that has seen
        // `game_over` and then asks for a flush (`POST /admin/archive/flush`) reaches the
        // archiver's mailbox after this game, and one that fetches the room finds it finished.
        match self
            .room_config
            .archive
            .as_ref()
            .map(|a| a.archiver.clone())
        {
            Some(archiver) => archiver.do_send(self.take_record(&outcome)),
            None => self.forget_causes(),
        }
        // A finished room waits `GC_COMPLETED_GAMES_AFTER` for its players to come back for
        // the result; `resume` needs only the log's frames, so it keeps no spare slots, and
        // none at all once nobody can still be owed the events they missed.
        self.history.shrink_to_fit();
        ctx.run_later(self.room_config.reconnect_grace, |room, ctx| {
            room.release_log();
            room.retire_if_empty(ctx);
        });
        self.outcome = Some(outcome.clone());
        for slot in self.seats.iter_mut().flatten() {
            slot.grace = None;
        }
        self.report();
        self.broadcast(&ServerMsg::GameOver {
            seq: self.seq,
            outcome,
        });
    }

    /// The finished game as the archive keeps it, but for each event's `data`, which the
    /// archiver reads out of the frames sent along (see [`ArchiveFinished`]).
    ///
    /// Takes what caused each event out of the log rather than copying it: see
    /// [`Room::forget_causes`].
    fn take_record(&mut self, outcome: &Outcome) -> ArchiveFinished {
        let completed_at = Utc::now();
        let final_state = self
            .game
            .as_ref()
            .and_then(|game| catch_unwind(AssertUnwindSafe(|| game.view(Viewer::Spectator))).ok())
            .map_or_else(JsonText::null, |view| JsonText::of(&view));
        let record = GameRecord {
            game_id: self.game_id.to_string(),
            room_id: self.id.to_string(),
            game_kind: self.kind.name().to_owned(),
            seed: self.seed,
            options: JsonText::of(&self.config.options),
            players: self
                .seats
                .iter()
                .enumerate()
                .filter_map(|(seat, slot)| {
                    slot.as_ref().map(|slot| ArchivedPlayer {
                        seat: seat as Seat,
                        player_id: slot.player.to_string(),
                        name: slot.name.to_string(),
                    })
                })
                .collect(),
            outcome: outcome.clone(),
            final_state,
            started_at: self.started_at.unwrap_or(completed_at),
            completed_at,
            events: self
                .history
                .iter_mut()
                .map(|event| {
                    let cause = event.cause.take();
                    ArchivedEvent {
                        seq: event.seq,
                        kind: event.kind.to_string(),
                        data: JsonText::null(),
                        private: event.private.as_ref().map(|p| ArchivedPrivate {
                            seat: p.seat,
                            data: JsonText::of(&p.data),
                        }),
                        tick: match cause {
                            Some(Cause::Tick(number)) => Some(number),
                            _ => None,
                        },
                        action: match cause {
                            Some(Cause::Action(seat, action)) => {
                                Some(ArchivedAction { seat, action })
                            }
                            _ => None,
                        },
                        inputs: std::mem::take(&mut event.inputs)
                            .into_iter()
                            .map(|(seat, action)| ArchivedAction { seat, action })
                            .collect(),
                        at: DateTime::<Utc>::from(event.at),
                    }
                })
                .collect(),
            events_truncated: self.history.front().is_some_and(|first| first.seq > 1),
        };
        ArchiveFinished {
            record,
            frames: self.history.iter().map(|e| e.frame.clone()).collect(),
        }
    }

    /// Drops what caused each event once the game is over and nothing will archive it: only
    /// the archive reads causes, and a finished room is kept for a while (docs/benchmarks.md,
    /// "A finished room").
    fn forget_causes(&mut self) {
        for event in &mut self.history {
            event.cause = None;
            event.inputs = Vec::new();
        }
    }

    /// Gives back the event log of a game that ended a reconnect grace ago. A player who
    /// dropped before the end could resume with exactly the events they missed until then; a
    /// `resume` after it is answered with the final `state` and `game_over`, as one from
    /// further back than the log reaches always is. The log and its frames were more than half
    /// of what a finished tic-tac-toe room kept until it was reaped (docs/benchmarks.md,
    /// "A finished room").
    fn release_log(&mut self) {
        if self.phase == Phase::Finished {
            self.history = VecDeque::new();
            self.log_released = true;
        }
    }

    /// Leaves a finished room that nobody is in as a [`RetiredRoom`] in its listing and stops
    /// the actor. Once its log is released, or when no player is owed the events they missed
    /// (every one of them left or stayed away past their grace), all the room can still tell
    /// anyone is its final state and result; the listing keeps those in a fraction of the
    /// actor's memory until the room is reaped (docs/benchmarks.md, "A finished room").
    fn retire_if_empty(&mut self, ctx: &mut Context<Self>) {
        let nobody_owed_events =
            self.log_released || self.seats.iter().flatten().all(|slot| slot.departed);
        if self.phase != Phase::Finished || !nobody_owed_events || !self.members.is_empty() {
            return;
        }
        let Some(views) = self.final_views() else {
            // Kept as it is until reaped: a game that cannot show its end is still answered
            // by the actor, which reports a failing view as a crash.
            warn!(
                self.log,
                "finished room kept: its final views could not be taken"
            );
            return;
        };
        debug!(self.log, "finished room retired");
        self.listing.retire(self.summary(), views);
        ctx.stop();
    }

    /// The game's final view for spectators and for each seat; `None` if the game panics or
    /// a view cannot be serialised.
    fn final_views(&self) -> Option<FinalViews> {
        let game = self.game.as_ref()?;
        let views = catch_unwind(AssertUnwindSafe(|| {
            let seats: Vec<Value> = (0..self.config.seats)
                .map(|seat| game.view(Viewer::Seat(seat)))
                .collect();
            (game.view(Viewer::Spectator), seats)
        }))
        .ok()?;
        FinalViews::new(&views.0, &views.1).ok()
    }

    fn forfeit(&mut self, seat: Seat, reason: &'static str, ctx: &mut Context<Self>) {
        if self.phase != Phase::Playing {
            return;
        }
        self.emit_room_event(
            room_event::FORFEIT,
            json!({ "seat": seat, "reason": reason }),
        );
        // Seats whose players are away too forfeit with it: with nobody left at the table the
        // game is abandoned rather than won by someone who is not there.
        let forfeited: Vec<Seat> = (0..self.config.seats)
            .filter(|s| {
                *s == seat
                    || self.seats[*s as usize]
                        .as_ref()
                        .is_none_or(|slot| slot.conn.is_none())
            })
            .collect();
        self.finish(Outcome::forfeit(self.config.seats, forfeited), ctx);
    }

    /// The game panicked: tell everyone, report to the registry, stop this room only.
    fn crash(&mut self, reason: String, ctx: &mut Context<Self>) {
        if self.phase == Phase::Crashed {
            return;
        }
        warn!(self.log, "room crashed; stopping it"; "reason" => &reason);
        self.phase = Phase::Crashed;
        self.game = None;
        // The listing and the registry first: a player told of the crash who then asks for the
        // room must find it gone. Sessions look rooms up in the index, which answers "no such
        // room" for a crashed listing; the HTTP API asks the registry, whose mailbox holds the
        // news before any client can read it.
        self.report();
        self.registry.do_send(RoomCrashed {
            id: self.id.clone(),
            reason,
        });
        // Sessions are detached before the news goes out: a client that reads the error and
        // joins another room at once must find its session already free of this one.
        for member in self.members.values() {
            member.session.do_send(Detached {
                room: self.id.clone(),
            });
        }
        self.broadcast(&ServerMsg::error(
            ErrorCode::RoomCrashed,
            "this room's game failed and the room was closed; other rooms are unaffected",
            None,
        ));
        self.members.clear();
        ctx.stop();
    }

    fn add_member(
        &mut self,
        conn: ConnId,
        who: &Identity,
        seat: Option<Seat>,
        outbox: Outbox,
        session: Recipient<Detached>,
        ctx: &mut Context<Self>,
    ) {
        // Seats are watched: a dead connection must start the grace even if its `Disconnected`
        // never comes. Spectators are dropped on the next failed send instead, which keeps the
        // actor's spawned futures few however many watch.
        if seat.is_some() {
            ctx.spawn(
                outbox
                    .closed()
                    .into_actor(self)
                    .map(move |(), room, ctx| room.member_gone(conn, ctx)),
            );
        }
        self.members.insert(
            conn,
            Member {
                player: who.player_id.clone(),
                name: Arc::clone(&who.name),
                seat,
                outbox,
                session,
            },
        );
    }

    /// Binds `conn` to the player's seat, replacing any older connection of theirs.
    fn rebind_seat(&mut self, seat: Seat, conn: ConnId, ctx: &mut Context<Self>) -> bool {
        let Some(slot) = self.seats[seat as usize].as_mut() else {
            return false;
        };
        let old = slot.conn.replace(conn);
        let was_away = old.is_none();
        slot.departed = false;
        if let Some(handle) = slot.grace.take() {
            ctx.cancel_future(handle);
        }
        if let Some(old) = old.filter(|old| *old != conn) {
            if let Some(member) = self.remove_member(old) {
                // Detached first, as in `crash`: the old socket may act on the error at once.
                member.session.do_send(Detached {
                    room: self.id.clone(),
                });
                member.outbox.send(
                    ServerMsg::error(
                        ErrorCode::SessionReplaced,
                        "you connected again elsewhere; this connection left the room",
                        None,
                    )
                    .encode(),
                );
            }
        }
        was_away
    }

    fn presence(
        &mut self,
        player: &PlayerId,
        name: &str,
        seat: Option<Seat>,
        status: PresenceStatus,
    ) {
        self.broadcast(&ServerMsg::Presence {
            player: player.clone(),
            name: name.to_owned(),
            seat,
            status,
        });
    }

    /// A connection is gone. A seated player keeps the seat for the reconnect grace. Called by
    /// `Disconnected` and by the outbox watcher, whichever comes first; the second is a no-op.
    fn member_gone(&mut self, conn: ConnId, ctx: &mut Context<Self>) {
        self.forget_member(conn, ctx);
        self.retire_if_empty(ctx);
    }

    fn forget_member(&mut self, conn: ConnId, ctx: &mut Context<Self>) {
        let Some(member) = self.remove_member(conn) else {
            return;
        };
        if let Some(seat) = member.seat {
            let grace = self.room_config.reconnect_grace;
            let live = matches!(self.phase, Phase::Waiting | Phase::Playing);
            if let Some(slot) = self.seats[seat as usize].as_mut() {
                if slot.conn == Some(conn) {
                    slot.conn = None;
                    if live {
                        slot.grace =
                            Some(ctx.run_later(grace, move |room, ctx| {
                                room.on_grace_expired(seat, ctx)
                            }));
                    }
                    info!(self.log, "player disconnected"; "player_id" => %member.player,
                        "seat" => seat, "grace_s" => grace.as_secs());
                    self.report();
                    self.presence(
                        &member.player,
                        &member.name,
                        Some(seat),
                        PresenceStatus::Disconnected,
                    );
                    return;
                }
            }
        }
        self.report();
    }

    fn on_grace_expired(&mut self, seat: Seat, ctx: &mut Context<Self>) {
        let Some(slot) = self.seats[seat as usize].as_mut() else {
            return;
        };
        if slot.conn.is_some() {
            return;
        }
        slot.grace = None;
        slot.departed = true;
        let (player, name) = (slot.player.clone(), Arc::clone(&slot.name));
        info!(self.log, "reconnect grace expired"; "player_id" => %player, "seat" => seat);
        match self.phase {
            Phase::Playing => {
                self.presence(&player, &name, Some(seat), PresenceStatus::Forfeited);
                self.forfeit(seat, "disconnected", ctx);
            }
            Phase::Waiting => {
                self.seats[seat as usize] = None;
                self.presence(&player, &name, Some(seat), PresenceStatus::Left);
                self.report();
            }
            Phase::Finished | Phase::Crashed => {}
        }
        // The game may have ended just now, or before (`finish` forgets a grace's timer, it
        // does not cancel it): either way the room may now owe nobody anything.
        self.retire_if_empty(ctx);
    }
}

impl Actor for Room {
    type Context = Context<Self>;

    fn started(&mut self, _ctx: &mut Self::Context) {
        debug!(self.log, "room started"; "game" => self.kind.name());
    }
}

impl Handler<Join> for Room {
    type Result = Result<Membership, Refusal>;

    fn handle(&mut self, msg: Join, ctx: &mut Self::Context) -> Self::Result {
        let Join {
            who,
            role,
            conn,
            outbox,
            session,
            reference,
        } = msg;
        let existing = self.seat_of(&who.player_id);
        let mut arrival = None;
        let membership = match (role, existing) {
            // A player who holds a seat here gets it back, whatever they asked for.
            (_, Some(seat)) => {
                self.add_member(conn, &who, Some(seat), outbox, session, ctx);
                if self.rebind_seat(seat, conn, ctx) {
                    arrival = Some(PresenceStatus::Reconnected);
                }
                Membership {
                    role: Role::Player,
                    seat: Some(seat),
                }
            }
            (Role::Player, None) => {
                if self.phase == Phase::Crashed {
                    return Err(Refusal::new(
                        ErrorCode::RoomNotFound,
                        "this room has closed",
                    ));
                }
                let free = self.seats.iter().position(Option::is_none);
                let seat = match (self.phase, free) {
                    (Phase::Waiting, Some(seat)) => seat as Seat,
                    _ => {
                        return Err(Refusal::new(
                            ErrorCode::RoomFull,
                            format!(
                                "all {} seats are taken; join as a spectator",
                                self.config.seats
                            ),
                        ))
                    }
                };
                self.seats[seat as usize] = Some(SeatSlot {
                    player: who.player_id.clone(),
                    name: Arc::clone(&who.name),
                    conn: Some(conn),
                    grace: None,
                    departed: false,
                });
                self.add_member(conn, &who, Some(seat), outbox, session, ctx);
                info!(self.log, "player seated"; "player_id" => %who.player_id, "seat" => seat);
                arrival = Some(PresenceStatus::Joined);
                Membership {
                    role: Role::Player,
                    seat: Some(seat),
                }
            }
            (Role::Spectator, None) => {
                self.add_member(conn, &who, None, outbox, session, ctx);
                Membership {
                    role: Role::Spectator,
                    seat: None,
                }
            }
        };
        self.report();
        if let Some(status) = arrival {
            self.presence(&who.player_id, &who.name, membership.seat, status);
        }
        let viewer = membership.seat.map_or(Viewer::Spectator, Viewer::Seat);
        let Some(state) = self.view_for(viewer, ctx) else {
            return Err(Refusal::new(
                ErrorCode::RoomCrashed,
                "this room's game failed",
            ));
        };
        self.send_to(
            conn,
            &ServerMsg::Joined {
                room: self.id.clone(),
                role: membership.role,
                seat: membership.seat,
                game: self.kind.name().to_owned(),
                seq: self.seq,
                state,
                players: self.players(),
                turn_deadline: self.turn_clock(),
                reference,
            },
        );
        if let Some(outcome) = &self.outcome {
            self.send_to(
                conn,
                &ServerMsg::GameOver {
                    seq: self.seq,
                    outcome: outcome.clone(),
                },
            );
        }
        if self.phase == Phase::Waiting && self.seats.iter().all(Option::is_some) {
            self.start_game(ctx);
        }
        Ok(membership)
    }
}

impl Handler<Resume> for Room {
    type Result = Result<Membership, Refusal>;

    fn handle(&mut self, msg: Resume, ctx: &mut Self::Context) -> Self::Result {
        let Resume {
            who,
            conn,
            outbox,
            session,
            since_seq,
            reference,
        } = msg;
        if since_seq > self.seq {
            return Err(Refusal::new(
                ErrorCode::InvalidSeq,
                format!(
                    "since_seq {since_seq} is ahead of this room (seq {})",
                    self.seq
                ),
            ));
        }
        let seat = self.seat_of(&who.player_id);
        self.add_member(conn, &who, seat, outbox, session, ctx);
        let rebound = seat.is_some_and(|seat| self.rebind_seat(seat, conn, ctx));
        self.report();
        if rebound {
            self.presence(&who.player_id, &who.name, seat, PresenceStatus::Reconnected);
        }
        let role = if seat.is_some() {
            Role::Player
        } else {
            Role::Spectator
        };
        self.send_to(
            conn,
            &ServerMsg::Resumed {
                room: self.id.clone(),
                role,
                seat,
                game: self.kind.name().to_owned(),
                seq: self.seq,
                players: self.players(),
                turn_deadline: self.turn_clock(),
                reference,
            },
        );
        let oldest_held = self.history.front().map_or(self.seq + 1, |e| e.seq);
        if since_seq + 1 >= oldest_held {
            // Every missed event is still held: send exactly those, in order.
            let frames: Vec<_> = self
                .history
                .iter()
                .filter(|e| e.seq > since_seq)
                .map(|e| match (&e.private, seat) {
                    (Some(p), Some(s)) if p.seat == s => {
                        ServerMsg::encode_event(e.seq, &e.kind, &p.data, None)
                    }
                    _ => e.frame.clone(),
                })
                .collect();
            if let Some(member) = self.members.get(&conn) {
                for frame in frames {
                    member.outbox.send(frame);
                }
            }
        } else {
            let viewer = seat.map_or(Viewer::Spectator, Viewer::Seat);
            let Some(state) = self.view_for(viewer, ctx) else {
                return Err(Refusal::new(
                    ErrorCode::RoomCrashed,
                    "this room's game failed",
                ));
            };
            self.send_to(
                conn,
                &ServerMsg::State {
                    seq: self.seq,
                    state,
                    reference: None,
                },
            );
        }
        if let Some(outcome) = &self.outcome {
            self.send_to(
                conn,
                &ServerMsg::GameOver {
                    seq: self.seq,
                    outcome: outcome.clone(),
                },
            );
        }
        Ok(Membership { role, seat })
    }
}

impl Handler<Act> for Room {
    type Result = ();

    fn handle(&mut self, msg: Act, ctx: &mut Self::Context) {
        let Act {
            conn,
            action,
            reference,
            received_at,
        } = msg;
        let Some(member) = self.members.get(&conn) else {
            return;
        };
        let Some(seat) = member.seat else {
            return self.error_to(
                conn,
                ErrorCode::NotAPlayer,
                "spectators cannot act",
                reference,
            );
        };
        match self.phase {
            Phase::Waiting => {
                return self.error_to(
                    conn,
                    ErrorCode::GameNotStarted,
                    "the game starts when every seat is taken",
                    reference,
                )
            }
            Phase::Finished | Phase::Crashed => {
                return self.error_to(conn, ErrorCode::GameOver, "the game is over", reference)
            }
            Phase::Playing => {}
        }
        if !self.admit(conn, &reference) {
            return;
        }
        let Some(game) = self.game.as_mut() else {
            return;
        };
        let result = catch_unwind(AssertUnwindSafe(|| game.apply(seat, &action)));
        match result {
            Err(panic) => self.crash(panic_message(&panic), ctx),
            Ok(Err(rejection)) => {
                debug!(self.log, "move rejected"; "seat" => seat,
                    "player_id" => self.player_at(seat), "reason" => %rejection);
                let code = rejection.code();
                let message = match rejection {
                    Rejection::GameOver => "the game is over".to_owned(),
                    other => other.to_string(),
                };
                self.error_to(conn, code, message, reference);
            }
            Ok(Ok(events)) if events.is_empty() => {
                // Accepted without a change to show yet (a real-time game queued the input for
                // its next tick): logged with the next event, so that a replay applies it.
                self.pending_inputs.push((seat, JsonText::of(&action)));
                self.check_outcome(ctx);
                self.update_turn_timer(Some(seat), ctx);
            }
            Ok(Ok(events)) => {
                debug!(self.log, "move applied"; "seat" => seat,
                    "player_id" => self.player_at(seat), "events" => events.len());
                let mut actor = reference.map(|r| (conn, r));
                let mut cause = Some(Cause::Action(seat, JsonText::of(&action)));
                for event in events {
                    self.emit(
                        event.kind,
                        event.data,
                        event.private,
                        cause.take(),
                        actor.take(),
                    );
                }
                let took = received_at.elapsed().as_secs_f64();
                let metrics = &self.room_config.metrics;
                metrics.move_broadcast.observe(took);
                if let Some(archive) = &self.room_config.archive {
                    if archive.stats.writing() {
                        metrics.move_broadcast_during_archive_write.observe(took);
                    }
                }
                self.check_outcome(ctx);
                self.update_turn_timer(Some(seat), ctx);
            }
        }
    }
}

impl Handler<Chat> for Room {
    type Result = ();

    fn handle(&mut self, msg: Chat, _ctx: &mut Self::Context) {
        if !self.members.contains_key(&msg.conn) {
            return;
        }
        if msg.text.chars().count() > MAX_CHAT_CHARS {
            return self.error_to(
                msg.conn,
                ErrorCode::ChatTooLong,
                format!("chat lines are at most {MAX_CHAT_CHARS} characters"),
                msg.reference,
            );
        }
        if !self.admit(msg.conn, &msg.reference) {
            return;
        }
        let Some(member) = self.members.get(&msg.conn) else {
            return;
        };
        let mut chat = ServerMsg::Chat {
            from: member.player.clone(),
            name: member.name.to_string(),
            text: msg.text,
            reference: None,
        };
        let frame = chat.encode();
        // Everyone but the sender here; the sender's copy is counted by `send_to`.
        self.room_config
            .metrics
            .frames_out(&chat, self.members.len().saturating_sub(1) as u64);
        let dead: Vec<ConnId> = self
            .members
            .iter()
            .filter(|(conn, member)| **conn != msg.conn && !member.outbox.send(frame.clone()))
            .map(|(conn, _)| *conn)
            .collect();
        self.prune(dead);
        // The sender's copy carries its `ref`: that is its confirmation.
        if let ServerMsg::Chat { reference, .. } = &mut chat {
            *reference = msg.reference;
        }
        self.send_to(msg.conn, &chat);
    }
}

impl Handler<Leave> for Room {
    type Result = ();

    fn handle(&mut self, msg: Leave, ctx: &mut Self::Context) {
        let Some(member) = self.remove_member(msg.conn) else {
            return;
        };
        if let Some(seat) = member.seat {
            info!(self.log, "player left"; "player_id" => %member.player, "seat" => seat);
            if let Some(slot) = self.seats[seat as usize].as_mut() {
                slot.conn = None;
                slot.departed = true;
                if let Some(handle) = slot.grace.take() {
                    ctx.cancel_future(handle);
                }
            }
            self.presence(
                &member.player,
                &member.name,
                Some(seat),
                PresenceStatus::Left,
            );
            match self.phase {
                Phase::Playing => self.forfeit(seat, "left", ctx),
                Phase::Waiting => self.seats[seat as usize] = None,
                Phase::Finished | Phase::Crashed => {}
            }
        }
        self.report();
        // Answered last, so that the room the leaver fetches next no longer holds them.
        member.outbox.send(
            ServerMsg::Left {
                room: self.id.clone(),
                reference: msg.reference,
            }
            .encode(),
        );
        self.retire_if_empty(ctx);
    }
}

impl Handler<EndForShutdown> for Room {
    type Result = bool;

    fn handle(&mut self, _msg: EndForShutdown, ctx: &mut Self::Context) -> bool {
        if self.phase != Phase::Playing {
            return false;
        }
        for seat in 0..self.config.seats {
            self.emit_room_event(
                room_event::FORFEIT,
                json!({ "seat": seat, "reason": "server_shutdown" }),
            );
        }
        self.finish(
            Outcome::forfeit(self.config.seats, (0..self.config.seats).collect()),
            ctx,
        );
        true
    }
}

impl Handler<GetSummary> for Room {
    type Result = MessageResult<GetSummary>;

    fn handle(&mut self, _msg: GetSummary, _ctx: &mut Self::Context) -> Self::Result {
        MessageResult(self.summary())
    }
}

impl Handler<Disconnected> for Room {
    type Result = ();

    fn handle(&mut self, msg: Disconnected, ctx: &mut Self::Context) {
        self.member_gone(msg.conn, ctx);
    }
}

impl Handler<CloseRoom> for Room {
    type Result = ();

    fn handle(&mut self, _msg: CloseRoom, ctx: &mut Self::Context) {
        for member in self.members.values() {
            member.session.do_send(Detached {
                room: self.id.clone(),
            });
        }
        ctx.stop();
    }
}

/// The `data` of an `event` frame the room encoded itself.
/// Milliseconds since the Unix epoch.
fn unix_millis(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The text of a panic payload, for the log and the registry's report.
fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}
