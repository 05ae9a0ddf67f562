//! The archive's actors: rooms hand finished games to the [`Archiver`], which batches them for
//! the [`ArchiveWriter`], the only code that blocks on the database or the spool file.
//!
//! - `Archiver` (a normal actor, on the reactor): queues [`ArchiveGame`]s and sends a batch to
//!   the writers when `batch_size` are queued or every `flush_interval`. While the writers are
//!   busy, full batches wait in the queue (so a slow database gets fewer, larger batches), up
//!   to [`PENDING_BATCHES_BEFORE_HANDOFF`] batches; past that they go to the catch-up writer
//!   (below). Games are never dropped.
//! - `ArchiveWriter` (`writers` `SyncArbiter` threads in `SCHED_IDLE`, each with its own
//!   connection): writes each batch in one transaction, several batches at once when more than
//!   one writer runs (a database takes more rows a second on two connections than on one). If
//!   the database cannot take a batch, it is appended to the spool, which the writers share,
//!   and the archive is degraded. While the spool holds games, every batch first replays it,
//!   oldest first, and new games go behind it, so the archive receives games in the order they
//!   finished (up to the batches being written at that very moment). A replayed game that was
//!   already written (a crash between commit and truncation) is a no-op.
//! - The catch-up writer: one more `ArchiveWriter` thread, at normal priority, that takes the
//!   batches waiting beyond [`PENDING_BATCHES_BEFORE_HANDOFF`]. In `SCHED_IDLE` the writers
//!   yield the CPU to the reactors, which keeps moves fast while batches are written; but on a
//!   saturated machine they get so little of it that games would pile up in memory without
//!   bound (15,000 finished games, 64 MB, after 20 s of `churn` on two cores). The catch-up
//!   writer gets its fair share instead, so the backlog stays near the threshold, and on a
//!   machine with CPU to spare it is never used.
//!
//! Counters live in an [`ArchiveStats`] shared through an `Arc`, so metrics and health checks
//! read them without a message.
//!
//! Start both with [`Archiver::start`] inside a running actix system, send [`Drain`] before
//! the system stops, and read [`ArchiveStats`] or ask [`ArchiveStatus`] for health.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde::Serialize;
use slog::{error, info, warn, Logger};
use tokio::sync::oneshot;

use super::record::{ArchiveFinished, ArchiveGame, GameRecord};
use super::spool::{Spool, SpoolError};
use super::store::{ArchiveStore, StoreError};
use crate::affinity::{pin_this_thread, CpuList};
use crate::allocator::release_thread_cache;

/// How many full batches may wait in the archiver while the writers are busy before they are
/// handed to the catch-up writer: bounded waiting (and memory), never dropping.
pub const PENDING_BATCHES_BEFORE_HANDOFF: usize = 10;

/// Which writer thread a batch goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lane {
    /// The `writers` threads in `SCHED_IDLE`: every batch while they keep up.
    Yielding,
    /// The one thread at normal priority: batches beyond the handoff threshold.
    CatchUp,
}

/// Where the next full batch goes, if anywhere yet: to the catch-up writer once `queued`
/// games reach `handoff` (whatever is in flight), else to a yielding writer while fewer than
/// `writers` batches are in flight; `None` leaves it waiting in the queue.
fn next_lane(
    queued: usize,
    batch_size: usize,
    in_flight: usize,
    writers: usize,
    handoff: usize,
) -> Option<Lane> {
    if queued < batch_size {
        None
    } else if queued >= handoff {
        Some(Lane::CatchUp)
    } else if in_flight < writers {
        Some(Lane::Yielding)
    } else {
        None
    }
}

