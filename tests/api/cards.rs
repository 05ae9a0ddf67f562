//! Crazy Eights over real WebSockets: three players play a whole game through the typed client
//! while a spectator watches, and nobody's frames ever name a card they may not know; `resume`
//! gives a seat its own drawn cards and nobody else's; a seat whose turn runs out is made to
//! draw and pass, its card shown to it alone; the archived game replays.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use gamehall::client::bot;
use gamehall::client::games::crazy_eights::{
    Card, CardAction, CrazyEightsEvent, CrazyEightsView, Drew,
};
use gamehall::client::{ClientError, Connection};
use gamehall::game::crazy_eights::{CrazyEights, TURN_SECONDS};
use gamehall::game::{Game, OutcomeKind, Seat};
use gamehall::protocol::{ClientMsg, Role, ServerMsg};
use rand::SeedableRng;
use serde_json::{json, Value};

use crate::common::{app, next_event, Player, TestApp, WAIT};

const ADMIN_TOKEN: &str = "gamehall-development-admin-token";

/// Every card named anywhere in `value`.
fn cards_in(value: &Value, out: &mut Vec<Card>) {
    match value {
        Value::String(text) => out.extend(text.parse::<Card>().ok()),
        Value::Array(items) => items.iter().for_each(|v| cards_in(v, out)),
        Value::Object(fields) => fields.values().for_each(|v| cards_in(v, out)),
        _ => {}
    }
}

fn has_key(value: &Value, key: &str) -> bool {
    match value {
        Value::Array(items) => items.iter().any(|v| has_key(v, key)),
        Value::Object(fields) => {
            fields.contains_key(key) || fields.values().any(|v| has_key(v, key))
        }
        _ => false,
    }
}

/// Where the hidden cards were after each `seq`, rebuilt from the archived seed and actions.
struct Truth {
    /// (hands by seat, draw pile) after the event with that `seq`.
    after: BTreeMap<u64, (Vec<Vec<Card>>, Vec<Card>)>,
    initial: (Vec<Vec<Card>>, Vec<Card>),
}

impl Truth {
    async fn of(app: &TestApp, game_id: &str, players: Seat) -> Truth {
        let detail = app.client.get_game(game_id).await.unwrap();
        let seed: u64 = detail.seed.parse().unwrap();
        let events = app.client.game_events(game_id).await.unwrap();
        let mut game = CrazyEights::new(players, seed);
        let places = |game: &CrazyEights| {
            let hands = (0..players).map(|s| game.hand(s).to_vec()).collect();
            (hands, game.draw_pile().to_vec())
        };
        let initial = places(&game);
        let mut current = initial.clone();
        let mut after = BTreeMap::new();
        for event in &events.events {
            if let Some(action) = &event.action {
                game.apply(action.seat, &action.action.value())
                    .expect("an archived action replays");
                current = places(&game);
            }
            after.insert(event.seq, current.clone());
        }
        Truth { after, initial }
    }

    /// The cards a seat (or, with `None`, a spectator) may not know after `seq`.
    fn secrets(&self, seq: u64, viewer: Option<Seat>) -> Vec<Card> {
        let (hands, pile) = self
            .after
            .range(..=seq)
            .next_back()
            .map_or(&self.initial, |(_, places)| places);
        hands
            .iter()
            .enumerate()
            .filter(|(seat, _)| viewer.map(usize::from) != Some(*seat))
            .flat_map(|(_, hand)| hand.iter())
            .chain(pile)
            .copied()
            .collect()
    }

    /// Fails if any frame names a card `viewer` could not know when it arrived; returns how
    /// many card names the frames held.
    fn check_frames(&self, viewer: Option<Seat>, frames: &[ServerMsg]) -> usize {
        let mut seq = 0;
        let mut named_total = 0;
        for frame in frames {
            if let ServerMsg::Event { seq: at, .. }
            | ServerMsg::State { seq: at, .. }
            | ServerMsg::GameOver { seq: at, .. } = frame
            {
                seq = *at;
            }
            let json = serde_json::to_value(frame).unwrap();
            let mut named = Vec::new();
            cards_in(&json, &mut named);
            named_total += named.len();
            let secrets = self.secrets(seq, viewer);
            let leaked: Vec<&Card> = named.iter().filter(|c| secrets.contains(c)).collect();
            assert!(
                leaked.is_empty(),
                "{viewer:?} was sent {leaked:?} at seq {seq}: {json}"
            );
        }
        named_total
    }
}

