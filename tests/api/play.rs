//! Whole games over WebSocket: wins, draws, spectators, chat, and many games at once.

use gamehall::client::tictactoe::Place;
use gamehall::game::{Outcome, OutcomeKind};
use gamehall::protocol::{ErrorCode, PresenceStatus, Role, RoomStatus, ServerMsg};
use serde_json::json;

use crate::common::{next_error, next_event, play_out, spawn_app, TestApp, WAIT};

/// X wins along the top row.
const X_WINS: [u8; 5] = [0, 3, 1, 4, 2];
/// O wins down the middle column.
const O_WINS: [u8; 6] = [0, 1, 3, 4, 8, 7];
/// X O X / X O O / O X X: nobody wins.
const DRAW: [u8; 9] = [0, 1, 2, 4, 3, 5, 7, 6, 8];

#[actix_rt::test]
async fn a_full_game_to_a_win_with_a_spectator_watching() {
    let app = spawn_app().await;
    let room = app.create_room("tictactoe").await;
    let mut spectator = app.connect("Watcher").await;
    let watching = spectator
        .conn
        .join(&room.id, Role::Spectator)
        .await
        .unwrap();
    assert_eq!((watching.role, watching.seat), (Role::Spectator, None));

    let mut x = app.connect("Xavier").await;
    let mut o = app.connect("Olga").await;
    x.conn.join(&room.id, Role::Player).await.unwrap();
    o.conn.join(&room.id, Role::Player).await.unwrap();
    for conn in [&mut x.conn, &mut o.conn, &mut spectator.conn] {
        let (seq, kind, data) = next_event(conn).await;
        assert_eq!((seq, kind.as_str()), (1, "started"));
        assert_eq!(data["players"].as_array().map(Vec::len), Some(2));
    }

    let seqs = play_out(&mut x.conn, &mut o.conn, &X_WINS).await;
    assert_eq!(
        seqs,
        vec![2, 3, 4, 5, 6],
        "seq is gap-free from the started event"
    );

    // The spectator saw every move, in order.
    let mut watched = Vec::new();
    for _ in 0..X_WINS.len() {
        let (seq, kind, data) = next_event(&mut spectator.conn).await;
        assert_eq!(kind, "move");
        watched.push((seq, data["cell"].as_u64().unwrap() as u8));
    }
    let expected: Vec<(u64, u8)> = seqs.iter().copied().zip(X_WINS).collect();
    assert_eq!(watched, expected);

    for conn in [&mut x.conn, &mut o.conn, &mut spectator.conn] {
        assert_eq!(conn.game_over().await.unwrap(), Outcome::win(0));
    }
    let summary = app.client.get_room(&room.id).await.unwrap();
    assert_eq!(summary.status, RoomStatus::Finished);
    assert_eq!(summary.outcome, Some(Outcome::win(0)));
    assert_eq!(summary.seq, 6);

    // Nobody moves after the end.
    match x.conn.act(Place { cell: 8 }).await {
        Err(gamehall::client::ClientError::Server { code, .. }) => {
            assert_eq!(code, ErrorCode::GameOver)
        }
        other => panic!("expected game_over, got {other:?}"),
    }
}

#[actix_rt::test]
async fn a_room_summary_is_current_as_soon_as_a_move_is_answered() {
    let app = spawn_app().await;
    let (room, mut x, _o) = app.two_player_game("tictactoe").await;
    let mut watcher = app.connect("Watcher").await;
    watcher.conn.join(&room, Role::Spectator).await.unwrap();
    x.conn.act(Place { cell: 4 }).await.unwrap();
    let summary = app.client.get_room(&room).await.unwrap();
    assert_eq!((summary.status, summary.seq), (RoomStatus::Playing, 2));
    assert_eq!(summary.spectators, 1);
}

#[actix_rt::test]
async fn a_full_game_to_a_draw() {
    let app = spawn_app().await;
    let (room, mut x, mut o) = app.two_player_game("tictactoe").await;
    play_out(&mut x.conn, &mut o.conn, &DRAW).await;
    let outcome = x.conn.game_over().await.unwrap();
    assert_eq!(outcome.result, OutcomeKind::Draw);
    assert!(outcome.winners.is_empty());
    assert_eq!(o.conn.game_over().await.unwrap(), outcome);
    let summary = app.client.get_room(&room).await.unwrap();
    assert_eq!(summary.outcome.map(|o| o.result), Some(OutcomeKind::Draw));
}