/// What the archiver needs besides the store and a logger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiverSettings {
    /// Games per batch (`ARCHIVE_BATCH_SIZE`): a batch is sent as soon as this many are queued.
    pub batch_size: usize,
    /// Queued games are sent at least this often (`ARCHIVE_FLUSH_INTERVAL`), and the spool is
    /// retried this often while it holds games.
    pub flush_interval: Duration,
    /// Where the spool lives (`ARCHIVE_SPOOL_DIR`); created if missing.
    pub spool_dir: PathBuf,
    /// Batches written at once, each on its own thread and connection (`ARCHIVE_WRITERS`).
    /// At most [`ArchiveStore::parallel_writers`]: SQLite takes one writer at a time.
    pub writers: usize,
    /// The CPUs the writer threads, the catch-up one too, run on (`ARCHIVE_WRITER_CPUS`);
    /// empty: any. Keeping the other threads off them is up to whoever starts the process
    /// (main.rs, through [`crate::affinity::keep_process_off`]).
    pub cpus: CpuList,
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiverError {
    #[error("invalid archiver settings: {reason}")]
    BadSettings { reason: &'static str },

    #[error(transparent)]
    Spool(#[from] SpoolError),
}

/// Counters of the archive, updated by the actors and read by anyone (metrics, readiness).
#[derive(Debug, Default)]
pub struct ArchiveStats {
    pending: AtomicU64,
    spooled: AtomicU64,
    written: AtomicU64,
    failed: AtomicU64,
    rejected: AtomicU64,
    batches: AtomicU64,
    catch_up_batches: AtomicU64,
    /// Batches being written at this moment, by any writer.
    writing: AtomicU64,
    last_batch_micros: AtomicU64,
    degraded: AtomicBool,
    /// Games stored since start, duplicates included: what a flush counts from.
    stored_total: AtomicU64,
    /// The most recent failure, kept after recovery for diagnosis.
    last_error: Mutex<Option<String>>,
}

impl ArchiveStats {
    /// Games accepted but neither in the database, nor in the spool, nor set aside: queued in
    /// the archiver or in a batch the writer has not finished.
    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::Relaxed)
    }

    /// Games in the spool file, waiting for the database.
    pub fn spooled(&self) -> u64 {
        self.spooled.load(Ordering::Relaxed)
    }

    /// Games newly stored in the database (duplicates not counted) since start.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Games that could not be written when their batch was due and went to the spool.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// Games (or unreadable spool lines) the database can never take, set aside in the
    /// rejected file.
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    /// Batches the writer handled (including spool replays).
    pub fn batches(&self) -> u64 {
        self.batches.load(Ordering::Acquire)
    }

    /// Batches handed to the catch-up writer because too many waited (a subset of
    /// [`Self::batches`]): the yielding writers fell behind.
    pub fn catch_up_batches(&self) -> u64 {
        self.catch_up_batches.load(Ordering::Relaxed)
    }

    /// True while a writer is inside a batch (spool replay included): rooms read it to tell
    /// the moves made meanwhile apart (`gamehall_move_broadcast_during_archive_write_seconds`),
    /// which shows whether writing the archive slows the game down.
    pub fn writing(&self) -> bool {
        self.writing.load(Ordering::Relaxed) > 0
    }

    /// Counts a batch as being written until the returned guard is dropped, even by a panic.
    fn start_writing(&self) -> WritingGuard<'_> {
        self.writing.fetch_add(1, Ordering::Relaxed);
        WritingGuard(&self.writing)
    }

    /// How long the writer's last batch took, spool replay included.
    pub fn last_batch_duration(&self) -> Duration {
        Duration::from_micros(self.last_batch_micros.load(Ordering::Relaxed))
    }

    /// True while the database cannot be written to or the spool holds games.
    pub fn degraded(&self) -> bool {
        self.degraded.load(Ordering::Relaxed)
    }

    pub fn last_error(&self) -> Option<String> {
        // A poisoned lock only means a panic elsewhere while holding it; the text is intact.
        match self.last_error.lock() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn health(&self) -> ArchiveHealth {
        ArchiveHealth {
            pending: self.pending(),
            spooled: self.spooled(),
            written: self.written(),
            failed: self.failed(),
            rejected: self.rejected(),
            degraded: self.degraded(),
            last_error: self.last_error(),
        }
    }

    fn set_last_error(&self, message: String) {
        match self.last_error.lock() {
            Ok(mut guard) => *guard = Some(message),
            Err(poisoned) => *poisoned.into_inner() = Some(message),
        }
    }

    fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    fn set(counter: &AtomicU64, n: usize) {
        counter.store(n as u64, Ordering::Relaxed);
    }
}

/// One batch in [`ArchiveStats::writing`] while it lives.
struct WritingGuard<'s>(&'s AtomicU64);

impl Drop for WritingGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Release);
    }
}

/// A snapshot of [`ArchiveStats`], as [`ArchiveStatus`] answers and readiness reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ArchiveHealth {
    pub pending: u64,
    pub spooled: u64,
    pub written: u64,
    pub failed: u64,
    pub rejected: u64,
    pub degraded: bool,
    pub last_error: Option<String>,
}

/// The running archive: the archiver's address and the shared counters.
#[derive(Clone)]
pub struct ArchiveHandle {
    pub archiver: Addr<Archiver>,
    pub stats: Arc<ArchiveStats>,
}

// ---------------------------------------------------------------------------------------------
// Messages to the archiver

/// Write everything pending now (queued games, and a spool replay attempt).
#[derive(Message)]
#[rtype(result = "FlushReport")]
pub struct Flush;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct FlushReport {
    /// Games stored in the database between the flush's arrival and its answer: what was
    /// queued, the batches already on their way to the writer, and the replayed spool
    /// (games that were stored already count too: they are in the archive).
    pub flushed: usize,
    /// Games still waiting afterwards, in memory or in the spool.
    pub pending: usize,
}

