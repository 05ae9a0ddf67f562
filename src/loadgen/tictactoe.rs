//! Tic-tac-toe at the load generator's tables: the board as the `move` events drew it, and a
//! random free cell for the seat on turn.

use gamehall::game::Seat;
use gamehall::protocol::{Seq, ServerMsg};
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use super::table::Table;

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

/// Both seats see the same board, so the table keeps one and applies each event once (the
/// first seat to receive it), by `seq`.
pub struct TicTacToeTable {
    board: [Option<Seat>; 9],
    turn: Seat,
    seq: Seq,
    over: bool,
}

impl TicTacToeTable {
    pub fn new() -> Self {
        TicTacToeTable {
            board: [None; 9],
            turn: 0,
            seq: 0,
            over: false,
        }
    }

    fn decided(&self) -> bool {
        LINES.iter().any(|line| {
            let [a, b, c] = line.map(|i| self.board[i]);
            a.is_some() && a == b && b == c
        }) || self.board.iter().all(Option::is_some)
    }

    /// A `state` or `joined` snapshot: `{"board": [null|"X"|"O"; 9], "turn": seat|null}`.
    fn load(&mut self, seq: Seq, state: &Value) {
        if seq < self.seq {
            return;
        }
        if let Some(cells) = state.get("board").and_then(Value::as_array) {
            for (i, cell) in cells.iter().take(9).enumerate() {
                self.board[i] = match cell.as_str() {
                    Some("X") => Some(0),
                    Some("O") => Some(1),
                    _ => None,
                };
            }
        }
        match state.get("turn").and_then(Value::as_u64) {
            Some(turn) => self.turn = turn as Seat,
            None if state.get("board").is_some() => self.over = self.decided(),
            None => {}
        }
        self.seq = seq;
    }
}

impl Table for TicTacToeTable {
    fn observe(&mut self, _seat: Seat, msg: &ServerMsg) {
        match msg {
            ServerMsg::Joined { seq, state, .. } | ServerMsg::State { seq, state, .. } => {
                self.load(*seq, state)
            }
            ServerMsg::Event {
                seq, kind, data, ..
            } if *seq > self.seq => {
                self.seq = *seq;
                if kind == "move" {
                    let cell = data.get("cell").and_then(Value::as_u64);
                    let seat = data.get("seat").and_then(Value::as_u64);
                    if let (Some(cell), Some(seat)) = (cell, seat) {
                        if let Some(slot) = self.board.get_mut(cell as usize) {
                            *slot = Some(seat as Seat);
                        }
                        self.turn = 1 - (seat as Seat).min(1);
                    }
                    self.over = self.decided();
                }
            }
            ServerMsg::GameOver { .. } => self.over = true,
            _ => {}
        }
    }

    fn turn(&self) -> Option<Seat> {
        (!self.over).then_some(self.turn)
    }

    fn choose(&mut self, _seat: Seat, rng: &mut ChaCha8Rng) -> Value {
        let free: Vec<usize> = (0..9).filter(|&i| self.board[i].is_none()).collect();
        // A table that is not over has a free cell; should it not, cell 0 draws the server's
        // `illegal_move`, which the run counts.
        let cell = free.choose(rng).copied().unwrap_or(0);
        json!({ "cell": cell })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::borrow::Cow;

    fn event(seq: Seq, seat: u64, cell: u64) -> ServerMsg {
        ServerMsg::Event {
            seq,
            kind: Cow::Borrowed("move"),
            data: json!({"seat": seat, "cell": cell, "mark": if seat == 0 {"X"} else {"O"}}),
            reference: None,
        }
    }

    #[test]
    fn moves_seen_by_both_seats_apply_once_and_the_turn_alternates() {
        let mut table = TicTacToeTable::new();
        table.observe(
            0,
            &ServerMsg::State {
                seq: 1,
                state: json!({"board": [null,null,null,null,null,null,null,null,null], "turn": 0}),
                reference: None,
            },
        );
        assert_eq!(table.turn(), Some(0));
        table.observe(0, &event(2, 0, 4));
        table.observe(1, &event(2, 0, 4));
        assert_eq!(table.turn(), Some(1));
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..50 {
            assert_ne!(table.choose(1, &mut rng), json!({"cell": 4}));
        }
    }

    #[test]
    fn a_line_ends_the_game() {
        let mut table = TicTacToeTable::new();
        for (seq, (seat, cell)) in [(0, 0), (1, 3), (0, 1), (1, 4), (0, 2)].iter().enumerate() {
            table.observe(0, &event(seq as Seq + 2, *seat, *cell));
        }
        assert_eq!(table.turn(), None);
    }
}
