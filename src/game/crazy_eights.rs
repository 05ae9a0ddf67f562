//! Crazy Eights: 2 to 6 players, one 52-card deck, hidden hands.
//!
//! Each player is dealt 7 cards (2 players) or 5 (3 or more); the next card starts the discard
//! pile and the rest is the draw pile. On their turn a player plays a card that matches the top of
//! the discard pile by rank or by the suit to follow, or an eight (wild: it names the next suit);
//! or draws one card and then plays or passes. Whoever empties their hand first wins; the others
//! score penalty points for what they still hold. If nobody can play and nothing can be drawn,
//! the game is blocked and the lowest penalty wins.
//!
//! Hidden information: a seat's view holds its own hand and only the *counts* of the others; the
//! draw pile is a count, never an order. The card a player draws is announced to everybody as a
//! `drew` event without the card, and to the drawing seat alone, as the event's private version,
//! with it. The shuffle and every reshuffle come from [`seeded_rng`], so the archived seed and
//! actions replay a game card for card.
//!
//! The wire shapes (options, actions, views, events) are described in `docs/protocol.md`; the
//! typed client side is `crate::client::games::crazy_eights`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{
    seeded_rng, Game, GameConfig, GameEvent, GameKind, OptionsError, Outcome, PrivateView,
    Rejection, Seat, TimeoutRule, Viewer,
};

pub const NAME: &str = "crazy_eights";
/// Players per table, both ends included.
pub const PLAYERS: std::ops::RangeInclusive<u8> = 2..=6;
/// Bounds of the `turn_seconds` option, both ends included.
pub const TURN_SECONDS: std::ops::RangeInclusive<u64> = 5..=300;
pub const DECK_SIZE: usize = 52;

/// A card's suit; on the wire its initial, `"C"`, `"D"`, `"H"` or `"S"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Suit {
    #[serde(rename = "C")]
    Clubs,
    #[serde(rename = "D")]
    Diamonds,
    #[serde(rename = "H")]
    Hearts,
    #[serde(rename = "S")]
    Spades,
}

impl Suit {
    pub const ALL: [Suit; 4] = [Suit::Clubs, Suit::Diamonds, Suit::Hearts, Suit::Spades];

    pub fn letter(self) -> &'static str {
        match self {
            Suit::Clubs => "C",
            Suit::Diamonds => "D",
            Suit::Hearts => "H",
            Suit::Spades => "S",
        }
    }

    /// The suit's name, singular: `"spade"`.
    pub fn name(self) -> &'static str {
        match self {
            Suit::Clubs => "club",
            Suit::Diamonds => "diamond",
            Suit::Hearts => "heart",
            Suit::Spades => "spade",
        }
    }

    fn from_letter(letter: &str) -> Option<Suit> {
        Suit::ALL.into_iter().find(|s| s.letter() == letter)
    }
}

/// A card's rank, ace low; on the wire `A 2 3 4 5 6 7 8 9 10 J Q K`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rank {
    Ace,
    Two,
    Three,
    Four,
    Five,
    Six,
    Seven,
    Eight,
    Nine,
    Ten,
    Jack,
    Queen,
    King,
}

impl Rank {
    pub const ALL: [Rank; 13] = [
        Rank::Ace,
        Rank::Two,
        Rank::Three,
        Rank::Four,
        Rank::Five,
        Rank::Six,
        Rank::Seven,
        Rank::Eight,
        Rank::Nine,
        Rank::Ten,
        Rank::Jack,
        Rank::Queen,
        Rank::King,
    ];

    pub fn symbol(self) -> &'static str {
        match self {
            Rank::Ace => "A",
            Rank::Two => "2",
            Rank::Three => "3",
            Rank::Four => "4",
            Rank::Five => "5",
            Rank::Six => "6",
            Rank::Seven => "7",
            Rank::Eight => "8",
            Rank::Nine => "9",
            Rank::Ten => "10",
            Rank::Jack => "J",
            Rank::Queen => "Q",
            Rank::King => "K",
        }
    }

    /// Penalty points for a card of this rank left in a hand at the end: an eight 50, a face
    /// card 10, an ace 1, any other its face value.
    pub fn penalty(self) -> i64 {
        match self {
            Rank::Eight => 50,
            Rank::Jack | Rank::Queen | Rank::King => 10,
            Rank::Ace => 1,
            other => other as i64 + 1,
        }
    }
}

/// One playing card; on the wire rank then suit: `"10H"`, `"QS"`, `"8C"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Card {
    pub rank: Rank,
    pub suit: Suit,
}

impl Card {
    pub const fn new(rank: Rank, suit: Suit) -> Self {
        Card { rank, suit }
    }

    /// The 52 cards, unshuffled: clubs ace to king, then diamonds, hearts, spades.
    pub fn deck() -> Vec<Card> {
        Suit::ALL
            .into_iter()
            .flat_map(|suit| Rank::ALL.into_iter().map(move |rank| Card { rank, suit }))
            .collect()
    }

    pub fn is_eight(self) -> bool {
        self.rank == Rank::Eight
    }

    /// Whether this card may be played on `top` while `suit` is the suit to follow: an eight
    /// always, any other card when it has the top card's rank or the suit to follow.
    pub fn matches(self, top: Card, suit: Suit) -> bool {
        self.is_eight() || self.rank == top.rank || self.suit == suit
    }
}

impl fmt::Display for Card {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.rank.symbol(), self.suit.letter())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a card: expected a rank (A, 2-10, J, Q, K) then a suit (C, D, H, S), e.g. \"10H\"")]
pub struct CardParseError(String);

impl FromStr for Card {
    type Err = CardParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || CardParseError(text.to_owned());
        // Suit letters are ASCII, so a non-ASCII last character is no card.
        if text.len() < 2 || !text.is_char_boundary(text.len() - 1) {
            return Err(bad());
        }
        let (rank, suit) = text.split_at(text.len() - 1);
        let rank = Rank::ALL
            .into_iter()
            .find(|r| r.symbol() == rank)
            .ok_or_else(bad)?;
        let suit = Suit::from_letter(suit).ok_or_else(bad)?;
        Ok(Card { rank, suit })
    }
}

impl Serialize for Card {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Card {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A player's action, as sent in `act`: `{"type":"play","card":"7H"}`,
/// `{"type":"play","card":"8C","suit":"H"}`, `{"type":"draw"}` or `{"type":"pass"}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum CardAction {
    /// Play `card` from the hand; an eight must name the `suit` to follow, no other card may.
    Play {
        card: Card,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        suit: Option<Suit>,
    },
    /// Take the top card of the draw pile; once per turn.
    Draw,
    /// End the turn without playing: after drawing, or when nothing can be drawn.
    Pass,
}

impl CardAction {
    /// Plays a card that is not an eight.
    pub fn play(card: Card) -> Self {
        CardAction::Play { card, suit: None }
    }

