//! Snake, the real-time game: the input, the view and its `tick` event.
//!
//! The only action is a change of direction, queued by the room until its next tick; an accepted
//! input gets no reply. Every tick is one `tick` event carrying the whole board, so a client
//! takes its [`SnakeView`] from `joined`/`state` and [`SnakeView::apply`]s each [`SnakeEvent`];
//! [`SnakeView::is_deadly`] and [`SnakeView::is_contested`] say what the next tick would do to a
//! head moving into a cell.
//!
//! ```
//! use gamehall::client::games::snake::{Cell, Direction, SnakeEvent, SnakeView};
//!
//! let state = serde_json::json!({
//!     "width": 10, "height": 10, "tick": 0, "tick_hz": 5, "food": [[5, 5]],
//!     "snakes": [
//!         {"seat": 0, "body": [[9, 2], [8, 2], [7, 2]], "dir": "right", "alive": true, "length": 3},
//!         {"seat": 1, "body": [[6, 7], [7, 7], [8, 7]], "dir": "left", "alive": true, "length": 3}
//!     ]
//! });
//! let mut view = SnakeView::from_value(&state).unwrap();
//! // Seat 0 is about to leave the board: of its turns, only `up` and `down` are safe.
//! assert_eq!(view.ahead(0), Some(Cell::new(10, 2)));
//! assert!(view.is_deadly(Cell::new(10, 2)));
//! let safe: Vec<Direction> = view
//!     .directions(0)
//!     .into_iter()
//!     .filter(|&dir| !view.is_deadly(view.snake(0).unwrap().head().unwrap().step(dir)))
//!     .collect();
//! assert_eq!(safe, [Direction::Up, Direction::Down]);
//!
//! let tick = serde_json::json!({"tick": 1, "food": [[5, 5]], "snakes": [
//!     {"seat": 0, "body": [], "dir": "right", "alive": false, "length": 3},
//!     {"seat": 1, "body": [[5, 7], [6, 7], [7, 7]], "dir": "left", "alive": true, "length": 3}
//! ]});
//! let event = SnakeEvent::parse("tick", &tick).unwrap().unwrap();
//! view.apply(&event);
//! assert_eq!((view.tick, view.living()), (1, vec![1]));
//! ```

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::game::snake::Direction;
use crate::game::Seat;

/// Turn your snake: `{"dir":"up"}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnakeInput {
    pub dir: Direction,
}

impl SnakeInput {
    pub fn new(dir: Direction) -> Self {
        SnakeInput { dir }
    }
}

/// A board cell, `[x, y]` on the wire, from the top-left corner: `up` is towards `y = 0`.
/// Signed, so that the cell a step off the board leads to is representable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "(i32, i32)", into = "(i32, i32)")]
pub struct Cell {
    pub x: i32,
    pub y: i32,
}

impl Cell {
    pub fn new(x: i32, y: i32) -> Self {
        Cell { x, y }
    }

    /// The neighbouring cell in `dir`.
    pub fn step(self, dir: Direction) -> Cell {
        let Cell { x, y } = self;
        match dir {
            Direction::Up => Cell::new(x, y - 1),
            Direction::Down => Cell::new(x, y + 1),
            Direction::Left => Cell::new(x - 1, y),
            Direction::Right => Cell::new(x + 1, y),
        }
    }
}

impl From<(i32, i32)> for Cell {
    fn from((x, y): (i32, i32)) -> Self {
        Cell { x, y }
    }
}

impl From<Cell> for (i32, i32) {
    fn from(cell: Cell) -> Self {
        (cell.x, cell.y)
    }
}

/// One seat's snake, in a view or a tick.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snake {
    pub seat: Seat,
    /// Head first; empty once the snake is dead (a dead snake leaves the board).
    pub body: Vec<Cell>,
    /// The direction of its last move: where it goes next unless it turns.
    pub dir: Direction,
    pub alive: bool,
    /// Its cells when it last moved, kept after death as its score.
    pub length: usize,
}

impl Snake {
    pub fn head(&self) -> Option<Cell> {
        self.body.first().copied()
    }