/// The archive's health.
#[derive(Message)]
#[rtype(result = "ArchiveHealth")]
pub struct ArchiveStatus;

/// For shutdown: write everything pending, spool what cannot be written, and report.
#[derive(Message)]
#[rtype(result = "DrainReport")]
pub struct Drain;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct DrainReport {
    /// Games now in the database, as for [`FlushReport::flushed`].
    pub flushed: usize,
    /// Games in the spool, to be written by the next run.
    pub spooled: usize,
    /// Games only in memory: neither written nor spooled (the spool could not be written).
    /// Lost if the process exits now.
    pub unsaved: usize,
}

// ---------------------------------------------------------------------------------------------
// The archiver

pub struct Archiver {
    /// The `writers` threads in `SCHED_IDLE`.
    writer: Addr<ArchiveWriter>,
    /// One thread at normal priority, for batches beyond the handoff threshold.
    catch_up: Addr<ArchiveWriter>,
    /// Writer threads: how many batches may be in flight before full ones wait here.
    writers: usize,
    batch_size: usize,
    flush_interval: Duration,
    stats: Arc<ArchiveStats>,
    logger: Logger,
    queue: VecDeque<GameRecord>,
    /// Batches sent to the writer and not answered yet, oldest first: (number, games).
    in_flight: VecDeque<(u64, usize)>,
    next_batch: u64,
    /// Flushes waiting for every batch up to theirs to be answered: (batch number, waker).
    flush_waiters: Vec<(u64, oneshot::Sender<()>)>,
}

impl Archiver {
    /// Opens the spool and starts the writer thread and the archiver. Must run inside an actix
    /// system. Does not touch the database: if it is down, games are spooled until it is back.
    pub fn start(
        store: ArchiveStore,
        settings: ArchiverSettings,
        logger: Logger,
    ) -> Result<ArchiveHandle, ArchiverError> {
        if settings.batch_size == 0 {
            return Err(ArchiverError::BadSettings {
                reason: "batch_size must be at least 1",
            });
        }
        if settings.flush_interval.is_zero() {
            return Err(ArchiverError::BadSettings {
                reason: "flush_interval must be positive",
            });
        }
        if settings.writers == 0 {
            return Err(ArchiverError::BadSettings {
                reason: "writers must be at least 1",
            });
        }
        let writers = settings.writers.min(store.parallel_writers());
        if writers < settings.writers {
            info!(logger, "archive writers limited by the database";
                  "asked" => settings.writers, "writers" => writers);
        }
        let spool = Spool::open(&settings.spool_dir, logger.clone())?;
        let stats = Arc::new(ArchiveStats::default());
        ArchiveStats::set(&stats.spooled, spool.len());
        if !spool.is_empty() {
            stats.degraded.store(true, Ordering::Relaxed);
            warn!(logger, "archive spool holds games from an earlier run; replaying them";
                  "games" => spool.len(), "path" => %spool.path().display());
        }
        // A factory runs once on each writer thread (SyncArbiter only calls it again when an
        // actor stops itself, which a writer never does). All the threads, the catch-up one
        // too, share the pool, the spool and the counters.
        let spool = Arc::new(Mutex::new(spool));
        let writer_stats = Arc::clone(&stats);
        let writer_logger = logger.clone();
        let replay_chunk = settings.batch_size;
        let new_writer = move || ArchiveWriter {
            store: store.clone(),
            spool: Arc::clone(&spool),
            stats: Arc::clone(&writer_stats),
            logger: writer_logger.clone(),
            replay_chunk,
        };
        let yielding = new_writer.clone();
        let yielding_cpus = settings.cpus.clone();
        let writer = SyncArbiter::start(writers, move || {
            let writer = yielding();
            pin_this_writer(&yielding_cpus, &writer.logger);
            lower_this_threads_priority(&writer.logger);
            super::pacing::pace_this_thread();
            writer
        });
        let catch_up_cpus = settings.cpus.clone();
        let catch_up = SyncArbiter::start(1, move || {
            let writer = new_writer();
            pin_this_writer(&catch_up_cpus, &writer.logger);
            writer
        });
        let archiver = Archiver {
            writer,
            catch_up,
            writers,
            batch_size: settings.batch_size,
            flush_interval: settings.flush_interval,
            stats: Arc::clone(&stats),
            logger,
            queue: VecDeque::new(),
            in_flight: VecDeque::new(),
            next_batch: 0,
            flush_waiters: Vec::new(),
        }
        .start();
        Ok(ArchiveHandle { archiver, stats })
    }

