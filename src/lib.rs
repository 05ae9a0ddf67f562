//! gamehall: a multiplayer game server on the actor model.
//!
//! Players connect over WebSocket ([`session`]), join rooms ([`room`]) created and supervised by
//! the [`registry`], and play games ([`game`]) whose rules know nothing of I/O. The wire format is
//! [`protocol`]; [`client`] is the typed client library the tests and tools use.

pub mod affinity;
pub mod allocator;
pub mod archive;
pub mod auth;
pub mod client;
pub mod config;
pub mod game;
pub mod http;
pub mod ids;
pub mod limits;
pub mod metrics;
pub mod monitor;
pub mod outbox;
pub mod protocol;
pub mod registry;
pub mod room;
pub mod session;
pub mod startup;
pub mod telemetry;
pub mod websocket;

pub use startup::{Application, Shutdown, ShutdownReport, StartupError};
