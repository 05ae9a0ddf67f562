//! Capacity and isolation: exact seat counts under a join race, a panicking room stops alone,
//! silent connections are closed by the heartbeat.

use std::time::Duration;

use futures_util::StreamExt;
use gamehall::auth::{unix_now, Claims};
use gamehall::client::tictactoe::Place;
use gamehall::client::ClientError;
use gamehall::protocol::{ClientMsg, ErrorCode, Ref, Role, ServerMsg};
use serde_json::json;

use crate::common::{
    app, metric_sample, metrics_text, next_event, spawn_app, PanickyKind, ADMIN_TOKEN, WAIT,
};

#[actix_rt::test]
async fn a_thousand_simultaneous_joins_seat_exactly_two() {
    let app = spawn_app().await;
    let room = app.create_room("tictactoe").await;
    let keys = app.keys();
    let now = unix_now();
    let tokens: Vec<String> = (0..1000)
        .map(|i| {
            keys.sign(&Claims {
                sub: format!("racer-{i}"),
                name: format!("Racer {i}"),
                iat: now,
                exp: now + 600,
            })
            .unwrap()
            .token
        })
        .collect();
    // The race is in the joins, not the handshakes: connecting a hundred at a time keeps a busy
    // machine from timing out upgrade requests (408) before the race even starts.
    let mut conns: Vec<_> =
        futures_util::stream::iter(tokens.iter().map(|t| app.client.connect(t)))
            .buffered(100)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .map(|c| c.expect("connects"))
            .collect();
    // Every join is on the wire before any answer is read.
    for conn in &mut conns {
        conn.send(&ClientMsg::Join {
            room: room.id.clone(),
            role: Role::Player,
            reference: Some(Ref::Number(1)),
        })
        .await
        .unwrap();
    }
    let answers = futures_util::future::join_all(conns.iter_mut().map(|conn| {
        conn.wait_for(WAIT, |msg| match msg {
            ServerMsg::Joined { seat, .. } => Some(Ok(*seat)),
            ServerMsg::Error { code, .. } => Some(Err(*code)),
            _ => None,
        })
    }))
    .await;
    let mut seats = Vec::new();
    let mut full = 0;
    for answer in answers {
        match answer.expect("every join is answered") {
            Ok(seat) => seats.push(seat),
            Err(ErrorCode::RoomFull) => full += 1,
            Err(other) => panic!("unexpected {other}"),
        }
    }
    seats.sort();
    assert_eq!(seats, vec![Some(0), Some(1)]);
    assert_eq!(full, 998);
    let summary = app.client.get_room(&room.id).await.unwrap();
    assert_eq!(summary.players.len(), 2);
}

