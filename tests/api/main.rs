//! End-to-end tests: a real gamehall server per test, real HTTP and WebSocket clients.

mod archive;
mod bad_input;
mod bot;
mod cards;
mod cli;
mod common;
mod e2e;
mod http;
mod isolation;
mod operations;
mod play;
mod realtime;
mod reconnect;
mod retired;
mod shutdown;
mod slow_reader;
mod timers;
mod upgrade;
mod web;
