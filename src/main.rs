use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gamehall::affinity::keep_process_off;
use gamehall::archive::retention::prune_older_than;
use gamehall::archive::{run_migrations, ArchiveStore, DatabaseUrl, GameQuery, StoreError};
use gamehall::config::Settings;
use gamehall::game::GameCatalog;
use gamehall::{telemetry, Application};
use slog::{error, info, warn, Logger};

// jemalloc instead of glibc's malloc: a sixth less server CPU per message in the profile of
// docs/benchmarks.md ("Profile"), at the same memory per connection.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

// jemalloc's options, read when it starts (the form tikv-jemallocator documents): freed pages go
// back to the system after a second (dirty_decay_ms; muzzy_decay_ms:0 skips the lazy-free
// stage), and a background thread does it even while the server is idle and off the reactors.
// Without them jemalloc only purges when called, so RSS stayed near its high-water mark after a
// burst of connections had gone (docs/benchmarks.md, "churn").
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8] = b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

/// gamehall: a multiplayer game server. Players connect over WebSocket, join rooms and play;
/// spectators watch; finished games are archived.
///
/// Configuration comes from the embedded defaults, then CONFIG_DIR/{ENV}.toml, then environment
/// variables named after each setting in upper case (PORT, DATABASE_URL, JWT_SECRET, ...).
/// See docs/configuration.md.
#[derive(Parser)]
#[command(name = "gamehall", version)]
struct Cli {
    /// Folder holding {ENV}.toml overrides.
    #[arg(
        long,
        global = true,
        default_value = "config",
        env = "GAMEHALL_CONFIG_DIR"
    )]
    config_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: HTTP API, WebSocket endpoint and health checks on HOST:PORT. Applies
    /// pending archive migrations first unless --no-migrate is given or USE_GAME_ARCHIVAL=false
    /// (then DATABASE_URL is never opened).
    Serve {
        /// Do not run database migrations at start-up (when `gamehall migrate` already ran).
        #[arg(long)]
        no_migrate: bool,
    },
    /// Apply pending archive migrations to DATABASE_URL and exit. Safe to run repeatedly.
    Migrate,
    /// Re-run archived games from their seed and actions and check that each reaches its
    /// stored events, final state and outcome. Prints one JSON line per game; exits 1 if any
    /// game does not match.
    Replay {
        /// Game ids to replay.
        #[arg(required_unless_present = "all")]
        game_ids: Vec<String>,
        /// Replay every archived game instead (newest first).
        #[arg(long, conflicts_with = "game_ids")]
        all: bool,
    },
    /// Maintain the archive.
    Archive {
        #[command(subcommand)]
        command: ArchiveCommand,
    },
}

