//! `archive`: how fast the archive stores finished games on PostgreSQL, set against the same rows
//! loaded by psql's raw `COPY` on the same machine; or on SQLite, the embedded default, where
//! there is no `COPY` to set it against and the figure to watch is the writer's CPU per game
//! (what archiving takes from the cores a server's rooms run on).
//!
//! It needs no gamehall server. It drives [`ArchiveStore::write_batch`], the call the
//! archiver's writer threads make: `writers` threads (as `ARCHIVE_WRITERS`), each with its own
//! connection, take batches one after another from a shared queue, into a database of its own
//! that it creates, migrates and drops. The games are real tic-tac-toe games played with
//! random legal moves; a log longer than tic-tac-toe ever gets (`--events 1000`) repeats the
//! game's own move events with fresh `seq`s, so every row has the shape a room writes.
//!
//! Then it exports the stored rows with psql `\copy … TO`, empties both tables, and times psql
//! `\copy … FROM` of those files in one transaction: the database doing nothing but taking the
//! same rows into the same tables with the same indexes. The ratio of the two rates is how much
//! of the database's own speed the archive gets.
//!
//! With `sqlite://PATH` the archive is written to PATH, which must not exist yet (the
//! benchmark will not write into someone's archive) and is removed afterwards with its WAL.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use gamehall::archive::pacing::{self, thread_cpu_time};
use gamehall::archive::{
    ArchiveStore, ArchivedAction, ArchivedEvent, ArchivedPlayer, DatabaseUrl, GameRecord, JsonText,
    StoreError,
};
use gamehall::game::{Game, GameCatalog, Outcome, Seat, Viewer};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use super::probe::MachineCpu;
use super::report::{latency_summary, per_second, round, Recorder, Report};
use super::target::{Target, TargetError};

/// The columns both loads fill; `id` and `archived_at` take their defaults either way.
const GAME_COLUMNS: &str = "game_id, room_id, game_kind, game_data, completed_at, \
                            game_duration_seconds, winner_name, final_scores, seed";
const EVENT_COLUMNS: &str = "game_id, seq, event_type, event_data, event_timestamp";

