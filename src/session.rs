//! The session actor: one per WebSocket connection.
//!
//! The session actor consumes the connection's messages ([`crate::websocket::FrameReader`],
//! read straight off the upgraded socket), parsing, validating and rate-limiting each one,
//! forwards typed messages to its room, and keeps the heartbeat. Writes go through an
//! [`Outbox`]: one ordered queue per connection, drained onto the socket by the connection's
//! write task ([`crate::websocket::write_then_close`]). Rooms push their broadcasts straight
//! into member outboxes, so a move reaches the other players' sockets with no hop after the
//! room applied it.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_ws::AggregatedMessage;
use bytes::Bytes;
use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use slog::{debug, info, o, Logger};
use tokio::sync::watch;

use crate::auth::Identity;
use crate::ids::{ConnId, RoomId};
use crate::limits::{PlayerLimiter, Verdict};
use crate::metrics::{LimitScope, Metrics};
use crate::outbox::{Outbound, Outbox};
use crate::protocol::{
    close_code, ClientMsg, ErrorCode, Ref, ServerMsg, MAX_CHAT_CHARS, PROTOCOL_VERSION,
};
use crate::registry::{FoundRoom, RoomIndex};
use crate::room::{self, Detached, Entry, Membership, Refusal, Room};
use crate::websocket::ReadError;

/// How often the server pings each connection.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);
/// A connection that sends nothing at all (not even a pong) for this long is closed.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(15);
/// Window over which rate-limited frames are counted as abuse.
const ABUSE_WINDOW: Duration = Duration::from_secs(5);
/// Refused frames per window, as a multiple of the per-second limit, that close with 1008.
const ABUSE_FACTOR: u32 = 5;

struct CurrentRoom {
    id: RoomId,
    link: RoomLink,
}

/// How this connection reaches its room.
#[derive(Clone)]
enum RoomLink {
    Running(Addr<Room>),
    /// A retired room ([`room::RetiredRoom`]): its game is over and it holds no connections,
    /// so this one is in it only as far as its own frames go.
    Retired,
}

/// Counts refused frames; too many in one window is abuse.
struct AbuseWindow {
    started: Instant,
    refused: u32,
}

/// Where the server is in its shutdown; every session watches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownPhase {
    Running,
    /// Tell clients and let running games finish within `drain`.
    Draining {
        drain: Duration,
    },
    /// Close every connection now.
    Closing,
}

/// What every session of a server shares; one `Arc` per session keeps each small.
pub struct SessionShared {
    /// The registry's room index, where a join finds its room.
    pub rooms: Arc<RoomIndex>,
    /// Frames per second per socket; `None` when rate limiting is off.
    pub frames_per_second: Option<NonZeroU32>,
    /// The per-player limit; `None` when rate limiting is off.
    pub players: Option<Arc<PlayerLimiter>>,
    pub shutdown: watch::Receiver<ShutdownPhase>,
    pub metrics: Arc<Metrics>,
    /// Connections whose outbox is still being written; a shutdown waits for them to send
    /// their close frames.
    pub writers_running: AtomicUsize,
}

impl SessionShared {
    pub fn writer_started(&self) {
        self.writers_running.fetch_add(1, Ordering::Relaxed);
    }

    pub fn writer_finished(&self) {
        self.writers_running.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn writers_running(&self) -> usize {
        self.writers_running.load(Ordering::Relaxed)
    }
}

pub struct Session {
    conn: ConnId,
    who: Identity,
    outbox: Outbox,
    shared: Arc<SessionShared>,
    room: Option<CurrentRoom>,
    last_heard: Instant,
    limiter: Option<DefaultDirectRateLimiter>,
    abuse: AbuseWindow,
    log: Logger,
}

impl Session {
    /// `log` should already carry the request's id (the upgrade request's).
    pub fn new(who: Identity, outbox: Outbox, shared: Arc<SessionShared>, log: &Logger) -> Self {
        let conn = ConnId::next();
        // Bursts of up to two seconds' worth absorb a client's catch-up after a stall.
        let limiter = shared.frames_per_second.map(|rate| {
            let burst = NonZeroU32::new(rate.get().saturating_mul(2)).unwrap_or(rate);
            RateLimiter::direct_with_clock(
                Quota::per_second(rate).allow_burst(burst),
                crate::limits::shared_clock(),
            )
        });
        Session {
            log: log.new(o!("conn" => conn.to_string(), "player_id" => who.player_id.to_string())),
            conn,
            who,
            outbox,
            shared,
            room: None,
            last_heard: Instant::now(),
            limiter,
            abuse: AbuseWindow {
                started: Instant::now(),
                refused: 0,
            },
        }
    }

