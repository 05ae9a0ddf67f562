//! `gamehall-loadgen` against a real `gamehall serve`: every scenario runs for a few seconds
//! with a handful of connections, and its JSON summary must show work done, latencies measured
//! and no error. These keep the tool from rotting; they assert nothing about speed.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const SERVER: &str = env!("CARGO_BIN_EXE_gamehall");
const LOADGEN: &str = env!("CARGO_BIN_EXE_gamehall-loadgen");

/// A `gamehall serve` child on a free port, killed on drop.
struct Server {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let mut child = Command::new(SERVER)
            .arg("serve")
            .current_dir(dir.path())
            .envs([
                ("ENV", "test"),
                ("PORT", "0"),
                ("LOG_FORMAT", "json"),
                ("LOG_LEVEL", "info"),
                ("DATABASE_URL", "sqlite::memory:"),
                ("HTTP_WORKERS", "1"),
                ("ROOM_WORKERS", "1"),
                ("COLOCATE_TURN_BASED_ROOMS", "false"),
                ("RATE_LIMIT_WEBSOCKET_PER_SECOND", "10000"),
                ("RATE_LIMIT_PER_PLAYER_PER_MINUTE", "10000000"),
                ("RATE_LIMIT_PER_ROOM_PER_SECOND", "100000"),
                ("GC_COMPLETED_GAMES_AFTER", "0"),
                ("RECONNECT_GRACE", "1"),
            ])
            .env("ARCHIVE_SPOOL_DIR", dir.path().join("spool"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("gamehall starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        // Reads the port from the "gamehall listening" line, then keeps draining the log so
        // the server never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let Ok(record) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if record["msg"] == "gamehall listening" {
                    let _ = port_tx.send(record["port"].as_u64());
                }
            }
        });
        let port = port_rx
            .recv_timeout(Duration::from_secs(60))
            .ok()
            .flatten()
            .expect("the server logs its port") as u16;
        Server {
            child,
            port,
            _dir: dir,
        }
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Runs the load generator against this server; returns its JSON summary.
    fn load(&self, args: &[&str]) -> Value {
        let started = Instant::now();
        let out = Command::new(LOADGEN)
            .args(["--addr", &self.addr(), "--timeout", "20"])
            // A short look at how late the machine wakes threads, to keep the tests short.
            .args(["--wakeup-check", "0.2"])
            .args(args)
            .output()
            .expect("the load generator runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{args:?} failed after {:?}:\n{stderr}\n{stdout}",
            started.elapsed()
        );
        let line = stdout.lines().last().expect("a JSON summary on stdout");
        let summary: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(summary["errors_total"], 0, "errors: {stderr}");
        assert!(
            stderr.contains("errors_total"),
            "the table goes to stderr: {stderr}"
        );
        assert_eq!(
            summary["setup"]["server_pid"].as_u64(),
            Some(u64::from(self.child.id())),
            "the server's PID is found from its listening socket"
        );
        let wakeups = &summary["setup"]["wakeup_late_ms_before"];
        assert!(wakeups["count"].as_u64() > Some(0), "{wakeups}");
        assert!(
            wakeups["p99"].as_f64() <= wakeups["max"].as_f64(),
            "{wakeups}"
        );
        summary
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn number(summary: &Value, pointer: &str) -> f64 {
    summary
        .pointer(pointer)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("{pointer} is not a number in {summary}"))
}

fn assert_latency(summary: &Value, key: &str) {
    for q in ["p50", "p95", "p99", "max"] {
        let value = number(summary, &format!("/{key}/{q}"));
        assert!(value > 0.0, "{key}.{q} = {value}");
    }
    assert!(number(summary, &format!("/{key}/count")) > 0.0);
}

#[test]
fn matches_play_games_to_the_end_and_time_every_move() {
    let server = Server::start();
    let summary = server.load(&[
        "matches",
        "--matches",
        "4",
        "--warmup",
        "0.5",
        "--duration",
        "2",
    ]);
    assert_eq!(summary["matches_connected"], 4);
    assert!(number(&summary, "/games") > 0.0, "{summary}");
    assert!(number(&summary, "/moves") >= number(&summary, "/games") * 5.0);
    assert_latency(&summary, "move_latency_ms");
    assert_latency(&summary, "broadcast_latency_ms");
    assert!(number(&summary, "/messages/server") > 0.0);
    assert!(number(&summary, "/server/cpu_s_per_1m_messages") > 0.0);
    // The server and the load generator kept the machine busy; stolen time is a share too.
    let busy = number(&summary, "/machine/busy_pct");
    let steal = number(&summary, "/machine/steal_pct");
    assert!(busy > 0.0 && busy <= 100.0, "{summary}");
    assert!((0.0..=100.0 - busy).contains(&steal), "{summary}");
}

