//! Tic-tac-toe: the action, the view and its `move` event.

use serde::{Deserialize, Serialize};

use crate::game::Seat;

/// Place your mark on `cell` (0..=8, left to right, top to bottom).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Place {
    pub cell: u8,
}

/// The eight lines of three, by cell.
const LINES: [[usize; 3]; 8] = [
    [0, 1, 2],
    [3, 4, 5],
    [6, 7, 8],
    [0, 3, 6],
    [1, 4, 7],
    [2, 5, 8],
    [0, 4, 8],
    [2, 4, 6],
];

/// A tic-tac-toe `state`: `{"board":[null,"X",…],"marks":["X","O"],"turn":1}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicTacToeView {
    /// Nine cells, `"X"`, `"O"` or empty.
    pub board: Vec<Option<String>>,
    /// The seat to move; `None` once the rules have ended the game.
    pub turn: Option<Seat>,
    /// `marks[seat]` is that seat's mark.
    pub marks: Vec<String>,
}

/// The data of a `move` event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Move {
    pub seat: Seat,
    pub cell: u8,
    pub mark: String,
}

impl TicTacToeView {
    /// Follows one `move` event: marks the cell and passes the turn, or ends it when the move
    /// made a line or filled the board.
    pub fn apply(&mut self, mv: &Move) {
        if let Some(cell) = self.board.get_mut(usize::from(mv.cell)) {
            *cell = Some(mv.mark.clone());
        }
        let line = LINES.iter().any(|line| {
            line.iter()
                .all(|&i| self.board.get(i).and_then(Option::as_deref) == Some(mv.mark.as_str()))
        });
        let full = self.board.iter().all(Option::is_some);
        self.turn = (!line && !full).then_some(1 - mv.seat.min(1));
    }

    /// The cells still free: every legal [`Place`] for the seat on turn.
    pub fn free_cells(&self) -> Vec<u8> {
        (0u8..)
            .zip(&self.board)
            .filter(|(_, cell)| cell.is_none())
            .map(|(i, _)| i)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::game::tictactoe::TicTacToe;
    use crate::game::{Game, Viewer};

    #[test]
    fn the_view_follows_the_games_events_to_the_end() {
        let mut game = TicTacToe::new();
        let mut view: TicTacToeView = serde_json::from_value(game.view(Viewer::Spectator)).unwrap();
        for (seat, cell) in [
            (0, 4),
            (1, 0),
            (0, 2),
            (1, 6),
            (0, 3),
            (1, 5),
            (0, 1),
            (1, 7),
        ] {
            assert_eq!(view.turn, Some(seat));
            assert!(view.free_cells().contains(&cell));
            let events = game.apply(seat, &json!(Place { cell })).unwrap();
            for event in events {
                view.apply(&serde_json::from_value(event.data).unwrap());
            }
            let server: TicTacToeView =
                serde_json::from_value(game.view(Viewer::Seat(seat))).unwrap();
            assert_eq!(view, server);
        }
        // O's 7 made no line; X's last cell fills the board without one.
        game.apply(0, &json!(Place { cell: 8 })).unwrap();
        view.apply(&Move {
            seat: 0,
            cell: 8,
            mark: "X".into(),
        });
        assert_eq!(view.turn, None);
        assert_eq!(
            view,
            serde_json::from_value(game.view(Viewer::Spectator)).unwrap()
        );
        assert!(view.free_cells().is_empty());
    }
}
