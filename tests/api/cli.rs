//! The `gamehall` binary itself: help, configuration errors, serving on embedded defaults and
//! with archival off, CPUs reserved for the archive writers, and `archive prune`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use gamehall::affinity::{this_threads_cpus, CpuList};
use gamehall::archive::{ArchiveStore, ArchivedPlayer, DatabaseUrl, GameRecord};
use gamehall::game::Outcome;

use crate::common::metric_sample;

const BIN: &str = env!("CARGO_BIN_EXE_gamehall");

/// `gamehall ARGS --help`, which must succeed.
fn help_of(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).arg("--help").output().unwrap();
    assert!(out.status.success(), "{args:?} --help failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn help_explains_every_command() {
    let commands: [(&[&str], &[&str]); 6] = [
        (
            &[],
            &["serve", "migrate", "replay", "archive", "--config-dir"],
        ),
        (&["serve"], &["--no-migrate", "USE_GAME_ARCHIVAL"]),
        (&["migrate"], &["DATABASE_URL"]),
        (&["replay"], &["GAME_IDS", "--all"]),
        (&["archive"], &["prune"]),
        (
            &["archive", "prune"],
            &["--older-than-days", "ARCHIVE_RETENTION_DAYS"],
        ),
    ];
    for (args, words) in commands {
        let help = help_of(args);
        for word in words {
            assert!(help.contains(word), "{args:?} --help lacks {word}:\n{help}");
        }
    }
}

#[test]
fn a_bad_variable_stops_start_up_with_one_line_naming_it() {
    for (var, value) in [
        ("PORT", "eighty"),
        ("MAX_ACTIVE_GAMES", "lots"),
        ("LOG_FORMAT", "xml"),
        ("ENV", "staging"),
        ("DATABASE_URL", "mysql://u:secret@db/x"),
        ("ARCHIVE_WRITER_CPUS", "3-1"),
    ] {
        let stderr = refused_start_up(var, value);
        assert!(stderr.contains(var), "{stderr}");
        assert!(!stderr.contains("secret"), "a password leaked: {stderr}");
    }
    assert!(refused_start_up("ENV", "production").contains("JWT_SECRET"));
}

/// `gamehall serve` with `var=value`, which must stop start-up with exit status 2 and one
/// line on standard error; returns that line.
fn refused_start_up(var: &str, value: &str) -> String {
    let out = Command::new(BIN)
        .arg("serve")
        .env(var, value)
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{var}={value}: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    stderr
}