#[test]
fn matches_at_a_fixed_rate_stay_near_it() {
    let server = Server::start();
    let summary = server.load(&[
        "matches",
        "--matches",
        "4",
        "--rate",
        "50",
        "--warmup",
        "0.5",
        "--duration",
        "2",
    ]);
    assert_eq!(summary["target_moves_per_s"], 50);
    let rate = number(&summary, "/moves_per_s");
    assert!(rate > 0.0 && rate <= 60.0, "paced at 50/s, got {rate}");
}

#[test]
fn idle_holds_connections_and_reads_the_servers_memory() {
    let server = Server::start();
    let summary = server.load(&[
        "idle",
        "--connections",
        "20",
        "--duration",
        "2",
        "--heartbeat",
        "0.5",
    ]);
    assert_eq!(summary["connections"], 20);
    assert_eq!(summary["connections_lost"], 0);
    assert_latency(&summary, "heartbeat_rtt_ms");
    assert_latency(&summary, "connect_join_latency_ms");
    assert!(number(&summary, "/server_rss_mb/connected") > 0.0);
    assert!(
        summary["server_rss_per_connection_kb"].is_number(),
        "{summary}"
    );
}

#[test]
fn churn_cycles_and_waits_for_the_server_to_let_go() {
    let server = Server::start();
    let summary = server.load(&[
        "churn",
        "--workers",
        "3",
        "--warmup",
        "1",
        "--duration",
        "2",
        "--settle",
        "20",
    ]);
    assert!(number(&summary, "/cycles") > 0.0, "{summary}");
    assert_latency(&summary, "move_latency_ms");
    assert!(number(&summary, "/server_rss_mb/after") > 0.0);
    assert_eq!(
        number(&summary, "/left_on_server/connections"),
        0.0,
        "{summary}"
    );
    assert_eq!(number(&summary, "/left_on_server/active_rooms"), 0.0);
    assert!(summary["rss_growth_vs_warm_pct"].is_number());
}

#[test]
fn realtime_rooms_tick_and_the_server_reports_their_ticks() {
    let server = Server::start();
    let summary = server.load(&[
        "realtime",
        "--rooms",
        "3",
        "--players",
        "2",
        "--tick-hz",
        "10",
        "--warmup",
        "0.5",
        "--duration",
        "2",
    ]);
    assert_eq!(summary["players_started"], 6, "{summary}");
    assert!(number(&summary, "/tick_frames_received") > 0.0);
    assert_latency(&summary, "tick_interval_ms");
    assert!(number(&summary, "/server_ticks/ticks") > 0.0, "{summary}");
    assert!(summary["server_ticks"]["overrun_fraction"].is_number());
    assert!(summary["server_ticks"]["duration_p99_at_most_ms"].is_number());
}

#[test]
fn a_remote_target_is_refused_without_the_flag() {
    let out = Command::new(LOADGEN)
        .args(["--addr", "192.0.2.1:8080", "matches", "--matches", "1"])
        .output()
        .expect("the load generator runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--allow-remote"), "{stderr}");
    // The same for the archive scenario's database, before anything is created on it.
    let out = Command::new(LOADGEN)
        .args([
            "archive",
            "--database-url",
            "postgres://postgres@192.0.2.1:5432/test",
        ])
        .output()
        .expect("the load generator runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--allow-remote"), "{stderr}");
}

