//! Dropped connections: the seat is held for RECONNECT_GRACE, `resume` returns exactly the
//! missed events, and after the grace the seat is forfeited.

use gamehall::client::tictactoe::Place;
use gamehall::client::{ClientError, Connection};
use gamehall::game::{Outcome, OutcomeKind, Seat};
use gamehall::protocol::{ErrorCode, PresenceStatus, Role, RoomStatus, ServerMsg};

use crate::common::{app, next_error, next_event, play_out, WAIT};

#[actix_rt::test]
async fn resume_within_the_grace_returns_exactly_the_missed_events_in_order() {
    let app = app().env("RECONNECT_GRACE", "30").spawn().await;
    let (room, mut x, mut o) = app.two_player_game("tictactoe").await;
    x.conn.act(Place { cell: 0 }).await.unwrap();
    next_event(&mut o.conn).await;
    let (last_seen, _) = o.conn.act(Place { cell: 4 }).await.unwrap();
    assert_eq!(last_seen, 3);
    next_event(&mut x.conn).await;

    // O's socket drops without a goodbye; X is told, the seat is held.
    let o_token = o.token.clone();
    drop(o);
    told_seat_disconnected(&mut x.conn, 1).await;
    let summary = app.client.get_room(&room).await.unwrap();
    assert!(!summary.players[1].connected);
    assert_eq!(summary.status, RoomStatus::Playing);

    // X moves while O is away.
    x.conn.act(Place { cell: 1 }).await.unwrap();

    let mut back = app.client.connect(&o_token.token).await.unwrap();
    assert_eq!(back.resume(&room, last_seen).await.unwrap(), 4);
    let (seq, kind, data) = next_event(&mut back).await;
    assert_eq!(
        (seq, kind.as_str(), data["cell"].as_u64()),
        (4, "move", Some(1))
    );
    // X learns that O is back, and O plays on from exactly where the room is.
    x.conn
        .wait_for(WAIT, |msg| match msg {
            ServerMsg::Presence {
                status: PresenceStatus::Reconnected,
                seat: Some(1),
                ..
            } => Some(()),
            _ => None,
        })
        .await
        .unwrap();
    let (seq, _) = back.act(Place { cell: 7 }).await.unwrap();
    assert_eq!(seq, 5);
    assert_eq!(next_event(&mut x.conn).await.0, 5);

    // Resuming from further back replays every event after it, in order, with no gaps.
    drop(back);
    let mut again = app.client.connect(&o_token.token).await.unwrap();
    assert_eq!(again.resume(&room, 1).await.unwrap(), 5);
    let mut replayed = Vec::new();
    for _ in 0..4 {
        replayed.push(next_event(&mut again).await.0);
    }
    assert_eq!(replayed, vec![2, 3, 4, 5]);
}

/// A finished room gives up what only the archive reads (each event's cause) and its spare
/// log slots; a player who dropped before the last move still gets exactly what they missed,
/// then the result, whether the game was archived or not.
async fn resume_after_the_game_ended(archival: &str) {
    let app = app()
        .env("RECONNECT_GRACE", "30")
        .env("USE_GAME_ARCHIVAL", archival)
        .spawn()
        .await;
    let (room, mut x, mut o) = app.two_player_game("tictactoe").await;
    play_out(&mut x.conn, &mut o.conn, &[0, 3, 1, 4]).await;
    let o_token = o.token.clone();
    drop(o);
    told_seat_disconnected(&mut x.conn, 1).await;
    // X completes the top row while O is away.
    let (last, _) = x.conn.act(Place { cell: 2 }).await.unwrap();
    assert_eq!(
        app.client.get_room(&room).await.unwrap().status,
        RoomStatus::Finished
    );

    let mut back = app.client.connect(&o_token.token).await.unwrap();
    assert_eq!(back.resume(&room, 1).await.unwrap(), last);
    assert_eq!(
        next_moves(&mut back, (last - 1) as usize).await,
        vec![
            (2, Some(0)),
            (3, Some(3)),
            (4, Some(1)),
            (5, Some(4)),
            (6, Some(2))
        ]
    );
    let outcome = back
        .wait_for(WAIT, |msg| match msg {
            ServerMsg::GameOver { outcome, .. } => Some(outcome.clone()),
            _ => None,
        })
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::win(0));
}