#[actix_rt::test]
async fn a_panicking_game_stops_only_its_own_room() {
    let app = app().game(PanickyKind).spawn().await;
    let (doomed, mut a, mut b) = app.two_player_game("panicky").await;
    let (healthy, mut x, mut o) = app.two_player_game("tictactoe").await;
    let (sibling, mut p, mut q) = app.two_player_game("panicky").await;
    x.conn.act(Place { cell: 0 }).await.unwrap();
    next_event(&mut o.conn).await;

    a.conn
        .send(&ClientMsg::Act {
            action: json!({"panic": true}),
            reference: None,
        })
        .await
        .unwrap();
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
    // The crashed room is gone from the registry; its players are free to go elsewhere.
    let gone = app.client.get_room(&doomed).await;
    assert!(
        matches!(gone, Err(ClientError::Api { status: 404, .. })),
        "{gone:?}"
    );
    // And from the index sessions look rooms up in: joining it again finds no room.
    match b.conn.join(&doomed, Role::Player).await {
        Err(ClientError::Server { code, .. }) => assert_eq!(code, ErrorCode::RoomNotFound),
        other => panic!("expected room_not_found, got {other:?}"),
    }
    // Gone from the room list, the crash still shows where operators look: the metric alerts
    // can use, and the admin status the registry fills in.
    let crashed = metric_sample(&metrics_text(&app).await, "gamehall_rooms_crashed_total");
    assert!(crashed >= 1.0, "gamehall_rooms_crashed_total is {crashed}");
    let status = app.client.admin_status(ADMIN_TOKEN).await.unwrap();
    assert_eq!(status.metrics.crashed_rooms, 1);
    assert!(status.rooms.iter().all(|room| room.id != doomed));
    match a.conn.act(Place { cell: 1 }).await {
        Err(ClientError::Server { code, .. }) => {
            assert!(
                matches!(code, ErrorCode::NotInRoom | ErrorCode::RoomNotFound),
                "{code}"
            )
        }
        other => panic!("expected a refusal, got {other:?}"),
    }

    // Every other room keeps playing to the end, including one of the same kind.
    for (i, cell) in [3, 1, 4, 2].into_iter().enumerate() {
        let mover = if i % 2 == 0 { &mut o } else { &mut x };
        mover.conn.act(Place { cell }).await.unwrap();
    }
    assert_eq!(x.conn.game_over().await.unwrap().winners, vec![0]);
    let (seq, _) = p.conn.act(Place { cell: 4 }).await.unwrap();
    assert_eq!(seq, 2);
    assert_eq!(next_event(&mut q.conn).await.0, 2);
    assert!(app.client.get_room(&healthy).await.is_ok());
    assert!(app.client.get_room(&sibling).await.is_ok());

    // And the server still creates and serves new rooms.
    let (_fresh, mut m, _n) = app.two_player_game("tictactoe").await;
    m.conn.act(Place { cell: 4 }).await.unwrap();
    let health = reqwest::get(format!("{}/health/ready", app.address))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[actix_rt::test]
async fn a_silent_connection_is_closed_after_fifteen_seconds() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = spawn_app().await;
    let me = app.guest("Silent").await;
    // A raw client that completes the handshake and then never answers a ping (a client
    // library would answer them for us).
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .unwrap();
    let request = format!(
        "GET /v1/ws?token={} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n",
        me.token
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let started = std::time::Instant::now();
    let mut bytes = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), tcp.read_to_end(&mut bytes))
        .await
        .expect("the server hangs up within 30 s")
        .expect("reads until the server hangs up");
    let silent_for = started.elapsed();

    let header_end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP response")
        + 4;
    assert!(bytes.starts_with(b"HTTP/1.1 101"));
    // Server frames are unmasked; every frame here is small (7-bit length).
    let mut frames = Vec::new();
    let mut rest = &bytes[header_end..];
    while rest.len() >= 2 {
        let opcode = rest[0] & 0x0f;
        let len = (rest[1] & 0x7f) as usize;
        assert!(
            len < 126 && rest.len() >= 2 + len,
            "unexpected frame layout"
        );
        frames.push((opcode, rest[2..2 + len].to_vec()));
        rest = &rest[2 + len..];
    }
    let pings = frames.iter().filter(|(op, _)| *op == 0x9).count();
    let close = frames
        .iter()
        .find(|(op, _)| *op == 0x8)
        .expect("a close frame");
    assert_eq!(u16::from_be_bytes([close.1[0], close.1[1]]), 1001);
    assert!(pings >= 2, "the server pinged before giving up ({pings})");
    assert!(
        silent_for >= Duration::from_secs(15) && silent_for < Duration::from_secs(25),
        "closed after {silent_for:?}"
    );
}

#[actix_rt::test]
async fn a_connection_that_answers_pings_stays_open() {
    let app = spawn_app().await;
    let mut p = app.connect("Chatty").await;
    // The client library answers the server's pings while it waits.
    let waited = p
        .conn
        .wait_for(Duration::from_secs(17), |msg| {
            matches!(msg, ServerMsg::Error { .. }).then_some(())
        })
        .await;
    assert!(matches!(waited, Err(ClientError::Timeout(_))), "{waited:?}");
    p.conn.ping().await.expect("still connected after 17 s");
}
