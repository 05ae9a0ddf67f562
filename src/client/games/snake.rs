//! Snake, the real-time game: the only action is a change of direction, queued by the room until
//! its next tick. The state comes with each tick as the game sends it.

use serde::{Deserialize, Serialize};

pub use crate::game::snake::Direction;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
