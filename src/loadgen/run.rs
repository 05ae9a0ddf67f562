//! What every scenario shares: the target and the HTTP client, the counters, the stop flag, and
//! the measured window with the server's CPU, memory and message counts on either side of it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{stream, StreamExt};
use gamehall::auth::IssuedToken;
use gamehall::client::GamehallClient;
use gamehall::protocol::RoomSummary;
use serde_json::{json, Value};
use tokio::sync::watch;

use super::lanes::Lanes;
use super::probe::{self, Metrics, ProcessSample};
use super::report::{latency_summary, per_second, round, Report, Stats};
use super::target::Target;
use super::wire::WireError;

/// Concurrent HTTP requests while setting up (tokens, rooms).
const SETUP_CONCURRENCY: usize = 32;

pub struct Run {
    pub target: Target,
    /// Where the scenario's tasks run.
    pub lanes: Lanes,
    /// An HTTP client per lane, and a last one for the main thread: a pooled connection is
    /// driven by the runtime that opened it, so each lane keeps to its own.
    clients: Vec<GamehallClient>,
    /// A client of its own for `/metrics`.
    pub http: reqwest::Client,
    pub stats: Stats,
    stop: AtomicBool,
    /// The same stop, for tasks that sleep and must wake when it comes.
    stop_signal: watch::Sender<bool>,
    /// The server's PID, for `/proc/PID/{status,stat}`.
    pub server_pid: Option<u32>,
    /// Longest wait for any one answer from the server.
    pub timeout: Duration,
    /// Seed of every random choice, so that a run can be repeated move for move.
    pub seed: u64,
}

impl Run {
    pub fn new(
        target: Target,
        lanes: Lanes,
        server_pid: Option<u32>,
        timeout: Duration,
        seed: u64,
    ) -> Run {
        let base = target.http_base();
        Run {
            clients: (0..=lanes.count())
                .map(|_| GamehallClient::new(base.clone()))
                .collect(),
            lanes,
            http: gamehall::client::http_client(),
            target,
            stats: Stats::new(),
            stop: AtomicBool::new(false),
            stop_signal: watch::Sender::new(false),
            server_pid,
            timeout,
            seed,
        }
    }

    /// The HTTP client of the calling thread's lane (or the main thread's).
    pub fn client(&self) -> &GamehallClient {
        let last = self.clients.len() - 1;
        let index = Lanes::current().map_or(last, |lane| lane.min(last));
        &self.clients[index]
    }

    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.stop_signal.send_replace(true);
    }

    /// Resolves once the run is stopped.
    pub async fn until_stopped(&self) {
        let mut signal = self.stop_signal.subscribe();
        // The sender lives as long as `self`, so waiting cannot fail while we borrow it.
        let _ = signal.wait_for(|stopped| *stopped).await;
    }

    /// Counts `err` under its code.
    pub fn error(&self, err: &WireError) {
        self.stats.error(&err.code(), || err.to_string());
    }

    /// `n` guest tokens, named `{prefix}-{i}`. Failures are counted and left out.
    pub async fn guests(self: &Arc<Self>, prefix: &str, n: usize) -> Vec<IssuedToken> {
        let tokens: Vec<Option<IssuedToken>> = stream::iter(0..n)
            .map(|i| {
                let run = Arc::clone(self);
                let name = format!("{prefix}-{i}");
                async move {
                    match run.client().guest(&name).await {
                        Ok(token) => Some(token),
                        Err(err) => {
                            run.error(&WireError::Client(err));
                            None
                        }
                    }
                }
            })
            .buffer_unordered(SETUP_CONCURRENCY)
            .collect()
            .await;
        tokens.into_iter().flatten().collect()
    }

    /// Creates one room; errors are counted by the caller.
    pub async fn create_room(
        &self,
        token: &str,
        game: &str,
        options: &Value,
    ) -> Result<RoomSummary, WireError> {
        let create = self.client().create_room(token, game, options.clone());
        Ok(tokio::time::timeout(self.timeout, create)
            .await
            .map_err(|_| WireError::Timeout(self.timeout))??)
    }

    /// Reads the server's CPU and memory, and its metrics, now.
    pub async fn sample(&self) -> ServerSample {
        ServerSample {
            at: Instant::now(),
            process: self
                .server_pid
                .and_then(|pid| probe::sample(&pid.to_string())),
            metrics: probe::scrape(&self.http, &self.target.http_base()).await,
            client_messages: self.stats.messages(),
            own: probe::sample("self"),
            machine: probe::MachineCpu::read(),
        }
    }

    /// Opens the window, sleeps `duration` (or until stopped), closes it. Returns the samples
    /// on either side.
    pub async fn window(&self, duration: Duration) -> (ServerSample, ServerSample) {
        let before = self.sample().await;
        self.stats.set_recording(true);
        self.pause(duration).await;
        self.stats.set_recording(false);
        let after = self.sample().await;
        (before, after)
    }

    /// Sleeps up to `duration`, waking early when the run is stopped.
    pub async fn pause(&self, duration: Duration) {
        tokio::select! {
            () = self.until_stopped() => {}
            () = tokio::time::sleep(duration) => {}
        }
    }
}

