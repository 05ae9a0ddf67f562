//! `gamehall-loadgen`: loads a gamehall server the way players do, over the real protocol, and
//! measures it. See docs/benchmarks.md.

#[path = "../loadgen/mod.rs"]
mod loadgen;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde_json::json;

use loadgen::archive::ArchiveOptions;
use loadgen::churn::{ChurnOptions, Exit};
use loadgen::idle::IdleOptions;
use loadgen::lanes::{LaneThreads, Lanes};
use loadgen::matches::MatchesOptions;
use loadgen::realtime::RealtimeOptions;
use loadgen::report::Report;
use loadgen::run::Run;
use loadgen::table::TurnGame;
use loadgen::target::Target;

// jemalloc, as the server uses: the load generator shares the machine's cores with the server it
// measures, and in a profile of `matches --rate 20000` glibc's malloc and free were 8 % of its
// CPU (docs/benchmarks.md, "Profile").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Loads a gamehall server over its real HTTP API and WebSocket protocol and measures it.
///
/// Every run is bounded: a fixed number of connections, a measured window of --duration
/// seconds after set-up and warm-up, and a timeout on every answer. It only ever connects to
/// --addr (the archive scenario: --database-url), which must be on this machine unless
/// --allow-remote is given. The report goes to stderr as a table and to stdout as one line of
/// JSON.
#[derive(Parser)]
#[command(name = "gamehall-loadgen", version)]
struct Cli {
    /// The server, host:port.
    #[arg(long, global = true, default_value = "127.0.0.1:8080")]
    addr: String,
    /// Allow a target that is not a loopback address (only against servers you run).
    #[arg(long, global = true)]
    allow_remote: bool,
    /// The server's PID, for its memory and CPU time from /proc. Found from the listening
    /// socket when not given and the server runs on this machine.
    #[arg(long, global = true)]
    server_pid: Option<u32>,
    /// Seconds to wait for any one answer from the server before counting a timeout.
    #[arg(long, global = true, default_value_t = 10.0)]
    timeout: f64,
    /// Seed of every random choice (moves, heartbeat offsets, inputs).
    #[arg(long, global = true, default_value_t = 42)]
    seed: u64,
    /// Load threads (each a single-threaded runtime with its share of the connections); 0: one
    /// per core.
    #[arg(long, global = true, default_value_t = 0)]
    threads: usize,
    /// Loopback source addresses to spread connections over (127.0.0.1, .2, ...); 0: one per
    /// 20,000 connections.
    #[arg(long, global = true, default_value_t = 0)]
    sources: usize,
    /// Also write the JSON summary to this file.
    #[arg(long, global = true)]
    json: Option<PathBuf>,
    /// Seconds spent before the run measuring how late this machine wakes a sleeping thread
    /// (reported as setup.wakeup_late_ms_before); 0 skips it.
    #[arg(long, global = true, default_value_t = 2.0)]
    wakeup_check: f64,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// N concurrent matches played with random legal moves, over and over; move→broadcast
    /// latency, games/s, moves/s, errors by code.
    Matches(MatchesArgs),
    /// K players seated in rooms and kept alive with heartbeats; server memory per connection
    /// and heartbeat round trip.
    Idle(IdleArgs),
    /// R rooms of P players in the tick game (snake) at H Hz; tick duration, overruns, tick
    /// frames per second.
    Realtime(RealtimeArgs),
    /// Connect, join, play a few moves, disconnect, repeated; server memory after against
    /// before.
    Churn(ChurnArgs),
    /// The archive's write rate on PostgreSQL against psql's raw COPY of the same rows, or on
    /// SQLite (`--database-url sqlite://PATH`), and the writers' CPU per game. Needs no server:
    /// it writes through the archive store into a database it creates and drops.
    Archive(ArchiveArgs),
}

#[derive(Args)]
struct Window {
    /// Seconds of play before the measured window, not recorded.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Seconds of the measured window.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Longest set-up (tokens, rooms, connections), in seconds.
    #[arg(long, default_value_t = 300.0)]
    setup_timeout: f64,
}

