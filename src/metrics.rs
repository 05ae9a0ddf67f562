//! Prometheus metrics, all named `gamehall_*` (docs/operations.md lists them with their meaning).
//!
//! One [`Metrics`] per server, shared by `Arc`: tests run many servers in one process and each
//! must count only its own games. Hot-path counters (frames by type, errors by code) are resolved
//! to their label values once, here, so counting a frame is one atomic add, never a label lookup.
//! Values that already live elsewhere (the archive's counters, the process's memory) are read
//! when Prometheus scrapes, by [`ReadAtScrape`], instead of being copied on every change.

use std::collections::HashMap;
use std::sync::Arc;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{
    Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry,
};

use crate::protocol::{ErrorCode, ServerMsg, SERVER_MSG_TYPES};

/// Buckets for move→broadcast latency: 50 µs to 1 s, dense around the 5 ms target and below
/// 1 ms, where a move spends its time in a healthy server: whether archiving raises the
/// reactor's latency shows at a tenth of a millisecond (docs/benchmarks.md, "Move latency while
/// batches are written").
const LATENCY_BUCKETS: [f64; 20] = [
    0.00005, 0.0001, 0.00015, 0.0002, 0.00025, 0.0003, 0.0004, 0.0005, 0.00075, 0.001, 0.0015,
    0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 1.0,
];

/// Client frame types, in the order of [`Metrics::frames_in`].
pub const CLIENT_FRAME_TYPES: [&str; 8] = [
    "join", "act", "chat", "leave", "resume", "ping", "invalid", "binary",
];

/// Which rate limit refused a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitScope {
    Socket,
    Player,
    Room,
}

impl LimitScope {
    fn label(self) -> &'static str {
        match self {
            LimitScope::Socket => "socket",
            LimitScope::Player => "player",
            LimitScope::Room => "room",
        }
    }
}

pub struct Metrics {
    registry: Registry,
    pub connections: IntGauge,
    /// Rooms by game kind and status (`waiting`, `playing`, `finished`), kept by the registry.
    pub rooms: IntGaugeVec,
    pub games_started: IntCounterVec,
    pub games_finished: IntCounterVec,
    frames_in: Vec<IntCounter>,
    frames_out: Vec<IntCounter>,
    errors: HashMap<ErrorCode, IntCounter>,
    /// From the session receiving an `act` to its events being queued for every member.
    pub move_broadcast: Histogram,
    /// The part of `move_broadcast` observed while the archive was writing a batch.
    pub move_broadcast_during_archive_write: Histogram,
    rate_limited: [IntCounter; 3],
    pub joins_rejected: IntCounterVec,
    pub rooms_refused: IntCounterVec,
    /// Rooms removed because their actor failed (a game that panicked, or a room that stopped
    /// without reporting), kept by the registry.
    pub rooms_crashed: IntCounter,
    /// Finished rooms kept only as their final state (part of `rooms`' `finished`).
    pub rooms_retired: IntGauge,
    pub redis_up: IntGauge,
    pub database_up: IntGauge,
    pub memory_limit_bytes: Gauge,
    /// Per game kind: tick duration and overruns of real-time games.
    pub tick_duration: HistogramVec,
    pub tick_overruns: IntCounterVec,
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let vec = IntCounterVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| panic!("metric {name} is well-formed: {e}"));
    register(registry, vec.clone());
    vec
}

