//! Replaying an archived game: set the game up again from its kind, options and seed, feed it
//! the archived actions, ticks and turn timeouts in order, and check that it produces the
//! archived events, final state and outcome. A match proves the archived log is complete and the
//! rules deterministic.
//!
//! What drives the game is read off each archived event, in `seq` order:
//! - its `inputs` (actions the game accepted without events: queued real-time inputs) are
//!   applied first, and must still produce no events;
//! - an event with an `action` was caused by that action, one with a `tick` by that tick of a
//!   real-time game, and a `turn_timeout` event by a turn deadline passing (the room then asked
//!   the game's timeout rule); the game is driven the same way and the events it returns must
//!   be this one and the ones after it (for a timeout, the ones after it);
//! - the room's own events (`started`, `forfeit`, `turn`) change nothing in the game.

use std::panic::{catch_unwind, AssertUnwindSafe};

use serde::Serialize;
use serde_json::Value;

use super::record::{ArchivedEvent, GameRecord};
use crate::game::{Game, GameCatalog, GameEvent, OutcomeKind, Seat, TimeoutRule, Viewer};
use crate::protocol::room_event::{FORFEIT, FORFEIT_RULE, STARTED, TURN, TURN_TIMEOUT};

/// What a successful replay checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReplayReport {
    pub game_id: String,
    pub game_kind: String,
    /// Actions fed to the game, queued inputs included.
    pub actions: usize,
    /// Ticks run (real-time games).
    pub ticks: usize,
    /// Turn deadlines that passed.
    pub timeouts: usize,
    /// Archived events compared with the ones the replay produced.
    pub events_checked: usize,
}

/// Why a replay did not reach the archived game.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("game kind {0:?} is not offered by this server")]
    UnknownGame(String),
    #[error("the archived options are no longer valid: {0}")]
    Options(String),
    #[error(
        "only the last events of this game were kept (MAX_EVENTS_PER_GAME); it cannot be replayed"
    )]
    Truncated,
    #[error("the game code panicked during the replay at seq {seq}")]
    Panicked { seq: u64 },
    #[error("the action at seq {seq} was refused on replay: {reason}")]
    Refused { seq: u64, reason: String },
    #[error("event {seq} differs: archived {archived}, replayed {replayed}")]
    EventMismatch {
        seq: u64,
        archived: String,
        replayed: String,
    },
    #[error("event {seq} was not made by an action and is not a room event ({kind:?})")]
    UnexpectedEvent { seq: u64, kind: String },
    #[error("room event {seq} is malformed: {reason}")]
    BadRoomEvent { seq: u64, reason: String },
    #[error("the replayed final state differs from the archived one")]
    FinalStateMismatch,
    #[error("the replay ends {replayed}, the archive says {archived}")]
    OutcomeMismatch { archived: String, replayed: String },
}

/// Events the room itself emits that change nothing in the game: the start of play, a forfeit
/// and a turn deadline.
const ROOM_EVENTS: [&str; 3] = [STARTED, FORFEIT, TURN];