/// Reads a spectator's frames until `game_over`.
async fn watch(player: &mut Player) -> Vec<ServerMsg> {
    let mut frames = Vec::new();
    loop {
        let msg = player.conn.recv_timeout(WAIT).await.expect("a frame");
        let over = matches!(msg, ServerMsg::GameOver { .. });
        frames.push(msg);
        if over {
            return frames;
        }
    }
}

#[actix_rt::test]
async fn three_players_play_a_whole_game_and_see_only_their_own_cards() {
    let app = app().postgres().spawn().await;
    let host = app.guest("host").await;
    let room = app
        .client
        .create_room(&host.token, "crazy_eights", json!({ "players": 3 }))
        .await
        .unwrap();
    assert_eq!(room.seats, 3);

    let mut spectator = app.connect("Cy").await;
    spectator
        .conn
        .join(&room.id, Role::Spectator)
        .await
        .unwrap();
    let mut players = Vec::new();
    for name in ["Ada", "Bob", "Dee"] {
        let mut player = app.connect(name).await;
        let joined = player.conn.join(&room.id, Role::Player).await.unwrap();
        assert_eq!(joined.game, "crazy_eights");
        players.push((player, joined));
    }
    let game_id = app.client.get_room(&room.id).await.unwrap().game_id;

    let games = players
        .iter_mut()
        .enumerate()
        .map(|(i, (player, joined))| async move {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(i as u64);
            bot::play(
                &mut player.conn,
                joined.clone(),
                &mut rng,
                WAIT,
                Duration::from_millis(55),
            )
            .await
        });
    let (reports, watched) =
        tokio::join!(futures_util::future::join_all(games), watch(&mut spectator));
    let reports: Vec<_> = reports
        .into_iter()
        .map(|r| r.expect("the game is played to its end"))
        .collect();

    let outcome = reports[0].outcome.clone();
    assert!(matches!(
        outcome.result,
        OutcomeKind::Win | OutcomeKind::Draw
    ));
    let scores = outcome.scores.clone().expect("penalty scores");
    assert_eq!(scores.len(), 3);
    for winner in &outcome.winners {
        assert_eq!(scores[usize::from(*winner)], *scores.iter().min().unwrap());
    }
    for (seat, report) in reports.iter().enumerate() {
        assert_eq!(report.seat as usize, seat);
        assert_eq!(report.outcome, outcome);
        assert!(report.actions > 0);
    }

    // Each player's first view holds its own hand of five; the spectator's holds none.
    for report in &reports {
        let view = report
            .frames
            .iter()
            .find_map(|f| match f {
                ServerMsg::State { state, .. } => Some(state.clone()),
                _ => None,
            })
            .expect("a first state");
        let view: CrazyEightsView = serde_json::from_value(view).unwrap();
        assert_eq!(view.hand.map(|h| h.len()), Some(5));
    }
    for frame in &watched {
        let json = serde_json::to_value(frame).unwrap();
        assert!(!has_key(&json, "hand"), "a spectator got a hand: {json}");
    }

    // The archive knows where every card was; nobody was ever sent one they could not know.
    app.client.flush_archive(ADMIN_TOKEN).await.unwrap();
    let truth = Truth::of(&app, &game_id.to_string(), 3).await;
    for report in &reports {
        let named = truth.check_frames(Some(report.seat), &report.frames);
        assert!(named > 5, "seat {} saw only {named} cards", report.seat);
    }
    let named = truth.check_frames(None, &watched);
    assert!(named > 0);

    let archived = app.client.get_game(&game_id.to_string()).await.unwrap();
    assert_eq!(archived.game_kind, "crazy_eights");
    assert_eq!(archived.outcome, outcome);
    assert_eq!(archived.options, json!({ "players": 3 }));
    assert!(archived.final_state.get("hand").is_none());
    let out = Command::new(env!("CARGO_BIN_EXE_gamehall"))
        .args(["replay", &game_id.to_string()])
        .env("DATABASE_URL", &app.postgres.as_ref().unwrap().url)
        .env("LOG_LEVEL", "error")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line: Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    assert_eq!(line["ok"], true, "{line}");
    let archived_actions = app
        .client
        .game_events(&game_id.to_string())
        .await
        .unwrap()
        .events
        .iter()
        .filter(|e| e.action.is_some())
        .count();
    assert_eq!(line["actions"], archived_actions);
    // Bots count refused actions too (one sent just as a turn ended, say).
    let sent: usize = reports.iter().map(|r| r.actions).sum();
    assert!(archived_actions <= sent && archived_actions > 0);
}