fn register<C: Collector + 'static>(registry: &Registry, collector: C) {
    // Only a duplicate or malformed name fails, a programming error caught by every test run.
    registry
        .register(Box::new(collector))
        .unwrap_or_else(|e| panic!("metrics register once each: {e}"));
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        let registry = Registry::new();
        let connections = IntGauge::new("gamehall_connections", "Open WebSocket connections.")
            .expect("well-formed metric");
        register(&registry, connections.clone());
        let rooms = IntGaugeVec::new(
            Opts::new("gamehall_rooms", "Rooms in memory by game kind and status."),
            &["game", "status"],
        )
        .expect("well-formed metric");
        register(&registry, rooms.clone());
        let games_started = counter_vec(
            &registry,
            "gamehall_games_started_total",
            "Games started, by game kind.",
            &["game"],
        );
        let games_finished = counter_vec(
            &registry,
            "gamehall_games_finished_total",
            "Games finished, by game kind and result (win, draw, forfeit, abandoned).",
            &["game", "result"],
        );
        let frames_in_vec = counter_vec(
            &registry,
            "gamehall_messages_in_total",
            "WebSocket frames received from clients, by message type.",
            &["type"],
        );
        let frames_in = CLIENT_FRAME_TYPES
            .iter()
            .map(|t| frames_in_vec.with_label_values(&[t]))
            .collect();
        let frames_out_vec = counter_vec(
            &registry,
            "gamehall_messages_out_total",
            "WebSocket frames queued for clients, by message type.",
            &["type"],
        );
        let frames_out = SERVER_MSG_TYPES
            .iter()
            .map(|t| frames_out_vec.with_label_values(&[t]))
            .collect();
        let errors_vec = counter_vec(
            &registry,
            "gamehall_errors_total",
            "Typed error frames sent to clients, by error code.",
            &["code"],
        );
        let errors = ErrorCode::ALL
            .iter()
            .map(|code| (*code, errors_vec.with_label_values(&[code.as_str()])))
            .collect();
        let move_broadcast = Histogram::with_opts(
            HistogramOpts::new(
                "gamehall_move_broadcast_seconds",
                "From receiving an act frame to its events being queued for every member.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
        )
        .expect("well-formed metric");
        register(&registry, move_broadcast.clone());
        // A second histogram rather than a label: the first keeps its series (dashboards and
        // alerts read it whole), and the moves outside writes are the difference of the two.
        let move_broadcast_during_archive_write = Histogram::with_opts(
            HistogramOpts::new(
                "gamehall_move_broadcast_during_archive_write_seconds",
                "The moves of gamehall_move_broadcast_seconds made while the archive was writing \
                 a batch.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
        )
        .expect("well-formed metric");
        register(&registry, move_broadcast_during_archive_write.clone());
        let limited_vec = counter_vec(
            &registry,
            "gamehall_rate_limited_total",
            "Frames refused by a rate limit, by scope (socket, player, room).",
            &["scope"],
        );
        let rate_limited = [LimitScope::Socket, LimitScope::Player, LimitScope::Room]
            .map(|scope| limited_vec.with_label_values(&[scope.label()]));
        let joins_rejected = counter_vec(
            &registry,
            "gamehall_joins_rejected_total",
            "Joins and resumes refused, by error code.",
            &["reason"],
        );
        let rooms_refused = counter_vec(
            &registry,
            "gamehall_rooms_refused_total",
            "Room creations refused, by reason (capacity, memory, shutdown).",
            &["reason"],
        );
        // No labels: the counter then exists at 0 from start-up, so `increase()` sees the first
        // crash (a series born at 1 would show none). The WARN log line names room and game.
        let rooms_crashed = IntCounter::new(
            "gamehall_rooms_crashed_total",
            "Rooms stopped because their game or actor failed; their players were told.",
        )
        .expect("well-formed metric");
        register(&registry, rooms_crashed.clone());
        let rooms_retired = IntGauge::new(
            "gamehall_rooms_retired",
            "Finished rooms that nobody is in, kept as their final state until reaped.",
        )
        .expect("well-formed metric");
        register(&registry, rooms_retired.clone());
        let redis_up = IntGauge::new(
            "gamehall_redis_up",
            "1 while Redis answers (shared rate limits in use), 0 otherwise.",
        )
        .expect("well-formed metric");
        register(&registry, redis_up.clone());
        let database_up = IntGauge::new(
            "gamehall_database_up",
            "1 while the archive database answered its last check, 0 otherwise.",
        )
        .expect("well-formed metric");
        register(&registry, database_up.clone());
        let memory_limit_bytes = Gauge::new(
            "gamehall_memory_limit_bytes",
            "MAX_MEMORY_MB in bytes: the memory the server is allowed.",
        )
        .expect("well-formed metric");
        register(&registry, memory_limit_bytes.clone());
        let tick_duration = HistogramVec::new(
            HistogramOpts::new(
                "gamehall_tick_duration_seconds",
                "Time one tick of a real-time game took, by game kind.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["game"],
        )
        .expect("well-formed metric");
        register(&registry, tick_duration.clone());
        let tick_overruns = counter_vec(
            &registry,
            "gamehall_tick_overruns_total",
            "Ticks that took longer than their period or fired more than a period late, by game kind.",
            &["game"],
        );
        Arc::new(Metrics {
            registry,
            connections,
            rooms,
            games_started,
            games_finished,
            frames_in,
            frames_out,
            errors,
            move_broadcast,
            move_broadcast_during_archive_write,
            rate_limited,
            joins_rejected,
            rooms_refused,
            rooms_crashed,
            rooms_retired,
            redis_up,
            database_up,
            memory_limit_bytes,
            tick_duration,
            tick_overruns,
        })
    }

    /// The registry actix-web-prom serves (it adds its HTTP metrics to it).
    pub fn registry(&self) -> Registry {
        self.registry.clone()
    }

    /// With `USE_GAME_ARCHIVAL=false` no database is checked: `gamehall_database_up` is left out
    /// rather than exported as a 0 that would page someone about a database nobody uses.
    pub fn without_database(&self) {
        // Fails only if it is not registered, i.e. when called twice: nothing left to do then.
        let _ = self.registry.unregister(Box::new(self.database_up.clone()));
    }

    /// Without Redis (`REDIS_URL` empty, or rate limiting off) nothing probes it, so
    /// `gamehall_redis_up` is left out for the same reason.
    pub fn without_redis(&self) {
        let _ = self.registry.unregister(Box::new(self.redis_up.clone()));
    }

    /// Adds values read when Prometheus scrapes.
    pub fn read_at_scrape(&self, collector: ReadAtScrape) {
        register(&self.registry, collector);
    }

    /// One frame received; `kind` is one of [`CLIENT_FRAME_TYPES`].
    pub fn frame_in(&self, kind: &str) {
        if let Some(i) = CLIENT_FRAME_TYPES.iter().position(|t| *t == kind) {
            self.frames_in[i].inc();
        }
    }

    /// `n` frames like `msg` queued for clients.
    pub fn frames_out(&self, msg: &ServerMsg, n: u64) {
        if let Some(counter) = self.frames_out.get(msg.type_index()) {
            counter.inc_by(n);
        }
    }

    pub fn error_sent(&self, code: ErrorCode) {
        if let Some(counter) = self.errors.get(&code) {
            counter.inc();
        }
    }

    pub fn rate_limited(&self, scope: LimitScope) {
        self.rate_limited[scope as usize].inc();
    }

    /// The text Prometheus scrapes, for a metrics-only listener.
    pub fn render(&self) -> String {
        let encoder = prometheus::TextEncoder::new();
        encoder
            .encode_to_string(&self.registry.gather())
            .unwrap_or_else(|e| format!("# metrics could not be encoded: {e}\n"))
    }
}

/// A gauge or counter whose value is computed when Prometheus scrapes.
pub struct ReadAtScrape {
    descs: Vec<Desc>,
    values: Vec<ScrapedValue>,
}

struct ScrapedValue {
    name: &'static str,
    help: &'static str,
    counter: bool,
    read: Box<dyn Fn() -> f64 + Send + Sync>,
}

impl ReadAtScrape {
    pub fn new() -> Self {
        ReadAtScrape {
            descs: Vec::new(),
            values: Vec::new(),
        }
    }

    pub fn gauge(
        self,
        name: &'static str,
        help: &'static str,
        read: impl Fn() -> f64 + Send + Sync + 'static,
    ) -> Self {
        self.with(name, help, false, Box::new(read))
    }

    pub fn counter(
        self,
        name: &'static str,
        help: &'static str,
        read: impl Fn() -> f64 + Send + Sync + 'static,
    ) -> Self {
        self.with(name, help, true, Box::new(read))
    }

    fn with(
        mut self,
        name: &'static str,
        help: &'static str,
        counter: bool,
        read: Box<dyn Fn() -> f64 + Send + Sync>,
    ) -> Self {
        let desc = Desc::new(name.to_owned(), help.to_owned(), Vec::new(), HashMap::new())
            .unwrap_or_else(|e| panic!("metric {name} is well-formed: {e}"));
        self.descs.push(desc);
        self.values.push(ScrapedValue {
            name,
            help,
            counter,
            read,
        });
        self
    }
}

impl Default for ReadAtScrape {
    fn default() -> Self {
        Self::new()
    }
}

impl Collector for ReadAtScrape {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.values
            .iter()
            .flat_map(|v| {
                let value = (v.read)();
                if v.counter {
                    let c = prometheus::Counter::new(v.name, v.help).ok()?;
                    c.inc_by(value.max(0.0));
                    Some(c.collect())
                } else {
                    let g = Gauge::new(v.name, v.help).ok()?;
                    g.set(value);
                    Some(g.collect())
                }
            })
            .flatten()
            .collect()
    }
}

