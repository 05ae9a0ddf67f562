//! The registry actor: creates, indexes and supervises every room.
//!
//! There is one registry. Because room creation goes through its mailbox, the
//! `MAX_ACTIVE_GAMES` check and the insert are one step: no race can put the server over
//! capacity.
//!
//! Where a room runs: real-time rooms (games with a tick) on a small pool of arbiters of their
//! own, spread round-robin, so that their tick clocks are never late behind socket work.
//! Turn-based rooms, by default (`COLOCATE_TURN_BASED_ROOMS`), on the HTTP worker thread that
//! asked for them (the `home` of [`CreateRoom`]): their players' frames then reach them, and
//! their broadcasts the players' sockets, mostly without crossing threads, which on a busy
//! machine is much of a move's cost (docs/benchmarks.md, "Profile").

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde::Serialize;
use serde_json::Value;
use slog::{info, o, warn, Logger};

use crate::game::{GameCatalog, OptionsError};
use crate::ids::RoomId;
use crate::metrics::Metrics;
use crate::monitor::MemoryGuard;
use crate::protocol::{RoomStatus, RoomSummary};
use crate::room::{CloseRoom, EndForShutdown, Room, RoomConfig, RoomSpec};

mod index;
mod listing;
use index::RoomEntry;
pub use index::{FoundRoom, RoomIndex};
pub use listing::{RoomListing, RoomTally};

/// How often the registry reaps finished rooms and looks for rooms that died.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

pub struct RegistryConfig {
    pub max_active_games: usize,
    /// Run turn-based rooms on the arbiter that asked for them (`CreateRoom::home`).
    pub colocate_turn_based: bool,
    pub gc_completed_after: Duration,
    pub room: RoomConfig,
    /// Refuses new rooms while memory is high.
    pub memory: Arc<MemoryGuard>,
    pub metrics: Arc<Metrics>,
}

pub struct Registry {
    /// Shared with the sessions, which look rooms up in it themselves.
    rooms: Arc<RoomIndex>,
    tally: Arc<RoomTally>,
    catalog: GameCatalog,
    config: RegistryConfig,
    arbiters: Arc<Vec<ArbiterHandle>>,
    next_arbiter: usize,
    /// Set when the server starts shutting down: no new rooms from then on.
    draining: bool,
    log: Logger,
}

impl Registry {
    pub fn new(
        catalog: GameCatalog,
        config: RegistryConfig,
        arbiters: Vec<ArbiterHandle>,
        log: Logger,
    ) -> Self {
        Registry {
            rooms: Arc::default(),
            tally: Arc::new(RoomTally::new(Arc::clone(&config.metrics))),
            catalog,
            config,
            arbiters: Arc::new(arbiters),
            next_arbiter: 0,
            draining: false,
            log: log.new(o!("actor" => "registry")),
        }
    }

    /// The index the sessions read: taken before the registry starts.
    pub fn index(&self) -> Arc<RoomIndex> {
        Arc::clone(&self.rooms)
    }

    fn remove(&mut self, id: &RoomId) -> Option<RoomEntry> {
        let entry = self.rooms.write().remove(id)?;
        entry.listing.remove();
        Some(entry)
    }

    /// A crashed room leaves no trace in the room list, so it is counted, in the Prometheus
    /// counter that alerts see and that [`GetStats`] (`/admin/status`) reads back.
    fn count_crash(&self) {
        self.config.metrics.rooms_crashed.inc();
    }

