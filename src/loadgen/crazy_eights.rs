//! Crazy Eights at the load generator's tables. Each seat knows its own hand (from its views and
//! the private version of its `drew` events); everyone knows the top card, the suit to follow,
//! whose turn it is and whether they have drawn. The seat on turn plays a random card that
//! matches by rank or suit, or an eight naming a random suit; with nothing to play it draws, and
//! having drawn (or with nothing to draw) it passes.
//!
//! Wire shapes (docs/games.md): views `{hand, hand_counts, top, suit, draw_pile, turn, drawn,
//! players}`; events `played {seat, card, suit, hand_count}`, `drew {seat, hand_count}` (with
//! `card` in the drawer's copy), `passed {seat}`, `reshuffled {draw_pile}`.

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
    /// The last `seq` this seat learnt from, so that a snapshot never rolls an event back.
    seq: Seq,
}

pub struct CrazyEightsTable {
    players: u8,
    seats: Vec<SeatView>,
    top: Option<String>,
    suit: Option<String>,
    turn: Option<Seat>,
    /// Whether the seat on turn has drawn this turn (then it may pass, and not draw again).
    drawn: bool,
    draw_pile: u64,
    /// Cards in the discard pile: under its top they are what a reshuffle draws from.
    discard: u64,
    seq: Seq,
    over: bool,
}

fn rank(card: &str) -> &str {
    &card[..card.len().saturating_sub(1)]
}

fn suit(card: &str) -> &str {
    &card[card.len().saturating_sub(1)..]
}

fn text(data: &Value, key: &str) -> Option<String> {
    data.get(key).and_then(Value::as_str).map(str::to_owned)
}

impl CrazyEightsTable {
    pub fn new(players: u8) -> Self {
        let players = players.max(2);
        CrazyEightsTable {
            players,
            seats: vec![SeatView::default(); players as usize],
            top: None,
            suit: None,
            turn: None,
            drawn: false,
            draw_pile: 0,
            discard: 1,
            seq: 0,
            over: false,
        }
    }

    /// A seat's view.
    fn load(&mut self, seat: Seat, seq: Seq, view: &Value) {
        if view.is_null() {
            return;
        }
        if let Some(mine) = self.seats.get_mut(seat as usize) {
            if seq >= mine.seq {
                if let Some(hand) = view.get("hand").and_then(Value::as_array) {
                    mine.hand = hand
                        .iter()
                        .filter_map(|c| c.as_str().map(str::to_owned))
                        .collect();
                }
                mine.seq = seq;
            }
        }
        if seq >= self.seq {
            self.seq = seq;
            self.top = text(view, "top").or(self.top.take());
            self.suit = text(view, "suit").or(self.suit.take());
            self.turn = view.get("turn").and_then(Value::as_u64).map(|t| t as Seat);
            self.over = self.turn.is_none();
            self.drawn = view.get("drawn").and_then(Value::as_bool).unwrap_or(false);
            self.draw_pile = view.get("draw_pile").and_then(Value::as_u64).unwrap_or(0);
        }
    }

    fn next(&self, seat: Option<Seat>) -> Option<Seat> {
        seat.map(|s| (s + 1) % self.players)
    }