    fn handoff_threshold(&self) -> usize {
        self.batch_size
            .saturating_mul(PENDING_BATCHES_BEFORE_HANDOFF)
    }

    /// Sends full batches: at once while a writer is idle, and to the catch-up writer, even
    /// while every writer is busy, once too many wait here.
    fn dispatch_full_batches(&mut self, ctx: &mut Context<Self>) {
        while let Some(lane) = next_lane(
            self.queue.len(),
            self.batch_size,
            self.in_flight.len(),
            self.writers,
            self.handoff_threshold(),
        ) {
            let batch: Vec<GameRecord> = self.queue.drain(..self.batch_size).collect();
            if lane == Lane::CatchUp {
                self.stats.catch_up_batches.fetch_add(1, Ordering::Relaxed);
            }
            self.send_batch(batch, lane, ctx);
        }
    }

    /// Every `flush_interval`: send whatever is queued, or retry the spool.
    fn tick(&mut self, ctx: &mut Context<Self>) {
        if self.in_flight.len() >= self.writers {
            // Every writer is busy; their answers send what became due meanwhile.
            return;
        }
        if !self.queue.is_empty() {
            while !self.queue.is_empty() {
                let n = self.queue.len().min(self.batch_size);
                let batch: Vec<GameRecord> = self.queue.drain(..n).collect();
                self.send_batch(batch, Lane::Yielding, ctx);
            }
        } else if self.stats.spooled() > 0 {
            // An empty batch: the writer only retries the spool.
            self.send_batch(Vec::new(), Lane::Yielding, ctx);
        }
    }

    fn send_batch(&mut self, batch: Vec<GameRecord>, lane: Lane, ctx: &mut Context<Self>) {
        let (_, request) = self.request(batch, lane);
        ctx.spawn(request.map(|_, act, ctx| act.dispatch_full_batches(ctx)));
    }

    /// Sends `batch` to the writer and settles the answer. Returns the batch's number and a
    /// future yielding the writer's outcome, or `None` if the writer is gone. Unsaved games go
    /// back to the queue's front.
    fn request(
        &mut self,
        batch: Vec<GameRecord>,
        lane: Lane,
    ) -> (u64, impl ActorFuture<Self, Output = Option<BatchOutcome>>) {
        // Shared with the message, so the games are still here if the writer never answers.
        let batch: Arc<[GameRecord]> = batch.into();
        let number = self.next_batch;
        self.next_batch += 1;
        self.in_flight.push_back((number, batch.len()));
        self.update_pending();
        let writer = match lane {
            Lane::Yielding => self.writer.clone(),
            Lane::CatchUp => self.catch_up.clone(),
        };
        let future = writer
            .send(WriteBatch {
                records: Arc::clone(&batch),
            })
            .into_actor(self)
            .map(move |answer, act, _ctx| {
                act.in_flight.retain(|(n, _)| *n != number);
                let outcome = match answer {
                    Ok(outcome) => {
                        if outcome.unsaved {
                            act.requeue(&batch);
                        }
                        // Freed on a writer thread, not on this reactor: a batch is thousands
                        // of allocations (every event's data, action and final view). On the
                        // thread that wrote it: a starved yielding writer would hold the
                        // catch-up writer's batches in its mailbox.
                        writer.do_send(ReleaseBatch(batch));
                        Some(outcome)
                    }
                    Err(e) => {
                        error!(act.logger, "the archive writer is gone; keeping games in memory";
                               "games" => batch.len(), "error" => %e);
                        act.stats
                            .set_last_error(format!("archive writer stopped: {e}"));
                        act.stats.degraded.store(true, Ordering::Relaxed);
                        act.requeue(&batch);
                        None
                    }
                };
                act.update_pending();
                act.release_flushes();
                outcome
            });
        (number, future)
    }

    /// Wakes the flushes whose batches, and every batch sent before them, are answered.
    fn release_flushes(&mut self) {
        let oldest_in_flight = self.in_flight.front().map_or(u64::MAX, |(n, _)| *n);
        let (done, waiting) = std::mem::take(&mut self.flush_waiters)
            .into_iter()
            .partition(|(n, _)| *n < oldest_in_flight);
        self.flush_waiters = waiting;
        for (_, waker) in done {
            // A flush whose asker has gone has nobody to tell.
            let _ = waker.send(());
        }
    }

    /// Puts games back at the front of the queue, in their order, to be tried again first.
    fn requeue(&mut self, batch: &[GameRecord]) {
        for record in batch.iter().rev() {
            self.queue.push_front(record.clone());
        }
    }

    fn update_pending(&self) {
        let in_flight: usize = self.in_flight.iter().map(|(_, games)| games).sum();
        ArchiveStats::set(&self.stats.pending, self.queue.len() + in_flight);
    }

