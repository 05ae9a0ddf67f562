//! Turn timers over real WebSockets: the room announces each deadline, a move resets it, an idle
//! seat forfeits or is skipped by the game's rule, everyone sees `turn_timeout`, late joiners
//! see the clock, and archived games with timeouts replay.

use std::process::Command;
use std::time::{Duration, Instant};

use gamehall::archive::replay;
use gamehall::client::tictactoe::Place;
use gamehall::client::Connection;
use gamehall::game::tictactoe::TicTacToeKind;
use gamehall::game::{
    Game, GameCatalog, GameConfig, GameEvent, GameKind, OptionsError, Outcome, OutcomeKind,
    Rejection, Seat, TimeoutRule, Viewer,
};
use gamehall::ids::RoomId;
use gamehall::protocol::{ClientMsg, Ref, Role, ServerMsg, TurnClock};
use serde_json::{json, Value};

use crate::common::{app, archived_record, next_event, Player, TestApp, WAIT};

/// The turn timer of the test-only game kinds: short, so that tests wait little, and long
/// enough that a scripted move is never late.
const QUICK: Duration = Duration::from_millis(1000);

/// Test-only game kind: tic-tac-toe whose turns time out after [`QUICK`] (the real kind allows
/// 5 seconds at least), with tic-tac-toe's own rule: the late seat forfeits.
struct QuickClockKind;

impl GameKind for QuickClockKind {
    fn name(&self) -> &'static str {
        "quick_tictactoe"
    }

    fn configure(&self, options: &Value) -> Result<GameConfig, OptionsError> {
        let mut config = TicTacToeKind.configure(options)?;
        config.turn_timeout = Some(QUICK);
        Ok(config)
    }

    fn setup(&self, config: &GameConfig, seed: u64) -> Box<dyn Game> {
        TicTacToeKind.setup(config, seed)
    }
}

/// Test-only game kind: two seats take turns passing (`{"pass": true}`); a seat that lets its
/// turn time out is skipped. Six turns, passed or skipped, make a draw.
struct PassingKind;

struct Passing {
    turn: Seat,
    turns: u32,
}

const PASSING_TURNS: u32 = 6;
const PASSING_TIMEOUT: Duration = Duration::from_millis(400);

impl GameKind for PassingKind {
    fn name(&self) -> &'static str {
        "passing"
    }

    fn configure(&self, _options: &Value) -> Result<GameConfig, OptionsError> {
        let mut config = GameConfig::seats(2, json!({}));
        config.turn_timeout = Some(PASSING_TIMEOUT);
        Ok(config)
    }

    fn setup(&self, _config: &GameConfig, _seed: u64) -> Box<dyn Game> {
        Box::new(Passing { turn: 0, turns: 0 })
    }
}

impl Passing {
    fn next(&mut self, kind: &'static str) -> GameEvent {
        let event = GameEvent::public(kind, json!({ "seat": self.turn, "turn": self.turns }));
        self.turns += 1;
        self.turn = 1 - self.turn;
        event
    }
}

