//! The real-time game: snake rooms tick on their own clock over real WebSockets, inputs steer,
//! idle players stall nothing, tick metrics move, archived games replay, and options are checked
//! per game kind.

use std::process::Command;
use std::time::{Duration, Instant};

use gamehall::archive::{replay, ReplayError};
use gamehall::client::games::snake::{Direction, SnakeInput};
use gamehall::client::{ClientError, Connection};
use gamehall::game::snake::SnakeKind;
use gamehall::game::{
    Game, GameCatalog, GameConfig, GameEvent, GameKind, OptionsError, Outcome, OutcomeKind,
    Rejection, Seat, Viewer,
};
use gamehall::ids::RoomId;
use gamehall::protocol::{ErrorCode, Role, ServerMsg};
use serde_json::{json, Value};

use crate::common::{
    app, archived_record, metric_sample, metrics_text, next_event, refused_room, spawn_app, Player,
    TestApp, WAIT,
};

/// A snake room with every seat taken (seat i is `players[i]`), each player having seen
/// `started`.
async fn snake_room(app: &TestApp, options: Value) -> (RoomId, Vec<Player>) {
    let (room, players, _) = watched_snake_room(app, options).await;
    (room, players)
}

/// [`snake_room`] with a spectator who joined before the game started and has seen `started`
/// too.
async fn watched_snake_room(app: &TestApp, options: Value) -> (RoomId, Vec<Player>, Player) {
    let token = app.guest("host").await;
    let room = app
        .client
        .create_room(&token.token, "snake", options)
        .await
        .expect("snake room created");
    let mut watcher = app.connect("Watcher").await;
    watcher
        .conn
        .join(&room.id, Role::Spectator)
        .await
        .expect("watches");
    let mut players = Vec::new();
    for seat in 0..room.seats {
        let mut player = app.connect(&format!("Snake {seat}")).await;
        let joined = player
            .conn
            .join(&room.id, Role::Player)
            .await
            .expect("joins");
        assert_eq!(joined.seat, Some(seat));
        players.push(player);
    }
    for player in players.iter_mut().chain([&mut watcher]) {
        let (seq, kind, _) = next_event(&mut player.conn).await;
        assert_eq!((seq, kind.as_str()), (1, "started"));
    }
    (room.id, players, watcher)
}

/// Every event until `game_over`, and the outcome.
async fn events_until_over(conn: &mut Connection) -> (Vec<(u64, String, Value)>, Outcome) {
    let mut events = Vec::new();
    loop {
        match conn.recv_timeout(WAIT).await.expect("frames keep coming") {
            ServerMsg::Event {
                seq, kind, data, ..
            } => events.push((seq, kind.to_string(), data)),
            ServerMsg::GameOver { outcome, .. } => return (events, outcome),
            _ => {}
        }
    }
}

/// The next `tick` event's data.
async fn next_tick(conn: &mut Connection) -> Value {
    conn.wait_for(WAIT, |msg| match msg {
        ServerMsg::Event { kind, data, .. } if kind == "tick" => Some(data.clone()),
        _ => None,
    })
    .await
    .expect("a tick arrives")
}

/// Checks that `events` (after `started`, seq 1) are the ticks 1, 2, ... with gap-free seqs.
fn assert_gap_free_ticks(events: &[(u64, String, Value)]) {
    for (i, (seq, kind, data)) in events.iter().enumerate() {
        assert_eq!(*seq, i as u64 + 2, "seqs follow `started` without a gap");
        assert_eq!(kind, "tick");
        assert_eq!(data["tick"], i as u64 + 1, "no tick is skipped");
    }
}

