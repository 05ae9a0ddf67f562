//! Every kind of bad input gets a typed error (or the documented close code); the connection,
//! the room and the server keep going, and no accepted move is lost.

use futures_util::{SinkExt, StreamExt};
use gamehall::client::tictactoe::Place;
use gamehall::client::{ClientError, Connection};
use gamehall::protocol::{ClientMsg, ErrorCode, Ref, Role, ServerMsg};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::common::{next_error, next_event, spawn_app, WAIT};

async fn send_text(conn: &mut Connection, text: &str) {
    conn.send_raw(Message::text(text.to_owned())).await.unwrap();
}

/// Still alive: a ping gets its pong.
async fn assert_alive(conn: &mut Connection) {
    conn.ping().await.expect("the connection still answers");
}

#[actix_rt::test]
async fn malformed_frames_get_typed_errors_and_the_connection_stays_open() {
    let app = spawn_app().await;
    let mut p = app.connect("Fuzz").await;
    let cases = [
        ("not json at all", ErrorCode::BadFrame),
        ("{\"type\":\"join\"", ErrorCode::BadFrame),
        ("[1,2,3]", ErrorCode::BadFrame),
        ("\"join\"", ErrorCode::BadFrame),
        (r#"{"room":"r1"}"#, ErrorCode::BadFrame),
        (r#"{"type":"teleport"}"#, ErrorCode::UnknownType),
        (r#"{"type":"join"}"#, ErrorCode::BadFrame),
        (r#"{"type":"resume","room":"r1"}"#, ErrorCode::BadFrame),
        (r#"{"type":"act"}"#, ErrorCode::BadFrame),
        (r#"{"type":"chat"}"#, ErrorCode::BadFrame),
        (r#"{"type":"join","room":42}"#, ErrorCode::BadFrame),
        (
            r#"{"type":"join","room":"r1","as":"referee"}"#,
            ErrorCode::BadFrame,
        ),
        (r#"{"type":"chat","text":["hi"]}"#, ErrorCode::BadFrame),
        (
            r#"{"type":"resume","room":"r1","since_seq":"3"}"#,
            ErrorCode::BadFrame,
        ),
        (
            r#"{"type":"resume","room":"r1","since_seq":-1}"#,
            ErrorCode::BadFrame,
        ),
        (
            r#"{"type":"resume","room":"r1","since_seq":1e400}"#,
            ErrorCode::BadFrame,
        ),
        (
            r#"{"type":"resume","room":"r1","since_seq":99999999999999999999999}"#,
            ErrorCode::BadFrame,
        ),
    ];
    for (frame, expected) in cases {
        send_text(&mut p.conn, frame).await;
        let (code, message) = next_error(&mut p.conn).await;
        assert_eq!(code, expected, "{frame} -> {message}");
        assert!(!message.is_empty());
    }
    assert_alive(&mut p.conn).await;
}

#[actix_rt::test]
async fn an_error_echoes_the_ref_of_the_frame_that_caused_it() {
    let app = spawn_app().await;
    let mut p = app.connect("Ref").await;
    send_text(&mut p.conn, r#"{"type":"warp","ref":"abc"}"#).await;
    let reference = p
        .conn
        .wait_for(WAIT, |msg| match msg {
            ServerMsg::Error { reference, .. } => Some(reference.clone()),
            _ => None,
        })
        .await
        .unwrap();
    assert_eq!(reference, Some(Ref::Text("abc".into())));
}

#[actix_rt::test]
async fn binary_frames_are_refused_with_a_typed_error() {
    let app = spawn_app().await;
    let mut p = app.connect("Bin").await;
    p.conn
        .send_raw(Message::binary(vec![1u8, 2, 3]))
        .await
        .unwrap();
    assert_eq!(
        next_error(&mut p.conn).await.0,
        ErrorCode::BinaryNotSupported
    );
    assert_alive(&mut p.conn).await;
}

#[actix_rt::test]
async fn a_frame_over_64_kib_closes_the_connection_with_1009() {
    let app = spawn_app().await;
    let me = app.guest("Big").await;
    let (mut ws, _) = tokio_tungstenite::connect_async(app.ws_url(&me.token))
        .await
        .unwrap();
    let huge = format!(r#"{{"type":"chat","text":"{}"}}"#, "x".repeat(70 * 1024));
    ws.send(Message::text(huge)).await.unwrap();
    assert_eq!(close_code_of(&mut ws).await, Some(1009));

    // The server is fine: a new connection works.
    let mut p = app.connect("After").await;
    assert_alive(&mut p.conn).await;
}

#[actix_rt::test]
async fn acting_chatting_or_leaving_before_joining_is_not_in_room() {
    let app = spawn_app().await;
    let mut p = app.connect("Early").await;
    for msg in [
        ClientMsg::Act {
            action: json!({"cell": 0}),
            reference: None,
        },
        ClientMsg::Chat {
            text: "hi".into(),
            reference: None,
        },
        ClientMsg::Leave { reference: None },
    ] {
        p.conn.send(&msg).await.unwrap();
        assert_eq!(next_error(&mut p.conn).await.0, ErrorCode::NotInRoom);
    }
}

#[actix_rt::test]
async fn joining_a_missing_room_or_a_second_room_is_refused() {
    let app = spawn_app().await;
    let mut p = app.connect("Lost").await;
    match p.conn.join(&"rdoesnotexist".into(), Role::Player).await {
        Err(ClientError::Server { code, .. }) => assert_eq!(code, ErrorCode::RoomNotFound),
        other => panic!("expected room_not_found, got {other:?}"),
    }
    let huge_id = "r".repeat(10_000);
    match p.conn.join(&huge_id.as_str().into(), Role::Player).await {
        Err(ClientError::Server { code, .. }) => assert_eq!(code, ErrorCode::RoomNotFound),
        other => panic!("expected room_not_found, got {other:?}"),
    }
    let a = app.create_room("tictactoe").await;
    let b = app.create_room("tictactoe").await;
    p.conn.join(&a.id, Role::Player).await.unwrap();
    match p.conn.join(&b.id, Role::Player).await {
        Err(ClientError::Server { code, .. }) => assert_eq!(code, ErrorCode::AlreadyInRoom),
        other => panic!("expected already_in_room, got {other:?}"),
    }
    // After leaving, joining elsewhere works.
    p.conn.leave().await.unwrap();
    p.conn.join(&b.id, Role::Player).await.unwrap();
}

#[actix_rt::test]
async fn joining_a_full_room_as_a_player_is_room_full_but_spectating_works() {
    let app = spawn_app().await;
    let (room, _x, _o) = app.two_player_game("tictactoe").await;
    let mut third = app.connect("Third").await;
    match third.conn.join(&room, Role::Player).await {
        Err(ClientError::Server { code, .. }) => assert_eq!(code, ErrorCode::RoomFull),
        other => panic!("expected room_full, got {other:?}"),
    }
    let joined = third.conn.join(&room, Role::Spectator).await.unwrap();
    assert_eq!(joined.role, Role::Spectator);
}

#[actix_rt::test]
async fn illegal_moves_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let (_room, mut x, mut o) = app.two_player_game("tictactoe").await;

    let refused = |result: Result<(u64, serde_json::Value), ClientError>| match result {
        Err(ClientError::Server { code, .. }) => code,
        other => panic!("expected a refusal, got {other:?}"),
    };
    // Out of turn: O before X.
    assert_eq!(
        refused(o.conn.act(Place { cell: 0 }).await),
        ErrorCode::NotYourTurn
    );
    let (seq, _) = x.conn.act(Place { cell: 4 }).await.unwrap();
    assert_eq!(seq, 2);
    assert_eq!(next_event(&mut o.conn).await.0, 2);
    // Taken cell, off-board cells, malformed actions.
    assert_eq!(
        refused(o.conn.act(Place { cell: 4 }).await),
        ErrorCode::IllegalMove
    );
    assert_eq!(
        refused(o.conn.act(json!({"cell": 9})).await),
        ErrorCode::IllegalMove
    );
    assert_eq!(
        refused(o.conn.act(json!({"cell": 18446744073709551615u64})).await),
        ErrorCode::IllegalMove
    );
    for bad in [
        json!({"cell": 1e300}),
        json!({"cell": -1}),
        json!({"cell": "1"}),
        json!({"square": 1}),
        json!(null),
        json!([1]),
    ] {
        assert_eq!(
            refused(o.conn.act(bad.clone()).await),
            ErrorCode::BadAction,
            "{bad}"
        );
    }
    // X moving twice is out of turn too.
    assert_eq!(
        refused(x.conn.act(Place { cell: 0 }).await),
        ErrorCode::NotYourTurn
    );
    // Nothing above changed the game: O's legal move is the next seq.
    let (seq, _) = o.conn.act(Place { cell: 0 }).await.unwrap();
    assert_eq!(seq, 3);
}

#[actix_rt::test]
async fn acting_before_the_game_starts_is_game_not_started() {
    let app = spawn_app().await;
    let room = app.create_room("tictactoe").await;
    let mut x = app.connect("Alone").await;
    x.conn.join(&room.id, Role::Player).await.unwrap();
    match x.conn.act(Place { cell: 0 }).await {
        Err(ClientError::Server { code, .. }) => assert_eq!(code, ErrorCode::GameNotStarted),
        other => panic!("expected game_not_started, got {other:?}"),
    }
}

#[actix_rt::test]
async fn a_flood_of_frames_is_rate_limited_then_closed_with_1008_and_loses_no_accepted_move() {
    let app = spawn_app().await;
    let (room, mut x, mut o) = app.two_player_game("tictactoe").await;
    // A move accepted before the flood.
    let (seq, _) = x.conn.act(Place { cell: 4 }).await.unwrap();
    assert_eq!(seq, 2);

    // A bystander game on the same server.
    let (_other, mut a, mut b) = app.two_player_game("tictactoe").await;

    // O floods: 1,000 frames in well under a second.
    let ping = serde_json::to_string(&ClientMsg::Ping { reference: None }).unwrap();
    let mut sent = 0;
    for _ in 0..1000 {
        if o.conn.send_raw(Message::text(ping.clone())).await.is_err() {
            break;
        }
        sent += 1;
    }
    assert!(sent > 100, "sent {sent} frames before the server closed");
    let mut pongs = 0;
    let mut limited = 0;
    let mut retry_hint = None;
    let close_code = loop {
        match o.conn.recv_timeout(WAIT).await {
            Ok(ServerMsg::Pong { .. }) => pongs += 1,
            Ok(ServerMsg::Error {
                code: ErrorCode::RateLimited,
                retry_after_ms,
                ..
            }) => {
                limited += 1;
                retry_hint = retry_after_ms;
            }
            Ok(_) => {}
            Err(ClientError::Closed { code, .. }) => break code,
            Err(other) => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(close_code, Some(1008));
    assert!(pongs >= 20, "the first frames were served ({pongs})");
    assert!(
        limited >= 1,
        "flooding frames were refused with rate_limited"
    );
    assert!(retry_hint.is_some_and(|ms| ms > 0));

    // The bystanders play on, undisturbed.
    let (seq, _) = a.conn.act(Place { cell: 0 }).await.unwrap();
    assert_eq!(seq, 2);
    assert_eq!(next_event(&mut b.conn).await.0, 2);

    // O's seat is held for the grace period; X's accepted move is still there.
    let summary = app.client.get_room(&room).await.unwrap();
    assert_eq!(summary.seq, 2);
    let mut back = app
        .client
        .connect(&o.token.token)
        .await
        .expect("the flooder may come back");
    let joined = back.join(&room, Role::Player).await.unwrap();
    assert_eq!(joined.seat, Some(1));
    assert_eq!(joined.state["board"][4], "X");
}

/// The first close code a raw socket receives, or `None` if it ends without one.
async fn close_code_of(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Option<u16> {
    tokio::time::timeout(WAIT, async {
        while let Some(frame) = ws.next().await {
            match frame {
                Ok(Message::Close(Some(close))) => return Some(u16::from(close.code)),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
        None
    })
    .await
    .expect("the server closes in time")
}

#[actix_rt::test]
async fn a_fragmented_message_over_64_kib_closes_with_1009() {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;

    let app = spawn_app().await;
    let me = app.guest("Fragments").await;
    let (mut ws, _) = tokio_tungstenite::connect_async(app.ws_url(&me.token))
        .await
        .unwrap();
    // Five 16 KiB fragments: each is within the frame limit, the message is not.
    let chunk = vec![b'x'; 16 * 1024];
    let mut sent = ws
        .send(Message::Frame(Frame::message(
            chunk.clone(),
            OpCode::Data(Data::Text),
            false,
        )))
        .await;
    for i in 1..5 {
        if sent.is_err() {
            break;
        }
        sent = ws
            .send(Message::Frame(Frame::message(
                chunk.clone(),
                OpCode::Data(Data::Continue),
                i == 4,
            )))
            .await;
    }
    assert_eq!(close_code_of(&mut ws).await, Some(1009));

    let mut p = app.connect("After").await;
    assert_alive(&mut p.conn).await;
}

#[actix_rt::test]
async fn a_reader_that_stops_reading_is_cut_off_and_the_room_goes_on() {
    let app = crate::common::app()
        .env("USE_RATE_LIMITING", "false")
        .spawn()
        .await;
    let room = app.create_room("tictactoe").await;

    // A spectator whose socket has a tiny receive buffer and who never reads after joining.
    let me = app.guest("Stalled").await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket
        .connect(([127, 0, 0, 1], app.port).into())
        .await
        .unwrap();
    let (mut stalled, _) = tokio_tungstenite::client_async(app.ws_url(&me.token), stream)
        .await
        .unwrap();
    let join = serde_json::to_string(&ClientMsg::Join {
        room: room.id.clone(),
        role: Role::Spectator,
        reference: None,
    })
    .unwrap();
    stalled.send(Message::text(join)).await.unwrap();
    loop {
        let frame = tokio::time::timeout(WAIT, stalled.next())
            .await
            .expect("joined in time")
            .expect("open")
            .unwrap();
        if frame.to_text().unwrap_or("").contains(r#""type":"joined""#) {
            break;
        }
    }
    assert_eq!(app.client.get_room(&room.id).await.unwrap().spectators, 1);

    // A chatty player fills the stalled reader's queue far beyond its bound.
    let mut talker = app.connect("Talker").await;
    talker.conn.join(&room.id, Role::Spectator).await.unwrap();
    let line = "y".repeat(450);
    let chat = serde_json::to_string(&ClientMsg::Chat {
        text: line,
        reference: None,
    })
    .unwrap();
    // The talker sends in rounds and reads each round's echoes before the next, so that it
    // never becomes a stalled reader itself; the stalled spectator is sent all of them.
    let (rounds, per_round) = (40, 500);
    for _ in 0..rounds {
        for _ in 0..per_round {
            talker
                .conn
                .send_raw(Message::text(chat.clone()))
                .await
                .unwrap();
        }
        let mut echoed = 0;
        while echoed < per_round {
            match talker.conn.recv_timeout(WAIT).await.unwrap() {
                ServerMsg::Chat { .. } => echoed += 1,
                ServerMsg::Error { code, message, .. } => {
                    panic!("talker refused: {code:?} {message}")
                }
                _ => {}
            }
        }
    }
    let total = rounds * per_round;

    // The server dropped the stalled spectator rather than queueing for it without bound.
    let deadline = tokio::time::Instant::now() + WAIT;
    while app.client.get_room(&room.id).await.unwrap().spectators != 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stalled reader was never dropped"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Reading now, it finds the end of the stream before the end of the chat.
    let mut received = 0;
    let ended = tokio::time::timeout(WAIT * 3, async {
        while let Some(frame) = stalled.next().await {
            match frame {
                Ok(Message::Text(t)) if t.contains(r#""type":"chat""#) => received += 1,
                Ok(Message::Close(_)) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the stalled reader's stream ends");
    assert!(
        received < total,
        "the stalled reader got {received} of {total} lines: its queue was bounded"
    );
    assert_alive(&mut talker.conn).await;
}
