//! The bot of `examples/bot.rs`, run as a library against a real server: two bots find each
//! other through the room list and play each turn-based game to its end.

use std::time::Duration;

use gamehall::client::bot::{self, BotError, BotOptions};
use gamehall::game::OutcomeKind;
use gamehall::protocol::RoomStatus;
use serde_json::json;

use crate::common::{app, TestApp, WAIT};

fn options(app: &TestApp, game: &str, name: &str, seed: u64) -> BotOptions {
    BotOptions {
        name: name.into(),
        seed,
        idle_timeout: WAIT,
        // Just under the default 20 frames a second per connection.
        think_time: Duration::from_millis(55),
        ..BotOptions::new(app.address.clone(), game)
    }
}

/// Waits until the first bot has opened a room, so that the second joins it rather than opening
/// one of its own.
async fn an_open_room(app: &TestApp, game: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let rooms = app.client.list_rooms(Some(game)).await.unwrap();
        if rooms
            .iter()
            .any(|r| r.status == RoomStatus::Waiting && !r.players.is_empty())
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no bot opened a room"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_rt::test]
async fn two_bots_play_each_turn_based_game_to_the_end() {
    let app = app().spawn().await;
    for game in bot::GAMES {
        let first = options(&app, game, "Robo", 1);
        let second = options(&app, game, "Tron", 2);
        let (a, b) = tokio::join!(bot::run(&first), async {
            an_open_room(&app, game).await;
            bot::run(&second).await
        });
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(
            a.room, b.room,
            "{game}: the second bot joined the first one's room"
        );
        assert_eq!((a.seat, b.seat), (0, 1));
        assert_eq!(a.outcome, b.outcome);
        assert!(
            matches!(a.outcome.result, OutcomeKind::Win | OutcomeKind::Draw),
            "{game}: {:?}",
            a.outcome
        );
        assert!(a.actions > 0 && b.actions > 0);
        let summary = app.client.get_room(&a.room).await.unwrap();
        assert_eq!(summary.status, RoomStatus::Finished);
        assert_eq!(summary.game, game);
    }
}

#[actix_rt::test]
async fn a_bot_opens_a_room_with_its_options_and_refuses_games_it_cannot_play() {
    let app = app().spawn().await;
    let mut lonely = options(&app, "crazy_eights", "Solo", 3);
    lonely.options = json!({ "players": 3 });
    lonely.idle_timeout = Duration::from_millis(300);
    // Nobody comes: the bot sits in the room it opened until it gives up waiting.
    assert!(matches!(bot::run(&lonely).await, Err(BotError::Client(_))));
    let rooms = app.client.list_rooms(Some("crazy_eights")).await.unwrap();
    assert_eq!(rooms.len(), 1);
    assert_eq!(rooms[0].seats, 3);

    let chess = options(&app, "chess", "Deep", 4);
    assert!(matches!(
        bot::run(&chess).await,
        Err(BotError::UnsupportedGame(game)) if game == "chess"
    ));
}