    fn reply(&self, msg: &ServerMsg) {
        self.shared.metrics.frames_out(msg, 1);
        let _ = self.outbox.send(msg.encode());
    }

    fn error(&self, code: ErrorCode, message: impl Into<String>, reference: Option<Ref>) {
        self.shared.metrics.error_sent(code);
        self.reply(&ServerMsg::error(code, message, reference));
    }

    fn rate_limited(&self, message: &str, retry_after: Duration, reference: Option<Ref>) {
        self.shared.metrics.error_sent(ErrorCode::RateLimited);
        self.reply(&ServerMsg::Error {
            code: ErrorCode::RateLimited,
            message: message.into(),
            reference,
            retry_after_ms: Some(retry_after.as_millis().max(1) as u64),
        });
    }

    fn close(&self, code: u16, description: &str, ctx: &mut Context<Self>) {
        info!(self.log, "closing connection"; "code" => code, "reason" => description);
        self.outbox.close(code, description);
        ctx.stop();
    }

    /// Applies the per-socket rate limit; `false` means the frame (`text`, if it was one) is
    /// dropped, answered with `rate_limited` carrying its `ref`.
    fn admit(&mut self, text: Option<&str>, ctx: &mut Context<Self>) -> bool {
        let (Some(limiter), Some(rate)) = (&self.limiter, self.shared.frames_per_second) else {
            return true;
        };
        let Err(not_until) = limiter.check() else {
            return true;
        };
        self.shared.metrics.rate_limited(LimitScope::Socket);
        let now = Instant::now();
        if now.duration_since(self.abuse.started) > ABUSE_WINDOW {
            self.abuse = AbuseWindow {
                started: now,
                refused: 0,
            };
        }
        self.abuse.refused += 1;
        if self.abuse.refused > rate.get().saturating_mul(ABUSE_FACTOR) {
            self.close(close_code::POLICY_VIOLATION, "rate limit exceeded", ctx);
            return false;
        }
        let wait = not_until.wait_time_from(crate::limits::shared_clock().now());
        let reference = text.and_then(ClientMsg::reference_of);
        self.rate_limited("too many frames; slow down", wait, reference);
        false
    }

    /// Sends an action or chat line to the room once the per-player limit allows it. With the
    /// limit shared through Redis the check is a round trip, so the session holds its later
    /// frames until it is done (`ctx.wait`): nothing overtakes an action.
    fn forward_limited(&mut self, msg: ToRoom, ctx: &mut Context<Self>) {
        let Some(players) = self.shared.players.clone() else {
            return self.forward(msg);
        };
        if !players.shared() {
            let verdict = players.check_local(&self.who.player_id);
            return self.forward_if(verdict, msg);
        }
        let player = self.who.player_id.clone();
        ctx.wait(
            async move { players.check_shared(&player).await }
                .into_actor(self)
                .map(move |verdict, session, _ctx| session.forward_if(verdict, msg)),
        );
    }

    fn forward_if(&mut self, verdict: Verdict, msg: ToRoom) {
        match verdict {
            Verdict::Allowed => self.forward(msg),
            Verdict::Limited { retry_after } => {
                self.shared.metrics.rate_limited(LimitScope::Player);
                self.rate_limited(
                    "you are over your rate of actions per minute; slow down",
                    retry_after,
                    msg.reference().cloned(),
                );
            }
        }
    }

    fn forward(&mut self, msg: ToRoom) {
        let Some(link) = self.current_room(msg.reference()) else {
            return;
        };
        match (link, msg) {
            (RoomLink::Running(addr), ToRoom::Act(act)) => addr.do_send(act),
            (RoomLink::Running(addr), ToRoom::Chat(chat)) => addr.do_send(chat),
            (RoomLink::Retired, ToRoom::Act(act)) => {
                self.error(ErrorCode::GameOver, "the game is over", act.reference)
            }
            (RoomLink::Retired, ToRoom::Chat(chat)) => self.error(
                ErrorCode::GameOver,
                "the game is over and everyone else has left the room",
                chat.reference,
            ),
        }
    }

