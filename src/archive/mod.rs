//! The archive of finished games: PostgreSQL (schema `archive`) or SQLite, chosen by
//! `DATABASE_URL`.
//!
//! - [`DatabaseUrl`] picks the backend from the URL scheme; an unknown scheme is an error, never a
//!   new SQLite file.
//! - [`run_migrations`] brings a database up to date with the migrations embedded from
//!   `migrations/postgres` or `migrations/sqlite`.
//! - [`schema`] holds the diesel tables, one module per backend.

pub mod archiver;
mod db;
pub mod pacing;
pub mod record;
mod replay;
pub mod retention;
pub mod schema;
pub mod spool;
mod sqlite_timestamp;
pub mod store;

pub use record::{
    ArchiveFinished, ArchiveGame, ArchivedAction, ArchivedEvent, ArchivedPlayer, ArchivedPrivate,
    GameRecord, JsonText,
};

pub use archiver::{
    ArchiveHandle, ArchiveHealth, ArchiveStats, ArchiveStatus, ArchiveWriter, Archiver,
    ArchiverError, ArchiverSettings, Drain, DrainReport, Flush, FlushReport,
};
pub use spool::{Spool, SpoolError};
pub use store::{
    ArchiveStore, BatchWritten, CursorError, GameCursor, GamePage, GameQuery, GameSummaryRow,
    StoreError,
};

pub use replay::{replay, ReplayError, ReplayReport};

pub use db::{
    establish_postgres, establish_sqlite, revert_all_migrations, run_migrations, DatabaseUrl,
    SqlitePragmas, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS,
};

use diesel::result::ConnectionError;

/// Everything that can go wrong while opening or migrating the archive database.
///
/// Messages never contain the database URL itself, since it may carry a password.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// `DATABASE_URL` uses a scheme we do not support.
    #[error(
        "unsupported database URL scheme `{scheme}`: expected postgres://, postgresql://, \
         sqlite://PATH or sqlite::memory:"
    )]
    UnsupportedScheme { scheme: String },

    /// `DATABASE_URL` has a supported scheme (or none) but is malformed.
    #[error("invalid database URL: {reason}")]
    BadUrl { reason: &'static str },

    /// The database could not be reached, or the new connection could not be set up.
    #[error("cannot connect to the {backend} archive database: {source}")]
    Connection {
        backend: &'static str,
        #[source]
        source: ConnectionError,
    },

    /// A migration (or the bookkeeping around it) failed; the database keeps every migration
    /// that completed before it, since each runs in its own transaction.
    #[error("archive database migration failed: {source}")]
    Migration {
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}
