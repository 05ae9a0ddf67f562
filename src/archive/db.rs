//! Choosing the backend, connecting and migrating.

use std::fmt;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::CustomizeConnection;
use diesel::result::ConnectionError;
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::ArchiveError;

/// Migrations for PostgreSQL, compiled into the binary.
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
/// Migrations for SQLite, compiled into the binary.
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Held (session-level) while migrating PostgreSQL, so that replicas starting together migrate
/// one after the other instead of racing to create the same tables. The value is "gamehall" in
/// ASCII; any constant works as long as it never changes.
const PG_MIGRATION_LOCK_KEY: i64 = 0x6761_6d65_6861_6c6c;

/// Set on every SQLite connection. `busy_timeout` comes first so that switching to WAL waits
/// for a concurrent writer instead of failing at once.
const SQLITE_PRAGMAS: &str =
    "PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; PRAGMA journal_mode = WAL;";

/// Where the archive lives, as given by `DATABASE_URL`.
///
/// `Debug` and `Display` hide the password of a PostgreSQL URL.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A libpq URL, `postgres://…` or `postgresql://…`, passed to libpq as given (with the
    /// scheme in lower case).
    Postgres(String),
    /// A file path, relative to the working directory or absolute, or `:memory:`.
    Sqlite(String),
}

impl DatabaseUrl {
    /// Accepts `postgres://…`, `postgresql://…`, `sqlite://PATH` (`sqlite://gamehall.db` is
    /// relative, `sqlite:///var/lib/gamehall.db` absolute) and `sqlite::memory:`.
    ///
    /// Anything else is an error: a typo must not quietly start the server on a fresh, empty
    /// SQLite file.
    pub fn parse(url: &str) -> Result<Self, ArchiveError> {
        let (scheme, rest) = url
            .split_once(':')
            .filter(|(scheme, _)| is_scheme(scheme))
            .ok_or(ArchiveError::BadUrl {
                reason: "no scheme: expected postgres://, postgresql://, sqlite://PATH or \
                         sqlite::memory:",
            })?;
        let scheme = scheme.to_ascii_lowercase();
        match scheme.as_str() {
            "postgres" | "postgresql" => {
                if !rest.starts_with("//") {
                    return Err(ArchiveError::BadUrl {
                        reason: "a PostgreSQL URL starts with postgres:// or postgresql://",
                    });
                }
                // libpq only recognises the scheme in lower case.
                Ok(Self::Postgres(format!("{scheme}:{rest}")))
            }
            "sqlite" => parse_sqlite(rest).map(Self::Sqlite),
            _ => Err(ArchiveError::UnsupportedScheme { scheme }),
        }
    }

    /// The backend's name, for logs and errors.
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Postgres(_) => "PostgreSQL",
            Self::Sqlite(_) => "SQLite",
        }
    }
}

/// RFC 3986: `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`, but at least two characters: a
/// single letter is a Windows drive. Tells a scheme from the colon in a bare path such as
/// `C:\data` or `./x:y`, which then fail as "no scheme".
fn is_scheme(s: &str) -> bool {
    s.len() > 1
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// `rest` is what follows `sqlite:`.
fn parse_sqlite(rest: &str) -> Result<String, ArchiveError> {
    const MEMORY: &str = ":memory:";
    if rest == MEMORY {
        return Ok(MEMORY.to_owned());
    }
    let path = rest.strip_prefix("//").ok_or(ArchiveError::BadUrl {
        reason: "expected sqlite://PATH or sqlite::memory:",
    })?;
    if path.is_empty() {
        // SQLite would open a private temporary database: the archive would vanish on exit.
        return Err(ArchiveError::BadUrl {
            reason:
                "sqlite:// needs a path, e.g. sqlite://gamehall.db or sqlite:///abs/gamehall.db",
        });
    }
    if path.contains(['?', '#']) {
        // Without this, `sqlite://gamehall.db?mode=ro` would create a file with that name.
        return Err(ArchiveError::BadUrl {
            reason: "sqlite URLs take no query string or fragment",
        });
    }
    Ok(path.to_owned())
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Postgres(url) => f.write_str(&redact_postgres(url)),
            Self::Sqlite(path) if path == ":memory:" => f.write_str("sqlite::memory:"),
            Self::Sqlite(path) => write!(f, "sqlite://{path}"),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Postgres(_) => f.debug_tuple("Postgres").field(&self.to_string()).finish(),
            Self::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
        }
    }
}

