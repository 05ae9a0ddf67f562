//! Crazy Eights at the load generator's tables: each seat's own hand (from its views and its
//! private events), the card on top and the suit to follow, and a random legal play: a card of
//! the suit or rank on top, or an eight naming a random suit; else draw, and pass once drawn.

use gamehall::game::Seat;
use gamehall::protocol::{Seq, ServerMsg};
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use super::table::Table;

const SUITS: [&str; 4] = ["C", "D", "H", "S"];

#[derive(Clone, Default)]
struct SeatView {
    hand: Vec<String>,
    /// What this seat last learnt, by `seq`, so that a snapshot never rolls an event back.
    seq: Seq,
}

pub struct CrazyEightsTable {
    seats: Vec<SeatView>,
    top: Option<String>,
    suit: Option<String>,
    turn: Option<Seat>,
    /// Whether the seat on turn has drawn this turn (then it may pass).
    drawn: bool,
    seq: Seq,
    over: bool,
}

fn rank(card: &str) -> &str {
    &card[..card.len().saturating_sub(1)]
}

fn suit(card: &str) -> &str {
    &card[card.len().saturating_sub(1)..]
}

fn strings(value: Option<&Value>) -> Option<Vec<String>> {
    value.and_then(Value::as_array).map(|cards| {
        cards
            .iter()
            .filter_map(|c| c.as_str().map(str::to_owned))
            .collect()
    })
}

impl CrazyEightsTable {
    pub fn new(players: u8) -> Self {
        CrazyEightsTable {
            seats: vec![SeatView::default(); players.max(2) as usize],
            top: None,
            suit: None,
            turn: None,
            drawn: false,
            seq: 0,
            over: false,
        }
    }

    /// A seat's view: `{hand, top, suit, turn, drawn}`.
    fn load(&mut self, seat: Seat, seq: Seq, state: &Value) {
        if let Some(view) = self.seats.get_mut(seat as usize) {
            if seq >= view.seq {
                if let Some(hand) = strings(state.get("hand")) {
                    view.hand = hand;
                }
                view.seq = seq;
            }
        }
        if seq >= self.seq {
            self.public(state);
            self.seq = seq;
        }
    }

    /// The fields every seat sees alike, from a view or an event.
    fn public(&mut self, data: &Value) {
        if let Some(top) = data.get("top").and_then(Value::as_str) {
            self.top = Some(top.to_owned());
        }
        if let Some(suit) = data.get("suit").and_then(Value::as_str) {
            self.suit = Some(suit.to_owned());
        }
        match data.get("turn") {
            Some(Value::Null) => self.turn = None,
            Some(turn) => {
                if let Some(turn) = turn.as_u64() {
                    if self.turn != Some(turn as Seat) {
                        self.drawn = false;
                    }
                    self.turn = Some(turn as Seat);
                }
            }
            None => {}
        }
        if let Some(drawn) = data.get("drawn").and_then(Value::as_bool) {
            self.drawn = drawn;
        }
    }

    fn event(&mut self, seat: Seat, seq: Seq, kind: &str, data: &Value) {
        let actor = data.get("seat").and_then(Value::as_u64).map(|s| s as Seat);
        // Private data reaches only its seat: the cards it drew.
        if let Some(view) = self.seats.get_mut(seat as usize) {
            if seq > view.seq {
                view.seq = seq;
                if actor == Some(seat) {
                    let drew = strings(data.get("cards")).or_else(|| {
                        data.get("card")
                            .and_then(Value::as_str)
                            .map(|c| vec![c.to_owned()])
                    });
                    match kind {
                        "play" | "played" => {
                            if let Some(card) = data.get("card").and_then(Value::as_str) {
                                view.hand.retain(|c| c != card);
                            }
                        }
                        "draw" | "drew" => view.hand.extend(drew.unwrap_or_default()),
                        _ => {}
                    }
                }
                if let Some(hand) = strings(data.get("hand")) {
                    view.hand = hand;
                }
            }
        }
        if seq > self.seq {
            self.seq = seq;
            match kind {
                "play" | "played" => {
                    if let Some(card) = data.get("card").and_then(Value::as_str) {
                        self.top = Some(card.to_owned());
                        self.suit = Some(
                            data.get("suit")
                                .and_then(Value::as_str)
                                .unwrap_or(suit(card))
                                .to_owned(),
                        );
                    }
                }
                "draw" | "drew" => self.drawn = true,
                _ => {}
            }
            self.public(data);
        }
    }

    fn playable(&self, seat: Seat) -> Vec<String> {
        let (Some(top), Some(to_follow)) = (&self.top, &self.suit) else {
            return Vec::new();
        };
        self.seats
            .get(seat as usize)
            .map(|view| {
                view.hand
                    .iter()
                    .filter(|c| rank(c) == "8" || suit(c) == to_follow || rank(c) == rank(top))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Table for CrazyEightsTable {
    fn observe(&mut self, seat: Seat, msg: &ServerMsg) {
        match msg {
            ServerMsg::Joined { seq, state, .. } | ServerMsg::State { seq, state, .. } => {
                self.load(seat, *seq, state)
            }
            ServerMsg::Event {
                seq, kind, data, ..
            } => self.event(seat, *seq, kind, data),
            ServerMsg::GameOver { .. } => self.over = true,
            _ => {}
        }
    }

    fn turn(&self) -> Option<Seat> {
        if self.over {
            None
        } else {
            self.turn
        }
    }

    fn choose(&mut self, seat: Seat, rng: &mut ChaCha8Rng) -> Value {
        let playable = self.playable(seat);
        match playable.choose(rng) {
            Some(card) if rank(card) == "8" => {
                let suit = SUITS.choose(rng).copied().unwrap_or("H");
                json!({"type": "play", "card": card, "suit": suit})
            }
            Some(card) => json!({"type": "play", "card": card}),
            None if self.drawn => json!({"type": "pass"}),
            None => json!({"type": "draw"}),
        }
    }
}
