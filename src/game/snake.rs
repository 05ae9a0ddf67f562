//! Snake: 2 to 4 players steer snakes on a grid in real time.
//!
//! The room ticks the game `tick_hz` times a second. Between ticks a player's input
//! (`{"dir": "up"|"down"|"left"|"right"}`) is only queued, the latest one per seat winning; each
//! tick every living snake moves one cell. Walls and bodies kill, eating food grows a snake by
//! one cell and new food appears on a free cell drawn from the game's seeded RNG. The last snake
//! alive wins; if the last ones die on the same tick it is a draw; at `max_ticks` the longest
//! living snake wins (a tie is a draw). Scores are the snakes' lengths.
//!
//! Coordinates are `[x, y]` from the top-left corner: `up` is towards `y = 0`.

use std::collections::VecDeque;
use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::options::OptionsReader;
use super::{
    seeded_rng, Game, GameConfig, GameEvent, GameKind, OptionsError, Outcome, Rejection, Seat,
    Viewer,
};

pub const NAME: &str = "snake";

const OPTION_FIELDS: [&str; 5] = ["players", "tick_hz", "width", "height", "max_ticks"];
/// Cells in a snake at the start.
const START_LENGTH: usize = 3;

/// A room's snake options, as `configure` normalised them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SnakeOptions {
    players: u64,
    tick_hz: u64,
    width: u64,
    height: u64,
    max_ticks: u64,
}

impl SnakeOptions {
    fn read(options: &Value) -> Result<Self, OptionsError> {
        let reader = OptionsReader::new(NAME, options, &OPTION_FIELDS)?;
        Ok(SnakeOptions {
            players: reader.integer("players", 2..=4, 2)?,
            tick_hz: reader.integer("tick_hz", 5..=60, 20)?,
            width: reader.integer("width", 10..=64, 32)?,
            height: reader.integer("height", 10..=64, 24)?,
            max_ticks: reader.integer("max_ticks", 100..=20_000, 3600)?,
        })
    }

    fn to_json(self) -> Value {
        json!({
            "players": self.players,
            "tick_hz": self.tick_hz,
            "width": self.width,
            "height": self.height,
            "max_ticks": self.max_ticks,
        })
    }
}

pub struct SnakeKind;

impl GameKind for SnakeKind {
    fn name(&self) -> &'static str {
        NAME
    }

    fn configure(&self, options: &Value) -> Result<GameConfig, OptionsError> {
        let options = SnakeOptions::read(options)?;
        Ok(GameConfig {
            // Bounded to 2..=4 by `read`.
            seats: options.players as Seat,
            options: options.to_json(),
            tick: Some(Duration::from_secs(1) / options.tick_hz as u32),
            turn_timeout: None,
        })
    }

    fn setup(&self, config: &GameConfig, seed: u64) -> Box<dyn Game> {
        // `config` comes from `configure`, so its options always read back; should they not,
        // the defaults for its seat count still make a playable game rather than a panic.
        let options = SnakeOptions::read(&config.options).unwrap_or(SnakeOptions {
            players: u64::from(config.seats.clamp(2, 4)),
            tick_hz: 20,
            width: 32,
            height: 24,
            max_ticks: 3600,
        });
        Box::new(SnakeGame::new(options, seed))
    }
}

/// Where a snake is heading.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Up,
    Down,
    Left,
    Right,
}

impl Direction {
    pub const ALL: [Direction; 4] = [
        Direction::Up,
        Direction::Down,
        Direction::Left,
        Direction::Right,
    ];

    fn opposite(self) -> Direction {
        match self {
            Direction::Up => Direction::Down,
            Direction::Down => Direction::Up,
            Direction::Left => Direction::Right,
            Direction::Right => Direction::Left,
        }
    }

    fn step(self, (x, y): Cell) -> Cell {
        match self {
            Direction::Up => (x, y - 1),
            Direction::Down => (x, y + 1),
            Direction::Left => (x - 1, y),
            Direction::Right => (x + 1, y),
        }
    }
}

/// `[x, y]`; signed so that a step off the board is representable.
type Cell = (i32, i32);

