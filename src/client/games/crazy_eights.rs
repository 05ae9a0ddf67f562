//! Crazy Eights: cards, actions, the view and its events, as the server defines them.
//!
//! A client keeps its [`CrazyEightsView`] current without asking the server again: take the
//! `state` from `joined` or `state`, then [`CrazyEightsView::apply`] every game `event` as it
//! arrives (its `kind` and `data`; the server already sent your own private version).
//! [`CrazyEightsView::legal_actions`] then lists what the seat on turn may do.
//!
//! ```
//! use gamehall::client::games::crazy_eights::{Card, CardAction, CrazyEightsEvent, CrazyEightsView};
//!
//! let state = serde_json::json!({
//!     "hand": ["7H", "8C", "KS"], "hand_counts": [3, 5], "top": "9H", "suit": "H",
//!     "draw_pile": 42, "turn": 0, "drawn": false, "players": 2
//! });
//! let mut view: CrazyEightsView = serde_json::from_value(state).unwrap();
//! let seven: Card = "7H".parse().unwrap();
//! assert!(view.legal_actions().contains(&CardAction::play(seven)));
//!
//! let played = serde_json::json!({"seat": 0, "card": "7H", "suit": "H", "hand_count": 2});
//! let event = CrazyEightsEvent::parse("played", &played).unwrap().unwrap();
//! view.apply(&event);
//! assert_eq!((view.top, view.turn), (seven, Some(1)));
//! ```

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::game::crazy_eights::{
    Card, CardAction, CardParseError, CrazyEightsView, Rank, Suit, DECK_SIZE,
};
use crate::game::Seat;

/// `played`: a seat played a card; `suit` is the suit to follow now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Played {
    pub seat: Seat,
    pub card: Card,
    pub suit: Suit,
    pub hand_count: usize,
}

/// `drew`: a seat drew one card. `card` is there only in the drawing seat's own copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drew {
    pub seat: Seat,
    pub hand_count: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<Card>,
}

/// `passed`: a seat ended its turn without playing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Passed {
    pub seat: Seat,
}

/// `reshuffled`: the discard pile under its top became the new draw pile, of this many cards.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reshuffled {
    pub draw_pile: usize,
}

/// One Crazy Eights event, as one viewer received it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrazyEightsEvent {
    Played(Played),
    Drew(Drew),
    Passed(Passed),
    Reshuffled(Reshuffled),
}

impl CrazyEightsEvent {
    /// Reads an `event` frame's `kind` and `data`. `Ok(None)` for the kinds the room itself
    /// sends (`started`, `forfeit`, and any the game does not know), which change no view.
    pub fn parse(kind: &str, data: &Value) -> Result<Option<Self>, serde_json::Error> {
        let event = match kind {
            "played" => CrazyEightsEvent::Played(Played::deserialize(data)?),
            "drew" => CrazyEightsEvent::Drew(Drew::deserialize(data)?),
            "passed" => CrazyEightsEvent::Passed(Passed::deserialize(data)?),
            "reshuffled" => CrazyEightsEvent::Reshuffled(Reshuffled::deserialize(data)?),
            _ => return Ok(None),
        };
        Ok(Some(event))
    }
}

impl CrazyEightsView {
    /// Follows one event. A played card leaves your hand if it was in it (each card exists
    /// once, so it was yours); a card you drew joins it.
    pub fn apply(&mut self, event: &CrazyEightsEvent) {
        match *event {
            CrazyEightsEvent::Played(Played {
                seat,
                card,
                suit,
                hand_count,
            }) => {
                if let Some(hand) = &mut self.hand {
                    hand.retain(|c| *c != card);
                }
                self.set_count(seat, hand_count);
                self.top = card;
                self.suit = suit;
                self.drawn = false;
                self.turn = (hand_count > 0).then(|| self.after(seat));
            }
            CrazyEightsEvent::Drew(Drew {
                seat,
                hand_count,
                card,
            }) => {
                if let (Some(hand), Some(card)) = (&mut self.hand, card) {
                    hand.push(card);
                }
                self.set_count(seat, hand_count);
                self.draw_pile = self.draw_pile.saturating_sub(1);
                self.drawn = true;
            }
            CrazyEightsEvent::Passed(Passed { seat }) => {
                self.drawn = false;
                self.turn = Some(self.after(seat));
            }
            CrazyEightsEvent::Reshuffled(Reshuffled { draw_pile }) => self.draw_pile = draw_pile,
        }
    }

    /// The game has ended (`game_over`): nobody is on turn any more. A blocked game ends without
    /// an event of its own, so this is how a view learns of it.
    pub fn end(&mut self) {
        self.turn = None;
    }

    /// How many cards the discard pile holds, its top included: every card is in a hand, the
    /// draw pile or the discard pile.
    pub fn discard_pile(&self) -> usize {
        DECK_SIZE.saturating_sub(self.hand_counts.iter().sum::<usize>() + self.draw_pile)
    }

    /// Whether a draw would find a card: in the draw pile or, reshuffled, under the top of the
    /// discard pile.
    pub fn can_draw(&self) -> bool {
        self.draw_pile > 0 || self.discard_pile() > 1
    }

    /// Every action the rules allow the seat on turn, from this view's hand: call it on your own
    /// view when `turn` is your seat. One play per matching card (four for an eight, one per
    /// suit to name), then `draw` if this turn has not drawn and something can be drawn, else
    /// `pass`. Empty for a spectator's view and once the game has ended.
    pub fn legal_actions(&self) -> Vec<CardAction> {
        let (Some(_), Some(hand)) = (self.turn, &self.hand) else {
            return Vec::new();
        };
        let mut actions = Vec::new();
        for &card in hand {
            if !card.matches(self.top, self.suit) {
                continue;
            }
            if card.is_eight() {
                actions.extend(
                    Suit::ALL
                        .into_iter()
                        .map(|suit| CardAction::play_eight(card, suit)),
                );
            } else {
                actions.push(CardAction::play(card));
            }
        }
        if !self.drawn && self.can_draw() {
            actions.push(CardAction::Draw);
        } else {
            actions.push(CardAction::Pass);
        }
        actions
    }

    fn set_count(&mut self, seat: Seat, count: usize) {
        if let Some(slot) = self.hand_counts.get_mut(usize::from(seat)) {
            *slot = count;
        }
    }

    fn after(&self, seat: Seat) -> Seat {
        (seat + 1) % self.players.max(1)
    }
}