    fn sweep(&mut self) {
        let now = Instant::now();
        let gc_after = self.config.gc_completed_after;
        let mut reap = Vec::new();
        let mut dead = Vec::new();
        let mut retired = Vec::new();
        for (id, entry) in self.rooms.read().iter() {
            let view = entry.listing.sweep_view();
            let stopped = entry.addr.as_ref().is_some_and(|addr| !addr.connected());
            if view
                .ended_at
                .is_some_and(|t| now.duration_since(t) >= gc_after)
            {
                reap.push(id.clone());
            } else if stopped && view.active {
                dead.push(id.clone());
            } else if entry.addr.is_some() && view.retired {
                retired.push(id.clone());
            }
        }
        // A retired room's actor has stopped: its mailbox is let go of, and the room answers
        // from its listing until it is reaped.
        if !retired.is_empty() {
            let mut rooms = self.rooms.write();
            for id in retired {
                if let Some(entry) = rooms.get_mut(&id) {
                    entry.addr = None;
                }
            }
        }
        for id in reap {
            if let Some(entry) = self.remove(&id) {
                if let Some(addr) = &entry.addr {
                    addr.do_send(CloseRoom);
                }
                info!(self.log, "finished room reaped"; "room_id" => %id);
            }
        }
        // A room whose actor stopped without reporting (a panic outside the game code) is
        // removed here, so it never holds a seat of capacity or shows as joinable.
        for id in dead {
            if let Some(entry) = self.remove(&id) {
                self.count_crash();
                let game = entry.listing.with_summary(|s| s.game.clone());
                warn!(self.log, "room stopped unexpectedly; removed"; "room_id" => %id,
                    "game" => game);
            }
        }
        let mut rooms = self.rooms.write();
        if let Some(capacity) = shrunk_capacity(rooms.len(), rooms.capacity()) {
            rooms.shrink_to(capacity);
        }
    }
}

/// The capacity the room index should shrink to, if it should. A `HashMap` keeps its table
/// after its rooms are gone: after a burst of 20,000 rooms the index kept 65,536 slots of 249
/// bytes (16 MB) with no room in them, and its doubling at one peak was the 8.7 MB the live
/// heap grew by over a million connect/play/disconnect cycles (docs/benchmarks.md, "churn").
/// It shrinks once the rooms fill less than a quarter of the table, to twice the rooms it
/// holds, so a steady load neither rehashes on every sweep nor grows the table straight back.
/// `capacity` is what `HashMap::capacity` reads, which leaves out the slots of removed entries
/// until the next rehash: the index may shrink a few sweeps later than it could, never too
/// early.
fn shrunk_capacity(len: usize, capacity: usize) -> Option<usize> {
    /// Below this the table is too small to be worth a rehash.
    const KEEP: usize = 1024;
    let target = (len * 2).max(KEEP);
    (capacity > 4 * len && capacity > 2 * target).then_some(target)
}

#[cfg(test)]
mod tests {
    use super::shrunk_capacity;
    use std::collections::HashMap;

    #[test]
    fn an_emptied_index_gives_its_table_back() {
        let mut rooms: HashMap<u32, [u8; 200]> = HashMap::new();
        rooms.extend((0..50_000).map(|i| (i, [0; 200])));
        rooms.retain(|&i, _| i < 100);
        let before = rooms.capacity();
        let target = shrunk_capacity(rooms.len(), before).expect("a mostly empty table shrinks");
        rooms.shrink_to(target);
        // `capacity()` counts the slots of removed entries as taken until the next rehash, so it
        // reads less than the table holds (here about 35,000 of 57,344), never more.
        assert!(before > 20_000, "capacity {before}");
        assert!(rooms.capacity() < 4_096, "capacity {}", rooms.capacity());
        assert_eq!(rooms.len(), 100);
    }

    #[test]
    fn a_busy_or_small_index_keeps_its_table() {
        // A quarter full or more: rooms come and go at this size, keep the table.
        assert_eq!(shrunk_capacity(10_000, 28_672), None);
        // Small tables are not worth a rehash.
        assert_eq!(shrunk_capacity(0, 896), None);
        assert_eq!(shrunk_capacity(10, 1_792), None);
        // Mostly empty and large: shrink to twice what is there, never below the floor.
        assert_eq!(shrunk_capacity(3_000, 57_344), Some(6_000));
        assert_eq!(shrunk_capacity(0, 57_344), Some(1_024));
    }
}

impl Actor for Registry {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(SWEEP_INTERVAL, |registry, _ctx| registry.sweep());
    }

    fn stopping(&mut self, _ctx: &mut Self::Context) -> Running {
        for addr in self.rooms.read().values().filter_map(|e| e.addr.as_ref()) {
            addr.do_send(CloseRoom);
        }
        Running::Stop
    }
}

