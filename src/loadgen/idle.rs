//! `idle`: K connected players, seated two by two in tic-tac-toe rooms whose games have
//! started and never move, kept alive with a protocol `ping` every heartbeat interval for T
//! seconds. Reports what each connected player costs the server in resident memory (from
//! `/proc/PID/status`), and the heartbeat round trip.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{stream, StreamExt};
use gamehall::auth::IssuedToken;
use gamehall::ids::RoomId;
use gamehall::protocol::Role;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use super::probe::ProcessSample;
use super::report::{per_second, round, Report};
use super::run::{describe_window, latency, Run};
use super::wire::{Wire, WireError};

#[derive(Clone, Debug)]
pub struct IdleOptions {
    pub connections: usize,
    pub duration: Duration,
    pub heartbeat: Duration,
    /// Connections being opened at once.
    pub ramp_concurrency: usize,
    pub setup_timeout: Duration,
}

struct Shared {
    run: Arc<Run>,
    options: IdleOptions,
    ramp: Semaphore,
    established: AtomicUsize,
    failed: AtomicUsize,
    /// Connections the server dropped during the window.
    lost: AtomicUsize,
}

async fn hold(shared: Arc<Shared>, task: usize, token: IssuedToken, room: RoomId) {
    let run = &shared.run;
    let opened = async {
        // The semaphore is never closed; a permit bounds the handshakes in flight.
        let _permit = shared.ramp.acquire().await;
        let started = Instant::now();
        let mut wire = Wire::connect(run, &token.token).await?;
        wire.join(run, &room, Role::Player).await?;
        run.stats.connect_latency.record(task, started.elapsed());
        Ok::<Wire, WireError>(wire)
    };
    let mut wire = match opened.await {
        Ok(wire) => wire,
        Err(err) => {
            run.error(&err);
            shared.failed.fetch_add(1, Ordering::SeqCst);
            return;
        }
    };
    shared.established.fetch_add(1, Ordering::SeqCst);
    // Heartbeats are spread evenly over the interval, as real clients' are.
    let interval = shared.options.heartbeat;
    let mut rng = ChaCha8Rng::seed_from_u64(run.seed ^ task as u64);
    let offset = interval.mul_f64(rng.gen::<f64>());
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + offset, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = run.until_stopped() => break,
            _ = ticker.tick() => {
                let sent = Instant::now();
                match wire.ping(run).await {
                    Ok(()) => run.stats.latency(&run.stats.heartbeat_rtt, task, sent.elapsed()),
                    Err(err) => {
                        run.error(&err);
                        shared.lost.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                }
            }
        }
    }
    wire.close().await;
}

fn mb(sample: Option<ProcessSample>) -> Value {
    sample.map_or(Value::Null, |s| {
        json!(round(s.rss_bytes as f64 / 1048576.0, 1))
    })
}

pub async fn run(run: Arc<Run>, options: IdleOptions) -> Report {
    let mut report = Report::new("idle");
    let wanted = options.connections & !1;
    report.set("connections_requested", wanted);
    report.set("heartbeat_s", options.heartbeat.as_secs_f64());
    report.set("source_addresses", run.target.source_count());
    let baseline = run.sample().await;
    eprintln!("idle: {wanted} tokens, {} rooms ...", wanted / 2);
    let started = Instant::now();
    let tokens = run.guests("lg-idle", wanted).await;
    let pairs: Vec<(IssuedToken, IssuedToken)> = tokens
        .chunks_exact(2)
        .map(|pair| (pair[0].clone(), pair[1].clone()))
        .collect();
    let rooms: Vec<Option<(RoomId, IssuedToken, IssuedToken)>> = stream::iter(pairs)
        .map(|(a, b)| {
            let run = Arc::clone(&run);
            async move {
                match run.create_room(&a.token, "tictactoe", &Value::Null).await {
                    Ok(room) => Some((room.id, a, b)),
                    Err(err) => {
                        run.error(&err);
                        None
                    }
                }
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let rooms: Vec<_> = rooms.into_iter().flatten().collect();
    let with_rooms = run.sample().await;
    report.set("setup_http_s", round(started.elapsed().as_secs_f64(), 2));
    eprintln!("idle: connecting {} players ...", rooms.len() * 2);
    let shared = Arc::new(Shared {
        run: Arc::clone(&run),
        ramp: Semaphore::new(options.ramp_concurrency.max(1)),
        options: options.clone(),
        established: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        lost: AtomicUsize::new(0),
    });
    let ramp_started = Instant::now();
    let mut tasks = Vec::with_capacity(rooms.len() * 2);
    for (i, (room, a, b)) in rooms.into_iter().enumerate() {
        // A room's two players share a lane.
        tasks.push(
            run.lanes
                .spawn(i, hold(Arc::clone(&shared), 2 * i, a, room.clone())),
        );
        tasks.push(
            run.lanes
                .spawn(i, hold(Arc::clone(&shared), 2 * i + 1, b, room)),
        );
    }
    let total = tasks.len();
    let mut last_report = Instant::now();
    loop {
        let done = shared.established.load(Ordering::SeqCst) + shared.failed.load(Ordering::SeqCst);
        if done >= total || run.stopped() || ramp_started.elapsed() > options.setup_timeout {
            break;
        }
        if last_report.elapsed() > Duration::from_secs(5) {
            eprintln!("idle: {done}/{total} connected");
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ramp_s = ramp_started.elapsed().as_secs_f64();
    let established = shared.established.load(Ordering::SeqCst);
    report.set("connections", established);
    report.set("connections_failed", shared.failed.load(Ordering::SeqCst));
    report.set("ramp_s", round(ramp_s, 2));
    report.set("connects_per_s", per_second(established as u64, ramp_s));
    report.set(
        "connect_join_latency_ms",
        latency(&run.stats.connect_latency),
    );
    // Let the last joins' game starts settle before reading memory.
    run.pause(Duration::from_secs(1)).await;
    eprintln!(
        "idle: {established} connected; holding for {:?}",
        options.duration
    );
    let (before, after) = run.window(options.duration).await;
    let lost = shared.lost.load(Ordering::SeqCst);
    run.stop();
    describe_window(&mut report, &run, &before, &after);
    let per_connection = |from: Option<ProcessSample>, to: Option<ProcessSample>| match (from, to) {
        (Some(from), Some(to)) if established > 0 => json!(round(
            (to.rss_bytes as f64 - from.rss_bytes as f64) / established as f64 / 1024.0,
            2
        )),
        _ => Value::Null,
    };
    report.set(
        "server_rss_mb",
        json!({
            "baseline": mb(baseline.process),
            "with_rooms": mb(with_rooms.process),
            "connected": mb(before.process),
            "end": mb(after.process),
        }),
    );
    report.set(
        "server_rss_per_connection_kb",
        per_connection(baseline.process, before.process),
    );
    report.set(
        "server_rss_per_connection_without_rooms_kb",
        per_connection(with_rooms.process, before.process),
    );
    report.set(
        "loadgen_rss_per_connection_kb",
        per_connection(baseline.own, before.own),
    );
    report.set("heartbeat_rtt_ms", latency(&run.stats.heartbeat_rtt));
    report.set("connections_lost", lost);
    eprintln!("idle: closing");
    let closing = futures_util::future::join_all(tasks);
    if tokio::time::timeout(Duration::from_secs(60), closing)
        .await
        .is_err()
    {
        run.stats.error("shutdown_timeout", || {
            "connections did not close within 60 s".into()
        });
    }
    report.errors(run.stats.errors());
    report
}