/// One seat's snake.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Snake {
    /// Head first. Empty once the snake is dead: a dead snake leaves the board.
    body: VecDeque<Cell>,
    /// The direction of its last move.
    dir: Direction,
    /// The latest input since the last tick.
    queued: Option<Direction>,
    alive: bool,
    /// Cells it had when it last moved; kept after death as its score.
    length: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Steer {
    dir: Direction,
}

const STEER_SHAPE: &str = r#"expected {"dir": "up"|"down"|"left"|"right"}"#;

pub struct SnakeGame {
    width: i32,
    height: i32,
    tick_hz: u64,
    max_ticks: u64,
    tick: u64,
    snakes: Vec<Snake>,
    food: Vec<Cell>,
    /// Food on the board whenever there is room for it: one piece per seat.
    food_wanted: usize,
    rng: ChaCha8Rng,
    outcome: Option<Outcome>,
}

impl SnakeGame {
    fn new(options: SnakeOptions, seed: u64) -> Self {
        // Bounded by `SnakeOptions::read` to 10..=64.
        let (w, h) = (options.width as i32, options.height as i32);
        let starts = [
            ((3, h / 4), Direction::Right),
            ((w - 4, h - 1 - h / 4), Direction::Left),
            ((w - 1 - w / 4, 3), Direction::Down),
            ((w / 4, h - 4), Direction::Up),
        ];
        let snakes = starts
            .iter()
            .take(options.players as usize)
            .map(|&(head, dir)| {
                let body = (0..START_LENGTH)
                    .scan(head, |cell, _| {
                        let here = *cell;
                        *cell = dir.opposite().step(here);
                        Some(here)
                    })
                    .collect();
                Snake {
                    body,
                    dir,
                    queued: None,
                    alive: true,
                    length: START_LENGTH,
                }
            })
            .collect::<Vec<_>>();
        let mut game = SnakeGame {
            width: w,
            height: h,
            tick_hz: options.tick_hz,
            max_ticks: options.max_ticks,
            tick: 0,
            food_wanted: snakes.len(),
            snakes,
            food: Vec::new(),
            rng: seeded_rng(seed),
            outcome: None,
        };
        game.spawn_food();
        game
    }

    fn on_board(&self, (x, y): Cell) -> bool {
        (0..self.width).contains(&x) && (0..self.height).contains(&y)
    }

    fn index(&self, (x, y): Cell) -> usize {
        (y * self.width + x) as usize
    }

    /// Tops the food up to `food_wanted`, each piece on a free cell drawn from the RNG.
    fn spawn_food(&mut self) {
        while self.food.len() < self.food_wanted {
            let mut taken = vec![false; (self.width * self.height) as usize];
            for cell in self
                .snakes
                .iter()
                .flat_map(|s| s.body.iter())
                .chain(&self.food)
            {
                let i = self.index(*cell);
                taken[i] = true;
            }
            let free: Vec<usize> = (0..taken.len()).filter(|&i| !taken[i]).collect();
            if free.is_empty() {
                return;
            }
            let pick = free[self.rng.gen_range(0..free.len())] as i32;
            self.food.push((pick % self.width, pick / self.width));
        }
    }

    fn decide(&self) -> Option<Outcome> {
        let living: Vec<Seat> = (0..self.snakes.len())
            .filter(|&i| self.snakes[i].alive)
            .map(|i| i as Seat)
            .collect();
        let mut outcome = match living.as_slice() {
            [] => Outcome::draw(),
            [winner] => Outcome::win(*winner),
            _ if self.tick >= self.max_ticks => {
                let longest = living
                    .iter()
                    .map(|&s| self.snakes[s as usize].length)
                    .max()
                    .unwrap_or(0);
                let leaders: Vec<Seat> = living
                    .into_iter()
                    .filter(|&s| self.snakes[s as usize].length == longest)
                    .collect();
                match leaders.as_slice() {
                    [winner] => Outcome::win(*winner),
                    _ => Outcome::draw(),
                }
            }
            _ => return None,
        };
        outcome.scores = Some(self.snakes.iter().map(|s| s.length as i64).collect());
        Some(outcome)
    }