/// The event a player's own `act` caused, as that player received it.
async fn act(player: &mut Player, action: CardAction) -> (u64, Value) {
    player.conn.act(action).await.expect("a legal action")
}

#[actix_rt::test]
async fn resume_gives_a_seat_its_own_drawn_cards_and_nobody_elses() {
    let app = app().env("RECONNECT_GRACE", "30").spawn().await;
    let (room, mut ada, mut bob) = app.two_player_game("crazy_eights").await;
    for player in [&mut ada, &mut bob] {
        let (seq, state) = player
            .conn
            .wait_for(WAIT, |msg| match msg {
                ServerMsg::State { seq, state, .. } => Some((*seq, state.clone())),
                _ => None,
            })
            .await
            .unwrap();
        assert_eq!(seq, 1);
        assert_eq!(state["hand"].as_array().map(Vec::len), Some(7));
    }

    // Ada draws (her copy names the card, Bob's does not) and passes.
    let (seq, drew) = act(&mut ada, CardAction::Draw).await;
    assert_eq!(seq, 2);
    let adas_card: Card = serde_json::from_value(drew["card"].clone()).unwrap();
    assert_eq!(drew["hand_count"], 8);
    let (_, kind, seen) = next_event(&mut bob.conn).await;
    assert_eq!(
        (kind.as_str(), &seen),
        ("drew", &json!({"seat": 0, "hand_count": 8}))
    );
    act(&mut ada, CardAction::Pass).await;
    next_event(&mut bob.conn).await;

    // Bob draws, but his connection drops before he reads what he drew.
    bob.conn
        .send(&ClientMsg::Act {
            action: json!(CardAction::Draw),
            reference: None,
        })
        .await
        .unwrap();
    let (seq, kind, seen) = next_event(&mut ada.conn).await;
    assert_eq!((seq, kind.as_str()), (4, "drew"));
    assert!(seen.get("card").is_none(), "{seen}");
    let bob_token = bob.token.clone();
    drop(bob);

    // Back within the grace, Bob gets the event he missed in his own version, with his card.
    let mut back = app.client.connect(&bob_token.token).await.unwrap();
    assert_eq!(back.resume(&room, 3).await.unwrap(), 4);
    let (seq, kind, missed) = next_event(&mut back).await;
    assert_eq!((seq, kind.as_str()), (4, "drew"));
    let bobs_card: Card = serde_json::from_value(missed["card"].clone()).unwrap();
    assert_eq!(missed["hand_count"], 8);
    assert_ne!(bobs_card, adas_card);

    // A spectator catching up from the start sees both draws, neither card.
    let mut cy = app.connect("Cy").await;
    cy.conn.resume(&room, 0).await.unwrap();
    let mut kinds = Vec::new();
    for _ in 1..=4 {
        let (_, kind, data) = next_event(&mut cy.conn).await;
        assert!(data.get("card").is_none(), "{kind} {data}");
        assert!(!has_key(&data, "hand"), "{kind} {data}");
        kinds.push(kind);
    }
    assert_eq!(kinds, ["started", "drew", "passed", "drew"]);

    // Ada, on a second connection, catches up too: her card, not Bob's.
    let mut ada_again = app.client.connect(&ada.token.token).await.unwrap();
    ada_again.resume(&room, 1).await.unwrap();
    let (_, _, own) = next_event(&mut ada_again).await;
    assert_eq!(own["card"], json!(adas_card));
    next_event(&mut ada_again).await;
    let (_, _, bobs) = next_event(&mut ada_again).await;
    assert!(bobs.get("card").is_none(), "{bobs}");
}

