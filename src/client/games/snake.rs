//! Snake, the real-time game: the only action is a change of direction, queued by the room until
//! its next tick. The state comes with each tick as the game sends it.

use serde::{Deserialize, Serialize};

pub use crate::game::snake::Direction;

/// Turn your snake on the next tick: `{"dir":"up"}` (the latest input before a tick wins).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Steer {
    pub dir: Direction,
}

/// Every direction, for bots that pick one.
pub const DIRECTIONS: [Direction; 4] = [
    Direction::Up,
    Direction::Down,
    Direction::Left,
    Direction::Right,
];

impl Steer {
    pub fn new(dir: Direction) -> Self {
        Steer { dir }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_have_the_wire_shape() {
        let wire: Vec<String> = DIRECTIONS
            .into_iter()
            .map(|dir| serde_json::to_string(&Steer::new(dir)).unwrap())
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
        let back: Steer = serde_json::from_str(r#"{"dir":"left"}"#).unwrap();
        assert_eq!(back.dir, Direction::Left);
    }
}
