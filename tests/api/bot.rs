//! The bot of `examples/bot.rs` against a real server: as a library, two bots find each other
//! through the room list and play each turn-based game to its end, and three play a snake room;
//! as the example binary, two processes play tic-tac-toe.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use gamehall::client::bot::{self, BotError, BotOptions};
use gamehall::game::{Outcome, OutcomeKind};
use gamehall::ids::RoomId;
use gamehall::protocol::{ErrorCode, RoomStatus, ServerMsg};
use serde_json::{json, Value};

use crate::common::{app, TestApp, WAIT};

fn options(app: &TestApp, game: &str, name: &str, seed: u64) -> BotOptions {
    BotOptions {
        name: name.into(),
        seed,
        idle_timeout: WAIT,
        // Just under the default 20 frames a second per connection.
        think_time: Duration::from_millis(55),
        ..BotOptions::new(app.address.clone(), game)
    }
}

/// Waits until the first bot has opened a room, so that the second joins it rather than opening
/// one of its own.
async fn an_open_room(app: &TestApp, game: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let rooms = app.client.list_rooms(Some(game)).await.unwrap();
        if rooms
            .iter()
            .any(|r| r.status == RoomStatus::Waiting && !r.players.is_empty())
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no bot opened a room"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_rt::test]
async fn two_bots_play_each_turn_based_game_to_the_end() {
    let app = app().spawn().await;
    for game in ["tictactoe", "crazy_eights"] {
        let first = options(&app, game, "Robo", 1);
        let second = options(&app, game, "Tron", 2);
        let (a, b) = tokio::join!(bot::run(&first), async {
            an_open_room(&app, game).await;
            bot::run(&second).await
        });
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(
            a.room, b.room,
            "{game}: the second bot joined the first one's room"
        );
        assert_eq!((a.seat, b.seat), (0, 1));
        assert_eq!(a.outcome, b.outcome);
        assert!(
            matches!(a.outcome.result, OutcomeKind::Win | OutcomeKind::Draw),
            "{game}: {:?}",
            a.outcome
        );
        assert!(a.actions > 0 && b.actions > 0);
        let summary = app.client.get_room(&a.room).await.unwrap();
        assert_eq!(summary.status, RoomStatus::Finished);
        assert_eq!(summary.game, game);
    }
}

#[actix_rt::test]
async fn a_bot_opens_a_room_with_its_options_and_refuses_games_it_cannot_play() {
    let app = app().spawn().await;
    let mut lonely = options(&app, "crazy_eights", "Solo", 3);
    lonely.options = json!({ "players": 3 });
    lonely.idle_timeout = Duration::from_millis(300);
    // Nobody comes: the bot sits in the room it opened until it gives up waiting.
    assert!(matches!(bot::run(&lonely).await, Err(BotError::Client(_))));
    let rooms = app.client.list_rooms(Some("crazy_eights")).await.unwrap();
    assert_eq!(rooms.len(), 1);
    assert_eq!(rooms[0].seats, 3);

    let chess = options(&app, "chess", "Deep", 4);
    assert!(matches!(
        bot::run(&chess).await,
        Err(BotError::UnsupportedGame(game)) if game == "chess"
    ));
}

#[actix_rt::test]
async fn three_bots_play_a_snake_room_to_the_end() {
    let app = app().spawn().await;
    // A small board and a short game: at most 100 ticks of 50 ms. The bots think for less than
    // a tick, so that a dodge is never a tick late, and at one input a tick at most they still
    // stay under the default 20 frames a second.
    let room_options =
        json!({"players": 3, "width": 10, "height": 10, "tick_hz": 20, "max_ticks": 100});
    let bots: Vec<BotOptions> = ["Ka", "Kaa", "Kaaa"]
        .into_iter()
        .zip(1..)
        .map(|(name, seed)| BotOptions {
            options: room_options.clone(),
            think_time: Duration::from_millis(45),
            ..options(&app, "snake", name, seed)
        })
        .collect();
    let (first, others) = tokio::join!(bot::run(&bots[0]), async {
        an_open_room(&app, "snake").await;
        tokio::join!(bot::run(&bots[1]), bot::run(&bots[2]))
    });
    let reports = [first, others.0, others.1].map(|r| r.expect("the bot plays to the end"));

    let room = &reports[0].room;
    let mut seats: Vec<_> = reports.iter().map(|r| r.seat).collect();
    seats.sort();
    assert_eq!(seats, [0, 1, 2]);
    let outcome = &reports[0].outcome;
    assert!(
        matches!(outcome.result, OutcomeKind::Win | OutcomeKind::Draw),
        "{outcome:?}"
    );
    assert_eq!(
        outcome.scores.as_ref().map(Vec::len),
        Some(3),
        "{outcome:?}"
    );
    for report in &reports {
        assert_eq!(&report.room, room, "every bot sat at the first one's table");
        assert_eq!(&report.outcome, outcome);
        let ticks = report
            .frames
            .iter()
            .filter(|f| matches!(f, ServerMsg::Event { kind, .. } if kind == "tick"))
            .count();
        assert!((1..=100).contains(&ticks), "{ticks} ticks");
        // At most one input per tick (and one on the first view), and never too fast.
        assert!(
            report.actions <= ticks + 1,
            "seat {} sent {} inputs in {ticks} ticks",
            report.seat,
            report.actions
        );
        let limited = report.frames.iter().any(|f| {
            matches!(
                f,
                ServerMsg::Error {
                    code: ErrorCode::RateLimited,
                    ..
                }
            )
        });
        assert!(!limited, "seat {} was rate limited", report.seat);
    }
    assert!(
        reports.iter().any(|r| r.actions > 0),
        "somebody steered: {:?}",
        reports.iter().map(|r| r.actions).collect::<Vec<_>>()
    );
    let summary = app.client.get_room(room).await.unwrap();
    assert_eq!(summary.status, RoomStatus::Finished);
    assert_eq!(summary.game, "snake");
}

/// `examples/bot.rs` as cargo builds it, next to the server binary's folder. `cargo build
/// --examples` (tests/run.sh does) and plain `cargo test` build it; `cargo test --all-targets`
/// builds examples only as test harnesses, and `cargo test --test api` not at all.
fn example_bot() -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_gamehall"));
    let dir = bin.parent().expect("the server binary has a folder");
    let bot = dir
        .join("examples")
        .join(format!("bot{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bot.is_file(),
        "the example bot is not built at {}: run `cargo build --example bot` (tests/run.sh \
         does) before this test",
        bot.display()
    );
    bot
}

/// Runs the example bot against `app` until it exits; returns the JSON line it printed.
async fn run_example(app: &TestApp, args: &[&str]) -> Value {
    let child = tokio::process::Command::new(example_bot())
        .args([
            "--server",
            &app.address,
            "--idle-seconds",
            "10",
            "--think-ms",
            "55",
        ])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the example bot starts");
    let output = tokio::time::timeout(3 * WAIT, child.wait_with_output())
        .await
        .expect("the example bot finishes")
        .expect("its output is readable");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(
        output.status.success(),
        "bot {args:?} exited with {}:\n{stdout}\n{stderr}",
        output.status
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one line of output: {stdout}");
    serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[actix_rt::test]
async fn the_example_binary_plays_tictactoe_against_itself() {
    let app = app().spawn().await;
    let robo = ["--game", "tictactoe", "--name", "Robo", "--seed", "1"];
    let tron = ["--game", "tictactoe", "--name", "Tron", "--seed", "2"];
    let (first, second) = tokio::join!(run_example(&app, &robo), async {
        an_open_room(&app, "tictactoe").await;
        run_example(&app, &tron).await
    });
    assert_eq!(first["room"], second["room"], "{first} {second}");
    assert_eq!((&first["seat"], &second["seat"]), (&json!(0), &json!(1)));
    let outcome: Outcome = serde_json::from_value(first["outcome"].clone()).unwrap();
    assert_eq!(first["outcome"], second["outcome"]);
    assert!(
        matches!(outcome.result, OutcomeKind::Win | OutcomeKind::Draw),
        "{first}"
    );
    for line in [&first, &second] {
        assert!(line["actions"].as_u64().is_some_and(|n| n > 0), "{line}");
    }
    let room = first["room"].as_str().expect("the room id");
    let summary = app.client.get_room(&RoomId::from(room)).await.unwrap();
    assert_eq!(summary.status, RoomStatus::Finished);
}