    fn on_text(&mut self, text: &str, received_at: Instant, ctx: &mut Context<Self>) {
        let msg = match ClientMsg::parse(text) {
            Ok(msg) => msg,
            Err(err) => {
                self.shared.metrics.frame_in("invalid");
                return self.error(err.code, err.message, err.reference);
            }
        };
        self.shared.metrics.frame_in(msg.type_name());
        match msg {
            ClientMsg::Ping { reference } => self.reply(&ServerMsg::Pong { reference }),
            ClientMsg::Join {
                room,
                role,
                reference,
            } => self.enter(
                room,
                reference,
                ctx,
                move |who, conn, outbox, session, reference| {
                    EnterRequest::Join(room::Join {
                        who,
                        role,
                        conn,
                        outbox,
                        session,
                        reference,
                    })
                },
            ),
            ClientMsg::Resume {
                room,
                since_seq,
                reference,
            } => self.enter(
                room,
                reference,
                ctx,
                move |who, conn, outbox, session, reference| {
                    EnterRequest::Resume(room::Resume {
                        who,
                        conn,
                        outbox,
                        session,
                        since_seq,
                        reference,
                    })
                },
            ),
            ClientMsg::Act { action, reference } => self.forward_limited(
                ToRoom::Act(room::Act {
                    conn: self.conn,
                    action,
                    reference,
                    received_at,
                }),
                ctx,
            ),
            ClientMsg::Chat { text, reference } => {
                if text.trim().is_empty() {
                    return self.error(ErrorCode::BadFrame, "chat text is empty", reference);
                }
                if text.chars().count() > MAX_CHAT_CHARS {
                    return self.error(
                        ErrorCode::ChatTooLong,
                        format!("chat lines are at most {MAX_CHAT_CHARS} characters"),
                        reference,
                    );
                }
                self.forward_limited(
                    ToRoom::Chat(room::Chat {
                        conn: self.conn,
                        text,
                        reference,
                    }),
                    ctx,
                );
            }
            ClientMsg::Leave { reference } => match self.current_room(reference.as_ref()) {
                None => {}
                Some(RoomLink::Retired) => {
                    if let Some(current) = self.room.take() {
                        self.reply(&ServerMsg::Left {
                            room: current.id,
                            reference,
                        });
                    }
                }
                Some(RoomLink::Running(addr)) => {
                    self.room = None;
                    // The room answers `left` itself. A room that stops (reaped once finished,
                    // or crashed) with this request still in its mailbox drops it unanswered,
                    // so the session answers for it then.
                    let request = addr.send(room::Leave {
                        conn: self.conn,
                        reference: reference.clone(),
                    });
                    ctx.spawn(request.into_actor(self).map(|answer, act, _ctx| {
                        if answer.is_err() {
                            act.error(ErrorCode::RoomNotFound, "the room has closed", reference);
                        }
                    }));
                }
            },
        }
    }

    /// The room this connection is in, or an error frame saying why there is none.
    fn current_room(&mut self, reference: Option<&Ref>) -> Option<RoomLink> {
        match &self.room {
            None => {
                self.error(
                    ErrorCode::NotInRoom,
                    "join a room first",
                    reference.cloned(),
                );
                None
            }
            Some(CurrentRoom {
                link: RoomLink::Running(addr),
                ..
            }) if !addr.connected() => {
                self.room = None;
                self.error(
                    ErrorCode::RoomNotFound,
                    "the room has closed",
                    reference.cloned(),
                );
                None
            }
            Some(current) => Some(current.link.clone()),
        }
    }