#[derive(Args)]
struct MatchesArgs {
    /// Concurrent matches.
    #[arg(long, default_value_t = 100)]
    matches: usize,
    /// The game to play.
    #[arg(long, value_enum, default_value = "tictactoe")]
    game: TurnGame,
    /// Players per match (the game's default when not given).
    #[arg(long)]
    players: Option<u8>,
    /// Moves per second across all matches; unpaced (as fast as answers come) when not given.
    #[arg(long)]
    rate: Option<u64>,
    /// Stop once this many games were completed in the window.
    #[arg(long)]
    games: Option<u64>,
    #[command(flatten)]
    window: Window,
}

#[derive(Args)]
struct IdleArgs {
    /// Connections to open (rounded down to an even number: two players a room).
    #[arg(long, default_value_t = 1000)]
    connections: usize,
    /// Seconds to hold them.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds between two pings of one connection (the server drops a connection silent for
    /// 15 s).
    #[arg(long, default_value_t = 5.0)]
    heartbeat: f64,
    /// Connections being opened at once.
    #[arg(long, default_value_t = 256)]
    ramp_concurrency: usize,
    /// Longest set-up (tokens, rooms, connections), in seconds.
    #[arg(long, default_value_t = 600.0)]
    setup_timeout: f64,
}

#[derive(Args)]
struct RealtimeArgs {
    #[arg(long, default_value_t = 100)]
    rooms: usize,
    #[arg(long, default_value_t = 4)]
    players: u8,
    #[arg(long, default_value_t = 20)]
    tick_hz: u32,
    /// Inputs per second per player (random turns, exponentially spaced).
    #[arg(long, default_value_t = 2.0)]
    input_hz: f64,
    #[command(flatten)]
    window: Window,
}

#[derive(Args)]
struct ChurnArgs {
    /// Workers cycling at once (two connections each).
    #[arg(long, default_value_t = 50)]
    workers: usize,
    /// Moves played before disconnecting (fewer when the game ends first).
    #[arg(long, default_value_t = 3)]
    moves: u32,
    /// How a cycle ends.
    #[arg(long, value_enum, default_value = "mixed")]
    exit: Exit,
    /// Seconds of cycles before the measured ones (fills allocator pools and caches).
    #[arg(long, default_value_t = 5.0)]
    warmup: f64,
    /// Seconds of measured cycles.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Stop after this many measured cycles.
    #[arg(long)]
    cycles: Option<u64>,
    /// Longest wait, in seconds, for the server to drop the rooms and connections of a phase.
    #[arg(long, default_value_t = 60.0)]
    settle: f64,
}

#[derive(Args)]
struct ArchiveArgs {
    /// A PostgreSQL server (and a database on it to connect to); the benchmark creates a
    /// database of its own there and drops it afterwards. Or `sqlite://PATH`, a file that must
    /// not exist yet: the benchmark writes it and removes it.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    database_url: String,
    /// Finished games to write (at most 10,000,000).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    games: u64,
    /// Events in each game's log, `started` included (2 to 100,000).
    #[arg(long, default_value_t = 9, value_parser = clap::value_parser!(u64).range(2..=100_000))]
    events: u64,
    /// Games per batch (one transaction), as ARCHIVE_BATCH_SIZE.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    batch_size: u64,
    /// Batches written at once, each on its own thread and connection, as ARCHIVE_WRITERS.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=64))]
    writers: u64,
    /// Writers pace themselves as the server's yielding writers do (a short sleep after every
    /// 100 µs of CPU): their own rate, rather than the store's (which the catch-up writer
    /// gets).
    #[arg(long)]
    paced: bool,
    /// The psql program for the raw COPY baseline.
    #[arg(long, default_value = "psql")]
    psql: PathBuf,
}

/// Seconds from the command line as a `Duration`: negative ones are zero, and an endless one
/// (`inf`) a century, long enough for any run and short enough to add to an `Instant`.
fn secs(value: f64) -> Duration {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    Duration::try_from_secs_f64(value.max(0.0)).map_or(CENTURY, |d| d.min(CENTURY))
}

