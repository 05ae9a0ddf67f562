//! `churn`: connect, join, play a few moves, disconnect, over and over, from C workers at once.
//! Catches leaks: the server's resident memory once everything has settled after the measured
//! cycles is compared with the same reading after a warm-up (allocator pools and caches filled)
//! and with the server at rest before the run; so is its live heap, where the server exports it
//! (`gamehall_allocator_allocated_bytes`), which leaves out the pages the allocator keeps.
//!
//! Half the cycles `leave` before closing (the game is forfeited at once), half just close the
//! socket (the seat waits out the reconnect grace, then forfeits): both paths must free
//! everything. Memory only returns once finished rooms are reaped, so run the server with a
//! short `GC_COMPLETED_GAMES_AFTER` and `RECONNECT_GRACE` (bench/run.sh does).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gamehall::auth::IssuedToken;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use super::matches::{close_all, Match, Moved};
use super::probe::ProcessSample;
use super::report::{per_second, round, Report};
use super::run::{describe_window, latency, Run, ServerSample};
use super::table::TurnGame;
use super::wire::{Wire, WireError};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Exit {
    /// Send `leave`, then close.
    Leave,
    /// Close the socket without a word.
    Close,
    /// Alternate.
    Mixed,
}

#[derive(Clone, Debug)]
pub struct ChurnOptions {
    pub workers: usize,
    pub moves: u32,
    pub exit: Exit,
    pub warmup: Duration,
    pub duration: Duration,
    pub max_cycles: Option<u64>,
    /// Longest wait for the server's rooms and connections to drain after each phase.
    pub settle: Duration,
}

/// One cycle: two fresh connections, a fresh room, `moves` moves, goodbye.
async fn cycle(
    run: &Run,
    task: usize,
    tokens: &[IssuedToken],
    options: &ChurnOptions,
    leave: bool,
    rng: &mut ChaCha8Rng,
) -> Result<(), WireError> {
    let started = Instant::now();
    let mut wires = Vec::with_capacity(tokens.len());
    for token in tokens {
        match Wire::connect(run, &token.token).await {
            Ok(wire) => wires.push(wire),
            Err(err) => {
                close_all(wires).await;
                return Err(err);
            }
        }
    }
    let mut table = Match::seat(run, wires, &tokens[0], TurnGame::Tictactoe, 2)
        .await
        .map_err(|(wires, err)| {
            tokio::spawn(close_all(wires));
            err
        })?;
    run.stats
        .latency(&run.stats.connect_latency, task, started.elapsed());
    let mut moves = 0;
    while moves < options.moves {
        let Some(seat) = table.turn() else { break };
        match table.play(run, task, seat, rng).await {
            Ok(Moved::Applied) => moves += 1,
            Ok(Moved::Retry(wait)) => run.pause(wait).await,
            Ok(Moved::Over) => break,
            Err(err) => {
                close_all(table.wires).await;
                return Err(err);
            }
        }
    }
    if leave {
        match table.leave(run).await {
            Ok(wires) => close_all(wires).await,
            Err((wires, err)) => {
                close_all(wires).await;
                return Err(err);
            }
        }
    } else {
        close_all(table.wires).await;
    }
    Ok(())
}

/// Runs C workers for `duration` (or `max_cycles`); returns the cycles completed.
async fn phase(
    run: &Arc<Run>,
    tokens: &[IssuedToken],
    options: &ChurnOptions,
    duration: Duration,
    max_cycles: Option<u64>,
    salt: u64,
) -> u64 {
    let done = Arc::new(AtomicBool::new(false));
    let cycles = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for (task, pair) in tokens.chunks_exact(2).enumerate() {
        let lanes = &run.lanes;
        let (run, done, cycles) = (Arc::clone(run), Arc::clone(&done), Arc::clone(&cycles));
        let (pair, options) = (pair.to_vec(), options.clone());
        workers.push(lanes.spawn(task, async move {
            let mut rng = ChaCha8Rng::seed_from_u64(run.seed ^ salt ^ task as u64);
            let mut n = 0u64;
            while !done.load(Ordering::Relaxed) && !run.stopped() {
                let leave = match options.exit {
                    Exit::Leave => true,
                    Exit::Close => false,
                    Exit::Mixed => n % 2 == 0,
                };
                n += 1;
                match cycle(&run, task, &pair, &options, leave, &mut rng).await {
                    Ok(()) => {
                        run.stats.add(&run.stats.cycles, 1);
                        let total = cycles.fetch_add(1, Ordering::SeqCst) + 1;
                        if max_cycles.is_some_and(|max| total >= max) {
                            done.store(true, Ordering::SeqCst);
                        }
                    }
                    Err(err) => {
                        run.error(&err);
                        run.pause(Duration::from_millis(100)).await;
                    }
                }
            }
        }));
    }
    let deadline = tokio::time::Instant::now() + duration;
    while !done.load(Ordering::SeqCst) && !run.stopped() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    done.store(true, Ordering::SeqCst);
    for worker in workers {
        let _ = tokio::time::timeout(run.timeout * 2, worker).await;
    }
    cycles.load(Ordering::SeqCst)
}

