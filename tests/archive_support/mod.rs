//! Helpers for tests/archive.rs: a PostgreSQL database per test, a SQLite file per test, a TCP
//! proxy that can cut the database off, and game records to archive.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use gamehall::archive::{
    run_migrations, ArchiveStore, ArchivedAction, ArchivedEvent, ArchivedPlayer, ArchivedPrivate,
    DatabaseUrl, GameRecord,
};
use gamehall::game::Outcome;
use serde_json::json;
use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Short, so that an outage costs the tests little time.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);

// ---------------------------------------------------------------------------------------------
// Databases

/// A database for one test: PostgreSQL (created, and dropped even after a panic) or a SQLite
/// file in a temporary directory.
pub enum TestDb {
    Postgres(TestPgDb),
    Sqlite(tempfile::TempDir),
}

impl TestDb {
    /// A fresh, migrated PostgreSQL database. Panics (failing the test) if the server cannot
    /// be reached: these tests never skip.
    pub fn postgres() -> Self {
        let db = Self::Postgres(TestPgDb::create());
        run_migrations(&db.url()).expect("migrate the test database");
        db
    }

    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let db = Self::Sqlite(dir);
        run_migrations(&db.url()).expect("migrate the test database");
        db
    }

    pub fn url(&self) -> DatabaseUrl {
        let text = match self {
            Self::Postgres(db) => db.url.clone(),
            Self::Sqlite(dir) => format!("sqlite://{}", dir.path().join("archive.db").display()),
        };
        DatabaseUrl::parse(&text).expect("test database URL parses")
    }

    pub fn store(&self) -> ArchiveStore {
        ArchiveStore::connect(&self.url(), 4, CONNECT_TIMEOUT).expect("set up the pool")
    }
}

#[path = "../support/pg.rs"]
mod pg;
pub use pg::{pg_server_addr, TestPgDb};

// ---------------------------------------------------------------------------------------------
// An outage on demand

/// A TCP proxy in front of PostgreSQL, on its own runtime thread. [`ChaosProxy::cut`] drops
/// every proxied connection and closes new ones at once (the database is "down");
/// [`ChaosProxy::restore`] lets connections through again.
pub struct ChaosProxy {
    port: u16,
    cut: watch::Sender<bool>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl ChaosProxy {
    pub fn start(upstream: SocketAddr) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy's port");
        listener
            .set_nonblocking(true)
            .expect("make the proxy's listener non-blocking");
        let port = listener
            .local_addr()
            .expect("the proxy's local address")
            .port();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("start the proxy's runtime");
        let (cut, cut_rx) = watch::channel(false);
        runtime.spawn(accept(listener, upstream, cut_rx));
        Self {
            port,
            cut,
            runtime: Some(runtime),
        }
    }

    /// `127.0.0.1:PORT`, to put in a database URL.
    pub fn server(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    pub fn restore(&self) {
        self.cut.send_replace(false);
    }
}

impl Drop for ChaosProxy {
    fn drop(&mut self) {
        // Not a plain drop: the tests run inside actix's runtime, where blocking on another
        // runtime's shutdown panics.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn accept(listener: std::net::TcpListener, upstream: SocketAddr, cut: watch::Receiver<bool>) {
    let Ok(listener) = TcpListener::from_std(listener) else {
        return;
    };
    loop {
        let Ok((inbound, _)) = listener.accept().await else {
            continue;
        };
        if *cut.borrow() {
            // The database is "down": close at once.
            drop(inbound);
            continue;
        }
        let mut cut = cut.clone();
        tokio::spawn(async move {
            let mut inbound = inbound;
            let Ok(mut outbound) = TcpStream::connect(upstream).await else {
                return;
            };
            tokio::select! {
                _ = copy_bidirectional(&mut inbound, &mut outbound) => {}
                _ = cut.wait_for(|cut| *cut) => {}
            }
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Records

/// Now, at the microsecond precision the archive keeps.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// A finished two-player game with `events` events, completed at `completed_at`. `n` varies
/// everything else (players, winner, seed, which events carry private data).
pub fn game(n: usize, completed_at: DateTime<Utc>, events: usize) -> GameRecord {
    let started_at = completed_at - TimeDelta::seconds(42) - TimeDelta::microseconds(n as i64);
    let players = vec![
        ArchivedPlayer {
            seat: 0,
            player_id: format!("p-{n}-a"),
            name: format!("Ada {n}"),
        },
        ArchivedPlayer {
            seat: 1,
            player_id: format!("p-{n}-b"),
            name: format!("Bob ü {n}"),
        },
    ];
    let outcome = match n % 3 {
        0 => Outcome::win(1),
        1 => Outcome::draw(),
        _ => Outcome {
            scores: Some(vec![3, -1]),
            ..Outcome::win(0)
        },
    };
    let events = (1..=events)
        .map(|seq| ArchivedEvent {
            seq: seq as u64,
            kind: if seq == 1 { "started" } else { "move" }.to_owned(),
            data: json!({"cell": seq % 9, "by": seq % 2, "note": format!("e{seq}")}).into(),
            private: (seq % 4 == 0).then(|| ArchivedPrivate {
                seat: 1,
                data: json!({"hand": [seq, 1.5, null, true]}).into(),
            }),
            action: (seq > 1).then(|| ArchivedAction {
                seat: (seq % 2) as u8,
                action: json!({"cell": seq % 9}).into(),
            }),
            // Some events carry a tick number and queued inputs, as a real-time game's do.
            tick: (seq % 5 == 0).then_some(seq as u64 / 5),
            inputs: if seq % 3 == 0 {
                vec![ArchivedAction {
                    seat: 0,
                    action: json!({"dir": "up", "at": seq}).into(),
                }]
            } else {
                Vec::new()
            },
            at: started_at + TimeDelta::microseconds(seq as i64 * 1_001),
        })
        .collect();
    GameRecord {
        game_id: uuid::Uuid::new_v4().to_string(),
        room_id: format!("r-{n}"),
        game_kind: "tictactoe".to_owned(),
        seed: u64::MAX - n as u64,
        options: json!({"size": 3, "variant": "classic"}).into(),
        players,
        outcome,
        final_state: json!({"board": "XOX.O.X..", "turn": n % 2}).into(),
        started_at,
        completed_at,
        events,
        events_truncated: false,
    }
}

/// `count` nine-event games completed a millisecond apart, newest last.
pub fn games(count: usize) -> Vec<GameRecord> {
    let base = now() - TimeDelta::hours(1);
    (0..count)
        .map(|n| game(n, base + TimeDelta::milliseconds(n as i64), 9))
        .collect()
}

/// The spool file's non-empty lines.
pub fn spool_lines(dir: &Path) -> Vec<String> {
    let path: PathBuf = dir.join(gamehall::archive::spool::SPOOL_FILE);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// Polls `condition` until it holds, failing the test after `timeout`.
pub async fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !condition() {
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting until {what}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A logger for tests: silent unless `TEST_LOG` is set.
pub fn logger() -> slog::Logger {
    if std::env::var_os("TEST_LOG").is_some() {
        gamehall::telemetry::build_logger(
            gamehall::config::LogFormat::Text,
            gamehall::config::LogLevel::Debug,
            std::io::stderr(),
        )
    } else {
        gamehall::telemetry::discard()
    }
}