// ---- messages ------------------------------------------------------------------------------

/// Create a room of `game` with `options`.
#[derive(Message)]
#[rtype(result = "Result<RoomSummary, CreateRoomError>")]
pub struct CreateRoom {
    pub game: String,
    pub options: Value,
    /// The arbiter of the HTTP worker the request came in on: where a turn-based room runs
    /// when `RegistryConfig::colocate_turn_based` is set.
    pub home: Option<ArbiterHandle>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreateRoomError {
    #[error(transparent)]
    Options(#[from] OptionsError),
    #[error("the server is at its limit of {0} active games")]
    ServerFull(usize),
    #[error("no room worker is running")]
    NoWorkers,
    #[error("the server is shutting down")]
    ShuttingDown,
    #[error("the server is low on memory; try again shortly")]
    MemoryHigh,
}

impl CreateRoomError {
    /// The `reason` label of `gamehall_rooms_refused_total`, for refusals about the server.
    fn refusal_reason(&self) -> Option<&'static str> {
        match self {
            CreateRoomError::ServerFull(_) => Some("capacity"),
            CreateRoomError::MemoryHigh => Some("memory"),
            CreateRoomError::ShuttingDown => Some("shutdown"),
            CreateRoomError::Options(_) | CreateRoomError::NoWorkers => None,
        }
    }
}

/// Rooms as the lobby lists them.
#[derive(Message)]
#[rtype(result = "Vec<RoomSummary>")]
pub struct ListRooms {
    pub game: Option<String>,
    pub status: Option<RoomStatus>,
    pub limit: usize,
}

/// From a room: its game panicked and it stopped.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RoomCrashed {
    pub id: RoomId,
    pub reason: String,
}

/// Shutdown, first step: refuse new rooms from now on.
#[derive(Message)]
#[rtype(result = "()")]
pub struct BeginShutdown;

/// Shutdown, after the drain time: end every game still running (as abandoned, so that it is
/// archived). Answers how many were ended, once every room has done so.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct EndUnfinishedGames;

/// Counts for health checks and operators.
#[derive(Message)]
#[rtype(result = "RegistryStats")]
pub struct GetStats;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RegistryStats {
    pub rooms: usize,
    pub active_games: usize,
    /// Rooms whose game is under way (the rest of `active_games` wait for players).
    pub playing_games: usize,
    pub max_active_games: usize,
    pub crashed_rooms: u64,
    pub by_game: HashMap<String, usize>,
}

impl Handler<CreateRoom> for Registry {
    type Result = Result<RoomSummary, CreateRoomError>;

    fn handle(&mut self, msg: CreateRoom, ctx: &mut Self::Context) -> Self::Result {
        let created = self.create(msg, ctx);
        if let Some(reason) = created
            .as_ref()
            .err()
            .and_then(CreateRoomError::refusal_reason)
        {
            self.config
                .metrics
                .rooms_refused
                .with_label_values(&[reason])
                .inc();
        }
        created
    }
}

impl Registry {
    fn create(
        &mut self,
        msg: CreateRoom,
        ctx: &mut Context<Self>,
    ) -> Result<RoomSummary, CreateRoomError> {
        if self.draining {
            return Err(CreateRoomError::ShuttingDown);
        }
        let kind = self.catalog.get(&msg.game)?;
        let config = kind.configure(&msg.options)?;
        if self.tally.active() >= self.config.max_active_games {
            return Err(CreateRoomError::ServerFull(self.config.max_active_games));
        }
        if self.config.memory.is_high() {
            return Err(CreateRoomError::MemoryHigh);
        }
        let home = msg
            .home
            .filter(|_| self.config.colocate_turn_based && config.tick.is_none());
        let arbiter = match home {
            Some(home) => home,
            None => {
                let worker = self
                    .arbiters
                    .get(self.next_arbiter % self.arbiters.len().max(1))
                    .cloned()
                    .ok_or(CreateRoomError::NoWorkers)?;
                self.next_arbiter = self.next_arbiter.wrapping_add(1);
                worker
            }
        };
        // Only the registry adds rooms, so an id free now is still free at the insert.
        let id = {
            let rooms = self.rooms.read();
            let mut id = RoomId::generate();
            while rooms.contains_key(&id) {
                id = RoomId::generate();
            }
            id
        };
        let spec = RoomSpec {
            id: id.clone(),
            kind,
            config,
            seed: rand::random(),
            room_config: self.config.room.clone(),
            registry: ctx.address(),
            tally: Arc::clone(&self.tally),
            log: self.log.new(o!("actor" => "room")),
        };
        // Listed and counted from here: `Room::new` makes the listing.
        let room = Room::new(spec);
        let summary = room.summary();
        let listing = room.listing();
        let addr = Room::start_in_arbiter(&arbiter, move |_ctx| room);
        info!(self.log, "room created"; "room_id" => %id, "game" => &summary.game);
        self.rooms.write().insert(
            id,
            RoomEntry {
                addr: Some(addr),
                listing,
            },
        );
        Ok(summary)
    }
}