    /// Plays an eight and names the suit to follow.
    pub fn play_eight(card: Card, suit: Suit) -> Self {
        CardAction::Play {
            card,
            suit: Some(suit),
        }
    }
}

const ACTION_SHAPES: &str = "expected {\"type\":\"play\",\"card\":\"7H\"}, \
     {\"type\":\"play\",\"card\":\"8C\",\"suit\":\"H\"}, {\"type\":\"draw\"} or {\"type\":\"pass\"}";

/// What a seat or a spectator sees: `docs/protocol.md` describes every field. The same type is
/// what clients deserialise (`crate::client::games::crazy_eights`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrazyEightsView {
    /// The viewer's own hand, in the order the cards came to it; absent for spectators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hand: Option<Vec<Card>>,
    /// How many cards each seat holds, by seat.
    pub hand_counts: Vec<usize>,
    /// The top of the discard pile.
    pub top: Card,
    /// The suit to follow: the top card's, or the one named with an eight.
    pub suit: Suit,
    /// How many cards the draw pile holds.
    pub draw_pile: usize,
    /// The seat to act, or `None` once the rules have ended the game.
    pub turn: Option<Seat>,
    /// Whether the seat on turn has drawn this turn.
    pub drawn: bool,
    pub players: u8,
}

pub struct CrazyEightsKind;

impl GameKind for CrazyEightsKind {
    fn name(&self) -> &'static str {
        NAME
    }

    fn configure(&self, options: &Value) -> Result<GameConfig, OptionsError> {
        // The wording is the one every game kind uses: game, field, accepted range.
        let invalid = |message: String| OptionsError::Invalid(format!("{NAME}: {message}"));
        let empty = Map::new();
        let fields = match options {
            Value::Null => &empty,
            Value::Object(fields) => fields,
            other => {
                return Err(invalid(format!(
                    "options must be a JSON object, not {}",
                    json_type(other)
                )))
            }
        };
        if let Some(unknown) = fields
            .keys()
            .find(|k| !matches!(k.as_str(), "players" | "turn_seconds"))
        {
            return Err(invalid(format!(
                "unknown option {unknown:?}; known options are players, turn_seconds"
            )));
        }
        // `null` counts as not given, so a form's empty field needs no special case.
        let integer = |name: &str, bounds: &std::ops::RangeInclusive<u64>| match fields
            .get(name)
            .filter(|v| !v.is_null())
        {
            None => Ok(None),
            Some(value) => match value.as_u64() {
                Some(n) if bounds.contains(&n) => Ok(Some(n)),
                _ => Err(invalid(format!(
                    "{name} must be an integer from {} to {}, not {value}",
                    bounds.start(),
                    bounds.end()
                ))),
            },
        };
        let players_bounds = u64::from(*PLAYERS.start())..=u64::from(*PLAYERS.end());
        let players = integer("players", &players_bounds)?
            .and_then(|n| u8::try_from(n).ok())
            .unwrap_or(*PLAYERS.start());
        let turn_seconds = integer("turn_seconds", &TURN_SECONDS)?;
        let mut normalised = json!({ "players": players });
        if let Some(seconds) = turn_seconds {
            normalised["turn_seconds"] = json!(seconds);
        }
        Ok(GameConfig {
            turn_timeout: turn_seconds.map(Duration::from_secs),
            ..GameConfig::seats(players, normalised)
        })
    }

    fn setup(&self, config: &GameConfig, seed: u64) -> Box<dyn Game> {
        Box::new(CrazyEights::new(config.seats, seed))
    }
}

/// How an options value that is no object is named in the refusal.
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// One game of Crazy Eights.
#[derive(Clone, Debug, PartialEq)]
pub struct CrazyEights {
    players: Seat,
    /// Made from the seed; shuffles the deck, then every reshuffle, in that order.
    rng: ChaCha8Rng,
    hands: Vec<Vec<Card>>,
    /// Drawn from the end.
    draw_pile: Vec<Card>,
    /// The top is the last card.
    discard: Vec<Card>,
    suit: Suit,
    turn: Seat,
    drawn: bool,
    outcome: Option<Outcome>,
}

impl CrazyEights {
    /// Shuffles a deck from `seed` and deals to `players` seats (clamped to 2..=6; the kind's
    /// options never ask for more or fewer).
    pub fn new(players: Seat, seed: u64) -> Self {
        let players = players.clamp(*PLAYERS.start(), *PLAYERS.end());
        let mut rng = seeded_rng(seed);
        let mut deck = Card::deck();
        deck.shuffle(&mut rng);
        let hand_size = if players == 2 { 7 } else { 5 };
        let dealt = hand_size * usize::from(players);
        let mut hands = vec![Vec::with_capacity(hand_size); usize::from(players)];
        // One card at a time around the table, as at a real one.
        for (i, card) in deck[..dealt].iter().enumerate() {
            hands[i % usize::from(players)].push(*card);
        }
        let top = deck[dealt];
        CrazyEights {
            players,
            rng,
            hands,
            draw_pile: deck[dealt + 1..].to_vec(),
            discard: vec![top],
            suit: top.suit,
            turn: 0,
            drawn: false,
            outcome: None,
        }
    }

    /// Seat `seat`'s hand (empty for a seat that does not exist). Server side only: views are
    /// what players get.
    pub fn hand(&self, seat: Seat) -> &[Card] {
        self.hands.get(usize::from(seat)).map_or(&[], Vec::as_slice)
    }

    /// The draw pile, the next card to be drawn last. Server side only.
    pub fn draw_pile(&self) -> &[Card] {
        &self.draw_pile
    }

    /// The discard pile, its top last.
    pub fn discard_pile(&self) -> &[Card] {
        &self.discard
    }

    /// The typed view behind [`Game::view`].
    pub fn typed_view(&self, viewer: Viewer) -> CrazyEightsView {
        let hand = match viewer {
            Viewer::Seat(seat) => self.hands.get(usize::from(seat)).cloned(),
            Viewer::Spectator => None,
        };
        CrazyEightsView {
            hand,
            hand_counts: self.hands.iter().map(Vec::len).collect(),
            top: self.top(),
            suit: self.suit,
            draw_pile: self.draw_pile.len(),
            turn: self.outcome.is_none().then_some(self.turn),
            drawn: self.drawn,
            players: self.players,
        }
    }

    fn top(&self) -> Card {
        // The discard pile starts with one card and a reshuffle always leaves its top.
        self.discard[self.discard.len() - 1]
    }

