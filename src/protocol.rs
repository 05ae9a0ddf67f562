//! Wire protocol v1: JSON text frames, one message per frame, tagged by `"type"`.
//!
//! These types are the single definition of the protocol: the server parses [`ClientMsg`] and
//! writes [`ServerMsg`], and the client library (`crate::client`) does the reverse with the very
//! same types. `docs/protocol.md` shows every message on the wire.

use std::borrow::Cow;

use bytestring::ByteString;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::game::{Outcome, Seat};
use crate::ids::{GameId, PlayerId, RoomId};

/// Version of this protocol, announced in [`ServerMsg::Hello`].
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest frame (and largest reassembled fragmented message) a client may send. Bigger ones
/// close the connection with 1009.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// Longest chat line, in characters.
pub const MAX_CHAT_CHARS: usize = 500;

/// Per-room sequence number of a game event. The first event of a room is 1; a client that has
/// seen event `n` has seen every event up to `n`.
pub type Seq = u64;

/// A client's correlation tag, echoed in the reply to the message that carried it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Ref {
    Number(u64),
    Text(String),
}

/// Read by the JSON token's own kind. serde's `untagged` would copy every `ref` into a
/// buffer first and then try each variant against the copy; a `ref` rides on most frames.
impl<'de> Deserialize<'de> for Ref {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Ref, D::Error> {
        struct RefVisitor;

        impl serde::de::Visitor<'_> for RefVisitor {
            type Value = Ref;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a ref: a non-negative integer or a string")
            }

            fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<Ref, E> {
                Ok(Ref::Number(value))
            }

            fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<Ref, E> {
                u64::try_from(value)
                    .map(Ref::Number)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(value), &self))
            }

            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Ref, E> {
                Ok(Ref::Text(value.to_owned()))
            }

            fn visit_string<E: serde::de::Error>(self, value: String) -> Result<Ref, E> {
                Ok(Ref::Text(value))
            }
        }

        deserializer.deserialize_any(RefVisitor)
    }
}

/// How a connection takes part in a room.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    #[default]
    Player,
    Spectator,
}

