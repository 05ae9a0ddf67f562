//! Test harness: every test gets its own real gamehall server on a random port, and talks to it
//! over real HTTP and real WebSockets through the client library. Logs are dropped unless
//! `TEST_LOG` is set.

#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use gamehall::archive::{run_migrations, DatabaseUrl};
use gamehall::auth::{IssuedToken, TokenKeys};
use gamehall::client::tictactoe::Place;
use gamehall::client::{Connection, GamehallClient, Joined};
use gamehall::config::Settings;
use gamehall::game::{
    tictactoe::TicTacToeKind, Game, GameCatalog, GameConfig, GameEvent, GameKind, OptionsError,
    Outcome, Rejection, Seat, Viewer,
};
use gamehall::ids::RoomId;
use gamehall::protocol::{Role, RoomSummary, ServerMsg};
use gamehall::{telemetry, Application};
use serde_json::{json, Value};

#[path = "../../support/pg.rs"]
pub mod pg;

pub const WAIT: Duration = Duration::from_secs(10);

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub client: GamehallClient,
    pub settings: Settings,
    pub shutdown: gamehall::Shutdown,
    /// The archive spool folder, removed when the test ends.
    pub spool: tempfile::TempDir,
    /// The PostgreSQL database of this test, if it asked for one; dropped with it.
    pub postgres: Option<pg::TestPgDb>,
    /// The server's log lines, if the test asked for them.
    pub logs: Option<CapturedLogs>,
    handle: ServerHandle,
}

pub struct TestAppBuilder {
    vars: Vec<(String, String)>,
    catalog: GameCatalog,
    postgres: Option<pg::TestPgDb>,
    logs: Option<CapturedLogs>,
}

/// Log lines written by a test's server, as the JSON it would print.
#[derive(Clone, Default)]
pub struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.lock() {
            Ok(mut bytes) => bytes.extend_from_slice(buf),
            Err(poisoned) => poisoned.into_inner().extend_from_slice(buf),
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    /// Every complete line so far, each parsed as JSON (a line that is not JSON fails the
    /// test). The logger writes a line in several pieces, so a line without its newline yet
    /// is still being written and is left for a later call.
    pub fn lines(&self) -> Vec<Value> {
        let mut bytes = match self.0.lock() {
            Ok(bytes) => bytes.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let complete = bytes
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |end| end + 1);
        bytes.truncate(complete);
        String::from_utf8(bytes)
            .expect("logs are UTF-8")
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect()
    }
}

impl TestAppBuilder {
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.vars.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Archive to a migrated PostgreSQL database of this test's own instead of in-memory SQLite.
    pub fn postgres(mut self) -> Self {
        let db = pg::TestPgDb::create();
        let url = DatabaseUrl::parse(&db.url).expect("the test database URL parses");
        run_migrations(&url).expect("the test database migrates");
        self.vars.push(("DATABASE_URL".to_owned(), db.url.clone()));
        self.postgres = Some(db);
        self
    }

    /// Keep the server's JSON log lines (at debug level) for the test to read.
    pub fn capture_logs(mut self) -> Self {
        self.logs = Some(CapturedLogs::default());
        self
    }

    pub fn game(mut self, kind: impl GameKind) -> Self {
        self.catalog = self.catalog.with(kind);
        self
    }

