//! Reading and writing finished games: [`ArchiveStore`], over an r2d2 pool of either backend.
//!
//! Every method blocks (diesel is synchronous): call them from the archive writer's
//! `SyncArbiter` thread or inside `web::block`, never on a reactor thread.
//!
//! How a [`GameRecord`] maps to rows:
//! - `completed_games`: the summary columns (`winner_name`, `final_scores`, `seed`,
//!   `game_duration_seconds`) plus `game_data`, a versioned JSON object holding the rest
//!   (options, players, outcome, final state, start time, truncation flag);
//! - `game_events`: one row per event, `event_data` = `{data, private, action, tick, inputs}`
//!   (the last four only when set).
//!
//! Timestamps are stored with microsecond precision (PostgreSQL's), truncated the same way on
//! both backends, so a record whose times are whole microseconds reads back exactly.
//!
//! Not every row is gamehall's: `gamehall migrate` adopts a PostgreSQL archive created by the
//! seed's `init-archive.sql`, whose rows hold that system's own `game_data` and `event_data`.
//! A `game_data` without the version `v` is such a row. Listings show it with what they can
//! read (no players, no outcome); [`ArchiveStore::load_record`] answers
//! [`StoreError::Adopted`], since there is no record to rebuild from it.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use diesel::connection::{CacheSize, SimpleConnection};
use diesel::dsl::sql;
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgConnection};
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, Pool, PoolError, PooledConnection};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::serialize::{IsNull, Output, ToSql};
use diesel::sql_types::{Bool, Jsonb, Text};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::MigrationHarness;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::record::{
    ArchivedAction, ArchivedEvent, ArchivedPlayer, ArchivedPrivate, GameRecord, JsonText,
};
use super::schema::pg::archive::{completed_games as pg_games, game_events as pg_events};
use super::schema::sqlite::{completed_games as lite_games, game_events as lite_events};
use super::sqlite_timestamp::SqliteTimestamp;
use super::{ArchiveError, DatabaseUrl, SqlitePragmas, SQLITE_MIGRATIONS};
use crate::game::Outcome;

type PgPool = Pool<ConnectionManager<PgConnection>>;
type SqlitePool = Pool<ConnectionManager<SqliteConnection>>;

/// What a listing selects: id, room, kind, completion time, duration, winner, game_data.
type PgSummaryRow = (
    String,
    String,
    String,
    DateTime<Utc>,
    Option<i32>,
    Option<String>,
    Value,
);
type SqliteSummaryRow = (
    String,
    String,
    String,
    NaiveDateTime,
    Option<i32>,
    Option<String>,
    String,
);

/// The version written in every `game_data` object; bump it (and keep reading the old one) if
/// its shape ever changes.
const GAME_DATA_VERSION: u32 = 1;

/// Games encoded and inserted between two [`give_way`]s: a batch is one transaction, but its
/// work is done in slices this long (well under a millisecond of CPU for tic-tac-toe games).
/// Ten kept the move tail lower than twenty at 10,000 moves/s, and five cost about 14 % more of
/// the archive's top rate for nothing measurable (docs/benchmarks.md, "How long a slice").
/// Each slice's games go in one multi-row INSERT, far under either backend's bind-parameter
/// limit (PostgreSQL 65,535; SQLite 32,766) at 9 columns a game.
const GAMES_PER_SLICE: usize = 10;
/// Ids per `game_id IN (...)` lookup on SQLite (one bind each).
const SQLITE_IDS_PER_LOOKUP: usize = 10_000;
/// Games deleted per statement by [`ArchiveStore::prune`], so that pruning a large backlog
/// never holds one huge transaction (and its cascaded event deletes) open.
const PRUNE_CHUNK: i64 = 1_000;

/// What PostgreSQL (plancache.c, SQLSTATE 0A000) says when a prepared statement's result
/// columns changed under it. The text is localised on servers with another `lc_messages`:
/// there the first failure only makes the connection forget its statements (see
/// [`ArchiveStore::with_pg`]), and the caller's next attempt runs.
const STALE_PLAN_MESSAGE: &str = "cached plan must not change result type";

/// Longest text PostgreSQL's `VARCHAR(50)` columns take; SQLite's CHECKs use the same limits.
const MAX_ID_CHARS: usize = 50;
/// `winner_name` is `VARCHAR(100)`.
const MAX_WINNER_NAME_CHARS: usize = 100;
/// `event_type` is `VARCHAR(100)`, as in the seed's schema.
const MAX_EVENT_TYPE_CHARS: usize = 100;

/// Everything that can go wrong in the archive store. Messages never contain the database URL.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `pool_size` or `connect_timeout` was zero.
    #[error("invalid archive pool settings: {reason}")]
    BadSettings { reason: &'static str },

    /// No connection could be had within the connect timeout: the database is down or
    /// unreachable. Nothing was written.
    #[error("the {backend} archive database is unavailable: {source}")]
    Unavailable {
        backend: &'static str,
        #[source]
        source: PoolError,
    },

    /// A statement failed; for a write, the whole batch was rolled back.
    #[error("archive {op} failed: {source}")]
    Query {
        op: &'static str,
        #[source]
        source: DieselError,
    },

    /// The record can never be stored as it is (a field too long for its column, events out
    /// of order, a NUL character PostgreSQL refuses). Retrying will not help.
    #[error("game {game_id} cannot be archived: {reason}")]
    InvalidRecord { game_id: String, reason: String },

    /// A stored row does not decode into a game record.
    #[error("archived game {game_id} cannot be read back: {reason}")]
    Corrupt { game_id: String, reason: String },

    /// The game was stored by the system whose archive `gamehall migrate` adopted: its
    /// `game_data` and events are in that system's format, so there is no record to read (or
    /// replay). Listings still show it. Asking again will not help.
    #[error(
        "archived game {game_id} was not written by gamehall (it came with the archive \
         `gamehall migrate` adopted): only its summary can be read"
    )]
    Adopted { game_id: String },

    /// Migrating through [`ArchiveStore::migrate`] failed.
    #[error(transparent)]
    Migration(#[from] ArchiveError),
}

impl StoreError {
    /// True when the database could not be reached or the connection broke, so the same
    /// write may succeed later; false when the data itself (or the query) is at fault.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Unavailable { .. } => true,
            Self::Query { source, .. } => matches!(
                source,
                DieselError::BrokenTransactionManager
                    | DieselError::DatabaseError(
                        DatabaseErrorKind::ClosedConnection
                            | DatabaseErrorKind::UnableToSendCommand
                            | DatabaseErrorKind::SerializationFailure
                            | DatabaseErrorKind::ReadOnlyTransaction,
                        _
                    )
            ),
            _ => false,
        }
    }

    /// The message of a failure PostgreSQL did not classify. One kind of it is a statement the
    /// connection had prepared going stale under a change of the tables' shape (a migration
    /// that another gamehall ran while this one kept its connections): its message starts
    /// with [`STALE_PLAN_MESSAGE`], and the same statement prepared afresh runs (see
    /// [`ArchiveStore::with_pg`]).
    fn unclassified_database_message(&self) -> Option<&str> {
        match self {
            Self::Query {
                source: DieselError::DatabaseError(DatabaseErrorKind::Unknown, info),
                ..
            } => Some(info.message()),
            _ => None,
        }
    }

    /// True when this one record is at fault (it breaks a constraint or fails validation):
    /// writing it again can never succeed, so it must be set aside rather than retried.
    pub fn is_record_fault(&self) -> bool {
        match self {
            Self::InvalidRecord { .. } => true,
            Self::Query { source, .. } => matches!(
                source,
                DieselError::DatabaseError(
                    DatabaseErrorKind::UniqueViolation
                        | DatabaseErrorKind::ForeignKeyViolation
                        | DatabaseErrorKind::NotNullViolation
                        | DatabaseErrorKind::CheckViolation,
                    _
                ) | DieselError::SerializationError(_)
            ),
            _ => false,
        }
    }
}