pub fn replay(record: &GameRecord, catalog: &GameCatalog) -> Result<ReplayReport, ReplayError> {
    if record.events_truncated {
        return Err(ReplayError::Truncated);
    }
    let kind = catalog
        .get(&record.game_kind)
        .map_err(|_| ReplayError::UnknownGame(record.game_kind.clone()))?;
    let config = kind
        .configure(&record.options.value())
        .map_err(|err| ReplayError::Options(err.to_string()))?;
    let mut game = catch_unwind(AssertUnwindSafe(|| kind.setup(&config, record.seed)))
        .map_err(|_| ReplayError::Panicked { seq: 0 })?;

    let mut report = ReplayReport {
        game_id: record.game_id.clone(),
        game_kind: record.game_kind.clone(),
        actions: 0,
        ticks: 0,
        timeouts: 0,
        events_checked: 0,
    };
    let mut last_tick = 0;
    let mut archived = record.events.iter().peekable();
    while let Some(event) = archived.next() {
        for input in &event.inputs {
            report.actions += 1;
            let produced = apply(game.as_mut(), input.seat, &input.action.value(), event.seq)?;
            if !produced.is_empty() {
                return Err(ReplayError::EventMismatch {
                    seq: event.seq,
                    archived: format!("a queued input of seat {} without events", input.seat),
                    replayed: format!("{} event(s)", produced.len()),
                });
            }
        }
        // The events the cause of this one produced, and the first archived event they must
        // match: this one, or for a timeout the one after it.
        let (produced, mut expected) = if let Some(action) = &event.action {
            report.actions += 1;
            let produced = apply(
                game.as_mut(),
                action.seat,
                &action.action.value(),
                event.seq,
            )?;
            (produced, vec![event])
        } else if let Some(tick) = event.tick {
            if tick <= last_tick {
                return Err(ReplayError::EventMismatch {
                    seq: event.seq,
                    archived: format!("tick {tick}"),
                    replayed: format!("a tick after tick {last_tick}"),
                });
            }
            last_tick = tick;
            report.ticks += 1;
            let produced = catch_unwind(AssertUnwindSafe(|| game.tick()))
                .map_err(|_| ReplayError::Panicked { seq: event.seq })?;
            (produced, vec![event])
        } else if event.kind == TURN_TIMEOUT {
            report.timeouts += 1;
            match timeout(game.as_mut(), event)? {
                Some(produced) => (produced, Vec::new()),
                None => continue,
            }
        } else if ROOM_EVENTS.contains(&event.kind.as_str()) {
            continue;
        } else {
            return Err(ReplayError::UnexpectedEvent {
                seq: event.seq,
                kind: event.kind.clone(),
            });
        };
        // One cause's events were logged one after another; only the first carries the cause.
        while expected.len() < produced.len() {
            match archived.next_if(|e| {
                e.action.is_none()
                    && e.tick.is_none()
                    && e.inputs.is_empty()
                    && e.kind != TURN_TIMEOUT
            }) {
                Some(next) => expected.push(next),
                None => break,
            }
        }
        if expected.len() != produced.len() {
            return Err(ReplayError::EventMismatch {
                seq: event.seq,
                archived: format!("{} event(s)", expected.len()),
                replayed: format!("{} event(s)", produced.len()),
            });
        }
        for (archived_event, replayed) in expected.into_iter().zip(produced) {
            compare(archived_event, &replayed)?;
            report.events_checked += 1;
        }
    }

    let final_state = catch_unwind(AssertUnwindSafe(|| game.view(Viewer::Spectator)))
        .map_err(|_| ReplayError::Panicked { seq: u64::MAX })?;
    if final_state != record.final_state.value() {
        return Err(ReplayError::FinalStateMismatch);
    }
    let replayed = catch_unwind(AssertUnwindSafe(|| game.outcome()))
        .map_err(|_| ReplayError::Panicked { seq: u64::MAX })?;
    let outcome_matches = match record.outcome.result {
        // Decided by the rules: the replay must decide it the same way.
        OutcomeKind::Win | OutcomeKind::Draw => replayed.as_ref() == Some(&record.outcome),
        // Decided by the room: the rules must not have decided it, and the log must say who
        // forfeited.
        OutcomeKind::Forfeit | OutcomeKind::Abandoned => {
            replayed.is_none() && record.events.iter().any(|e| e.kind == FORFEIT)
        }
    };
    if !outcome_matches {
        return Err(ReplayError::OutcomeMismatch {
            archived: format!("{:?}", record.outcome),
            replayed: format!("{replayed:?}"),
        });
    }
    Ok(report)
}

/// Applies the timeout rule the way the room did for a `turn_timeout` event: the events the
/// game played for the seat, or `None` if the seat forfeited (the `forfeit` event follows).
fn timeout(
    game: &mut dyn Game,
    event: &ArchivedEvent,
) -> Result<Option<Vec<GameEvent>>, ReplayError> {
    let bad = |reason: &str| ReplayError::BadRoomEvent {
        seq: event.seq,
        reason: reason.to_owned(),
    };
    let data = event.data.value();
    let seat = data
        .get("seat")
        .and_then(Value::as_u64)
        .and_then(|s| Seat::try_from(s).ok())
        .ok_or_else(|| bad("turn_timeout has no seat"))?;
    let rule = data
        .get("rule")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("turn_timeout has no rule"))?;
    let (replayed_rule, produced) = match catch_unwind(AssertUnwindSafe(|| {
        (game.on_turn_timeout(seat), game.timeout_play())
    })) {
        Err(_) => return Err(ReplayError::Panicked { seq: event.seq }),
        Ok((TimeoutRule::Forfeit, _)) => (FORFEIT_RULE, None),
        Ok((TimeoutRule::Played(events), play)) => (play.as_str(), Some(events)),
    };
    if rule != replayed_rule {
        return Err(ReplayError::EventMismatch {
            seq: event.seq,
            archived: format!("turn_timeout rule {rule:?}"),
            replayed: format!("rule {replayed_rule:?}"),
        });
    }
    Ok(produced)
}

fn apply(
    game: &mut dyn Game,
    seat: u8,
    action: &serde_json::Value,
    seq: u64,
) -> Result<Vec<GameEvent>, ReplayError> {
    match catch_unwind(AssertUnwindSafe(|| game.apply(seat, action))) {
        Err(_) => Err(ReplayError::Panicked { seq }),
        Ok(Err(rejection)) => Err(ReplayError::Refused {
            seq,
            reason: rejection.to_string(),
        }),
        Ok(Ok(events)) => Ok(events),
    }
}

