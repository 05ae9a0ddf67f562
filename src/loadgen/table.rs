//! A turn-based table as the load generator plays it: what it knows of the game from the frames
//! each seat received, whose move it is, and a random legal move for that seat. A table never
//! sees the server's game code; it learns the game from the wire like any client.

use gamehall::game::Seat;
use gamehall::protocol::ServerMsg;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use super::crazy_eights::CrazyEightsTable;
use super::tictactoe::TicTacToeTable;

pub trait Table: Send {
    /// Learns from one frame that `seat`'s connection received (`joined` state, `state`,
    /// `event`, `game_over`).
    fn observe(&mut self, seat: Seat, msg: &ServerMsg);
    /// The seat to move, or `None` when the table believes the game is decided.
    fn turn(&self) -> Option<Seat>;
    /// A random legal action for `seat`.
    fn choose(&mut self, seat: Seat, rng: &mut ChaCha8Rng) -> Value;
}

/// A turn-based game the load generator can play.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TurnGame {
    Tictactoe,
    #[value(name = "crazy_eights")]
    CrazyEights,
}

impl TurnGame {
    /// The game kind's name on the server.
    pub fn kind(self) -> &'static str {
        match self {
            TurnGame::Tictactoe => "tictactoe",
            TurnGame::CrazyEights => "crazy_eights",
        }
    }

    /// Room options for `players` seats.
    pub fn options(self, players: u8) -> Value {
        serde_json::json!({ "players": players })
    }

    /// Seats per table when the operator does not say.
    pub fn default_players(self) -> u8 {
        2
    }

    pub fn table(self, players: u8) -> Box<dyn Table> {
        match self {
            TurnGame::Tictactoe => Box::new(TicTacToeTable::new()),
            TurnGame::CrazyEights => Box::new(CrazyEightsTable::new(players)),
        }
    }
}