/// Rooms still waiting or playing, rooms in all, and connections, from the server's metrics.
fn held(sample: &ServerSample) -> Option<(f64, f64, f64)> {
    let metrics = sample.metrics.as_ref()?;
    let active = metrics.sum("gamehall_rooms", Some("status=\"waiting\""))
        + metrics.sum("gamehall_rooms", Some("status=\"playing\""));
    Some((
        active,
        metrics.sum("gamehall_rooms", None),
        metrics.sum("gamehall_connections", None),
    ))
}

/// Freed pages the server's allocator may still hold for the reading to count as settled: the
/// server's own background work (metrics, timers, the allocator's bookkeeping) frees a few
/// pages now and then. Under 2 MiB was not enough: a reading taken while jemalloc was halfway
/// through returning the last rooms' pages counted 2 MB of them as growth (docs/benchmarks.md,
/// "churn").
const RETURNED_DIRTY_BYTES: f64 = 256.0 * 1024.0;

/// ...or the freed pages have stopped going down for this long: whatever the allocator still
/// holds then, it keeps.
const RETURNED_PLATEAU: Duration = Duration::from_secs(3);

/// A fall in freed pages smaller than this (one page) is no progress.
const DIRTY_PROGRESS_BYTES: f64 = 4096.0;

/// What [`settle`] saw: the moment the rooms were gone, and the moment the allocator had given
/// back the pages they freed.
struct Settled {
    drained: ServerSample,
    drained_s: f64,
    returned: ServerSample,
    returned_s: f64,
}

