//! What a room hands the archive when its game ends: everything needed to show the game later
//! and to replay it from its seed. One [`GameRecord`] is also one line of the spool file, so its
//! serde shape is a stored format: add fields with `#[serde(default)]`, never rename them.

use std::fmt;

use bytestring::ByteString;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::game::{Outcome, Seat};

/// To the archiver: keep this game.
#[derive(actix::Message)]
#[rtype(result = "()")]
pub struct ArchiveGame(pub GameRecord);

/// To the archiver, from a room whose game has just ended: its record, with each event's
/// `data` still inside the `event` frame the room broadcast (`frames[i]` for `events[i]`).
/// The room sends the frames it already holds, shared, and the archiver reads `data` out of
/// them, so that the JSON parsing is not done on the room's thread, ahead of the game's last
/// broadcast and of every other room and socket on that thread.
#[derive(actix::Message)]
#[rtype(result = "()")]
pub struct ArchiveFinished {
    pub record: GameRecord,
    pub frames: Vec<ByteString>,
}

impl ArchiveFinished {
    /// The record with every event's `data` filled in from its frame.
    pub fn into_record(self) -> GameRecord {
        let ArchiveFinished { mut record, frames } = self;
        for (event, frame) in record.events.iter_mut().zip(&frames) {
            event.data = event_data(frame);
        }
        record
    }
}

/// The `data` of a frame made by [`crate::protocol::ServerMsg::encode_event`], as the frame has it (no `Value`
/// is built); `null` for a frame that is not one (never the case for frames the server made).
fn event_data(frame: &str) -> JsonText {
    #[derive(Deserialize)]
    struct Data<'a> {
        #[serde(borrow)]
        data: &'a RawValue,
    }
    serde_json::from_str::<Data<'_>>(frame).map_or_else(
        |_| JsonText::null(),
        |frame| JsonText(frame.data.to_owned()),
    )
}

/// A JSON value kept as its text: what the archive stores and the spool holds, and all that a
/// pending game needs until a replay or a reader parses it. A parsed `Value` is a tree of
/// allocations (an action like `{"cell": 4}` is a map of about 650 bytes); its text is one
/// allocation of a few bytes, so a game waiting in the archive costs a fraction as much
/// (docs/benchmarks.md, "A game waiting in the archive").
///
/// Always valid JSON: made by serde_json from a value, or read by it from a spool line or the
/// database.
#[derive(Clone, Serialize)]
#[serde(transparent)]
pub struct JsonText(Box<RawValue>);

impl JsonText {
    /// `value`'s text.
    pub fn of(value: &impl Serialize) -> Self {
        // A `Value` and our own types serialise without error (every map key is a string);
        // were that ever to change, `null` keeps the archive's columns valid JSON.
        match serde_json::value::to_raw_value(value) {
            Ok(raw) => JsonText(raw),
            Err(_) => JsonText::null(),
        }
    }

    pub fn null() -> Self {
        // `RawValue::NULL` is a `&'static RawValue`; owning a copy is one tiny allocation.
        JsonText(RawValue::NULL.to_owned())
    }

    /// Reads JSON text, as a frame or spool line holds it; `None` if it is not JSON.
    pub fn parse(text: &str) -> Option<Self> {
        RawValue::from_string(text.to_owned()).ok().map(JsonText)
    }

    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// The parsed value (`null` for text that is not JSON, which cannot be made).
    pub fn value(&self) -> Value {
        serde_json::from_str(self.as_str()).unwrap_or(Value::Null)
    }

    /// True if a string or key holds a NUL character, which PostgreSQL's JSONB refuses. In
    /// JSON text NUL can only appear escaped, as `\u0000`, and that is an escape only when an
    /// even number of backslashes comes before it (otherwise its backslash is escaped).
    pub fn has_nul(&self) -> bool {
        let text = self.as_str().as_bytes();
        text.windows(6).enumerate().any(|(i, window)| {
            window == b"\\u0000"
                && text[..i].iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 0
        })
    }
}

/// Equal as JSON values: a database gives stored JSON back in its own layout (PostgreSQL's
/// JSONB orders keys and spaces them), and that is still the same value.
impl PartialEq for JsonText {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str() || self.value() == other.value()
    }
}