    /// Sends everything queued as one batch (empty if nothing is: a writer then only retries
    /// the spool) and settles, once that batch and every batch sent before it are answered,
    /// into what a flush reports. Writers answer out of order, so the flush waits for the
    /// oldest batch in flight to be newer than its own.
    fn flush_all(&mut self, ctx: &mut Context<Self>) -> impl ActorFuture<Self, Output = Flushed> {
        let stored_before = self.stats.stored_total.load(Ordering::Relaxed);
        let batch: Vec<GameRecord> = self.queue.drain(..).collect();
        let (number, request) = self.request(batch, Lane::Yielding);
        ctx.spawn(request.map(|_, _, _| ()));
        let (waker, settled) = oneshot::channel();
        self.flush_waiters.push((number, waker));
        settled.into_actor(self).map(move |_, act, _ctx| {
            // Games queued or sent after this flush.
            let later: usize = act
                .in_flight
                .iter()
                .filter(|(n, _)| *n > number)
                .map(|(_, games)| games)
                .sum();
            let stored_now = act.stats.stored_total.load(Ordering::Relaxed);
            Flushed {
                // Everything stored since the flush was asked for: its own batch, the spool,
                // and the batches that were already on their way.
                stored: usize::try_from(stored_now.saturating_sub(stored_before))
                    .unwrap_or(usize::MAX),
                spooled: act.stats.spooled() as usize,
                in_memory: act.queue.len() + later,
            }
        })
    }
}

/// What a flush (or drain) found once the writer answered.
struct Flushed {
    stored: usize,
    spooled: usize,
    in_memory: usize,
}

impl Actor for Archiver {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.flush_interval, |act, ctx| act.tick(ctx));
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        if !self.queue.is_empty() {
            error!(self.logger, "archiver stopped with games only in memory (send Drain first)";
                   "games" => self.queue.len());
        }
    }
}

impl Archiver {
    fn accept(&mut self, record: GameRecord, ctx: &mut Context<Self>) {
        self.queue.push_back(record);
        self.update_pending();
        self.dispatch_full_batches(ctx);
    }
}

impl Handler<ArchiveGame> for Archiver {
    type Result = ();

    fn handle(&mut self, ArchiveGame(record): ArchiveGame, ctx: &mut Self::Context) {
        self.accept(record, ctx);
    }
}

impl Handler<ArchiveFinished> for Archiver {
    type Result = ();

    fn handle(&mut self, finished: ArchiveFinished, ctx: &mut Self::Context) {
        self.accept(finished.into_record(), ctx);
    }
}

impl Handler<Flush> for Archiver {
    type Result = ResponseActFuture<Self, FlushReport>;

    fn handle(&mut self, _: Flush, ctx: &mut Self::Context) -> Self::Result {
        Box::pin(self.flush_all(ctx).map(|flushed, act, ctx| {
            act.dispatch_full_batches(ctx);
            FlushReport {
                flushed: flushed.stored,
                pending: flushed.in_memory + flushed.spooled,
            }
        }))
    }
}

impl Handler<Drain> for Archiver {
    type Result = ResponseActFuture<Self, DrainReport>;

    fn handle(&mut self, _: Drain, ctx: &mut Self::Context) -> Self::Result {
        Box::pin(self.flush_all(ctx).map(|flushed, act, _ctx| {
            let report = DrainReport {
                flushed: flushed.stored,
                spooled: flushed.spooled,
                unsaved: flushed.in_memory,
            };
            info!(act.logger, "archive drained";
                  "flushed" => report.flushed, "spooled" => report.spooled,
                  "unsaved" => report.unsaved);
            if report.unsaved > 0 {
                error!(act.logger, "archive games could be neither written nor spooled";
                       "games" => report.unsaved);
            }
            report
        }))
    }
}

impl Handler<ArchiveStatus> for Archiver {
    type Result = MessageResult<ArchiveStatus>;

    fn handle(&mut self, _: ArchiveStatus, _ctx: &mut Self::Context) -> Self::Result {
        MessageResult(self.stats.health())
    }
}

// ---------------------------------------------------------------------------------------------
// The writer

/// One writer thread, where blocking is fine: the pool and the spool are shared with the
/// other writers. The spool's lock is held while it is read, replayed or appended to, never
/// while a batch of new games is written.
pub struct ArchiveWriter {
    store: ArchiveStore,
    spool: Arc<Mutex<Spool>>,
    stats: Arc<ArchiveStats>,
    logger: Logger,
    /// Games per transaction when replaying the spool.
    replay_chunk: usize,
}

impl Actor for ArchiveWriter {
    type Context = SyncContext<Self>;
}

/// Write these games, behind whatever the spool holds. An empty batch only retries the spool.
struct WriteBatch {
    records: Arc<[GameRecord]>,
}