    /// Whether a draw would find a card: in the draw pile, or under the top of the discard
    /// pile, which a reshuffle turns into a new draw pile.
    fn can_draw(&self) -> bool {
        !self.draw_pile.is_empty() || self.discard.len() > 1
    }

    /// When the draw pile is empty, shuffles the discard pile minus its top into a new one.
    fn refill(&mut self, events: &mut Vec<GameEvent>) {
        if !self.draw_pile.is_empty() || self.discard.len() < 2 {
            return;
        }
        let top = self.discard.len() - 1;
        self.draw_pile = self.discard.drain(..top).collect();
        self.draw_pile.shuffle(&mut self.rng);
        events.push(GameEvent::public(
            "reshuffled",
            json!({ "draw_pile": self.draw_pile.len() }),
        ));
    }

    fn play(&mut self, seat: Seat, card: Card, named: Option<Suit>) -> Vec<GameEvent> {
        let hand = &mut self.hands[usize::from(seat)];
        hand.retain(|c| *c != card);
        let hand_count = hand.len();
        self.discard.push(card);
        self.suit = named.unwrap_or(card.suit);
        let events = vec![GameEvent::public(
            "played",
            json!({ "seat": seat, "card": card, "suit": self.suit, "hand_count": hand_count }),
        )];
        if hand_count == 0 {
            self.outcome = Some(Outcome {
                scores: Some(self.penalties()),
                ..Outcome::win(seat)
            });
        } else {
            self.next_turn();
        }
        events
    }

    /// Draws one card for `seat`; the caller checked that one can be drawn.
    fn draw(&mut self, seat: Seat) -> Vec<GameEvent> {
        let mut events = Vec::new();
        self.refill(&mut events);
        let Some(card) = self.draw_pile.pop() else {
            return events;
        };
        let hand = &mut self.hands[usize::from(seat)];
        hand.push(card);
        let hand_count = hand.len();
        self.drawn = true;
        events.push(GameEvent {
            private: Some(PrivateView {
                seat,
                data: json!({ "seat": seat, "hand_count": hand_count, "card": card }),
            }),
            ..GameEvent::public("drew", json!({ "seat": seat, "hand_count": hand_count }))
        });
        // Refilled as soon as it empties, so that the view's count shows what can be drawn.
        self.refill(&mut events);
        events
    }

    fn pass(&mut self, seat: Seat) -> Vec<GameEvent> {
        self.next_turn();
        vec![GameEvent::public("passed", json!({ "seat": seat }))]
    }

    fn next_turn(&mut self) {
        self.turn = (self.turn + 1) % self.players;
        self.drawn = false;
    }

    fn penalties(&self) -> Vec<i64> {
        self.hands
            .iter()
            .map(|hand| hand.iter().map(|c| c.rank.penalty()).sum())
            .collect()
    }

    /// Ends the game when nobody can move: nothing to draw and no playable card in any hand.
    /// The lowest penalty wins; a tie for the lowest is a draw.
    fn end_if_blocked(&mut self) {
        if self.outcome.is_some() || self.can_draw() {
            return;
        }
        let (top, suit) = (self.top(), self.suit);
        if self.hands.iter().flatten().any(|c| c.matches(top, suit)) {
            return;
        }
        let scores = self.penalties();
        let lowest = scores.iter().copied().min().unwrap_or(0);
        let winners: Vec<Seat> = (0..self.players)
            .filter(|s| scores[usize::from(*s)] == lowest)
            .collect();
        let outcome = match winners.as_slice() {
            [winner] => Outcome::win(*winner),
            _ => Outcome::draw(),
        };
        self.outcome = Some(Outcome {
            scores: Some(scores),
            ..outcome
        });
    }

    fn parse(action: &Value) -> Result<CardAction, Rejection> {
        // serde lets extra fields through on an internally tagged unit variant.
        if let Some(fields) = action.as_object() {
            if let Some(kind @ ("draw" | "pass")) = fields.get("type").and_then(Value::as_str) {
                if let Some(extra) = fields.keys().find(|k| *k != "type") {
                    return Err(Rejection::BadAction(format!(
                        "{ACTION_SHAPES}: {kind} takes no field {extra:?}"
                    )));
                }
            }
        }
        let action = CardAction::deserialize(action)
            .map_err(|err| Rejection::BadAction(format!("{ACTION_SHAPES}: {err}")))?;
        match action {
            CardAction::Play { card, suit: None } if card.is_eight() => {
                Err(Rejection::BadAction(format!(
                    "{card} is an eight: name the suit to follow, e.g. \
                     {{\"type\":\"play\",\"card\":\"{card}\",\"suit\":\"H\"}}"
                )))
            }
            CardAction::Play {
                card,
                suit: Some(_),
            } if !card.is_eight() => Err(Rejection::BadAction(format!(
                "only an eight names a suit; play {card} without \"suit\""
            ))),
            action => Ok(action),
        }
    }
}

impl Game for CrazyEights {
    fn apply(&mut self, seat: Seat, action: &Value) -> Result<Vec<GameEvent>, Rejection> {
        if self.outcome.is_some() {
            return Err(Rejection::GameOver);
        }
        let action = Self::parse(action)?;
        if seat != self.turn {
            return Err(Rejection::NotYourTurn);
        }
        let events = match action {
            CardAction::Play { card, suit } => {
                if !self.hand(seat).contains(&card) {
                    return Err(Rejection::IllegalMove(format!("you do not hold {card}")));
                }
                let top = self.top();
                if !card.matches(top, self.suit) {
                    return Err(Rejection::IllegalMove(format!(
                        "{card} does not match {top} ({}s to follow): play a {}, a {} or an \
                         eight, or draw",
                        self.suit.name(),
                        top.rank.symbol(),
                        self.suit.name()
                    )));
                }
                self.play(seat, card, suit)
            }
            CardAction::Draw => {
                if self.drawn {
                    return Err(Rejection::IllegalMove(
                        "you have drawn this turn already: play or pass".into(),
                    ));
                }
                if !self.can_draw() {
                    return Err(Rejection::IllegalMove(
                        "there is nothing left to draw: play or pass".into(),
                    ));
                }
                self.draw(seat)
            }
            CardAction::Pass => {
                if !self.drawn && self.can_draw() {
                    return Err(Rejection::IllegalMove("draw a card before passing".into()));
                }
                self.pass(seat)
            }
        };
        self.end_if_blocked();
        Ok(events)
    }

    fn view(&self, viewer: Viewer) -> Value {
        serde_json::to_value(self.typed_view(viewer)).unwrap_or(Value::Null)
    }

