//! What is left of a finished room once nobody is in it and its reconnect grace is over: its
//! summary and the final view of each seat and of spectators, kept by the registry until the
//! room is reaped (`GC_COMPLETED_GAMES_AFTER`). The room's actor has stopped by then.
//!
//! A finished room waits minutes to be reaped, for players and spectators coming back for the
//! result; on a busy server the rooms waiting are most of its memory. As an actor, a finished
//! tic-tac-toe room kept about 3 KB (its context and mailbox, the game, the seats, its log
//! context); retired, it keeps its views as JSON text, a few hundred bytes
//! (docs/benchmarks.md, "A finished room").
//!
//! Whoever enters a retired room gets what the finished room would have answered: `joined` or
//! `resumed`, the final state, `game_over`. The connection is then in the room only as far as
//! its own frames go: `act` gets `game_over`, `leave` gets `left`, and nobody else sees it come
//! or go, as nobody else is there.

use std::sync::Arc;

use serde_json::Value;

use super::{Membership, Refusal};
use crate::auth::Identity;
use crate::game::Seat;
use crate::protocol::{ErrorCode, PresenceStatus, Ref, Role, RoomSummary, Seq, ServerMsg};

/// The final view of a game for each viewer, as JSON text. A seat whose view is the spectators'
/// (a game without hidden information) shares it.
#[derive(Debug)]
pub struct FinalViews {
    spectator: Box<str>,
    /// One per seat; `None` where the seat sees what spectators see.
    seats: Box<[Option<Box<str>>]>,
}

impl FinalViews {
    pub fn new(spectator: &Value, seats: &[Value]) -> serde_json::Result<Self> {
        let spectator: Box<str> = serde_json::to_string(spectator)?.into();
        let seats = seats
            .iter()
            .map(|view| {
                let view = serde_json::to_string(view)?;
                Ok((*view != *spectator).then(|| view.into()))
            })
            .collect::<serde_json::Result<_>>()?;
        Ok(FinalViews { spectator, seats })
    }

    /// What `seat` (spectators: `None`) saw when the game ended.
    fn of(&self, seat: Option<Seat>) -> &str {
        seat.and_then(|seat| self.seats.get(seat as usize))
            .and_then(Option::as_deref)
            .unwrap_or(&self.spectator)
    }
}

/// What a connection asked of a room, kept so that a retired room can answer it.
#[derive(Clone, Debug)]
pub enum Entry {
    Join(Role),
    Resume { since_seq: Seq },
}

/// A finished room whose actor has stopped, as the registry hands it to a session.
#[derive(Clone, Debug)]
pub struct RetiredRoom {
    pub summary: RoomSummary,
    pub views: Arc<FinalViews>,
}

impl RetiredRoom {
    /// Answers a `join` or `resume` as the finished room would have: how the connection is in
    /// the room, and the frames to send it, in order.
    pub fn enter(
        &self,
        who: &Identity,
        entry: &Entry,
        reference: Option<Ref>,
    ) -> Result<(Membership, Vec<ServerMsg>), Refusal> {
        let room = &self.summary;
        let seat = room
            .players
            .iter()
            .find(|info| info.player == who.player_id)
            .map(|info| info.seat);
        let role = match (entry, seat) {
            (_, Some(_)) => Role::Player,
            (Entry::Join(Role::Player), None) => {
                return Err(Refusal::new(
                    ErrorCode::RoomFull,
                    format!("all {} seats are taken; join as a spectator", room.seats),
                ))
            }
            (Entry::Join(Role::Spectator) | Entry::Resume { .. }, None) => Role::Spectator,
        };
        if let Entry::Resume { since_seq } = entry {
            if *since_seq > room.seq {
                return Err(Refusal::new(
                    ErrorCode::InvalidSeq,
                    format!(
                        "since_seq {since_seq} is ahead of this room (seq {})",
                        room.seq
                    ),
                ));
            }
        }
        let state = self.state_of(seat)?;
        // A seated player comes back to a seat nobody holds: as in a live room, they are told
        // so first, and listed as connected.
        let mut players = room.players.clone();
        let mut frames = Vec::with_capacity(4);
        if let Some(info) = players.iter_mut().find(|info| Some(info.seat) == seat) {
            info.connected = true;
            frames.push(ServerMsg::Presence {
                player: info.player.clone(),
                name: info.name.clone(),
                seat,
                status: PresenceStatus::Reconnected,
            });
        }
        match *entry {
            Entry::Join(_) => frames.push(ServerMsg::Joined {
                room: room.id.clone(),
                role,
                seat,
                game: room.game.clone(),
                seq: room.seq,
                state,
                players,
                turn_deadline: None,
                reference,
            }),
            Entry::Resume { since_seq } => {
                frames.push(ServerMsg::Resumed {
                    room: room.id.clone(),
                    role,
                    seat,
                    game: room.game.clone(),
                    seq: room.seq,
                    players,
                    turn_deadline: None,
                    reference,
                });
                // The events are gone with the actor: one who missed any gets the final state.
                if since_seq < room.seq {
                    frames.push(ServerMsg::State {
                        seq: room.seq,
                        state,
                        reference: None,
                    });
                }
            }
        }
        if let Some(outcome) = &room.outcome {
            frames.push(ServerMsg::GameOver {
                seq: room.seq,
                outcome: outcome.clone(),
            });
        }
        Ok((Membership { role, seat }, frames))
    }