/// Waits until the server is back to the rooms and connections it held at `rest`: no more
/// active rooms or connections than then, and no finished room left to reap (finished rooms of
/// earlier runs count too: their memory is in the reading). Then waits until its allocator has
/// returned the pages those rooms freed (`gamehall_allocator_dirty_bytes` under 256 KiB, or no
/// longer falling; jemalloc returns them over a few seconds after the last room is reaped, and
/// RSS read before that counts them as growth). Gives up after `limit`.
async fn settle(run: &Run, rest: &ServerSample, limit: Duration) -> Settled {
    let started = Instant::now();
    let (active, _, conns) = held(rest).unwrap_or((0.0, 0.0, 0.0));
    let mut drained: Option<(ServerSample, f64)> = None;
    let mut returning = DirtyPages::default();
    loop {
        let sample = run.sample().await;
        let elapsed = started.elapsed().as_secs_f64();
        let out_of_time = started.elapsed() >= limit;
        if drained.is_none() {
            let empty =
                held(&sample).is_none_or(|(a, all, c)| a <= active && all <= active && c <= conns);
            if empty || out_of_time {
                drained = Some((sample.clone(), elapsed));
            }
        }
        // Followed from the moment the rooms are gone: while they are being reaped the freed
        // pages may hold steady for seconds, which is no plateau.
        let returned = (drained.is_some()
            && returning.returned(dirty_bytes(&sample), Instant::now()))
            || out_of_time;
        if let Some((drained, drained_s)) = drained.take_if(|_| returned) {
            return Settled {
                drained,
                drained_s,
                returned: sample,
                returned_s: elapsed,
            };
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Follows the freed pages the server's allocator holds, to tell when it has returned what it
/// is going to return.
#[derive(Debug, Default)]
struct DirtyPages {
    /// The fewest seen so far, and when they were first that few.
    lowest: Option<(f64, Instant)>,
}

impl DirtyPages {
    /// Whether `dirty` bytes, read at `now`, count as returned: few enough, or no fewer than
    /// [`RETURNED_PLATEAU`] ago.
    fn returned(&mut self, dirty: f64, now: Instant) -> bool {
        if dirty <= RETURNED_DIRTY_BYTES {
            return true;
        }
        match self.lowest {
            Some((lowest, since)) if dirty > lowest - DIRTY_PROGRESS_BYTES => {
                now.duration_since(since) >= RETURNED_PLATEAU
            }
            _ => {
                self.lowest = Some((dirty, now));
                false
            }
        }
    }
}

/// Freed pages the server's allocator has not yet returned (0 where it does not say).
fn dirty_bytes(sample: &ServerSample) -> f64 {
    sample.metrics.as_ref().map_or(0.0, |metrics| {
        metrics.sum("gamehall_allocator_dirty_bytes", None)
    })
}

fn mb(sample: Option<ProcessSample>) -> Value {
    sample.map_or(Value::Null, |s| {
        json!(round(s.rss_bytes as f64 / 1048576.0, 1))
    })
}

/// The server's live heap (`gamehall_allocator_allocated_bytes`), in bytes; `None` when the
/// server does not export it.
fn live_heap(sample: &ServerSample) -> Option<f64> {
    let metrics = sample.metrics.as_ref()?;
    let bytes = metrics.sum("gamehall_allocator_allocated_bytes", None);
    (bytes > 0.0).then_some(bytes)
}

fn heap_mb(sample: &ServerSample) -> Value {
    live_heap(sample).map_or(Value::Null, |bytes| json!(round(bytes / 1048576.0, 1)))
}

/// Where the server's allocator holds its pages, in MB, where the server exports it: RSS
/// above the live heap is these (gaps in pages in use, jemalloc's own bookkeeping, freed pages
/// not yet returned), and they say which one a growth of RSS is.
fn allocator_mb(sample: &ServerSample) -> Value {
    let Some(metrics) = sample
        .metrics
        .as_ref()
        .filter(|_| live_heap(sample).is_some())
    else {
        return Value::Null;
    };
    let mb = |name: &str| json!(round(metrics.sum(name, None) / 1048576.0, 1));
    json!({
        "active": mb("gamehall_allocator_active_bytes"),
        "metadata": mb("gamehall_allocator_metadata_bytes"),
        "dirty": mb("gamehall_allocator_dirty_bytes"),
        "resident": mb("gamehall_allocator_resident_bytes"),
    })
}

fn growth(from: Option<ProcessSample>, to: Option<ProcessSample>) -> Value {
    match (from, to) {
        (Some(from), Some(to)) if from.rss_bytes > 0 => json!(round(
            (to.rss_bytes as f64 / from.rss_bytes as f64 - 1.0) * 100.0,
            1
        )),
        _ => Value::Null,
    }
}

pub async fn run(run: Arc<Run>, options: ChurnOptions) -> Report {
    let mut report = Report::new("churn");
    report.set("workers", options.workers);
    report.set("moves_per_cycle", options.moves);
    report.set("exit", format!("{:?}", options.exit).to_lowercase());
    let cold = run.sample().await;
    let tokens = run.guests("lg-churn", options.workers * 2).await;
    eprintln!(
        "churn: warm-up {:?} with {} workers ...",
        options.warmup, options.workers
    );
    let warm_cycles = phase(&run, &tokens, &options, options.warmup, None, 0x5EED).await;
    let warm = settle(&run, &cold, options.settle).await;
    report.set("warmup_cycles", warm_cycles);
    eprintln!("churn: measuring for {:?} ...", options.duration);
    let before = run.sample().await;
    run.stats.set_recording(true);
    let cycles = phase(
        &run,
        &tokens,
        &options,
        options.duration,
        options.max_cycles,
        0xC4C1E,
    )
    .await;
    run.stats.set_recording(false);
    let after = run.sample().await;
    let seconds = describe_window(&mut report, &run, &before, &after);
    report.set("cycles", cycles);
    report.set("cycles_per_s", per_second(cycles, seconds));
    report.set("moves", run.stats.moves.load(Ordering::Relaxed));
    report.set(
        "cycle_setup_latency_ms",
        latency(&run.stats.connect_latency),
    );
    report.set("move_latency_ms", latency(&run.stats.move_latency));
    eprintln!("churn: waiting for the server to settle ...");
    let settled = settle(&run, &cold, options.settle).await;
    run.stop();
    // "warm" and "after" are read once the allocator has returned what the reaped rooms freed;
    // the readings at the moment the last room went are kept beside them.
    report.set(
        "server_rss_mb",
        json!({
            "cold": mb(cold.process),
            "warm": mb(warm.returned.process),
            "after": mb(settled.returned.process),
            "peak_window_end": mb(after.process),
            "warm_rooms_gone": mb(warm.drained.process),
            "after_rooms_gone": mb(settled.drained.process),
        }),
    );
    report.set(
        "rss_growth_vs_warm_pct",
        growth(warm.returned.process, settled.returned.process),
    );
    report.set(
        "rss_growth_vs_warm_rooms_gone_pct",
        growth(warm.drained.process, settled.drained.process),
    );
    report.set(
        "rss_growth_vs_cold_pct",
        growth(cold.process, settled.returned.process),
    );
    // The leak figure proper: live data, without the pages the allocator keeps for reuse.
    report.set(
        "server_heap_mb",
        json!({
            "cold": heap_mb(&cold),
            "warm": heap_mb(&warm.returned),
            "after": heap_mb(&settled.returned),
            "peak_window_end": heap_mb(&after),
        }),
    );
    report.set(
        "server_allocator_mb",
        json!({
            "cold": allocator_mb(&cold),
            "warm": allocator_mb(&warm.returned),
            "after": allocator_mb(&settled.returned),
        }),
    );
    report.set(
        "heap_growth_vs_warm_pct",
        match (live_heap(&warm.returned), live_heap(&settled.returned)) {
            (Some(warm), Some(after)) => json!(round((after / warm - 1.0) * 100.0, 1)),
            _ => Value::Null,
        },
    );
    report.set(
        "settle_s",
        json!({
            "warm": round(warm.drained_s, 1),
            "after": round(settled.drained_s, 1),
            "warm_returned": round(warm.returned_s, 1),
            "after_returned": round(settled.returned_s, 1),
        }),
    );
    report.set(
        "left_on_server",
        match held(&settled.returned) {
            Some((active, rooms, conns)) => {
                json!({"active_rooms": active, "rooms": rooms, "connections": conns})
            }
            None => Value::Null,
        },
    );
    report.errors(run.stats.errors());
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: f64 = 1048576.0;

    #[test]
    fn few_freed_pages_count_as_returned_at_once() {
        let mut pages = DirtyPages::default();
        assert!(pages.returned(100.0 * 1024.0, Instant::now()));
    }

    #[test]
    fn freed_pages_still_falling_are_not_returned_yet() {
        let start = Instant::now();
        let mut pages = DirtyPages::default();
        // The old rule took anything under 2 MiB; a decay in progress is still waited for.
        for (i, dirty) in [1.9, 1.5, 1.0, 0.5].into_iter().enumerate() {
            let now = start + Duration::from_secs(2 * i as u64);
            assert!(!pages.returned(dirty * MIB, now), "at {dirty} MiB");
        }
        assert!(pages.returned(0.2 * MIB, start + Duration::from_secs(8)));
    }

    #[test]
    fn freed_pages_that_stop_falling_count_as_returned_after_the_plateau() {
        let start = Instant::now();
        let mut pages = DirtyPages::default();
        assert!(!pages.returned(1.0 * MIB, start));
        // Less than a page of progress is no progress, and neither is a rise.
        assert!(!pages.returned(1.0 * MIB - 100.0, start + Duration::from_secs(1)));
        assert!(!pages.returned(1.2 * MIB, start + Duration::from_secs(2)));
        assert!(pages.returned(1.0 * MIB, start + RETURNED_PLATEAU));
    }
}