    /// Starts the server inside the current actix system (use `#[actix_rt::test]`).
    pub async fn spawn(self) -> TestApp {
        let spool = tempfile::tempdir().expect("a temporary spool folder");
        let mut vars = vec![
            ("ENV".to_owned(), "test".to_owned()),
            ("HOST".to_owned(), "127.0.0.1".to_owned()),
            ("PORT".to_owned(), "0".to_owned()),
            ("HTTP_WORKERS".to_owned(), "1".to_owned()),
            ("ROOM_WORKERS".to_owned(), "2".to_owned()),
            ("DATABASE_URL".to_owned(), "sqlite::memory:".to_owned()),
            // Scripted clients act far faster than people; the tests of the per-room and
            // per-player limits set their own.
            (
                "RATE_LIMIT_PER_ROOM_PER_SECOND".to_owned(),
                "100000".to_owned(),
            ),
            (
                "RATE_LIMIT_PER_PLAYER_PER_MINUTE".to_owned(),
                "1000000".to_owned(),
            ),
            (
                "ARCHIVE_SPOOL_DIR".to_owned(),
                spool.path().display().to_string(),
            ),
        ];
        vars.extend(self.vars);
        let settings = Settings::load(
            Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config")),
            vars,
        )
        .expect("test settings are valid");
        let log = match (&self.logs, std::env::var("TEST_LOG")) {
            (Some(logs), _) => telemetry::build_logger(
                gamehall::config::LogFormat::Json,
                gamehall::config::LogLevel::Debug,
                logs.clone(),
            ),
            (None, Ok(_)) => telemetry::build_logger(
                gamehall::config::LogFormat::Text,
                gamehall::config::LogLevel::Debug,
                std::io::stderr(),
            ),
            (None, Err(_)) => telemetry::discard(),
        };
        let app =
            Application::build(settings.clone(), self.catalog, log).expect("the server starts");
        let port = app.port();
        let handle = app.handle();
        let shutdown = app.shutdown();
        actix_rt::spawn(app.run_until_stopped());
        let address = format!("http://127.0.0.1:{port}");
        TestApp {
            client: GamehallClient::new(address.clone()),
            address,
            port,
            settings,
            shutdown,
            spool,
            postgres: self.postgres,
            logs: self.logs,
            handle,
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        actix_rt::spawn(async move { handle.stop(false).await });
    }
}

pub fn app() -> TestAppBuilder {
    TestAppBuilder {
        vars: Vec::new(),
        catalog: GameCatalog::standard(),
        postgres: None,
        logs: None,
    }
}

pub async fn spawn_app() -> TestApp {
    app().spawn().await
}

/// A connected player (or spectator) with their token.
pub struct Player {
    pub token: IssuedToken,
    pub conn: Connection,
}

impl TestApp {
    pub fn ws_url(&self, token: &str) -> String {
        format!("ws://127.0.0.1:{}/v1/ws?token={token}", self.port)
    }

    pub fn keys(&self) -> TokenKeys {
        TokenKeys::new(
            &self.settings.jwt_secret,
            Duration::from_secs(self.settings.jwt_ttl),
        )
    }

    pub async fn guest(&self, name: &str) -> IssuedToken {
        self.client.guest(name).await.expect("guest token")
    }

    pub async fn connect(&self, name: &str) -> Player {
        let token = self.guest(name).await;
        let conn = self
            .client
            .connect(&token.token)
            .await
            .expect("websocket connects");
        Player { token, conn }
    }

    pub async fn create_room(&self, game: &str) -> RoomSummary {
        let token = self.guest("host").await;
        self.client
            .create_room(&token.token, game, Value::Null)
            .await
            .expect("room created")
    }

    /// A tic-tac-toe room with two seated players: (room, X on seat 0, O on seat 1). Both have
    /// seen the `started` event and their first `state`.
    pub async fn two_player_game(&self, game: &str) -> (RoomId, Player, Player) {
        let room = self.create_room(game).await;
        let mut x = self.connect("Xavier").await;
        let mut o = self.connect("Olga").await;
        let jx = x.conn.join(&room.id, Role::Player).await.expect("X joins");
        let jo = o.conn.join(&room.id, Role::Player).await.expect("O joins");
        assert_eq!((jx.seat, jo.seat), (Some(0), Some(1)));
        for p in [&mut x, &mut o] {
            let started = next_event(&mut p.conn).await;
            assert_eq!(started.1, "started");
        }
        (room.id, x, o)
    }
}

/// The next `event` frame: (seq, kind, data). Other frames in between are skipped.
pub async fn next_event(conn: &mut Connection) -> (u64, String, Value) {
    conn.wait_for(WAIT, |msg| match msg {
        ServerMsg::Event {
            seq, kind, data, ..
        } => Some((*seq, kind.to_string(), data.clone())),
        _ => None,
    })
    .await
    .expect("an event arrives")
}

/// Plays `cells` alternately, X first; each mover waits for its own event, the other player sees
/// the same event with the same seq.
pub async fn play_out(x: &mut Connection, o: &mut Connection, cells: &[u8]) -> Vec<u64> {
    let mut seqs = Vec::new();
    for (i, &cell) in cells.iter().enumerate() {
        let (mover, watcher) = if i % 2 == 0 {
            (&mut *x, &mut *o)
        } else {
            (&mut *o, &mut *x)
        };
        let (seq, data) = mover
            .act(Place { cell })
            .await
            .expect("legal move accepted");
        assert_eq!(data["cell"], cell);
        assert_eq!(data["seat"], (i % 2) as u64);
        let seen = next_event(watcher).await;
        assert_eq!((seen.0, seen.1.as_str()), (seq, "move"));
        seqs.push(seq);
    }
    seqs
}

/// The next `error` frame's code.
pub async fn next_error(conn: &mut Connection) -> (gamehall::protocol::ErrorCode, String) {
    conn.wait_for(WAIT, |msg| match msg {
        ServerMsg::Error { code, message, .. } => Some((*code, message.clone())),
        _ => None,
    })
    .await
    .expect("an error arrives")
}

/// A connection that has joined, for brevity in assertions.
pub fn seat(joined: &Joined) -> Option<Seat> {
    joined.seat
}

/// Test-only game kind: tic-tac-toe that panics when a player sends `{"panic": true}`, to prove
/// that a failing game stops only its own room.
pub struct PanickyKind;

pub struct Panicky(Box<dyn Game>);

impl GameKind for PanickyKind {
    fn name(&self) -> &'static str {
        "panicky"
    }