impl Message for WriteBatch {
    type Result = BatchOutcome;
}

#[derive(Clone, Copy, Debug, Default)]
struct BatchOutcome {
    /// Games of the batch and of the replayed spool now in the database.
    stored: usize,
    /// Games of the batch that went to the spool.
    spooled: usize,
    /// The batch is in neither the database nor the spool: the archiver must keep it.
    unsaved: bool,
}

/// What [`ArchiveWriter::persist`] got into the database, and the games it never will.
#[derive(Debug, Default)]
struct Persisted<'r> {
    stored: usize,
    /// Games the database refused for what they hold: to be set aside in the rejected file.
    refused: Vec<(&'r GameRecord, StoreError)>,
}

/// Why games could not be persisted; they must be kept (spooled) and retried.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Spool(#[from] SpoolError),
}

/// A written batch's games, for a writer thread to free.
struct ReleaseBatch(Arc<[GameRecord]>);

impl Message for ReleaseBatch {
    type Result = ();
}

impl Handler<ReleaseBatch> for ArchiveWriter {
    type Result = ();

    fn handle(&mut self, ReleaseBatch(records): ReleaseBatch, _ctx: &mut Self::Context) {
        drop(records);
        // The batch's blocks would otherwise wait in this thread's cache until its next batch.
        release_thread_cache();
    }
}

impl Handler<WriteBatch> for ArchiveWriter {
    type Result = MessageResult<WriteBatch>;

    fn handle(&mut self, msg: WriteBatch, _ctx: &mut Self::Context) -> Self::Result {
        let started = Instant::now();
        let writing = self.stats.start_writing();
        let mut outcome = BatchOutcome::default();
        let mut healthy = self.replay(&mut self.lock_spool(), &mut outcome);
        let records = &msg.records[..];
        if !records.is_empty() {
            if healthy {
                // Without the spool's lock: the other writers write their batches meanwhile.
                match self
                    .persist(records)
                    .and_then(|done| self.settle(done, &mut self.lock_spool()))
                {
                    Ok(stored) => outcome.stored += stored,
                    Err(failure) => {
                        healthy = false;
                        let mut spool = self.lock_spool();
                        self.note_failure(&spool, "archive batch failed; spooling it", &failure);
                        self.spool_batch(&mut spool, records, &mut outcome);
                    }
                }
            } else {
                // Behind the spool, to keep the order games finished in.
                self.spool_batch(&mut self.lock_spool(), records, &mut outcome);
            }
        }
        {
            let spool = self.lock_spool();
            ArchiveStats::set(&self.stats.spooled, spool.len());
            self.stats
                .degraded
                .store(!healthy || !spool.is_empty(), Ordering::Relaxed);
        }
        ArchiveStats::add(&self.stats.stored_total, outcome.stored);
        // Out of the batch before it is counted: whoever sees it counted sees the write over.
        drop(writing);
        self.stats.batches.fetch_add(1, Ordering::Release);
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.stats
            .last_batch_micros
            .store(micros, Ordering::Relaxed);
        // What encoding the rows allocated is freed by now; see ReleaseBatch.
        release_thread_cache();
        MessageResult(outcome)
    }
}

impl ArchiveWriter {
    fn lock_spool(&self) -> MutexGuard<'_, Spool> {
        // A writer that panicked holding the lock left the spool's file and count as they
        // were after its last complete step; the others carry on with it.
        self.spool.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes the spool to the database, oldest first, and empties it. Returns whether the
    /// spool is empty afterwards (so new games may be written directly). The caller holds the
    /// spool's lock throughout, so no writer appends between the read and the truncation.
    fn replay(&self, spool: &mut Spool, outcome: &mut BatchOutcome) -> bool {
        if spool.is_empty() {
            return true;
        }
        // Cheap check first: while the database is down, each retry costs one failed
        // connection attempt, not a read of the whole spool.
        if let Err(e) = self.store.ping() {
            self.note_failure(
                spool,
                "archive database still unavailable",
                &Failure::Store(e),
            );
            return false;
        }
        let started = Instant::now();
        let records = match spool.read_all() {
            Ok(records) => records,
            Err(SpoolError::Corrupt { .. }) => match spool.salvage() {
                Ok((records, moved)) => {
                    ArchiveStats::add(&self.stats.rejected, moved);
                    self.stats.set_last_error(format!(
                        "{moved} unreadable archive spool lines moved to {}",
                        spool.rejected_path().display()
                    ));
                    records
                }
                Err(e) => {
                    self.note_failure(
                        spool,
                        "cannot salvage the archive spool",
                        &Failure::Spool(e),
                    );
                    return false;
                }
            },
            Err(e) => {
                self.note_failure(spool, "cannot read the archive spool", &Failure::Spool(e));
                return false;
            }
        };
        let mut stored = 0;
        for chunk in records.chunks(self.replay_chunk) {
            match self
                .persist(chunk)
                .and_then(|done| self.settle(done, spool))
            {
                Ok(count) => stored += count,
                Err(failure) => {
                    // What was written stays written; the next replay finds it stored.
                    self.note_failure(spool, "archive spool replay failed", &failure);
                    return false;
                }
            }
        }
        if let Err(e) = spool.clear() {
            // The games are in the database; left in the spool, they will be replayed as
            // no-ops. Keep new games behind them all the same.
            self.note_failure(
                spool,
                "cannot empty the replayed archive spool",
                &Failure::Spool(e),
            );
            return false;
        }
        outcome.stored += stored;
        info!(self.logger, "archive spool replayed";
              "games" => records.len(), "ms" => started.elapsed().as_millis());
        true
    }

