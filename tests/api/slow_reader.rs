//! A client that stops reading its socket is closed by the server with 1008 "too slow to read"
//! once more frames are queued for it than the server keeps (1024, `MAX_QUEUED_FRAMES` in
//! src/outbox.rs), and only it: the player flooding the room, the room and new connections
//! carry on.

use std::time::Duration;

use gamehall::client::{ClientError, Connection};
use gamehall::protocol::{close_code, ClientMsg, Ref, Role, ServerMsg, MAX_CHAT_CHARS};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::common::{app, TestApp, WAIT};

/// Frames the server queues for one connection before it gives up on it.
const MAX_QUEUED_FRAMES: u64 = gamehall::outbox::MAX_QUEUED_FRAMES as u64;
/// The stalled client's socket receive buffer (the kernel doubles it), set small so that the
/// frames the kernel holds for it are few; the server's send buffer is what remains.
const STALLED_RECV_BUFFER: u32 = 16 * 1024;
/// Beyond the server's socket send buffer: the stalled client's receive buffer and the socket
/// writer's chunk, with room to spare.
const OTHER_BUFFERS: u64 = 1024 * 1024;
/// Chat lines the player may have sent without having read their echo: far below the queue
/// bound, so the player never becomes a slow reader itself.
const WINDOW: u64 = 128;
/// Upper bounds, so that the test always ends.
const MAX_LINES: u64 = 200_000;
const FLOOD_LIMIT: Duration = Duration::from_secs(30);
const CLOSE_LIMIT: Duration = Duration::from_secs(20);
/// How often the stalled client shows it is alive (a WebSocket ping, which it can send without
/// reading), so that only its reading, never the heartbeat timeout, can get it closed.
const KEEPALIVE: Duration = Duration::from_secs(1);

/// The most a socket send buffer can grow to here (`tcp_wmem`'s maximum), or a generous guess
/// where that cannot be read.
fn socket_send_buffer_max() -> u64 {
    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|text| text.split_whitespace().nth(2)?.parse().ok())
        .unwrap_or(16 * 1024 * 1024)
}

/// Connects over a socket with a small receive buffer and reads the `hello`.
async fn stalled_connection(app: &TestApp, name: &str) -> Connection {
    let token = app.guest(name).await;
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .set_recv_buffer_size(STALLED_RECV_BUFFER)
        .expect("a small receive buffer");
    let stream = socket
        .connect(([127, 0, 0, 1], app.port).into())
        .await
        .expect("connects");
    app.client
        .connect_stream(stream, &token.token, 64 * 1024)
        .await
        .expect("websocket connects")
}

/// Reads the player's frames until one more of its own chat lines has come back.
async fn read_echo(player: &mut Connection) {
    loop {
        match player.recv_timeout(WAIT).await {
            Ok(ServerMsg::Chat {
                reference: Some(_), ..
            }) => return,
            Ok(ServerMsg::Error { code, message, .. }) => {
                panic!("the player's chat was refused: {code:?}: {message}")
            }
            Ok(_) => {}
            Err(err) => panic!("the flooding player lost its connection: {err}"),
        }
    }
}

#[actix_rt::test]
async fn a_client_that_stops_reading_is_closed_with_1008_and_the_others_carry_on() {
    let app = app().env("USE_RATE_LIMITING", "false").spawn().await;
    let room = app.create_room("tictactoe").await;
    let mut player = app.connect("Talker").await;
    player
        .conn
        .join(&room.id, Role::Player)
        .await
        .expect("the player joins");
    let mut stalled = stalled_connection(&app, "Stalled").await;
    stalled
        .join(&room.id, Role::Spectator)
        .await
        .expect("the spectator watches");
    // From here on the spectator reads nothing.

    // The longest chat line, in 4-byte characters: each frame is about 2 KB.
    let line = "\u{1F3B2}".repeat(MAX_CHAT_CHARS);
    let frame_bytes = line.len() as u64;
    // Enough lines to fill every buffer between the room and the spectator and then the
    // server's queue past its bound, twice over.
    let needed = (socket_send_buffer_max() + OTHER_BUFFERS) / frame_bytes + MAX_QUEUED_FRAMES;
    let target = (2 * needed).min(MAX_LINES);

    let started = Instant::now();
    let mut last_keepalive = Instant::now();
    let (mut sent, mut echoed) = (0u64, 0u64);
    while sent < target && started.elapsed() < FLOOD_LIMIT {
        while sent - echoed >= WINDOW {
            read_echo(&mut player.conn).await;
            echoed += 1;
        }
        player
            .conn
            .send(&ClientMsg::Chat {
                text: line.clone(),
                reference: Some(Ref::Number(sent)),
            })
            .await
            .expect("the player sends");
        sent += 1;
        if last_keepalive.elapsed() >= KEEPALIVE {
            stalled
                .send_raw(Message::Ping(Default::default()))
                .await
                .expect("the stalled spectator can still send");
            last_keepalive = Instant::now();
        }
    }
    while echoed < sent {
        read_echo(&mut player.conn).await;
        echoed += 1;
    }
    let flood = started.elapsed();

    // The spectator reads again: the lines already on their way come first, then the close.
    let deadline = Instant::now() + CLOSE_LIMIT;
    let mut received = 0u64;
    let closed = loop {
        match tokio::time::timeout_at(deadline, stalled.recv()).await {
            Err(_) => panic!(
                "no close within {CLOSE_LIMIT:?}: the spectator read {received} of {sent} chat \
                 lines (flooded in {flood:?}) and then nothing"
            ),
            Ok(Ok(ServerMsg::Chat { .. })) => received += 1,
            Ok(Ok(_)) => {}
            Ok(Err(ClientError::Closed { code, reason })) => break (code, reason),
            Ok(Err(err)) => panic!(
                "the spectator's connection failed without a close frame after {received} of \
                 {sent} chat lines: {err}"
            ),
        }
    };
    assert_eq!(
        closed,
        (
            Some(close_code::POLICY_VIOLATION),
            "too slow to read".to_owned()
        ),
        "the spectator read {received} of {sent} chat lines"
    );
    assert!(
        received < sent,
        "the server dropped what it had queued: the spectator read {received} of {sent} lines"
    );

    // The player who kept reading is still connected and answered.
    player
        .conn
        .ping()
        .await
        .expect("the player still gets its pong");
    // The lobby stops counting the spectator that was cut off.
    let deadline = Instant::now() + WAIT;
    loop {
        let lobby = app.client.list_rooms(None).await.expect("the lobby list");
        let spectators = lobby.iter().find(|r| r.id == room.id).map(|r| r.spectators);
        if spectators == Some(0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the lobby still lists {spectators:?} spectators for the room after {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A new connection is greeted, can watch the room and hears the player.
    let mut late = app.connect("Late").await;
    late.conn
        .join(&room.id, Role::Spectator)
        .await
        .expect("a new spectator watches");
    player
        .conn
        .chat("still here")
        .await
        .expect("the player still chats");
    let heard = late
        .conn
        .wait_for(WAIT, |msg| match msg {
            ServerMsg::Chat { text, .. } if text == "still here" => Some(()),
            _ => None,
        })
        .await;
    assert!(
        heard.is_ok(),
        "the new spectator hears the player: {heard:?}"
    );
}