impl Handler<BeginShutdown> for Registry {
    type Result = ();

    fn handle(&mut self, _msg: BeginShutdown, _ctx: &mut Self::Context) {
        info!(self.log, "shutting down: no new rooms"; "active_games" => self.tally.active());
        self.draining = true;
    }
}

impl Handler<EndUnfinishedGames> for Registry {
    type Result = ResponseFuture<usize>;

    fn handle(&mut self, _msg: EndUnfinishedGames, _ctx: &mut Self::Context) -> Self::Result {
        let rooms: Vec<Addr<Room>> = self
            .rooms
            .read()
            .values()
            .filter(|entry| entry.is_active())
            .filter_map(|entry| entry.addr.clone())
            .collect();
        Box::pin(async move {
            let mut ended = 0;
            for room in rooms {
                // A room that has already stopped has nothing left to end.
                if room.send(EndForShutdown).await.unwrap_or(false) {
                    ended += 1;
                }
            }
            ended
        })
    }
}

impl Handler<ListRooms> for Registry {
    type Result = MessageResult<ListRooms>;

    fn handle(&mut self, msg: ListRooms, _ctx: &mut Self::Context) -> Self::Result {
        let mut rooms: Vec<RoomSummary> = self
            .rooms
            .read()
            .values()
            .filter_map(|entry| {
                entry.listing.with_summary(|s| {
                    let listed = msg.game.as_deref().is_none_or(|g| s.game == g)
                        && msg.status.is_none_or(|st| s.status == st);
                    listed.then(|| s.clone())
                })
            })
            .collect();
        rooms.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
        rooms.truncate(msg.limit);
        MessageResult(rooms)
    }
}

impl Handler<RoomCrashed> for Registry {
    type Result = ();

    fn handle(&mut self, msg: RoomCrashed, _ctx: &mut Self::Context) {
        self.count_crash();
        let game = self
            .remove(&msg.id)
            .map(|entry| entry.listing.with_summary(|s| s.game.clone()));
        warn!(self.log, "room crashed and was stopped"; "room_id" => %msg.id,
            "game" => game.as_deref().unwrap_or("unknown"), "reason" => &msg.reason);
    }
}

impl Handler<GetStats> for Registry {
    type Result = MessageResult<GetStats>;

    fn handle(&mut self, _msg: GetStats, _ctx: &mut Self::Context) -> Self::Result {
        let mut by_game: HashMap<String, usize> = HashMap::new();
        let mut playing_games = 0;
        let rooms = self.rooms.read();
        for entry in rooms.values() {
            entry.listing.with_summary(|s| {
                if s.status.is_active() {
                    *by_game.entry(s.game.clone()).or_default() += 1;
                }
                if s.status == RoomStatus::Playing {
                    playing_games += 1;
                }
            });
        }
        MessageResult(RegistryStats {
            rooms: rooms.len(),
            active_games: self.tally.active(),
            playing_games,
            max_active_games: self.config.max_active_games,
            crashed_rooms: self.config.metrics.rooms_crashed.get(),
            by_game,
        })
    }
}