/// What [`ArchiveStore::write_batch`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchWritten {
    /// Games newly stored by this batch.
    pub games: usize,
    /// Games of the batch that were already stored (or repeated within it), left untouched.
    pub duplicates: usize,
    /// Event rows newly stored.
    pub events: usize,
}

/// Filters and position for [`ArchiveStore::list_games`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GameQuery {
    /// Only games this player id sat in.
    pub player: Option<String>,
    /// Only games of this kind (`"tictactoe"`).
    pub game_kind: Option<String>,
    /// Games per page, 1 to [`GameQuery::MAX_LIMIT`]; values outside are clamped.
    pub limit: u32,
    /// Continue after this position (the `next` of the previous page).
    pub before: Option<GameCursor>,
}

impl GameQuery {
    pub const MAX_LIMIT: u32 = 100;
    pub const DEFAULT_LIMIT: u32 = 20;

    fn page_size(&self) -> i64 {
        i64::from(self.limit.clamp(1, Self::MAX_LIMIT))
    }
}

impl Default for GameQuery {
    fn default() -> Self {
        Self {
            player: None,
            game_kind: None,
            limit: Self::DEFAULT_LIMIT,
            before: None,
        }
    }
}

/// One page of [`ArchiveStore::list_games`], newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GamePage {
    pub games: Vec<GameSummaryRow>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<GameCursor>,
}

/// A finished game as listed: enough to show it in a table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GameSummaryRow {
    pub game_id: String,
    pub room_id: String,
    pub game_kind: String,
    pub completed_at: DateTime<Utc>,
    /// Whole seconds from start to end.
    pub duration_seconds: Option<i32>,
    pub winner_name: Option<String>,
    /// Empty for an adopted game (see [`StoreError::Adopted`]) whose `game_data` lists no
    /// players in gamehall's shape.
    pub players: Vec<ArchivedPlayer>,
    /// `None` for an adopted game, whose `game_data` holds no outcome gamehall can read.
    pub outcome: Option<Outcome>,
}

/// A position in the newest-first listing: the last game of a page. Sent to clients as an
/// opaque URL-safe string ([`GameCursor::encode`]), which is also its serde form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GameCursor {
    pub completed_at: DateTime<Utc>,
    pub game_id: String,
}

/// Why a cursor string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    #[error("cursor is too long")]
    TooLong,
    #[error("cursor is not valid base64url")]
    NotBase64,
    #[error("cursor does not name a position")]
    Malformed,
}

impl GameCursor {
    /// Longer strings are refused before decoding: a real cursor is well under this.
    const MAX_ENCODED_LEN: usize = 256;

    fn of(row: &GameSummaryRow) -> Self {
        Self {
            completed_at: row.completed_at,
            game_id: row.game_id.clone(),
        }
    }

    /// base64url (no padding) of the JSON `[microseconds since the epoch, game_id]`.
    pub fn encode(&self) -> String {
        let json = serde_json::json!([self.completed_at.timestamp_micros(), self.game_id]);
        URL_SAFE_NO_PAD.encode(json.to_string())
    }

    pub fn decode(text: &str) -> Result<Self, CursorError> {
        if text.len() > Self::MAX_ENCODED_LEN {
            return Err(CursorError::TooLong);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| CursorError::NotBase64)?;
        let (micros, game_id): (i64, String) =
            serde_json::from_slice(&bytes).map_err(|_| CursorError::Malformed)?;
        let completed_at = DateTime::from_timestamp_micros(micros).ok_or(CursorError::Malformed)?;
        Ok(Self {
            completed_at,
            game_id,
        })
    }
}

impl fmt::Display for GameCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

impl FromStr for GameCursor {
    type Err = CursorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::decode(s)
    }
}

impl Serialize for GameCursor {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.encode())
    }
}

impl<'de> Deserialize<'de> for GameCursor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::decode(&text).map_err(serde::de::Error::custom)
    }
}

/// The archive database behind a connection pool. Cheap to clone: clones share the pool.
#[derive(Clone)]
pub struct ArchiveStore {
    pool: Backend,
    url: DatabaseUrl,
}

#[derive(Clone)]
enum Backend {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

impl fmt::Debug for ArchiveStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // DatabaseUrl's Debug hides the password.
        f.debug_struct("ArchiveStore")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl ArchiveStore {
    /// Sets up a pool of at most `pool_size` connections without opening any: the server
    /// starts (and spools finished games) while the database is down. `connect_timeout` bounds
    /// how long one call waits for a connection before failing with
    /// [`StoreError::Unavailable`].
    pub fn connect(
        url: &DatabaseUrl,
        pool_size: u32,
        connect_timeout: Duration,
    ) -> Result<Self, StoreError> {
        if pool_size == 0 {
            return Err(StoreError::BadSettings {
                reason: "pool_size must be at least 1",
            });
        }
        if connect_timeout.is_zero() {
            return Err(StoreError::BadSettings {
                reason: "connect_timeout must be positive",
            });
        }
        let pool = match url {
            DatabaseUrl::Postgres(libpq_url) => {
                let manager =
                    ConnectionManager::new(with_connect_timeout(libpq_url, connect_timeout));
                Backend::Postgres(
                    Pool::builder()
                        .max_size(pool_size)
                        .min_idle(Some(0))
                        .connection_timeout(connect_timeout)
                        // Failures reach the caller as StoreError::Unavailable; r2d2's own
                        // logging would go to the `log` crate, which nobody listens to.
                        .error_handler(Box::new(diesel::r2d2::NopErrorHandler))
                        .build_unchecked(manager),
                )
            }
            DatabaseUrl::Sqlite(path) => {
                super::db::configure_sqlite_library();
                let memory = path == ":memory:";
                let builder = Pool::builder()
                    .min_idle(Some(0))
                    .connection_timeout(connect_timeout)
                    .error_handler(Box::new(diesel::r2d2::NopErrorHandler))
                    .connection_customizer(Box::new(SqlitePragmas));
                // Each connection to :memory: is its own database: keep exactly one, forever.
                let builder = if memory {
                    builder.max_size(1).idle_timeout(None).max_lifetime(None)
                } else {
                    builder.max_size(pool_size)
                };
                Backend::Sqlite(builder.build_unchecked(ConnectionManager::new(path.as_str())))
            }
        };
        Ok(Self {
            pool,
            url: url.clone(),
        })
    }

    /// "PostgreSQL" or "SQLite", for logs.
    pub fn backend(&self) -> &'static str {
        self.url.backend()
    }

