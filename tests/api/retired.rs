//! A finished room that nobody is in one reconnect grace after its end retires: its actor
//! stops and the registry keeps its final state until the room is reaped. Whoever comes back
//! in the meantime gets what the finished room would have answered.

use std::time::{Duration, Instant};

use gamehall::client::tictactoe::Place;
use gamehall::client::{ClientError, Connection};
use gamehall::game::Outcome;
use gamehall::ids::RoomId;
use gamehall::protocol::{ErrorCode, PresenceStatus, Role, RoomStatus, Seq, ServerMsg};
use serde_json::{json, Value};

use crate::common::{app, metric_sample, metrics_text, play_out, TestApp, WAIT};

/// X wins on the top row; both players have gone. Answers the room and its last seq.
async fn a_game_everyone_left(app: &TestApp) -> (RoomId, Seq, String, String) {
    let (room, mut x, mut o) = app.two_player_game("tictactoe").await;
    play_out(&mut x.conn, &mut o.conn, &[0, 3, 1, 4]).await;
    let (last, _) = x.conn.act(Place { cell: 2 }).await.unwrap();
    o.conn.game_over().await.unwrap();
    // One leaves, the other just goes: both paths let the room retire.
    x.conn.leave().await.unwrap();
    let tokens = (x.token.token.clone(), o.token.token.clone());
    drop((x, o));
    (room, last, tokens.0, tokens.1)
}

async fn retired_rooms(app: &TestApp) -> f64 {
    metric_sample(&metrics_text(app).await, "gamehall_rooms_retired")
}

