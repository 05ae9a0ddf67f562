//! A room's line in the room list: written by the room, read by the registry and by sessions.
//!
//! A room's summary changes seven or eight times a game (two joins, the start, the end, two
//! leaves, the retirement). Sent to the registry as messages, each woke the system arbiter's
//! thread: at 10,000 moves/s that was about a twelfth of the server's CPU (docs/benchmarks.md,
//! "Profile", fifth round). The room now writes its summary into a [`RoomListing`] it shares
//! with the registry, and the counts that follow from a room's status (the active games that
//! `MAX_ACTIVE_GAMES` caps, the `gamehall_rooms` gauge) are kept in a [`RoomTally`] that both
//! update under the listing's lock, so no change is counted twice or missed. A finished room
//! that retires leaves its final views here too, before its actor stops: a session that finds
//! the actor gone and looks again finds the retired room.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use actix::Addr;

use super::index::FoundRoom;
use crate::metrics::Metrics;
use crate::protocol::{RoomStatus, RoomSummary};
use crate::room::{FinalViews, RetiredRoom, Room};

/// Counts over every listed room.
pub struct RoomTally {
    /// Rooms waiting for players or playing: what `MAX_ACTIVE_GAMES` caps. Only the registry
    /// adds to it (a room is counted as it is created, in the same step as the capacity
    /// check); rooms take themselves off as their game ends.
    active: AtomicUsize,
    metrics: Arc<Metrics>,
}

impl RoomTally {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        RoomTally {
            active: AtomicUsize::new(0),
            metrics,
        }
    }

    pub fn active(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    fn gauge(&self, summary: &RoomSummary) -> prometheus::IntGauge {
        self.metrics
            .rooms
            .with_label_values(&[&summary.game, summary.status.as_str()])
    }
}

/// One room's summary, and when its game ended.
pub struct RoomListing {
    state: Mutex<ListingState>,
    tally: Arc<RoomTally>,
}

struct ListingState {
    summary: RoomSummary,
    /// When the room stopped being active: the registry reaps it `GC_COMPLETED_GAMES_AFTER`
    /// later.
    ended_at: Option<Instant>,
    /// Set as the room retires: what it answers with from then on.
    retired: Option<Arc<FinalViews>>,
    /// Taken off the list by the registry: a room that is still closing changes no count.
    removed: bool,
}

impl RoomListing {
    /// Lists a new room and counts it.
    pub fn new(summary: RoomSummary, tally: Arc<RoomTally>) -> Self {
        tally.gauge(&summary).inc();
        let ended_at = if summary.status.is_active() {
            tally.active.fetch_add(1, Ordering::Relaxed);
            None
        } else {
            Some(Instant::now())
        };
        RoomListing {
            state: Mutex::new(ListingState {
                summary,
                ended_at,
                retired: None,
                removed: false,
            }),
            tally,
        }
    }

    /// The lock is held only to copy a summary in or out; no code that can panic runs under
    /// it, so a poisoned lock still holds a whole summary.
    fn lock(&self) -> MutexGuard<'_, ListingState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// From the room: its summary as of now.
    pub fn update(&self, summary: RoomSummary) {
        self.apply(&mut self.lock(), summary);
    }

    /// Writes `summary` in, moving the counts its status changes.
    fn apply(&self, state: &mut ListingState, summary: RoomSummary) {
        if !state.removed {
            if state.summary.status != summary.status {
                self.tally.gauge(&state.summary).dec();
                self.tally.gauge(&summary).inc();
            }
            if state.summary.status.is_active() && !summary.status.is_active() {
                self.tally.active.fetch_sub(1, Ordering::Relaxed);
                state.ended_at = Some(Instant::now());
            }
        }
        state.summary = summary;
    }

    /// From a finished room that nobody is in, as it stops: its last summary and the views it
    /// leaves to answer with until it is reaped.
    pub fn retire(&self, summary: RoomSummary, views: FinalViews) {
        let mut state = self.lock();
        self.apply(&mut state, summary);
        if state.retired.is_none() && !state.removed {
            self.tally.metrics.rooms_retired.inc();
        }
        state.retired = Some(Arc::new(views));
    }

    /// How the room index answers for this room, whose actor is `addr`: a crashed room is
    /// gone, a retired one answers from what it left, and any other is asked through its actor.
    pub fn found(&self, addr: Option<Addr<Room>>) -> Option<FoundRoom> {
        let state = self.lock();
        if state.summary.status == RoomStatus::Crashed {
            return None;
        }
        if let Some(views) = &state.retired {
            return Some(FoundRoom::Retired(RetiredRoom {
                summary: state.summary.clone(),
                views: Arc::clone(views),
            }));
        }
        addr.map(FoundRoom::Running)
    }

    /// What the registry's sweep looks at, read under one lock: the sweep visits every room
    /// once a second.
    pub fn sweep_view(&self) -> SweepView {
        let state = self.lock();
        SweepView {
            ended_at: state.ended_at,
            active: state.summary.status.is_active(),
            retired: state.retired.is_some(),
        }
    }