/// The process's resident memory in bytes (`VmRSS` of `/proc/self/status`); `None` where that
/// file does not exist (not Linux) or cannot be read.
pub fn resident_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_gauges_and_scraped_values_are_exported() {
        let metrics = Metrics::new();
        metrics.frame_in("act");
        metrics.frame_in("act");
        metrics.error_sent(ErrorCode::IllegalMove);
        metrics.rate_limited(LimitScope::Room);
        metrics.read_at_scrape(ReadAtScrape::new().gauge(
            "gamehall_test_value",
            "A value read at scrape time.",
            || 42.0,
        ));
        let text = metrics.render();
        assert!(
            text.contains(r#"gamehall_messages_in_total{type="act"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"gamehall_errors_total{code="illegal_move"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"gamehall_rate_limited_total{scope="room"} 1"#),
            "{text}"
        );
        assert!(text.contains("gamehall_test_value 42"), "{text}");
    }

    #[test]
    fn crashes_count_from_zero_and_the_dependency_gauges_can_be_left_out() {
        let metrics = Metrics::new();
        let text = metrics.render();
        assert!(text.contains("gamehall_rooms_crashed_total 0"), "{text}");
        assert!(text.contains("gamehall_database_up 0"), "{text}");
        assert!(text.contains("gamehall_redis_up 0"), "{text}");
        metrics.rooms_crashed.inc();
        metrics.without_database();
        metrics.without_database();
        let text = metrics.render();
        assert!(text.contains("gamehall_rooms_crashed_total 1"), "{text}");
        assert!(!text.contains("gamehall_database_up"), "{text}");
        assert!(text.contains("gamehall_redis_up 0"), "{text}");
        metrics.without_redis();
        assert!(!metrics.render().contains("gamehall_redis_up"));
    }

    #[test]
    fn resident_memory_is_read_on_linux() {
        let rss = resident_memory_bytes().expect("/proc/self/status has VmRSS");
        assert!(rss > 1024 * 1024, "{rss}");
    }
}