#[actix_rt::test]
async fn a_spectator_cannot_act_and_a_late_spectator_gets_the_current_state() {
    let app = spawn_app().await;
    let (room, mut x, mut o) = app.two_player_game("tictactoe").await;
    play_out(&mut x.conn, &mut o.conn, &[4, 0]).await;

    let mut late = app.connect("Late").await;
    let joined = late.conn.join(&room, Role::Spectator).await.unwrap();
    assert_eq!(joined.seq, 3);
    assert_eq!(joined.state["board"][4], "X");
    assert_eq!(joined.state["board"][0], "O");
    assert_eq!(joined.state["turn"], 0);
    assert_eq!(joined.players.len(), 2);

    late.conn
        .send(&gamehall::protocol::ClientMsg::Act {
            action: json!({"cell": 1}),
            reference: None,
        })
        .await
        .unwrap();
    assert_eq!(next_error(&mut late.conn).await.0, ErrorCode::NotAPlayer);
    // The refused action changed nothing: X still moves next, at seq 4.
    let (seq, _) = x.conn.act(Place { cell: 1 }).await.unwrap();
    assert_eq!(seq, 4);
}

#[actix_rt::test]
async fn chat_reaches_everyone_in_the_room_and_only_them() {
    let app = spawn_app().await;
    let (room, mut x, mut o) = app.two_player_game("tictactoe").await;
    let mut spectator = app.connect("Watcher").await;
    spectator.conn.join(&room, Role::Spectator).await.unwrap();
    let (_other_room, mut elsewhere, _) = app.two_player_game("tictactoe").await;

    // The sender's call returns once its own copy (carrying its ref) is back.
    x.conn.chat("good luck!").await.unwrap();
    for conn in [&mut o.conn, &mut spectator.conn] {
        let (name, text) = conn
            .wait_for(WAIT, |msg| match msg {
                ServerMsg::Chat { name, text, .. } => Some((name.clone(), text.clone())),
                _ => None,
            })
            .await
            .unwrap();
        assert_eq!((name.as_str(), text.as_str()), ("Xavier", "good luck!"));
    }
    // Someone in another room hears nothing.
    elsewhere.conn.ping().await.unwrap();
    let heard = elsewhere
        .conn
        .wait_for(std::time::Duration::from_millis(300), |msg| {
            matches!(msg, ServerMsg::Chat { .. }).then_some(())
        })
        .await;
    assert!(heard.is_err(), "chat leaked into another room");

    match spectator.conn.chat(&"x".repeat(501)).await {
        Err(gamehall::client::ClientError::Server { code, .. }) => {
            assert_eq!(code, ErrorCode::ChatTooLong)
        }
        other => panic!("expected chat_too_long, got {other:?}"),
    }
}

#[actix_rt::test]
async fn presence_tells_the_room_who_joined() {
    let app = spawn_app().await;
    let room = app.create_room("tictactoe").await;
    let mut x = app.connect("Xavier").await;
    x.conn.join(&room.id, Role::Player).await.unwrap();
    let mut o = app.connect("Olga").await;
    o.conn.join(&room.id, Role::Player).await.unwrap();
    let (name, status, seat) = x
        .conn
        .wait_for(WAIT, |msg| match msg {
            ServerMsg::Presence {
                name, status, seat, ..
            } if name == "Olga" => Some((name.clone(), *status, *seat)),
            _ => None,
        })
        .await
        .unwrap();
    assert_eq!(
        (name.as_str(), status, seat),
        ("Olga", PresenceStatus::Joined, Some(1))
    );
}

async fn play_one(app: &TestApp, i: usize) -> (usize, Outcome) {
    let (_room, mut x, mut o) = app.two_player_game("tictactoe").await;
    let cells: &[u8] = match i % 3 {
        0 => &X_WINS,
        1 => &O_WINS,
        _ => &DRAW,
    };
    play_out(&mut x.conn, &mut o.conn, cells).await;
    let outcome = x.conn.game_over().await.unwrap();
    assert_eq!(o.conn.game_over().await.unwrap(), outcome);
    (i, outcome)
}

#[actix_rt::test]
async fn two_hundred_concurrent_games_all_finish_with_the_right_outcome() {
    let app = spawn_app().await;
    let results = futures_util::future::join_all((0..200).map(|i| play_one(&app, i))).await;
    assert_eq!(results.len(), 200);
    for (i, outcome) in results {
        let expected = match i % 3 {
            0 => Outcome::win(0),
            1 => Outcome::win(1),
            _ => Outcome::draw(),
        };
        assert_eq!(outcome, expected, "game {i}");
    }
    let listed: serde_json::Value = reqwest::Client::new()
        .get(format!(
            "{}/v1/rooms?status=finished&limit=1000",
            app.address
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["rooms"].as_array().map(Vec::len), Some(200));
}