#[derive(Clone, Debug)]
pub struct ArchiveOptions {
    /// A PostgreSQL server and a database on it to connect to while creating the benchmark's own.
    pub admin_url: String,
    pub games: usize,
    /// Events in each game's log, its `started` event included.
    pub events: usize,
    pub batch_size: usize,
    /// Threads writing batches at once, each on its own connection.
    pub writers: usize,
    /// Each writer thread paced as the server's yielding writers are
    /// (`gamehall::archive::pacing`).
    pub paced: bool,
    /// The psql program for the raw `COPY` baseline.
    pub psql: PathBuf,
    pub seed: u64,
    /// Allow a PostgreSQL server that is not on this machine (`--allow-remote`).
    pub allow_remote: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveBenchError {
    #[error("--database-url must be a postgres:// URL or sqlite://PATH: {0}")]
    BadUrl(String),
    #[error("sqlite://{0}: the SQLite benchmark needs a file that does not exist yet (it writes a new one and removes it)")]
    SqliteFileTaken(String),
    #[error("--games, --events, --batch-size and --writers must each be at least 1 (--events at least 2)")]
    Empty,
    #[error("--database-url: {0}")]
    NotLocal(#[from] TargetError),
    #[error("cannot reach PostgreSQL: {0}")]
    Connect(#[from] diesel::ConnectionError),
    #[error("PostgreSQL refused `{statement}`: {source}")]
    Statement {
        statement: String,
        source: diesel::result::Error,
    },
    #[error("cannot set up tic-tac-toe: {0}")]
    Game(#[from] gamehall::game::OptionsError),
    #[error("the archive failed: {0}")]
    Store(#[from] StoreError),
    #[error("cannot migrate the benchmark database: {0}")]
    Migrate(#[from] gamehall::archive::ArchiveError),
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("psql failed ({status}): {stderr}")]
    Psql { status: String, stderr: String },
    #[error("cannot use the scratch folder {path}: {source}")]
    Scratch {
        path: String,
        source: std::io::Error,
    },
    #[error("{what}: expected {expected} rows, found {found}")]
    Count {
        what: &'static str,
        expected: u64,
        found: u64,
    },
}

/// Refuses a PostgreSQL URL naming a host that is not this machine, as `--addr` does: the
/// benchmark creates and drops a database and writes up to millions of games there. A host
/// that is a path (a Unix socket) is local; libpq's `?host=` counts as well as the URL's own.
fn check_local(postgres_url: &str) -> Result<(), ArchiveBenchError> {
    let url =
        url::Url::parse(postgres_url).map_err(|err| ArchiveBenchError::BadUrl(err.to_string()))?;
    let port = url.port().unwrap_or(5432);
    let hosts = url.host_str().into_iter().map(str::to_owned).chain(
        url.query_pairs()
            .filter(|(key, _)| key == "host" || key == "hostaddr")
            .map(|(_, value)| value.into_owned()),
    );
    for host in hosts {
        let socket_path =
            host.starts_with('/') || host.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("%2f"));
        if host.is_empty() || socket_path {
            continue;
        }
        Target::resolve(&format!("{host}:{port}"), false, 1)?;
    }
    Ok(())
}

/// Runs the whole comparison; the database it creates is dropped whatever happens.
pub fn run(options: &ArchiveOptions) -> Result<Report, ArchiveBenchError> {
    let url = DatabaseUrl::parse(&options.admin_url)
        .map_err(|err| ArchiveBenchError::BadUrl(err.to_string()))?;
    if options.games == 0 || options.events < 2 || options.batch_size == 0 || options.writers == 0 {
        return Err(ArchiveBenchError::Empty);
    }
    match url {
        DatabaseUrl::Postgres(_) => {
            if !options.allow_remote {
                check_local(&options.admin_url)?;
            }
            let database = ScratchDatabase::create(&options.admin_url)?;
            let scratch = ScratchDir::create()?;
            let database_url = DatabaseUrl::Postgres(database.url.clone());
            let mut report = Report::new("archive");
            let written = write_through_store(options, &database_url, &mut report)?;
            compare_with_copy(options, &database.url, &scratch.path, &written, &mut report)?;
            Ok(report)
        }
        DatabaseUrl::Sqlite(path) => {
            let file = ScratchSqlite::create(path)?;
            let mut report = Report::new("archive");
            write_through_store(
                options,
                &DatabaseUrl::Sqlite(file.path.clone()),
                &mut report,
            )?;
            Ok(report)
        }
    }
}

/// What [`write_through_store`] stored, for the `COPY` baseline to load again.
struct Written {
    games: u64,
    events: u64,
    seconds: f64,
}

/// Writes the generated games through [`ArchiveStore::write_batch`] and reports the rate and
/// the writers' CPU per game.
fn write_through_store(
    options: &ArchiveOptions,
    database_url: &DatabaseUrl,
    report: &mut Report,
) -> Result<Written, ArchiveBenchError> {
    gamehall::archive::run_migrations(database_url)?;
    let pool_size = u32::try_from(options.writers).unwrap_or(u32::MAX);
    let store = ArchiveStore::connect(database_url, pool_size, Duration::from_secs(10))?;
    // SQLite takes one writer at a time, as the archiver itself limits it.
    let writers = options.writers.min(store.parallel_writers());

    let records = generate(options)?;
    let events_total: u64 = records.iter().map(|r| r.events.len() as u64).sum();
    let json_bytes: usize = records
        .iter()
        .map(|r| serde_json::to_vec(r).map_or(0, |v| v.len()))
        .sum();

    // gamehall: the writers take the next batch as soon as they are done with theirs, as the
    // archiver's writer threads take them from their shared mailbox.
    let batches = Recorder::new();
    let chunks: Vec<&[GameRecord]> = records.chunks(options.batch_size).collect();
    let next = AtomicUsize::new(0);
    let machine_before = MachineCpu::read();
    let started = Instant::now();
    let (written, writer_cpu) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..writers)
            .map(|writer| {
                let (store, chunks, next, batches) = (&store, &chunks, &next, &batches);
                let paced = options.paced;
                scope.spawn(move || -> Result<(u64, Duration), StoreError> {
                    if paced {
                        pacing::pace_this_thread();
                    }
                    let cpu_before = thread_cpu_time();
                    let mut written = 0u64;
                    while let Some(batch) = chunks.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let at = Instant::now();
                        written += store.write_batch(batch)?.games as u64;
                        batches.record(writer, at.elapsed());
                    }
                    Ok((written, thread_cpu_time().saturating_sub(cpu_before)))
                })
            })
            .collect();
        let mut written = 0u64;
        let mut cpu = Duration::ZERO;
        for worker in workers {
            // A writer that panicked is a bug in the store: let it surface as one.
            let (games, used) = worker
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
            written += games;
            cpu += used;
        }
        Ok::<(u64, Duration), StoreError>((written, cpu))
    })?;
    let archive_seconds = started.elapsed().as_secs_f64();
    let machine = machine_before
        .zip(MachineCpu::read())
        .and_then(|(before, after)| after.since(&before));
    expect("games written", records.len() as u64, written)?;
    expect("games stored", records.len() as u64, store.count_games()?)?;
    expect("events stored", events_total, store.count_events()?)?;