    /// Writes `records` in one transaction. If the batch fails while the database is up, one
    /// of its games may be at fault: the games are then written one by one, and those the
    /// database can never take are returned, to be set aside in the rejected file instead of
    /// blocking the spool forever.
    fn persist<'r>(&self, records: &'r [GameRecord]) -> Result<Persisted<'r>, Failure> {
        let started = Instant::now();
        let error = match self.store.write_batch(records) {
            Ok(written) => {
                ArchiveStats::add(&self.stats.written, written.games);
                info!(self.logger, "archived batch";
                      "games" => written.games, "duplicates" => written.duplicates,
                      "events" => written.events, "ms" => started.elapsed().as_millis());
                return Ok(Persisted {
                    stored: records.len(),
                    refused: Vec::new(),
                });
            }
            Err(e) if e.is_unavailable() => return Err(e.into()),
            Err(e) => e,
        };
        if self.store.ping().is_err() {
            return Err(error.into());
        }
        warn!(self.logger, "archive batch refused; writing its games one by one";
              "games" => records.len(), "error" => %error);
        let mut persisted = Persisted::default();
        for record in records {
            match self.store.write_batch(std::slice::from_ref(record)) {
                Ok(written) => {
                    ArchiveStats::add(&self.stats.written, written.games);
                    persisted.stored += 1;
                }
                Err(e) if e.is_record_fault() => persisted.refused.push((record, e)),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(persisted)
    }

    /// Puts the games of `done` that the database can never take in the rejected file, for an
    /// operator to read, and returns how many it stored.
    fn settle(&self, done: Persisted<'_>, spool: &mut Spool) -> Result<usize, Failure> {
        for (record, e) in done.refused {
            spool.reject(std::slice::from_ref(record), &e.to_string())?;
            ArchiveStats::add(&self.stats.rejected, 1);
            self.stats.set_last_error(e.to_string());
            error!(self.logger, "archive cannot store a game; set aside";
                   "game_id" => &record.game_id, "error" => %e,
                   "file" => %spool.rejected_path().display());
        }
        Ok(done.stored)
    }

    fn spool_batch(&self, spool: &mut Spool, records: &[GameRecord], outcome: &mut BatchOutcome) {
        match spool.append(records) {
            Ok(()) => {
                outcome.spooled += records.len();
                ArchiveStats::add(&self.stats.failed, records.len());
                warn!(self.logger, "archive games spooled";
                      "games" => records.len(), "spooled" => spool.len());
            }
            Err(e) => {
                outcome.unsaved = true;
                self.stats.set_last_error(e.to_string());
                error!(self.logger, "cannot spool archive games; keeping them in memory";
                       "games" => records.len(), "error" => %e);
            }
        }
    }

    fn note_failure(&self, spool: &Spool, what: &'static str, failure: &Failure) {
        self.stats.set_last_error(failure.to_string());
        warn!(self.logger, "{}", what; "error" => %failure, "spooled" => spool.len());
    }
}

/// Confines the calling writer thread to `cpus` (`ARCHIVE_WRITER_CPUS`), if any are given. A
/// writer that cannot be confined (start-up checked that it may run there, so this is not
/// expected) still writes, anywhere, and says so.
fn pin_this_writer(cpus: &CpuList, logger: &Logger) {
    if cpus.is_empty() {
        return;
    }
    if let Err(err) = pin_this_thread(cpus) {
        warn!(logger, "could not pin the archive writer to ARCHIVE_WRITER_CPUS";
              "cpus" => %cpus, "error" => %err);
    }
}

/// The scheduling a yielding writer thread runs under; see [`lower_this_threads_priority`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WriterPriority {
    /// Linux's `SCHED_IDLE` class: it runs only on a core no other thread wants.
    Idle,
    /// `nice` 10, where `SCHED_IDLE` is refused (a seccomp profile that forbids
    /// `sched_setscheduler`, say).
    Nice,
    /// Neither could be set: the writer competes with the reactors as an equal.
    Normal,
}