impl fmt::Debug for JsonText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Value> for JsonText {
    fn from(value: Value) -> Self {
        JsonText::of(&value)
    }
}

/// Keeps the text as it came, without building a `Value`. Only serde_json's own deserializers
/// can hand text over like this: read records with `serde_json::from_str` or `from_slice`,
/// not `from_value`.
impl<'de> Deserialize<'de> for JsonText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(deserializer).map(JsonText)
    }
}

/// A finished game, ready to be written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GameRecord {
    /// The game's UUID, as text; the archive's primary key, so writing a record twice stores it
    /// once.
    pub game_id: String,
    pub room_id: String,
    /// The game kind's catalog name (`"tictactoe"`).
    pub game_kind: String,
    /// The RNG seed the game was set up with; with the actions in `events` it replays the game.
    pub seed: u64,
    /// The room's options as the game kind normalised them.
    pub options: JsonText,
    /// Who sat where, in seat order.
    pub players: Vec<ArchivedPlayer>,
    pub outcome: Outcome,
    /// The final state as a spectator sees it.
    pub final_state: JsonText,
    pub started_at: DateTime<Utc>,
    pub completed_at: DateTime<Utc>,
    /// Every event of the game in `seq` order, unless `events_truncated`.
    pub events: Vec<ArchivedEvent>,
    /// True when the game produced more than `MAX_EVENTS_PER_GAME` events and only the last
    /// ones are kept; such a game cannot be replayed.
    #[serde(default)]
    pub events_truncated: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedPlayer {
    pub seat: Seat,
    pub player_id: String,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArchivedEvent {
    pub seq: u64,
    /// The event's kind on the wire (`"started"`, `"move"`, `"forfeit"`).
    pub kind: String,
    /// What every seat and spectator saw.
    pub data: JsonText,
    /// What one seat saw instead, for hidden information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private: Option<ArchivedPrivate>,
    /// The seat and action that caused the event, if a player's action did. Only the first
    /// of the events one action caused carries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<ArchivedAction>,
    /// Real-time games: the number of the tick that caused the event (the first tick is 1), on
    /// the first of the events that tick returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tick: Option<u64>,
    /// Actions the game accepted without an event of their own (a real-time game only queues
    /// an input until its next tick), in the order they were applied, all before whatever
    /// caused this event. A replay applies them first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<ArchivedAction>,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArchivedPrivate {
    pub seat: Seat,
    pub data: JsonText,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArchivedAction {
    pub seat: Seat,
    pub action: JsonText,
}

impl GameRecord {
    /// Whole seconds from start to end, as stored in `game_duration_seconds`.
    pub fn duration_seconds(&self) -> i32 {
        let secs = (self.completed_at - self.started_at).num_seconds();
        i32::try_from(secs.max(0)).unwrap_or(i32::MAX)
    }

    /// The name stored in `winner_name`: the winner's, when exactly one seat won.
    pub fn winner_name(&self) -> Option<&str> {
        match self.outcome.winners.as_slice() {
            [seat] => self
                .players
                .iter()
                .find(|p| p.seat == *seat)
                .map(|p| p.name.as_str()),
            _ => None,
        }
    }

    /// The seed as PostgreSQL's signed BIGINT stores it: the same 64 bits.
    pub fn seed_as_i64(&self) -> i64 {
        i64::from_ne_bytes(self.seed.to_ne_bytes())
    }

    /// The seed back from its stored BIGINT.
    pub fn seed_from_i64(stored: i64) -> u64 {
        u64::from_ne_bytes(stored.to_ne_bytes())
    }

    /// The actions in order, as `(seat, action)`, queued inputs included: what a replay feeds
    /// the game between its ticks and turn timeouts.
    pub fn actions(&self) -> impl Iterator<Item = (Seat, &JsonText)> {
        self.events.iter().flat_map(|e| {
            e.inputs
                .iter()
                .chain(e.action.as_ref())
                .map(|a| (a.seat, &a.action))
        })
    }
}

#[cfg(test)]
impl GameRecord {
    /// A finished two-player tic-tac-toe game of one move, for unit tests.
    pub(crate) fn example() -> Self {
        let at = DateTime::parse_from_rfc3339("2026-11-25T10:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .expect("a valid timestamp");
        GameRecord {
            game_id: "0b6f7c1e-4d0a-4c55-9b0e-5d8f3f1a2b3c".into(),
            room_id: "r-1".into(),
            game_kind: "tictactoe".into(),
            seed: u64::MAX - 7,
            options: serde_json::json!({}).into(),
            players: vec![
                ArchivedPlayer {
                    seat: 0,
                    player_id: "p0".into(),
                    name: "Ada".into(),
                },
                ArchivedPlayer {
                    seat: 1,
                    player_id: "p1".into(),
                    name: "Bob".into(),
                },
            ],
            outcome: Outcome::win(1),
            final_state: serde_json::json!({"board": []}).into(),
            started_at: at,
            completed_at: at + chrono::Duration::seconds(42),
            events: vec![ArchivedEvent {
                seq: 1,
                kind: "move".into(),
                data: serde_json::json!({"cell": 4}).into(),
                private: None,
                action: Some(ArchivedAction {
                    seat: 0,
                    action: serde_json::json!({"cell": 4}).into(),
                }),
                tick: None,
                inputs: Vec::new(),
                at,
            }],
            events_truncated: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ServerMsg;
    use serde_json::json;

    fn record() -> GameRecord {
        GameRecord::example()
    }

    #[test]
    fn a_finished_game_gets_each_events_data_from_its_frame() {
        let expected = record();
        let mut sent = expected.clone();
        sent.events[0].data = JsonText::null();
        let frame = ServerMsg::encode_event(1, "move", &json!({"cell": 4}), None);
        let finished = ArchiveFinished {
            record: sent,
            frames: vec![frame],
        };
        assert_eq!(finished.into_record(), expected);
        // A frame that is not an event frame leaves `null`, never a panic.
        assert_eq!(event_data("{\"type\":\"pong\"}"), JsonText::null());
        assert_eq!(event_data("not json"), JsonText::null());
    }

    #[test]
    fn json_text_reads_from_text_and_from_a_value() {
        let text: JsonText = serde_json::from_str(r#"{"b": [1, "x"], "a": null}"#).unwrap();
        assert_eq!(text.as_str(), r#"{"b": [1, "x"], "a": null}"#);
        let from_value: JsonText = serde_json::from_value(json!({"a": null})).unwrap();
        assert_eq!(from_value.value(), json!({"a": null}));
    }

    #[test]
    fn a_record_survives_a_spool_line() {
        let record = record();
        let line = serde_json::to_string(&record).expect("serialisable");
        assert!(!line.contains('\n'));
        let back: GameRecord = serde_json::from_str(&line).expect("parses back");
        assert_eq!(back, record);
    }

    #[test]
    fn records_written_before_ticks_and_inputs_still_read() {
        let line = r#"{"seq":1,"kind":"move","data":{"cell":4},"action":{"seat":0,"action":{"cell":4}},"at":"2026-11-25T10:00:00Z"}"#;
        let event: ArchivedEvent = serde_json::from_str(line).expect("an old event parses");
        assert_eq!(event.tick, None);
        assert!(event.inputs.is_empty());
        // And a new event without them is written exactly as before.
        assert!(!serde_json::to_string(&event).unwrap().contains("inputs"));

        let mut record = record();
        record.events[0].tick = Some(7);
        record.events[0].inputs = vec![ArchivedAction {
            seat: 1,
            action: json!({"dir": "up"}).into(),
        }];
        let line = serde_json::to_string(&record).expect("serialisable");
        let back: GameRecord = serde_json::from_str(&line).expect("parses back");
        assert_eq!(back, record);
        assert_eq!(back.actions().count(), 2);
    }

    #[test]
    fn derived_columns() {
        let record = record();
        assert_eq!(record.duration_seconds(), 42);
        assert_eq!(record.winner_name(), Some("Bob"));
        assert_eq!(GameRecord::seed_from_i64(record.seed_as_i64()), record.seed);
        assert_eq!(record.actions().count(), 1);
    }
}