#[actix_rt::test]
async fn resuming_a_finished_archived_game_returns_the_missed_events_and_the_result() {
    resume_after_the_game_ended("true").await;
}

#[actix_rt::test]
async fn resuming_a_finished_unarchived_game_returns_the_missed_events_and_the_result() {
    resume_after_the_game_ended("false").await;
}

#[actix_rt::test]
async fn a_reconnect_grace_after_the_end_a_resume_gets_the_final_state_and_the_result() {
    let app = app().env("RECONNECT_GRACE", "1").spawn().await;
    let (room, mut x, mut o) = app.two_player_game("tictactoe").await;
    play_out(&mut x.conn, &mut o.conn, &[0, 3, 1, 4]).await;
    let (last, _) = x.conn.act(Place { cell: 2 }).await.unwrap();
    let o_token = o.token.clone();
    drop(o);
    // The room gives its event log back one grace after the end.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;

    let mut back = app.client.connect(&o_token.token).await.unwrap();
    assert_eq!(back.resume(&room, 1).await.unwrap(), last);
    let mut seen = Vec::new();
    let outcome = back
        .wait_for(WAIT, |msg| {
            match msg {
                ServerMsg::Event { seq, .. } => seen.push(format!("event {seq}")),
                ServerMsg::State { seq, state, .. } => {
                    seen.push(format!("state {seq} {}", state["board"]))
                }
                _ => {}
            }
            match msg {
                ServerMsg::GameOver { outcome, .. } => Some(outcome.clone()),
                _ => None,
            }
        })
        .await
        .unwrap();
    assert_eq!(
        seen,
        vec![format!(
            "state {last} {}",
            serde_json::json!(["X", "X", "X", "O", "O", null, null, null, null])
        )]
    );
    assert_eq!(outcome, Outcome::win(0));
}

#[actix_rt::test]
async fn a_resumed_player_receives_moves_made_while_away() {
    let app = app().env("RECONNECT_GRACE", "30").spawn().await;
    let room = app.create_room("tictactoe").await;
    let mut x = app.connect("Xavier").await;
    let mut o = app.connect("Olga").await;
    let mut spectator = app.connect("Watcher").await;
    spectator
        .conn
        .join(&room.id, Role::Spectator)
        .await
        .unwrap();
    x.conn.join(&room.id, Role::Player).await.unwrap();
    o.conn.join(&room.id, Role::Player).await.unwrap();
    let (seen, _, _) = next_event(&mut spectator.conn).await;
    assert_eq!(seen, 1);
    // The spectator drops; two moves happen; it resumes from seq 1.
    let spectator_token = spectator.token.clone();
    drop(spectator);
    x.conn.act(Place { cell: 0 }).await.unwrap();
    o.conn.act(Place { cell: 4 }).await.unwrap();
    x.conn.act(Place { cell: 8 }).await.unwrap();
    let mut back = app.client.connect(&spectator_token.token).await.unwrap();
    assert_eq!(back.resume(&room.id, 1).await.unwrap(), 4);
    assert_eq!(
        next_moves(&mut back, 3).await,
        vec![(2, Some(0)), (3, Some(4)), (4, Some(8))]
    );
    // A resume ahead of the room is refused.
    let mut ahead = app.connect("Ahead").await;
    match ahead.conn.resume(&room.id, 99).await {
        Err(ClientError::Server { code, .. }) => assert_eq!(code, ErrorCode::InvalidSeq),
        other => panic!("expected invalid_seq, got {other:?}"),
    }
}