    fn snakes_json(&self) -> Value {
        Value::Array(
            self.snakes
                .iter()
                .enumerate()
                .map(|(seat, s)| {
                    json!({
                        "seat": seat,
                        "body": s.body.iter().map(|&(x, y)| [x, y]).collect::<Vec<_>>(),
                        "dir": s.dir,
                        "alive": s.alive,
                        "length": s.length,
                    })
                })
                .collect(),
        )
    }

    fn food_json(&self) -> Value {
        json!(self.food.iter().map(|&(x, y)| [x, y]).collect::<Vec<_>>())
    }
}

impl Game for SnakeGame {
    fn apply(&mut self, seat: Seat, action: &Value) -> Result<Vec<GameEvent>, Rejection> {
        if self.outcome.is_some() {
            return Err(Rejection::GameOver);
        }
        if !action.is_object() {
            return Err(Rejection::BadAction(STEER_SHAPE.into()));
        }
        let Steer { dir } = Steer::deserialize(action)
            .map_err(|err| Rejection::BadAction(format!("{STEER_SHAPE}: {err}")))?;
        let snake = self
            .snakes
            .get_mut(seat as usize)
            .ok_or_else(|| Rejection::IllegalMove(format!("seat {seat} has no snake")))?;
        if !snake.alive {
            return Err(Rejection::IllegalMove("your snake is dead".into()));
        }
        if dir == snake.dir.opposite() {
            return Err(Rejection::IllegalMove(format!(
                "cannot turn {} while moving {}: that reverses into yourself",
                json!(dir),
                json!(snake.dir)
            )));
        }
        snake.queued = Some(dir);
        Ok(Vec::new())
    }

    fn tick(&mut self) -> Vec<GameEvent> {
        if self.outcome.is_some() {
            return Vec::new();
        }
        self.tick += 1;
        for snake in self.snakes.iter_mut().filter(|s| s.alive) {
            if let Some(dir) = snake.queued.take() {
                snake.dir = dir;
            }
        }
        let heads: Vec<Option<Cell>> = self
            .snakes
            .iter()
            .map(|s| match (s.alive, s.body.front()) {
                (true, Some(&head)) => Some(s.dir.step(head)),
                _ => None,
            })
            .collect();
        let grows: Vec<bool> = heads
            .iter()
            .map(|head| head.is_some_and(|h| self.food.contains(&h)))
            .collect();
        // Every cell a body covers once all snakes have moved, heads aside: a tail moves away
        // unless its snake eats, so chasing a tail is safe. Moves are simultaneous: a snake
        // dying this tick still blocks the others on it.
        let mut covered = vec![false; (self.width * self.height) as usize];
        for (i, snake) in self.snakes.iter().enumerate().filter(|(_, s)| s.alive) {
            let keep = if grows[i] {
                snake.body.len()
            } else {
                snake.body.len().saturating_sub(1)
            };
            for cell in snake.body.iter().take(keep) {
                covered[self.index(*cell)] = true;
            }
        }
        let dies: Vec<bool> = heads
            .iter()
            .enumerate()
            .map(|(i, head)| match head {
                None => false,
                Some(head) => {
                    !self.on_board(*head)
                        || covered[self.index(*head)]
                        || heads
                            .iter()
                            .enumerate()
                            .any(|(j, other)| j != i && other.as_ref() == Some(head))
                }
            })
            .collect();
        for (i, head) in heads.into_iter().enumerate() {
            let Some(head) = head else { continue };
            let snake = &mut self.snakes[i];
            if dies[i] {
                snake.alive = false;
                snake.body.clear();
                continue;
            }
            snake.body.push_front(head);
            if grows[i] {
                self.food.retain(|f| *f != head);
            } else {
                snake.body.pop_back();
            }
            snake.length = snake.body.len();
        }
        self.spawn_food();
        self.outcome = self.decide();
        vec![GameEvent::public(
            "tick",
            json!({
                "tick": self.tick,
                "snakes": self.snakes_json(),
                "food": self.food_json(),
            }),
        )]
    }

