//! The browser pages over plain HTTP: what is served, with which headers, and the admin status
//! endpoint behind the admin token. The pages themselves run in Chromium in `e2e.rs`.

use gamehall::client::ClientError;
use gamehall::protocol::{Role, RoomStatus};
use reqwest::header;

use crate::common::{app, play_out};

const ADMIN_TOKEN: &str = "gamehall-development-admin-token";

#[actix_rt::test]
async fn the_pages_and_their_files_are_served_from_the_binary_with_a_strict_policy() {
    let app = app().spawn().await;
    let http = reqwest::Client::new();
    for (path, content_type, marker) in [
        ("/", "text/html; charset=utf-8", "/assets/js/app.js"),
        ("/admin", "text/html; charset=utf-8", "/assets/js/admin.js"),
        (
            "/assets/js/app.js",
            "text/javascript; charset=utf-8",
            "import",
        ),
        (
            "/assets/js/games/tictactoe.js",
            "text/javascript; charset=utf-8",
            "cell",
        ),
        ("/assets/style.css", "text/css; charset=utf-8", ".ttt"),
        ("/assets/icon.svg", "image/svg+xml", "<svg"),
    ] {
        let response = http
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers().clone();
        assert_eq!(headers[header::CONTENT_TYPE], content_type, "{path}");
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        assert!(csp.contains("script-src 'self';"), "{path}: {csp}");
        assert!(!csp.contains("unsafe"), "{path}: {csp}");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
        let etag = headers[header::ETAG].to_str().unwrap().to_owned();
        assert!(response.text().await.unwrap().contains(marker), "{path}");

        // A browser revalidating its copy gets 304 without a body.
        let again = http
            .get(format!("{}{path}", app.address))
            .header(header::IF_NONE_MATCH, &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path}");
        assert_eq!(again.headers()[header::ETAG].to_str().unwrap(), etag);
        assert!(again.bytes().await.unwrap().is_empty());
    }

    // Scripts and styles may travel compressed.
    let gzipped = http
        .get(format!("{}/assets/js/room.js", app.address))
        .header(header::ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gzipped.headers()[header::CONTENT_ENCODING], "gzip");

    for missing in [
        "/assets/nope.js",
        "/assets/../Cargo.toml",
        "/assets/index.html",
        "/index.html",
    ] {
        let response = http
            .get(format!("{}{missing}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{missing}");
    }
    // The API next to the pages is untouched.
    let rooms = http
        .get(format!("{}/v1/rooms", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(rooms.status(), 200);
    assert_eq!(
        rooms.headers()[header::CONTENT_TYPE],
        "application/json",
        "the API is not served as a page"
    );
}

#[actix_rt::test]
async fn admin_status_needs_the_admin_token() {
    let app = app().spawn().await;
    let url = format!("{}/admin/status", app.address);
    let http = reqwest::Client::new();
    for auth in [
        None,
        Some("Bearer wrong-token-wrong-token"),
        Some(ADMIN_TOKEN),
    ] {
        let mut request = http.get(&url);
        if let Some(value) = auth {
            request = request.header("Authorization", value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "auth {auth:?}");
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    let player = app.guest("Player").await;
    match app.client.admin_status(&player.token).await {
        Err(ClientError::Api { status, .. }) => assert_eq!(status, 401),
        other => panic!("expected 401, got {other:?}"),
    }
}

#[actix_rt::test]
async fn admin_status_shows_rooms_players_archive_and_key_metrics() {
    let app = app()
        .env("ARCHIVE_FLUSH_INTERVAL", "3600")
        .env("ARCHIVE_BATCH_SIZE", "100")
        .spawn()
        .await;
    let empty = app.client.admin_status(ADMIN_TOKEN).await.unwrap();
    assert!(empty.rooms.is_empty());
    assert_eq!(empty.metrics.moves, 0);

    // One finished game, one waiting room with a player and a spectator.
    let (finished, mut x, mut o) = app.two_player_game("tictactoe").await;
    play_out(&mut x.conn, &mut o.conn, &[0, 3, 1, 4, 2]).await;
    x.conn.game_over().await.unwrap();
    let waiting = app.create_room("tictactoe").await;
    let mut host = app.connect("Hostess").await;
    host.conn.join(&waiting.id, Role::Player).await.unwrap();
    let mut watcher = app.connect("Watcher").await;
    watcher
        .conn
        .join(&waiting.id, Role::Spectator)
        .await
        .unwrap();

    let status = app.client.admin_status(ADMIN_TOKEN).await.unwrap();
    let room = |id| {
        status
            .rooms
            .iter()
            .find(|r| &r.id == id)
            .unwrap_or_else(|| panic!("room {id} listed"))
    };
    let done = room(&finished);
    assert_eq!(done.status, RoomStatus::Finished);
    let names: Vec<&str> = done.players.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["Xavier", "Olga"]);
    let open = room(&waiting.id);
    assert_eq!(open.status, RoomStatus::Waiting);
    assert_eq!(open.players.len(), 1);
    assert_eq!(open.players[0].name, "Hostess");
    assert_eq!(open.spectators, 1);

    let archive = status.archive.as_ref().expect("archiving is on");
    assert_eq!((archive.pending, archive.written), (1, 0));
    assert!(!archive.degraded);
    let m = &status.metrics;
    assert_eq!(m.connections, 4);
    assert_eq!((m.rooms, m.active_rooms, m.playing_games), (2, 1, 0));
    assert_eq!((m.games_started, m.games_finished, m.moves), (1, 1, 5));
    assert!(m.rss_bytes.is_some_and(|rss| rss > 1024 * 1024));
    assert!(m.memory_limit_bytes > 0);

    app.client.flush_archive(ADMIN_TOKEN).await.unwrap();
    let flushed = app.client.admin_status(ADMIN_TOKEN).await.unwrap();
    let archive = flushed.archive.expect("archiving is on");
    assert_eq!((archive.pending, archive.written), (0, 1));

    // With archiving off the page still has rooms and metrics to show.
    let no_archive = crate::common::app()
        .env("USE_GAME_ARCHIVAL", "false")
        .spawn()
        .await;
    let status = no_archive.client.admin_status(ADMIN_TOKEN).await.unwrap();
    assert!(status.archive.is_none());
}

/// The property names of schema `name` in docs/openapi.yaml.
fn documented_fields(name: &str) -> Vec<String> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.yaml"))
        .expect("docs/openapi.yaml is readable");
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("openapi.yaml is YAML");
    let mut fields: Vec<String> = doc["components"]["schemas"][name]["properties"]
        .as_mapping()
        .unwrap_or_else(|| panic!("schema {name} is documented"))
        .keys()
        .filter_map(|k| k.as_str().map(str::to_owned))
        .collect();
    fields.sort();
    fields
}

fn keys(value: &serde_json::Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

#[actix_rt::test]
async fn admin_status_is_what_openapi_yaml_documents() {
    let app = app().spawn().await;
    app.create_room("tictactoe").await;
    let body: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/admin/status", app.address))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(keys(&body), documented_fields("AdminStatus"));
    assert_eq!(keys(&body["archive"]), documented_fields("ArchiveCounters"));
    assert_eq!(keys(&body["metrics"]), documented_fields("KeyMetrics"));
    let room = &body["rooms"][0];
    for field in keys(room) {
        assert!(
            documented_fields("RoomSummary").contains(&field),
            "RoomSummary.{field} is not documented"
        );
    }
}