    let games = records.len() as u64;
    let backend = match database_url {
        DatabaseUrl::Postgres(_) => "postgres",
        DatabaseUrl::Sqlite(_) => "sqlite",
    };
    report.set("backend", backend);
    report.set("games", games);
    report.set(
        "events_per_game",
        round(events_total as f64 / games as f64, 2),
    );
    report.set("events_total", events_total);
    report.set("batch_size", options.batch_size as u64);
    report.set("writers", writers as u64);
    report.set("paced", options.paced);
    report.set(
        "record_json_bytes_per_game",
        round(json_bytes as f64 / games as f64, 0),
    );
    report.set(
        "gamehall",
        json!({
            "seconds": round(archive_seconds, 3),
            "games_per_s": per_second(games, archive_seconds),
            "events_per_s": per_second(events_total, archive_seconds),
            "batch_ms": latency_summary(&batches.merged()),
            // The writer threads' own CPU (the database server's, on PostgreSQL, is not in it).
            "writer_cpu_us_per_game": round(writer_cpu.as_secs_f64() * 1e6 / games as f64, 1),
            // The whole machine meanwhile (the database server included), and the share of its
            // CPU the hypervisor took: as in every other scenario's `machine`.
            "machine": machine.map(|(busy, steal)| json!({
                "busy_pct": round(busy, 1),
                "steal_pct": round(steal, 1),
            })),
        }),
    );
    Ok(Written {
        games,
        events: events_total,
        seconds: archive_seconds,
    })
}

/// The same rows out to files, the tables emptied, and the files loaded by psql's raw `COPY`.
fn compare_with_copy(
    options: &ArchiveOptions,
    url: &str,
    scratch: &Path,
    written: &Written,
    report: &mut Report,
) -> Result<(), ArchiveBenchError> {
    let games_file = scratch.join("games.copy");
    let events_file = scratch.join("events.copy");
    psql(
        &options.psql,
        url,
        &format!(
            "\\copy archive.completed_games ({GAME_COLUMNS}) TO '{}'\n\
             \\copy archive.game_events ({EVENT_COLUMNS}) TO '{}'\n",
            games_file.display(),
            events_file.display()
        ),
    )?;
    let copy_bytes = file_size(&games_file)? + file_size(&events_file)?;
    let mut conn = PgConnection::establish(url)?;
    execute(
        &mut conn,
        "TRUNCATE archive.game_events, archive.completed_games",
    )?;
    execute(&mut conn, "CHECKPOINT")?;
    let started = Instant::now();
    psql(
        &options.psql,
        url,
        &format!(
            "BEGIN;\n\
             \\copy archive.completed_games ({GAME_COLUMNS}) FROM '{}'\n\
             \\copy archive.game_events ({EVENT_COLUMNS}) FROM '{}'\n\
             COMMIT;\n",
            games_file.display(),
            events_file.display()
        ),
    )?;
    let copy_seconds = started.elapsed().as_secs_f64();
    let store = ArchiveStore::connect(
        &DatabaseUrl::Postgres(url.to_owned()),
        1,
        Duration::from_secs(10),
    )?;
    expect("games loaded by COPY", written.games, store.count_games()?)?;
    expect(
        "events loaded by COPY",
        written.events,
        store.count_events()?,
    )?;

    let ratio = (written.seconds > 0.0).then(|| round(copy_seconds / written.seconds, 3));
    report.set(
        "raw_copy",
        json!({
            "seconds": round(copy_seconds, 3),
            "games_per_s": per_second(written.games, copy_seconds),
            "events_per_s": per_second(written.events, copy_seconds),
            "file_bytes": copy_bytes,
        }),
    );
    report.set("ratio_of_raw_copy", json!(ratio));
    Ok(())
}

fn expect(what: &'static str, expected: u64, found: u64) -> Result<(), ArchiveBenchError> {
    if expected == found {
        Ok(())
    } else {
        Err(ArchiveBenchError::Count {
            what,
            expected,
            found,
        })
    }
}

