use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gamehall::archive::retention::prune_older_than;
use gamehall::archive::{run_migrations, ArchiveStore, DatabaseUrl, GameQuery};
use gamehall::config::Settings;
use gamehall::game::GameCatalog;
use gamehall::{telemetry, Application};
use slog::{error, info, Logger};

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
    /// pending archive migrations first unless --no-migrate is given.
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
    /// their events. The server also does this once a day.
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
    let log = telemetry::build_logger(settings.log_format, settings.log_level, std::io::stdout());
    let result = match cli.command {
        Command::Migrate => migrate(&settings, &log),
        Command::Replay { game_ids, all } => replay(&settings, game_ids, all),
        Command::Archive {
            command: ArchiveCommand::Prune { older_than_days },
        } => prune(&settings, older_than_days, &log),
        Command::Serve { no_migrate } => {
            if no_migrate {
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
        let line = match store.load_record(id)? {
            None => {
                failed += 1;
                serde_json::json!({"game_id": id, "ok": false, "error": "no such archived game"})
            }
            Some(record) => match gamehall::archive::replay(&record, &catalog) {
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