    fn state_of(&self, seat: Option<Seat>) -> Result<Value, Refusal> {
        serde_json::from_str(self.views.of(seat)).map_err(|e| {
            Refusal::new(
                ErrorCode::Internal,
                format!("this room's final state could not be read: {e}"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::game::Outcome;
    use crate::ids::{GameId, PlayerId, RoomId};
    use crate::protocol::{RoomStatus, SeatInfo};
    use serde_json::json;

    /// A finished two-seat card game: each seat saw its own hand, spectators saw none.
    fn card_room() -> RetiredRoom {
        let seat_info = |seat: Seat, player: &str| SeatInfo {
            seat,
            player: PlayerId::from(player),
            name: player.to_owned(),
            connected: false,
        };
        let views = FinalViews::new(
            &json!({"pile": "7H"}),
            &[
                json!({"pile": "7H", "hand": ["2C"]}),
                json!({"pile": "7H", "hand": ["KD", "3S"]}),
            ],
        )
        .expect("views serialise");
        RetiredRoom {
            summary: RoomSummary {
                id: RoomId::from("r1"),
                game: "crazy_eights".into(),
                game_id: GameId::generate(),
                status: RoomStatus::Finished,
                seats: 2,
                players: vec![seat_info(0, "ann"), seat_info(1, "bob")],
                spectators: 0,
                seq: 40,
                created_at: 0,
                outcome: Some(Outcome::win(0)),
            },
            views: Arc::new(views),
        }
    }

    fn who(player: &str) -> Identity {
        Identity {
            player_id: PlayerId::from(player),
            name: player.into(),
        }
    }

    fn joined_state(frames: &[ServerMsg]) -> &Value {
        frames
            .iter()
            .find_map(|frame| match frame {
                ServerMsg::Joined { state, .. } | ServerMsg::State { state, .. } => Some(state),
                _ => None,
            })
            .expect("a frame with the state")
    }

    fn frame_type(frame: &ServerMsg) -> String {
        let frame = serde_json::to_value(frame).expect("frames serialise");
        frame["type"].as_str().unwrap_or_default().to_owned()
    }

    #[test]
    fn seats_that_see_what_spectators_see_share_their_view() {
        let views = FinalViews::new(&json!([1]), &[json!([1]), json!([2])]).unwrap();
        assert!(views.seats[0].is_none());
        assert_eq!(views.of(Some(0)), "[1]");
        assert_eq!(views.of(Some(1)), "[2]");
        assert_eq!(views.of(None), "[1]");
        // A seat the views do not know sees what spectators see.
        assert_eq!(views.of(Some(7)), "[1]");
    }

    #[test]
    fn each_seat_gets_its_own_hand_and_spectators_none() {
        let room = card_room();
        let entry = Entry::Join(Role::Spectator);
        let (bob, frames) = room.enter(&who("bob"), &entry, None).unwrap();
        assert_eq!(bob.seat, Some(1));
        assert_eq!(joined_state(&frames)["hand"], json!(["KD", "3S"]));
        let (ann, frames) = room.enter(&who("ann"), &entry, None).unwrap();
        assert_eq!(ann.seat, Some(0));
        assert_eq!(joined_state(&frames)["hand"], json!(["2C"]));
        let (guest, frames) = room.enter(&who("cy"), &entry, None).unwrap();
        assert_eq!((guest.role, guest.seat), (Role::Spectator, None));
        assert_eq!(joined_state(&frames), &json!({"pile": "7H"}));
        assert!(matches!(
            frames.last(),
            Some(ServerMsg::GameOver { seq: 40, .. })
        ));
    }

    #[test]
    fn a_resume_that_missed_events_gets_the_state_and_one_that_did_not_only_the_result() {
        let room = card_room();
        let (_, frames) = room
            .enter(&who("bob"), &Entry::Resume { since_seq: 12 }, None)
            .unwrap();
        let kinds: Vec<_> = frames.iter().map(frame_type).collect();
        assert_eq!(kinds, ["presence", "resumed", "state", "game_over"]);
        let (_, frames) = room
            .enter(&who("cy"), &Entry::Resume { since_seq: 40 }, None)
            .unwrap();
        let kinds: Vec<_> = frames.iter().map(frame_type).collect();
        assert_eq!(kinds, ["resumed", "game_over"]);
        let refused = room
            .enter(&who("cy"), &Entry::Resume { since_seq: 41 }, None)
            .unwrap_err();
        assert_eq!(refused.code, ErrorCode::InvalidSeq);
        let refused = room
            .enter(&who("cy"), &Entry::Join(Role::Player), None)
            .unwrap_err();
        assert_eq!(refused.code, ErrorCode::RoomFull);
    }
}