    /// From the registry, as it drops the room: the room is no longer counted.
    pub fn remove(&self) {
        let mut state = self.lock();
        if state.removed {
            return;
        }
        state.removed = true;
        if state.retired.is_some() {
            self.tally.metrics.rooms_retired.dec();
        }
        self.tally.gauge(&state.summary).dec();
        if state.summary.status.is_active() {
            self.tally.active.fetch_sub(1, Ordering::Relaxed);
        }
    }

    pub fn summary(&self) -> RoomSummary {
        self.lock().summary.clone()
    }

    /// Reads the summary in place, for the registry's scans of every room.
    pub fn with_summary<R>(&self, read: impl FnOnce(&RoomSummary) -> R) -> R {
        read(&self.lock().summary)
    }
}

/// A room's listing as the registry's sweep sees it ([`RoomListing::sweep_view`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SweepView {
    /// When its game ended (it is reaped `GC_COMPLETED_GAMES_AFTER` later).
    pub ended_at: Option<Instant>,
    /// Waiting for players or playing.
    pub active: bool,
    /// Its actor has stopped and it answers from its final views.
    pub retired: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{GameId, RoomId};

    fn summary(status: RoomStatus) -> RoomSummary {
        RoomSummary {
            id: RoomId::generate(),
            game: "tictactoe".to_owned(),
            game_id: GameId::generate(),
            status,
            seats: 2,
            players: Vec::new(),
            spectators: 0,
            seq: 0,
            created_at: 0,
            outcome: None,
        }
    }

    fn with_status(listing: &RoomListing, status: RoomStatus) -> RoomSummary {
        RoomSummary {
            status,
            ..listing.summary()
        }
    }

    fn gauge(tally: &RoomTally, status: RoomStatus) -> i64 {
        tally
            .metrics
            .rooms
            .with_label_values(&["tictactoe", status.as_str()])
            .get()
    }

    #[test]
    fn a_game_is_counted_active_until_it_ends_and_in_the_gauge_of_its_status() {
        let tally = Arc::new(RoomTally::new(Metrics::new()));
        let listing = RoomListing::new(summary(RoomStatus::Waiting), Arc::clone(&tally));
        assert_eq!(tally.active(), 1);
        assert_eq!(gauge(&tally, RoomStatus::Waiting), 1);
        assert_eq!(listing.sweep_view().ended_at, None);
        assert!(listing.sweep_view().active);

        listing.update(with_status(&listing, RoomStatus::Playing));
        assert_eq!(tally.active(), 1);
        assert_eq!(gauge(&tally, RoomStatus::Waiting), 0);
        assert_eq!(gauge(&tally, RoomStatus::Playing), 1);

        listing.update(with_status(&listing, RoomStatus::Finished));
        assert_eq!(tally.active(), 0);
        assert_eq!(gauge(&tally, RoomStatus::Playing), 0);
        assert_eq!(gauge(&tally, RoomStatus::Finished), 1);
        let view = listing.sweep_view();
        assert!(view.ended_at.is_some());
        assert!(!view.active && !view.retired);

        listing.remove();
        assert_eq!(tally.active(), 0);
        assert_eq!(gauge(&tally, RoomStatus::Finished), 0);
    }

    #[test]
    fn a_room_removed_while_active_is_uncounted_once_and_its_later_changes_count_nothing() {
        let tally = Arc::new(RoomTally::new(Metrics::new()));
        let listing = RoomListing::new(summary(RoomStatus::Playing), Arc::clone(&tally));
        let other = RoomListing::new(summary(RoomStatus::Waiting), Arc::clone(&tally));
        assert_eq!(tally.active(), 2);

        listing.remove();
        listing.remove();
        assert_eq!(tally.active(), 1);
        assert_eq!(gauge(&tally, RoomStatus::Playing), 0);

        // A room that is still closing may write its summary after the registry dropped it.
        listing.update(with_status(&listing, RoomStatus::Finished));
        assert_eq!(tally.active(), 1);
        assert_eq!(gauge(&tally, RoomStatus::Finished), 0);
        assert_eq!(listing.summary().status, RoomStatus::Finished);
        assert_eq!(other.summary().status, RoomStatus::Waiting);
    }

    #[test]
    fn a_retired_room_leaves_its_views_and_is_counted_retired_until_removed() {
        let tally = Arc::new(RoomTally::new(Metrics::new()));
        let listing = RoomListing::new(summary(RoomStatus::Playing), Arc::clone(&tally));
        assert!(listing.found(None).is_none());

        let finished = with_status(&listing, RoomStatus::Finished);
        let views = FinalViews::new(&serde_json::json!({"board": [1]}), &[]).unwrap();
        listing.retire(finished.clone(), views);
        let Some(FoundRoom::Retired(retired)) = listing.found(None) else {
            panic!("the retired room is not found as retired");
        };
        assert_eq!(retired.summary, finished);
        assert!(listing.sweep_view().retired);
        assert_eq!(tally.metrics.rooms_retired.get(), 1);
        assert_eq!(tally.active(), 0);

        listing.remove();
        assert_eq!(tally.metrics.rooms_retired.get(), 0);
        assert_eq!(gauge(&tally, RoomStatus::Finished), 0);
    }
}