#[actix_rt::test]
async fn after_the_grace_the_absent_player_forfeits() {
    let app = app().env("RECONNECT_GRACE", "1").spawn().await;
    let (room, mut x, mut o) = app.two_player_game("tictactoe").await;
    x.conn.act(Place { cell: 0 }).await.unwrap();
    next_event(&mut o.conn).await;
    let o_token = o.token.clone();
    drop(o);

    let outcome = x.conn.game_over().await.unwrap();
    assert_eq!(outcome, Outcome::forfeit(2, vec![1]));
    assert_eq!(outcome.result, OutcomeKind::Forfeit);
    assert_eq!(outcome.winners, vec![0]);
    let summary = app.client.get_room(&room).await.unwrap();
    assert_eq!(summary.status, RoomStatus::Finished);
    assert_eq!(summary.outcome, Some(outcome.clone()));

    // Coming back too late finds the game forfeited, with the forfeit in the log.
    let mut late = app.client.connect(&o_token.token).await.unwrap();
    assert_eq!(late.resume(&room, 2).await.unwrap(), 3);
    let (seq, kind, data) = next_event(&mut late).await;
    assert_eq!((seq, kind.as_str()), (3, "forfeit"));
    assert_eq!(data["seat"], 1);
    assert_eq!(late.game_over().await.unwrap(), outcome);
    match late.act(Place { cell: 4 }).await {
        Err(ClientError::Server { code, .. }) => assert_eq!(code, ErrorCode::GameOver),
        other => panic!("expected game_over, got {other:?}"),
    }
}

#[actix_rt::test]
async fn leaving_a_running_game_forfeits_at_once() {
    let app = app().env("RECONNECT_GRACE", "30").spawn().await;
    let (_room, mut x, mut o) = app.two_player_game("tictactoe").await;
    o.conn.leave().await.unwrap();
    let outcome = x.conn.game_over().await.unwrap();
    assert_eq!(outcome, Outcome::forfeit(2, vec![1]));
}

#[actix_rt::test]
async fn when_every_player_is_gone_the_game_is_abandoned() {
    let app = app().env("RECONNECT_GRACE", "1").spawn().await;
    let (room, mut x, o) = app.two_player_game("tictactoe").await;
    let mut watcher = app.connect("Watcher").await;
    watcher.conn.join(&room, Role::Spectator).await.unwrap();
    x.conn.act(Place { cell: 0 }).await.unwrap();
    drop(o);
    drop(x);

    let outcome = watcher.conn.game_over().await.unwrap();
    assert_eq!(outcome.result, OutcomeKind::Abandoned);
    assert!(outcome.winners.is_empty());
    assert_eq!(outcome.forfeited, vec![0, 1]);
    let summary = app.client.get_room(&room).await.unwrap();
    assert_eq!(summary.outcome, Some(outcome));
}

#[actix_rt::test]
async fn a_player_who_leaves_a_finished_game_is_shown_as_gone() {
    let app = app().env("RECONNECT_GRACE", "30").spawn().await;
    let (room, mut x, mut o) = app.two_player_game("tictactoe").await;
    o.conn.leave().await.unwrap();
    x.conn.game_over().await.unwrap();
    x.conn.leave().await.unwrap();
    let summary = app.client.get_room(&room).await.unwrap();
    assert!(
        summary.players.iter().all(|p| !p.connected),
        "{:?}",
        summary.players
    );
}

