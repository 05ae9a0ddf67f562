//! Finished games reach the archive over the real path: WebSocket play, room, archiver, database
//! (in-memory SQLite and PostgreSQL), then the read API, the flush endpoint and `gamehall replay`.

use std::process::Command;
use std::time::Duration;

use gamehall::client::tictactoe::Place;
use gamehall::client::{ClientError, GameListQuery};
use gamehall::game::{Outcome, OutcomeKind};

use crate::common::{app, play_out, TestApp, WAIT};

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
        .map(|a| a.action["cell"].as_u64().unwrap())
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
