//! The registry's index of rooms, which sessions read to find the room they join.
//!
//! Only the registry adds rooms to the index and takes them out. A session that joins or
//! resumes looks its room up here under a read lock instead of asking the registry: that was
//! two messages across threads per player per game, each waking the registry's thread and then
//! the session's (docs/benchmarks.md, "Profile", sixth round).

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use actix::Addr;

use super::listing::RoomListing;
use crate::ids::RoomId;
use crate::protocol::RoomSummary;
use crate::room::{RetiredRoom, Room};

#[derive(Default)]
pub struct RoomIndex {
    rooms: RwLock<HashMap<RoomId, RoomEntry>>,
}

#[derive(Clone)]
pub(super) struct RoomEntry {
    /// The room's actor; `None` once the room has retired and the registry has let go of its
    /// mailbox.
    pub addr: Option<Addr<Room>>,
    /// Written by the room itself as its summary changes.
    pub listing: Arc<RoomListing>,
}

impl RoomEntry {
    pub fn is_active(&self) -> bool {
        self.listing.with_summary(|s| s.status.is_active())
    }
}

/// A room, for a session that joins it.
pub enum FoundRoom {
    /// Ask the room's actor (which may have stopped since: look again then).
    Running(Addr<Room>),
    /// A finished room that nobody was in any more: it answers from what it left.
    Retired(RetiredRoom),
}

impl RoomIndex {
    /// No code that can panic runs under the lock (inserts, removals and reads of entries),
    /// so a poisoned lock still holds a whole index.
    pub(super) fn read(&self) -> RwLockReadGuard<'_, HashMap<RoomId, RoomEntry>> {
        self.rooms.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn write(&self) -> RwLockWriteGuard<'_, HashMap<RoomId, RoomEntry>> {
        self.rooms.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The room `id`, running or retired. A room retires (its listing holds its final views)
    /// before its actor stops, so a session whose message to the actor failed finds it
    /// retired when it looks again. A crashed room is gone from the moment it crashed, though
    /// the registry takes it out of the index a message later.
    pub fn find(&self, id: &RoomId) -> Option<FoundRoom> {
        let entry = self.read().get(id).cloned()?;
        entry.listing.found(entry.addr)
    }

    /// The summary room `id` last wrote into its listing, running, finished or retired (until
    /// the registry reaps it).
    pub fn summary(&self, id: &RoomId) -> Option<RoomSummary> {
        self.read().get(id).map(|entry| entry.listing.summary())
    }
}