    /// Applies pending migrations. Through the pool, so that it also works for
    /// `sqlite::memory:` (whose one connection is the database); PostgreSQL goes through
    /// [`super::run_migrations`] and its advisory lock.
    pub fn migrate(&self) -> Result<Vec<String>, StoreError> {
        match &self.pool {
            Backend::Postgres(_) => Ok(super::run_migrations(&self.url)?),
            Backend::Sqlite(pool) => {
                let mut conn = self.sqlite(pool)?;
                conn.run_pending_migrations(SQLITE_MIGRATIONS)
                    .map(|versions| versions.iter().map(ToString::to_string).collect())
                    .map_err(|source| StoreError::Migration(ArchiveError::Migration { source }))
            }
        }
    }

    /// How many batches may be written at once: PostgreSQL takes one per connection of the
    /// pool; SQLite lets one writer in at a time, so more would only wait on its lock.
    pub fn parallel_writers(&self) -> usize {
        match &self.pool {
            Backend::Postgres(pool) => pool.max_size() as usize,
            Backend::Sqlite(_) => 1,
        }
    }

    /// Checks that a connection can be had and answers.
    pub fn ping(&self) -> Result<(), StoreError> {
        let query = |source| StoreError::Query { op: "ping", source };
        match &self.pool {
            Backend::Postgres(pool) => {
                self.with_pg(pool, |conn| conn.batch_execute("SELECT 1").map_err(query))
            }
            Backend::Sqlite(pool) => self.sqlite(pool)?.batch_execute("SELECT 1").map_err(query),
        }
    }

    /// Stores `records` in one transaction. Idempotent: a game already stored (or repeated in
    /// the batch) is counted as a duplicate and left as it is, events included. Either every
    /// game of the batch is stored or none is.
    pub fn write_batch(&self, records: &[GameRecord]) -> Result<BatchWritten, StoreError> {
        if records.is_empty() {
            return Ok(BatchWritten::default());
        }
        for record in records {
            validate(record).map_err(|reason| StoreError::InvalidRecord {
                game_id: record.game_id.clone(),
                reason,
            })?;
        }
        // First occurrence wins, as it would against the database.
        let mut seen = HashSet::with_capacity(records.len());
        let unique: Vec<&GameRecord> = records
            .iter()
            .filter(|r| seen.insert(r.game_id.as_str()))
            .collect();
        let repeated = records.len() - unique.len();
        let query = |source| StoreError::Query {
            op: "write",
            source,
        };
        let written = match &self.pool {
            Backend::Postgres(pool) => {
                self.with_pg(pool, |conn| write_pg(conn, &unique).map_err(query))?
            }
            Backend::Sqlite(pool) => {
                write_sqlite(&mut *self.sqlite(pool)?, &unique).map_err(query)?
            }
        };
        Ok(BatchWritten {
            duplicates: written.duplicates + repeated,
            ..written
        })
    }

    /// The stored game, exactly as it was written (times at microsecond precision).
    pub fn load_record(&self, game_id: &str) -> Result<Option<GameRecord>, StoreError> {
        let query = |source| StoreError::Query { op: "load", source };
        match &self.pool {
            Backend::Postgres(pool) => self.with_pg(pool, |conn| {
                let game: Option<(String, String, Value, DateTime<Utc>, i64)> = pg_games::table
                    .find(game_id)
                    .select((
                        pg_games::room_id,
                        pg_games::game_kind,
                        pg_games::game_data,
                        pg_games::completed_at,
                        pg_games::seed,
                    ))
                    .first(conn)
                    .optional()
                    .map_err(query)?;
                let Some((room_id, game_kind, game_data, completed_at, seed)) = game else {
                    return Ok(None);
                };
                // Before the events: an adopted game's are not worth loading.
                let data = decode_game_data(game_id, game_data)?;
                let events: Vec<(i64, String, Value, DateTime<Utc>)> = pg_events::table
                    .filter(pg_events::game_id.eq(game_id))
                    .order(pg_events::seq.asc())
                    .select((
                        pg_events::seq,
                        pg_events::event_type,
                        pg_events::event_data,
                        pg_events::event_timestamp,
                    ))
                    .load(conn)
                    .map_err(query)?;
                let events = events
                    .into_iter()
                    .map(|(seq, kind, data, at)| {
                        decode_event(
                            game_id,
                            seq,
                            kind,
                            decode_json(game_id, "event_data", data)?,
                            at,
                        )
                    })
                    .collect::<Result<_, _>>()?;
                assemble(
                    game_id,
                    room_id,
                    game_kind,
                    data,
                    completed_at,
                    seed,
                    events,
                )
                .map(Some)
            }),
            Backend::Sqlite(pool) => {
                let conn = &mut self.sqlite(pool)?;
                let game: Option<(String, String, String, NaiveDateTime, i64)> = lite_games::table
                    .find(game_id)
                    .select((
                        lite_games::room_id,
                        lite_games::game_kind,
                        lite_games::game_data,
                        lite_games::completed_at,
                        lite_games::seed,
                    ))
                    .first(conn)
                    .optional()
                    .map_err(query)?;
                let Some((room_id, game_kind, game_data, completed_at, seed)) = game else {
                    return Ok(None);
                };
                let game_data = decode_text::<Value>(game_id, "game_data", &game_data)?;
                let data = decode_game_data(game_id, game_data)?;
                let events: Vec<(i64, String, String, NaiveDateTime)> = lite_events::table
                    .filter(lite_events::game_id.eq(game_id))
                    .order(lite_events::seq.asc())
                    .select((
                        lite_events::seq,
                        lite_events::event_type,
                        lite_events::event_data,
                        lite_events::event_timestamp,
                    ))
                    .load(conn)
                    .map_err(query)?;
                let events = events
                    .into_iter()
                    .map(|(seq, kind, data, at)| {
                        let data = decode_text(game_id, "event_data", &data)?;
                        decode_event(game_id, seq, kind, data, at.and_utc())
                    })
                    .collect::<Result<_, _>>()?;
                assemble(
                    game_id,
                    room_id,
                    game_kind,
                    data,
                    completed_at.and_utc(),
                    seed,
                    events,
                )
                .map(Some)
            }
        }
    }