impl Scenario {
    /// Connections the scenario holds at once.
    fn connections(&self) -> usize {
        match self {
            Scenario::Matches(a) => {
                a.matches * a.players.unwrap_or(a.game.default_players()) as usize
            }
            Scenario::Idle(a) => a.connections,
            Scenario::Realtime(a) => a.rooms * a.players as usize,
            // A closing connection lingers a moment while the next cycle opens.
            Scenario::Churn(a) => a.workers * 4,
            Scenario::Archive(_) => 0,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Scenario::Archive(args) = &cli.scenario {
        // Database work only, on this thread: no runtime, no server to reach.
        return archive(
            args,
            cli.seed,
            cli.allow_remote,
            cli.wakeup_check,
            cli.json.as_deref(),
        );
    }
    let threads = match cli.threads {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    // The scenario's connections run on the lanes; this thread sets up, measures the window
    // and reports.
    let lane_threads = match LaneThreads::start(threads) {
        Ok(lanes) => lanes,
        Err(err) => {
            eprintln!("gamehall-loadgen: cannot start the load threads: {err}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("gamehall-loadgen: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(run(cli, lane_threads.lanes().clone()));
    drop(runtime);
    drop(lane_threads);
    code
}

async fn run(cli: Cli, lanes: Lanes) -> ExitCode {
    let connections = cli.scenario.connections();
    let limit = match loadgen::fdlimit::raise_for(connections as u64) {
        Ok(limit) => limit,
        Err(err) => {
            eprintln!("gamehall-loadgen: {err}");
            return ExitCode::FAILURE;
        }
    };
    let sources = match cli.sources {
        0 => Target::sources_for(connections),
        n => n,
    };
    let target = match Target::resolve(&cli.addr, cli.allow_remote, sources) {
        Ok(target) => target,
        Err(err) => {
            eprintln!("gamehall-loadgen: {err}");
            return ExitCode::FAILURE;
        }
    };
    let server_pid = cli.server_pid.or_else(|| {
        target
            .addr
            .ip()
            .is_loopback()
            .then(|| loadgen::probe::listener_pid(target.addr))
            .flatten()
    });
    let run = Arc::new(Run::new(
        target,
        lanes,
        server_pid,
        secs(cli.timeout),
        cli.seed,
    ));
    let live = format!("{}/health/live", run.target.http_base());
    match tokio::time::timeout(secs(cli.timeout), run.http.get(&live).send()).await {
        Ok(Ok(response)) if response.status().is_success() => {}
        Ok(Ok(response)) => {
            eprintln!("gamehall-loadgen: {live} answered {}", response.status());
            return ExitCode::FAILURE;
        }
        _ => {
            eprintln!("gamehall-loadgen: no gamehall server answers at {live}");
            return ExitCode::FAILURE;
        }
    }
    // Read once the run is sure to happen (a refused one gives its reason at once), before any
    // load: what else this machine was busy with, and how promptly it wakes a thread. No load
    // runs on this runtime yet, so the probe may block it.
    let before = MachineBefore::read(cli.wakeup_check);
    // Ctrl-C ends the window early; the report still comes out.
    {
        let run = Arc::clone(&run);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("gamehall-loadgen: interrupted; stopping");
                run.stop();
            }
        });
    }
    let mut report = match cli.scenario {
        Scenario::Matches(args) => {
            let players = args.players.unwrap_or(args.game.default_players());
            loadgen::matches::run(
                Arc::clone(&run),
                MatchesOptions {
                    matches: args.matches,
                    game: args.game,
                    players,
                    rate: args.rate,
                    warmup: secs(args.window.warmup),
                    duration: secs(args.window.duration),
                    max_games: args.games,
                    setup_timeout: secs(args.window.setup_timeout),
                },
            )
            .await
        }
        Scenario::Idle(args) => {
            loadgen::idle::run(
                Arc::clone(&run),
                IdleOptions {
                    connections: args.connections,
                    duration: secs(args.duration),
                    heartbeat: secs(args.heartbeat.max(0.01)),
                    ramp_concurrency: args.ramp_concurrency,
                    setup_timeout: secs(args.setup_timeout),
                },
            )
            .await
        }
        Scenario::Realtime(args) => {
            loadgen::realtime::run(
                Arc::clone(&run),
                RealtimeOptions {
                    rooms: args.rooms,
                    players: args.players,
                    tick_hz: args.tick_hz,
                    input_hz: args.input_hz,
                    warmup: secs(args.window.warmup),
                    duration: secs(args.window.duration),
                    setup_timeout: secs(args.window.setup_timeout),
                },
            )
            .await
        }
        Scenario::Archive(args) => {
            return archive(
                &args,
                cli.seed,
                cli.allow_remote,
                cli.wakeup_check,
                cli.json.as_deref(),
            )
        }
        Scenario::Churn(args) => {
            loadgen::churn::run(
                Arc::clone(&run),
                ChurnOptions {
                    workers: args.workers,
                    moves: args.moves,
                    exit: args.exit,
                    warmup: secs(args.warmup),
                    duration: secs(args.duration),
                    max_cycles: args.cycles,
                    settle: secs(args.settle),
                },
            )
            .await
        }
    };
    describe_setup(
        &mut report,
        &run,
        &cli.addr,
        cli.seed,
        limit,
        run.lanes.count(),
        before,
    );
    emit(&report, cli.json.as_deref())
}

fn archive(
    args: &ArchiveArgs,
    seed: u64,
    allow_remote: bool,
    wakeup_check: f64,
    json_file: Option<&std::path::Path>,
) -> ExitCode {
    let before = MachineBefore::read(wakeup_check);
    let options = ArchiveOptions {
        admin_url: args.database_url.clone(),
        games: args.games as usize,
        events: args.events as usize,
        batch_size: args.batch_size as usize,
        writers: args.writers as usize,
        paced: args.paced,
        psql: args.psql.clone(),
        seed,
        allow_remote,
    };
    let mut report = match loadgen::archive::run(&options) {
        Ok(report) => report,
        Err(err) => {
            eprintln!("gamehall-loadgen: archive: {err}");
            return ExitCode::FAILURE;
        }
    };
    report.set(
        "setup",
        json!({
            "seed": seed,
            "machine": machine(),
            "load_average_before": before.load_average,
            "wakeup_late_ms_before": before.wakeup_late_ms,
        }),
    );
    emit(&report, json_file)
}

/// The table on stderr, the JSON line on stdout and, if asked, in a file.
fn emit(report: &Report, json_file: Option<&std::path::Path>) -> ExitCode {
    eprint!("{}", report.table());
    let line = report.json_line();
    println!("{line}");
    if let Some(path) = json_file {
        if let Err(err) = std::fs::write(path, format!("{line}\n")) {
            eprintln!("gamehall-loadgen: cannot write {}: {err}", path.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// Where and how the run happened, so that a number can be traced to its conditions.
fn describe_setup(
    report: &mut Report,
    run: &Run,
    addr: &str,
    seed: u64,
    limit: loadgen::fdlimit::FdLimit,
    threads: usize,
    before: MachineBefore,
) {
    report.set(
        "setup",
        json!({
            "target": addr,
            "server_pid": run.server_pid,
            "source_addresses": run.target.source_count(),
            "open_file_limit": {"soft": limit.soft, "hard": limit.hard},
            "loadgen_threads": threads,
            "seed": seed,
            "machine": machine(),
            "load_average_before": before.load_average,
            "wakeup_late_ms_before": before.wakeup_late_ms,
        }),
    );
}

/// The machine just before the run: how busy, and how late it wakes a sleeping thread.
struct MachineBefore {
    load_average: Option<[f64; 3]>,
    wakeup_late_ms: serde_json::Value,
}

impl MachineBefore {
    fn read(wakeup_check_seconds: f64) -> MachineBefore {
        MachineBefore {
            load_average: load_average(),
            wakeup_late_ms: loadgen::probe::wakeup_lateness(secs(wakeup_check_seconds)),
        }
    }
}

/// The 1, 5 and 15 minute load averages: on a shared machine, how busy it was anyway.
fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut fields = text.split_whitespace().map(|f| f.parse::<f64>().ok());
    Some([fields.next()??, fields.next()??, fields.next()??])
}

/// Cores and CPU model of this machine.
fn machine() -> serde_json::Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        });
    json!({
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "cpu": cpu,
    })
}