#[test]
fn serve_runs_on_embedded_defaults_from_any_directory() {
    let dir = std::env::temp_dir().join(format!("gamehall-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let mut child = Command::new(BIN)
        .arg("serve")
        .env("PORT", port.to_string())
        .env("LOG_FORMAT", "json")
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let live = loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(mut stream) => {
                use std::io::{Read, Write};
                stream
                    .write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    .unwrap();
                let mut response = String::new();
                let _ = stream.read_to_string(&mut response);
                break response;
            }
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(err) => panic!("server never listened: {err}"),
        }
    };
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    assert!(live.starts_with("HTTP/1.1 200"), "{live}");
    assert!(live.contains(r#""status":"healthy""#), "{live}");
    // The default SQLite archive was created and migrated in the working directory.
    assert!(dir.join("gamehall.db").exists());
    // Every log line is one JSON object.
    let logs = String::from_utf8_lossy(&output.stdout);
    assert!(logs.lines().count() >= 2, "{logs}");
    for line in logs.lines() {
        let record: serde_json::Value = serde_json::from_str(line).expect("a JSON log line");
        assert!(
            record["msg"].is_string() && record["level"].is_string(),
            "{line}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_taken_port_stops_start_up_with_one_clear_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = Command::new(BIN)
        .args(["serve", "--no-migrate"])
        .env("PORT", port.to_string())
        .env("LOG_FORMAT", "json")
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // The same failure is one JSON log line on stdout, for the log pipeline.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let logged: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("every log line is JSON"))
        .collect();
    assert!(
        logged.iter().any(|l| l["level"] == "ERRO"
            && l["error"]
                .as_str()
                .is_some_and(|e| e.contains("cannot listen"))),
        "{stdout}"
    );
}

/// A tic-tac-toe room on the server `client` talks to, with guests X and O joined as its
/// players, in seat order.
async fn seated_tictactoe(
    client: &gamehall::client::GamehallClient,
) -> (
    gamehall::protocol::RoomSummary,
    Vec<gamehall::client::Connection>,
) {
    let host = client.guest("host").await.unwrap();
    let room = client
        .create_room(&host.token, "tictactoe", serde_json::Value::Null)
        .await
        .unwrap();
    let mut pair = Vec::new();
    for name in ["X", "O"] {
        let token = client.guest(name).await.unwrap();
        let mut conn = client.connect(&token.token).await.unwrap();
        conn.join(&room.id, gamehall::protocol::Role::Player)
            .await
            .unwrap();
        pair.push(conn);
    }
    (room, pair)
}

/// SIGTERM while a game is running: clients are told, the running game ends abandoned after the
/// drain time, every finished game is in the archive, and the process exits 0.
#[actix_rt::test]
async fn sigterm_during_play_drains_archives_and_exits_zero() {
    use gamehall::archive::{ArchiveStore, DatabaseUrl};
    use gamehall::client::tictactoe::Place;
    use gamehall::client::GamehallClient;
    use gamehall::game::{Outcome, OutcomeKind};
    use gamehall::protocol::ServerMsg;

    let dir = tempfile::tempdir().unwrap();
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let database = format!("sqlite://{}", dir.path().join("archive.db").display());
    let mut child = Command::new(BIN)
        .arg("serve")
        .env("PORT", port.to_string())
        .env("DATABASE_URL", &database)
        .env("ARCHIVE_SPOOL_DIR", dir.path().join("spool"))
        .env("ARCHIVE_FLUSH_INTERVAL", "3600")
        .env("SHUTDOWN_DRAIN_TIME", "1")
        .env("LOG_LEVEL", "warning")
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = GamehallClient::new(format!("http://127.0.0.1:{port}"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.guest("probe").await.is_err() {
        assert!(Instant::now() < deadline, "the server never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Two games: one played to the end, one left running.
    let mut players = Vec::new();
    let mut rooms = Vec::new();
    for _ in 0..2 {
        let (room, pair) = seated_tictactoe(&client).await;
        rooms.push(room);
        players.push(pair);
    }
    for (i, cell) in [0u8, 3, 1, 4, 2].into_iter().enumerate() {
        players[0][i % 2].act(Place { cell }).await.unwrap();
    }
    assert_eq!(players[0][0].game_over().await.unwrap(), Outcome::win(0));
    players[1][0].act(Place { cell: 4 }).await.unwrap();

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let notice = players[1][1]
        .wait_for(Duration::from_secs(10), |m| match m {
            ServerMsg::ServerShutdown { drain_ms } => Some(*drain_ms),
            _ => None,
        })
        .await
        .unwrap();
    assert_eq!(notice, 1000);
    let outcome = players[1][1].game_over().await.unwrap();
    assert_eq!(outcome.result, OutcomeKind::Abandoned);

    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the server did not exit");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        use std::io::Read;
        let _ = pipe.read_to_string(&mut stderr);
    }
    assert_eq!(status.code(), Some(0), "{stderr}");

    // Both games are in the archive: nothing was pending when the process exited.
    let store = ArchiveStore::connect(
        &DatabaseUrl::parse(&database).unwrap(),
        1,
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(store.count_games().unwrap(), 2);
    for room in &rooms {
        assert!(store
            .load_record(&room.game_id.to_string())
            .unwrap()
            .is_some());
    }
}

/// A `gamehall serve` child process, killed when the test ends, even by a failed assertion.
struct Served {
    child: Child,
    port: u16,
}

impl Served {
    /// Starts `gamehall serve` (migrations included, as in production) in `dir` with `vars`,
    /// and waits until `/health/ready` answers 200.
    fn until_ready(dir: &Path, vars: &[(&str, &str)]) -> Served {
        Served::until(dir, vars, "/health/ready")
    }

    /// The same, but waits only until `probe` answers 200.
    fn until(dir: &Path, vars: &[(&str, &str)], probe: &str) -> Served {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let mut command = Command::new(BIN);
        command
            .arg("serve")
            // Whatever the machine running the tests has set, the defaults are under test.
            .env_remove("DATABASE_URL")
            .env_remove("GAMEHALL_CONFIG_DIR")
            .env("PORT", port.to_string())
            .env("LOG_LEVEL", "warning")
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (name, value) in vars {
            command.env(name, value);
        }
        let mut served = Served {
            child: command.spawn().unwrap(),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some((200, _)) = served.get(probe) {
                return served;
            }
            if let Some(status) = served.child.try_wait().unwrap() {
                panic!("gamehall serve exited before it was ready: {status}");
            }
            assert!(Instant::now() < deadline, "never ready");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `GET path`: the status and body, or `None` while nothing listens.
    fn get(&self, path: &str) -> Option<(u16, String)> {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        let status = response.get(9..12)?.parse().ok()?;
        let (_, body) = response.split_once("\r\n\r\n")?;
        Some((status, body.to_owned()))
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One thread of a running process, as /proc shows it.
#[derive(Debug)]
struct ProcessThread {
    name: String,
    policy: i32,
    cpus: CpuList,
}

fn threads_of(pid: u32) -> Vec<ProcessThread> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap();
    tasks
        .filter_map(|task| {
            let dir = task.ok()?.path();
            // A thread may end between the listing and the reads.
            let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
            let status = std::fs::read_to_string(dir.join("status")).ok()?;
            // The fields after the name in parentheses start with the third, `state`; the
            // policy is the 41st.
            let (name, rest) = stat.split_once(" (")?.1.rsplit_once(") ")?;
            let policy = rest.split(' ').nth(41 - 3)?.parse().ok()?;
            let cpus = status
                .lines()
                .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))?
                .parse()
                .ok()?;
            Some(ProcessThread {
                name: name.to_owned(),
                policy,
                cpus,
            })
        })
        .collect()
}

#[actix_rt::test]
async fn reserved_cpus_run_the_archive_writers_and_nothing_else() {
    use gamehall::client::tictactoe::Place;
    use gamehall::client::GamehallClient;

    let allowed = this_threads_cpus().unwrap();
    let &last = allowed.cpus().last().unwrap();
    assert!(
        allowed.cpus().len() >= 2,
        "reserving a CPU for the writers needs two; this process may use {allowed}"
    );
    let reserved: CpuList = last.to_string().parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let served = Served::until_ready(
        dir.path(),
        &[("ARCHIVE_WRITER_CPUS", &reserved.to_string())],
    );
    // On SQLite: one yielding writer in SCHED_IDLE, and the catch-up writer. They pin
    // themselves as they start, on threads of their own.
    let deadline = Instant::now() + Duration::from_secs(10);
    let threads = loop {
        let threads = threads_of(served.child.id());
        if threads.iter().filter(|t| t.cpus == reserved).count() >= 2 {
            break threads;
        }
        assert!(Instant::now() < deadline, "no writers pinned: {threads:#?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let (writers, others): (Vec<_>, Vec<_>) = threads.iter().partition(|t| t.cpus == reserved);
    assert_eq!(writers.len(), 2, "{threads:#?}");
    let idle = writers
        .iter()
        .filter(|t| t.policy == libc::SCHED_IDLE)
        .count();
    assert_eq!(idle, 1, "{threads:#?}");
    // Every other thread (the log's, the reactors', the acceptor's, the runtime's) runs on
    // the CPUs left.
    assert!(others.len() >= 3, "{threads:#?}");
    for thread in &others {
        let name = &thread.name;
        assert_eq!(thread.cpus, allowed.without(&reserved), "thread {name}");
        assert_ne!(thread.policy, libc::SCHED_IDLE, "thread {name}");
    }
    // The pinned writer stores a game played to the end.
    let client = GamehallClient::new(format!("http://127.0.0.1:{}", served.port));
    let (room, mut pair) = seated_tictactoe(&client).await;
    for (i, cell) in [0u8, 3, 1, 4, 2].into_iter().enumerate() {
        pair[i % 2].act(Place { cell }).await.unwrap();
    }
    assert_eq!(pair[0].game_over().await.unwrap(), Outcome::win(0));
    let flushed = client
        .flush_archive("gamehall-development-admin-token")
        .await
        .unwrap();
    assert_eq!((flushed.flushed, flushed.pending), (1, 0), "{flushed:?}");
    let game = client.get_game(&room.game_id.to_string()).await.unwrap();
    assert_eq!(game.outcome, Outcome::win(0));
}

#[test]
fn with_archival_off_reserved_cpus_are_left_to_every_thread() {
    let allowed = this_threads_cpus().unwrap();
    let &last = allowed.cpus().last().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let served = Served::until_ready(
        dir.path(),
        &[
            ("USE_GAME_ARCHIVAL", "false"),
            ("ARCHIVE_WRITER_CPUS", &last.to_string()),
        ],
    );
    let threads = threads_of(served.child.id());
    assert!(threads.len() >= 3, "{threads:#?}");
    for thread in &threads {
        assert_eq!(thread.cpus, allowed, "thread {}", thread.name);
    }
}

#[test]
fn reserving_cpus_the_server_cannot_share_stops_start_up_with_one_line() {
    let allowed = this_threads_cpus().unwrap();
    let &last = allowed.cpus().last().unwrap();
    // Every CPU: none left for the reactors. One past the last this process may use: none
    // for the writers (CPU numbers beyond the machine's are as good as forbidden).
    for (reserved, says) in [
        (allowed.to_string(), "leaves no CPU"),
        ((last + 1).to_string(), "names no CPU"),
    ] {
        let stderr = refused_start_up("ARCHIVE_WRITER_CPUS", &reserved);
        assert!(stderr.contains("ARCHIVE_WRITER_CPUS"), "{stderr}");
        assert!(stderr.contains(says), "{reserved}: {stderr}");
    }
}

#[test]
fn with_archival_off_serve_starts_though_the_database_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    // Port 1 refuses connections: any attempt to migrate or connect would fail start-up.
    let served = Served::until_ready(
        dir.path(),
        &[
            ("USE_GAME_ARCHIVAL", "false"),
            ("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none"),
        ],
    );
    let (_, body) = served.get("/health/ready").unwrap();
    let ready: serde_json::Value = serde_json::from_str(&body).expect("readiness is JSON");
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["checks"]["database"]["status"], "disabled", "{ready}");
    // No gauge stuck at 0 to fire the database-down alert on a server that uses none.
    let (status, metrics) = served.get("/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(!metrics.contains("gamehall_database_up"), "{metrics}");
    assert!(metrics.contains("gamehall_connections"), "{metrics}");
}

#[test]
fn the_dependency_gauges_are_current_without_a_readiness_check() {
    // An install whose probes ask only /health/live, as the image's HEALTHCHECK does: nothing
    // asks for readiness, and the database gauge must still say the database answers.
    let dir = tempfile::tempdir().unwrap();
    let served = Served::until(dir.path(), &[("REDIS_URL", "")], "/health/live");
    let deadline = Instant::now() + Duration::from_secs(20);
    let metrics = loop {
        let (status, metrics) = served.get("/metrics").unwrap();
        assert_eq!(status, 200);
        if metrics.contains("gamehall_database_up 1") {
            break metrics;
        }
        assert!(Instant::now() < deadline, "{metrics}");
        std::thread::sleep(Duration::from_millis(50));
    };
    // Without a REDIS_URL nothing probes Redis: no gauge stuck at 0 to fire its alert.
    assert!(!metrics.contains("gamehall_redis_up"), "{metrics}");
}

#[test]
fn the_server_binary_exports_what_its_allocator_holds() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::until_ready(dir.path(), &[("USE_GAME_ARCHIVAL", "false")]);
    let (status, metrics) = served.get("/metrics").unwrap();
    assert_eq!(status, 200);
    // An absent sample reads as 0, which the first assertion below refuses.
    let read = |name: &str| metric_sample(&metrics, name);
    let allocated = read("gamehall_allocator_allocated_bytes");
    let active = read("gamehall_allocator_active_bytes");
    let resident = read("gamehall_allocator_resident_bytes");
    let rss = read("gamehall_process_resident_memory_bytes");
    // A running server has live data, in pages that are resident, within its RSS.
    assert!(allocated > 0.0, "{allocated}");
    assert!(
        allocated <= active && active <= resident && resident <= rss,
        "allocated {allocated}, active {active}, resident {resident}, RSS {rss}"
    );
    // Its bookkeeping and its freed pages are parts of what it holds resident; a jemalloc
    // that has started has bookkeeping. The dirty gauge must be exported (its absence would
    // read as 0 and pass the bound), so it is looked for by name.
    let metadata = read("gamehall_allocator_metadata_bytes");
    let dirty = read("gamehall_allocator_dirty_bytes");
    assert!(
        metrics.contains("\ngamehall_allocator_dirty_bytes "),
        "no dirty-pages gauge"
    );
    assert!(
        metadata > 0.0 && metadata <= resident && dirty <= resident,
        "metadata {metadata}, dirty {dirty}, resident {resident}"
    );
}

#[test]
fn with_archival_off_serve_creates_no_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::until_ready(dir.path(), &[("USE_GAME_ARCHIVAL", "false")]);
    let (status, _) = served.get("/health/ready").unwrap();
    assert_eq!(status, 200);
    drop(served);
    let created: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    // Not the default `gamehall.db` (nor its -wal/-shm files), nor a spool folder.
    assert!(created.is_empty(), "created {created:?}");
}

/// A finished game of one player, completed at `completed_at`.
fn finished_game(completed_at: DateTime<Utc>) -> GameRecord {
    GameRecord {
        game_id: uuid::Uuid::new_v4().to_string(),
        room_id: "r-cli".into(),
        game_kind: "tictactoe".into(),
        seed: 1,
        options: serde_json::json!({}).into(),
        players: vec![ArchivedPlayer {
            seat: 0,
            player_id: "p-cli".into(),
            name: "Ada".into(),
        }],
        outcome: Outcome::win(0),
        final_state: serde_json::json!({}).into(),
        started_at: completed_at - TimeDelta::seconds(30),
        completed_at,
        events: Vec::new(),
        events_truncated: false,
    }
}

#[test]
fn archive_prune_deletes_only_games_older_than_asked_and_says_how_many() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("archive.db").display());
    let url = DatabaseUrl::parse(&database).unwrap();
    let store = ArchiveStore::connect(&url, 1, Duration::from_secs(5)).unwrap();
    store.migrate().unwrap();
    let old = finished_game(Utc::now() - TimeDelta::days(45));
    let new = finished_game(Utc::now() - TimeDelta::days(2));
    store.write_batch(&[old.clone(), new.clone()]).unwrap();

    let prune = || {
        let out = Command::new(BIN)
            .args(["archive", "prune", "--older-than-days", "30"])
            .env("DATABASE_URL", &database)
            .env("LOG_FORMAT", "json")
            .current_dir(dir.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{stdout}");
        // Log lines share stdout; the result is the line that is not a log record.
        stdout
            .lines()
            .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("JSON lines"))
            .find(|line| line.get("msg").is_none())
            .unwrap_or_else(|| panic!("no result line in {stdout}"))
    };
    assert_eq!(
        prune(),
        serde_json::json!({"deleted": 1, "retention_days": 30})
    );
    assert_eq!(store.count_games().unwrap(), 1);
    assert_eq!(store.load_record(&old.game_id).unwrap(), None);
    assert!(store.load_record(&new.game_id).unwrap().is_some());
    // Nothing is left to prune the second time.
    assert_eq!(
        prune(),
        serde_json::json!({"deleted": 0, "retention_days": 30})
    );
    assert_eq!(store.count_games().unwrap(), 1);
}