/// Replaces the password, in the user info or in a `password=` parameter, with `***`.
fn redact_postgres(url: &str) -> String {
    let (before_query, query) = match url.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (url, None),
    };
    let mut out = match before_query.split_once("://") {
        Some((scheme, after)) => {
            let authority_end = after.find('/').unwrap_or(after.len());
            let (authority, path) = after.split_at(authority_end);
            match authority.rsplit_once('@') {
                Some((userinfo, host)) => match userinfo.split_once(':') {
                    Some((user, _password)) => format!("{scheme}://{user}:***@{host}{path}"),
                    None => before_query.to_owned(),
                },
                None => before_query.to_owned(),
            }
        }
        None => before_query.to_owned(),
    };
    if let Some(query) = query {
        let params: Vec<&str> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => "password=***",
                _ => param,
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

/// Opens a PostgreSQL connection. `url` is a libpq URL, as in [`DatabaseUrl::Postgres`].
pub fn establish_postgres(url: &str) -> Result<PgConnection, ArchiveError> {
    PgConnection::establish(url).map_err(|source| ArchiveError::Connection {
        backend: "PostgreSQL",
        source,
    })
}

/// Opens a SQLite database (creating the file if needed) and applies the archive's pragmas:
/// foreign keys on (SQLite's default is off, which would ignore `ON DELETE CASCADE`), WAL, and a
/// 5 s busy timeout.
pub fn establish_sqlite(path: &str) -> Result<SqliteConnection, ArchiveError> {
    let connection_error = |source| ArchiveError::Connection {
        backend: "SQLite",
        source,
    };
    configure_sqlite_library();
    let mut conn = SqliteConnection::establish(path).map_err(connection_error)?;
    apply_sqlite_pragmas(&mut conn)
        .map_err(|e| connection_error(ConnectionError::CouldntSetupConfiguration(e)))?;
    Ok(conn)
}

/// Sets SQLite's process-wide options, once, before the first SQLite connection opens (they
/// can only be set before the library initialises, which opening a connection does).
///
/// - Memory statistics off: with them on, every allocation SQLite makes takes one
///   process-wide mutex to count itself, and the archive writer allocates a few times per
///   column of every row it inserts. gamehall never reads those statistics.
/// - Multi-thread mode rather than serialized: a connection then takes no mutex of its own on
///   every call. A diesel `SqliteConnection` is used by one thread at a time (it is not
///   `Sync`, and the pool hands it to one holder), which is all multi-thread mode asks.
pub fn configure_sqlite_library() {
    static CONFIGURED: std::sync::Once = std::sync::Once::new();
    CONFIGURED.call_once(|| {
        // SAFETY: SQLITE_CONFIG_MEMSTATUS takes one int, SQLITE_CONFIG_MULTITHREAD none.
        // Called before any connection opens; if the library was initialised already (another
        // part of the process opened one first), SQLite answers SQLITE_MISUSE and changes
        // nothing, which is harmless.
        unsafe {
            libsqlite3_sys::sqlite3_config(libsqlite3_sys::SQLITE_CONFIG_MEMSTATUS, 0);
            libsqlite3_sys::sqlite3_config(libsqlite3_sys::SQLITE_CONFIG_MULTITHREAD);
        }
        super::pacing::pace_sqlite_connections();
    });
}

fn apply_sqlite_pragmas(conn: &mut SqliteConnection) -> diesel::QueryResult<()> {
    conn.batch_execute(SQLITE_PRAGMAS)
}

/// An r2d2 customizer giving every pooled SQLite connection the same pragmas as
/// [`establish_sqlite`]; pragmas are per connection, so each one needs them.
#[derive(Debug, Clone, Copy, Default)]
pub struct SqlitePragmas;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        apply_sqlite_pragmas(conn).map_err(diesel::r2d2::Error::QueryError)
    }
}

/// Applies the pending migrations and returns their versions, oldest first; an up-to-date
/// database gives an empty list.
pub fn run_migrations(url: &DatabaseUrl) -> Result<Vec<String>, ArchiveError> {
    match url {
        DatabaseUrl::Postgres(url) => {
            let mut conn = locked_postgres(url)?;
            apply_pending(&mut conn, POSTGRES_MIGRATIONS)
        }
        DatabaseUrl::Sqlite(path) => {
            let mut conn = establish_sqlite(path)?;
            apply_pending(&mut conn, SQLITE_MIGRATIONS)
        }
    }
}

/// Reverts every applied migration, newest first. For tests and for tearing an archive down.
pub fn revert_all_migrations(url: &DatabaseUrl) -> Result<(), ArchiveError> {
    match url {
        DatabaseUrl::Postgres(url) => {
            let mut conn = locked_postgres(url)?;
            revert_all(&mut conn, POSTGRES_MIGRATIONS)
        }
        DatabaseUrl::Sqlite(path) => {
            let mut conn = establish_sqlite(path)?;
            revert_all(&mut conn, SQLITE_MIGRATIONS)
        }
    }
}

fn apply_pending<Db, C>(
    conn: &mut C,
    migrations: EmbeddedMigrations,
) -> Result<Vec<String>, ArchiveError>
where
    Db: diesel::backend::Backend,
    C: MigrationHarness<Db>,
{
    conn.run_pending_migrations(migrations)
        .map(|versions| versions.iter().map(ToString::to_string).collect())
        .map_err(|source| ArchiveError::Migration { source })
}

fn revert_all<Db, C>(conn: &mut C, migrations: EmbeddedMigrations) -> Result<(), ArchiveError>
where
    Db: diesel::backend::Backend,
    C: MigrationHarness<Db>,
{
    conn.revert_all_migrations(migrations)
        .map(drop)
        .map_err(|source| ArchiveError::Migration { source })
}

/// A connection holding the migration lock; dropping it releases the lock, whatever happened.
fn locked_postgres(url: &str) -> Result<PgConnection, ArchiveError> {
    let mut conn = establish_postgres(url)?;
    conn.batch_execute(&format!("SELECT pg_advisory_lock({PG_MIGRATION_LOCK_KEY})"))
        .map_err(|e| ArchiveError::Migration {
            source: Box::new(e),
        })?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_postgres("postgres://gamehall:s3cret@db:5432/gamehall"),
            "postgres://gamehall:***@db:5432/gamehall"
        );
        assert_eq!(
            redact_postgres("postgresql://u@h/d?sslmode=require&password=s3cret"),
            "postgresql://u@h/d?sslmode=require&password=***"
        );
        assert_eq!(redact_postgres("postgres://h/d"), "postgres://h/d");
    }

    #[test]
    fn scheme_syntax() {
        assert!(is_scheme("postgres"));
        assert!(is_scheme("svn+ssh"));
        assert!(!is_scheme("C"));
        assert!(!is_scheme("./x"));
        assert!(!is_scheme(""));
    }
}