    fn configure(&self, options: &Value) -> Result<GameConfig, OptionsError> {
        TicTacToeKind.configure(options)
    }

    fn setup(&self, config: &GameConfig, seed: u64) -> Box<dyn Game> {
        Box::new(Panicky(TicTacToeKind.setup(config, seed)))
    }
}

impl Game for Panicky {
    fn apply(&mut self, seat: Seat, action: &Value) -> Result<Vec<GameEvent>, Rejection> {
        if action == &json!({"panic": true}) {
            panic!("the panicky game panicked on purpose");
        }
        self.0.apply(seat, action)
    }

    fn view(&self, viewer: Viewer) -> Value {
        self.0.view(viewer)
    }

    fn outcome(&self) -> Option<Outcome> {
        self.0.outcome()
    }
}

pub const ADMIN_TOKEN: &str = "gamehall-development-admin-token";

/// Flushes the archive and reads `game_id` back through the read API (`GET /v1/games/{id}` and
/// its events) as the record `gamehall replay` would load.
pub async fn archived_record(app: &TestApp, game_id: &str) -> gamehall::archive::GameRecord {
    let deadline = tokio::time::Instant::now() + WAIT;
    let detail = loop {
        app.client
            .flush_archive(ADMIN_TOKEN)
            .await
            .expect("the archive flushes");
        match app.client.get_game(game_id).await {
            Ok(detail) => break detail,
            Err(err) => assert!(
                tokio::time::Instant::now() < deadline,
                "game {game_id} was not archived: {err}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let events = app
        .client
        .game_events(game_id)
        .await
        .expect("the events of an archived game");
    gamehall::archive::GameRecord {
        game_id: detail.game_id,
        room_id: detail.room_id,
        game_kind: detail.game_kind,
        seed: detail.seed.parse().expect("the seed is a u64 as text"),
        options: detail.options.into(),
        players: detail.players,
        outcome: detail.outcome,
        final_state: detail.final_state.into(),
        started_at: detail.started_at,
        completed_at: detail.completed_at,
        events: events.events,
        events_truncated: detail.events_truncated,
    }
}

/// The Prometheus text of `/metrics`.
pub async fn metrics_text(app: &TestApp) -> String {
    let response = reqwest::get(format!("{}/metrics", app.address))
        .await
        .expect("metrics answer");
    assert_eq!(response.status(), 200);
    response.text().await.expect("metrics text")
}

/// The value of the sample whose name and labels are exactly `series`, or 0 when absent.
pub fn metric_sample(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok()).flatten()
        })
        .unwrap_or(0.0)
}

/// The HTTP error of a refused room creation: (status, code, message).
pub async fn refused_room(app: &TestApp, game: &str, options: Value) -> (u16, String, String) {
    let token = app.guest("host").await;
    match app.client.create_room(&token.token, game, options).await {
        Err(gamehall::client::ClientError::Api {
            status,
            code,
            message,
        }) => (status, code, message),
        other => panic!("expected a refusal, got {other:?}"),
    }
}