    /// Games newest first (by `completed_at`, then `game_id`), filtered, one page at a time.
    /// Keyset pagination: pages neither skip nor repeat games when new ones are archived
    /// between requests.
    pub fn list_games(&self, query: &GameQuery) -> Result<GamePage, StoreError> {
        let page_size = query.page_size();
        let db_error = |source| StoreError::Query { op: "list", source };
        let mut games = match &self.pool {
            Backend::Postgres(pool) => {
                let rows: Vec<PgSummaryRow> = self.with_pg(pool, |conn| {
                    let mut q = pg_games::table
                        .select((
                            pg_games::game_id,
                            pg_games::room_id,
                            pg_games::game_kind,
                            pg_games::completed_at,
                            pg_games::game_duration_seconds,
                            pg_games::winner_name,
                            pg_games::game_data,
                        ))
                        .order((pg_games::completed_at.desc(), pg_games::game_id.desc()))
                        .limit(page_size + 1)
                        .into_boxed::<Pg>();
                    if let Some(kind) = &query.game_kind {
                        q = q.filter(pg_games::game_kind.eq(kind.clone()));
                    }
                    if let Some(player) = &query.player {
                        // Written against `game_data -> 'players'` so that a GIN index on that
                        // expression (jsonb_path_ops) can serve it.
                        q = q.filter(
                            sql::<Bool>("(game_data -> 'players') @> ")
                                .bind::<Jsonb, _>(serde_json::json!([{ "player_id": player }])),
                        );
                    }
                    if let Some(cursor) = &query.before {
                        // The first conjunct alone can seek the completed_at index.
                        q = q.filter(
                            pg_games::completed_at.le(cursor.completed_at).and(
                                pg_games::completed_at
                                    .lt(cursor.completed_at)
                                    .or(pg_games::game_id.lt(cursor.game_id.clone())),
                            ),
                        );
                    }
                    q.load(conn).map_err(db_error)
                })?;
                rows.into_iter()
                    .map(|(id, room, kind, at, duration, winner, data)| {
                        summary(id, room, kind, at, duration, winner, data)
                    })
                    .collect::<Vec<_>>()
            }
            Backend::Sqlite(pool) => {
                let mut q = lite_games::table
                    .select((
                        lite_games::game_id,
                        lite_games::room_id,
                        lite_games::game_kind,
                        lite_games::completed_at,
                        lite_games::game_duration_seconds,
                        lite_games::winner_name,
                        lite_games::game_data,
                    ))
                    .order((lite_games::completed_at.desc(), lite_games::game_id.desc()))
                    .limit(page_size + 1)
                    .into_boxed();
                if let Some(kind) = &query.game_kind {
                    q = q.filter(lite_games::game_kind.eq(kind.clone()));
                }
                if let Some(player) = &query.player {
                    q = q.filter(
                        sql::<Bool>(
                            "EXISTS (SELECT 1 FROM json_each(completed_games.game_data, \
                             '$.players') AS p WHERE json_extract(p.value, '$.player_id') = ",
                        )
                        .bind::<Text, _>(player.clone())
                        .sql(")"),
                    );
                }
                if let Some(cursor) = &query.before {
                    // Timestamps are TEXT in one fixed format, so they compare as text in time
                    // order; binding a NaiveDateTime writes the same format.
                    let at = cursor.completed_at.naive_utc();
                    q = q.filter(
                        lite_games::completed_at.le(at).and(
                            lite_games::completed_at
                                .lt(at)
                                .or(lite_games::game_id.lt(cursor.game_id.clone())),
                        ),
                    );
                }
                let rows: Vec<SqliteSummaryRow> =
                    q.load(&mut self.sqlite(pool)?).map_err(db_error)?;
                rows.into_iter()
                    .map(|(id, room, kind, at, duration, winner, data)| {
                        // The CHECK (json_valid(game_data)) makes the fallback unreachable.
                        let data = serde_json::from_str(&data).unwrap_or(Value::Null);
                        summary(id, room, kind, at.and_utc(), duration, winner, data)
                    })
                    .collect::<Vec<_>>()
            }
        };
        // One row more than a page was asked for: its presence says there is a next page.
        let next = if games.len() as i64 > page_size {
            games.truncate(games.len() - 1);
            games.last().map(GameCursor::of)
        } else {
            None
        };
        Ok(GamePage { games, next })
    }

    /// Deletes the games completed before `older_than` (their events go with them, by
    /// `ON DELETE CASCADE`) and returns how many.
    pub fn prune(&self, older_than: DateTime<Utc>) -> Result<usize, StoreError> {
        let db_error = |source| StoreError::Query {
            op: "prune",
            source,
        };
        let mut total = 0;
        loop {
            let (selected, deleted) = match &self.pool {
                Backend::Postgres(pool) => self.with_pg(pool, |conn| {
                    let old: Vec<String> = pg_games::table
                        .select(pg_games::game_id)
                        .filter(pg_games::completed_at.lt(older_than))
                        .limit(PRUNE_CHUNK)
                        .load(conn)
                        .map_err(db_error)?;
                    let deleted =
                        diesel::delete(pg_games::table.filter(pg_games::game_id.eq_any(&old)))
                            .execute(conn)
                            .map_err(db_error)?;
                    Ok((old.len(), deleted))
                })?,
                Backend::Sqlite(pool) => {
                    let conn = &mut *self.sqlite(pool)?;
                    let old: Vec<String> = lite_games::table
                        .select(lite_games::game_id)
                        .filter(lite_games::completed_at.lt(older_than.naive_utc()))
                        .limit(PRUNE_CHUNK)
                        .load(conn)
                        .map_err(db_error)?;
                    let deleted =
                        diesel::delete(lite_games::table.filter(lite_games::game_id.eq_any(&old)))
                            .execute(conn)
                            .map_err(db_error)?;
                    (old.len(), deleted)
                }
            };
            total += deleted;
            // A short chunk was the last one. (Comparing with what was selected, not deleted,
            // so that a game deleted concurrently cannot end the loop early.)
            if (selected as i64) < PRUNE_CHUNK {
                return Ok(total);
            }
        }
    }

    /// Stored games.
    pub fn count_games(&self) -> Result<u64, StoreError> {
        let query = |source| StoreError::Query {
            op: "count",
            source,
        };
        let count: i64 = match &self.pool {
            Backend::Postgres(pool) => self.with_pg(pool, |conn| {
                pg_games::table.count().get_result(conn).map_err(query)
            })?,
            Backend::Sqlite(pool) => lite_games::table
                .count()
                .get_result(&mut self.sqlite(pool)?)
                .map_err(query)?,
        };
        Ok(count.unsigned_abs())
    }

    /// Stored events, over all games.
    pub fn count_events(&self) -> Result<u64, StoreError> {
        let query = |source| StoreError::Query {
            op: "count",
            source,
        };
        let count: i64 = match &self.pool {
            Backend::Postgres(pool) => self.with_pg(pool, |conn| {
                pg_events::table.count().get_result(conn).map_err(query)
            })?,
            Backend::Sqlite(pool) => lite_events::table
                .count()
                .get_result(&mut self.sqlite(pool)?)
                .map_err(query)?,
        };
        Ok(count.unsigned_abs())
    }

    fn pg(
        &self,
        pool: &PgPool,
    ) -> Result<PooledConnection<ConnectionManager<PgConnection>>, StoreError> {
        pool.get().map_err(|source| StoreError::Unavailable {
            backend: self.backend(),
            source,
        })
    }