/// The server (and this process) at one moment.
#[derive(Clone)]
pub struct ServerSample {
    pub at: Instant,
    pub process: Option<ProcessSample>,
    pub metrics: Option<Metrics>,
    /// Frames the load generator had sent and received (counted inside windows only).
    pub client_messages: u64,
    pub own: Option<ProcessSample>,
    /// The whole machine's CPU: how busy it was, and how much the hypervisor took.
    pub machine: Option<probe::MachineCpu>,
}

/// Frames the server received and queued, from its own counters.
fn server_messages(metrics: &Metrics) -> f64 {
    metrics.sum("gamehall_messages_in_total", None)
        + metrics.sum("gamehall_messages_out_total", None)
}

/// Fills in what every scenario reports about its window: its length, messages, the server's
/// CPU per million messages, and memory.
pub fn describe_window(
    report: &mut Report,
    run: &Run,
    before: &ServerSample,
    after: &ServerSample,
) -> f64 {
    let seconds = (after.at - before.at).as_secs_f64();
    report.set("window_s", round(seconds, 2));
    let client = after.client_messages.saturating_sub(before.client_messages);
    let server = match (&before.metrics, &after.metrics) {
        (Some(b), Some(a)) => Some((server_messages(a) - server_messages(b)).max(0.0) as u64),
        _ => None,
    };
    // The server's own count is exact (frames in plus frames queued out); the client's misses
    // frames sent to connections it does not read, so it is the fallback.
    let messages = server.unwrap_or(client);
    report.set(
        "messages",
        json!({
            "server": server,
            "client": client,
            "per_s": per_second(messages, seconds),
        }),
    );
    let server_cpu = match (before.process, after.process) {
        (Some(b), Some(a)) => {
            let cpu = (a.cpu_seconds - b.cpu_seconds).max(0.0);
            json!({
                "pid": run.server_pid,
                "cpu_s": round(cpu, 2),
                "cpu_cores_busy": round(cpu / seconds.max(1e-9), 2),
                "cpu_s_per_1m_messages": if messages > 0 {
                    json!(round(cpu / messages as f64 * 1e6, 2))
                } else {
                    Value::Null
                },
                "rss_mb": round(a.rss_bytes as f64 / 1048576.0, 1),
            })
        }
        _ => Value::Null,
    };
    report.set("server", server_cpu);
    if let (Some(b), Some(a)) = (before.own, after.own) {
        report.set(
            "loadgen",
            json!({
                "cpu_s": round((a.cpu_seconds - b.cpu_seconds).max(0.0), 2),
                "rss_mb": round(a.rss_bytes as f64 / 1048576.0, 1),
            }),
        );
    }
    // Everything on the machine, the databases included; and the time its cores were taken
    // away by the hypervisor, which explains a run that is slower than the last on the same
    // code and the same machine.
    if let Some((busy, steal)) = before
        .machine
        .zip(after.machine)
        .and_then(|(b, a)| a.since(&b))
    {
        report.set(
            "machine",
            json!({ "busy_pct": round(busy, 1), "steal_pct": round(steal, 1) }),
        );
    }
    seconds
}

/// The move→broadcast histogram the server itself keeps (`gamehall_move_broadcast_seconds`),
/// as upper bounds of the buckets holding p50 and p99: it shows how much of the latency the
/// clients see is spent inside the server. The same for the moves made while the archive was
/// writing a batch (`gamehall_move_broadcast_during_archive_write_seconds`) and for the others,
/// when the server archives: whether writing batches slows the moves, within one run.
pub fn server_move_latency(before: &ServerSample, after: &ServerSample) -> Value {
    let (Some(b), Some(a)) = (&before.metrics, &after.metrics) else {
        return Value::Null;
    };
    let all = probe::HistogramDelta::between(b, a, "gamehall_move_broadcast_seconds", None);
    let Some(mut summary) = histogram_summary(&all) else {
        return Value::Null;
    };
    let during = probe::HistogramDelta::between(
        b,
        a,
        "gamehall_move_broadcast_during_archive_write_seconds",
        None,
    );
    if during.count > 0.0 {
        summary["during_archive_write"] = histogram_summary(&during).unwrap_or(Value::Null);
        summary["outside_archive_write"] =
            histogram_summary(&all.without(&during)).unwrap_or(Value::Null);
    }
    summary
}

/// The bucket bound above which [`histogram_summary`] counts the slow moves. The buckets
/// are too coarse for two runs' p99s to differ by less than a bucket; the share of moves
/// beyond a fixed bound differs continuously, so it compares runs (and the moves made during
/// archive writes with the others) more finely.
const SLOW_MOVE_SECONDS: f64 = 0.0005;

fn histogram_summary(delta: &probe::HistogramDelta) -> Option<Value> {
    let p50 = delta.quantile_upper_bound(0.5)?;
    let p99 = delta.quantile_upper_bound(0.99)?;
    Some(json!({
        "count": delta.count,
        "p50_at_most": round(p50 * 1000.0, 3),
        "p99_at_most": round(p99 * 1000.0, 3),
        "slower_than_0_5_ms_pct": delta
            .share_above(SLOW_MOVE_SECONDS)
            .map(|share| round(share * 100.0, 3)),
    }))
}

/// The latency summary of `recorder`, for the report.
pub fn latency(recorder: &super::report::Recorder) -> Value {
    latency_summary(&recorder.merged())
}
