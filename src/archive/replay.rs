//! Replaying an archived game: set the game up again from its kind, options and seed, feed it
//! the archived actions in order, and check that it produces the archived events, final state
//! and outcome. A match proves the archived log is complete and the rules deterministic.

use std::panic::{catch_unwind, AssertUnwindSafe};

use serde::Serialize;

use super::record::{ArchivedEvent, GameRecord};
use crate::game::{Game, GameCatalog, GameEvent, OutcomeKind, Viewer};

/// What a successful replay checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReplayReport {
    pub game_id: String,
    pub game_kind: String,
    /// Actions fed to the game.
    pub actions: usize,
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
    #[error("the replayed final state differs from the archived one")]
    FinalStateMismatch,
    #[error("the replay ends {replayed}, the archive says {archived}")]
    OutcomeMismatch { archived: String, replayed: String },
}

/// Events the room itself emits, never the game: the start of play and a forfeit.
const ROOM_EVENTS: [&str; 2] = ["started", "forfeit"];

pub fn replay(record: &GameRecord, catalog: &GameCatalog) -> Result<ReplayReport, ReplayError> {
    if record.events_truncated {
        return Err(ReplayError::Truncated);
    }
    let kind = catalog
        .get(&record.game_kind)
        .map_err(|_| ReplayError::UnknownGame(record.game_kind.clone()))?;
    let config = kind
        .configure(&record.options)
        .map_err(|err| ReplayError::Options(err.to_string()))?;
    let mut game = catch_unwind(AssertUnwindSafe(|| kind.setup(&config, record.seed)))
        .map_err(|_| ReplayError::Panicked { seq: 0 })?;

    let mut actions = 0;
    let mut events_checked = 0;
    let mut archived = record.events.iter().peekable();
    while let Some(event) = archived.next() {
        let Some(action) = &event.action else {
            if !ROOM_EVENTS.contains(&event.kind.as_str()) {
                return Err(ReplayError::UnexpectedEvent {
                    seq: event.seq,
                    kind: event.kind.clone(),
                });
            }
            continue;
        };
        actions += 1;
        let produced = apply(game.as_mut(), action.seat, &action.action, event.seq)?;
        // The action's events were logged one after another, the first one carrying the action.
        let mut expected = vec![event];
        while expected.len() < produced.len() {
            match archived.next_if(|e| e.action.is_none()) {
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
            events_checked += 1;
        }
    }

    let final_state = catch_unwind(AssertUnwindSafe(|| game.view(Viewer::Spectator)))
        .map_err(|_| ReplayError::Panicked { seq: u64::MAX })?;
    if final_state != record.final_state {
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
            replayed.is_none() && record.events.iter().any(|e| e.kind == "forfeit")
        }
    };
    if !outcome_matches {
        return Err(ReplayError::OutcomeMismatch {
            archived: format!("{:?}", record.outcome),
            replayed: format!("{replayed:?}"),
        });
    }
    Ok(ReplayReport {
        game_id: record.game_id.clone(),
        game_kind: record.game_kind.clone(),
        actions,
        events_checked,
    })
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
        (Some(a), Some(r)) => a.seat == r.seat && a.data == r.data,
        _ => false,
    };
    if archived.kind == replayed.kind && archived.data == replayed.data && private_matches {
        Ok(())
    } else {
        Err(ReplayError::EventMismatch {
            seq: archived.seq,
            archived: format!("{} {}", archived.kind, archived.data),
            replayed: format!("{} {}", replayed.kind, replayed.data),
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use serde_json::json;

    use super::*;
    use crate::archive::record::{ArchivedAction, ArchivedPlayer};
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
            data: json!({}),
            private: None,
            action: None,
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
                    data: event.data,
                    private: None,
                    action: (j == 0).then(|| ArchivedAction {
                        seat,
                        action: action.clone(),
                    }),
                    at: now,
                });
            }
        }
        GameRecord {
            game_id: "g".into(),
            room_id: "r".into(),
            game_kind: "tictactoe".into(),
            seed: 7,
            options: config.options.clone(),
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
            final_state: game.view(Viewer::Spectator),
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
            data: json!({"seat": 1, "reason": "left"}),
            private: None,
            action: None,
            at: Utc::now(),
        });
        replay(&record, &GameCatalog::standard()).unwrap();
    }

    #[test]
    fn a_tampered_or_incomplete_log_is_caught() {
        let catalog = GameCatalog::standard();
        let mut changed = played(&[0, 3, 1, 4, 2]);
        changed.events[2].data = json!({"cell": 8, "seat": 1});
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
