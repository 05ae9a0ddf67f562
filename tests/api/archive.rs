//! Finished games reach the archive over the real path: WebSocket play, room, archiver, database
//! (in-memory SQLite and PostgreSQL), then the read API, the flush endpoint and `gamehall replay`.

use std::collections::HashSet;
use std::process::Command;
use std::time::Duration;

use diesel::RunQueryDsl;
use gamehall::archive::{run_migrations, DatabaseUrl};
use gamehall::auth::IssuedToken;
use gamehall::client::tictactoe::Place;
use gamehall::client::{ClientError, GameListQuery};
use gamehall::game::{Outcome, OutcomeKind};
use gamehall::protocol::Role;

use crate::common::{
    app, archived_record, metric_sample, metrics_text, next_event, pg, play_out, PanickyKind,
    TestApp, WAIT,
};

const ADMIN_TOKEN: &str = "gamehall-development-admin-token";
/// X wins along the top row.
const X_WINS: [u8; 5] = [0, 3, 1, 4, 2];

/// Plays one tic-tac-toe game to X's win over WebSocket. Returns the game's id and every
/// (seq, kind) the players saw.
async fn play_a_game(app: &TestApp) -> (String, Vec<(u64, String)>) {
    let (room, mut x, mut o) = app.two_player_game("tictactoe").await;
    let game_id = app
        .client
        .get_room(&room)
        .await
        .unwrap()
        .game_id
        .to_string();
    let seqs = play_out(&mut x.conn, &mut o.conn, &X_WINS).await;
    assert_eq!(x.conn.game_over().await.unwrap(), Outcome::win(0));
    let seen = std::iter::once((1, "started".to_owned()))
        .chain(seqs.into_iter().map(|seq| (seq, "move".to_owned())))
        .collect();
    (game_id, seen)
}

