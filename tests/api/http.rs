//! The HTTP API: guest tokens, rooms, the WebSocket's token check, health.

use gamehall::auth::{unix_now, Claims};
use gamehall::client::ClientError;
use gamehall::protocol::RoomStatus;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{app, play_out, spawn_app};

#[actix_rt::test]
async fn guest_tokens_are_issued_for_valid_names_only() {
    let app = spawn_app().await;
    let issued = app.client.guest("  Ada  ").await.unwrap();
    assert_eq!(issued.name, "Ada");
    assert!(!issued.token.is_empty());
    assert!(issued.expires_at > unix_now());

    let http = reqwest::Client::new();
    for body in [
        json!({"name": ""}),
        json!({"name": "x".repeat(33)}),
        json!({"name": 5}),
        json!({}),
        json!({"name": "ok", "admin": true}),
    ] {
        let response = http
            .post(format!("{}/v1/auth/guest", app.address))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "bad_request", "{body}");
    }
    let response = http
        .post(format!("{}/v1/auth/guest", app.address))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[actix_rt::test]
async fn rooms_are_created_listed_and_fetched() {
    let app = spawn_app().await;
    let me = app.guest("Ada").await;
    let room = app
        .client
        .create_room(&me.token, "tictactoe", json!({}))
        .await
        .unwrap();
    assert_eq!(room.game, "tictactoe");
    assert_eq!(room.status, RoomStatus::Waiting);
    assert_eq!(room.seats, 2);

    let listed = app.client.list_rooms(Some("tictactoe")).await.unwrap();
    assert!(listed.iter().any(|r| r.id == room.id));
    assert!(app
        .client
        .list_rooms(Some("chess"))
        .await
        .unwrap()
        .is_empty());
    let fetched = app.client.get_room(&room.id).await.unwrap();
    assert_eq!(fetched.id, room.id);

    match app.client.get_room(&"rnosuchroom".into()).await {
        Err(ClientError::Api {
            status: 404, code, ..
        }) => assert_eq!(code, "not_found"),
        other => panic!("expected 404, got {other:?}"),
    }
    let http = reqwest::Client::new();
    let response = http
        .get(format!("{}/v1/rooms?limit=0", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = http
        .get(format!("{}/v1/rooms?status=sleeping", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[actix_rt::test]
async fn room_creation_needs_a_token_a_known_game_and_valid_options() {
    let app = spawn_app().await;
    let http = reqwest::Client::new();
    let response = http
        .post(format!("{}/v1/rooms", app.address))
        .json(&json!({"game": "tictactoe"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let me = app.guest("Ada").await;
    match app.client.create_room(&me.token, "chess", json!({})).await {
        Err(ClientError::Api {
            status: 400, code, ..
        }) => assert_eq!(code, "unknown_game"),
        other => panic!("expected unknown_game, got {other:?}"),
    }
    match app
        .client
        .create_room(&me.token, "tictactoe", json!({"players": 3}))
        .await
    {
        Err(ClientError::Api {
            status: 400, code, ..
        }) => assert_eq!(code, "invalid_options"),
        other => panic!("expected invalid_options, got {other:?}"),
    }
}

#[actix_rt::test]
async fn max_active_games_holds_under_concurrent_creation() {
    let app = app().env("MAX_ACTIVE_GAMES", "5").spawn().await;
    let me = app.guest("Ada").await;
    let attempts = (0..40).map(|_| app.client.create_room(&me.token, "tictactoe", json!({})));
    let results = futures_util::future::join_all(attempts).await;
    let created = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(created, 5);
    for result in results.iter().filter(|r| r.is_err()) {
        match result {
            Err(ClientError::Api {
                status: 503, code, ..
            }) => assert_eq!(code, "server_full"),
            other => panic!("expected server_full, got {other:?}"),
        }
    }
    let response = reqwest::Client::new()
        .post(format!("{}/v1/rooms", app.address))
        .bearer_auth(&me.token)
        .json(&json!({"game": "tictactoe"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
}

#[actix_rt::test]
async fn the_lobby_follows_a_game_and_its_end_frees_its_seat_of_capacity() {
    let app = app().env("MAX_ACTIVE_GAMES", "1").spawn().await;
    let (room, mut x, mut o) = app.two_player_game("tictactoe").await;
    let listed = app.client.list_rooms(Some("tictactoe")).await.unwrap();
    let entry = listed
        .iter()
        .find(|r| r.id == room)
        .expect("the room is listed");
    assert_eq!(entry.status, RoomStatus::Playing);
    assert_eq!(entry.players.len(), 2);

    let latecomer = app.guest("Cy").await;
    match app
        .client
        .create_room(&latecomer.token, "tictactoe", json!({}))
        .await
    {
        Err(ClientError::Api {
            status: 503, code, ..
        }) => assert_eq!(code, "server_full"),
        other => panic!("expected server_full, got {other:?}"),
    }

    play_out(&mut x.conn, &mut o.conn, &[0, 3, 1, 4, 2]).await;
    x.conn.game_over().await.unwrap();
    // No waiting: the room writes its end into its listing before it tells the players.
    let listed = app.client.list_rooms(Some("tictactoe")).await.unwrap();
    let entry = listed
        .iter()
        .find(|r| r.id == room)
        .expect("the room is listed");
    assert_eq!(entry.status, RoomStatus::Finished);
    assert!(entry.outcome.is_some(), "{entry:?}");
    let next = app
        .client
        .create_room(&latecomer.token, "tictactoe", json!({}))
        .await
        .expect("the finished game gave its seat of capacity back");
    assert_eq!(next.status, RoomStatus::Waiting);
}

#[actix_rt::test]
async fn the_websocket_refuses_missing_bad_and_expired_tokens_before_upgrading() {
    let app = spawn_app().await;
    let now = unix_now();
    let expired = app
        .keys()
        .sign(&Claims {
            sub: "p-expired".into(),
            name: "Old".into(),
            iat: now - 7200,
            exp: now - 3600,
        })
        .unwrap();
    let foreign = gamehall::auth::TokenKeys::new(
        "a-different-secret-entirely",
        std::time::Duration::from_secs(60),
    )
    .issue_guest("Eve")
    .unwrap();
    for token in [
        "",
        "garbage",
        "a.b.c",
        expired.token.as_str(),
        foreign.token.as_str(),
    ] {
        let url = if token.is_empty() {
            format!("ws://127.0.0.1:{}/v1/ws", app.port)
        } else {
            app.ws_url(token)
        };
        match tokio_tungstenite::connect_async(url).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 401, "token {token:?}")
            }
            other => panic!("token {token:?} should be refused with 401, got {other:?}"),
        }
    }
    // A good token still works.
    let me = app.guest("Ada").await;
    let mut conn = app.client.connect(&me.token).await.unwrap();
    assert_eq!(conn.player_id(), &me.player_id);
    conn.ping().await.unwrap();
}

#[actix_rt::test]
async fn health_endpoints_report_the_registry() {
    let app = spawn_app().await;
    let http = reqwest::Client::new();
    let live: Value = http
        .get(format!("{}/health/live", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(live["status"], "healthy");
    assert_eq!(live["checks"]["process"]["status"], "up");
    for path in ["/health/ready", "/ready"] {
        let response = http
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], "ready");
        assert_eq!(body["checks"]["registry"]["status"], "up");
    }
    app.create_room("tictactoe").await;
    let health: Value = http
        .get(format!("{}/health", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["checks"]["registry"]["active_games"], 1);
    assert!(health["timestamp"].is_string());
    assert!(health["uptime_seconds"].is_u64());
}