#[actix_rt::test]
async fn room_options_are_checked_per_game_kind() {
    let app = app().spawn().await;
    let me = app.guest("Ada").await;
    for (options, field) in [
        (
            json!({"players": 7}),
            "players must be an integer from 2 to 6, not 7",
        ),
        (
            json!({"players": 1}),
            "players must be an integer from 2 to 6, not 1",
        ),
        (
            json!({"turn_seconds": 4}),
            "turn_seconds must be an integer from 5 to 300, not 4",
        ),
        (json!({"colour": "red"}), "unknown option \"colour\""),
    ] {
        match app
            .client
            .create_room(&me.token, "crazy_eights", options.clone())
            .await
        {
            Err(ClientError::Api {
                status: 400,
                code,
                message,
            }) => {
                assert_eq!(code, "invalid_options");
                assert!(message.contains(field), "{options}: {message}");
            }
            other => panic!("{options}: expected invalid_options, got {other:?}"),
        }
    }
    let room = app
        .client
        .create_room(
            &me.token,
            "crazy_eights",
            json!({"players": 6, "turn_seconds": 60}),
        )
        .await
        .unwrap();
    assert_eq!((room.game.as_str(), room.seats), ("crazy_eights", 6));
}

/// The next frame of `kind` on `conn`: an `event` (seq, data) or, with `"state"`, a `state`.
async fn next_frame(conn: &mut Connection, kind: &str) -> (u64, Value) {
    conn.wait_for(WAIT, |msg| match msg {
        ServerMsg::Event {
            seq, kind: k, data, ..
        } if k == kind => Some((*seq, data.clone())),
        ServerMsg::State { seq, state, .. } if kind == "state" => Some((*seq, state.clone())),
        _ => None,
    })
    .await
    .unwrap_or_else(|err| panic!("no {kind} frame: {err}"))
}

/// Every frame `conn` receives until the next `turn` event, that one included, and the events
/// among them as (seq, kind, data).
async fn frames_until_turn(
    conn: &mut Connection,
    within: Duration,
) -> (Vec<ServerMsg>, Vec<(u64, String, Value)>) {
    let deadline = tokio::time::Instant::now() + within;
    let (mut frames, mut events) = (Vec::new(), Vec::new());
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let frame = conn.recv_timeout(left).await.expect("frames until a turn");
        let turn = match &frame {
            ServerMsg::Event {
                seq, kind, data, ..
            } => {
                events.push((*seq, kind.to_string(), data.clone()));
                kind == "turn"
            }
            _ => false,
        };
        frames.push(frame);
        if turn {
            return (frames, events);
        }
    }
}

