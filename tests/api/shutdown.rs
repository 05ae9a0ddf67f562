//! Graceful shutdown: clients are told, running games get the drain time, games still running
//! then end as abandoned, every connection closes with 1001, and no new room is created.

use std::time::Duration;

use gamehall::client::tictactoe::Place;
use gamehall::client::{ClientError, Connection};
use gamehall::game::{Outcome, OutcomeKind};
use gamehall::protocol::ServerMsg;

use crate::common::{app, next_event, play_out, WAIT};

async fn shutdown_notice(conn: &mut Connection) -> u64 {
    conn.wait_for(WAIT, |msg| match msg {
        ServerMsg::ServerShutdown { drain_ms } => Some(*drain_ms),
        _ => None,
    })
    .await
    .expect("a server_shutdown frame")
}

async fn close_code(conn: &mut Connection) -> Option<u16> {
    loop {
        match conn.recv_timeout(WAIT).await {
            Ok(_) => continue,
            Err(ClientError::Closed { code, .. }) => return code,
            Err(other) => panic!("expected a close, got {other:?}"),
        }
    }
}

#[actix_rt::test]
async fn shutdown_drains_running_games_then_closes_every_connection() {
    let app = app().env("SHUTDOWN_DRAIN_TIME", "3").spawn().await;
    // One game that will finish during the drain, one that will not.
    let (_quick, mut x, mut o) = app.two_player_game("tictactoe").await;
    let (_slow, mut a, mut b) = app.two_player_game("tictactoe").await;
    a.conn.act(Place { cell: 4 }).await.unwrap();
    next_event(&mut b.conn).await;
    // Someone connected but in no room.
    let mut idle = app.connect("Idle").await;

    let shutdown = app.shutdown.clone();
    let report = actix_rt::spawn(async move { shutdown.run().await });

    assert_eq!(shutdown_notice(&mut x.conn).await, 3000);
    assert_eq!(shutdown_notice(&mut idle.conn).await, 3000);
    assert_eq!(close_code(&mut idle.conn).await, Some(1001));

    // No new rooms while draining.
    let token = app.guest("Late").await;
    let refused = app
        .client
        .create_room(&token.token, "tictactoe", serde_json::Value::Null)
        .await;
    assert!(refused.is_err(), "a room was created during shutdown");

    // The quick game finishes inside the drain time.
    play_out(&mut x.conn, &mut o.conn, &[0, 3, 1, 4, 2]).await;
    assert_eq!(x.conn.game_over().await.unwrap(), Outcome::win(0));

    // The slow game is still running when the drain time ends: it is abandoned, and everyone
    // is disconnected with 1001.
    let outcome = b.conn.game_over().await.unwrap();
    assert_eq!(outcome.result, OutcomeKind::Abandoned);
    assert_eq!(outcome.forfeited, vec![0, 1]);
    for conn in [&mut x.conn, &mut o.conn, &mut a.conn, &mut b.conn] {
        assert_eq!(close_code(conn).await, Some(1001));
    }
    let report = tokio::time::timeout(Duration::from_secs(10), report)
        .await
        .expect("shutdown finishes")
        .unwrap();
    assert_eq!(report.abandoned, 1);
    assert!(!report.drained_in_time);
}

#[actix_rt::test]
async fn shutdown_with_no_game_running_is_immediate() {
    let app = app().env("SHUTDOWN_DRAIN_TIME", "30").spawn().await;
    let mut idle = app.connect("Idle").await;
    let started = std::time::Instant::now();
    let report = app.shutdown.run().await;
    assert!(report.drained_in_time);
    assert_eq!(report.abandoned, 0);
    assert!(started.elapsed() < Duration::from_secs(10));
    // Nothing was left to drain, so the notice may already say so (drain 0).
    assert!(shutdown_notice(&mut idle.conn).await <= 30_000);
    assert_eq!(close_code(&mut idle.conn).await, Some(1001));
}