impl Game for Passing {
    fn apply(&mut self, seat: Seat, action: &Value) -> Result<Vec<GameEvent>, Rejection> {
        if self.turns >= PASSING_TURNS {
            return Err(Rejection::GameOver);
        }
        if action != &json!({"pass": true}) {
            return Err(Rejection::BadAction(r#"expected {"pass": true}"#.into()));
        }
        if seat != self.turn {
            return Err(Rejection::NotYourTurn);
        }
        Ok(vec![self.next("passed")])
    }

    fn view(&self, _viewer: Viewer) -> Value {
        json!({ "turn": self.turn, "turns": self.turns })
    }

    fn outcome(&self) -> Option<Outcome> {
        (self.turns >= PASSING_TURNS).then(Outcome::draw)
    }

    fn turn(&self) -> Option<Seat> {
        (self.turns < PASSING_TURNS).then_some(self.turn)
    }

    fn on_turn_timeout(&mut self, seat: Seat) -> TimeoutRule {
        assert_eq!(seat, self.turn, "only the seat on turn times out");
        TimeoutRule::Played(vec![self.next("skipped")])
    }
}

fn test_catalog() -> GameCatalog {
    GameCatalog::standard()
        .with(QuickClockKind)
        .with(PassingKind)
}

/// A room of `game` with two seated players and a spectator who joined first; all three have
/// seen `started`.
async fn timed_room(app: &TestApp, game: &str, options: Value) -> (RoomId, Player, Player, Player) {
    let token = app.guest("host").await;
    let room = app
        .client
        .create_room(&token.token, game, options)
        .await
        .expect("room created");
    let mut watcher = app.connect("Watcher").await;
    watcher.conn.join(&room.id, Role::Spectator).await.unwrap();
    let mut x = app.connect("Xavier").await;
    let mut o = app.connect("Olga").await;
    x.conn.join(&room.id, Role::Player).await.unwrap();
    o.conn.join(&room.id, Role::Player).await.unwrap();
    for p in [&mut x, &mut o, &mut watcher] {
        let (seq, kind, _) = next_event(&mut p.conn).await;
        assert_eq!((seq, kind.as_str()), (1, "started"));
    }
    (room.id, x, o, watcher)
}

/// The next event of `kind`: (seq, data).
async fn next_of(conn: &mut Connection, kind: &str) -> (u64, Value) {
    conn.wait_for(WAIT, |msg| match msg {
        ServerMsg::Event {
            seq, kind: k, data, ..
        } if k == kind => Some((*seq, data.clone())),
        _ => None,
    })
    .await
    .unwrap_or_else(|err| panic!("no {kind} event: {err}"))
}

/// The next `turn` event, as the clock it announces.
async fn next_turn(conn: &mut Connection) -> TurnClock {
    let (_, data) = next_of(conn, "turn").await;
    serde_json::from_value(data).expect("a turn event is a TurnClock")
}

fn unix_millis_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[actix_rt::test]
async fn an_idle_seat_forfeits_and_everyone_sees_the_timeout() {
    let app = app().game(QuickClockKind).spawn().await;
    let (room, mut x, mut o, mut watcher) = timed_room(&app, "quick_tictactoe", Value::Null).await;
    let game_id = app
        .client
        .get_room(&room)
        .await
        .unwrap()
        .game_id
        .to_string();
    let armed = Instant::now();
    for conn in [&mut x.conn, &mut o.conn, &mut watcher.conn] {
        let clock = next_turn(conn).await;
        assert_eq!(clock.seat, 0, "X moves first");
        assert_eq!(clock.remaining_ms, QUICK.as_millis() as u64);
        assert!(clock.deadline_ms > unix_millis_now(), "{clock:?}");
    }
    // Nobody moves. Everyone sees the timeout, the forfeit and the end, in that order.
    for conn in [&mut x.conn, &mut o.conn, &mut watcher.conn] {
        let (timeout_seq, timeout) = next_of(conn, "turn_timeout").await;
        assert_eq!(timeout, json!({"seat": 0, "rule": "forfeit"}));
        let (forfeit_seq, forfeit) = next_of(conn, "forfeit").await;
        assert_eq!(forfeit, json!({"seat": 0, "reason": "turn_timeout"}));
        assert_eq!(forfeit_seq, timeout_seq + 1);
        let outcome = conn.game_over().await.unwrap();
        assert_eq!(outcome.result, OutcomeKind::Forfeit);
        assert_eq!(outcome.winners, vec![1]);
        assert_eq!(outcome.forfeited, vec![0]);
    }
    assert!(
        armed.elapsed() >= QUICK - Duration::from_millis(200),
        "the deadline did not pass early: {:?}",
        armed.elapsed()
    );

    let record = archived_record(&app, &game_id).await;
    let kinds: Vec<&str> = record.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["started", "turn", "turn_timeout", "forfeit"]);
    let report = replay(&record, &test_catalog()).expect("the game replays");
    assert_eq!((report.actions, report.timeouts), (0, 1));
}

#[actix_rt::test]
async fn a_move_before_the_deadline_resets_it() {
    let app = app().game(QuickClockKind).spawn().await;
    let (room, mut x, mut o, _watcher) = timed_room(&app, "quick_tictactoe", Value::Null).await;
    let game_id = app
        .client
        .get_room(&room)
        .await
        .unwrap()
        .game_id
        .to_string();
    let mut clock = next_turn(&mut x.conn).await;
    assert_eq!(next_turn(&mut o.conn).await, clock);
    // Three moves, each made half a deadline after the last: together they take longer than
    // one deadline, so only a reset clock lets them through.
    let started = Instant::now();
    for (i, cell) in [4u8, 0, 8].into_iter().enumerate() {
        let (mover, other) = if i % 2 == 0 {
            (&mut x, &mut o)
        } else {
            (&mut o, &mut x)
        };
        tokio::time::sleep(QUICK / 2).await;
        mover.conn.act(Place { cell }).await.expect("in time");
        let next = next_turn(&mut other.conn).await;
        assert_eq!(next_turn(&mut mover.conn).await, next);
        assert_eq!(next.seat, (i as u8 + 1) % 2);
        assert!(
            next.deadline_ms >= clock.deadline_ms + 400,
            "the deadline moved on with the move: {clock:?} then {next:?}"
        );
        clock = next;
    }
    assert!(started.elapsed() > QUICK);
    // Then O (on turn after X's third move) stops playing and forfeits.
    let (_, timeout) = next_of(&mut x.conn, "turn_timeout").await;
    assert_eq!(timeout, json!({"seat": 1, "rule": "forfeit"}));
    assert_eq!(x.conn.game_over().await.unwrap().winners, vec![0]);

    let record = archived_record(&app, &game_id).await;
    let report = replay(&record, &test_catalog()).expect("the game replays");
    assert_eq!((report.actions, report.timeouts), (3, 1));
    assert_eq!(
        record.events.iter().filter(|e| e.kind == "turn").count(),
        4,
        "one deadline at the start and one after each move"
    );
}

#[actix_rt::test]
async fn a_late_seat_is_skipped_when_that_is_the_games_rule() {
    let app = app().game(PassingKind).spawn().await;
    let (room, mut zero, mut one, mut watcher) = timed_room(&app, "passing", Value::Null).await;
    let game_id = app
        .client
        .get_room(&room)
        .await
        .unwrap()
        .game_id
        .to_string();
    // Seat 0 never moves; seat 1 passes whenever it is on turn.
    for turn in 0..PASSING_TURNS / 2 {
        let (timeout_seq, timeout) = next_of(&mut watcher.conn, "turn_timeout").await;
        assert_eq!(timeout, json!({"seat": 0, "rule": "skip"}));
        let (skipped_seq, skipped) = next_of(&mut watcher.conn, "skipped").await;
        assert_eq!(
            skipped_seq,
            timeout_seq + 1,
            "the game's events follow the timeout"
        );
        assert_eq!(skipped, json!({"seat": 0, "turn": 2 * turn}));
        let clock = loop {
            let clock = next_turn(&mut one.conn).await;
            if clock.seat == 1 {
                break clock;
            }
        };
        assert_eq!(clock.remaining_ms, PASSING_TIMEOUT.as_millis() as u64);
        let (_, passed) = one.conn.act(json!({"pass": true})).await.unwrap();
        assert_eq!(passed, json!({"seat": 1, "turn": 2 * turn + 1}));
    }
    for conn in [&mut zero.conn, &mut one.conn, &mut watcher.conn] {
        assert_eq!(conn.game_over().await.unwrap().result, OutcomeKind::Draw);
    }
    let record = archived_record(&app, &game_id).await;
    let report = replay(&record, &test_catalog()).expect("the game replays");
    assert_eq!((report.actions, report.timeouts), (3, 3));
    assert_eq!(report.events_checked, 6);

    // A log claiming another rule is caught.
    let mut tampered = record.clone();
    let timeout = tampered
        .events
        .iter_mut()
        .find(|e| e.kind == "turn_timeout")
        .unwrap();
    let mut data = timeout.data.value();
    data["rule"] = json!("auto_move");
    timeout.data = data.into();
    assert!(replay(&tampered, &test_catalog()).is_err());
}

#[actix_rt::test]
async fn tictactoe_turn_seconds_times_out_at_its_minimum_and_replays_from_the_archive() {
    let app = app().postgres().spawn().await;
    let (room, mut x, mut o, _watcher) =
        timed_room(&app, "tictactoe", json!({"turn_seconds": 5})).await;
    let summary = app.client.get_room(&room).await.unwrap();
    let game_id = summary.game_id.to_string();
    let clock = next_turn(&mut o.conn).await;
    assert_eq!((clock.seat, clock.remaining_ms), (0, 5000));
    assert_eq!(next_turn(&mut x.conn).await, clock);
    x.conn.act(Place { cell: 4 }).await.unwrap();
    let clock = next_turn(&mut x.conn).await;
    assert_eq!(clock.seat, 1);

    // A late spectator and a player coming back both get the clock with their snapshot.
    let mut late = app.connect("Late").await;
    let joined = late.conn.join(&room, Role::Spectator).await.unwrap();
    let shown = joined
        .turn_deadline
        .expect("joined shows the running clock");
    assert_eq!((shown.seat, shown.deadline_ms), (1, clock.deadline_ms));
    assert!(shown.remaining_ms <= 5000);
    let token = o.token.token.clone();
    o.conn.close().await.unwrap();
    let mut back = app.client.connect(&token).await.unwrap();
    back.send(&ClientMsg::Resume {
        room: room.clone(),
        since_seq: 0,
        reference: Some(Ref::Number(1)),
    })
    .await
    .unwrap();
    let resumed = back
        .wait_for(WAIT, |msg| match msg {
            ServerMsg::Resumed { turn_deadline, .. } => Some(*turn_deadline),
            _ => None,
        })
        .await
        .unwrap()
        .expect("resumed shows the running clock");
    assert_eq!((resumed.seat, resumed.deadline_ms), (1, clock.deadline_ms));

    // O, back but idle, forfeits when the five seconds are up.
    let (_, timeout) = next_of(&mut x.conn, "turn_timeout").await;
    assert_eq!(timeout, json!({"seat": 1, "rule": "forfeit"}));
    assert_eq!(x.conn.game_over().await.unwrap().winners, vec![0]);

    let record = archived_record(&app, &game_id).await;
    assert_eq!(
        record.options.value(),
        json!({"players": 2, "turn_seconds": 5})
    );
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
    assert_eq!(
        (line["actions"].clone(), line["timeouts"].clone()),
        (json!(1), json!(1))
    );
}

#[actix_rt::test]
async fn games_without_a_timer_announce_no_deadline() {
    let app = app().spawn().await;
    let (room, mut x, mut o) = app.two_player_game("tictactoe").await;
    x.conn.act(Place { cell: 4 }).await.unwrap();
    o.conn.act(Place { cell: 0 }).await.unwrap();
    let mut late = app.connect("Late").await;
    let joined = late.conn.join(&room, Role::Spectator).await.unwrap();
    assert_eq!(joined.turn_deadline, None);
    let events = app.client.get_room(&room).await.unwrap().seq;
    assert_eq!(events, 3, "started and two moves, no turn events");
}