async fn wait_for_retired_rooms(app: &TestApp, rooms: f64) {
    let deadline = Instant::now() + WAIT;
    while retired_rooms(app).await != rooms {
        assert!(
            Instant::now() < deadline,
            "expected {rooms} retired rooms, metrics say {}",
            retired_rooms(app).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every frame up to and including `game_over`, as short descriptions.
async fn frames_to_game_over(conn: &mut Connection) -> Vec<String> {
    let mut seen = Vec::new();
    conn.wait_for(WAIT, |msg| {
        seen.push(match msg {
            ServerMsg::Presence { seat, status, .. } => format!("presence {seat:?} {status:?}"),
            ServerMsg::State { seq, state, .. } => format!("state {seq} {}", state["board"]),
            ServerMsg::Event { seq, .. } => format!("event {seq}"),
            ServerMsg::GameOver { seq, outcome } => format!("game_over {seq} {outcome:?}"),
            other => format!("{other:?}"),
        });
        matches!(msg, ServerMsg::GameOver { .. }).then_some(())
    })
    .await
    .expect("game_over arrives");
    seen
}

fn final_board() -> Value {
    json!(["X", "X", "X", "O", "O", null, null, null, null])
}

#[actix_rt::test]
async fn a_retired_room_answers_join_and_resume_with_the_final_state_and_the_result() {
    let app = app().env("RECONNECT_GRACE", "1").spawn().await;
    let (room, last, x_token, o_token) = a_game_everyone_left(&app).await;
    wait_for_retired_rooms(&app, 1.0).await;
    let summary = app.client.get_room(&room).await.unwrap();
    assert_eq!(summary.status, RoomStatus::Finished);
    assert_eq!(summary.outcome, Some(Outcome::win(0)));
    assert_eq!(summary.seq, last);
    assert!(summary.players.iter().all(|p| !p.connected));

    // O missed the end: told they are back, then the final state and the result.
    let mut o = app.client.connect(&o_token).await.unwrap();
    assert_eq!(o.resume(&room, 1).await.unwrap(), last);
    let board = final_board();
    assert_eq!(
        frames_to_game_over(&mut o).await,
        vec![
            format!("presence Some(1) {:?}", PresenceStatus::Reconnected),
            format!("state {last} {board}"),
            format!("game_over {last} {:?}", Outcome::win(0)),
        ]
    );
    // The game is over, and the room answers so; `leave` is answered too.
    match o.act(Place { cell: 5 }).await {
        Err(ClientError::Server { code, .. }) => assert_eq!(code, ErrorCode::GameOver),
        other => panic!("expected game_over, got {other:?}"),
    }
    o.leave().await.unwrap();
    // Resuming without a gap sends no state; one ahead of the room is refused.
    let mut o = app.client.connect(&o_token).await.unwrap();
    assert_eq!(o.resume(&room, last).await.unwrap(), last);
    assert_eq!(
        frames_to_game_over(&mut o).await,
        vec![
            format!("presence Some(1) {:?}", PresenceStatus::Reconnected),
            format!("game_over {last} {:?}", Outcome::win(0)),
        ]
    );
    o.leave().await.unwrap();
    match o.resume(&room, last + 1).await {
        Err(ClientError::Server { code, .. }) => assert_eq!(code, ErrorCode::InvalidSeq),
        other => panic!("expected invalid_seq, got {other:?}"),
    }

    // X asks to watch and, holding a seat, gets it back, as in a running room.
    let mut x = app.client.connect(&x_token).await.unwrap();
    let joined = x.join(&room, Role::Spectator).await.unwrap();
    assert_eq!((joined.role, joined.seat), (Role::Player, Some(0)));
    assert_eq!((joined.seq, &joined.state["board"]), (last, &board));
    assert!(joined.players.iter().any(|p| p.seat == 0 && p.connected));
    assert_eq!(x.game_over().await.unwrap(), Outcome::win(0));

    // Someone new may watch, not play; chat finds nobody to talk to.
    let guest = app.guest("Late").await;
    let mut late = app.client.connect(&guest.token).await.unwrap();
    match late.join(&room, Role::Player).await {
        Err(ClientError::Server { code, .. }) => assert_eq!(code, ErrorCode::RoomFull),
        other => panic!("expected room_full, got {other:?}"),
    }
    let watching = late.join(&room, Role::Spectator).await.unwrap();
    assert_eq!((watching.role, watching.seat), (Role::Spectator, None));
    assert_eq!(watching.state["board"], board);
    assert_eq!(late.game_over().await.unwrap(), Outcome::win(0));
    match late.chat("gg").await {
        Err(ClientError::Server { code, .. }) => assert_eq!(code, ErrorCode::GameOver),
        other => panic!("expected game_over, got {other:?}"),
    }
    // Leaving frees the connection for another room at once.
    late.leave().await.unwrap();
    let next = app.create_room("tictactoe").await;
    late.join(&next.id, Role::Player).await.unwrap();

    // Nobody brought the actor back: the room is still retired.
    assert_eq!(retired_rooms(&app).await, 1.0);
}

#[actix_rt::test]
async fn a_retired_room_is_reaped_on_time() {
    let app = app()
        .env("RECONNECT_GRACE", "1")
        .env("GC_COMPLETED_GAMES_AFTER", "3")
        .spawn()
        .await;
    let (room, _, _, o_token) = a_game_everyone_left(&app).await;
    wait_for_retired_rooms(&app, 1.0).await;
    // Reaped a few seconds after the end (the registry sweeps once a second).
    wait_for_retired_rooms(&app, 0.0).await;
    match app.client.get_room(&room).await {
        Err(ClientError::Api { status, .. }) => assert_eq!(status, 404),
        other => panic!("expected a 404, got {other:?}"),
    }
    let mut o = app.client.connect(&o_token).await.unwrap();
    match o.resume(&room, 1).await {
        Err(ClientError::Server { code, .. }) => assert_eq!(code, ErrorCode::RoomNotFound),
        other => panic!("expected room_not_found, got {other:?}"),
    }
}

#[actix_rt::test]
async fn a_finished_room_with_someone_in_it_does_not_retire() {
    let app = app().env("RECONNECT_GRACE", "1").spawn().await;
    let (room, mut x, mut o) = app.two_player_game("tictactoe").await;
    play_out(&mut x.conn, &mut o.conn, &[0, 3, 1, 4]).await;
    x.conn.act(Place { cell: 2 }).await.unwrap();
    o.conn.game_over().await.unwrap();
    o.conn.leave().await.unwrap();
    // X stays past the grace: the room keeps running and X can still chat in it.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(retired_rooms(&app).await, 0.0);
    x.conn.chat("gg").await.unwrap();
    // Once X leaves too, it retires.
    x.conn.leave().await.unwrap();
    wait_for_retired_rooms(&app, 1.0).await;
    assert_eq!(
        app.client.get_room(&room).await.unwrap().status,
        RoomStatus::Finished
    );
}

#[actix_rt::test]
async fn a_finished_room_whose_players_all_left_retires_without_waiting_out_the_grace() {
    // A grace far longer than the wait below: only the players' `leave` can retire the room.
    let app = app().env("RECONNECT_GRACE", "300").spawn().await;
    let (room, mut x, mut o) = app.two_player_game("tictactoe").await;
    play_out(&mut x.conn, &mut o.conn, &[0, 3, 1, 4]).await;
    let (last, _) = x.conn.act(Place { cell: 2 }).await.unwrap();
    o.conn.game_over().await.unwrap();
    o.conn.leave().await.unwrap();
    x.conn.leave().await.unwrap();
    wait_for_retired_rooms(&app, 1.0).await;
    // Having left, O is owed no missed events: a resume gets the final state.
    let mut back = app.client.connect(&o.token.token).await.unwrap();
    assert_eq!(back.resume(&room, 2).await.unwrap(), last);
    assert_eq!(
        frames_to_game_over(&mut back).await,
        vec![
            format!("presence Some(1) {:?}", PresenceStatus::Reconnected),
            format!("state {last} {}", final_board()),
            format!("game_over {last} {:?}", Outcome::win(0)),
        ]
    );
}

#[actix_rt::test]
async fn a_finished_room_a_player_dropped_from_keeps_its_events_for_the_grace() {
    let app = app().env("RECONNECT_GRACE", "300").spawn().await;
    let (room, mut x, mut o) = app.two_player_game("tictactoe").await;
    play_out(&mut x.conn, &mut o.conn, &[0, 3, 1, 4]).await;
    let o_token = o.token.token.clone();
    drop(o);
    let (last, _) = x.conn.act(Place { cell: 2 }).await.unwrap();
    x.conn.leave().await.unwrap();
    // O dropped and is owed what they missed: the room stays an actor with its log.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(retired_rooms(&app).await, 0.0);
    let mut back = app.client.connect(&o_token).await.unwrap();
    assert_eq!(back.resume(&room, last - 1).await.unwrap(), last);
    assert_eq!(
        frames_to_game_over(&mut back).await,
        vec![
            format!("presence Some(1) {:?}", PresenceStatus::Reconnected),
            format!("event {last}"),
            format!("game_over {last} {:?}", Outcome::win(0)),
        ]
    );
}

#[actix_rt::test]
async fn a_player_who_stayed_away_past_their_grace_is_owed_nothing_after_the_end() {
    let app = app().env("RECONNECT_GRACE", "4").spawn().await;
    let (_room, mut x, mut o) = app.two_player_game("tictactoe").await;
    play_out(&mut x.conn, &mut o.conn, &[0, 3]).await;
    drop(x);
    // O leaves three seconds into X's four-second grace: the game ends then, abandoned.
    tokio::time::sleep(Duration::from_secs(3)).await;
    o.conn.leave().await.unwrap();
    // X's own grace runs out a second later and the room retires then, not a whole grace
    // after the end (seven seconds after X dropped).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(retired_rooms(&app).await, 1.0);
}