    fn outcome(&self) -> Option<Outcome> {
        self.outcome.clone()
    }

    fn turn(&self) -> Option<Seat> {
        self.outcome.is_none().then_some(self.turn)
    }

    /// A seat that lets its turn run out is skipped: it draws a card if it has not drawn yet
    /// (and one can be drawn), then passes.
    fn on_turn_timeout(&mut self, seat: Seat) -> TimeoutRule {
        if self.outcome.is_some() || seat != self.turn {
            return TimeoutRule::Played(Vec::new());
        }
        let mut events = Vec::new();
        if !self.drawn && self.can_draw() {
            events.extend(self.draw(seat));
        }
        events.extend(self.pass(seat));
        self.end_if_blocked();
        TimeoutRule::Played(events)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::game::OutcomeKind;

    fn card(text: &str) -> Card {
        text.parse().expect("a card")
    }

    fn cards(texts: &[&str]) -> Vec<Card> {
        texts.iter().map(|t| card(t)).collect()
    }

    /// A game in a chosen position: `discard`'s last card is the top, and its suit is the one to
    /// follow.
    fn table(hands: &[&[&str]], draw_pile: &[&str], discard: &[&str]) -> CrazyEights {
        let discard = cards(discard);
        let suit = discard.last().expect("a top card").suit;
        CrazyEights {
            players: hands.len() as Seat,
            rng: seeded_rng(1),
            hands: hands.iter().map(|h| cards(h)).collect(),
            draw_pile: cards(draw_pile),
            discard,
            suit,
            turn: 0,
            drawn: false,
            outcome: None,
        }
    }

    fn play(text: &str) -> Value {
        json!({ "type": "play", "card": text })
    }

    fn play_eight(text: &str, suit: &str) -> Value {
        json!({ "type": "play", "card": text, "suit": suit })
    }

    fn draw() -> Value {
        json!({ "type": "draw" })
    }

    fn pass() -> Value {
        json!({ "type": "pass" })
    }

    fn kinds(events: &[GameEvent]) -> Vec<&str> {
        events.iter().map(|e| e.kind.as_ref()).collect()
    }

    fn illegal(result: Result<Vec<GameEvent>, Rejection>) -> String {
        match result {
            Err(Rejection::IllegalMove(message)) => message,
            other => panic!("expected illegal_move, got {other:?}"),
        }
    }

    #[test]
    fn dealing_gives_seven_cards_to_two_players_and_five_to_more() {
        for players in PLAYERS {
            let game = CrazyEights::new(players, 42);
            let size = if players == 2 { 7 } else { 5 };
            assert_eq!(game.hands.len(), usize::from(players));
            assert!(game.hands.iter().all(|h| h.len() == size));
            assert_eq!(game.discard.len(), 1);
            assert_eq!(game.suit, game.top().suit);
            assert_eq!(
                game.draw_pile.len(),
                DECK_SIZE - size * usize::from(players) - 1
            );
            let all: HashSet<Card> = game
                .hands
                .iter()
                .flatten()
                .chain(&game.draw_pile)
                .chain(&game.discard)
                .copied()
                .collect();
            assert_eq!(all, Card::deck().into_iter().collect::<HashSet<_>>());
            let view = game.typed_view(Viewer::Seat(0));
            assert_eq!(view.turn, Some(0));
            assert!(!view.drawn);
            assert_eq!(view.players, players);
            assert_eq!(view.hand_counts, vec![size; usize::from(players)]);
        }
    }

    #[test]
    fn the_deal_depends_only_on_the_seed() {
        let deal = |seed| {
            let game = CrazyEights::new(4, seed);
            (game.hands.clone(), game.draw_pile.clone(), game.top())
        };
        assert_eq!(deal(9), deal(9));
        assert_ne!(deal(9), deal(10));
        let kind = CrazyEightsKind;
        let config = kind.configure(&json!({ "players": 4 })).unwrap();
        let (a, b) = (kind.setup(&config, 9), kind.setup(&config, 9));
        for viewer in [Viewer::Seat(0), Viewer::Seat(3), Viewer::Spectator] {
            assert_eq!(a.view(viewer), b.view(viewer));
        }
    }

    #[test]
    fn cards_are_named_rank_then_suit() {
        for card in Card::deck() {
            let text = card.to_string();
            assert_eq!(text.parse::<Card>(), Ok(card));
            assert_eq!(json!(card), json!(text));
            assert_eq!(serde_json::from_value::<Card>(json!(text)).unwrap(), card);
        }
        assert_eq!(card("10H"), Card::new(Rank::Ten, Suit::Hearts));
        assert_eq!(card("QS"), Card::new(Rank::Queen, Suit::Spades));
        assert_eq!(card("AD"), Card::new(Rank::Ace, Suit::Diamonds));
        for bad in [
            "", "H", "10", "1H", "11S", "8X", "qs", "10HH", " 7H", "7é", "é",
        ] {
            assert!(bad.parse::<Card>().is_err(), "{bad:?}");
        }
        assert!(serde_json::from_value::<Card>(json!(7)).is_err());
    }

    #[test]
    fn penalty_points() {
        let points: Vec<i64> = cards(&["8C", "KD", "QH", "JS", "AC", "2D", "7H", "10S"])
            .into_iter()
            .map(|c| c.rank.penalty())
            .collect();
        assert_eq!(points, [50, 10, 10, 10, 1, 2, 7, 10]);
    }

    #[test]
    fn a_card_matches_by_rank_or_by_the_suit_to_follow() {
        let top = card("9S");
        assert!(card("9H").matches(top, Suit::Spades));
        assert!(card("2S").matches(top, Suit::Spades));
        assert!(card("8D").matches(top, Suit::Spades));
        assert!(!card("7H").matches(top, Suit::Spades));
        // After an eight named hearts, the eight's own suit no longer counts.
        let top = card("8C");
        assert!(card("5H").matches(top, Suit::Hearts));
        assert!(!card("5C").matches(top, Suit::Hearts));

        let mut game = table(&[&["9H", "2S", "7H"], &["KD", "4H"]], &["3C"], &["9S"]);
        let events = game.apply(0, &play("2S")).unwrap();
        assert_eq!(kinds(&events), ["played"]);
        assert_eq!(
            events[0].data,
            json!({"seat": 0, "card": "2S", "suit": "S", "hand_count": 2})
        );
        assert_eq!(events[0].private, None);
        assert_eq!(game.turn(), Some(1));
        let message = illegal(game.apply(1, &play("KD")));
        assert_eq!(
            message,
            "KD does not match 2S (spades to follow): play a 2, a spade or an eight, or draw"
        );
    }

    #[test]
    fn an_eight_is_wild_and_names_the_suit_to_follow() {
        let mut game = table(&[&["8C", "7H"], &["4H", "4C"]], &["3C"], &["9S"]);
        assert!(matches!(
            game.apply(0, &play("8C")),
            Err(Rejection::BadAction(_))
        ));
        let events = game.apply(0, &play_eight("8C", "H")).unwrap();
        assert_eq!(events[0].data["suit"], "H");
        let view = game.typed_view(Viewer::Spectator);
        assert_eq!((view.top, view.suit), (card("8C"), Suit::Hearts));
        illegal(game.apply(1, &play("4C")));
        game.apply(1, &play("4H")).unwrap();
        assert_eq!(game.suit, Suit::Hearts);
        // Only an eight names a suit.
        assert!(matches!(
            game.apply(0, &play_eight("7H", "H")),
            Err(Rejection::BadAction(_))
        ));
    }

    #[test]
    fn a_drawn_card_is_told_to_its_seat_alone() {
        let mut game = table(&[&["7H"], &["KD"]], &["2C", "QS"], &["9S"]);
        let events = game.apply(0, &draw()).unwrap();
        assert_eq!(kinds(&events), ["drew"]);
        assert_eq!(events[0].data, json!({"seat": 0, "hand_count": 2}));
        assert_eq!(
            events[0].private,
            Some(PrivateView {
                seat: 0,
                data: json!({"seat": 0, "hand_count": 2, "card": "QS"}),
            })
        );
        assert_eq!(game.hand(0), cards(&["7H", "QS"]));
        let view = game.typed_view(Viewer::Seat(0));
        assert!(view.drawn);
        assert_eq!((view.turn, view.draw_pile), (Some(0), 1));
        // The drawn card may be played at once.
        game.apply(0, &play("QS")).unwrap();
        assert_eq!(game.turn(), Some(1));
        assert!(!game.drawn);
    }

    #[test]
    fn one_draw_per_turn_then_play_or_pass() {
        let mut game = table(&[&["7H"], &["KD"]], &["2C", "3C", "4C"], &["9S"]);
        let before = game.clone();
        assert_eq!(
            illegal(game.apply(0, &pass())),
            "draw a card before passing"
        );
        assert_eq!(game, before);
        game.apply(0, &draw()).unwrap();
        assert_eq!(
            illegal(game.apply(0, &draw())),
            "you have drawn this turn already: play or pass"
        );
        let events = game.apply(0, &pass()).unwrap();
        assert_eq!(kinds(&events), ["passed"]);
        assert_eq!(events[0].data, json!({"seat": 0}));
        assert_eq!((game.turn(), game.drawn), (Some(1), false));
        // A new turn, a new draw.
        game.apply(1, &draw()).unwrap();
    }

    #[test]
    fn with_nothing_to_draw_a_player_may_pass_at_once() {
        let mut game = table(&[&["7H", "9C"], &["KD"]], &[], &["9S"]);
        assert_eq!(
            illegal(game.apply(0, &draw())),
            "there is nothing left to draw: play or pass"
        );
        game.apply(0, &pass()).unwrap();
        assert_eq!(game.turn(), Some(1));
    }

    #[test]
    fn an_empty_draw_pile_is_refilled_from_under_the_top_card() {
        // The last card is drawn: the discard pile under its top becomes the draw pile at once.
        let mut game = table(&[&["7H"], &["KD"]], &["2C"], &["3D", "4D", "5D", "9S"]);
        let events = game.apply(0, &draw()).unwrap();
        assert_eq!(kinds(&events), ["drew", "reshuffled"]);
        assert_eq!(events[1].data, json!({"draw_pile": 3}));
        assert_eq!(game.discard, cards(&["9S"]));
        let mut refilled = game.draw_pile.clone();
        refilled.sort();
        assert_eq!(refilled, cards(&["3D", "4D", "5D"]));
        // The same position and seed shuffle the same way.
        let mut again = table(&[&["7H"], &["KD"]], &["2C"], &["3D", "4D", "5D", "9S"]);
        again.apply(0, &draw()).unwrap();
        assert_eq!(again.draw_pile, game.draw_pile);

        // An empty draw pile with cards under the top: the draw reshuffles first.
        let mut game = table(&[&["7H"], &["KD"]], &[], &["3D", "9S"]);
        let events = game.apply(0, &draw()).unwrap();
        assert_eq!(kinds(&events), ["reshuffled", "drew"]);
        assert_eq!(events[0].data, json!({"draw_pile": 1}));
        assert_eq!(events[1].private.as_ref().unwrap().data["card"], "3D");
        assert!(game.draw_pile.is_empty());
    }

    #[test]
    fn emptying_the_hand_wins_and_the_others_score_what_they_hold() {
        let mut game = table(
            &[&["5S"], &["8H", "KD", "AC", "7C"], &["2D"]],
            &["3C"],
            &["9S"],
        );
        let events = game.apply(0, &play("5S")).unwrap();
        assert_eq!(events[0].data["hand_count"], 0);
        let outcome = game.outcome().unwrap();
        assert_eq!(outcome.result, OutcomeKind::Win);
        assert_eq!(outcome.winners, [0]);
        assert_eq!(outcome.scores, Some(vec![0, 68, 2]));
        assert_eq!(game.turn(), None);
        assert_eq!(game.typed_view(Viewer::Spectator).turn, None);
        for seat in 0..3 {
            assert_eq!(game.apply(seat, &draw()), Err(Rejection::GameOver));
            assert_eq!(game.apply(seat, &json!("junk")), Err(Rejection::GameOver));
        }
    }

    #[test]
    fn a_blocked_game_goes_to_the_lowest_penalty_or_is_drawn() {
        // Seat 0 draws the last card; nothing is left to draw (a play would put a card under
        // the top, so only a draw or a pass can block a game) and nobody holds a spade, a nine
        // or an eight.
        let mut game = table(&[&["2C"], &["KH"]], &["3C"], &["9S"]);
        game.apply(0, &draw()).unwrap();
        let outcome = game.outcome().unwrap();
        assert_eq!(
            (outcome.result, outcome.winners),
            (OutcomeKind::Win, vec![0])
        );
        assert_eq!(outcome.scores, Some(vec![5, 10]));
        assert_eq!(game.turn(), None);

        // A pass can block the game too; equal penalties draw it.
        let mut game = table(&[&["2H", "3H"], &["5D"]], &[], &["9S"]);
        game.apply(0, &pass()).unwrap();
        let outcome = game.outcome().unwrap();
        assert_eq!(outcome.result, OutcomeKind::Draw);
        assert!(outcome.winners.is_empty());
        assert_eq!(outcome.scores, Some(vec![5, 5]));

        // An eight in any hand keeps the game going.
        let mut game = table(&[&["2H", "3H"], &["8D"]], &[], &["9S"]);
        game.apply(0, &pass()).unwrap();
        assert_eq!(game.outcome(), None);
    }

    #[test]
    fn a_turn_that_times_out_draws_and_passes() {
        let mut game = CrazyEights::new(3, 5);
        let TimeoutRule::Played(events) = game.on_turn_timeout(0) else {
            panic!("crazy eights skips a seat, it does not forfeit it")
        };
        assert_eq!(kinds(&events), ["drew", "passed"]);
        assert_eq!(events[0].private.as_ref().map(|p| p.seat), Some(0));
        assert_eq!(game.hand(0).len(), 6);
        assert_eq!((game.turn(), game.drawn), (Some(1), false));

        // A seat that is not on turn: nothing happens.
        let before = game.clone();
        assert_eq!(game.on_turn_timeout(0), TimeoutRule::Played(Vec::new()));
        assert_eq!(game, before);

        // Drawn already: only the pass.
        game.apply(1, &draw()).unwrap();
        let TimeoutRule::Played(events) = game.on_turn_timeout(1) else {
            panic!("skipped")
        };
        assert_eq!(kinds(&events), ["passed"]);

        // Nothing to draw: only the pass.
        let mut game = table(&[&["7H"], &["KD", "8S"]], &[], &["9S"]);
        let TimeoutRule::Played(events) = game.on_turn_timeout(0) else {
            panic!("skipped")
        };
        assert_eq!(kinds(&events), ["passed"]);
        assert_eq!(game.turn(), Some(1));
    }

    #[test]
    fn every_refusal_is_typed_and_changes_nothing() {
        let mut game = table(
            &[&["7H", "KD", "8C"], &["4S", "QH"]],
            &["2C", "3C"],
            &["9S"],
        );
        let before = game.clone();
        let cases = [
            (1, play("4S"), Rejection::NotYourTurn),
            (1, draw(), Rejection::NotYourTurn),
            (1, pass(), Rejection::NotYourTurn),
            (
                0,
                play("4S"),
                Rejection::IllegalMove("you do not hold 4S".into()),
            ),
            (
                0,
                play("KD"),
                Rejection::IllegalMove(
                    "KD does not match 9S (spades to follow): play a 9, a spade or an eight, or draw"
                        .into(),
                ),
            ),
            (
                0,
                pass(),
                Rejection::IllegalMove("draw a card before passing".into()),
            ),
        ];
        for (seat, action, expected) in cases {
            assert_eq!(game.apply(seat, &action), Err(expected), "{action}");
        }
        for bad in [
            Value::Null,
            json!([]),
            json!("draw"),
            json!({}),
            json!({"type": "fly"}),
            json!({"type": "play"}),
            json!({"type": "play", "card": "7X"}),
            json!({"type": "play", "card": 7}),
            json!({"type": "play", "card": "7H", "suit": "H"}),
            json!({"type": "play", "card": "8C"}),
            json!({"type": "play", "card": "8C", "suit": "X"}),
            json!({"type": "play", "card": "7H", "extra": true}),
            json!({"type": "draw", "card": "7H"}),
            json!({"type": "PASS"}),
        ] {
            // The shape is checked first, whoever sends it.
            for seat in [0, 1] {
                assert!(
                    matches!(game.apply(seat, &bad), Err(Rejection::BadAction(_))),
                    "{bad}"
                );
            }
        }
        game.apply(0, &draw()).unwrap();
        let drawn = game.clone();
        illegal(game.apply(0, &draw()));
        assert_eq!(game, drawn);
        assert_ne!(game, before);
        assert_eq!(
            Rejection::BadAction("x".into()).code(),
            crate::protocol::ErrorCode::BadAction
        );
    }

    #[test]
    fn options_are_validated_with_messages_naming_field_and_bounds() {
        let kind = CrazyEightsKind;
        for options in [Value::Null, json!({}), json!({"players": null})] {
            let config = kind.configure(&options).unwrap();
            assert_eq!(config.seats, 2);
            assert_eq!(config.options, json!({"players": 2}));
            assert_eq!((config.tick, config.turn_timeout), (None, None));
        }
        for players in 2..=6u8 {
            let config = kind.configure(&json!({ "players": players })).unwrap();
            assert_eq!(config.seats, players);
        }
        let config = kind
            .configure(&json!({"players": 4, "turn_seconds": 30}))
            .unwrap();
        assert_eq!(config.turn_timeout, Some(Duration::from_secs(30)));
        assert_eq!(config.options, json!({"players": 4, "turn_seconds": 30}));
        // The normalised options configure the same game (replay reads them back).
        assert_eq!(kind.configure(&config.options).unwrap(), config);
        for seconds in [5, 300] {
            assert!(kind.configure(&json!({ "turn_seconds": seconds })).is_ok());
        }

        let refused = |options: Value| match kind.configure(&options) {
            Err(OptionsError::Invalid(message)) => message,
            other => panic!("{options}: expected invalid options, got {other:?}"),
        };
        for players in [
            json!(0),
            json!(1),
            json!(7),
            json!(256),
            json!(-2),
            json!(2.5),
            json!("3"),
        ] {
            assert_eq!(
                refused(json!({ "players": players })),
                format!("crazy_eights: players must be an integer from 2 to 6, not {players}")
            );
        }
        for seconds in [json!(4), json!(301), json!(0), json!("10"), json!(true)] {
            assert_eq!(
                refused(json!({ "turn_seconds": seconds })),
                format!(
                    "crazy_eights: turn_seconds must be an integer from 5 to 300, not {seconds}"
                )
            );
        }
        assert_eq!(
            refused(json!({"players": 3, "colour": "red"})),
            "crazy_eights: unknown option \"colour\"; known options are players, turn_seconds"
        );
        assert_eq!(
            refused(json!([2])),
            "crazy_eights: options must be a JSON object, not an array"
        );
        assert_eq!(
            refused(json!(3)),
            "crazy_eights: options must be a JSON object, not a number"
        );
    }

    #[test]
    fn views_show_a_seat_its_own_hand_and_nobody_the_draw_pile() {
        let game = CrazyEights::new(3, 77);
        let seat = game.view(Viewer::Seat(1));
        let keys: Vec<&str> = seat
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "draw_pile",
                "drawn",
                "hand",
                "hand_counts",
                "players",
                "suit",
                "top",
                "turn"
            ]
        );
        assert_eq!(seat["hand"], json!(game.hand(1)));
        assert_eq!(seat["draw_pile"], json!(game.draw_pile.len()));
        let spectator = game.view(Viewer::Spectator);
        assert!(spectator.get("hand").is_none());
        assert_eq!(spectator["hand_counts"], json!([5, 5, 5]));
        assert_eq!(spectator["top"], json!(game.top()));
        // A seat that does not exist sees what a spectator sees.
        assert_eq!(game.view(Viewer::Seat(9)), spectator);
    }

    /// What the property test below checks, and proof that the check can fail.
    mod secrecy {
        use super::*;

        /// Every card named anywhere in `value`.
        pub fn cards_in(value: &Value, out: &mut Vec<Card>) {
            match value {
                Value::String(text) => out.extend(text.parse::<Card>().ok()),
                Value::Array(items) => items.iter().for_each(|v| cards_in(v, out)),
                Value::Object(fields) => fields.values().for_each(|v| cards_in(v, out)),
                _ => {}
            }
        }

        /// Where each card is, by its place in [`Card::deck`].
        pub struct Places(Vec<Place>);

        #[derive(Clone, Copy, PartialEq)]
        enum Place {
            Hand(usize),
            DrawPile,
            DiscardPile,
        }

        fn index(card: Card) -> usize {
            card.suit as usize * 13 + card.rank as usize
        }

        impl Places {
            pub fn of(game: &CrazyEights) -> Self {
                let mut places = vec![Place::DiscardPile; DECK_SIZE];
                for (seat, hand) in game.hands.iter().enumerate() {
                    for card in hand {
                        places[index(*card)] = Place::Hand(seat);
                    }
                }
                for card in &game.draw_pile {
                    places[index(*card)] = Place::DrawPile;
                }
                Places(places)
            }

            /// The cards named in `value` that `viewer` must not learn: any in the draw pile or
            /// in a hand other than its own.
            pub fn leaked(&self, viewer: Viewer, value: &Value) -> Vec<Card> {
                let own = match viewer {
                    Viewer::Seat(seat) => Some(usize::from(seat)),
                    Viewer::Spectator => None,
                };
                let mut named = Vec::new();
                cards_in(value, &mut named);
                named.retain(|card| match self.0[index(*card)] {
                    Place::Hand(seat) => Some(seat) != own,
                    Place::DrawPile => true,
                    Place::DiscardPile => false,
                });
                named
            }
        }

        /// An event as the room delivers it to `viewer`: its private data to the seat it names,
        /// the public data to everyone else.
        pub fn delivered(event: &GameEvent, viewer: Viewer) -> &Value {
            match (&event.private, viewer) {
                (Some(private), Viewer::Seat(seat)) if private.seat == seat => &private.data,
                _ => &event.data,
            }
        }

        #[test]
        fn the_check_finds_a_card_that_should_be_hidden() {
            let game = CrazyEights::new(2, 3);
            let places = Places::of(&game);
            let own = game.view(Viewer::Seat(0));
            assert!(places.leaked(Viewer::Seat(0), &own).is_empty());
            assert_eq!(places.leaked(Viewer::Seat(1), &own), game.hand(0));
            assert_eq!(places.leaked(Viewer::Spectator, &own), game.hand(0));
            let pile = json!({ "next": game.draw_pile.last() });
            assert_eq!(places.leaked(Viewer::Seat(0), &pile).len(), 1);
            let top = json!({ "top": game.top() });
            assert!(places.leaked(Viewer::Spectator, &top).is_empty());

            let mut game = table(&[&["7H"], &["KD"]], &["2C"], &["9S"]);
            let events = game.apply(0, &draw()).unwrap();
            let places = Places::of(&game);
            let to_drawer = delivered(&events[0], Viewer::Seat(0));
            assert!(places.leaked(Viewer::Seat(0), to_drawer).is_empty());
            assert_eq!(places.leaked(Viewer::Seat(1), to_drawer), cards(&["2C"]));
            let to_other = delivered(&events[0], Viewer::Seat(1));
            assert!(places.leaked(Viewer::Seat(1), to_other).is_empty());
        }
    }

    /// Thousands of random games with random legal and illegal actions and timeouts.
    mod properties {
        use proptest::prelude::*;

        use super::secrecy::{delivered, Places};
        use super::*;
        use crate::client::games::crazy_eights::CrazyEightsEvent;

        /// One thing that happened to the game, kept to replay it.
        #[derive(Clone, Debug)]
        enum Step {
            Act(Seat, Value),
            Timeout(Seat),
        }

        #[derive(Clone, Debug, PartialEq)]
        enum Result_ {
            Applied(Vec<GameEvent>),
            Refused(Rejection),
            TimedOut(TimeoutRule),
        }

        fn run(game: &mut CrazyEights, step: &Step) -> Result_ {
            match step {
                Step::Act(seat, action) => match game.apply(*seat, action) {
                    Ok(events) => Result_::Applied(events),
                    Err(rejection) => Result_::Refused(rejection),
                },
                Step::Timeout(seat) => Result_::TimedOut(game.on_turn_timeout(*seat)),
            }
        }

        fn viewers(game: &CrazyEights) -> Vec<Viewer> {
            (0..game.players)
                .map(Viewer::Seat)
                .chain([Viewer::Spectator])
                .collect()
        }

        /// Each viewer's view as a client keeps it from the events it was sent.
        struct Followers(Vec<(Viewer, CrazyEightsView)>);

        impl Followers {
            fn new(game: &CrazyEights) -> Self {
                Followers(
                    viewers(game)
                        .into_iter()
                        .map(|viewer| {
                            let view = serde_json::from_value(game.view(viewer)).unwrap();
                            (viewer, view)
                        })
                        .collect(),
                )
            }

            fn of(&self, seat: Seat) -> &CrazyEightsView {
                &self.0[usize::from(seat)].1
            }
        }

        /// After one step: nothing secret in any view or delivered event, every card in exactly
        /// one place, and every follower's view equal to the game's.
        fn check(game: &CrazyEights, events: &[GameEvent], followers: &mut Followers) {
            let mut everywhere: Vec<Card> = game
                .hands
                .iter()
                .flatten()
                .chain(&game.draw_pile)
                .chain(&game.discard)
                .copied()
                .collect();
            let view = game.typed_view(Viewer::Spectator);
            assert_eq!(
                view.hand_counts.iter().sum::<usize>() + view.draw_pile + game.discard.len(),
                DECK_SIZE
            );
            everywhere.sort();
            everywhere.dedup();
            assert_eq!(everywhere.len(), DECK_SIZE, "a card was lost or doubled");

            let places = Places::of(game);
            for (viewer, follower) in &mut followers.0 {
                let view = game.view(*viewer);
                let leaks = places.leaked(*viewer, &view);
                assert!(
                    leaks.is_empty(),
                    "{viewer:?}'s view shows {leaks:?}: {view}"
                );
                for event in events {
                    let data = delivered(event, *viewer);
                    let leaks = places.leaked(*viewer, data);
                    assert!(
                        leaks.is_empty(),
                        "{viewer:?} was sent {leaks:?} in {} {data}",
                        event.kind
                    );
                    let parsed = CrazyEightsEvent::parse(&event.kind, data)
                        .expect("a client parses every event")
                        .expect("every game event has a known kind");
                    follower.apply(&parsed);
                }
                if game.outcome.is_some() {
                    follower.end();
                }
                let mut expected = game.typed_view(*viewer);
                if game.outcome.is_some() {
                    // Whether the winner had drawn is of no interest once the game is over.
                    expected.drawn = follower.drawn;
                }
                assert_eq!(*follower, expected, "{viewer:?} lost track");
            }
        }

        fn malformed(pick: usize) -> Value {
            let shapes = [
                Value::Null,
                json!({}),
                json!({"type": "play"}),
                json!({"type": "play", "card": "1H"}),
                json!({"type": "play", "card": "8S"}),
                json!({"type": "play", "card": "9S", "suit": "S"}),
                json!({"type": "draw", "now": true}),
                json!({"type": "skip"}),
                json!([{"type": "pass"}]),
            ];
            shapes[pick % shapes.len()].clone()
        }

        /// A random well-formed action: any card (an eight with a random suit), a draw or a pass.
        fn any_action(pick: usize) -> CardAction {
            let deck = Card::deck();
            match pick % 60 {
                52..=54 => CardAction::Draw,
                55..=59 => CardAction::Pass,
                i => {
                    let card = deck[i];
                    if card.is_eight() {
                        CardAction::play_eight(card, Suit::ALL[(pick / 60) % 4])
                    } else {
                        CardAction::play(card)
                    }
                }
            }
        }

        /// Plays one random game and checks it after every step; returns its steps.
        fn play_randomly(seed: u64, players: Seat, choices: &[u32]) -> (CrazyEights, Vec<Step>) {
            let mut game = CrazyEights::new(players, seed);
            let mut followers = Followers::new(&game);
            check(&game, &[], &mut followers);
            let mut steps = Vec::new();
            let mut take = |game: &mut CrazyEights, followers: &mut Followers, step: Step| {
                let result = run(game, &step);
                let events = match &result {
                    Result_::Applied(events) => events.clone(),
                    Result_::TimedOut(TimeoutRule::Played(events)) => events.clone(),
                    Result_::TimedOut(TimeoutRule::Forfeit) => panic!("never forfeits"),
                    Result_::Refused(_) => Vec::new(),
                };
                check(game, &events, followers);
                steps.push(step);
                result
            };

            for &choice in choices {
                let Some(turn) = game.turn() else {
                    let result = take(&mut game, &mut followers, Step::Act(0, pass()));
                    assert_eq!(result, Result_::Refused(Rejection::GameOver));
                    break;
                };
                let pick = (choice >> 4) as usize;
                match choice % 16 {
                    0..=8 => {
                        let legal = followers.of(turn).legal_actions();
                        let action = json!(legal[pick % legal.len()]);
                        let result = take(&mut game, &mut followers, Step::Act(turn, action));
                        assert!(matches!(result, Result_::Applied(_)), "{result:?}");
                    }
                    9 => {
                        let result = take(&mut game, &mut followers, Step::Timeout(turn));
                        assert!(
                            matches!(&result, Result_::TimedOut(TimeoutRule::Played(e)) if !e.is_empty())
                        );
                    }
                    10 => {
                        let other =
                            (turn + 1 + (pick % usize::from(players - 1)) as Seat) % players;
                        let before = game.clone();
                        let result = take(&mut game, &mut followers, Step::Timeout(other));
                        assert_eq!(result, Result_::TimedOut(TimeoutRule::Played(Vec::new())));
                        assert_eq!(game, before);
                    }
                    11..=14 => {
                        let seat = (pick % usize::from(players)) as Seat;
                        let action = any_action(pick / usize::from(players));
                        let legal =
                            seat == turn && followers.of(seat).legal_actions().contains(&action);
                        let before = game.clone();
                        let result =
                            take(&mut game, &mut followers, Step::Act(seat, json!(action)));
                        match result {
                            Result_::Applied(_) => assert!(legal, "{action:?} was accepted"),
                            Result_::Refused(rejection) => {
                                assert!(!legal, "{action:?} was refused: {rejection}");
                                let expected = if seat == turn {
                                    crate::protocol::ErrorCode::IllegalMove
                                } else {
                                    crate::protocol::ErrorCode::NotYourTurn
                                };
                                assert_eq!(rejection.code(), expected, "{rejection}");
                                assert_eq!(game, before);
                            }
                            other => panic!("{other:?}"),
                        }
                    }
                    _ => {
                        let seat = (pick % usize::from(players)) as Seat;
                        let result =
                            take(&mut game, &mut followers, Step::Act(seat, malformed(pick)));
                        assert!(
                            matches!(result, Result_::Refused(Rejection::BadAction(_))),
                            "{result:?}"
                        );
                    }
                }
            }

            // Then to the end, playing a card whenever one can be played.
            for _ in 0..5_000 {
                let Some(turn) = game.turn() else { break };
                let legal = followers.of(turn).legal_actions();
                let action = legal
                    .iter()
                    .find(|a| matches!(a, CardAction::Play { .. }))
                    .unwrap_or(&legal[0]);
                let result = take(&mut game, &mut followers, Step::Act(turn, json!(action)));
                assert!(matches!(result, Result_::Applied(_)), "{result:?}");
            }
            assert!(game.outcome.is_some(), "a game played to the end ends");
            (game, steps)
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

            #[test]
            fn random_games_keep_every_secret_and_replay_exactly(
                seed in any::<u64>(),
                players in PLAYERS,
                choices in prop::collection::vec(any::<u32>(), 0..250),
            ) {
                let (game, steps) = play_randomly(seed, players, &choices);

                // The seed and the steps give the same game, event for event.
                let mut replayed = CrazyEights::new(players, seed);
                let mut original = CrazyEights::new(players, seed);
                for step in &steps {
                    prop_assert_eq!(run(&mut replayed, step), run(&mut original, step));
                }
                prop_assert_eq!(&replayed, &game);
                prop_assert_eq!(replayed.outcome(), game.outcome());
                for viewer in viewers(&game) {
                    prop_assert_eq!(replayed.view(viewer), game.view(viewer));
                }
            }
        }
    }
}