#[test]
fn a_run_that_cannot_fit_the_open_file_limit_is_refused_up_front() {
    let out = Command::new(LOADGEN)
        .args(["idle", "--connections", "4000000000"])
        .output()
        .expect("the load generator runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("open files"), "{stderr}");
}

/// The PostgreSQL server the tests use (tests/run.sh exports it; the default is CI's).
fn pg_url() -> String {
    std::env::var("GAMEHALL_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Databases the archive benchmark left behind on the test server.
fn bench_databases() -> u64 {
    let out = Command::new("psql")
        .args([&pg_url(), "-X", "-tAc"])
        .arg("SELECT count(*) FROM pg_database WHERE datname LIKE 'gamehall\\_bench\\_%'")
        .output()
        .expect("psql runs (PostgreSQL must be reachable for these tests)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a count")
}

#[test]
fn archive_writes_games_and_loads_the_same_rows_by_copy() {
    let before = bench_databases();
    for (games, events) in [("300", "9"), ("20", "120")] {
        let out = Command::new(LOADGEN)
            .args(["archive", "--database-url", &pg_url()])
            .args(["--games", games, "--events", events, "--batch-size", "100"])
            .output()
            .expect("the load generator runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}\n{stdout}");
        let line = stdout.lines().last().expect("a JSON summary on stdout");
        let summary: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let games: f64 = games.parse().unwrap();
        let events: f64 = events.parse().unwrap();
        assert_eq!(number(&summary, "/games"), games);
        assert_eq!(number(&summary, "/events_per_game"), events);
        assert_eq!(number(&summary, "/events_total"), games * events);
        for rate in [
            "/gamehall/games_per_s",
            "/raw_copy/games_per_s",
            "/ratio_of_raw_copy",
        ] {
            assert!(number(&summary, rate) > 0.0, "{rate} in {summary}");
        }
        assert!(number(&summary, "/raw_copy/file_bytes") > 0.0);
        assert_eq!(summary["backend"], "postgres");
        assert!(number(&summary, "/gamehall/writer_cpu_us_per_game") > 0.0);
        assert_latency(&summary, "gamehall/batch_ms");
        assert!(
            number(&summary, "/gamehall/machine/busy_pct") > 0.0,
            "{summary}"
        );
        assert!(
            number(&summary, "/gamehall/machine/steal_pct") >= 0.0,
            "{summary}"
        );
    }
    assert_eq!(
        bench_databases(),
        before,
        "the benchmark drops its database"
    );
}

#[test]
fn archive_on_sqlite_writes_a_new_file_reports_the_writer_cpu_and_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.db");
    let url = format!("sqlite://{}", path.display());
    let out = Command::new(LOADGEN)
        .args(["archive", "--database-url", &url])
        .args(["--games", "250", "--batch-size", "100", "--writers", "2"])
        .output()
        .expect("the load generator runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}\n{stdout}");
    let line = stdout.lines().last().expect("a JSON summary on stdout");
    let summary: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(summary["backend"], "sqlite");
    assert_eq!(number(&summary, "/games"), 250.0);
    assert_eq!(number(&summary, "/events_total"), 250.0 * 9.0);
    // SQLite takes one writer at a time, as the archiver limits it.
    assert_eq!(number(&summary, "/writers"), 1.0);
    assert!(number(&summary, "/gamehall/games_per_s") > 0.0, "{summary}");
    assert!(
        number(&summary, "/gamehall/writer_cpu_us_per_game") > 0.0,
        "{summary}"
    );
    assert!(summary.get("raw_copy").is_none(), "{summary}");
    assert_latency(&summary, "gamehall/batch_ms");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "the benchmark removes its file: {left:?}");
}

#[test]
fn archive_refuses_an_existing_sqlite_file_an_in_memory_database_and_other_urls() {
    let dir = tempfile::tempdir().unwrap();
    let taken = dir.path().join("archive.db");
    std::fs::write(&taken, b"someone's archive").unwrap();
    let cases = [
        (
            format!("sqlite://{}", taken.display()),
            "does not exist yet",
        ),
        ("sqlite::memory:".to_owned(), "does not exist yet"),
        ("mysql://localhost/test".to_owned(), "postgres://"),
    ];
    for (url, says) in cases {
        let out = Command::new(LOADGEN)
            .args(["archive", "--database-url", &url])
            .output()
            .expect("the load generator runs");
        assert_eq!(out.status.code(), Some(1), "{url}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{url}: {stderr}");
    }
    assert_eq!(
        std::fs::read(&taken).unwrap(),
        b"someone's archive",
        "an existing file is left as it was"
    );
}
