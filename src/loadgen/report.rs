//! What a run counts and how it is shown: shared counters, latency histograms, and the report
//! (a table for people on stderr, one line of JSON for scripts on stdout).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{json, Value};

/// Histogram shards: tasks record into `task % SHARDS`, so thousands of tasks on a few runtime
/// threads rarely meet on one lock, while no task carries a histogram of its own (one is about
/// 200 KB at these bounds).
const SHARDS: usize = 8;
/// Largest value a histogram holds, in microseconds (a minute: anything slower is a timeout).
const MAX_MICROS: u64 = 60_000_000;

/// Latencies in microseconds, three significant digits.
pub struct Recorder {
    shards: Vec<Mutex<Histogram<u64>>>,
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder {
            shards: (0..SHARDS).map(|_| Mutex::new(new_histogram())).collect(),
        }
    }

    pub fn record(&self, task: usize, value: Duration) {
        let micros = (value.as_micros() as u64).clamp(1, MAX_MICROS);
        let mut shard = lock(&self.shards[task % SHARDS]);
        // `clamp` keeps the value inside the histogram's bounds, so recording cannot fail.
        let _ = shard.record(micros);
    }

    /// Every shard merged; the shards are left as they are.
    pub fn merged(&self) -> Histogram<u64> {
        let mut all = new_histogram();
        for shard in &self.shards {
            // Same bounds on both sides: `add` cannot fail.
            let _ = all.add(&*lock(shard));
        }
        all
    }
}

pub fn new_histogram() -> Histogram<u64> {
    // Constant, valid bounds (1 µs .. 60 s, 3 digits): construction cannot fail.
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid histogram bounds")
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A task that panicked while recording leaves a histogram that is still a histogram.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `{count, mean, p50, p95, p99, max}` in milliseconds, or `null` when nothing was recorded.
pub fn latency_summary(histogram: &Histogram<u64>) -> Value {
    if histogram.is_empty() {
        return Value::Null;
    }
    let ms = |micros: f64| round(micros / 1000.0, 3);
    json!({
        "count": histogram.len(),
        "mean": ms(histogram.mean()),
        "p50": ms(histogram.value_at_quantile(0.50) as f64),
        "p95": ms(histogram.value_at_quantile(0.95) as f64),
        "p99": ms(histogram.value_at_quantile(0.99) as f64),
        "max": ms(histogram.max() as f64),
    })
}

/// One error code: how often, and the first message seen (what an operator needs to act).
#[derive(Clone, Debug)]
pub struct ErrorCount {
    pub count: u64,
    pub first: String,
}

/// Counters every scenario shares. Counts and latencies move only while `recording` is on (the
/// measured window); errors are counted in every phase, because a failure while setting up is
/// still a failure.
pub struct Stats {
    recording: AtomicBool,
    pub moves: AtomicU64,
    pub games: AtomicU64,
    pub cycles: AtomicU64,
    /// Text frames the load generator sent and received (the server's messages in and out).
    pub sent: AtomicU64,
    pub received: AtomicU64,
    /// Tick frames of real-time games received, and ticks a client never saw.
    pub ticks: AtomicU64,
    pub ticks_missed: AtomicU64,
    errors: Mutex<BTreeMap<String, ErrorCount>>,
    /// `act` sent → the event carrying its `ref` received by the actor.
    pub move_latency: Recorder,
    /// `act` sent → the event received by every seat of the table.
    pub broadcast_latency: Recorder,
    /// `ping` sent → its `pong` received.
    pub heartbeat_rtt: Recorder,
    /// TCP connect + WebSocket handshake + `hello` + `join` answered.
    pub connect_latency: Recorder,
    /// Real-time games: time between two tick frames on one connection.
    pub tick_interval: Recorder,
    /// Real-time games: an input sent → the next tick frame received.
    pub input_to_tick: Recorder,
}

impl Stats {
    pub fn new() -> Stats {
        Stats {
            recording: AtomicBool::new(false),
            moves: AtomicU64::new(0),
            games: AtomicU64::new(0),
            cycles: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            ticks: AtomicU64::new(0),
            ticks_missed: AtomicU64::new(0),
            errors: Mutex::new(BTreeMap::new()),
            move_latency: Recorder::new(),
            broadcast_latency: Recorder::new(),
            heartbeat_rtt: Recorder::new(),
            connect_latency: Recorder::new(),
            tick_interval: Recorder::new(),
            input_to_tick: Recorder::new(),
        }
    }

    pub fn set_recording(&self, on: bool) {
        self.recording.store(on, Ordering::SeqCst);
    }

    pub fn recording(&self) -> bool {
        self.recording.load(Ordering::Relaxed)
    }

    /// Adds `n` to `counter` if the window is open.
    pub fn add(&self, counter: &AtomicU64, n: u64) {
        if self.recording() {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub fn latency(&self, recorder: &Recorder, task: usize, value: Duration) {
        if self.recording() {
            recorder.record(task, value);
        }
    }

    /// Counts an error by its code, in every phase.
    pub fn error(&self, code: &str, message: impl FnOnce() -> String) {
        let mut errors = lock(&self.errors);
        match errors.get_mut(code) {
            Some(entry) => entry.count += 1,
            None => {
                errors.insert(
                    code.to_owned(),
                    ErrorCount {
                        count: 1,
                        first: message(),
                    },
                );
            }
        }
    }

    pub fn errors(&self) -> BTreeMap<String, ErrorCount> {
        lock(&self.errors).clone()
    }

    pub fn messages(&self) -> u64 {
        self.sent.load(Ordering::Relaxed) + self.received.load(Ordering::Relaxed)
    }
}

/// What a scenario found, in the order it is shown.
pub struct Report {
    fields: Vec<(String, Value)>,
}

impl Report {
    pub fn new(scenario: &str) -> Report {
        Report {
            fields: vec![("scenario".into(), json!(scenario))],
        }
    }

    pub fn set(&mut self, key: &str, value: impl Into<Value>) {
        let value = value.into();
        match self.fields.iter_mut().find(|(k, _)| k == key) {
            Some(field) => field.1 = value,
            None => self.fields.push((key.to_owned(), value)),
        }
    }

    /// The errors by code, their total, and the first message of each.
    pub fn errors(&mut self, errors: BTreeMap<String, ErrorCount>) {
        self.set(
            "errors_total",
            errors.values().map(|e| e.count).sum::<u64>(),
        );
        let counts: BTreeMap<&str, u64> =
            errors.iter().map(|(k, e)| (k.as_str(), e.count)).collect();
        let firsts: BTreeMap<&str, &str> = errors
            .iter()
            .map(|(k, e)| (k.as_str(), e.first.as_str()))
            .collect();
        self.set("errors", json!(counts));
        self.set("error_examples", json!(firsts));
    }

    /// The table people read: one `key  value` row per leaf.
    pub fn table(&self) -> String {
        let mut rows = Vec::new();
        for (key, value) in &self.fields {
            flatten(key, value, &mut rows);
        }
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (key, value) in rows {
            out.push_str(&format!("  {key:<width$}  {value}\n"));
        }
        out
    }

    /// One JSON object on one line, keys in report order.
    pub fn json_line(&self) -> String {
        let parts: Vec<String> = self
            .fields
            .iter()
            .map(|(k, v)| format!("{}:{}", Value::from(k.as_str()), v))
            .collect();
        format!("{{{}}}", parts.join(","))
    }
}

fn flatten(key: &str, value: &Value, rows: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                flatten(&format!("{key}.{k}"), v, rows);
            }
        }
        Value::Object(_) => rows.push((key.to_owned(), "none".into())),
        Value::Null => rows.push((key.to_owned(), "n/a".into())),
        Value::String(s) => rows.push((key.to_owned(), s.clone())),
        other => rows.push((key.to_owned(), other.to_string())),
    }
}