    /// The directions its next input may name: all but straight back, which the game refuses.
    /// None once it is dead.
    pub fn directions(&self) -> Vec<Direction> {
        if !self.alive {
            return Vec::new();
        }
        let back = opposite(self.dir);
        Direction::ALL
            .into_iter()
            .filter(|&dir| dir != back)
            .collect()
    }
}

/// The game's own rule, which it keeps private: a snake may not reverse into its neck.
fn opposite(dir: Direction) -> Direction {
    match dir {
        Direction::Up => Direction::Down,
        Direction::Down => Direction::Up,
        Direction::Left => Direction::Right,
        Direction::Right => Direction::Left,
    }
}

/// A snake `state`, the same for every seat and spectator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnakeView {
    pub width: i32,
    pub height: i32,
    /// The last tick played; 0 before the first.
    pub tick: u64,
    /// Ticks a second: the time a client has to answer one tick before the next.
    pub tick_hz: u64,
    /// One per seat, in seat order.
    pub snakes: Vec<Snake>,
    pub food: Vec<Cell>,
}

/// The data of a `tick` event: the whole board after the tick.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tick {
    pub tick: u64,
    pub snakes: Vec<Snake>,
    pub food: Vec<Cell>,
}

/// One snake event. The game has only one kind; the enum leaves room for more without breaking
/// callers that match on it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SnakeEvent {
    Tick(Tick),
}