/// `games` finished games of `events` events each, reproducible from `seed`.
fn generate(options: &ArchiveOptions) -> Result<Vec<GameRecord>, ArchiveBenchError> {
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let kind = GameCatalog::standard().get("tictactoe")?;
    let config = kind.configure(&Value::Null)?;
    Ok((0..options.games)
        .map(|i| {
            // Tic-tac-toe logs have 6 to 10 events: look for one of the asked length first.
            let mut played = play_tictactoe(kind.setup(&config, 0), config.seats, &mut rng);
            for _ in 0..100 {
                if played.events.len() == options.events {
                    break;
                }
                played = play_tictactoe(kind.setup(&config, 0), config.seats, &mut rng);
            }
            record(i, played, options.events, options.seed)
        })
        .collect())
}

struct Played {
    events: Vec<(String, JsonText, Option<ArchivedAction>)>,
    outcome: Outcome,
    final_state: JsonText,
}

/// One game of tic-tac-toe with random legal moves, as a room logs it: `started`, then an
/// event per move with the move that caused it.
fn play_tictactoe(mut game: Box<dyn Game>, seats: Seat, rng: &mut ChaCha8Rng) -> Played {
    let mut events = vec![("started".to_owned(), JsonText::of(&json!({})), None)];
    let mut cells: Vec<u8> = (0..9).collect();
    cells.shuffle(rng);
    let mut seat: Seat = 0;
    for cell in cells {
        if game.outcome().is_some() {
            break;
        }
        let action = json!({ "cell": cell });
        if let Ok(produced) = game.apply(seat, &action) {
            for (j, event) in produced.into_iter().enumerate() {
                let cause = (j == 0).then(|| ArchivedAction {
                    seat,
                    action: JsonText::of(&action),
                });
                events.push((event.kind.into_owned(), JsonText::of(&event.data), cause));
            }
            seat = (seat + 1) % seats;
        }
    }
    Played {
        events,
        outcome: game
            .outcome()
            .unwrap_or_else(|| Outcome::forfeit(seats, vec![seat])),
        final_state: JsonText::of(&game.view(Viewer::Spectator)),
    }
}

/// The archive record of `played`, its log cut or stretched (by repeating its moves) to
/// exactly `events` events.
fn record(index: usize, played: Played, events: usize, seed: u64) -> GameRecord {
    let now = Utc::now();
    let moves = &played.events[1..];
    let log = (0..events)
        .map(|i| {
            let (kind, data, action) = match i {
                0 => &played.events[0],
                i => &moves[(i - 1) % moves.len()],
            };
            ArchivedEvent {
                seq: i as u64 + 1,
                kind: kind.clone(),
                data: data.clone(),
                private: None,
                action: action.clone(),
                tick: None,
                inputs: Vec::new(),
                at: now,
            }
        })
        .collect();
    GameRecord {
        // Ids as the server makes them: their order decides how much of the games' indexes a
        // batch touches.
        game_id: gamehall::ids::GameId::generate().to_string(),
        room_id: format!("bench{index:07}"),
        game_kind: "tictactoe".into(),
        seed: seed.wrapping_add(index as u64),
        options: JsonText::of(&json!({ "players": 2 })),
        players: (0..2)
            .map(|seat| ArchivedPlayer {
                seat,
                player_id: uuid::Uuid::new_v4().to_string(),
                name: format!("Player {index}-{seat}"),
            })
            .collect(),
        outcome: played.outcome,
        final_state: played.final_state,
        started_at: now - chrono::Duration::seconds(30),
        completed_at: now,
        events: log,
        events_truncated: false,
    }
}