/// Client → server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// Take a seat (or watch) in a room. A player who already holds a seat there gets it back.
    Join {
        room: RoomId,
        #[serde(rename = "as", default)]
        role: Role,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// A game action, interpreted by the room's game kind (tic-tac-toe: `{"cell": 4}`).
    Act {
        action: Value,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    Chat {
        text: String,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Leave the room; a seated player in a running game forfeits.
    Leave {
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Come back after a dropped connection: every event after `since_seq`, in order.
    Resume {
        room: RoomId,
        since_seq: Seq,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    Ping {
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
}

/// Every `type` a client may send; anything else is `unknown_type`.
pub const CLIENT_MSG_TYPES: [&str; 6] = ["join", "act", "chat", "leave", "resume", "ping"];

/// How an `act` frame starts when its `type` comes first, as gamehall's client library and
/// `JSON.stringify({type, ...})` write it. Such frames, a game's bulk, are read straight into
/// [`ActFields`]: serde reads an internally tagged enum by copying the whole object into a
/// buffer to find the tag, then reading the variant from the copy. Any other frame, and any
/// that [`ActFields`] refuses, takes that general path, so the result (or the error) is
/// always the same.
const ACT_FRAME_START: &str = r#"{"type":"act","#;

/// The fields of [`ClientMsg::Act`], for frames that start with [`ACT_FRAME_START`].
#[derive(Deserialize)]
struct ActFields {
    /// The tag, already known from the start. Named so that a second `type` is refused as a
    /// duplicate, as the general path refuses it.
    #[serde(rename = "type")]
    _tag: serde::de::IgnoredAny,
    action: Value,
    #[serde(rename = "ref", default)]
    reference: Option<Ref>,
}

impl ClientMsg {
    pub fn reference(&self) -> Option<&Ref> {
        match self {
            ClientMsg::Join { reference, .. }
            | ClientMsg::Act { reference, .. }
            | ClientMsg::Chat { reference, .. }
            | ClientMsg::Leave { reference }
            | ClientMsg::Resume { reference, .. }
            | ClientMsg::Ping { reference } => reference.as_ref(),
        }
    }

    /// The message's `type`, for logs and metrics.
    pub fn type_name(&self) -> &'static str {
        match self {
            ClientMsg::Join { .. } => "join",
            ClientMsg::Act { .. } => "act",
            ClientMsg::Chat { .. } => "chat",
            ClientMsg::Leave { .. } => "leave",
            ClientMsg::Resume { .. } => "resume",
            ClientMsg::Ping { .. } => "ping",
        }
    }

    /// Parses one text frame. A frame that is not a valid message yields the typed error to send
    /// back, with the frame's `ref` when one could be read.
    pub fn parse(text: &str) -> Result<ClientMsg, FrameError> {
        if text.starts_with(ACT_FRAME_START) {
            if let Ok(act) = serde_json::from_str::<ActFields>(text) {
                return Ok(ClientMsg::Act {
                    action: act.action,
                    reference: act.reference,
                });
            }
        }
        serde_json::from_str(text).map_err(|err| FrameError::classify(text, err))
    }

    /// Only the `ref` of a frame that will not be handled (refused by the per-socket limit), so
    /// that the client's request still gets its answer. Skips everything else without building
    /// it.
    pub fn reference_of(text: &str) -> Option<Ref> {
        #[derive(Deserialize)]
        struct OnlyRef {
            #[serde(rename = "ref")]
            reference: Option<Ref>,
        }
        serde_json::from_str::<OnlyRef>(text).ok()?.reference
    }
}

/// Why a frame could not be read as a [`ClientMsg`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct FrameError {
    pub code: ErrorCode,
    pub message: String,
    pub reference: Option<Ref>,
}

impl FrameError {
    /// Works out, only on the error path, whether the frame had an unknown `type` or was
    /// malformed, so the happy path parses each frame exactly once.
    fn classify(text: &str, err: serde_json::Error) -> FrameError {
        #[derive(Deserialize)]
        struct Probe {
            #[serde(rename = "type")]
            kind: Option<Value>,
            #[serde(rename = "ref")]
            reference: Option<Ref>,
        }
        let probe: Option<Probe> = serde_json::from_str(text).ok();
        let reference = probe.as_ref().and_then(|p| p.reference.clone());
        match probe.and_then(|p| p.kind) {
            Some(Value::String(kind)) if !CLIENT_MSG_TYPES.contains(&kind.as_str()) => FrameError {
                code: ErrorCode::UnknownType,
                message: format!(
                    "unknown message type {kind:?}; expected one of {}",
                    CLIENT_MSG_TYPES.join(", ")
                ),
                reference,
            },
            _ => FrameError {
                code: ErrorCode::BadFrame,
                message: format!("malformed frame: {err}"),
                reference,
            },
        }
    }
}

/// A seat and who holds it, as shown to everyone in the room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatInfo {
    pub seat: Seat,
    pub player: PlayerId,
    pub name: String,
    pub connected: bool,
}

/// What happened to a member of the room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceStatus {
    Joined,
    Left,
    Disconnected,
    Reconnected,
    Forfeited,
}

/// Server → client.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// First frame on every connection.
    Hello {
        player_id: PlayerId,
        name: String,
        protocol: u32,
        heartbeat_interval_ms: u64,
    },
    /// Reply to `join`: the seat (none for spectators), the current `seq` and the viewer's state.
    Joined {
        room: RoomId,
        role: Role,
        seat: Option<Seat>,
        game: String,
        seq: Seq,
        state: Value,
        players: Vec<SeatInfo>,
        /// Games with a turn timer: who is on turn and until when.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        turn_deadline: Option<TurnClock>,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// Reply to `resume`, followed by the missed `event`s (or one `state` when they are no
    /// longer all held) and `game_over` if the game ended meanwhile.
    Resumed {
        room: RoomId,
        role: Role,
        seat: Option<Seat>,
        game: String,
        seq: Seq,
        players: Vec<SeatInfo>,
        /// Games with a turn timer: who is on turn and until when.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        turn_deadline: Option<TurnClock>,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// One change to the game. `ref` is set only on the copy sent to the player whose `act`
    /// caused it.
    Event {
        seq: Seq,
        kind: Cow<'static, str>,
        data: Value,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// A full snapshot of the game as this viewer may see it.
    State {
        seq: Seq,
        state: Value,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    Chat {
        from: PlayerId,
        name: String,
        text: String,
        /// Only on the sender's own copy: the `ref` of its `chat` frame.
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    Presence {
        player: PlayerId,
        name: String,
        seat: Option<Seat>,
        status: PresenceStatus,
    },
    GameOver {
        seq: Seq,
        outcome: Outcome,
    },
    /// Reply to `leave`.
    Left {
        room: RoomId,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    Error {
        code: ErrorCode,
        message: String,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
    Pong {
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<Ref>,
    },
    /// The server is stopping. Running games may finish within `drain_ms`; then every
    /// connection closes with 1001 and games still running end `abandoned`.
    ServerShutdown {
        drain_ms: u64,
    },
}

/// Server frame types, in the order of [`ServerMsg::type_index`].
pub const SERVER_MSG_TYPES: [&str; 12] = [
    "hello",
    "joined",
    "resumed",
    "event",
    "state",
    "chat",
    "presence",
    "game_over",
    "left",
    "error",
    "pong",
    "server_shutdown",
];

impl ServerMsg {
    /// The position of this message's `type` in [`SERVER_MSG_TYPES`], for per-type counters.
    pub fn type_index(&self) -> usize {
        match self {
            ServerMsg::Hello { .. } => 0,
            ServerMsg::Joined { .. } => 1,
            ServerMsg::Resumed { .. } => 2,
            ServerMsg::Event { .. } => 3,
            ServerMsg::State { .. } => 4,
            ServerMsg::Chat { .. } => 5,
            ServerMsg::Presence { .. } => 6,
            ServerMsg::GameOver { .. } => 7,
            ServerMsg::Left { .. } => 8,
            ServerMsg::Error { .. } => 9,
            ServerMsg::Pong { .. } => 10,
            ServerMsg::ServerShutdown { .. } => 11,
        }
    }

    pub fn error(code: ErrorCode, message: impl Into<String>, reference: Option<Ref>) -> Self {
        ServerMsg::Error {
            code,
            message: message.into(),
            reference,
            retry_after_ms: None,
        }
    }

    /// The frame of `ServerMsg::Event { seq, kind, data, reference }`, serialised straight
    /// from borrowed parts: a room sends an event to many members, and building the owned
    /// message for that would copy `data` first.
    pub fn encode_event(seq: Seq, kind: &str, data: &Value, reference: Option<&Ref>) -> ByteString {
        #[derive(Serialize)]
        #[serde(tag = "type", rename = "event")]
        struct EventFrame<'a> {
            seq: Seq,
            kind: &'a str,
            data: &'a Value,
            #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
            reference: Option<&'a Ref>,
        }
        encoded(&EventFrame {
            seq,
            kind,
            data,
            reference,
        })
    }

    /// Serialises the message once into a frame that can be shared by every recipient.
    pub fn encode(&self) -> ByteString {
        encoded(self)
    }

    /// Reads one server frame: what `serde_json::from_str` reads, with `event` frames, a
    /// game's bulk, read straight into their fields when the frame starts with its tag, as
    /// gamehall writes it (the reason is [`ACT_FRAME_START`]'s).
    pub fn parse(text: &str) -> serde_json::Result<ServerMsg> {
        if text.starts_with(EVENT_FRAME_START) {
            if let Ok(event) = serde_json::from_str::<EventFields>(text) {
                return Ok(ServerMsg::Event {
                    seq: event.seq,
                    kind: event.kind,
                    data: event.data,
                    reference: event.reference,
                });
            }
        }
        serde_json::from_str(text)
    }
}

/// How gamehall writes an `event` frame ([`ServerMsg::encode_event`]).
const EVENT_FRAME_START: &str = r#"{"type":"event","#;

/// The fields of [`ServerMsg::Event`], for frames that start with [`EVENT_FRAME_START`].
#[derive(Deserialize)]
struct EventFields {
    /// The tag, already known; named so that a second `type` is refused, as in [`ActFields`].
    #[serde(rename = "type")]
    _tag: serde::de::IgnoredAny,
    seq: Seq,
    kind: Cow<'static, str>,
    data: Value,
    #[serde(rename = "ref", default)]
    reference: Option<Ref>,
}

fn encoded(msg: &impl Serialize) -> ByteString {
    // Serialising our own types to JSON cannot fail: every map key is a string and no
    // `Serialize` impl here returns an error. Should that ever change, the client gets an
    // `internal` error frame instead of a panic.
    match serde_json::to_string(msg) {
        Ok(text) => ByteString::from(text),
        Err(_) => ByteString::from_static(
            r#"{"type":"error","code":"internal","message":"could not encode a reply"}"#,
        ),
    }
}

/// Every error a client can receive, as a stable snake_case code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, missing or mistyped fields, numbers out of range.
    BadFrame,
    /// A `type` the server does not know.
    UnknownType,
    /// Binary frames carry nothing in protocol v1.
    BinaryNotSupported,
    /// Bad, expired or missing token.
    Unauthorized,
    RoomNotFound,
    /// Every seat is taken.
    RoomFull,
    /// The server is at `MAX_ACTIVE_GAMES`.
    ServerFull,
    /// `act`, `chat` or `leave` before `join`.
    NotInRoom,
    /// `join`/`resume` while already in another room (send `leave` first).
    AlreadyInRoom,
    /// Acting without a seat (spectators, or a room one is not seated in).
    NotAPlayer,
    /// Acting before every seat is filled.
    GameNotStarted,
    NotYourTurn,
    IllegalMove,
    /// The action does not have the shape the game expects.
    BadAction,
    GameOver,
    /// `resume` with a `since_seq` ahead of the room.
    InvalidSeq,
    ChatTooLong,
    RateLimited,
    /// The room's game failed and the room was stopped; other rooms are unaffected.
    RoomCrashed,
    /// The same player connected again elsewhere and took this connection's place.
    SessionReplaced,
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 21] = [
        ErrorCode::BadFrame,
        ErrorCode::UnknownType,
        ErrorCode::BinaryNotSupported,
        ErrorCode::Unauthorized,
        ErrorCode::RoomNotFound,
        ErrorCode::RoomFull,
        ErrorCode::ServerFull,
        ErrorCode::NotInRoom,
        ErrorCode::AlreadyInRoom,
        ErrorCode::NotAPlayer,
        ErrorCode::GameNotStarted,
        ErrorCode::NotYourTurn,
        ErrorCode::IllegalMove,
        ErrorCode::BadAction,
        ErrorCode::GameOver,
        ErrorCode::InvalidSeq,
        ErrorCode::ChatTooLong,
        ErrorCode::RateLimited,
        ErrorCode::RoomCrashed,
        ErrorCode::SessionReplaced,
        ErrorCode::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadFrame => "bad_frame",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::BinaryNotSupported => "binary_not_supported",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::RoomNotFound => "room_not_found",
            ErrorCode::RoomFull => "room_full",
            ErrorCode::ServerFull => "server_full",
            ErrorCode::NotInRoom => "not_in_room",
            ErrorCode::AlreadyInRoom => "already_in_room",
            ErrorCode::NotAPlayer => "not_a_player",
            ErrorCode::GameNotStarted => "game_not_started",
            ErrorCode::NotYourTurn => "not_your_turn",
            ErrorCode::IllegalMove => "illegal_move",
            ErrorCode::BadAction => "bad_action",
            ErrorCode::GameOver => "game_over",
            ErrorCode::InvalidSeq => "invalid_seq",
            ErrorCode::ChatTooLong => "chat_too_long",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::RoomCrashed => "room_crashed",
            ErrorCode::SessionReplaced => "session_replaced",
            ErrorCode::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a room is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomStatus {
    /// Seats are still open.
    Waiting,
    Playing,
    Finished,
    /// Its game failed; the room was stopped.
    Crashed,
}

impl RoomStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RoomStatus::Waiting => "waiting",
            RoomStatus::Playing => "playing",
            RoomStatus::Finished => "finished",
            RoomStatus::Crashed => "crashed",
        }
    }

    /// Waiting and playing rooms count against `MAX_ACTIVE_GAMES`.
    pub fn is_active(self) -> bool {
        matches!(self, RoomStatus::Waiting | RoomStatus::Playing)
    }
}

/// A room as `GET /v1/rooms` and `GET /v1/rooms/{id}` show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoomSummary {
    pub id: RoomId,
    pub game: String,
    pub game_id: GameId,
    pub status: RoomStatus,
    pub seats: Seat,
    pub players: Vec<SeatInfo>,
    pub spectators: usize,
    pub seq: Seq,
    /// Seconds since the Unix epoch.
    pub created_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
}

impl RoomSummary {
    /// A room just created: waiting for players, nobody in it.
    pub fn new_room(id: RoomId, game: &str, game_id: GameId, seats: Seat, created_at: u64) -> Self {
        RoomSummary {
            id,
            game: game.to_owned(),
            game_id,
            status: RoomStatus::Waiting,
            seats,
            players: Vec::new(),
            spectators: 0,
            seq: 0,
            created_at,
            outcome: None,
        }
    }
}

/// The kinds of the `event`s a room emits itself; every other kind comes from the game.
pub mod room_event {
    /// Every seat is taken and play begins: `{"game", "players"}`.
    pub const STARTED: &str = "started";
    /// A seat left, stayed away past the reconnect grace, let its turn deadline pass, or the
    /// server stopped: `{"seat", "reason"}`.
    pub const FORFEIT: &str = "forfeit";
    /// A seat is on turn against a deadline: [`super::TurnClock`].
    pub const TURN: &str = "turn";
    /// A seat's turn deadline passed: `{"seat", "rule"}`, the rule being `skip`, `auto_move` or
    /// `forfeit`. Events the game played for the seat follow.
    pub const TURN_TIMEOUT: &str = "turn_timeout";
    /// The `rule` of a `turn_timeout` whose seat forfeited.
    pub const FORFEIT_RULE: &str = "forfeit";
}

/// A seat's turn deadline, for clients to show the clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TurnClock {
    pub seat: Seat,
    /// When the turn times out, in milliseconds since the Unix epoch (server clock).
    pub deadline_ms: u64,
    /// Milliseconds left when the frame was sent: for clients that do not trust their clock.
    pub remaining_ms: u64,
}

/// WebSocket close codes gamehall uses (RFC 6455 §7.4.1).
pub mod close_code {
    /// Heartbeat timeout or server shutdown.
    pub const GOING_AWAY: u16 = 1001;
    /// A frame that breaks the WebSocket protocol (unmasked, a stray continuation, text that
    /// is not UTF-8, ...).
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// Sustained rate-limit abuse, or a client too slow to read its frames.
    pub const POLICY_VIOLATION: u16 = 1008;
    /// A frame over [`super::MAX_FRAME_BYTES`].
    pub const MESSAGE_TOO_BIG: u16 = 1009;
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_ref_of_a_dropped_frame_is_read_without_the_rest() {
        use super::{ClientMsg, Ref};
        assert_eq!(
            ClientMsg::reference_of(r#"{"type":"act","action":{"cell":4},"ref":7}"#),
            Some(Ref::Number(7))
        );
        assert_eq!(
            ClientMsg::reference_of(r#"{"type":"nonsense","ref":"a"}"#),
            Some(Ref::Text("a".into()))
        );
        assert_eq!(ClientMsg::reference_of(r#"{"type":"ping"}"#), None);
        assert_eq!(ClientMsg::reference_of("not json"), None);
    }

    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn every_error_code_has_a_pinned_wire_name() {
        for code in ErrorCode::ALL {
            let wire = serde_json::to_value(code).expect("codes serialise");
            assert_eq!(wire, Value::String(code.as_str().to_owned()));
            let back: ErrorCode = serde_json::from_value(wire).expect("codes parse");
            assert_eq!(back, code);
        }
        assert_eq!(
            serde_json::to_string(&ErrorCode::NotYourTurn).unwrap(),
            r#""not_your_turn""#
        );
    }

    #[test]
    fn join_defaults_to_player_and_keeps_ref() {
        let msg = ClientMsg::parse(r#"{"type":"join","room":"rabc","ref":7}"#).unwrap();
        assert_eq!(
            msg,
            ClientMsg::Join {
                room: RoomId::from("rabc"),
                role: Role::Player,
                reference: Some(Ref::Number(7)),
            }
        );
    }

    #[test]
    fn unknown_type_is_told_apart_from_a_malformed_frame() {
        let err = ClientMsg::parse(r#"{"type":"fly","ref":"a"}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::UnknownType);
        assert_eq!(err.reference, Some(Ref::Text("a".into())));

        let err = ClientMsg::parse(r#"{"type":"join","ref":"b"}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::BadFrame);
        assert!(err.message.contains("room"), "{}", err.message);
        assert_eq!(err.reference, Some(Ref::Text("b".into())));

        for bad in [
            "not json",
            "{",
            "[]",
            "42",
            r#"{"room":"x"}"#,
            r#"{"type":5}"#,
            r#"{"type":"resume","room":"r","since_seq":-1}"#,
            r#"{"type":"resume","room":"r","since_seq":1e400}"#,
            r#"{"type":"resume","room":"r","since_seq":18446744073709551616}"#,
            r#"{"type":"chat","text":12}"#,
        ] {
            let err = ClientMsg::parse(bad).unwrap_err();
            assert_eq!(err.code, ErrorCode::BadFrame, "{bad}");
        }
    }

    #[test]
    fn event_frame_shape_is_pinned() {
        let frame = ServerMsg::Event {
            seq: 3,
            kind: "move".into(),
            data: json!({"seat": 0, "cell": 4}),
            reference: None,
        }
        .encode();
        assert_eq!(
            &*frame,
            r#"{"type":"event","seq":3,"kind":"move","data":{"cell":4,"seat":0}}"#
        );
    }

    #[test]
    fn a_borrowed_event_encodes_exactly_like_the_owned_message() {
        let data = json!({"tick": 7, "snakes": [{"seat": 0, "body": [[1, 2]]}], "food": []});
        for reference in [None, Some(Ref::Number(3)), Some(Ref::Text("a\"b".into()))] {
            let owned = ServerMsg::Event {
                seq: 9,
                kind: "tick".into(),
                data: data.clone(),
                reference: reference.clone(),
            }
            .encode();
            assert_eq!(
                ServerMsg::encode_event(9, "tick", &data, reference.as_ref()),
                owned
            );
        }
    }

    #[test]
    fn turn_deadlines_are_left_out_when_there_are_none() {
        let joined = |turn_deadline| ServerMsg::Joined {
            room: RoomId::from("r1"),
            role: Role::Player,
            seat: Some(0),
            game: "tictactoe".into(),
            seq: 2,
            state: Value::Null,
            players: Vec::new(),
            turn_deadline,
            reference: None,
        };
        assert!(!joined(None).encode().contains("turn_deadline"));
        let with_clock = joined(Some(TurnClock {
            seat: 1,
            deadline_ms: 1_700_000_000_000,
            remaining_ms: 4_000,
        }));
        let text = with_clock.encode();
        assert!(
            text.contains(
                r#""turn_deadline":{"seat":1,"deadline_ms":1700000000000,"remaining_ms":4000}"#
            ),
            "{text}"
        );
        let back: ServerMsg = serde_json::from_str(&text).unwrap();
        assert_eq!(back, with_clock);
    }

    fn arb_ref() -> impl Strategy<Value = Option<Ref>> {
        prop_oneof![
            Just(None),
            any::<u64>().prop_map(|n| Some(Ref::Number(n))),
            "[a-z0-9]{1,8}".prop_map(|s| Some(Ref::Text(s))),
        ]
    }

    fn arb_client_msg() -> impl Strategy<Value = ClientMsg> {
        let room = "[a-z0-9]{1,12}".prop_map(|s| RoomId::from(s.as_str()));
        prop_oneof![
            (room.clone(), any::<bool>(), arb_ref()).prop_map(|(room, spectate, reference)| {
                ClientMsg::Join {
                    room,
                    role: if spectate {
                        Role::Spectator
                    } else {
                        Role::Player
                    },
                    reference,
                }
            }),
            (0u8..9, arb_ref()).prop_map(|(cell, reference)| ClientMsg::Act {
                action: json!({ "cell": cell }),
                reference
            }),
            (".{0,40}", arb_ref())
                .prop_map(|(text, reference)| ClientMsg::Chat { text, reference }),
            arb_ref().prop_map(|reference| ClientMsg::Leave { reference }),
            (room, any::<u64>(), arb_ref()).prop_map(|(room, since_seq, reference)| {
                ClientMsg::Resume {
                    room,
                    since_seq,
                    reference,
                }
            }),
            arb_ref().prop_map(|reference| ClientMsg::Ping { reference }),
        ]
    }

    proptest! {
        #[test]
        fn client_messages_survive_encode_then_parse(msg in arb_client_msg()) {
            let text = serde_json::to_string(&msg).unwrap();
            prop_assert_eq!(ClientMsg::parse(&text).unwrap(), msg);
        }

        #[test]
        fn type_indexes_name_the_serialised_type(drain_ms in 0u64..100_000) {
            let msg = ServerMsg::ServerShutdown { drain_ms };
            let json: Value = serde_json::from_str(&msg.encode()).unwrap();
            prop_assert_eq!(json["type"].as_str(), Some(SERVER_MSG_TYPES[msg.type_index()]));
        }

        #[test]
        fn parse_never_panics_on_arbitrary_text(text in ".{0,200}") {
            let _ = ClientMsg::parse(&text);
        }

        #[test]
        fn act_frames_read_as_the_general_path_reads_them(rest in act_frame_rest()) {
            let text = format!("{ACT_FRAME_START}{rest}");
            prop_assert_eq!(ClientMsg::parse(&text).ok(), general_client_parse(&text));
        }

        #[test]
        fn event_frames_read_as_the_general_path_reads_them(rest in event_frame_rest()) {
            let text = format!("{EVENT_FRAME_START}{rest}");
            prop_assert_eq!(
                ServerMsg::parse(&text).ok(),
                serde_json::from_str::<ServerMsg>(&text).ok()
            );
        }

        #[test]
        fn events_survive_encode_then_parse(
            seq in any::<u64>(),
            kind in "[a-z_]{1,12}",
            cell in 0u64..9,
            reference in arb_ref(),
        ) {
            let data = json!({"seat": seq % 2, "cell": cell, "mark": "X"});
            let owned = ServerMsg::Event {
                seq,
                kind: kind.clone().into(),
                data: data.clone(),
                reference: reference.clone(),
            };
            prop_assert_eq!(ServerMsg::parse(&owned.encode()).unwrap(), owned.clone());
            let borrowed = ServerMsg::encode_event(seq, &kind, &data, reference.as_ref());
            prop_assert_eq!(ServerMsg::parse(&borrowed).unwrap(), owned);
        }
    }

    /// What `ClientMsg::parse` gave before its `act` fast path: serde's own reading.
    fn general_client_parse(text: &str) -> Option<ClientMsg> {
        serde_json::from_str(text).ok()
    }

    /// The rest of a frame after `{"type":"act",`: the fields an `act` has, some that it must
    /// not have, in any order, some malformed.
    fn act_frame_rest() -> impl Strategy<Value = String> {
        let field = prop_oneof![
            Just(r#""action":{"cell":4}"#.to_owned()),
            Just(r#""action":null"#.to_owned()),
            Just(r#""action":{"type":"join"}"#.to_owned()),
            Just(r#""ref":7"#.to_owned()),
            Just(r#""ref":"a\"b""#.to_owned()),
            Just(r#""ref":-1"#.to_owned()),
            Just(r#""ref":1.5"#.to_owned()),
            Just(r#""ref":null"#.to_owned()),
            Just(r#""type":"act""#.to_owned()),
            Just(r#""type":"join""#.to_owned()),
            Just(r#""room":"r1""#.to_owned()),
            Just(r#""extra":[1,2]"#.to_owned()),
            Just(r#""action""#.to_owned()),
        ];
        fields_then_maybe_the_close(field, 5)
    }

    /// The rest of a frame after `{"type":"event",`, as [`act_frame_rest`] for events.
    fn event_frame_rest() -> impl Strategy<Value = String> {
        let field = prop_oneof![
            Just(r#""seq":3"#.to_owned()),
            Just(r#""seq":-3"#.to_owned()),
            Just(r#""kind":"move""#.to_owned()),
            Just(r#""kind":7"#.to_owned()),
            Just(r#""data":{"cell":4,"seat":0}"#.to_owned()),
            Just(r#""data":[]"#.to_owned()),
            Just(r#""ref":9"#.to_owned()),
            Just(r#""ref":"x""#.to_owned()),
            Just(r#""ref":true"#.to_owned()),
            Just(r#""type":"event""#.to_owned()),
            Just(r#""type":"state""#.to_owned()),
            Just(r#""state":{}"#.to_owned()),
        ];
        fields_then_maybe_the_close(field, 6)
    }

    /// Up to `most - 1` of `field`, joined by commas, then the object's `}` or nothing.
    fn fields_then_maybe_the_close(
        field: impl Strategy<Value = String>,
        most: usize,
    ) -> impl Strategy<Value = String> {
        (prop::collection::vec(field, 0..most), prop::bool::ANY).prop_map(|(fields, closed)| {
            format!("{}{}", fields.join(","), if closed { "}" } else { "" })
        })
    }

    #[test]
    fn a_ref_is_a_non_negative_integer_or_a_string() {
        let read = |text: &str| serde_json::from_str::<Ref>(text).ok();
        assert_eq!(read("7"), Some(Ref::Number(7)));
        assert_eq!(read("18446744073709551615"), Some(Ref::Number(u64::MAX)));
        assert_eq!(read(r#""a\"b""#), Some(Ref::Text("a\"b".into())));
        for bad in [
            "-1",
            "1.5",
            "true",
            "null",
            "[]",
            "{}",
            "18446744073709551616",
        ] {
            assert_eq!(read(bad), None, "{bad}");
        }
        // Inside a message (read through serde's buffer) as on its own.
        let msg = ClientMsg::parse(r#"{"ref":"j","type":"join","room":"r"}"#).unwrap();
        assert_eq!(msg.reference(), Some(&Ref::Text("j".into())));
        let err = ClientMsg::parse(r#"{"ref":-2,"type":"ping"}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::BadFrame);
    }

    #[test]
    fn an_act_with_its_tag_twice_is_refused_as_the_general_path_refuses_it() {
        let text = r#"{"type":"act","action":{"cell":1},"type":"act"}"#;
        assert_eq!(general_client_parse(text), None);
        assert_eq!(
            ClientMsg::parse(text).unwrap_err().code,
            ErrorCode::BadFrame
        );
    }
}
