//! The WebSocket upgrade over a raw socket: what the upgrade service does with the bytes around
//! the handshake (src/http/upgrade.rs).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::spawn_app;

const WAIT: Duration = Duration::from_secs(10);

/// Reads until `needle` has arrived or the socket closes; everything read.
async fn read_until(socket: &mut TcpStream, needle: &[u8]) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !seen.windows(needle.len()).any(|w| w == needle) {
        let n = tokio::time::timeout(WAIT, socket.read(&mut buf))
            .await
            .expect("the server answers in time")
            .expect("the socket reads");
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&buf[..n]);
    }
    seen
}

/// A masked client text frame (RFC 6455, section 5.3), payload under 126 bytes.
fn masked_text(payload: &str) -> Vec<u8> {
    let mask = [0x12, 0x34, 0x56, 0x78];
    let mut frame = vec![0x81, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

fn upgrade_request(path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: gamehall\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
}

#[actix_rt::test]
async fn a_frame_sent_with_the_upgrade_request_is_read_after_the_handshake() {
    let app = spawn_app().await;
    let token = app.guest("Eager").await;
    let mut socket = TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connects");
    // The request and a first frame in one write, as a client that does not wait for the 101
    // may send them: the frame arrives in the same read as the request.
    let mut bytes = upgrade_request(&format!("/v1/ws?token={}", token.token)).into_bytes();
    bytes.extend(masked_text(r#"{"type":"ping","ref":"early"}"#));
    socket.write_all(&bytes).await.expect("writes");

    let answer = read_until(&mut socket, br#""ref":"early""#).await;
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.starts_with("HTTP/1.1 101"),
        "the upgrade is accepted: {text}"
    );
    assert!(text.contains(r#""type":"hello""#), "hello first: {text}");
    assert!(
        text.contains(r#""type":"pong""#),
        "the early ping is answered: {text}"
    );
}

#[actix_rt::test]
async fn an_upgrade_the_app_refuses_gets_its_answer_and_the_connection_closes() {
    let app = spawn_app().await;
    for (path, status) in [
        ("/v1/ws?token=not-a-token", "HTTP/1.1 401"),
        ("/health/live", "HTTP/1.1 200"),
        ("/no/such/route", "HTTP/1.1 404"),
    ] {
        let mut socket = TcpStream::connect(("127.0.0.1", app.port))
            .await
            .expect("connects");
        socket
            .write_all(upgrade_request(path).as_bytes())
            .await
            .expect("writes");
        // Everything up to the server closing the connection.
        let answer = read_until(&mut socket, b"\0never\0").await;
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with(status), "{path}: {text}");
        assert!(
            !text.contains("101 Switching"),
            "{path} is not upgraded: {text}"
        );
    }
    // The server still serves: a WebSocket opens normally afterwards.
    let mut player = app.connect("After").await;
    player.conn.ping().await.expect("a pong");
}