/// `count / seconds`, rounded to a tenth; `null` for an empty window.
pub fn per_second(count: u64, seconds: f64) -> Value {
    if seconds <= 0.0 {
        return Value::Null;
    }
    json!(round(count as f64 / seconds, 1))
}

/// Rounds to `digits` decimals for display.
pub fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_move_only_inside_the_window_but_errors_always() {
        let stats = Stats::new();
        stats.add(&stats.moves, 1);
        stats.error("timeout", || "first".into());
        stats.set_recording(true);
        stats.add(&stats.moves, 2);
        stats.latency(&stats.move_latency, 3, Duration::from_micros(1500));
        stats.error("timeout", || "second".into());
        assert_eq!(stats.moves.load(Ordering::Relaxed), 2);
        let errors = stats.errors();
        assert_eq!(errors["timeout"].count, 2);
        assert_eq!(errors["timeout"].first, "first");
        let summary = latency_summary(&stats.move_latency.merged());
        assert_eq!(summary["count"], 1);
        assert_eq!(summary["p99"], 1.5);
    }

    #[test]
    fn the_table_flattens_and_the_json_keeps_order() {
        let mut report = Report::new("matches");
        report.set("latency_ms", json!({"p50": 1.0, "p99": 2.5}));
        report.set("empty", Value::Null);
        assert_eq!(
            report.json_line(),
            r#"{"scenario":"matches","latency_ms":{"p50":1.0,"p99":2.5},"empty":null}"#
        );
        let table = report.table();
        assert!(table.contains("latency_ms.p99  2.5"), "{table}");
        assert!(table.contains("empty           n/a"), "{table}");
    }
}