    /// Joins or resumes: looks the room up, asks it, and holds every later frame of this
    /// connection until the room has answered, so no `act` can overtake its own `join`.
    fn enter(
        &mut self,
        room_id: RoomId,
        reference: Option<Ref>,
        ctx: &mut Context<Self>,
        request: impl FnOnce(Identity, ConnId, Outbox, Recipient<Detached>, Option<Ref>) -> EnterRequest
            + 'static,
    ) {
        if let Some(current) = &self.room {
            return self.error(
                ErrorCode::AlreadyInRoom,
                format!("already in room {}; leave it first", current.id),
                reference,
            );
        }
        let shared = Arc::clone(&self.shared);
        let request = request(
            self.who.clone(),
            self.conn,
            self.outbox.clone(),
            ctx.address().recipient(),
            reference.clone(),
        );
        let lookup_id = room_id.clone();
        let reference_for_retired = reference.clone();
        let who = self.who.clone();
        let entry = request.entry();
        let fut = async move {
            let closed = || Refusal {
                code: ErrorCode::RoomNotFound,
                message: "the room has closed".into(),
            };
            let retired = match find_room(&shared.rooms, &lookup_id)? {
                FoundRoom::Retired(room) => room,
                FoundRoom::Running(addr) => {
                    let answer = match request {
                        EnterRequest::Join(join) => addr.send(join).await,
                        EnterRequest::Resume(resume) => addr.send(resume).await,
                    };
                    match answer {
                        Ok(Ok(membership)) => {
                            return Ok((RoomLink::Running(addr), membership, Vec::new()))
                        }
                        Ok(Err(refusal)) => return Err(refusal),
                        // The room stopped after it was found: it retired in the meantime
                        // (its listing holds the retired room before the actor stops), or it
                        // closed.
                        Err(_) => match find_room(&shared.rooms, &lookup_id) {
                            Ok(FoundRoom::Retired(room)) => room,
                            Ok(FoundRoom::Running(_)) | Err(_) => return Err(closed()),
                        },
                    }
                }
            };
            let (membership, frames) = retired.enter(&who, &entry, reference_for_retired)?;
            Ok((RoomLink::Retired, membership, frames))
        };
        ctx.wait(
            fut.into_actor(self)
                .map(move |answer, session, _ctx| match answer {
                    Ok((link, Membership { role, seat }, frames)) => {
                        debug!(session.log, "entered room"; "room_id" => %room_id,
                            "role" => ?role, "seat" => ?seat,
                            "retired" => matches!(link, RoomLink::Retired));
                        for frame in &frames {
                            session.reply(frame);
                        }
                        session.room = Some(CurrentRoom { id: room_id, link });
                    }
                    Err(refusal) => {
                        session
                            .shared
                            .metrics
                            .joins_rejected
                            .with_label_values(&[refusal.code.as_str()])
                            .inc();
                        session.error(refusal.code, refusal.message, reference)
                    }
                }),
        );
    }

    fn heartbeat(&mut self, ctx: &mut Context<Self>) {
        if self.last_heard.elapsed() > CLIENT_TIMEOUT {
            self.close(close_code::GOING_AWAY, "heartbeat timeout", ctx);
        } else {
            let _ = self.outbox.push(Outbound::Ping(Bytes::new()));
        }
    }
}

impl Session {
    /// Waits (as a future of this actor) for the shutdown to reach a phase `ready` accepts.
    fn on_shutdown_phase(
        &self,
        ctx: &mut Context<Self>,
        ready: fn(&ShutdownPhase) -> bool,
        then: fn(&mut Session, ShutdownPhase, &mut Context<Session>),
    ) {
        let mut phases = self.shared.shutdown.clone();
        ctx.spawn(
            async move {
                // A dropped sender means the server is gone: close as if told to.
                match phases.wait_for(ready).await {
                    Ok(phase) => *phase,
                    Err(_) => ShutdownPhase::Closing,
                }
            }
            .into_actor(self)
            .map(move |phase, session, ctx| then(session, phase, ctx)),
        );
    }