    fn event(&mut self, seat: Seat, seq: Seq, kind: &str, data: &Value) {
        let actor = data.get("seat").and_then(Value::as_u64).map(|s| s as Seat);
        if let Some(mine) = self.seats.get_mut(seat as usize) {
            if seq > mine.seq {
                mine.seq = seq;
                if actor == Some(seat) {
                    match (kind, text(data, "card")) {
                        ("played", Some(card)) => mine.hand.retain(|c| *c != card),
                        // Only the drawer's copy carries the card.
                        ("drew", Some(card)) => mine.hand.push(card),
                        _ => {}
                    }
                }
            }
        }
        if seq <= self.seq {
            return;
        }
        self.seq = seq;
        match kind {
            "played" => {
                if let Some(card) = text(data, "card") {
                    self.suit = text(data, "suit").or_else(|| Some(suit(&card).to_owned()));
                    self.top = Some(card);
                }
                self.discard += 1;
                self.drawn = false;
                if data.get("hand_count").and_then(Value::as_u64) == Some(0) {
                    self.over = true;
                } else {
                    self.turn = self.next(actor);
                }
            }
            "drew" => {
                self.drawn = true;
                self.draw_pile = self.draw_pile.saturating_sub(1);
            }
            "passed" => {
                self.drawn = false;
                self.turn = self.next(actor);
            }
            "reshuffled" => {
                self.draw_pile = data.get("draw_pile").and_then(Value::as_u64).unwrap_or(0);
                self.discard = 1;
            }
            // A turn clock names the seat on turn.
            "turn" if actor.is_some() => self.turn = actor,
            _ => {}
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

    fn can_draw(&self) -> bool {
        self.draw_pile > 0 || self.discard > 1
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
            None if !self.drawn && self.can_draw() => json!({"type": "draw"}),
            None => json!({"type": "pass"}),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::borrow::Cow;

    fn state(seq: Seq, hand: &[&str], turn: u8) -> ServerMsg {
        ServerMsg::State {
            seq,
            state: json!({"hand": hand, "hand_counts": [hand.len(), 5], "top": "7H", "suit": "H",
                          "draw_pile": 30, "turn": turn, "drawn": false, "players": 2}),
            reference: None,
        }
    }

    fn event(seq: Seq, kind: &'static str, data: Value) -> ServerMsg {
        ServerMsg::Event {
            seq,
            kind: Cow::Borrowed(kind),
            data,
            reference: None,
        }
    }

    #[test]
    fn plays_a_match_draws_without_one_and_passes_after_drawing() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut table = CrazyEightsTable::new(2);
        table.observe(0, &state(2, &["7C", "2S"], 0));
        table.observe(1, &state(2, &["KD", "3C"], 0));
        assert_eq!(table.turn(), Some(0));
        assert_eq!(
            table.choose(0, &mut rng),
            json!({"type": "play", "card": "7C"})
        );
        let played = event(
            3,
            "played",
            json!({"seat": 0, "card": "7C", "suit": "C", "hand_count": 1}),
        );
        table.observe(0, &played);
        table.observe(1, &played);
        assert_eq!(table.turn(), Some(1));
        // Seat 1 holds 3C: clubs to follow.
        assert_eq!(
            table.choose(1, &mut rng),
            json!({"type": "play", "card": "3C"})
        );
        let played = event(
            4,
            "played",
            json!({"seat": 1, "card": "3C", "suit": "C", "hand_count": 1}),
        );
        table.observe(0, &played);
        table.observe(1, &played);
        // Seat 0 holds only 2S on 3C: draw, then (the drawn card not matching) pass.
        assert_eq!(table.choose(0, &mut rng), json!({"type": "draw"}));
        table.observe(1, &event(5, "drew", json!({"seat": 0, "hand_count": 2})));
        table.observe(
            0,
            &event(5, "drew", json!({"seat": 0, "hand_count": 2, "card": "4D"})),
        );
        assert_eq!(table.turn(), Some(0));
        assert_eq!(table.choose(0, &mut rng), json!({"type": "pass"}));
        table.observe(0, &event(6, "passed", json!({"seat": 0})));
        assert_eq!(table.turn(), Some(1));
    }

    #[test]
    fn an_eight_names_a_suit_and_an_empty_hand_ends_the_game() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut table = CrazyEightsTable::new(2);
        table.observe(0, &state(2, &["8S"], 0));
        let action = table.choose(0, &mut rng);
        assert_eq!(action["card"], "8S");
        assert!(SUITS.contains(&action["suit"].as_str().unwrap()));
        table.observe(
            0,
            &event(
                3,
                "played",
                json!({"seat": 0, "card": "8S", "suit": "D", "hand_count": 0}),
            ),
        );
        assert_eq!(table.turn(), None);
    }
}