/// Polls the read API until `n` games are archived, or fails after `within`.
async fn wait_for_archived(app: &TestApp, n: usize, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let page = app
            .client
            .list_games(&GameListQuery {
                limit: Some(100),
                ..GameListQuery::default()
            })
            .await
            .unwrap();
        if page.games.len() >= n {
            assert_eq!(page.games.len(), n, "more games archived than played");
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {n} games archived after {within:?}",
            page.games.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn a_played_game_is_archived_with_every_event_in_order(app: TestApp) {
    let (game_id, seen) = play_a_game(&app).await;
    let report = app.client.flush_archive(ADMIN_TOKEN).await.unwrap();
    assert_eq!((report.flushed, report.pending), (1, 0));

    let game = app.client.get_game(&game_id).await.unwrap();
    assert_eq!(game.game_kind, "tictactoe");
    assert_eq!(game.outcome, Outcome::win(0));
    assert_eq!(game.winner_name.as_deref(), Some("Xavier"));
    assert_eq!(game.players.len(), 2);
    assert_eq!(game.events, seen.len());
    assert_eq!(game.final_state["board"][2], "X");

    let events = app.client.game_events(&game_id).await.unwrap();
    let archived: Vec<(u64, String)> = events
        .events
        .iter()
        .map(|e| (e.seq, e.kind.clone()))
        .collect();
    assert_eq!(archived, seen, "every event, in order, with no gap");
    let actions: Vec<u64> = events
        .events
        .iter()
        .filter_map(|e| e.action.as_ref())
        .map(|a| a.action.value()["cell"].as_u64().unwrap())
        .collect();
    assert_eq!(actions, X_WINS.map(u64::from).to_vec());

    // Listed, and findable by player.
    let x_id = game.players[0].player_id.clone();
    let mine = app
        .client
        .list_games(&GameListQuery {
            player: Some(x_id),
            ..GameListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(mine.games.len(), 1);
    assert_eq!(mine.games[0].game_id, game_id);
    let nobody = app
        .client
        .list_games(&GameListQuery {
            player: Some("someone-else".into()),
            ..GameListQuery::default()
        })
        .await
        .unwrap();
    assert!(nobody.games.is_empty());

    // A second flush has nothing left to write.
    let again = app.client.flush_archive(ADMIN_TOKEN).await.unwrap();
    assert_eq!((again.flushed, again.pending), (0, 0));
}

#[actix_rt::test]
async fn a_played_game_is_archived_in_sqlite() {
    a_played_game_is_archived_with_every_event_in_order(app().spawn().await).await;
}

#[actix_rt::test]
async fn a_played_game_is_archived_in_postgres() {
    a_played_game_is_archived_with_every_event_in_order(app().postgres().spawn().await).await;
}

#[actix_rt::test]
async fn the_flush_endpoint_needs_the_admin_token() {
    let app = app().spawn().await;
    let url = format!("{}/admin/archive/flush", app.address);
    let http = reqwest::Client::new();
    for auth in [
        None,
        Some("Bearer wrong-token-wrong-token"),
        Some(ADMIN_TOKEN),
    ] {
        let mut request = http.post(&url);
        if let Some(value) = auth {
            request = request.header("Authorization", value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "auth {auth:?}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    // A player's token is not an admin token either.
    let player = app.guest("Player").await;
    match app.client.flush_archive(&player.token).await {
        Err(ClientError::Api { status, .. }) => assert_eq!(status, 401),
        other => panic!("expected 401, got {other:?}"),
    }
    assert!(app.client.flush_archive(ADMIN_TOKEN).await.is_ok());
    // The scheme's name is matched whatever its case, as HTTP says; the token itself is not.
    for (auth, status) in [
        (format!("bearer {ADMIN_TOKEN}"), 200),
        (format!("BEARER  {ADMIN_TOKEN} "), 200),
        (format!("Basic {ADMIN_TOKEN}"), 401),
        (format!("Bearer {}", ADMIN_TOKEN.to_uppercase()), 401),
    ] {
        let response = http
            .post(&url)
            .header("Authorization", &auth)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "auth {auth}");
    }
}

#[actix_rt::test]
async fn a_full_batch_is_written_without_a_flush() {
    let app = app()
        .env("ARCHIVE_BATCH_SIZE", "3")
        .env("ARCHIVE_FLUSH_INTERVAL", "3600")
        .spawn()
        .await;
    for _ in 0..2 {
        play_a_game(&app).await;
    }
    // Two of three: nothing is written yet.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let page = app
        .client
        .list_games(&GameListQuery::default())
        .await
        .unwrap();
    assert!(page.games.is_empty(), "a partial batch was written early");
    play_a_game(&app).await;
    wait_for_archived(&app, 3, WAIT).await;
}

#[actix_rt::test]
async fn pending_games_are_written_every_flush_interval() {
    let app = app()
        .env("ARCHIVE_BATCH_SIZE", "100")
        .env("ARCHIVE_FLUSH_INTERVAL", "1")
        .spawn()
        .await;
    play_a_game(&app).await;
    wait_for_archived(&app, 1, WAIT).await;
}

#[actix_rt::test]
async fn forfeits_and_abandoned_games_are_archived_too() {
    let app = app().env("RECONNECT_GRACE", "1").spawn().await;
    let (room, mut x, o) = app.two_player_game("tictactoe").await;
    let game_id = app
        .client
        .get_room(&room)
        .await
        .unwrap()
        .game_id
        .to_string();
    x.conn.act(Place { cell: 4 }).await.unwrap();
    drop(o);
    assert_eq!(
        x.conn.game_over().await.unwrap().result,
        OutcomeKind::Forfeit
    );
    app.client.flush_archive(ADMIN_TOKEN).await.unwrap();
    let game = app.client.get_game(&game_id).await.unwrap();
    assert_eq!(game.outcome, Outcome::forfeit(2, vec![1]));
    let kinds: Vec<String> = app
        .client
        .game_events(&game_id)
        .await
        .unwrap()
        .events
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["started", "move", "forfeit"]);
}

#[actix_rt::test]
async fn with_archival_off_games_play_and_the_archive_api_says_so() {
    let app = app().env("USE_GAME_ARCHIVAL", "false").spawn().await;
    let (game_id, _) = play_a_game(&app).await;
    match app.client.get_game(&game_id).await {
        Err(ClientError::Api { status, .. }) => assert_eq!(status, 404),
        other => panic!("expected 404, got {other:?}"),
    }
    match app.client.flush_archive(ADMIN_TOKEN).await {
        Err(ClientError::Api { status, .. }) => assert_eq!(status, 404),
        other => panic!("expected 404, got {other:?}"),
    }
    let health: serde_json::Value = reqwest::get(format!("{}/health/ready", app.address))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ready");
    assert!(health["checks"].get("archiver").is_none());
}

#[actix_rt::test]
async fn bad_read_api_input_gets_typed_errors() {
    let app = app().spawn().await;
    let http = reqwest::Client::new();
    for (path, status) in [
        ("/v1/games?limit=0", 400),
        ("/v1/games?limit=101", 400),
        ("/v1/games?limit=ten", 400),
        ("/v1/games?before=not-a-cursor!", 400),
        ("/v1/games?colour=red", 400),
        ("/v1/games/no-such-game", 404),
        ("/v1/games/no-such-game/events", 404),
    ] {
        let response = http
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(body["error"]["code"].is_string(), "{path}: {body}");
    }
}

/// A hundred games played over WebSocket, archived in PostgreSQL, each replayed by
/// `gamehall replay --all` from its seed and actions to the same events and outcome.
#[actix_rt::test]
async fn a_hundred_archived_games_replay_to_their_outcomes() {
    let app = app()
        .postgres()
        .env("ARCHIVE_BATCH_SIZE", "25")
        .spawn()
        .await;
    let games: Vec<_> = (0..100)
        .map(|i| {
            let cells: &'static [u8] = match i % 3 {
                0 => &[0, 3, 1, 4, 2],
                1 => &[0, 1, 3, 4, 8, 7],
                _ => &[0, 1, 2, 4, 3, 5, 7, 6, 8],
            };
            play_cells(&app, cells)
        })
        .collect();
    for outcome in futures_util::future::join_all(games).await {
        assert!(matches!(
            outcome.result,
            OutcomeKind::Win | OutcomeKind::Draw
        ));
    }
    app.client.flush_archive(ADMIN_TOKEN).await.unwrap();
    wait_for_archived(&app, 100, WAIT).await;

    let db = app.postgres.as_ref().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gamehall"))
        .args(["replay", "--all"])
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
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["replayed"], 100);
    assert_eq!(summary["matched"], 100);
    assert_eq!(summary["failed"], 0);
}

async fn play_cells(app: &TestApp, cells: &'static [u8]) -> Outcome {
    let (_, mut x, mut o) = app.two_player_game("tictactoe").await;
    play_out(&mut x.conn, &mut o.conn, cells).await;
    x.conn.game_over().await.unwrap()
}

// ---------------------------------------------------------------------------------------------
// Keyset pagination over HTTP

/// Plays one game of `kind` (tic-tac-toe rules) to X's win, with `x` on seat 0 (a new
/// connection for that player) and a new guest on seat 1. Returns the game's id.
async fn play_as(app: &TestApp, kind: &str, x: &IssuedToken) -> String {
    let room = app.create_room(kind).await;
    let mut x = app.client.connect(&x.token).await.expect("X connects");
    let mut o = app.connect("Olga").await;
    x.join(&room.id, Role::Player).await.expect("X joins");
    o.conn.join(&room.id, Role::Player).await.expect("O joins");
    for conn in [&mut x, &mut o.conn] {
        assert_eq!(next_event(conn).await.1, "started");
    }
    play_out(&mut x, &mut o.conn, &X_WINS).await;
    assert_eq!(x.game_over().await.unwrap(), Outcome::win(0));
    room.game_id.to_string()
}

/// `GET /v1/games` with `query`, page after page, passing each page's `next` back as `before`
/// exactly as the server sent it. Returns the ids in the order listed and the page sizes.
async fn walk_pages(
    app: &TestApp,
    query: &[(&str, &str)],
    limit: usize,
) -> (Vec<String>, Vec<usize>) {
    let http = reqwest::Client::new();
    let limit_text = limit.to_string();
    let (mut ids, mut sizes) = (Vec::new(), Vec::new());
    let mut before: Option<String> = None;
    let mut last_completed: Option<chrono::DateTime<chrono::Utc>> = None;
    loop {
        assert!(sizes.len() < 20, "the pages never end: {query:?}");
        let mut params: Vec<(&str, &str)> = query.to_vec();
        params.push(("limit", &limit_text));
        if let Some(cursor) = &before {
            params.push(("before", cursor));
        }
        let response = http
            .get(format!("{}/v1/games", app.address))
            .query(&params)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{params:?}");
        let page: serde_json::Value = response.json().await.unwrap();
        let games = page["games"].as_array().expect("`games` is an array");
        assert!(games.len() <= limit, "{params:?}: {page}");
        for game in games {
            let completed: chrono::DateTime<chrono::Utc> =
                serde_json::from_value(game["completed_at"].clone()).expect("a timestamp");
            if let Some(previous) = &last_completed {
                assert!(completed <= *previous, "{params:?}: out of order: {page}");
            }
            last_completed = Some(completed);
            ids.push(game["game_id"].as_str().unwrap().to_owned());
        }
        sizes.push(games.len());
        match &page["next"] {
            serde_json::Value::Null => break,
            serde_json::Value::String(next) => {
                assert_eq!(games.len(), limit, "only a full page has a next: {page}");
                before = Some(next.clone());
            }
            other => panic!("`next` is a string or null, not {other}"),
        }
    }
    (ids, sizes)
}

/// Asserts that `ids` lists every game of `expected` (oldest first) exactly once, newest first.
fn assert_listed_once_newest_first(ids: &[String], expected: &[&String], what: &str) {
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(
        unique.len(),
        ids.len(),
        "{what}: a game is listed twice: {ids:?}"
    );
    let newest_first: Vec<&String> = expected.iter().rev().copied().collect();
    assert_eq!(ids.iter().collect::<Vec<_>>(), newest_first, "{what}");
}

async fn keyset_pages_list_every_game_once_in_order(app: TestApp) {
    // Six games, one after the other: five tic-tac-toe and one of another kind, and one
    // player sitting in three of them.
    let regular = app.guest("Regina").await;
    let mut played = Vec::new();
    for (kind, with_regular) in [
        ("tictactoe", true),
        ("tictactoe", false),
        ("panicky", true),
        ("tictactoe", false),
        ("tictactoe", true),
        ("tictactoe", false),
    ] {
        let x = if with_regular {
            regular.clone()
        } else {
            app.guest("Xavier").await
        };
        played.push((play_as(&app, kind, &x).await, kind, with_regular));
    }
    let report = app.client.flush_archive(ADMIN_TOKEN).await.unwrap();
    assert_eq!((report.flushed, report.pending), (6, 0));
    let all: Vec<&String> = played.iter().map(|(id, _, _)| id).collect();

    let (ids, sizes) = walk_pages(&app, &[], 2).await;
    assert_eq!(sizes, [2, 2, 2], "the last full page has no next");
    assert_listed_once_newest_first(&ids, &all, "every game");
    let (ids, sizes) = walk_pages(&app, &[], 4).await;
    assert_eq!(sizes, [4, 2]);
    assert_listed_once_newest_first(&ids, &all, "pages of 4");

    let tictactoe: Vec<&String> = played
        .iter()
        .filter(|(_, kind, _)| *kind == "tictactoe")
        .map(|(id, _, _)| id)
        .collect();
    let (ids, sizes) = walk_pages(&app, &[("game", "tictactoe")], 2).await;
    assert_eq!(sizes, [2, 2, 1]);
    assert_listed_once_newest_first(&ids, &tictactoe, "?game=tictactoe");
    let (ids, _) = walk_pages(&app, &[("game", "panicky")], 2).await;
    assert_listed_once_newest_first(&ids, &[&played[2].0], "?game=panicky");
    let (ids, sizes) = walk_pages(&app, &[("game", "chess")], 2).await;
    assert_eq!((ids.len(), sizes), (0, vec![0]));

    let regulars: Vec<&String> = played
        .iter()
        .filter(|(_, _, with_regular)| *with_regular)
        .map(|(id, _, _)| id)
        .collect();
    let player = regular.player_id.to_string();
    let (ids, sizes) = walk_pages(&app, &[("player", &player)], 2).await;
    assert_eq!(sizes, [2, 1]);
    assert_listed_once_newest_first(&ids, &regulars, "?player=");
    let (ids, _) = walk_pages(&app, &[("player", &player), ("game", "tictactoe")], 1).await;
    assert_listed_once_newest_first(&ids, &[&played[0].0, &played[4].0], "both filters");
    let (ids, _) = walk_pages(&app, &[("player", "nobody-at-all")], 2).await;
    assert!(ids.is_empty());

    // A cursor that is not one the server issued is a typed 400, never a 500 or an empty page.
    let http = reqwest::Client::new();
    for (cursor, reason) in [
        ("not-a-cursor!", "cursor is not valid base64url"),
        ("WzFd", "cursor does not name a position"), // [1]
        ("WyJ4IiwieSJd", "cursor does not name a position"), // ["x","y"]
        // A timestamp no date can have.
        (
            "Wzk5OTk5OTk5OTk5OTk5OTk5OTk5LCJnIl0",
            "cursor does not name a position",
        ),
        (&"A".repeat(257), "cursor is too long"),
    ] {
        let response = http
            .get(format!("{}/v1/games", app.address))
            .query(&[("limit", "2"), ("before", cursor)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{cursor}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "bad_request", "{cursor}: {body}");
        assert_eq!(
            body["error"]["message"],
            format!("bad `before`: {reason}"),
            "{cursor}"
        );
    }
}

#[actix_rt::test]
async fn keyset_pages_over_http_list_every_game_once_in_sqlite() {
    keyset_pages_list_every_game_once_in_order(app().game(PanickyKind).spawn().await).await;
}

#[actix_rt::test]
async fn keyset_pages_over_http_list_every_game_once_in_postgres() {
    keyset_pages_list_every_game_once_in_order(app().game(PanickyKind).postgres().spawn().await)
        .await;
}

// ---------------------------------------------------------------------------------------------
// The database cut off mid-run

/// The TCP proxy of tests/archive.rs that cuts live PostgreSQL connections. It brings its own
/// copy of tests/support/pg.rs, the same file as `crate::common::pg`, and helpers unused here.
#[allow(dead_code, clippy::duplicate_mod)]
#[path = "../archive_support/mod.rs"]
mod archive_support;

/// GET `path` as JSON: (status, body).
async fn get_json(app: &TestApp, path: &str) -> (u16, serde_json::Value) {
    let response = reqwest::get(format!("{}{path}", app.address))
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// The archive counters of `/metrics`, each asserted to be exported: (pending, spooled,
/// written, failed, rejected, database_up).
async fn archive_metrics(app: &TestApp) -> [f64; 6] {
    let text = metrics_text(app).await;
    [
        "gamehall_archive_pending",
        "gamehall_archive_spooled",
        "gamehall_archive_written_total",
        "gamehall_archive_failed_total",
        "gamehall_archive_rejected_total",
        "gamehall_database_up",
    ]
    .map(|name| {
        assert!(
            text.lines()
                .any(|line| line.starts_with(&format!("{name} "))),
            "{name} is not exported:\n{text}"
        );
        metric_sample(&text, name)
    })
}

#[actix_rt::test]
async fn a_database_outage_mid_run_degrades_readiness_until_the_spool_is_flushed() {
    let proxy = archive_support::ChaosProxy::start(archive_support::pg_server_addr());
    let db = pg::TestPgDb::create();
    run_migrations(&DatabaseUrl::parse(&db.url).unwrap()).expect("the test database migrates");
    let app = app()
        .env("DATABASE_URL", &db.url_via(&proxy.server()))
        // Every finished game is written at once; no timer retries behind the test's back.
        .env("ARCHIVE_BATCH_SIZE", "1")
        .env("ARCHIVE_FLUSH_INTERVAL", "3600")
        // Also the pool's wait for a connection: failures come within a second.
        .env("HEALTH_CHECK_TIMEOUT", "1")
        .spawn()
        .await;

    let (first, _) = play_a_game(&app).await;
    archived_record(&app, &first).await;
    let (status, ready) = get_json(&app, "/health/ready").await;
    assert_eq!(
        (status, ready["status"].as_str()),
        (200, Some("ready")),
        "{ready}"
    );
    assert_eq!(archive_metrics(&app).await, [0.0, 0.0, 1.0, 0.0, 0.0, 1.0]);

    // The database goes away mid-run: games go on, and the one finished now is spooled.
    proxy.cut();
    let (second, _) = play_a_game(&app).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let archive = loop {
        let status = app.client.admin_status(ADMIN_TOKEN).await.unwrap();
        let archive = status.archive.expect("archiving is on");
        if archive.spooled == 1 {
            break archive;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the second game was not spooled: {archive:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        (
            archive.pending,
            archive.written,
            archive.failed,
            archive.rejected
        ),
        (0, 1, 1, 0)
    );
    assert!(
        archive.degraded && archive.last_error.is_some(),
        "{archive:?}"
    );

    // Degraded, not unready: the server stays in service.
    let (status, ready) = get_json(&app, "/health/ready").await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["status"], "degraded", "{ready}");
    crate::web::assert_documented_as("Readiness", &ready);
    let checks = &ready["checks"];
    assert_eq!(checks["registry"]["status"], "up", "{ready}");
    assert_eq!(checks["database"]["status"], "degraded", "{ready}");
    assert_eq!(checks["database"]["backend"], "PostgreSQL", "{ready}");
    assert!(checks["database"]["error"]
        .as_str()
        .is_some_and(|e| !e.is_empty()));
    let archiver = &checks["archiver"];
    assert_eq!(archiver["status"], "degraded", "{ready}");
    assert_eq!(
        [
            &archiver["pending"],
            &archiver["spooled"],
            &archiver["written"],
            &archiver["failed"]
        ],
        [0, 1, 1, 1],
        "{ready}"
    );
    assert_eq!(archiver["degraded"], true);
    let (status, health) = get_json(&app, "/health").await;
    assert_eq!((status, health["status"].as_str()), (200, Some("degraded")));
    crate::web::assert_documented_as("Health", &health);
    // `gamehall_database_up` is what the last check saw.
    assert_eq!(archive_metrics(&app).await, [0.0, 1.0, 1.0, 1.0, 0.0, 0.0]);

    // Reads fail with a typed 503; a flush keeps the game spooled and says so.
    let (status, body) = get_json(&app, "/v1/games").await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (503, &"unavailable".into()),
        "{body}"
    );
    crate::web::assert_documented_as("Error", &body);
    let report = app.client.flush_archive(ADMIN_TOKEN).await.unwrap();
    assert_eq!((report.flushed, report.pending), (0, 1));

    // Back: one flush replays the spool, and readiness is ready again.
    proxy.restore();
    let report = app.client.flush_archive(ADMIN_TOKEN).await.unwrap();
    assert_eq!((report.flushed, report.pending), (1, 0));
    let (status, ready) = get_json(&app, "/health/ready").await;
    assert_eq!(
        (status, ready["status"].as_str()),
        (200, Some("ready")),
        "{ready}"
    );
    assert_eq!(ready["checks"]["database"]["status"], "up", "{ready}");
    assert_eq!(ready["checks"]["archiver"]["status"], "up", "{ready}");
    assert_eq!(ready["checks"]["archiver"]["degraded"], false, "{ready}");
    // The failure stays counted: it is a counter.
    assert_eq!(archive_metrics(&app).await, [0.0, 0.0, 2.0, 1.0, 0.0, 1.0]);

    // Each game is stored exactly once, with its six events once each.
    let page = app
        .client
        .list_games(&GameListQuery::default())
        .await
        .unwrap();
    let listed: Vec<&str> = page.games.iter().map(|g| g.game_id.as_str()).collect();
    assert_eq!(listed, [second.as_str(), first.as_str()]);
    let stored = |sql: &str| {
        diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(sql))
            .get_result::<i64>(&mut db.connect())
            .expect("a query on the test database")
    };
    assert_eq!(stored("(SELECT count(*) FROM archive.completed_games)"), 2);
    assert_eq!(
        stored("(SELECT count(DISTINCT game_id) FROM archive.completed_games)"),
        2
    );
    assert_eq!(stored("(SELECT count(*) FROM archive.game_events)"), 12);
    assert_eq!(
        stored("(SELECT count(DISTINCT (game_id, seq)) FROM archive.game_events)"),
        12
    );
    for id in [&first, &second] {
        assert_eq!(app.client.game_events(id).await.unwrap().events.len(), 6);
    }
}

/// `gamehall_move_broadcast_during_archive_write_seconds` counts exactly the moves made while a
/// writer is inside a batch: here, held there by a lock on the games table.
#[actix_rt::test]
async fn moves_made_while_a_batch_is_written_are_counted_apart() {
    use diesel::connection::SimpleConnection;

    let app = app()
        .postgres()
        .env("ARCHIVE_BATCH_SIZE", "1")
        .env("ARCHIVE_FLUSH_INTERVAL", "3600")
        .spawn()
        .await;
    let db = app.postgres.as_ref().expect("a PostgreSQL archive");
    let (_, mut x, mut o) = app.two_player_game("tictactoe").await;
    play_out(&mut x.conn, &mut o.conn, &X_WINS[..2]).await;
    assert_eq!(move_counts(&app).await, (2.0, 0.0));

    // Inserts wait for this lock (reads do not): the next batch's writer stays inside it.
    let mut locker = db.connect();
    locker
        .batch_execute("BEGIN; LOCK TABLE archive.completed_games IN EXCLUSIVE MODE")
        .expect("lock the games table");
    let (held, _) = play_a_game(&app).await;
    // Its last move was counted before the game finished and its batch went to the writer.
    assert_eq!(move_counts(&app).await, (7.0, 0.0));
    let mut watcher = db.connect();
    archive_support::wait_until("the writer waits for the lock", WAIT, || {
        waiting_for_a_lock(&mut watcher) > 0
    })
    .await;
    play_out(&mut x.conn, &mut o.conn, &[1, 4]).await;
    assert_eq!(move_counts(&app).await, (9.0, 2.0));

    locker.batch_execute("ROLLBACK").expect("release the lock");
    archived_record(&app, &held).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    // The writer leaves its batch before counting it.
    while metric_sample(&metrics_text(&app).await, "gamehall_archive_batches_total") < 1.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the batch was never counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    play_out(&mut x.conn, &mut o.conn, &[2]).await;
    assert_eq!(move_counts(&app).await, (10.0, 2.0));
}

/// Moves counted in `gamehall_move_broadcast_seconds`, and those of them made while the
/// archive was writing a batch.
async fn move_counts(app: &TestApp) -> (f64, f64) {
    let text = metrics_text(app).await;
    (
        metric_sample(&text, "gamehall_move_broadcast_seconds_count"),
        metric_sample(
            &text,
            "gamehall_move_broadcast_during_archive_write_seconds_count",
        ),
    )
}

/// Sessions of this database waiting for a lock (the archive's writer, here).
fn waiting_for_a_lock(conn: &mut diesel::PgConnection) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Waiting {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        sessions: i64,
    }
    diesel::sql_query(
        "SELECT count(*) AS sessions FROM pg_stat_activity \
         WHERE datname = current_database() AND wait_event_type = 'Lock'",
    )
    .get_result::<Waiting>(conn)
    .expect("pg_stat_activity answers")
    .sessions
}