    /// Runs `op` on a pooled PostgreSQL connection. Diesel prepares each statement once per
    /// connection and keeps it; when a migration run elsewhere has changed a column under one
    /// (`gamehall migrate` or another replica's start-up, while this process kept its pool),
    /// PostgreSQL refuses the statement from then on, on that connection, for ever. So after
    /// an error PostgreSQL does not classify, the connection forgets its prepared statements,
    /// and a stale statement's `op` runs once more: every `op` here is safe to repeat (a
    /// failed write was rolled back, and writes are idempotent anyway).
    fn with_pg<T>(
        &self,
        pool: &PgPool,
        mut op: impl FnMut(&mut PgConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.pg(pool)?;
        let result = op(&mut conn);
        let Err(err) = &result else {
            return result;
        };
        let Some(message) = err.unclassified_database_message() else {
            return result;
        };
        let stale = message.starts_with(STALE_PLAN_MESSAGE);
        forget_prepared_statements(&mut conn);
        if stale {
            op(&mut conn)
        } else {
            result
        }
    }

    fn sqlite(
        &self,
        pool: &SqlitePool,
    ) -> Result<PooledConnection<ConnectionManager<SqliteConnection>>, StoreError> {
        pool.get().map_err(|source| StoreError::Unavailable {
            backend: self.backend(),
            source,
        })
    }
}

/// Drops diesel's cache of prepared statements (dropping a statement leaves it on the server,
/// so `DEALLOCATE ALL` frees those too): the connection prepares each statement again on its
/// next use. Only ever between statements, outside a transaction.
fn forget_prepared_statements(conn: &mut PgConnection) {
    conn.set_prepared_statement_cache_size(CacheSize::Disabled);
    conn.set_prepared_statement_cache_size(CacheSize::Unbounded);
    // Failing leaves named statements on the server until the connection closes: harmless,
    // since the cache numbers new ones on from the old.
    let _ = conn.batch_execute("DEALLOCATE ALL");
}

/// libpq's own `connect_timeout` (whole seconds, at least 2 as libpq requires), unless the
/// URL sets one: without it a connection attempt to a silent host would hang in the pool's
/// background thread long after the caller gave up.
fn with_connect_timeout(url: &str, timeout: Duration) -> String {
    if url.contains("connect_timeout=") {
        return url.to_owned();
    }
    let secs = timeout.as_secs().max(2);
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}connect_timeout={secs}")
}

// ---------------------------------------------------------------------------------------------
// Writing

/// The stored JSON of `game_data`.
#[derive(Serialize)]
struct GameDataOut<'a> {
    v: u32,
    options: &'a JsonText,
    players: &'a [ArchivedPlayer],
    outcome: &'a Outcome,
    final_state: &'a JsonText,
    started_at: DateTime<Utc>,
    events_truncated: bool,
}

impl<'a> GameDataOut<'a> {
    fn of(record: &'a GameRecord) -> Self {
        Self {
            v: GAME_DATA_VERSION,
            options: &record.options,
            players: &record.players,
            outcome: &record.outcome,
            final_state: &record.final_state,
            started_at: micros(record.started_at),
            events_truncated: record.events_truncated,
        }
    }
}

/// The stored JSON of `event_data`.
#[derive(Serialize)]
struct EventDataOut<'a> {
    data: &'a JsonText,
    #[serde(skip_serializing_if = "Option::is_none")]
    private: Option<&'a ArchivedPrivate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<&'a ArchivedAction>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tick: Option<u64>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    inputs: &'a [ArchivedAction],
}

impl<'a> EventDataOut<'a> {
    fn of(event: &'a ArchivedEvent) -> Self {
        Self {
            data: &event.data,
            private: event.private.as_ref(),
            action: event.action.as_ref(),
            tick: event.tick,
            inputs: &event.inputs,
        }
    }
}

/// Any serialisable value as a PostgreSQL JSONB parameter, serialised straight into the
/// statement (or COPY) buffer instead of through an intermediate `serde_json::Value`.
#[derive(Debug, AsExpression)]
#[diesel(sql_type = Jsonb)]
struct PgJson<T: Serialize + fmt::Debug>(T);

impl<T: Serialize + fmt::Debug> ToSql<Jsonb, Pg> for PgJson<T> {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> diesel::serialize::Result {
        // JSONB's binary format: a version byte, then the JSON text.
        std::io::Write::write_all(out, &[1])?;
        serde_json::to_writer(out, &self.0)?;
        Ok(IsNull::No)
    }
}

impl fmt::Debug for GameDataOut<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GameDataOut")
    }
}

impl fmt::Debug for EventDataOut<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EventDataOut")
    }
}

#[derive(Insertable)]
#[diesel(table_name = pg_games, treat_none_as_default_value = false)]
struct PgGameRow<'a> {
    game_id: &'a str,
    room_id: &'a str,
    game_kind: &'a str,
    game_data: PgJson<GameDataOut<'a>>,
    completed_at: DateTime<Utc>,
    game_duration_seconds: Option<i32>,
    winner_name: Option<&'a str>,
    final_scores: Option<PgJson<&'a [i64]>>,
    seed: i64,
}

#[derive(Insertable)]
#[diesel(table_name = pg_events, treat_none_as_default_value = false)]
struct PgEventRow<'a> {
    game_id: &'a str,
    seq: i64,
    event_type: &'a str,
    event_data: PgJson<EventDataOut<'a>>,
    event_timestamp: DateTime<Utc>,
}

#[derive(Insertable)]
#[diesel(table_name = lite_games, treat_none_as_default_value = false)]
struct SqliteGameRow<'a> {
    game_id: &'a str,
    room_id: &'a str,
    game_kind: &'a str,
    game_data: String,
    completed_at: SqliteTimestamp,
    game_duration_seconds: Option<i32>,
    winner_name: Option<&'a str>,
    final_scores: Option<String>,
    seed: i64,
}

#[derive(Insertable)]
#[diesel(table_name = lite_events, treat_none_as_default_value = false)]
struct SqliteEventRow<'a> {
    game_id: &'a str,
    seq: i64,
    event_type: &'a str,
    event_data: String,
    event_timestamp: SqliteTimestamp,
}

/// Runs `body` on `rows` cut into chunks of the fixed sizes given, largest first, each chunk
/// bound to `chunk` as an array reference (`&[Row; SIZE]`). The last size must be 1, so that
/// every row is taken.
///
/// diesel prepares a multi-row `INSERT` of a `Vec` again every time (its SQL depends on the
/// length), but keeps a prepared statement per connection for one of an array, whose length is
/// part of its type. With a few fixed sizes, each statement is prepared once per connection
/// instead of once per slice: on SQLite the writer then took about a quarter less CPU per game
/// (docs/benchmarks.md, "Profile", seventh round), and on PostgreSQL the server no longer
/// parses and plans each slice's `INSERT` anew.
macro_rules! for_each_fixed_chunk {
    ($rows:expr, [$($size:literal),+], |$chunk:ident| $body:block) => {{
        let mut rows = $rows;
        $(
            while rows.len() >= $size {
                let (head, rest) = rows.split_at($size);
                let $chunk: &[_; $size] = head
                    .try_into()
                    .expect("split_at gives exactly the asked number of rows");
                $body
                rows = rest;
            }
        )+
    }};
}

