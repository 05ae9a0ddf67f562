//! Diesel tables of the archive, one module per backend:
//! `pg::archive::{completed_games, game_events}` and `sqlite::{completed_games, game_events}`.
//!
//! One `table!` cannot serve both. In PostgreSQL the tables live in schema `archive`, so the
//! PostgreSQL `table!` must say `archive.completed_games` (SQL `"archive"."completed_games"`),
//! a name SQLite cannot resolve; and the column types differ: `Jsonb`/`Timestamptz` there,
//! `Text`/`Timestamp` here (SQLite has neither JSONB nor time zones), so the Rust types differ
//! too (`serde_json::Value`/`DateTime<Utc>` against `String`/`NaiveDateTime` in UTC).
//!
//! Both files are generated; do not edit them by hand (see diesel.toml):
//! - `pg.rs` is rewritten by `diesel migration run` against PostgreSQL;
//! - `sqlite.rs` by `diesel print-schema --config-file /dev/null
//!   --sqlite-integer-primary-key-is-bigint --database-url <migrated sqlite file>`
//!   (ids are `BigInt` so that both backends read them as `i64`).

pub mod pg;
pub mod sqlite;