#[actix_rt::test]
async fn two_three_and_four_snakes_play_to_the_end() {
    let app = spawn_app().await;
    for players in 2..=4u64 {
        let (room, mut seated, mut watcher) = watched_snake_room(
            &app,
            json!({"players": players, "tick_hz": 60, "width": 10, "height": 10, "max_ticks": 100}),
        )
        .await;
        let state = watcher
            .conn
            .wait_for(WAIT, |msg| match msg {
                ServerMsg::State { state, .. } => Some(state.clone()),
                _ => None,
            })
            .await
            .unwrap();
        assert_eq!(state["width"], 10);
        assert_eq!(state["tick_hz"], 60);
        assert_eq!(state["tick"], 0);
        assert_eq!(
            state["snakes"].as_array().map(Vec::len),
            Some(players as usize)
        );

        let mut seen = Vec::new();
        for player in &mut seated {
            seen.push(events_until_over(&mut player.conn).await);
        }
        let (events, outcome) = &seen[0];
        assert!(
            seen.iter().all(|s| s == &seen[0]),
            "every seat sees the same ticks and outcome"
        );
        assert_gap_free_ticks(events);
        assert!(matches!(
            outcome.result,
            OutcomeKind::Win | OutcomeKind::Draw
        ));
        let scores = outcome.scores.as_ref().expect("lengths as scores");
        assert_eq!(scores.len(), players as usize);
        let last = &events.last().expect("at least one tick").2;
        let alive = last["snakes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["alive"] == true)
            .count();
        assert!(
            alive <= 1,
            "the game ends when at most one snake lives: {last}"
        );
        for snake in last["snakes"].as_array().unwrap() {
            assert_eq!(
                snake["length"],
                scores[snake["seat"].as_u64().unwrap() as usize]
            );
        }
        // The spectator sees the same game.
        assert_eq!(&events_until_over(&mut watcher.conn).await, &seen[0]);
        assert_eq!(
            app.client.get_room(&room).await.unwrap().seq,
            events.len() as u64 + 1
        );
    }
}

#[actix_rt::test]
async fn inputs_steer_and_an_idle_player_does_not_stall_the_ticks() {
    let app = spawn_app().await;
    // On a 10-wide, 30-high board both snakes start heading for a side wall, which they reach
    // on the 7th tick. Seat 0 turns down into the long column and outlives seat 1, who sends
    // nothing at all.
    let (_room, mut seated) = snake_room(
        &app,
        json!({"players": 2, "tick_hz": 20, "width": 10, "height": 30}),
    )
    .await;
    let mover = &mut seated[0].conn;
    let reverse = mover
        .send_action(SnakeInput {
            dir: Direction::Left,
        })
        .await
        .unwrap();
    let malformed = mover.send_action(json!({"dir": "north"})).await.unwrap();
    mover
        .send_action(SnakeInput {
            dir: Direction::Down,
        })
        .await
        .unwrap();
    for (reference, expected) in [
        (reverse, ErrorCode::IllegalMove),
        (malformed, ErrorCode::BadAction),
    ] {
        let code = mover
            .wait_for(WAIT, |msg| match msg {
                ServerMsg::Error {
                    code,
                    reference: Some(r),
                    ..
                } if *r == reference => Some(*code),
                _ => None,
            })
            .await
            .unwrap();
        assert_eq!(code, expected);
    }
    let (events, outcome) = events_until_over(mover).await;
    assert_gap_free_ticks(&events);
    assert_eq!(outcome.result, OutcomeKind::Win);
    assert_eq!(outcome.winners, vec![0]);
    let last = &events.last().unwrap().2;
    assert_eq!(last["snakes"][0]["dir"], "down");
    assert_eq!(last["snakes"][0]["alive"], true);
    assert_eq!(last["snakes"][1]["alive"], false);
    assert_eq!(last["tick"], 7, "seat 1 reached the wall on schedule");
    // The idle seat saw every tick too.
    let (idle_events, idle_outcome) = events_until_over(&mut seated[1].conn).await;
    assert_eq!((idle_events, idle_outcome), (events, outcome));
    // Inputs after the end are refused.
    let reference = seated[0]
        .conn
        .send_action(SnakeInput { dir: Direction::Up })
        .await
        .unwrap();
    let code = seated[0]
        .conn
        .wait_for(WAIT, |msg| match msg {
            ServerMsg::Error {
                code,
                reference: Some(r),
                ..
            } if *r == reference => Some(*code),
            _ => None,
        })
        .await
        .unwrap();
    assert_eq!(code, ErrorCode::GameOver);
}

/// Ticks per second seen by `conn` over at least `window`, checking that none is skipped.
async fn measured_rate(conn: &mut Connection, window: Duration) -> f64 {
    let first = next_tick(conn).await["tick"].as_u64().unwrap();
    let began = Instant::now();
    let mut last = first;
    while began.elapsed() < window {
        let tick = next_tick(conn).await["tick"].as_u64().unwrap();
        assert_eq!(tick, last + 1, "ticks arrive one by one");
        last = tick;
    }
    (last - first) as f64 / began.elapsed().as_secs_f64()
}

#[actix_rt::test]
async fn ticks_arrive_at_the_configured_rate_and_are_measured() {
    let app = spawn_app().await;
    let before = metrics_text(&app).await;
    // A 64-wide board: idle snakes take 61 ticks to reach a wall, longer than the window.
    let options = |hz: u64| json!({"tick_hz": hz, "width": 64, "height": 64});
    let (_slow_room, mut slow) = snake_room(&app, options(10)).await;
    let (_fast_room, mut fast) = snake_room(&app, options(40)).await;
    let window = Duration::from_millis(1200);
    let (slow_rate, fast_rate) = futures_util::join!(
        measured_rate(&mut slow[0].conn, window),
        measured_rate(&mut fast[0].conn, window)
    );
    // Loose bounds: this checks that the configured rate drives the room, not the machine's
    // speed.
    assert!((5.0..=20.0).contains(&slow_rate), "10 Hz room: {slow_rate}");
    assert!(
        (20.0..=80.0).contains(&fast_rate),
        "40 Hz room: {fast_rate}"
    );
    assert!(fast_rate > 2.0 * slow_rate, "{fast_rate} vs {slow_rate}");
    for player in slow.iter_mut().chain(fast.iter_mut()) {
        player.conn.leave().await.unwrap();
    }

    let ticks = |text: &str| {
        metric_sample(
            text,
            r#"gamehall_tick_duration_seconds_count{game="snake"}"#,
        )
    };
    let after = metrics_text(&app).await;
    assert!(
        ticks(&after) - ticks(&before) >= 10.0,
        "every tick is timed:\n{after}"
    );
    assert!(
        after.contains(r#"gamehall_tick_overruns_total{game="snake"}"#),
        "overruns are counted per game kind:\n{after}"
    );
    assert!(
        metric_sample(
            &after,
            r#"gamehall_tick_duration_seconds_sum{game="snake"}"#
        ) > 0.0
    );
}

#[actix_rt::test]
async fn an_archived_snake_game_replays_from_its_seed_inputs_and_ticks() {
    let app = app().postgres().spawn().await;
    let (room, mut seated) = snake_room(
        &app,
        json!({"players": 2, "tick_hz": 30, "width": 10, "height": 30}),
    )
    .await;
    let game_id = app
        .client
        .get_room(&room)
        .await
        .unwrap()
        .game_id
        .to_string();
    let mover = &mut seated[0].conn;
    mover
        .send_action(SnakeInput {
            dir: Direction::Down,
        })
        .await
        .unwrap();
    // A second input queued later; whether it lands before the end or not, it is recorded.
    next_tick(mover).await;
    next_tick(mover).await;
    mover
        .send_action(SnakeInput {
            dir: Direction::Right,
        })
        .await
        .unwrap();
    let (events, outcome) = events_until_over(mover).await;
    let last_tick = events.last().unwrap().2["tick"].as_u64().unwrap();

    let record = archived_record(&app, &game_id).await;
    assert_eq!(record.game_kind, "snake");
    assert_eq!(record.outcome, outcome);
    assert!(!record.events_truncated);
    let ticks: Vec<u64> = record.events.iter().filter_map(|e| e.tick).collect();
    assert_eq!(ticks, (1..=last_tick).collect::<Vec<_>>());
    let inputs: Vec<Value> = record
        .events
        .iter()
        .flat_map(|e| &e.inputs)
        .map(|a| a.action.value())
        .collect();
    assert_eq!(inputs[0], json!({"dir": "down"}));
    assert!(
        record.events.iter().all(|e| e.action.is_none()),
        "inputs make no events"
    );

    let report = replay(&record, &GameCatalog::standard()).expect("the game replays");
    assert_eq!(report.ticks as u64, last_tick);
    assert_eq!(report.actions, inputs.len());
    assert_eq!(report.events_checked as u64, last_tick);

    // A different input is caught.
    let mut tampered = record.clone();
    let first_input = tampered
        .events
        .iter_mut()
        .find(|e| !e.inputs.is_empty())
        .unwrap();
    first_input.inputs[0].action = json!({"dir": "up"}).into();
    assert!(matches!(
        replay(&tampered, &GameCatalog::standard()),
        Err(ReplayError::EventMismatch { .. })
    ));

    // And the command operators run agrees, reading the game from PostgreSQL.
    let db = app.postgres.as_ref().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gamehall"))
        .args(["replay", &game_id])
        .env("DATABASE_URL", &db.url)
        .env("LOG_LEVEL", "error")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line: Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    assert_eq!(line["ok"], true, "{stdout}");
    assert_eq!(line["ticks"], last_tick);
}

#[actix_rt::test]
async fn a_snake_game_longer_than_the_event_limit_is_kept_truncated_and_not_replayed() {
    let app = app().env("MAX_EVENTS_PER_GAME", "10").spawn().await;
    // 30 wide: idle snakes reach the walls on the 27th tick, 28 events with `started`.
    let (room, mut seated) = snake_room(
        &app,
        json!({"players": 2, "tick_hz": 60, "width": 30, "height": 10}),
    )
    .await;
    let game_id = app
        .client
        .get_room(&room)
        .await
        .unwrap()
        .game_id
        .to_string();
    let (events, _) = events_until_over(&mut seated[0].conn).await;
    assert_eq!(events.len(), 27);
    let record = archived_record(&app, &game_id).await;
    assert!(record.events_truncated);
    assert_eq!(record.events.len(), 10);
    assert_eq!(record.events[0].seq, 19, "the last ten are kept");
    assert!(matches!(
        replay(&record, &GameCatalog::standard()),
        Err(ReplayError::Truncated)
    ));
}

/// Test-only game kind: snake whose third tick panics.
struct PanickyTicksKind;

struct PanickyTicks {
    inner: Box<dyn Game>,
    ticks: u32,
}

impl GameKind for PanickyTicksKind {
    fn name(&self) -> &'static str {
        "panicky_snake"
    }

    fn configure(&self, options: &Value) -> Result<GameConfig, OptionsError> {
        SnakeKind.configure(options)
    }

    fn setup(&self, config: &GameConfig, seed: u64) -> Box<dyn Game> {
        Box::new(PanickyTicks {
            inner: SnakeKind.setup(config, seed),
            ticks: 0,
        })
    }
}

impl Game for PanickyTicks {
    fn apply(&mut self, seat: Seat, action: &Value) -> Result<Vec<GameEvent>, Rejection> {
        self.inner.apply(seat, action)
    }

    fn view(&self, viewer: Viewer) -> Value {
        self.inner.view(viewer)
    }

    fn outcome(&self) -> Option<Outcome> {
        self.inner.outcome()
    }

    fn tick(&mut self) -> Vec<GameEvent> {
        self.ticks += 1;
        if self.ticks == 3 {
            panic!("the panicky snake panicked on its third tick");
        }
        self.inner.tick()
    }
}

#[actix_rt::test]
async fn a_panic_in_a_tick_stops_only_its_own_room() {
    let app = app().game(PanickyTicksKind).spawn().await;
    let options = json!({"tick_hz": 30, "width": 20, "height": 20});
    let (healthy, mut steady) = snake_room(&app, options.clone()).await;

    let token = app.guest("host").await;
    let doomed = app
        .client
        .create_room(&token.token, "panicky_snake", options)
        .await
        .unwrap();
    let mut a = app.connect("A").await;
    let mut b = app.connect("B").await;
    a.conn.join(&doomed.id, Role::Player).await.unwrap();
    b.conn.join(&doomed.id, Role::Player).await.unwrap();
    for conn in [&mut a.conn, &mut b.conn] {
        let code = conn
            .wait_for(WAIT, |msg| match msg {
                ServerMsg::Error { code, .. } => Some(*code),
                _ => None,
            })
            .await
            .unwrap();
        assert_eq!(code, ErrorCode::RoomCrashed);
    }
    let gone = app.client.get_room(&doomed.id).await;
    assert!(
        matches!(gone, Err(ClientError::Api { status: 404, .. })),
        "{gone:?}"
    );
    // Its players are free to play elsewhere; the other room ticks on to its end.
    a.conn.join(&healthy, Role::Spectator).await.unwrap();
    let (events, _) = events_until_over(&mut steady[0].conn).await;
    assert_gap_free_ticks(&events);
    assert!(events.len() > 3);
}

#[actix_rt::test]
async fn room_options_are_checked_per_game_kind() {
    let app = spawn_app().await;
    let cases = [
        (
            "snake",
            json!({"players": 1}),
            "players must be an integer from 2 to 4",
        ),
        (
            "snake",
            json!({"players": 5}),
            "players must be an integer from 2 to 4",
        ),
        (
            "snake",
            json!({"players": "two"}),
            "players must be an integer from 2 to 4",
        ),
        (
            "snake",
            json!({"tick_hz": 4}),
            "tick_hz must be an integer from 5 to 60",
        ),
        (
            "snake",
            json!({"tick_hz": 61}),
            "tick_hz must be an integer from 5 to 60",
        ),
        (
            "snake",
            json!({"width": 9}),
            "width must be an integer from 10 to 64",
        ),
        (
            "snake",
            json!({"height": 65}),
            "height must be an integer from 10 to 64",
        ),
        (
            "snake",
            json!({"max_ticks": 99}),
            "max_ticks must be an integer from 100 to 20000",
        ),
        ("snake", json!({"speed": 3}), "unknown option \"speed\""),
        ("snake", json!("fast"), "options must be a JSON object"),
        (
            "tictactoe",
            json!({"players": 3}),
            "exactly 2 players, not 3",
        ),
        (
            "tictactoe",
            json!({"turn_seconds": 4}),
            "turn_seconds must be an integer from 5 to 300",
        ),
        (
            "tictactoe",
            json!({"turn_seconds": 301}),
            "turn_seconds must be an integer from 5 to 300",
        ),
        (
            "tictactoe",
            json!({"turn_seconds": 2.5}),
            "turn_seconds must be an integer from 5 to 300",
        ),
        (
            "tictactoe",
            json!({"colour": "red"}),
            "unknown option \"colour\"",
        ),
    ];
    for (game, options, expected) in cases {
        let (status, code, message) = refused_room(&app, game, options.clone()).await;
        assert_eq!(
            (status, code.as_str()),
            (400, "invalid_options"),
            "{game} {options}"
        );
        assert!(
            message.contains(expected),
            "{game} {options}: {message:?} should say {expected:?}"
        );
    }
    let token = app.guest("host").await;
    let room = app
        .client
        .create_room(&token.token, "snake", json!({"players": 4, "tick_hz": 60}))
        .await
        .unwrap();
    assert_eq!(room.seats, 4);
}

#[actix_rt::test]
async fn a_disconnected_snake_player_misses_no_tick_after_resuming() {
    let app = spawn_app().await;
    let (room, mut seated) = snake_room(
        &app,
        json!({"players": 2, "tick_hz": 20, "width": 40, "height": 40}),
    )
    .await;
    let seen = seated[0]
        .conn
        .wait_for(WAIT, |msg| match msg {
            ServerMsg::Event { seq, kind, .. } if kind == "tick" => Some(*seq),
            _ => None,
        })
        .await
        .unwrap();
    let token = seated[0].token.token.clone();
    seated.remove(0).conn.close().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut back = app.client.connect(&token).await.unwrap();
    let now = back.resume(&room, seen).await.unwrap();
    assert!(now > seen + 2, "the room ticked on while seat 0 was away");
    for expected in seen + 1..=now {
        let (seq, kind, _) = next_event(&mut back).await;
        assert_eq!((seq, kind.as_str()), (expected, "tick"));
    }
    // Steering works after the resume.
    back.send_action(SnakeInput {
        dir: Direction::Down,
    })
    .await
    .unwrap();
    let mut turned = false;
    for _ in 0..20 {
        if next_tick(&mut back).await["snakes"][0]["dir"] == "down" {
            turned = true;
            break;
        }
    }
    assert!(turned, "the resumed player steers");
}
