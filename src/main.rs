use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gamehall::archive::{run_migrations, DatabaseUrl};
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

fn serve(settings: Settings, log: &Logger) -> anyhow::Result<()> {
    let log = log.clone();
    actix_rt::System::new().block_on(async move {
        let app = Application::build(settings, GameCatalog::standard(), log)?;
        app.run_until_stopped().await?;
        Ok(())
    })
}