    fn view(&self, _viewer: Viewer) -> Value {
        json!({
            "width": self.width,
            "height": self.height,
            "tick": self.tick,
            "tick_hz": self.tick_hz,
            "snakes": self.snakes_json(),
            "food": self.food_json(),
        })
    }

    fn outcome(&self) -> Option<Outcome> {
        self.outcome.clone()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::game::OutcomeKind;

    fn options(players: u64) -> SnakeOptions {
        SnakeOptions {
            players,
            tick_hz: 20,
            width: 20,
            height: 20,
            max_ticks: 1000,
        }
    }

    /// A game whose snakes are exactly `bodies` (head first) with their directions, and whose
    /// only food is `food`.
    fn arranged(bodies: &[(&[Cell], Direction)], food: &[Cell]) -> SnakeGame {
        let mut game = SnakeGame::new(options(bodies.len() as u64), 1);
        game.snakes = bodies
            .iter()
            .map(|(body, dir)| Snake {
                body: body.iter().copied().collect(),
                dir: *dir,
                queued: None,
                alive: true,
                length: body.len(),
            })
            .collect();
        game.food = food.to_vec();
        game.food_wanted = food.len();
        game
    }

    fn steer(game: &mut SnakeGame, seat: Seat, dir: &str) -> Result<Vec<GameEvent>, Rejection> {
        game.apply(seat, &json!({ "dir": dir }))
    }

    #[test]
    fn options_default_and_are_bounded() {
        let config = SnakeKind.configure(&Value::Null).unwrap();
        assert_eq!(config.seats, 2);
        assert_eq!(config.tick, Some(Duration::from_millis(50)));
        assert_eq!(config.turn_timeout, None);
        assert_eq!(
            config.options,
            json!({"players": 2, "tick_hz": 20, "width": 32, "height": 24, "max_ticks": 3600})
        );
        let config = SnakeKind
            .configure(&json!({"players": 4, "tick_hz": 60, "width": 10, "height": 64}))
            .unwrap();
        assert_eq!(config.seats, 4);
        assert_eq!(config.tick, Some(Duration::from_secs(1) / 60));
        for (bad, field) in [
            (
                json!({"players": 1}),
                "players must be an integer from 2 to 4, not 1",
            ),
            (
                json!({"players": 5}),
                "players must be an integer from 2 to 4, not 5",
            ),
            (
                json!({"tick_hz": 4}),
                "tick_hz must be an integer from 5 to 60, not 4",
            ),
            (
                json!({"tick_hz": 61}),
                "tick_hz must be an integer from 5 to 60",
            ),
            (
                json!({"width": 9}),
                "width must be an integer from 10 to 64",
            ),
            (
                json!({"height": 65}),
                "height must be an integer from 10 to 64",
            ),
            (
                json!({"max_ticks": 99}),
                "max_ticks must be an integer from 100 to 20000",
            ),
            (json!({"tick_hz": "fast"}), "tick_hz must be an integer"),
            (json!({"speed": 3}), "unknown option \"speed\""),
        ] {
            match SnakeKind.configure(&bad) {
                Err(OptionsError::Invalid(message)) => {
                    assert!(message.contains(field), "{bad}: {message}")
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn snakes_start_apart_on_the_smallest_board() {
        let game = SnakeGame::new(
            SnakeOptions {
                players: 4,
                width: 10,
                height: 10,
                ..options(4)
            },
            9,
        );
        let mut cells: Vec<Cell> = game.snakes.iter().flat_map(|s| s.body.clone()).collect();
        assert_eq!(cells.len(), 12);
        assert!(cells.iter().all(|c| game.on_board(*c)));
        cells.extend(&game.food);
        let count = cells.len();
        cells.sort();
        cells.dedup();
        assert_eq!(cells.len(), count, "no two things share a cell");
        assert_eq!(game.food.len(), 4);
    }

    #[test]
    fn inputs_are_queued_until_the_tick_and_the_latest_wins() {
        let mut game = arranged(
            &[
                (&[(5, 5), (4, 5), (3, 5)], Direction::Right),
                (&[(5, 15), (4, 15), (3, 15)], Direction::Right),
            ],
            &[(19, 19)],
        );
        assert_eq!(steer(&mut game, 0, "up"), Ok(Vec::new()));
        assert_eq!(steer(&mut game, 0, "down"), Ok(Vec::new()));
        // Nothing moved yet.
        assert_eq!(game.snakes[0].body.front(), Some(&(5, 5)));
        let events = game.tick();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, "tick");
        assert_eq!(events[0].data["tick"], 1);
        assert_eq!(
            events[0].data["snakes"][0]["body"],
            json!([[5, 6], [5, 5], [4, 5]])
        );
        assert_eq!(events[0].data["snakes"][0]["dir"], "down");
        assert_eq!(events[0].data["snakes"][1]["body"][0], json!([6, 15]));
        assert_eq!(events[0].data["food"], json!([[19, 19]]));
        // The queue is consumed: the next tick keeps going down.
        game.tick();
        assert_eq!(game.snakes[0].body.front(), Some(&(5, 7)));
    }

    #[test]
    fn bad_inputs_are_refused_and_change_nothing() {
        let mut game = arranged(
            &[
                (&[(5, 5), (4, 5), (3, 5)], Direction::Right),
                (&[(5, 15), (4, 15), (3, 15)], Direction::Right),
            ],
            &[],
        );
        assert!(matches!(
            steer(&mut game, 0, "left"),
            Err(Rejection::IllegalMove(m)) if m.contains("reverses")
        ));
        for bad in [
            json!({"dir": "north"}),
            json!({"dir": 1}),
            json!({}),
            json!({"dir": "up", "speed": 2}),
            json!("up"),
            json!(null),
        ] {
            assert!(
                matches!(game.apply(0, &bad), Err(Rejection::BadAction(_))),
                "{bad}"
            );
        }
        assert_eq!(game.snakes[0].queued, None);
        game.snakes[1].alive = false;
        assert_eq!(
            steer(&mut game, 1, "up"),
            Err(Rejection::IllegalMove("your snake is dead".into()))
        );
    }

    #[test]
    fn a_wall_kills_and_the_other_snake_wins() {
        let mut game = arranged(
            &[
                (&[(19, 5), (18, 5), (17, 5)], Direction::Right),
                (&[(5, 15), (4, 15), (3, 15)], Direction::Right),
            ],
            &[],
        );
        let events = game.tick();
        let snake = &events[0].data["snakes"][0];
        assert_eq!(snake["alive"], false);
        assert_eq!(snake["body"], json!([]));
        assert_eq!(snake["length"], 3);
        let outcome = game.outcome().unwrap();
        assert_eq!(outcome.result, OutcomeKind::Win);
        assert_eq!(outcome.winners, vec![1]);
        assert_eq!(outcome.scores, Some(vec![3, 3]));
        assert_eq!(steer(&mut game, 1, "up"), Err(Rejection::GameOver));
        assert!(game.tick().is_empty(), "no ticks after the end");
    }

    #[test]
    fn running_into_yourself_kills_but_chasing_your_tail_does_not() {
        // Five cells long, moving right; up, left, down runs into its own body.
        let mut game = arranged(
            &[
                (&[(5, 5), (4, 5), (3, 5), (2, 5), (1, 5)], Direction::Right),
                (&[(5, 15), (4, 15), (3, 15)], Direction::Right),
            ],
            &[],
        );
        for dir in ["up", "left", "down"] {
            steer(&mut game, 0, dir).unwrap();
            game.tick();
        }
        assert!(!game.snakes[0].alive);
        assert_eq!(game.outcome().map(|o| o.winners), Some(vec![1]));

        // A four-cell square: the head moves into the cell its tail leaves on the same tick.
        let mut game = arranged(
            &[
                (&[(5, 5), (4, 5), (4, 6), (5, 6)], Direction::Right),
                (&[(5, 15), (4, 15), (3, 15)], Direction::Right),
            ],
            &[],
        );
        steer(&mut game, 0, "down").unwrap();
        game.tick();
        assert!(game.snakes[0].alive);
        assert_eq!(
            game.snakes[0].body,
            VecDeque::from([(5, 6), (5, 5), (4, 5), (4, 6)])
        );
    }

    #[test]
    fn a_head_on_collision_kills_both_and_is_a_draw() {
        // Heads meet on the same cell.
        let mut game = arranged(
            &[
                (&[(4, 5), (3, 5), (2, 5)], Direction::Right),
                (&[(6, 5), (7, 5), (8, 5)], Direction::Left),
            ],
            &[],
        );
        game.tick();
        assert!(game.snakes.iter().all(|s| !s.alive));
        let outcome = game.outcome().unwrap();
        assert_eq!(outcome.result, OutcomeKind::Draw);
        assert_eq!(outcome.scores, Some(vec![3, 3]));

        // Heads swap places: each runs into the other's neck.
        let mut game = arranged(
            &[
                (&[(5, 5), (4, 5), (3, 5)], Direction::Right),
                (&[(6, 5), (7, 5), (8, 5)], Direction::Left),
            ],
            &[],
        );
        game.tick();
        assert_eq!(game.outcome().map(|o| o.result), Some(OutcomeKind::Draw));
    }

    #[test]
    fn the_last_snake_alive_wins_a_three_player_game() {
        let mut game = arranged(
            &[
                (&[(19, 2), (18, 2), (17, 2)], Direction::Right),
                (&[(5, 10), (4, 10), (3, 10)], Direction::Right),
                (&[(5, 15), (4, 15), (3, 15)], Direction::Right),
            ],
            &[],
        );
        game.tick();
        assert!(!game.snakes[0].alive);
        assert_eq!(game.outcome(), None, "two snakes are left");
        steer(&mut game, 1, "down").unwrap();
        steer(&mut game, 2, "up").unwrap();
        // Seat 1 turns down from (6, 10) and seat 2 up from (6, 15), in the same column: on the
        // fourth tick each runs into the other's neck, and both die.
        while game.outcome().is_none() {
            game.tick();
        }
        assert_eq!(game.outcome().map(|o| o.result), Some(OutcomeKind::Draw));

        let mut game = arranged(
            &[
                (&[(19, 2), (18, 2), (17, 2)], Direction::Right),
                (&[(5, 10), (4, 10), (3, 10)], Direction::Right),
                (&[(19, 15), (18, 15), (17, 15)], Direction::Right),
            ],
            &[],
        );
        game.tick();
        assert_eq!(game.outcome().map(|o| o.winners), Some(vec![1]));
    }

    #[test]
    fn eating_grows_by_one_and_food_comes_back() {
        let mut game = arranged(
            &[
                (&[(5, 5), (4, 5), (3, 5)], Direction::Right),
                (&[(5, 15), (4, 15), (3, 15)], Direction::Right),
            ],
            &[(6, 5)],
        );
        let events = game.tick();
        assert_eq!(game.snakes[0].length, 4);
        assert_eq!(
            game.snakes[0].body,
            VecDeque::from([(6, 5), (5, 5), (4, 5), (3, 5)])
        );
        assert_eq!(events[0].data["snakes"][0]["length"], 4);
        assert_eq!(game.food.len(), 1);
        let food = game.food[0];
        assert_ne!(food, (6, 5));
        assert!(game.snakes.iter().all(|s| !s.body.contains(&food)));
        assert_eq!(events[0].data["food"], json!([[food.0, food.1]]));
        // The tail stays put on the tick it eats and follows again after.
        game.tick();
        assert_eq!(game.snakes[0].body.back(), Some(&(4, 5)));
    }

    #[test]
    fn at_max_ticks_the_longest_living_snake_wins() {
        let mut game = arranged(
            &[
                (&[(5, 5), (4, 5), (3, 5), (2, 5)], Direction::Right),
                (&[(5, 15), (4, 15), (3, 15)], Direction::Right),
            ],
            &[],
        );
        game.tick = game.max_ticks - 1;
        game.tick();
        let outcome = game.outcome().unwrap();
        assert_eq!(outcome.winners, vec![0]);
        assert_eq!(outcome.scores, Some(vec![4, 3]));

        let mut game = arranged(
            &[
                (&[(5, 5), (4, 5), (3, 5)], Direction::Right),
                (&[(5, 15), (4, 15), (3, 15)], Direction::Right),
            ],
            &[],
        );
        game.tick = game.max_ticks - 2;
        game.tick();
        assert_eq!(game.outcome(), None);
        game.tick();
        assert_eq!(game.outcome().map(|o| o.result), Some(OutcomeKind::Draw));
    }

    #[test]
    fn the_view_has_the_board_and_the_rate() {
        let game = SnakeKind.setup(&SnakeKind.configure(&json!({"tick_hz": 30})).unwrap(), 5);
        let view = game.view(Viewer::Spectator);
        assert_eq!(view["width"], 32);
        assert_eq!(view["height"], 24);
        assert_eq!(view["tick"], 0);
        assert_eq!(view["tick_hz"], 30);
        assert_eq!(view["snakes"].as_array().map(Vec::len), Some(2));
        assert_eq!(view["snakes"][0]["length"], 3);
        assert_eq!(view["food"].as_array().map(Vec::len), Some(2));
        assert_eq!(game.view(Viewer::Seat(0)), view, "nothing is hidden");
    }

    /// Plays `script` (tick number → inputs) from `seed` and returns every event.
    fn play(seed: u64, players: u64, script: &[(u64, Seat, &str)]) -> Vec<GameEvent> {
        let kind = SnakeKind;
        let config = kind
            .configure(&json!({"players": players, "width": 12, "height": 12}))
            .unwrap();
        let mut game = kind.setup(&config, seed);
        let mut events = Vec::new();
        let mut tick = 0;
        while game.outcome().is_none() {
            for &(_, seat, dir) in script.iter().filter(|(t, _, _)| *t == tick) {
                let _ = game.apply(seat, &json!({ "dir": dir }));
            }
            events.extend(game.tick());
            tick += 1;
        }
        events
    }

    #[test]
    fn the_same_seed_and_inputs_play_the_same_game() {
        let script = [
            (0, 0, "down"),
            (2, 1, "up"),
            (3, 0, "right"),
            (5, 1, "left"),
        ];
        let a = play(11, 3, &script);
        assert_eq!(a, play(11, 3, &script));
        assert_ne!(a, play(12, 3, &script), "the seed places the food");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Random inputs on random seeds: snakes stay on the board and never overlap, lengths
        /// match bodies, food is on free cells, and every game ends by `max_ticks`.
        #[test]
        fn random_games_keep_the_board_consistent(
            seed in any::<u64>(),
            players in 2u64..=4,
            inputs in proptest::collection::vec((0u8..4, 0u8..4), 0..400),
        ) {
            let config = SnakeKind
                .configure(&json!({"players": players, "width": 10, "height": 10, "max_ticks": 100}))
                .unwrap();
            let mut game = SnakeGame::new(SnakeOptions::read(&config.options).unwrap(), seed);
            let dirs = ["up", "down", "left", "right"];
            let mut inputs = inputs.into_iter();
            while game.outcome.is_none() {
                for _ in 0..players {
                    if let Some((seat, dir)) = inputs.next() {
                        let _ = game.apply(seat % players as u8, &json!({ "dir": dirs[dir as usize] }));
                    }
                }
                game.tick();
                let mut cells: Vec<Cell> = Vec::new();
                for snake in &game.snakes {
                    prop_assert!(snake.body.iter().all(|c| game.on_board(*c)));
                    if snake.alive {
                        prop_assert_eq!(snake.body.len(), snake.length);
                    } else {
                        prop_assert!(snake.body.is_empty());
                    }
                    cells.extend(snake.body.iter().copied());
                }
                cells.extend(game.food.iter().copied());
                let count = cells.len();
                cells.sort();
                cells.dedup();
                prop_assert_eq!(cells.len(), count);
                prop_assert!(game.tick <= 100);
            }
        }
    }
}