/// The fallback's nice value.
const WRITER_NICENESS: libc::c_int = 10;

/// Lowers the calling thread's scheduling priority, so that on a busy machine the reactors
/// (rooms, sockets) run before the archive's encoding and, with SQLite, its disk writes: a
/// batch then takes longer, but moves are not delayed by it.
///
/// `SCHED_IDLE` rather than a nice value because of how the kernel's scheduler (EEVDF) hands
/// out a core: a thread that has started its time slice keeps it when another wakes, whatever
/// its nice value, so a reactor woken on the writer's core waited up to a slice (about a
/// millisecond) behind it. A waking thread always preempts a `SCHED_IDLE` one at once. In a
/// scheduler trace at 10,000 moves/s on two cores, the writer's share of the reactors' waits
/// over 0.2 ms fell from 44–77 ms to 4–10 ms in 8 s, and the moves made during writes from
/// p99 ≤ 0.75–1.0 ms to ≤ 0.3–0.5 (docs/benchmarks.md, "Profile", seventeenth round). A woken
/// reactor still often waited for the writer to leave its core by itself, so the writers also
/// pace themselves (`super::pacing`).
/// Any thread may lower itself into the class; none can leave it without `CAP_SYS_NICE`,
/// which is why a backlog goes to a separate catch-up writer at normal priority.
fn lower_this_threads_priority(logger: &Logger) -> WriterPriority {
    let idle = libc::sched_param { sched_priority: 0 };
    // SAFETY: `idle` outlives the call, which only reads it; pid 0 is the calling thread.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &idle) } == 0 {
        return WriterPriority::Idle;
    }
    let idle_refused = std::io::Error::last_os_error();
    // SAFETY: gettid and setpriority take no pointers; on Linux PRIO_PROCESS with a thread id
    // sets that one thread's nice value.
    let niced = unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, WRITER_NICENESS) == 0
    };
    let priority = if niced {
        WriterPriority::Nice
    } else {
        WriterPriority::Normal
    };
    warn!(logger, "could not put the archive writer in SCHED_IDLE";
          "error" => %idle_refused, "priority" => ?priority);
    priority
}

#[cfg(test)]
mod tests {
    use super::{lower_this_threads_priority, next_lane, Lane, WriterPriority};

    // 100 games a batch, two yielding writers, catch-up beyond ten batches.
    fn lane(queued: usize, in_flight: usize) -> Option<Lane> {
        next_lane(queued, 100, in_flight, 2, 1_000)
    }

    #[test]
    fn a_partial_batch_waits_for_the_interval() {
        assert_eq!(lane(99, 0), None);
        assert_eq!(lane(0, 0), None);
    }

    #[test]
    fn full_batches_go_to_the_yielding_writers_while_one_is_free() {
        assert_eq!(lane(100, 0), Some(Lane::Yielding));
        assert_eq!(lane(999, 1), Some(Lane::Yielding));
    }

    #[test]
    fn full_batches_wait_while_every_writer_is_busy_and_few_are_queued() {
        assert_eq!(lane(100, 2), None);
        assert_eq!(lane(999, 5), None);
    }

    #[test]
    fn a_backlog_goes_to_the_catch_up_writer_however_busy_the_others_are() {
        assert_eq!(lane(1_000, 2), Some(Lane::CatchUp));
        assert_eq!(lane(1_000, 0), Some(Lane::CatchUp));
        assert_eq!(lane(50_000, 40), Some(Lane::CatchUp));
    }

    #[test]
    fn with_one_game_a_batch_the_threshold_is_ten_games() {
        // Nine queued games wait for, or go to, the one yielding writer; ten go to catch-up.
        assert_eq!(next_lane(9, 1, 1, 1, 10), None);
        assert_eq!(next_lane(9, 1, 0, 1, 10), Some(Lane::Yielding));
        assert_eq!(next_lane(10, 1, 1, 1, 10), Some(Lane::CatchUp));
    }

    #[test]
    fn a_yielding_writer_runs_in_the_idle_class() {
        // On a thread of its own: the class cannot be left again.
        let policy = std::thread::spawn(|| {
            let logger = slog::Logger::root(slog::Discard, slog::o!());
            let priority = lower_this_threads_priority(&logger);
            // SAFETY: no arguments but the calling thread's pid, 0.
            (priority, unsafe { libc::sched_getscheduler(0) })
        })
        .join()
        .expect("thread");
        assert_eq!(policy, (WriterPriority::Idle, libc::SCHED_IDLE));
    }
}