    fn shutdown_started(&mut self, phase: ShutdownPhase, ctx: &mut Context<Self>) {
        let drain = match phase {
            ShutdownPhase::Draining { drain } => drain,
            ShutdownPhase::Running | ShutdownPhase::Closing => Duration::ZERO,
        };
        self.reply(&ServerMsg::ServerShutdown {
            drain_ms: drain.as_millis() as u64,
        });
        if self.room.is_none() || drain.is_zero() {
            return self.close(close_code::GOING_AWAY, "server shutting down", ctx);
        }
        self.on_shutdown_phase(
            ctx,
            |phase| *phase == ShutdownPhase::Closing,
            |session, _, ctx| session.close(close_code::GOING_AWAY, "server shutting down", ctx),
        );
    }
}

/// What a session forwards to its room after the per-player limit.
enum ToRoom {
    Act(room::Act),
    Chat(room::Chat),
}

impl ToRoom {
    fn reference(&self) -> Option<&Ref> {
        match self {
            ToRoom::Act(act) => act.reference.as_ref(),
            ToRoom::Chat(chat) => chat.reference.as_ref(),
        }
    }
}

enum EnterRequest {
    Join(room::Join),
    Resume(room::Resume),
}

impl EnterRequest {
    /// What was asked, for a retired room to answer.
    fn entry(&self) -> Entry {
        match self {
            EnterRequest::Join(join) => Entry::Join(join.role),
            EnterRequest::Resume(resume) => Entry::Resume {
                since_seq: resume.since_seq,
            },
        }
    }
}

/// Looks a room up in the registry's index.
fn find_room(rooms: &RoomIndex, id: &RoomId) -> Result<FoundRoom, Refusal> {
    rooms.find(id).ok_or_else(|| Refusal {
        code: ErrorCode::RoomNotFound,
        message: "no such room".into(),
    })
}

impl Actor for Session {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.shared.metrics.connections.inc();
        info!(self.log, "connection opened"; "name" => &*self.who.name);
        self.reply(&ServerMsg::Hello {
            player_id: self.who.player_id.clone(),
            name: self.who.name.to_string(),
            protocol: PROTOCOL_VERSION,
            heartbeat_interval_ms: HEARTBEAT_INTERVAL.as_millis() as u64,
        });
        ctx.run_interval(HEARTBEAT_INTERVAL, |session, ctx| session.heartbeat(ctx));
        self.on_shutdown_phase(
            ctx,
            |phase| *phase != ShutdownPhase::Running,
            Session::shutdown_started,
        );
        // When the writer gives up (a reader too slow to keep up, a broken socket) there is no
        // point reading this connection's frames any more.
        ctx.spawn(
            self.outbox
                .closed()
                .into_actor(self)
                .map(|(), session, ctx| {
                    debug!(session.log, "outbox closed; stopping session");
                    ctx.stop();
                }),
        );
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        self.shared.metrics.connections.dec();
        if let Some(CurrentRoom {
            link: RoomLink::Running(addr),
            ..
        }) = self.room.take()
        {
            addr.do_send(room::Disconnected { conn: self.conn });
        }
        // Ends the writer even while rooms still hold this outbox; they see it close.
        self.outbox.close(close_code::GOING_AWAY, "session ended");
        info!(self.log, "connection closed");
    }
}

impl StreamHandler<Result<AggregatedMessage, ReadError>> for Session {
    fn handle(&mut self, item: Result<AggregatedMessage, ReadError>, ctx: &mut Self::Context) {
        let now = Instant::now();
        self.last_heard = now;
        match item {
            Ok(AggregatedMessage::Text(text)) => {
                if self.admit(Some(&text), ctx) {
                    self.on_text(&text, now, ctx);
                }
            }
            Ok(AggregatedMessage::Binary(_)) => {
                self.shared.metrics.frame_in("binary");
                if self.admit(None, ctx) {
                    self.error(
                        ErrorCode::BinaryNotSupported,
                        "protocol v1 uses JSON text frames only",
                        None,
                    );
                }
            }
            Ok(AggregatedMessage::Ping(bytes)) => {
                let _ = self.outbox.push(Outbound::Pong(bytes));
            }
            Ok(AggregatedMessage::Pong(_)) => {}
            Ok(AggregatedMessage::Close(_)) => {
                self.outbox.close(1000, "bye");
                ctx.stop();
            }
            Err(ReadError::FrameTooLarge) => {
                self.close(close_code::MESSAGE_TOO_BIG, "frame larger than 64 KiB", ctx)
            }
            Err(ReadError::MessageTooLarge) => self.close(
                close_code::MESSAGE_TOO_BIG,
                "message larger than 64 KiB",
                ctx,
            ),
            Err(ReadError::Io(err)) => {
                debug!(self.log, "socket error"; "error" => %err);
                ctx.stop();
            }
            Err(err @ (ReadError::Protocol(_) | ReadError::InvalidText)) => {
                debug!(self.log, "websocket protocol error"; "error" => %err);
                self.close(close_code::PROTOCOL_ERROR, "websocket protocol error", ctx)
            }
        }
    }
}

impl Handler<Detached> for Session {
    type Result = ();

    fn handle(&mut self, msg: Detached, _ctx: &mut Self::Context) {
        if self
            .room
            .as_ref()
            .is_some_and(|current| current.id == msg.room)
        {
            self.room = None;
        }
    }
}
