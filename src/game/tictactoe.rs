//! Tic-tac-toe: two seats, seat 0 plays X and moves first. Action: `{"cell": 0..=8}`, cells
//! numbered left to right, top to bottom.
//!
//! Options: `{"players": 2, "turn_seconds": 5..=300}`, both optional. With `turn_seconds` each
//! move has a deadline, and a player who lets it pass forfeits (the default timeout rule).

use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};

use super::options::OptionsReader;
use super::{
    Game, GameConfig, GameEvent, GameKind, OptionsError, Outcome, Rejection, Seat, Viewer,
};

pub const NAME: &str = "tictactoe";

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

pub struct TicTacToeKind;

impl GameKind for TicTacToeKind {
    fn name(&self) -> &'static str {
        NAME
    }

    fn configure(&self, options: &Value) -> Result<GameConfig, OptionsError> {
        let reader = OptionsReader::new(NAME, options, &["players", "turn_seconds"])?;
        match options.get("players") {
            None | Some(Value::Null) => {}
            Some(players) if players.as_u64() == Some(2) => {}
            Some(players) => {
                return Err(OptionsError::Invalid(format!(
                    "tictactoe is played by exactly 2 players, not {players}"
                )))
            }
        }
        let turn_seconds = reader.optional_integer("turn_seconds", 5..=300)?;
        let mut config = GameConfig::seats(2, json!({ "players": 2 }));
        if let Some(seconds) = turn_seconds {
            config.options["turn_seconds"] = json!(seconds);
            config.turn_timeout = Some(Duration::from_secs(seconds));
        }
        Ok(config)
    }

    fn setup(&self, _config: &GameConfig, _seed: u64) -> Box<dyn Game> {
        Box::new(TicTacToe::new())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mark {
    X,
    O,
}

impl Mark {
    fn of(seat: Seat) -> Mark {
        if seat == 0 {
            Mark::X
        } else {
            Mark::O
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Mark::X => "X",
            Mark::O => "O",
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct TicTacToe {
    board: [Option<Mark>; 9],
    turn: Seat,
    outcome: Option<Outcome>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Move {
    cell: u64,
}

impl TicTacToe {
    pub fn new() -> Self {
        Self::default()
    }

    fn decide(&self) -> Option<Outcome> {
        for line in LINES {
            if let [Some(a), Some(b), Some(c)] = line.map(|i| self.board[i]) {
                if a == b && b == c {
                    return Some(Outcome::win(if a == Mark::X { 0 } else { 1 }));
                }
            }
        }
        self.board.iter().all(Option::is_some).then(Outcome::draw)
    }
}

impl Game for TicTacToe {
    fn apply(&mut self, seat: Seat, action: &Value) -> Result<Vec<GameEvent>, Rejection> {
        if self.outcome.is_some() {
            return Err(Rejection::GameOver);
        }
        if !action.is_object() {
            return Err(Rejection::BadAction("expected {\"cell\": 0..8}".into()));
        }
        let Move { cell } = Move::deserialize(action)
            .map_err(|err| Rejection::BadAction(format!("expected {{\"cell\": 0..8}}: {err}")))?;
        if seat != self.turn {
            return Err(Rejection::NotYourTurn);
        }
        let index = usize::try_from(cell)
            .ok()
            .filter(|&i| i < 9)
            .ok_or_else(|| {
                Rejection::IllegalMove(format!("cell {cell} is off the board (0..8)"))
            })?;
        if self.board[index].is_some() {
            return Err(Rejection::IllegalMove(format!("cell {cell} is taken")));
        }
        let mark = Mark::of(seat);
        self.board[index] = Some(mark);
        self.turn = 1 - self.turn;
        self.outcome = self.decide();
        Ok(vec![GameEvent::public(
            "move",
            json!({ "seat": seat, "cell": cell, "mark": mark.as_str() }),
        )])
    }

    fn view(&self, _viewer: Viewer) -> Value {
        let board: Vec<Option<&str>> = self.board.iter().map(|c| c.map(Mark::as_str)).collect();
        json!({
            "board": board,
            "turn": if self.outcome.is_some() { None } else { Some(self.turn) },
            "marks": ["X", "O"],
        })
    }

    fn outcome(&self) -> Option<Outcome> {
        self.outcome.clone()
    }

    fn turn(&self) -> Option<Seat> {
        self.outcome.is_none().then_some(self.turn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::game::OutcomeKind;

    fn play(moves: &[(Seat, u64)]) -> TicTacToe {
        let mut game = TicTacToe::new();
        for &(seat, cell) in moves {
            game.apply(seat, &json!({ "cell": cell }))
                .expect("legal move");
        }
        game
    }

    #[test]
    fn a_row_wins() {
        let game = play(&[(0, 0), (1, 3), (0, 1), (1, 4), (0, 2)]);
        assert_eq!(game.outcome(), Some(Outcome::win(0)));
    }

    #[test]
    fn o_can_win_on_a_diagonal() {
        let game = play(&[(0, 1), (1, 2), (0, 3), (1, 4), (0, 8), (1, 6)]);
        assert_eq!(game.outcome(), Some(Outcome::win(1)));
    }

    #[test]
    fn a_full_board_without_a_line_is_a_draw() {
        // X O X / X O O / O X X
        let game = play(&[
            (0, 0),
            (1, 1),
            (0, 2),
            (1, 4),
            (0, 3),
            (1, 5),
            (0, 7),
            (1, 6),
            (0, 8),
        ]);
        assert_eq!(game.outcome().map(|o| o.result), Some(OutcomeKind::Draw));
    }

    #[test]
    fn every_illegal_move_is_rejected_and_changes_nothing() {
        let mut game = play(&[(0, 4)]);
        let before = game.view(Viewer::Spectator);
        let cases = [
            (0, json!({"cell": 0}), Rejection::NotYourTurn),
            (
                1,
                json!({"cell": 4}),
                Rejection::IllegalMove("cell 4 is taken".into()),
            ),
            (
                1,
                json!({"cell": 9}),
                Rejection::IllegalMove("cell 9 is off the board (0..8)".into()),
            ),
            (
                1,
                json!({"cell": u64::MAX}),
                Rejection::IllegalMove(format!("cell {} is off the board (0..8)", u64::MAX)),
            ),
        ];
        for (seat, action, expected) in cases {
            assert_eq!(game.apply(seat, &action), Err(expected));
        }
        for bad in [
            json!({"cell": -1}),
            json!({"cell": 1.5}),
            json!({"cell": "4"}),
            json!({"cell": 1e300}),
            json!({}),
            json!(null),
            json!([4]),
            json!({"cell": 1, "extra": true}),
        ] {
            assert!(
                matches!(game.apply(1, &bad), Err(Rejection::BadAction(_))),
                "{bad}"
            );
        }
        assert_eq!(game.view(Viewer::Spectator), before);
    }

    #[test]
    fn no_move_after_the_end() {
        let mut game = play(&[(0, 0), (1, 3), (0, 1), (1, 4), (0, 2)]);
        assert_eq!(game.apply(1, &json!({"cell": 5})), Err(Rejection::GameOver));
    }

    #[test]
    fn options_are_validated() {
        let kind = TicTacToeKind;
        let config = kind.configure(&Value::Null).unwrap();
        assert_eq!(config.seats, 2);
        assert_eq!(config.turn_timeout, None);
        assert_eq!(config.options, json!({"players": 2}));
        assert_eq!(kind.configure(&json!({"players": 2})).unwrap().seats, 2);
        let invalid = |options: Value| match kind.configure(&options) {
            Err(OptionsError::Invalid(message)) => message,
            other => panic!("{options}: {other:?}"),
        };
        assert_eq!(
            invalid(json!({"players": 3})),
            "tictactoe is played by exactly 2 players, not 3"
        );
        assert!(invalid(json!({"colour": "red"})).contains(r#"unknown option "colour""#));
        for bad in [json!(4), json!(301), json!(0), json!("30"), json!(5.5)] {
            assert!(
                invalid(json!({ "turn_seconds": bad }))
                    .contains("turn_seconds must be an integer from 5 to 300"),
                "{bad}"
            );
        }
    }

    #[test]
    fn turn_seconds_sets_a_turn_timer_that_forfeits() {
        let config = TicTacToeKind
            .configure(&json!({"turn_seconds": 30}))
            .unwrap();
        assert_eq!(config.turn_timeout, Some(Duration::from_secs(30)));
        assert_eq!(config.options, json!({"players": 2, "turn_seconds": 30}));
        let mut game = play(&[(0, 4)]);
        assert_eq!(game.turn(), Some(1));
        assert_eq!(game.on_turn_timeout(1), crate::game::TimeoutRule::Forfeit);
        let game = play(&[(0, 0), (1, 3), (0, 1), (1, 4), (0, 2)]);
        assert_eq!(
            game.turn(),
            None,
            "nobody is on turn once the game is decided"
        );
    }
}