#[derive(Subcommand)]
enum ArchiveCommand {
    /// Delete archived games older than ARCHIVE_RETENTION_DAYS (or --older-than-days) and
    /// their events. The server also does this a few minutes after start-up, then once a day.
    Prune {
        /// Overrides ARCHIVE_RETENTION_DAYS for this run.
        #[arg(long)]
        older_than_days: Option<u32>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(&cli.config_dir, std::env::vars()) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("gamehall: {err}");
            return ExitCode::from(2);
        }
    };
    // Only `serve` has rooms to keep clear of the archive writers; the other commands write
    // from the calling thread. The process's threads leave the reserved CPUs before the
    // server starts its own, so that those inherit it (the writers pin themselves there).
    let reserves_cpus =
        matches!(cli.command, Command::Serve { .. }) && !settings.archive_writer_cpus.is_empty();
    let other_threads_cpus = if reserves_cpus && settings.use_game_archival {
        match keep_process_off(&settings.archive_writer_cpus) {
            Ok(cpus) => Some(cpus),
            Err(err) => {
                eprintln!("gamehall: {err}");
                return ExitCode::from(2);
            }
        }
    } else {
        None
    };
    let log = telemetry::build_logger(
        settings.log_format,
        settings.log_level,
        WholeLines::default(),
    );
    telemetry::warn_ignored_variables(&log, &settings);
    if let Some(cpus) = other_threads_cpus {
        info!(log, "archive writers run on their own CPUs";
              "archive_writer_cpus" => %settings.archive_writer_cpus, "other_threads_cpus" => %cpus);
    } else if reserves_cpus {
        warn!(
            log,
            "ARCHIVE_WRITER_CPUS is ignored: archival is off (USE_GAME_ARCHIVAL=false), so \
             there are no writers; every thread runs on every CPU"
        );
    }
    let result = match cli.command {
        Command::Migrate => migrate(&settings, &log),
        Command::Replay { game_ids, all } => replay(&settings, game_ids, all),
        Command::Archive {
            command: ArchiveCommand::Prune { older_than_days },
        } => prune(&settings, older_than_days, &log),
        Command::Serve { no_migrate } => {
            // Without archival the server never opens DATABASE_URL, so migrating it would only
            // create a stray `gamehall.db`, or fail start-up on a database nobody uses.
            if no_migrate || !settings.use_game_archival {
                serve(settings, &log)
            } else {
                migrate(&settings, &log).and_then(|()| serve(settings, &log))
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // Our errors already name their cause in their message; `{:#}` would repeat it.
            error!(log, "gamehall stopped with an error"; "error" => %err);
            eprintln!("gamehall: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Standard output for log records, one whole line at a time. The log drain runs on its own
/// thread and writes a record in many small pieces, while `replay` and `archive prune` print
/// their results on standard output too: a result printed between two pieces would land inside
/// a log line and break both for whoever parses them. So pieces wait here until their line is
/// complete, and the line goes out under one lock of stdout, as `println!` does.
#[derive(Default)]
struct WholeLines {
    pending: Vec<u8>,
}

impl Write for WholeLines {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if let Some(end) = self.pending.iter().rposition(|&b| b == b'\n') {
            // Taken out first: after a failed write (stdout closed) the lines are dropped, not
            // kept to grow forever.
            let lines: Vec<u8> = self.pending.drain(..=end).collect();
            io::stdout().lock().write_all(&lines)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut out = io::stdout().lock();
        out.write_all(&std::mem::take(&mut self.pending))?;
        out.flush()
    }
}

fn migrate(settings: &Settings, log: &Logger) -> anyhow::Result<()> {
    let url = DatabaseUrl::parse(&settings.database_url)?;
    let applied = run_migrations(&url)?;
    info!(log, "migrations up to date"; "applied_now" => applied.len(), "versions" => applied.join(","));
    Ok(())
}

fn open_store(settings: &Settings) -> anyhow::Result<ArchiveStore> {
    let url = DatabaseUrl::parse(&settings.database_url)?;
    Ok(ArchiveStore::connect(
        &url,
        settings.database_pool_max,
        settings.health_check_timeout(),
    )?)
}

fn replay(settings: &Settings, game_ids: Vec<String>, all: bool) -> anyhow::Result<()> {
    let store = open_store(settings)?;
    let catalog = GameCatalog::standard();
    let ids = if all {
        let mut ids = Vec::new();
        let mut query = GameQuery {
            limit: GameQuery::MAX_LIMIT,
            ..GameQuery::default()
        };
        loop {
            let page = store.list_games(&query)?;
            ids.extend(page.games.into_iter().map(|g| g.game_id));
            match page.next {
                Some(next) => query.before = Some(next),
                None => break,
            }
        }
        ids
    } else {
        game_ids
    };
    let (mut matched, mut failed) = (0usize, 0usize);
    for id in &ids {
        let line = match store.load_record(id) {
            Ok(None) => {
                failed += 1;
                serde_json::json!({"game_id": id, "ok": false, "error": "no such archived game"})
            }
            // A game of an adopted archive has nothing to replay; the others still do.
            Err(err @ StoreError::Adopted { .. }) => {
                failed += 1;
                serde_json::json!({"game_id": id, "ok": false, "error": err.to_string()})
            }
            Err(err) => return Err(err.into()),
            Ok(Some(record)) => match gamehall::archive::replay(&record, &catalog) {
                Ok(report) => {
                    matched += 1;
                    serde_json::json!({"game_id": id, "ok": true, "actions": report.actions,
                        "ticks": report.ticks, "timeouts": report.timeouts,
                        "events_checked": report.events_checked})
                }
                Err(err) => {
                    failed += 1;
                    serde_json::json!({"game_id": id, "ok": false, "error": err.to_string()})
                }
            },
        };
        println!("{line}");
    }
    println!(
        "{}",
        serde_json::json!({"replayed": ids.len(), "matched": matched, "failed": failed})
    );
    if failed > 0 {
        anyhow::bail!("{failed} of {} archived games did not replay", ids.len());
    }
    Ok(())
}

fn prune(settings: &Settings, older_than_days: Option<u32>, log: &Logger) -> anyhow::Result<()> {
    let days = older_than_days.unwrap_or(settings.archive_retention_days);
    if days == 0 {
        info!(
            log,
            "retention is 0 days: archived games are kept forever; nothing pruned"
        );
        println!("{}", serde_json::json!({"deleted": 0, "retention_days": 0}));
        return Ok(());
    }
    let store = open_store(settings)?;
    let deleted = prune_older_than(&store, chrono::Duration::days(i64::from(days)))?;
    info!(log, "archive pruned"; "deleted_games" => deleted, "retention_days" => days);
    println!(
        "{}",
        serde_json::json!({"deleted": deleted, "retention_days": days})
    );
    Ok(())
}

fn serve(settings: Settings, log: &Logger) -> anyhow::Result<()> {
    gamehall::allocator::report_jemalloc();
    let log = log.clone();
    actix_rt::System::new().block_on(async move {
        let app = Application::build(settings, GameCatalog::standard(), log.clone())?;
        let shutdown = app.shutdown();
        actix_rt::spawn(async move {
            let signal = termination_signal().await;
            info!(log, "signal received; shutting down gracefully"; "signal" => signal);
            shutdown.run().await;
        });
        app.run_until_stopped().await?;
        Ok(())
    })
}

/// Resolves on the first SIGTERM (what container runtimes send) or SIGINT (Ctrl-C).
async fn termination_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = tokio::signal::ctrl_c() => "SIGINT",
        },
        // Without a SIGTERM handler (never expected on Unix) Ctrl-C still works.
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}