#[actix_rt::test]
async fn a_seat_whose_turn_runs_out_draws_and_passes_and_only_it_sees_the_card() {
    let app = app().spawn().await;
    let host = app.guest("host").await;
    // The shortest clock the game allows; the test waits for one turn of it and no more.
    let seconds = *TURN_SECONDS.start();
    let room = app
        .client
        .create_room(
            &host.token,
            "crazy_eights",
            json!({ "players": 3, "turn_seconds": seconds }),
        )
        .await
        .unwrap();
    let mut cy = app.connect("Cy").await;
    cy.conn.join(&room.id, Role::Spectator).await.unwrap();
    let mut seated = Vec::new();
    for (seat, name) in (0..).zip(["Ada", "Bob", "Dee"]) {
        let mut player = app.connect(name).await;
        let joined = player.conn.join(&room.id, Role::Player).await.unwrap();
        assert_eq!(joined.seat, Some(seat));
        seated.push(player);
    }
    // Seats 0, 1, 2, then the spectator.
    let viewers: Vec<Option<Seat>> = (0..3).map(Some).chain([None]).collect();

    // Everybody sees the game start, gets a first view and hears whose clock is running.
    let mut views = Vec::new();
    let mut armed = None;
    for player in seated.iter_mut().chain([&mut cy]) {
        next_frame(&mut player.conn, "started").await;
        let (_, state) = next_frame(&mut player.conn, "state").await;
        let view: CrazyEightsView = serde_json::from_value(state).unwrap();
        let (_, clock) = next_frame(&mut player.conn, "turn").await;
        armed.get_or_insert_with(Instant::now);
        assert_eq!(clock["seat"], json!(view.turn), "{clock}");
        assert!(
            clock["remaining_ms"].as_u64() <= Some(seconds * 1000),
            "{clock}"
        );
        views.push(view);
    }
    let late = views[0].turn.expect("somebody is on turn");
    let next = (late + 1) % 3;
    assert!(views[usize::from(late)]
        .legal_actions()
        .contains(&CardAction::Draw));

    // Nobody acts. Everybody's frames until the next seat's clock starts.
    let mut seen = Vec::new();
    let mut timed_out = None;
    for player in seated.iter_mut().chain([&mut cy]) {
        let within = Duration::from_secs(seconds) + WAIT;
        seen.push(frames_until_turn(&mut player.conn, within).await);
        timed_out.get_or_insert_with(Instant::now);
    }
    let waited = timed_out.zip(armed).map(|(end, start)| end - start);
    assert!(
        waited >= Some(Duration::from_secs(seconds) - Duration::from_millis(500)),
        "the turn timed out after {waited:?}, before its {seconds} s"
    );

    // Every seat and the spectator learn that the late seat's turn timed out and how the rule
    // played it, a draw then a pass, in the same order under the same seqs.
    let mut drawn = Vec::new();
    for (((_, events), viewer), view) in seen.iter().zip(&viewers).zip(&mut views) {
        let kinds: Vec<&str> = events.iter().map(|(_, kind, _)| kind.as_str()).collect();
        assert_eq!(
            kinds,
            ["turn_timeout", "drew", "passed", "turn"],
            "{viewer:?}"
        );
        let seqs: Vec<u64> = events.iter().map(|(seq, _, _)| *seq).collect();
        assert_eq!(seqs, seen[0].1.iter().map(|e| e.0).collect::<Vec<_>>());
        assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
        let [(_, _, timeout), (_, _, drew), (_, _, passed), (_, _, clock)] = &events[..] else {
            unreachable!("four events, as asserted")
        };
        assert_eq!(
            timeout,
            &json!({ "seat": late, "rule": "skip" }),
            "{viewer:?}"
        );
        assert_eq!(clock["seat"], json!(next), "{clock}");
        assert_eq!(passed, &json!({ "seat": late }), "{viewer:?}");

        let Some(CrazyEightsEvent::Drew(Drew {
            seat,
            hand_count,
            card,
        })) = CrazyEightsEvent::parse("drew", drew).unwrap()
        else {
            panic!("{viewer:?}: {drew}")
        };
        assert_eq!((seat, hand_count), (late, 6), "{viewer:?}: {drew}");
        for (kind, data) in [("drew", drew), ("passed", passed)] {
            if let Some(event) = CrazyEightsEvent::parse(kind, data).unwrap() {
                view.apply(&event);
            }
        }
        assert_eq!(view.hand_counts[usize::from(late)], 6);
        assert_eq!((view.turn, view.drawn), (Some(next), false), "{viewer:?}");
        if *viewer == Some(late) {
            let card = card.expect("the drawing seat sees its card");
            let hand = view.hand.as_ref().expect("a seat's view has its hand");
            assert_eq!((hand.len(), hand.last()), (6, Some(&card)));
            drawn.push(card);
        } else {
            // The others learn only that the count went up: not even a `card` key.
            assert_eq!(
                drew,
                &json!({ "seat": late, "hand_count": 6 }),
                "{viewer:?}"
            );
        }
    }

    // And no other frame named it to anybody else either.
    let [drawn] = drawn[..] else {
        panic!("one seat drew: {drawn:?}")
    };
    for ((frames, _), viewer) in seen.iter().zip(&viewers) {
        if *viewer == Some(late) {
            continue;
        }
        let mut named = Vec::new();
        for frame in frames {
            cards_in(&serde_json::to_value(frame).unwrap(), &mut named);
        }
        assert!(!named.contains(&drawn), "{viewer:?} was shown {drawn}");
    }
}