/// PostgreSQL, slice by slice in one transaction ([`in_slices`]): games by a multi-row
/// `INSERT … ON CONFLICT DO NOTHING RETURNING game_id`, then the events of exactly the games
/// that INSERT stored by binary `COPY`. COPY has no `ON CONFLICT`, and needs none: a game row
/// and its events are only ever written together, so a game we just inserted has no events
/// yet, and `validate` made its `seq`s unique.
fn write_pg(conn: &mut PgConnection, records: &[&GameRecord]) -> QueryResult<BatchWritten> {
    conn.transaction(|conn| {
        let mut written = BatchWritten::default();
        in_slices(records, |slice| {
            let rows: Vec<PgGameRow<'_>> = slice
                .iter()
                .map(|r| PgGameRow {
                    game_id: &r.game_id,
                    room_id: &r.room_id,
                    game_kind: &r.game_kind,
                    game_data: PgJson(GameDataOut::of(r)),
                    completed_at: micros(r.completed_at),
                    game_duration_seconds: Some(r.duration_seconds()),
                    winner_name: r.winner_name(),
                    final_scores: r.outcome.scores.as_deref().map(PgJson),
                    seed: r.seed_as_i64(),
                })
                .collect();
            let mut inserted: HashSet<String> = HashSet::with_capacity(rows.len());
            for_each_fixed_chunk!(&rows[..], [10, 4, 1], |chunk| {
                inserted.extend(
                    diesel::insert_into(pg_games::table)
                        .values(chunk)
                        .on_conflict_do_nothing()
                        .returning(pg_games::game_id)
                        .get_results::<String>(conn)?,
                );
            });
            let events: Vec<PgEventRow<'_>> = slice
                .iter()
                .filter(|r| inserted.contains(&r.game_id))
                .flat_map(|r| {
                    r.events.iter().map(move |e| PgEventRow {
                        game_id: &r.game_id,
                        seq: seq_i64(e.seq),
                        event_type: &e.kind,
                        event_data: PgJson(EventDataOut::of(e)),
                        event_timestamp: micros(e.at),
                    })
                })
                .collect();
            if !events.is_empty() {
                written.events += diesel::copy_from(pg_events::table)
                    .from_insertable(&events)
                    .execute(conn)?;
            }
            written.games += inserted.len();
            written.duplicates += slice.len() - inserted.len();
            Ok(())
        })?;
        Ok(written)
    })
}

/// SQLite: under the write lock taken at BEGIN (IMMEDIATE), find which games are already
/// stored, then insert the others and their events with multi-row inserts, slice by slice
/// ([`in_slices`]). `ON CONFLICT DO NOTHING` stays on both as a second guard.
///
/// The schema's CHECKs are off for the batch ([`WithoutCheckConstraints`]): [`validate`] has
/// already held every row to them, and the rest are `json_valid()` on JSON that serde_json
/// wrote.
fn write_sqlite(conn: &mut SqliteConnection, records: &[&GameRecord]) -> QueryResult<BatchWritten> {
    let mut conn = WithoutCheckConstraints::on(conn)?;
    conn.immediate_transaction(|conn| {
        let mut existing: HashSet<String> = HashSet::new();
        for chunk in records.chunks(SQLITE_IDS_PER_LOOKUP) {
            let ids: Vec<&str> = chunk.iter().map(|r| r.game_id.as_str()).collect();
            let found: Vec<String> = lite_games::table
                .select(lite_games::game_id)
                .filter(lite_games::game_id.eq_any(ids))
                .load(conn)?;
            existing.extend(found);
        }
        let new: Vec<&GameRecord> = records
            .iter()
            .copied()
            .filter(|r| !existing.contains(&r.game_id))
            .collect();
        let mut games = 0;
        let mut events_written = 0;
        in_slices(&new, |slice| {
            let rows: Vec<SqliteGameRow<'_>> = slice
                .iter()
                .map(|r| SqliteGameRow {
                    game_id: &r.game_id,
                    room_id: &r.room_id,
                    game_kind: &r.game_kind,
                    game_data: json_text(&GameDataOut::of(r)),
                    completed_at: SqliteTimestamp(micros(r.completed_at).naive_utc()),
                    game_duration_seconds: Some(r.duration_seconds()),
                    winner_name: r.winner_name(),
                    final_scores: Some(sqlite_scores(r)),
                    seed: r.seed_as_i64(),
                })
                .collect();
            for_each_fixed_chunk!(&rows[..], [10, 4, 1], |chunk| {
                games += diesel::insert_into(lite_games::table)
                    .values(chunk)
                    .on_conflict_do_nothing()
                    .execute(conn)?;
            });
            let events: Vec<SqliteEventRow<'_>> = slice
                .iter()
                .flat_map(|r| {
                    r.events.iter().map(move |e| SqliteEventRow {
                        game_id: &r.game_id,
                        seq: seq_i64(e.seq),
                        event_type: &e.kind,
                        event_data: json_text(&EventDataOut::of(e)),
                        event_timestamp: SqliteTimestamp(micros(e.at).naive_utc()),
                    })
                })
                .collect();
            for_each_fixed_chunk!(&events[..], [64, 16, 4, 1], |chunk| {
                events_written += diesel::insert_into(lite_events::table)
                    .values(chunk)
                    .on_conflict_do_nothing()
                    .execute(conn)?;
            });
            Ok(())
        })?;
        Ok(BatchWritten {
            games,
            duplicates: records.len() - games,
            events: events_written,
        })
    })
}

/// A SQLite connection with the schema's CHECK constraints off (`PRAGMA
/// ignore_check_constraints`) until dropped.
///
/// The archive's own writes need no CHECK: [`validate`] refuses a game whose texts are longer
/// than their columns allow or hold a NUL, before it reaches the database, and every JSON
/// column is serde_json's output. Left on, SQLite parses each of those JSON texts again for
/// `json_valid()`, ten or so a tic-tac-toe game: about half a microsecond each, a tenth of the
/// writer's CPU a game (docs/benchmarks.md, "Profile", fifteenth round). The pragma belongs
/// to the connection, so it is turned back on before the connection returns to the pool, where
/// anything else writing through it gets the CHECKs again.
struct WithoutCheckConstraints<'c> {
    conn: &'c mut SqliteConnection,
}

impl<'c> WithoutCheckConstraints<'c> {
    fn on(conn: &'c mut SqliteConnection) -> QueryResult<Self> {
        conn.batch_execute("PRAGMA ignore_check_constraints = ON")?;
        Ok(Self { conn })
    }
}

impl std::ops::Deref for WithoutCheckConstraints<'_> {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        self.conn
    }
}

impl std::ops::DerefMut for WithoutCheckConstraints<'_> {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        self.conn
    }
}

impl Drop for WithoutCheckConstraints<'_> {
    fn drop(&mut self) {
        // Should this fail, the connection stays without CHECKs, and that is safe here:
        // everything the archive writes through its pool is a validated batch from
        // `write_sqlite` or a prune, which only deletes.
        let _ = self
            .conn
            .batch_execute("PRAGMA ignore_check_constraints = OFF");
    }
}

/// Runs `write` on each [`GAMES_PER_SLICE`] of `games` in turn, giving way between two.
fn in_slices<T>(games: &[T], mut write: impl FnMut(&[T]) -> QueryResult<()>) -> QueryResult<()> {
    for (i, slice) in games.chunks(GAMES_PER_SLICE).enumerate() {
        if i > 0 {
            give_way();
        }
        write(slice)?;
    }
    Ok(())
}

