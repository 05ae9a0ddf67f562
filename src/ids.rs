//! Identifiers that travel on the wire and between actors.
//!
//! Room and player ids are `Arc<str>` inside so that the many clones a room makes (one per
//! member, one per summary) share one allocation.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Longest id a client may send; anything longer cannot name a room or a player of ours.
pub const MAX_ID_LEN: usize = 64;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Arc<str>);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(Arc::from(value))
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(Arc::from(value))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
    };
}

string_id!(
    /// A room, e.g. `r7kq2m9xw4`: short enough to read out loud, random enough not to guess.
    RoomId
);
string_id!(
    /// A player, the `sub` of their token (a UUID for guests).
    PlayerId
);

impl RoomId {
    pub fn generate() -> Self {
        let tail: String = rand::thread_rng()
            .sample_iter(&Alphanumeric)
            .take(11)
            .map(|b| char::from(b).to_ascii_lowercase())
            .collect();
        Self::from(format!("r{tail}"))
    }
}

impl PlayerId {
    pub fn generate() -> Self {
        Self::from(uuid::Uuid::new_v4().to_string())
    }
}

/// One finished or running game; the archive's primary key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GameId(pub uuid::Uuid);

impl GameId {
    /// A version 7 UUID: the time in milliseconds, then 74 random bits. Ids that grow with
    /// time put each batch's new keys at the right edge of the archive's game-id indexes (the
    /// games' primary key, the events' `(game_id, seq)`), so a batch rewrites a few index
    /// pages instead of one page per game scattered across the index: less to write per batch
    /// on SQLite and PostgreSQL alike (docs/benchmarks.md, "Archive"). Still unguessable.
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7())
    }
}

impl fmt::Display for GameId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One WebSocket connection. A player may hold several over time (reconnects) and a room tells
/// them apart by this id, so a late "disconnected" from an old socket cannot unseat a new one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnId(u64);

impl ConnId {
    pub fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
    }
}
