//! The load generator's parts. Only `gamehall-loadgen` (`src/bin/gamehall-loadgen.rs`) compiles
//! this folder, through `#[path]`: the server library does not carry it.
//!
//! Every scenario has the same shape: set up (tokens, rooms, connections) with nothing recorded,
//! then a measured window bounded by `--duration` and its count, then an orderly close. Numbers are
//! taken only inside the window, so ramp-up and tear-down never dilute them; errors are counted
//! in every phase.

pub mod archive;
pub mod churn;
pub mod crazy_eights;
pub mod fdlimit;
pub mod idle;
pub mod lanes;
pub mod matches;
pub mod pacer;
pub mod probe;
pub mod realtime;
pub mod report;
pub mod run;
pub mod table;
pub mod target;
pub mod tictactoe;
pub mod wire;