/// Lets any thread waiting for this core run before the writer goes on with its batch.
///
/// A batch of 100 games is about 12 ms of the writer's CPU on SQLite (encoding, the VDBE, the
/// WAL); done in one go, that takes one of a small machine's cores from the reactors for as
/// long, since the scheduler lets a running thread finish its slice before a woken one, even
/// at nice 10. Yielding between slices bounds that to one slice: at 10,000 moves/s on two
/// cores the move p99 fell from about 3 ms to 1.4 ms with this (docs/benchmarks.md, "Move
/// latency while batches are written"). The writers now run in `SCHED_IDLE`, where a woken
/// reactor takes the core at once; the yield still bounds the wait where that class is refused
/// and the writer falls back to nice 10 (`lower_this_threads_priority` in archiver.rs). A
/// yielding writer paces itself instead ([`super::pacing`]): a yield leaves it runnable, and
/// a woken reactor often waited until the writer left its core by itself; a sleep does not.
fn give_way() {
    if super::pacing::this_thread_is_paced() {
        super::pacing::pause_if_due();
    } else {
        std::thread::yield_now();
    }
}

/// `final_scores` for SQLite: JSON `null` rather than SQL NULL when the game has no scores.
/// The SQLite migration checks `json_valid(final_scores)`, and before SQLite 3.45
/// `json_valid(NULL)` is 0, not NULL, so that CHECK refuses a NULL.
fn sqlite_scores(record: &GameRecord) -> String {
    match &record.outcome.scores {
        Some(scores) => json_text(scores),
        None => "null".to_owned(),
    }
}