fn psql(program: &Path, url: &str, script: &str) -> Result<(), ArchiveBenchError> {
    use std::io::Write;
    let mut child = Command::new(program)
        .args([url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|source| ArchiveBenchError::Spawn {
            program: program.display().to_string(),
            source,
        })?;
    let spawn_error = |source| ArchiveBenchError::Spawn {
        program: program.display().to_string(),
        source,
    };
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes()).map_err(spawn_error)?;
    }
    let output = child.wait_with_output().map_err(spawn_error)?;
    if output.status.success() {
        Ok(())
    } else {
        Err(ArchiveBenchError::Psql {
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

fn execute(conn: &mut PgConnection, statement: &str) -> Result<(), ArchiveBenchError> {
    conn.batch_execute(statement)
        .map_err(|source| ArchiveBenchError::Statement {
            statement: statement.to_owned(),
            source,
        })
}

fn file_size(path: &Path) -> Result<u64, ArchiveBenchError> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|source| ArchiveBenchError::Scratch {
            path: path.display().to_string(),
            source,
        })
}

/// A database of the benchmark's own on the server of `admin_url`, dropped on drop.
struct ScratchDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl ScratchDatabase {
    fn create(admin_url: &str) -> Result<Self, ArchiveBenchError> {
        let name = format!("gamehall_bench_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::establish(admin_url)?;
        execute(&mut admin, &format!(r#"CREATE DATABASE "{name}""#))?;
        Ok(Self {
            admin_url: admin_url.to_owned(),
            url: with_database(admin_url, &name),
            name,
        })
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let dropped = PgConnection::establish(&self.admin_url)
            .map_err(ArchiveBenchError::from)
            .and_then(|mut admin| {
                execute(
                    &mut admin,
                    &format!(r#"DROP DATABASE IF EXISTS "{}" WITH (FORCE)"#, self.name),
                )
            });
        if let Err(err) = dropped {
            eprintln!("gamehall-loadgen: could not drop {}: {err}", self.name);
        }
    }
}

/// The SQLite file the benchmark writes, which must not exist before; removed on drop with its
/// WAL and shared-memory files.
struct ScratchSqlite {
    path: String,
}

impl ScratchSqlite {
    fn create(path: String) -> Result<Self, ArchiveBenchError> {
        if path == ":memory:" || Path::new(&path).exists() {
            return Err(ArchiveBenchError::SqliteFileTaken(path));
        }
        Ok(Self { path })
    }
}

impl Drop for ScratchSqlite {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.path));
        }
    }
}

/// A folder for the COPY files, removed on drop.
struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    fn create() -> Result<Self, ArchiveBenchError> {
        let path = std::env::temp_dir().join(format!(
            "gamehall-bench-archive-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir(&path).map_err(|source| ArchiveBenchError::Scratch {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Self { path })
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// `url` with its database (the path) replaced by `database`; user, host and query kept.
fn with_database(url: &str, database: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (authority, tail) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash + 1..]),
        None => (rest, ""),
    };
    let query = tail.find('?').map_or("", |q| &tail[q..]);
    format!("{scheme}://{authority}/{database}{query}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_is_replaced_and_the_rest_kept() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "b"),
            "postgres://postgres@127.0.0.1:5432/b"
        );
        assert_eq!(
            with_database("postgresql://u:p@h/test?sslmode=disable", "b"),
            "postgresql://u:p@h/b?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "b"),
            "postgres://h:5432/b"
        );
    }

    #[test]
    fn only_a_database_on_this_machine_is_written_unless_allowed() {
        for local in [
            "postgres://postgres@127.0.0.1:5432/test",
            "postgresql://u:p@localhost/test",
            "postgres://[::1]:5433/test",
            "postgres:///test",
            "postgres://%2Fvar%2Frun%2Fpostgresql/test",
            "postgres:///test?host=/var/run/postgresql",
        ] {
            assert!(check_local(local).is_ok(), "{local}");
        }
        for remote in [
            "postgres://postgres@192.0.2.1:5432/test",
            "postgres:///test?host=192.0.2.1",
            "postgres://127.0.0.1/test?hostaddr=192.0.2.1",
        ] {
            match check_local(remote) {
                Err(ArchiveBenchError::NotLocal(TargetError::NotLoopback { .. })) => {}
                other => panic!("{remote}: {other:?}"),
            }
        }
        // The check runs before anything is created: the refusal names the flag that allows it.
        let options = ArchiveOptions {
            admin_url: "postgres://postgres@192.0.2.1:5432/test".into(),
            games: 1,
            events: 9,
            batch_size: 1,
            writers: 1,
            paced: false,
            psql: "psql".into(),
            seed: 1,
            allow_remote: false,
        };
        let refused = run(&options).err().expect("a remote database is refused");
        assert!(refused.to_string().contains("--allow-remote"), "{refused}");
    }

    #[test]
    fn generated_games_have_the_asked_length_and_replay() {
        let catalog = GameCatalog::standard();
        for events in [9, 1000] {
            let options = ArchiveOptions {
                admin_url: String::new(),
                games: 20,
                events,
                batch_size: 10,
                writers: 1,
                paced: false,
                psql: "psql".into(),
                seed: 1,
                allow_remote: false,
            };
            for record in generate(&options).unwrap() {
                assert_eq!(record.events.len(), events);
                let seqs: Vec<u64> = record.events.iter().map(|e| e.seq).collect();
                assert_eq!(seqs, (1..=events as u64).collect::<Vec<_>>());
                if events == 9 {
                    // A real game: its log replays to the outcome it records.
                    gamehall::archive::replay(&record, &catalog)
                        .unwrap_or_else(|e| panic!("{}: {e}", record.game_id));
                }
            }
        }
    }
}