fn compare(archived: &ArchivedEvent, replayed: &GameEvent) -> Result<(), ReplayError> {
    let private_matches = match (&archived.private, &replayed.private) {
        (None, None) => true,
        (Some(a), Some(r)) => a.seat == r.seat && a.data.value() == r.data,
        _ => false,
    };
    // Compared as values: the archived text may order an object's keys differently.
    if archived.kind == replayed.kind && archived.data.value() == replayed.data && private_matches {
        Ok(())
    } else {
        Err(ReplayError::EventMismatch {
            seq: archived.seq,
            archived: format!("{} {}", archived.kind, archived.data.as_str()),
            replayed: format!("{} {}", replayed.kind, replayed.data),
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use serde_json::json;

    use super::*;
    use crate::archive::record::{ArchivedAction, ArchivedPlayer, JsonText};
    use crate::game::Outcome;

    /// Plays `cells` the way a room would and records it the way a room does.
    fn played(cells: &[u8]) -> GameRecord {
        let catalog = GameCatalog::standard();
        let kind = catalog.get("tictactoe").unwrap();
        let config = kind.configure(&serde_json::Value::Null).unwrap();
        let mut game = kind.setup(&config, 7);
        let now = Utc::now();
        let mut events = vec![ArchivedEvent {
            seq: 1,
            kind: "started".into(),
            data: json!({}).into(),
            private: None,
            action: None,
            tick: None,
            inputs: Vec::new(),
            at: now,
        }];
        for (i, cell) in cells.iter().enumerate() {
            let seat = (i % 2) as u8;
            let action = json!({ "cell": cell });
            let produced = game.apply(seat, &action).unwrap();
            for (j, event) in produced.into_iter().enumerate() {
                events.push(ArchivedEvent {
                    seq: events.len() as u64 + 1,
                    kind: event.kind.to_string(),
                    data: event.data.into(),
                    private: None,
                    action: (j == 0).then(|| ArchivedAction {
                        seat,
                        action: JsonText::of(&action),
                    }),
                    tick: None,
                    inputs: Vec::new(),
                    at: now,
                });
            }
        }
        GameRecord {
            game_id: "g".into(),
            room_id: "r".into(),
            game_kind: "tictactoe".into(),
            seed: 7,
            options: JsonText::of(&config.options),
            players: (0..2)
                .map(|seat| ArchivedPlayer {
                    seat,
                    player_id: format!("p{seat}"),
                    name: format!("P{seat}"),
                })
                .collect(),
            outcome: game
                .outcome()
                .unwrap_or_else(|| Outcome::forfeit(2, vec![1])),
            final_state: JsonText::of(&game.view(Viewer::Spectator)),
            started_at: now,
            completed_at: now,
            events,
            events_truncated: false,
        }
    }

    #[test]
    fn a_complete_log_replays_to_the_archived_outcome() {
        let record = played(&[0, 3, 1, 4, 2]);
        assert_eq!(record.outcome, Outcome::win(0));
        let report = replay(&record, &GameCatalog::standard()).unwrap();
        assert_eq!(report.actions, 5);
        assert_eq!(report.events_checked, 5);
    }

    #[test]
    fn a_forfeited_game_replays_when_its_forfeit_is_logged() {
        let mut record = played(&[0, 3]);
        let err = replay(&record, &GameCatalog::standard()).unwrap_err();
        assert!(matches!(err, ReplayError::OutcomeMismatch { .. }), "{err}");
        record.events.push(ArchivedEvent {
            seq: record.events.len() as u64 + 1,
            kind: "forfeit".into(),
            data: json!({"seat": 1, "reason": "left"}).into(),
            private: None,
            action: None,
            tick: None,
            inputs: Vec::new(),
            at: Utc::now(),
        });
        replay(&record, &GameCatalog::standard()).unwrap();
    }

    #[test]
    fn a_tampered_or_incomplete_log_is_caught() {
        let catalog = GameCatalog::standard();
        let mut changed = played(&[0, 3, 1, 4, 2]);
        changed.events[2].data = json!({"cell": 8, "seat": 1}).into();
        assert!(matches!(
            replay(&changed, &catalog),
            Err(ReplayError::EventMismatch { seq: 3, .. })
        ));

        let mut missing = played(&[0, 3, 1, 4, 2]);
        missing.events.remove(3);
        assert!(replay(&missing, &catalog).is_err());

        let mut wrong = played(&[0, 3, 1, 4, 2]);
        wrong.outcome = Outcome::win(1);
        assert!(matches!(
            replay(&wrong, &catalog),
            Err(ReplayError::OutcomeMismatch { .. })
        ));

        let mut truncated = played(&[0, 3, 1, 4, 2]);
        truncated.events_truncated = true;
        assert!(matches!(
            replay(&truncated, &catalog),
            Err(ReplayError::Truncated)
        ));

        let mut unknown = played(&[0]);
        unknown.game_kind = "chess".into();
        assert!(matches!(
            replay(&unknown, &catalog),
            Err(ReplayError::UnknownGame(_))
        ));
    }
}