fn json_text<T: Serialize>(value: &T) -> String {
    // Serialising our own types (maps with string keys only) into a String cannot fail; the
    // fallback keeps the column valid JSON all the same.
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

/// PostgreSQL keeps microseconds; SQLite is made to keep the same, so both read back alike.
fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

/// `validate` has checked that every seq fits.
fn seq_i64(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// Refuses what the database would refuse, before a whole batch fails on it: lengths over the
/// column limits, NUL characters (PostgreSQL's text and JSONB reject them), and events whose
/// `seq` does not strictly increase (they would collide on `(game_id, seq)` and read back in
/// another order).
fn validate(record: &GameRecord) -> Result<(), String> {
    let text_column = |name: &str, value: &str, max: usize| -> Result<(), String> {
        if value.chars().count() > max {
            return Err(format!("{name} is longer than {max} characters"));
        }
        if value.contains('\0') {
            return Err(format!("{name} contains a NUL character"));
        }
        Ok(())
    };
    if record.game_id.is_empty() {
        return Err("game_id is empty".into());
    }
    text_column("game_id", &record.game_id, MAX_ID_CHARS)?;
    text_column("room_id", &record.room_id, MAX_ID_CHARS)?;
    text_column("game_kind", &record.game_kind, MAX_ID_CHARS)?;
    if let Some(name) = record.winner_name() {
        text_column("winner_name", name, MAX_WINNER_NAME_CHARS)?;
    }
    for player in &record.players {
        if player.player_id.contains('\0') || player.name.contains('\0') {
            return Err(format!("player {} contains a NUL character", player.seat));
        }
    }
    if record.options.has_nul() || record.final_state.has_nul() {
        return Err("options or final_state contain a NUL character".into());
    }
    let mut previous: Option<u64> = None;
    for event in &record.events {
        if i64::try_from(event.seq).is_err() {
            return Err(format!("event seq {} is out of range", event.seq));
        }
        if previous.is_some_and(|p| event.seq <= p) {
            return Err(format!(
                "event seq {} does not follow {previous:?}",
                event.seq
            ));
        }
        previous = Some(event.seq);
        text_column("event kind", &event.kind, MAX_EVENT_TYPE_CHARS)?;
        let private = event.private.as_ref().is_some_and(|p| p.data.has_nul());
        let action = event
            .action
            .iter()
            .chain(&event.inputs)
            .any(|a| a.action.has_nul());
        if event.data.has_nul() || private || action {
            return Err(format!("event {} contains a NUL character", event.seq));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Reading

#[derive(Deserialize)]
struct GameDataIn {
    v: u32,
    options: JsonText,
    players: Vec<ArchivedPlayer>,
    outcome: Outcome,
    final_state: JsonText,
    started_at: DateTime<Utc>,
    #[serde(default)]
    events_truncated: bool,
}

#[derive(Deserialize)]
struct EventDataIn {
    data: JsonText,
    #[serde(default)]
    private: Option<ArchivedPrivate>,
    #[serde(default)]
    action: Option<ArchivedAction>,
    #[serde(default)]
    tick: Option<u64>,
    #[serde(default)]
    inputs: Vec<ArchivedAction>,
}

fn decode_json<T: serde::de::DeserializeOwned, V: Into<Value>>(
    game_id: &str,
    column: &str,
    value: V,
) -> Result<T, StoreError> {
    serde_json::from_value(value.into()).map_err(|e| StoreError::Corrupt {
        game_id: game_id.to_owned(),
        reason: format!("{column}: {e}"),
    })
}

fn decode_text<T: serde::de::DeserializeOwned>(
    game_id: &str,
    column: &str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        game_id: game_id.to_owned(),
        reason: format!("{column}: {e}"),
    })
}

/// `game_data` as [`ArchiveStore::load_record`] reads it: strictly. Every row gamehall writes
/// carries a version `v`; one without is a row of the adopted archive (see
/// [`StoreError::Adopted`]), holding whatever that system stored.
fn decode_game_data(game_id: &str, data: Value) -> Result<GameDataIn, StoreError> {
    if data.get("v").is_none() {
        return Err(StoreError::Adopted {
            game_id: game_id.to_owned(),
        });
    }
    decode_json(game_id, "game_data", data)
}

fn check_version(game_id: &str, v: u32) -> Result<(), StoreError> {
    if v == GAME_DATA_VERSION {
        Ok(())
    } else {
        Err(StoreError::Corrupt {
            game_id: game_id.to_owned(),
            reason: format!("game_data version {v} is not {GAME_DATA_VERSION}"),
        })
    }
}

fn decode_event(
    game_id: &str,
    seq: i64,
    kind: String,
    data: EventDataIn,
    at: DateTime<Utc>,
) -> Result<ArchivedEvent, StoreError> {
    let seq = u64::try_from(seq).map_err(|_| StoreError::Corrupt {
        game_id: game_id.to_owned(),
        reason: format!("negative event seq {seq}"),
    })?;
    Ok(ArchivedEvent {
        seq,
        kind,
        data: data.data,
        private: data.private,
        action: data.action,
        tick: data.tick,
        inputs: data.inputs,
        at,
    })
}

fn assemble(
    game_id: &str,
    room_id: String,
    game_kind: String,
    data: GameDataIn,
    completed_at: DateTime<Utc>,
    seed: i64,
    events: Vec<ArchivedEvent>,
) -> Result<GameRecord, StoreError> {
    check_version(game_id, data.v)?;
    Ok(GameRecord {
        game_id: game_id.to_owned(),
        room_id,
        game_kind,
        seed: GameRecord::seed_from_i64(seed),
        options: data.options,
        players: data.players,
        outcome: data.outcome,
        final_state: data.final_state,
        started_at: data.started_at,
        completed_at,
        events,
        events_truncated: data.events_truncated,
    })
}

/// A listed game. `game_data` is read leniently, field by field, and its version is not
/// checked: one row written by a newer version, by the system whose archive was adopted, or
/// damaged, shows what can be read of it (possibly no players and no outcome) instead of
/// failing the whole page. [`ArchiveStore::load_record`] is the strict reader.
fn summary(
    game_id: String,
    room_id: String,
    game_kind: String,
    completed_at: DateTime<Utc>,
    duration_seconds: Option<i32>,
    winner_name: Option<String>,
    mut game_data: Value,
) -> GameSummaryRow {
    let mut field = |name: &str| game_data.get_mut(name).map(Value::take);
    let players = field("players")
        .and_then(|players| serde_json::from_value(players).ok())
        .unwrap_or_default();
    let outcome = field("outcome").and_then(|outcome| serde_json::from_value(outcome).ok());
    GameSummaryRow {
        game_id,
        room_id,
        game_kind,
        completed_at,
        duration_seconds,
        winner_name,
        players,
        outcome,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_batches_skip_the_checks_and_turn_them_back_on() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("archive.db");
        let path = path.to_str().expect("a UTF-8 path");
        crate::archive::db::run_migrations(&DatabaseUrl::Sqlite(path.to_owned()))
            .expect("migrated");
        let mut conn = crate::archive::db::establish_sqlite(path).expect("opened");
        let record = GameRecord::example();
        // An event of the game written below, with data that is not JSON.
        let invalid_event = |seq: u32| {
            format!(
                "INSERT INTO game_events (game_id, seq, event_type, event_data, event_timestamp) \
                 VALUES ('{}', {seq}, 'move', 'not json', '2026-11-25 10:00:00')",
                record.game_id
            )
        };
        let check_failed = |result: QueryResult<()>| {
            matches!(result, Err(diesel::result::Error::DatabaseError(_, info))
                if info.message().contains("CHECK constraint failed"))
        };

        let written = write_sqlite(&mut conn, &[&record]).expect("written");
        assert_eq!((written.games, written.events), (1, 1));
        assert!(check_failed(conn.batch_execute(&invalid_event(2))));
        {
            let mut unchecked = WithoutCheckConstraints::on(&mut conn).expect("pragma set");
            unchecked
                .batch_execute(&invalid_event(2))
                .expect("no CHECK while the guard lives");
        }
        assert!(check_failed(conn.batch_execute(&invalid_event(3))));

        // A batch that fails turns them back on too.
        conn.batch_execute("DROP TABLE game_events")
            .expect("dropped");
        let mut other = GameRecord::example();
        other.game_id = "0b6f7c1e-4d0a-4c55-9b0e-5d8f3f1a2b3d".into();
        assert!(write_sqlite(&mut conn, &[&other]).is_err());
        let invalid_game = "INSERT INTO completed_games (game_id, room_id, game_kind, game_data, \
                            completed_at, seed) VALUES ('g', 'r', 'k', 'not json', \
                            '2026-11-25 10:00:00', 1)";
        assert!(check_failed(conn.batch_execute(invalid_game)));
    }

    #[test]
    fn cursor_round_trips_and_is_url_safe() {
        let cursor = GameCursor {
            completed_at: DateTime::from_timestamp_micros(1_764_000_000_123_456).expect("in range"),
            game_id: "g/+?&=~ü".into(),
        };
        let text = cursor.encode();
        assert!(text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(GameCursor::decode(&text), Ok(cursor.clone()));
        let json = serde_json::to_string(&cursor).expect("serialises");
        assert_eq!(json, format!("\"{text}\""));
    }

    #[test]
    fn bad_cursors_are_typed_errors() {
        assert_eq!(GameCursor::decode("%%%"), Err(CursorError::NotBase64));
        assert_eq!(
            GameCursor::decode(&URL_SAFE_NO_PAD.encode("[1]")),
            Err(CursorError::Malformed)
        );
        assert_eq!(
            GameCursor::decode(&URL_SAFE_NO_PAD.encode("[9223372036854775807, \"g\"]")),
            Err(CursorError::Malformed)
        );
        assert_eq!(
            GameCursor::decode(&"A".repeat(1000)),
            Err(CursorError::TooLong)
        );
    }

    #[test]
    fn adds_a_libpq_connect_timeout() {
        let t = Duration::from_millis(300);
        assert_eq!(
            with_connect_timeout("postgres://h/d", t),
            "postgres://h/d?connect_timeout=2"
        );
        assert_eq!(
            with_connect_timeout("postgres://h/d?sslmode=disable", Duration::from_secs(5)),
            "postgres://h/d?sslmode=disable&connect_timeout=5"
        );
        assert_eq!(
            with_connect_timeout("postgres://h/d?connect_timeout=9", t),
            "postgres://h/d?connect_timeout=9"
        );
    }

    #[test]
    fn game_data_without_a_version_is_a_row_of_the_adopted_archive() {
        let adopted = |data| matches!(decode_game_data("g", data), Err(StoreError::Adopted { .. }));
        assert!(adopted(
            serde_json::json!({"game_kind": "chess", "board": []})
        ));
        assert!(adopted(serde_json::json!([1, 2])));
        // A gamehall row that does not decode is damaged, not foreign.
        assert!(matches!(
            decode_game_data("g", serde_json::json!({"v": 1})),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn listings_show_what_they_can_read_of_any_game_data() {
        let at = DateTime::from_timestamp(1_764_000_000, 0).expect("in range");
        let row = |data| summary("g".into(), "r".into(), "k".into(), at, None, None, data);

        let adopted = row(serde_json::json!({"board": "XXXOO...."}));
        assert!(adopted.players.is_empty());
        assert_eq!(adopted.outcome, None);

        let players = serde_json::json!([{"seat": 0, "player_id": "p-0", "name": "Ada"}]);
        let partial = row(serde_json::json!({"players": players, "outcome": "X won"}));
        assert_eq!(partial.players.len(), 1);
        assert_eq!(partial.outcome, None);

        let gamehall = row(serde_json::json!({
            "v": GAME_DATA_VERSION,
            "players": [],
            "outcome": {"result": "draw", "winners": []},
        }));
        assert_eq!(gamehall.outcome, Some(Outcome::draw()));
    }

    #[test]
    fn finds_nul_characters_anywhere_in_json() {
        let has_nul = |value: Value| JsonText::of(&value).has_nul();
        assert!(!has_nul(serde_json::json!({"a": ["b", 1, null]})));
        assert!(has_nul(serde_json::json!({"a": ["b\u{0}"]})));
        assert!(has_nul(serde_json::json!({"a\u{0}": 1})));
        assert!(has_nul(serde_json::json!(["\\\u{0}"])));
        // The six characters \u0000 in a string, after one or two backslashes: no NUL.
        assert!(!has_nul(serde_json::json!(["\\u0000", "\\\\u0000"])));
        let text = |t: &str| JsonText::parse(t).expect("valid JSON");
        assert!(text(r#"["\\\u0000"]"#).has_nul());
        assert!(!text(r#"["\\\\u0000"]"#).has_nul());
    }
}