#[actix_rt::test]
async fn joining_again_after_a_reload_gives_the_seat_back_and_replaces_the_old_socket() {
    let app = app().env("RECONNECT_GRACE", "30").spawn().await;
    let (room, mut x, mut o) = app.two_player_game("tictactoe").await;
    x.conn.act(Place { cell: 0 }).await.unwrap();
    next_event(&mut o.conn).await;

    // O opens a second connection (a reloaded tab) while the first is still open.
    let mut reload = app.client.connect(&o.token.token).await.unwrap();
    let joined = reload.join(&room, Role::Player).await.unwrap();
    assert_eq!(joined.seat, Some(1));
    assert_eq!(joined.seq, 2);
    assert_eq!(joined.state["board"][0], "X");
    assert_eq!(next_error(&mut o.conn).await.0, ErrorCode::SessionReplaced);
    // The new connection plays; the old one is no longer in the room.
    let (seq, _) = reload.act(Place { cell: 4 }).await.unwrap();
    assert_eq!(seq, 3);
    match o.conn.act(Place { cell: 5 }).await {
        Err(ClientError::Server { code, .. }) => assert_eq!(code, ErrorCode::NotInRoom),
        other => panic!("expected not_in_room, got {other:?}"),
    }
}

#[actix_rt::test]
async fn a_replaced_socket_may_join_another_room_as_soon_as_it_is_told() {
    let app = app().env("RECONNECT_GRACE", "30").spawn().await;
    let (room, _x, mut o) = app.two_player_game("tictactoe").await;
    let elsewhere = app.create_room("tictactoe").await;

    let mut reload = app.client.connect(&o.token.token).await.unwrap();
    reload.join(&room, Role::Player).await.unwrap();
    assert_eq!(next_error(&mut o.conn).await.0, ErrorCode::SessionReplaced);
    // The room lets the old session go before telling it: no `already_in_room` here.
    let joined = o.conn.join(&elsewhere.id, Role::Spectator).await.unwrap();
    assert_eq!(joined.role, Role::Spectator);
}

#[actix_rt::test]
async fn a_player_whose_socket_vanishes_right_after_joining_still_forfeits() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;

    let app = app().env("RECONNECT_GRACE", "1").spawn().await;
    let room = app.create_room("tictactoe").await;
    let ghost = app.guest("Ghost").await;
    let (mut ws, _) = tokio_tungstenite::connect_async(app.ws_url(&ghost.token))
        .await
        .unwrap();
    let join = serde_json::to_string(&gamehall::protocol::ClientMsg::Join {
        room: room.id.clone(),
        role: Role::Player,
        reference: None,
    })
    .unwrap();
    ws.send(Message::text(join)).await.unwrap();
    // Gone without reading a single reply or saying goodbye.
    drop(ws);

    // Whether the ghost's frame reached the room before its socket died is up to the network.
    // Either way the room must not be blocked by it.
    let mut o = app.connect("Olga").await;
    let joined = o.conn.join(&room.id, Role::Player).await.unwrap();
    match joined.seat {
        Some(1) => {
            // The ghost holds seat 0: it forfeits once the grace runs out.
            let outcome = o.conn.game_over().await.unwrap();
            assert_eq!(outcome, Outcome::forfeit(2, vec![0]));
        }
        Some(0) => {
            // The ghost never got (or already lost) a seat: a real opponent can take seat 1.
            let mut p = app.connect("Pablo").await;
            assert_eq!(
                p.conn.join(&room.id, Role::Player).await.unwrap().seat,
                Some(1)
            );
            assert_eq!(next_event(&mut o.conn).await.1, "started");
        }
        other => panic!("unexpected seat {other:?}"),
    }
}

/// Waits until `conn` is told that `seat`'s player dropped.
async fn told_seat_disconnected(conn: &mut Connection, seat: Seat) {
    conn.wait_for(WAIT, |msg| match msg {
        ServerMsg::Presence {
            status: PresenceStatus::Disconnected,
            seat: Some(s),
            ..
        } if *s == seat => Some(()),
        _ => None,
    })
    .await
    .unwrap();
}

/// The next `n` events, which must all be moves, as `(seq, cell)`.
async fn next_moves(conn: &mut Connection, n: usize) -> Vec<(u64, Option<u64>)> {
    let mut moves = Vec::new();
    for _ in 0..n {
        let (seq, kind, data) = next_event(conn).await;
        assert_eq!(kind, "move", "event {seq}: {data}");
        moves.push((seq, data["cell"].as_u64()));
    }
    moves
}