/// Why a frame's snake data could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SnakeParseError {
    /// `joined.state` is `null` until every seat is taken.
    #[error("the game has not started: its state is null")]
    NotStarted,
    #[error("a snake {what} does not have the game's shape: {source}")]
    Shape {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

impl SnakeView {
    /// Reads a `joined`/`state` frame's `state`.
    pub fn from_value(state: &Value) -> Result<Self, SnakeParseError> {
        if state.is_null() {
            return Err(SnakeParseError::NotStarted);
        }
        SnakeView::deserialize(state).map_err(|source| SnakeParseError::Shape {
            what: "state",
            source,
        })
    }

    /// Follows one event: a tick replaces the board.
    pub fn apply(&mut self, event: &SnakeEvent) {
        match event {
            SnakeEvent::Tick(tick) => {
                self.tick = tick.tick;
                self.snakes.clone_from(&tick.snakes);
                self.food.clone_from(&tick.food);
            }
        }
    }

    /// `seat`'s snake.
    pub fn snake(&self, seat: Seat) -> Option<&Snake> {
        self.snakes.iter().find(|s| s.seat == seat)
    }

    /// The seats whose snakes are alive.
    pub fn living(&self) -> Vec<Seat> {
        self.snakes
            .iter()
            .filter(|s| s.alive)
            .map(|s| s.seat)
            .collect()
    }

    /// The directions `seat` may turn to: see [`Snake::directions`].
    pub fn directions(&self, seat: Seat) -> Vec<Direction> {
        self.snake(seat).map(Snake::directions).unwrap_or_default()
    }

    /// The cell `seat`'s head enters on the next tick if it does not turn.
    pub fn ahead(&self, seat: Seat) -> Option<Cell> {
        let snake = self.snake(seat).filter(|s| s.alive)?;
        Some(snake.head()?.step(snake.dir))
    }

    pub fn on_board(&self, cell: Cell) -> bool {
        (0..self.width).contains(&cell.x) && (0..self.height).contains(&cell.y)
    }

    /// Whether a head moving into `cell` on the next tick surely or possibly dies of it: the
    /// cell is off the board or under a body. Tails count, though the game frees a tail's cell
    /// when its snake does not eat: a client cannot know whether a snake eats before the tick.
    pub fn is_deadly(&self, cell: Cell) -> bool {
        !self.on_board(cell) || self.snakes.iter().any(|s| s.body.contains(&cell))
    }

    /// Whether another living snake than `seat`'s could move its head into `cell` on the next
    /// tick: two heads meeting there both die.
    pub fn is_contested(&self, cell: Cell, seat: Seat) -> bool {
        self.snakes
            .iter()
            .filter(|s| s.alive && s.seat != seat)
            .filter_map(|s| Some((s.head()?, s.directions())))
            .any(|(head, dirs)| dirs.into_iter().any(|dir| head.step(dir) == cell))
    }
}

impl Tick {
    /// Reads a `tick` event's `data`.
    pub fn from_value(data: &Value) -> Result<Self, SnakeParseError> {
        Tick::deserialize(data).map_err(|source| SnakeParseError::Shape {
            what: "tick",
            source,
        })
    }
}

impl SnakeEvent {
    /// Reads an `event` frame's `kind` and `data`. `Ok(None)` for the kinds the room itself
    /// sends (`started`, `forfeit`, and any the game does not know), which change no view.
    pub fn parse(kind: &str, data: &Value) -> Result<Option<Self>, SnakeParseError> {
        match kind {
            "tick" => Ok(Some(SnakeEvent::Tick(Tick::from_value(data)?))),
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use serde_json::json;

    use super::*;
    use crate::game::snake::SnakeKind;
    use crate::game::{Game, GameKind, Viewer};

    fn new_game(options: Value, seed: u64) -> Box<dyn Game> {
        let kind = SnakeKind;
        let config = kind.configure(&options).expect("valid snake options");
        kind.setup(&config, seed)
    }

    /// The events of one tick, parsed; the game sends exactly one `tick` per tick.
    fn next_tick(game: &mut Box<dyn Game>) -> Tick {
        let events = game.tick();
        assert_eq!(events.len(), 1);
        match SnakeEvent::parse(&events[0].kind, &events[0].data) {
            Ok(Some(SnakeEvent::Tick(tick))) => tick,
            other => panic!("{}: {other:?}", events[0].data),
        }
    }

    #[test]
    fn inputs_have_the_wire_shape() {
        let wire: Vec<String> = Direction::ALL
            .into_iter()
            .map(|dir| serde_json::to_string(&SnakeInput::new(dir)).unwrap())
            .collect();
        assert_eq!(
            wire,
            [
                r#"{"dir":"up"}"#,
                r#"{"dir":"down"}"#,
                r#"{"dir":"left"}"#,
                r#"{"dir":"right"}"#
            ]
        );
        let back: SnakeInput = serde_json::from_str(r#"{"dir":"left"}"#).unwrap();
        assert_eq!(back.dir, Direction::Left);
    }

    #[test]
    fn the_view_reads_the_games_own_view() {
        let game = new_game(
            json!({"players": 4, "width": 12, "height": 10, "tick_hz": 7}),
            3,
        );
        let view = SnakeView::from_value(&game.view(Viewer::Spectator)).unwrap();
        assert_eq!(
            (view.width, view.height, view.tick, view.tick_hz),
            (12, 10, 0, 7)
        );
        assert_eq!(view.snakes.len(), 4);
        assert_eq!(view.food.len(), 4);
        assert_eq!(view.living(), [0, 1, 2, 3]);
        let dirs: Vec<Direction> = view.snakes.iter().map(|s| s.dir).collect();
        assert_eq!(
            dirs,
            [
                Direction::Right,
                Direction::Left,
                Direction::Down,
                Direction::Up
            ]
        );
        for (seat, snake) in (0..).zip(&view.snakes) {
            assert_eq!(snake.seat, seat);
            assert_eq!((snake.body.len(), snake.length), (3, 3));
            assert!(snake.alive);
            // Each body runs straight back from its head, against its direction.
            assert_eq!(snake.body[1].step(snake.dir), snake.body[0]);
            assert_eq!(view.directions(seat).len(), 3);
            assert!(!view.directions(seat).contains(&opposite(snake.dir)));
        }
        assert!(view.food.iter().all(|&f| view.on_board(f)));
        // What the client reads it writes back as the game wrote it.
        assert_eq!(json!(view), game.view(Viewer::Seat(0)));
    }

    #[test]
    fn the_view_follows_the_games_ticks_to_the_end() {
        let mut game = new_game(json!({"width": 10, "height": 10, "max_ticks": 100}), 8);
        let mut view = SnakeView::from_value(&game.view(Viewer::Spectator)).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        while game.outcome().is_none() {
            for seat in view.living() {
                let dir = *view.directions(seat).choose(&mut rng).unwrap();
                game.apply(seat, &json!(SnakeInput::new(dir)))
                    .expect("a direction the helpers allow is accepted");
            }
            let tick = next_tick(&mut game);
            assert_eq!(tick.tick, view.tick + 1);
            view.apply(&SnakeEvent::Tick(tick));
            assert_eq!(
                view,
                SnakeView::from_value(&game.view(Viewer::Spectator)).unwrap()
            );
        }
        assert!(view.living().len() <= 1 || view.tick == 100);
        let scores: Vec<i64> = view.snakes.iter().map(|s| s.length as i64).collect();
        assert_eq!(game.outcome().and_then(|o| o.scores), Some(scores));
        for snake in view.snakes.iter().filter(|s| !s.alive) {
            assert!(snake.body.is_empty() && snake.directions().is_empty());
        }
    }

    /// Ties the danger helpers to the game's rules: over many random games, a head that moves
    /// into a cell the helpers called neither deadly nor contested survives the tick, and one
    /// that leaves the board dies.
    #[test]
    fn a_cell_that_is_neither_deadly_nor_contested_is_safe() {
        let (mut safe_moves, mut falls) = (0, 0);
        for seed in 0..40 {
            let mut game = new_game(
                json!({"players": 2 + seed % 3, "width": 10, "height": 10, "max_ticks": 100}),
                seed,
            );
            let mut view = SnakeView::from_value(&game.view(Viewer::Spectator)).unwrap();
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            while game.outcome().is_none() {
                let before = view.clone();
                let mut moves = Vec::new();
                for seat in before.living() {
                    let dir = *before.directions(seat).choose(&mut rng).unwrap();
                    game.apply(seat, &json!(SnakeInput::new(dir))).unwrap();
                    let head = before.snake(seat).and_then(Snake::head).unwrap();
                    moves.push((seat, head.step(dir)));
                }
                view.apply(&SnakeEvent::Tick(next_tick(&mut game)));
                for (seat, cell) in moves {
                    let alive = view.snake(seat).is_some_and(|s| s.alive);
                    if !before.on_board(cell) {
                        assert!(!alive, "seed {seed}: seat {seat} left the board and lived");
                        falls += 1;
                    } else if !before.is_deadly(cell) && !before.is_contested(cell, seat) {
                        assert!(
                            alive,
                            "seed {seed}, tick {}: seat {seat} died on {cell:?}, a safe cell, \
                             from {}",
                            view.tick,
                            json!(before)
                        );
                        safe_moves += 1;
                    }
                }
            }
        }
        assert!(
            safe_moves > 100 && falls > 0,
            "{safe_moves} safe moves, {falls} falls"
        );
    }

    #[test]
    fn other_kinds_change_nothing_and_bad_shapes_are_typed_errors() {
        for kind in ["started", "forfeit", "turn", "chess"] {
            assert!(matches!(
                SnakeEvent::parse(kind, &json!({"seat": 0})),
                Ok(None)
            ));
        }
        assert!(matches!(
            SnakeView::from_value(&Value::Null),
            Err(SnakeParseError::NotStarted)
        ));
        for bad in [
            json!({"tick": 1, "snakes": [], "food": [[1]]}),
            json!({"tick": 1, "snakes": [{"seat": 0, "body": [], "dir": "north", "alive": false, "length": 3}], "food": []}),
            json!({"tick": "one", "snakes": [], "food": []}),
            json!([1, 2]),
        ] {
            match SnakeEvent::parse("tick", &bad) {
                Err(SnakeParseError::Shape { what: "tick", .. }) => {}
                other => panic!("{bad}: {other:?}"),
            }
        }
        let err = SnakeView::from_value(&json!({"width": 10})).unwrap_err();
        assert!(
            err.to_string().starts_with("a snake state does not have"),
            "{err}"
        );
    }
}
