//! A gamehall bot that plays random legal moves.
//!
//! It gets a guest token, takes a free seat in an open room of the game (or opens a room and
//! waits for opponents), follows the game through the typed helpers of
//! `gamehall::client::games`, and plays until the game ends: in the turn-based games
//! (`tictactoe`, `crazy_eights`) one of the legal moves at random whenever it is on turn; in
//! `snake`, after each tick, a turn away from a wall or a body in its way, or now and then a
//! random one. It prints the outcome as one JSON line:
//!
//! ```text
//! {"actions":5,"outcome":{"result":"win","winners":[0]},"room":"rayuej13llx0","seat":0}
//! ```
//!
//! ```text
//! cargo run --example bot -- --server http://127.0.0.1:8080 --game crazy_eights
//! cargo run --example bot -- --game crazy_eights --options '{"players": 3}' --name Robo
//! cargo run --example bot -- --game tictactoe --room rayuej13llx0 --seed 7
//! cargo run --example bot -- --game snake --options '{"width": 16, "height": 16, "tick_hz": 8}'
//! ```
//!
//! Two bots started one after the other play each other: the first opens a room, the second
//! finds it (a snake or crazy_eights room opened with `"players": 3` waits for a third). It
//! exits 0 once the game is over, 1 if it could not play it (no opponent within
//! `--idle-seconds`, say). The code is in `src/client/bot.rs`.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use gamehall::client::bot::{self, BotOptions};
use gamehall::ids::RoomId;

#[derive(Parser)]
#[command(about = "A gamehall bot that plays random legal moves")]
struct Args {
    /// The server's HTTP address.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    server: String,
    /// The game kind to play: tictactoe, crazy_eights or snake.
    #[arg(long, default_value = "crazy_eights")]
    game: String,
    /// The guest name to play under.
    #[arg(long, default_value = "bot")]
    name: String,
    /// Options for a room the bot opens, as JSON (e.g. '{"players": 3}').
    #[arg(long, default_value = "{}")]
    options: String,
    /// Join this room instead of looking for an open one.
    #[arg(long)]
    room: Option<String>,
    /// Seeds the choice of moves; the same seed against the same opponents plays the same game.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Give up after this many seconds without hearing from the server.
    #[arg(long, default_value_t = 300)]
    idle_seconds: u64,
    /// The least time between two of the bot's moves, in milliseconds; the server refuses a
    /// connection's frames above RATE_LIMIT_WEBSOCKET_PER_SECOND (20 by default). In snake,
    /// keep it under a tick (1000 / tick_hz) for the bot to dodge in time.
    #[arg(long, default_value_t = 100)]
    think_ms: u64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    let options = match serde_json::from_str(&args.options) {
        Ok(options) => options,
        Err(err) => {
            eprintln!("--options is not JSON: {err}");
            return ExitCode::from(2);
        }
    };
    let options = BotOptions {
        server: args.server,
        name: args.name,
        game: args.game,
        options,
        room: args.room.map(RoomId::from),
        seed: args.seed,
        idle_timeout: Duration::from_secs(args.idle_seconds),
        think_time: Duration::from_millis(args.think_ms),
    };
    match bot::run(&options).await {
        Ok(report) => {
            println!(
                "{}",
                serde_json::json!({
                    "room": report.room,
                    "seat": report.seat,
                    "outcome": report.outcome,
                    "actions": report.actions,
                })
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("bot: {err}");
            ExitCode::FAILURE
        }
    }
}
