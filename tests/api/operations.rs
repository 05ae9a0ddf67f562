//! What operators rely on: metrics, JSON logs with request ids, rate limits (in memory and
//! shared through Redis), the memory guard, health checks that never hang, and CORS.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gamehall::client::tictactoe::Place;
use gamehall::client::ClientError;
use gamehall::protocol::{ErrorCode, Role};
use serde_json::Value;

use crate::common::{app, next_event, play_out, TestApp, WAIT};

const ADMIN_TOKEN: &str = "gamehall-development-admin-token";

async fn metrics_text(address: &str) -> String {
    let response = reqwest::get(format!("{address}/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

/// The value of the sample whose name and labels are exactly `series`, or 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok()).flatten()
        })
        .unwrap_or(0.0)
}

async fn play_to_a_win(app: &TestApp) {
    let (_room, mut x, mut o) = app.two_player_game("tictactoe").await;
    play_out(&mut x.conn, &mut o.conn, &[0, 3, 1, 4, 2]).await;
    x.conn.game_over().await.unwrap();
}

#[actix_rt::test]
async fn metrics_are_served_and_move_with_play() {
    let app = app().spawn().await;
    let before = metrics_text(&app.address).await;
    play_to_a_win(&app).await;
    app.client.flush_archive(ADMIN_TOKEN).await.unwrap();
    let after = metrics_text(&app.address).await;

    for (series, grew_by) in [
        (r#"gamehall_games_started_total{game="tictactoe"}"#, 1.0),
        (
            r#"gamehall_games_finished_total{game="tictactoe",result="win"}"#,
            1.0,
        ),
        (r#"gamehall_messages_in_total{type="act"}"#, 5.0),
        (r#"gamehall_messages_in_total{type="join"}"#, 2.0),
        (r#"gamehall_messages_out_total{type="game_over"}"#, 2.0),
        ("gamehall_move_broadcast_seconds_count", 5.0),
        ("gamehall_archive_written_total", 1.0),
        (r#"gamehall_rooms{game="tictactoe",status="finished"}"#, 1.0),
    ] {
        assert_eq!(
            sample(&after, series) - sample(&before, series),
            grew_by,
            "{series}"
        );
    }
    assert!(sample(&after, "gamehall_process_resident_memory_bytes") > 1e6);
    assert!(sample(&after, "gamehall_memory_limit_bytes") > 1e6);
    assert!(after.contains("gamehall_http_requests_total{"), "{after}");
    assert!(after.contains(r#"gamehall_move_broadcast_seconds_bucket{le="0.005"}"#));
}

#[actix_rt::test]
async fn metrics_can_be_turned_off_or_served_on_their_own_port() {
    let off = app().env("METRICS_ENABLED", "false").spawn().await;
    let response = reqwest::get(format!("{}/metrics", off.address))
        .await
        .unwrap();
    assert_eq!(response.status(), 404);

    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let own = app().env("METRICS_PORT", &port.to_string()).spawn().await;
    let text = metrics_text(&format!("http://127.0.0.1:{port}")).await;
    assert!(text.contains("gamehall_connections"), "{text}");
    // The metrics port serves metrics only.
    let api = reqwest::get(format!("http://127.0.0.1:{port}/v1/rooms"))
        .await
        .unwrap();
    assert_eq!(api.status(), 404);
    // ... and the main port serves none: METRICS_PORT keeps them off the public port.
    let public = reqwest::get(format!("{}/metrics", own.address))
        .await
        .unwrap();
    assert_eq!(public.status(), 404);
}

#[actix_rt::test]
async fn log_lines_are_json_and_carry_the_request_id() {
    let app = app().capture_logs().spawn().await;
    let http = reqwest::Client::new();
    let response = http
        .post(format!("{}/v1/auth/guest", app.address))
        .header("X-Request-Id", "req-abc-123")
        .json(&serde_json::json!({"name": "Traced"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "req-abc-123");
    // Without one, the server makes one up and returns it.
    let response = http
        .get(format!("{}/v1/rooms", app.address))
        .send()
        .await
        .unwrap();
    let made_up = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(made_up.len() >= 16, "{made_up}");
    let (room, mut x, mut o) = app.two_player_game("tictactoe").await;
    // O tries to move before X, out of turn: a rejected move is logged too.
    match o.conn.act(Place { cell: 4 }).await {
        Err(ClientError::Server { code, .. }) => assert_eq!(code, ErrorCode::NotYourTurn),
        other => panic!("expected not_your_turn, got {other:?}"),
    }
    play_out(&mut x.conn, &mut o.conn, &[0, 3, 1, 4, 2]).await;
    x.conn.game_over().await.unwrap();

    let logs = app.logs.as_ref().unwrap();
    let deadline = Instant::now() + WAIT;
    let lines = loop {
        let lines = logs.lines();
        if lines.iter().any(|l| l["msg"] == "game finished") {
            break lines;
        }
        assert!(Instant::now() < deadline, "no game finished line");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for line in &lines {
        assert!(
            line["msg"].is_string() && line["level"].is_string(),
            "{line}"
        );
    }
    let traced: Vec<&Value> = lines
        .iter()
        .filter(|l| l["request_id"] == "req-abc-123")
        .collect();
    assert!(
        traced
            .iter()
            .any(|l| l["msg"] == "request" && l["path"] == "/v1/auth/guest" && l["status"] == 200),
        "{traced:?}"
    );
    assert!(traced.iter().any(|l| l["msg"] == "guest token issued"));
    assert!(lines.iter().any(|l| l["request_id"] == made_up.as_str()));
    // Everything about a room names it; connections carry their upgrade request's id.
    for msg in ["game started", "game finished", "player seated"] {
        let line = lines.iter().find(|l| l["msg"] == msg).unwrap();
        assert!(line["room_id"].is_string(), "{line}");
    }
    let opened: Vec<&Value> = lines
        .iter()
        .filter(|l| l["msg"] == "connection opened")
        .collect();
    assert!(!opened.is_empty());
    for line in opened {
        assert!(
            line["request_id"].is_string() && line["player_id"].is_string(),
            "{line}"
        );
    }
    assert!(lines
        .iter()
        .any(|l| l["msg"] == "move applied" && l["level"] == "DEBG"));
    // A line about a seat names who sits there, and the room.
    let seated = [x.token.player_id.as_str(), o.token.player_id.as_str()];
    for (msg, count) in [("move applied", 5), ("move rejected", 1)] {
        let moves: Vec<&Value> = lines.iter().filter(|l| l["msg"] == msg).collect();
        assert_eq!(moves.len(), count, "{moves:?}");
        for line in moves {
            assert_eq!(line["room_id"], room.to_string(), "{line}");
            let seat = line["seat"].as_u64().expect("a seat") as usize;
            assert_eq!(line["player_id"], seated[seat], "{line}");
        }
    }
    let rejected = lines.iter().find(|l| l["msg"] == "move rejected").unwrap();
    assert_eq!(rejected["player_id"], seated[1], "{rejected}");
    let started = lines.iter().find(|l| l["msg"] == "game started").unwrap();
    assert_eq!(started["player_ids"], seated.join(","), "{started}");
}

#[actix_rt::test]
async fn the_per_socket_limit_refuses_a_burst_then_recovers_without_closing() {
    // 2 frames/s with bursts of 4: the fifth frame in a row is refused, one refusal is far from
    // the 10 that close the socket, and a second later frames pass again.
    let app = app()
        .env("RATE_LIMIT_WEBSOCKET_PER_SECOND", "2")
        .spawn()
        .await;
    let (_room, mut x, _o) = app.two_player_game("tictactoe").await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    for _ in 0..4 {
        x.conn.ping().await.unwrap();
    }
    match x.conn.ping().await {
        Err(ClientError::Server { code, .. }) => assert_eq!(code, ErrorCode::RateLimited),
        other => panic!("expected rate_limited, got {other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    x.conn.ping().await.unwrap();
    x.conn.act(Place { cell: 4 }).await.unwrap();
    let text = metrics_text(&app.address).await;
    assert_eq!(
        sample(&text, r#"gamehall_rate_limited_total{scope="socket"}"#),
        1.0
    );
}

#[actix_rt::test]
async fn the_per_room_limit_refuses_then_recovers() {
    let app = app()
        .env("RATE_LIMIT_PER_ROOM_PER_SECOND", "2")
        .spawn()
        .await;
    let (_room, mut x, _o) = app.two_player_game("tictactoe").await;
    x.conn.chat("one").await.unwrap();
    x.conn.chat("two").await.unwrap();
    match x.conn.chat("three").await {
        Err(ClientError::Server { code, .. }) => assert_eq!(code, ErrorCode::RateLimited),
        other => panic!("expected rate_limited, got {other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    x.conn.chat("after a second").await.unwrap();
    let text = metrics_text(&app.address).await;
    assert_eq!(
        sample(&text, r#"gamehall_rate_limited_total{scope="room"}"#),
        1.0
    );
}

#[actix_rt::test]
async fn the_per_player_limit_counts_every_connection_and_recovers() {
    let app = app()
        .env("RATE_LIMIT_PER_PLAYER_PER_MINUTE", "60")
        .spawn()
        .await;
    let (_room, mut x, _o) = app.two_player_game("tictactoe").await;
    // A second connection of the same player, watching another room.
    let elsewhere = app.create_room("tictactoe").await;
    let mut second = app.client.connect(&x.token.token).await.unwrap();
    second.join(&elsewhere.id, Role::Spectator).await.unwrap();
    for i in 0..30 {
        x.conn.chat(&format!("line {i}")).await.unwrap();
        second.chat(&format!("other {i}")).await.unwrap();
    }
    let retry = match x.conn.chat("one too many").await {
        Err(ClientError::Server { code, .. }) => code,
        other => panic!("expected rate_limited, got {other:?}"),
    };
    assert_eq!(retry, ErrorCode::RateLimited);
    // One action a second comes back.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    x.conn.chat("later").await.unwrap();
}

/// A private redis-server on a free port, killed when dropped.
struct PrivateRedis {
    child: Child,
    port: u16,
}

impl PrivateRedis {
    fn start_on(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (tests/run.sh installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        PrivateRedis { child, port }
    }

    fn start() -> Self {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        Self::start_on(port)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits for the next minute if this one is about to end, so that a test's actions fall in one
/// fixed Redis window.
async fn away_from_a_minute_boundary() {
    let second = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 60;
    if second >= 55 {
        tokio::time::sleep(Duration::from_secs(61 - second)).await;
    }
}

#[actix_rt::test]
async fn the_redis_backed_player_limit_holds_across_two_instances() {
    let redis = PrivateRedis::start();
    let a = app()
        .env("REDIS_URL", &redis.url())
        .env("RATE_LIMIT_PER_PLAYER_PER_MINUTE", "5")
        .spawn()
        .await;
    let b = app()
        .env("REDIS_URL", &redis.url())
        .env("RATE_LIMIT_PER_PLAYER_PER_MINUTE", "5")
        .spawn()
        .await;
    away_from_a_minute_boundary().await;
    // Both instances share JWT_SECRET, so one token is one player on either.
    let token = a.guest("Everywhere").await;
    let room_a = a.create_room("tictactoe").await;
    let room_b = b.create_room("tictactoe").await;
    let mut on_a = a.client.connect(&token.token).await.unwrap();
    let mut on_b = b.client.connect(&token.token).await.unwrap();
    on_a.join(&room_a.id, Role::Spectator).await.unwrap();
    on_b.join(&room_b.id, Role::Spectator).await.unwrap();
    for i in 0..3 {
        on_a.chat(&format!("a{i}")).await.unwrap();
    }
    on_b.chat("b0").await.unwrap();
    on_b.chat("b1").await.unwrap();
    // Five in this minute across both servers: the sixth is refused wherever it is sent.
    for conn in [&mut on_b, &mut on_a] {
        match conn.chat("one too many").await {
            Err(ClientError::Server { code, .. }) => assert_eq!(code, ErrorCode::RateLimited),
            other => panic!("expected rate_limited, got {other:?}"),
        }
    }
    let health: Value = reqwest::get(format!("{}/health/ready", a.address))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["checks"]["redis"]["status"], "up", "{health}");
}

#[actix_rt::test]
async fn games_go_on_when_redis_dies_and_redis_is_used_again_when_it_returns() {
    let mut redis = PrivateRedis::start();
    let port = redis.port;
    let app = app().env("REDIS_URL", &redis.url()).spawn().await;
    let (_room, mut x, mut o) = app.two_player_game("tictactoe").await;
    x.conn.act(Place { cell: 0 }).await.unwrap();
    next_event(&mut o.conn).await;

    redis.kill();
    // Moves keep being accepted, on the in-memory limiter.
    o.conn.act(Place { cell: 3 }).await.unwrap();
    next_event(&mut x.conn).await;
    x.conn.act(Place { cell: 1 }).await.unwrap();
    next_event(&mut o.conn).await;

    let deadline = Instant::now() + WAIT;
    loop {
        let response = reqwest::get(format!("{}/health/ready", app.address))
            .await
            .unwrap();
        // Degraded, not down: the server stays in rotation.
        assert_eq!(response.status(), 200);
        let health: Value = response.json().await.unwrap();
        let text = metrics_text(&app.address).await;
        if health["checks"]["redis"]["status"] == "degraded"
            && sample(&text, "gamehall_redis_up") == 0.0
        {
            assert_eq!(health["status"], "degraded");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "redis never reported down: {health}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let _back = PrivateRedis::start_on(port);
    let deadline = Instant::now() + WAIT;
    while sample(&metrics_text(&app.address).await, "gamehall_redis_up") != 1.0 {
        assert!(Instant::now() < deadline, "redis never came back into use");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    o.conn.act(Place { cell: 4 }).await.unwrap();
    next_event(&mut x.conn).await;
    x.conn.act(Place { cell: 2 }).await.unwrap();
    assert_eq!(x.conn.game_over().await.unwrap().winners, vec![0]);
}

#[actix_rt::test]
async fn the_memory_guard_refuses_new_rooms_and_lets_running_games_finish() {
    let rss_mb = gamehall::metrics::resident_memory_bytes().unwrap() / (1024 * 1024);
    let app = app()
        .env("MAX_MEMORY_MB", &(rss_mb + 300).to_string())
        .env("MEMORY_ALERT_THRESHOLD", "100")
        .env("MEMORY_CHECK_INTERVAL", "1")
        .spawn()
        .await;
    let (_room, mut x, mut o) = app.two_player_game("tictactoe").await;
    x.conn.act(Place { cell: 0 }).await.unwrap();
    next_event(&mut o.conn).await;

    // The server (this very process) grows well past its limit.
    let ballast: Vec<u8> = vec![1; 800 * 1024 * 1024];
    let token = app.guest("Latecomer").await;
    let deadline = Instant::now() + WAIT;
    let refused = loop {
        match app
            .client
            .create_room(&token.token, "tictactoe", Value::Null)
            .await
        {
            Err(ClientError::Api { status, code, .. }) => break (status, code),
            Ok(_) => {
                assert!(Instant::now() < deadline, "rooms were never refused");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(other) => panic!("{other:?}"),
        }
    };
    assert_eq!(refused, (503, "server_full".to_owned()));
    let raw = reqwest::Client::new()
        .post(format!("{}/v1/rooms", app.address))
        .bearer_auth(&token.token)
        .json(&serde_json::json!({"game": "tictactoe"}))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 503);
    assert!(raw.headers().contains_key("retry-after"));
    let ready = reqwest::get(format!("{}/health/ready", app.address))
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let health: Value = ready.json().await.unwrap();
    assert_eq!(health["status"], "not-ready", "{health}");
    assert_eq!(health["checks"]["memory"]["status"], "down", "{health}");

    // The running game plays on.
    o.conn.act(Place { cell: 3 }).await.unwrap();
    next_event(&mut x.conn).await;
    assert_eq!(ballast[ballast.len() / 2], 1);
    drop(ballast);

    // With the memory back, rooms are accepted again.
    let deadline = Instant::now() + WAIT;
    while app
        .client
        .create_room(&token.token, "tictactoe", Value::Null)
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "rooms were never accepted again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let text = metrics_text(&app.address).await;
    assert!(sample(&text, r#"gamehall_rooms_refused_total{reason="memory"}"#) >= 1.0);
}

/// A port that accepts connections and never answers on them (a hung database or Redis), for
/// as long as the test process runs.
fn black_hole() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    port
}

#[actix_rt::test]
async fn readiness_reports_a_dead_database_within_the_timeout() {
    // One database that refuses connections, one that accepts and never answers.
    let closed_port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let hole_port = black_hole();
    for port in [closed_port, hole_port] {
        let app = app()
            .env(
                "DATABASE_URL",
                &format!("postgres://postgres@127.0.0.1:{port}/gamehall"),
            )
            .env("HEALTH_CHECK_TIMEOUT", "1")
            .spawn()
            .await;
        let started = Instant::now();
        let response = reqwest::get(format!("{}/health/ready", app.address))
            .await
            .unwrap();
        let took = started.elapsed();
        assert!(took < Duration::from_secs(3), "took {took:?}");
        // Games still play (finished ones wait in the spool): degraded, still in rotation.
        assert_eq!(response.status(), 200);
        let health: Value = response.json().await.unwrap();
        assert_eq!(health["status"], "degraded", "{health}");
        assert_eq!(health["checks"]["database"]["status"], "degraded");
        assert!(health["checks"]["database"]["error"].is_string());
        let text = metrics_text(&app.address).await;
        assert_eq!(sample(&text, "gamehall_database_up"), 0.0);
    }
}

#[actix_rt::test]
async fn two_hanging_dependencies_still_answer_within_one_health_check_timeout() {
    // The checks run side by side: a hung database and a hung Redis cost one timeout, not two.
    let app = app()
        .env(
            "DATABASE_URL",
            &format!("postgres://postgres@127.0.0.1:{}/gamehall", black_hole()),
        )
        .env(
            "REDIS_URL",
            &format!("redis://127.0.0.1:{}/0", black_hole()),
        )
        .env("HEALTH_CHECK_TIMEOUT", "1")
        .spawn()
        .await;
    for path in ["/health/ready", "/health"] {
        let started = Instant::now();
        let response = reqwest::get(format!("{}{path}", app.address))
            .await
            .unwrap();
        let took = started.elapsed();
        assert!(took < Duration::from_millis(1800), "{path} took {took:?}");
        // Both outages degrade the server; neither takes it out of rotation.
        assert_eq!(response.status(), 200, "{path}");
        let health: Value = response.json().await.unwrap();
        assert_eq!(health["status"], "degraded", "{path}: {health}");
        for check in ["database", "redis"] {
            assert_eq!(health["checks"][check]["status"], "degraded", "{health}");
            assert!(health["checks"][check]["error"].is_string(), "{health}");
        }
        assert_eq!(health["checks"]["registry"]["status"], "up", "{health}");
        if path == "/health" {
            // Seed 003's `uptime` (seconds, with a fraction) beside gamehall's `uptime_seconds`.
            assert!(
                health["uptime"].as_f64().is_some_and(|s| s >= 0.0),
                "{health}"
            );
            assert!(health["uptime_seconds"].is_u64(), "{health}");
        }
    }
}

#[actix_rt::test]
async fn cors_allows_only_the_configured_origins() {
    let app = app()
        .env(
            "CORS_ORIGINS",
            "https://play.example.com, http://localhost:3000",
        )
        .spawn()
        .await;
    let http = reqwest::Client::new();
    let allowed = http
        .get(format!("{}/v1/rooms", app.address))
        .header("Origin", "https://play.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://play.example.com"
    );
    let preflight = http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/v1/rooms", app.address),
        )
        .header("Origin", "http://localhost:3000")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
    let other = http
        .get(format!("{}/v1/rooms", app.address))
        .header("Origin", "https://evil.example.net")
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());

    // Without CORS_ORIGINS no cross-origin headers are sent, and same-origin use is unaffected.
    let plain = crate::common::spawn_app().await;
    let response = http
        .get(format!("{}/v1/rooms", plain.address))
        .header("Origin", "https://play.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response
        .headers()
        .get("access-control-allow-origin")
        .is_none());
}
