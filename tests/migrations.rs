//! The archive migrations go up, down and up again on both backends, the schema files match
//! what they create, and `DATABASE_URL` is parsed strictly.
//!
//! PostgreSQL must be running: each test creates its own database through
//! `postgres://postgres@127.0.0.1:5432/test` (or `GAMEHALL_TEST_PG_URL`) and drops it when done,
//! even if it fails. An unreachable server fails the tests; it never skips them.

use std::path::{Path, PathBuf};

use chrono::{NaiveDateTime, Utc};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::Text;
use diesel::sqlite::SqliteConnection;
use gamehall::archive::{
    establish_postgres, establish_sqlite, revert_all_migrations, run_migrations, ArchiveError,
    DatabaseUrl,
};
use serde_json::json;

#[path = "support/pg.rs"]
mod pg;
use pg::{database_url_for, TestPgDb};

/// Every migration, in order.
const MIGRATIONS: [&str; 2] = ["20251125000000", "20251126000000"];

/// Every column of `completed_games`, in table order, as each backend reads it.
type PgGameRow = (
    String,
    String,
    String,
    serde_json::Value,
    chrono::DateTime<Utc>,
    chrono::DateTime<Utc>,
    Option<i32>,
    Option<String>,
    Option<serde_json::Value>,
    i64,
);
type SqliteGameRow = (
    String,
    String,
    String,
    String,
    NaiveDateTime,
    NaiveDateTime,
    Option<i32>,
    Option<String>,
    Option<String>,
    i64,
);

// ---------------------------------------------------------------------------------------------
// PostgreSQL

#[test]
fn postgres_migrations_go_up_down_and_up() {
    let db = TestPgDb::create();
    let url = DatabaseUrl::parse(&db.url).expect("test URL parses");

    assert_eq!(run_migrations(&url).expect("first run"), MIGRATIONS);
    let mut conn = db.connect();
    assert_eq!(pg_tables(&mut conn), ["completed_games", "game_events"]);
    assert_eq!(
        pg_indexes(&mut conn),
        [
            "completed_games_pkey",
            "game_events_game_id_seq_key",
            "game_events_pkey",
            "idx_completed_games_completed",
            "idx_completed_games_kind_completed",
            "idx_completed_games_players",
            "idx_completed_games_room",
            "idx_completed_games_winner",
        ]
    );

    assert!(
        run_migrations(&url).expect("second run").is_empty(),
        "an up-to-date database must not be migrated again"
    );

    revert_all_migrations(&url).expect("revert");
    assert!(pg_tables(&mut conn).is_empty());
    assert!(
        !pg_schema_exists(&mut conn),
        "down.sql drops the archive schema"
    );

    assert_eq!(run_migrations(&url).expect("run after revert"), MIGRATIONS);
    assert_eq!(pg_tables(&mut conn), ["completed_games", "game_events"]);
}

#[test]
fn postgres_replicas_migrating_together_apply_each_migration_once() {
    let db = TestPgDb::create();
    let url = DatabaseUrl::parse(&db.url).expect("test URL parses");

    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4).map(|_| s.spawn(|| run_migrations(&url))).collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("migration thread panicked"))
            .collect()
    });

    let mut applied = Vec::new();
    for result in results {
        applied.extend(result.expect("every concurrent run succeeds"));
    }
    assert_eq!(applied, MIGRATIONS);
}

#[test]
fn postgres_schema_matches_migrations() {
    use gamehall::archive::schema::pg::archive::{completed_games as games, game_events as events};

    let db = TestPgDb::create();
    run_migrations(&DatabaseUrl::parse(&db.url).expect("test URL parses")).expect("migrate");
    let mut conn = establish_postgres(&db.url).expect("connect");
    let completed_at = Utc::now();

    diesel::insert_into(games::table)
        .values((
            games::game_id.eq("g-1"),
            games::room_id.eq("r-1"),
            games::game_kind.eq("tictactoe"),
            games::game_data.eq(json!({"board": "XOX......"})),
            games::completed_at.eq(completed_at),
            games::game_duration_seconds.eq(Some(42)),
            games::winner_name.eq(Some("alice")),
            games::final_scores.eq(Some(json!({"alice": 1, "bob": 0}))),
            games::seed.eq(i64::MAX),
        ))
        .execute(&mut conn)
        .expect("insert a game");
    for seq in 1..=2_i64 {
        insert_pg_event(&mut conn, "g-1", seq).expect("insert an event");
    }

    let game: PgGameRow = games::table.first(&mut conn).expect("read the game back");
    assert_eq!(game.0, "g-1");
    assert_eq!(game.3, json!({"board": "XOX......"}));
    // PostgreSQL keeps microseconds.
    assert_eq!(game.4.timestamp_micros(), completed_at.timestamp_micros());
    assert!(game.5 >= game.4, "archived_at defaults to now()");
    assert_eq!(game.9, i64::MAX);

    let seqs: Vec<i64> = events::table
        .filter(events::game_id.eq("g-1"))
        .order(events::seq)
        .select(events::seq)
        .load(&mut conn)
        .expect("read events");
    assert_eq!(seqs, [1, 2]);

    let duplicate = insert_pg_event(&mut conn, "g-1", 2);
    assert_db_error(duplicate, DatabaseErrorKind::UniqueViolation);
    let orphan = insert_pg_event(&mut conn, "no-such-game", 1);
    assert_db_error(orphan, DatabaseErrorKind::ForeignKeyViolation);
    let too_long = diesel::insert_into(games::table)
        .values((
            games::game_id.eq("x".repeat(51)),
            games::room_id.eq("r-1"),
            games::game_kind.eq("tictactoe"),
            games::game_data.eq(json!({})),
            games::completed_at.eq(completed_at),
            games::seed.eq(1_i64),
        ))
        .execute(&mut conn);
    assert!(too_long.is_err(), "game_id is VARCHAR(50)");

    diesel::delete(games::table.find("g-1"))
        .execute(&mut conn)
        .expect("delete the game");
    let left: i64 = events::table
        .count()
        .get_result(&mut conn)
        .expect("count events");
    assert_eq!(left, 0, "deleting a game deletes its events");
}

fn insert_pg_event(conn: &mut PgConnection, game_id: &str, seq: i64) -> QueryResult<usize> {
    use gamehall::archive::schema::pg::archive::game_events as events;
    diesel::insert_into(events::table)
        .values((
            events::game_id.eq(game_id),
            events::seq.eq(seq),
            events::event_type.eq("move"),
            events::event_data.eq(json!({"cell": seq})),
            events::event_timestamp.eq(Utc::now()),
        ))
        .execute(conn)
}

/// A database of its own for one test, dropped (even after a panic) when the test ends.
#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

fn names(rows: QueryResult<Vec<Name>>) -> Vec<String> {
    rows.expect("catalog query")
        .into_iter()
        .map(|row| row.name)
        .collect()
}

fn pg_tables(conn: &mut PgConnection) -> Vec<String> {
    names(
        diesel::sql_query(
            "SELECT table_name::text AS name FROM information_schema.tables \
             WHERE table_schema = 'archive' ORDER BY 1",
        )
        .load(conn),
    )
}

fn pg_indexes(conn: &mut PgConnection) -> Vec<String> {
    names(
        diesel::sql_query(
            "SELECT indexname::text AS name FROM pg_indexes WHERE schemaname = 'archive' \
             ORDER BY 1",
        )
        .load(conn),
    )
}

fn pg_schema_exists(conn: &mut PgConnection) -> bool {
    !names(
        diesel::sql_query(
            "SELECT nspname::text AS name FROM pg_namespace WHERE nspname = 'archive'",
        )
        .load(conn),
    )
    .is_empty()
}

// ---------------------------------------------------------------------------------------------
// SQLite

#[test]
fn sqlite_migrations_go_up_down_and_up() {
    let file = TempSqliteFile::new();
    let url = DatabaseUrl::parse(&file.url()).expect("test URL parses");

    assert_eq!(run_migrations(&url).expect("first run"), MIGRATIONS);
    let mut conn = establish_sqlite(file.path_str()).expect("connect");
    assert_eq!(
        sqlite_objects(&mut conn, "table"),
        ["completed_games", "game_events"]
    );
    assert_eq!(
        sqlite_objects(&mut conn, "index"),
        [
            "idx_completed_games_completed",
            "idx_completed_games_kind_completed",
            "idx_completed_games_room",
            "idx_completed_games_winner",
            // The TEXT primary key of completed_games and UNIQUE (game_id, seq).
            "sqlite_autoindex_completed_games_1",
            "sqlite_autoindex_game_events_1",
        ]
    );

    assert!(
        run_migrations(&url).expect("second run").is_empty(),
        "an up-to-date database must not be migrated again"
    );

    revert_all_migrations(&url).expect("revert");
    assert!(sqlite_objects(&mut conn, "table").is_empty());
    assert!(sqlite_objects(&mut conn, "index").is_empty());

    assert_eq!(run_migrations(&url).expect("run after revert"), MIGRATIONS);
    assert_eq!(
        sqlite_objects(&mut conn, "table"),
        ["completed_games", "game_events"]
    );
}

#[test]
fn sqlite_in_memory_migrates() {
    let url = DatabaseUrl::parse("sqlite::memory:").expect("parses");
    // Every connection to :memory: is a new, empty database.
    assert_eq!(run_migrations(&url).expect("migrate"), MIGRATIONS);
}

#[test]
fn sqlite_connections_get_the_archive_pragmas() {
    let file = TempSqliteFile::new();
    let mut conn = establish_sqlite(file.path_str()).expect("connect");

    #[derive(QueryableByName)]
    struct Pragma {
        #[diesel(sql_type = Text)]
        value: String,
    }
    let mut pragma = |sql: &str| -> String {
        diesel::sql_query(sql)
            .get_result::<Pragma>(&mut conn)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .value
    };
    assert_eq!(
        pragma("SELECT foreign_keys AS value FROM pragma_foreign_keys"),
        "1"
    );
    assert_eq!(
        pragma("SELECT journal_mode AS value FROM pragma_journal_mode"),
        "wal"
    );
    assert_eq!(
        pragma("SELECT timeout AS value FROM pragma_busy_timeout"),
        "5000"
    );
}

#[test]
fn sqlite_schema_matches_migrations() {
    use gamehall::archive::schema::sqlite::{completed_games as games, game_events as events};

    let file = TempSqliteFile::new();
    run_migrations(&DatabaseUrl::parse(&file.url()).expect("test URL parses")).expect("migrate");
    let mut conn = establish_sqlite(file.path_str()).expect("connect");
    let completed_at = Utc::now().naive_utc();
    let game_data = json!({"board": "XOX......"}).to_string();

    diesel::insert_into(games::table)
        .values((
            games::game_id.eq("g-1"),
            games::room_id.eq("r-1"),
            games::game_kind.eq("tictactoe"),
            games::game_data.eq(&game_data),
            games::completed_at.eq(completed_at),
            games::game_duration_seconds.eq(Some(42)),
            games::winner_name.eq(Some("alice")),
            games::final_scores.eq(Some(json!({"alice": 1, "bob": 0}).to_string())),
            games::seed.eq(i64::MAX),
        ))
        .execute(&mut conn)
        .expect("insert a game");
    for seq in 1..=2_i64 {
        insert_sqlite_event(&mut conn, "g-1", seq).expect("insert an event");
    }

    let game: SqliteGameRow = games::table.first(&mut conn).expect("read the game back");
    assert_eq!(game.0, "g-1");
    assert_eq!(game.3, game_data);
    assert_eq!(game.4, completed_at);
    // CURRENT_TIMESTAMP has whole seconds.
    assert!(
        game.5 >= completed_at - chrono::TimeDelta::seconds(1),
        "archived_at defaults to now"
    );
    assert_eq!(game.9, i64::MAX);

    let ids_and_seqs: Vec<(i64, i64)> = events::table
        .filter(events::game_id.eq("g-1"))
        .order(events::seq)
        .select((events::id, events::seq))
        .load(&mut conn)
        .expect("read events");
    assert_eq!(ids_and_seqs, [(1, 1), (2, 2)]);

    let duplicate = insert_sqlite_event(&mut conn, "g-1", 2);
    assert_db_error(duplicate, DatabaseErrorKind::UniqueViolation);
    let orphan = insert_sqlite_event(&mut conn, "no-such-game", 1);
    assert_db_error(orphan, DatabaseErrorKind::ForeignKeyViolation);
    // JSONB and VARCHAR(n) would refuse these in PostgreSQL; SQLite must too.
    let bad_json = diesel::insert_into(events::table)
        .values((
            events::game_id.eq("g-1"),
            events::seq.eq(3_i64),
            events::event_type.eq("move"),
            events::event_data.eq("{not json"),
            events::event_timestamp.eq(completed_at),
        ))
        .execute(&mut conn);
    assert_db_error(bad_json, DatabaseErrorKind::CheckViolation);
    let too_long = diesel::insert_into(games::table)
        .values((
            games::game_id.eq("x".repeat(51)),
            games::room_id.eq("r-1"),
            games::game_kind.eq("tictactoe"),
            games::game_data.eq("{}"),
            games::completed_at.eq(completed_at),
            games::seed.eq(1_i64),
        ))
        .execute(&mut conn);
    assert_db_error(too_long, DatabaseErrorKind::CheckViolation);

    diesel::delete(games::table.find("g-1"))
        .execute(&mut conn)
        .expect("delete the game");
    let left: i64 = events::table
        .count()
        .get_result(&mut conn)
        .expect("count events");
    assert_eq!(left, 0, "deleting a game deletes its events");
}

fn insert_sqlite_event(conn: &mut SqliteConnection, game_id: &str, seq: i64) -> QueryResult<usize> {
    use gamehall::archive::schema::sqlite::game_events as events;
    diesel::insert_into(events::table)
        .values((
            events::game_id.eq(game_id),
            events::seq.eq(seq),
            events::event_type.eq("move"),
            events::event_data.eq(json!({"cell": seq}).to_string()),
            events::event_timestamp.eq(Utc::now().naive_utc()),
        ))
        .execute(conn)
}

/// A SQLite file in the temporary directory, removed with its WAL files when the test ends.
struct TempSqliteFile {
    path: PathBuf,
}

impl TempSqliteFile {
    fn new() -> Self {
        let name = format!("gamehall_mig_{}.db", uuid::Uuid::new_v4().simple());
        Self {
            path: std::env::temp_dir().join(name),
        }
    }

    fn path_str(&self) -> &str {
        self.path
            .to_str()
            .expect("temporary directory path is UTF-8")
    }

    /// `sqlite:///tmp/...`: the absolute form.
    fn url(&self) -> String {
        format!("sqlite://{}", self.path_str())
    }
}

impl Drop for TempSqliteFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.path.clone().into_os_string();
            path.push(suffix);
            // Missing files are fine: -wal and -shm exist only while connections are open.
            let _ = std::fs::remove_file(path);
        }
    }
}

fn sqlite_objects(conn: &mut SqliteConnection, kind: &str) -> Vec<String> {
    names(
        diesel::sql_query(
            "SELECT name FROM sqlite_master WHERE type = ? \
             AND instr(name, '__diesel_schema_migrations') = 0 AND name <> 'sqlite_sequence' \
             ORDER BY name",
        )
        .bind::<Text, _>(kind)
        .load(conn),
    )
}

// ---------------------------------------------------------------------------------------------
// Both

fn assert_db_error(result: QueryResult<usize>, expected: DatabaseErrorKind) {
    match result {
        Err(DieselError::DatabaseError(kind, info)) => assert!(
            std::mem::discriminant(&kind) == std::mem::discriminant(&expected),
            "expected {expected:?}, got {kind:?}: {}",
            info.message()
        ),
        other => panic!("expected a {expected:?} error, got {other:?}"),
    }
}

#[test]
fn both_backends_have_the_same_migrations() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let list = |backend: &str| -> Vec<String> {
        let dir = root.join(backend);
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("readable directory entry"))
            .filter(|entry| entry.path().is_dir())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in &names {
            for file in ["up.sql", "down.sql"] {
                assert!(
                    dir.join(name).join(file).is_file(),
                    "{backend}/{name} has no {file}"
                );
            }
        }
        names
    };
    let postgres = list("postgres");
    assert!(!postgres.is_empty());
    assert_eq!(postgres, list("sqlite"));
}

#[test]
fn unreachable_postgres_is_a_connection_error() {
    // Port 1 on the loopback refuses connections at once.
    let url = DatabaseUrl::parse("postgres://postgres@127.0.0.1:1/gamehall").expect("parses");
    match run_migrations(&url) {
        Err(ArchiveError::Connection { backend, .. }) => assert_eq!(backend, "PostgreSQL"),
        other => panic!("expected a connection error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// DATABASE_URL

#[test]
fn parses_supported_urls() {
    let cases = [
        (
            "postgres://postgres@127.0.0.1:5432/test",
            DatabaseUrl::Postgres("postgres://postgres@127.0.0.1:5432/test".into()),
        ),
        (
            "postgresql://gamehall:pw@db/gamehall?sslmode=require",
            DatabaseUrl::Postgres("postgresql://gamehall:pw@db/gamehall?sslmode=require".into()),
        ),
        (
            "PostgreSQL://db/gamehall",
            DatabaseUrl::Postgres("postgresql://db/gamehall".into()),
        ),
        (
            "sqlite://gamehall.db",
            DatabaseUrl::Sqlite("gamehall.db".into()),
        ),
        (
            "sqlite://data/archive.db",
            DatabaseUrl::Sqlite("data/archive.db".into()),
        ),
        (
            "sqlite:///var/lib/gamehall/archive.db",
            DatabaseUrl::Sqlite("/var/lib/gamehall/archive.db".into()),
        ),
        ("sqlite::memory:", DatabaseUrl::Sqlite(":memory:".into())),
        ("sqlite://:memory:", DatabaseUrl::Sqlite(":memory:".into())),
    ];
    for (input, expected) in cases {
        match DatabaseUrl::parse(input) {
            Ok(url) => assert_eq!(url, expected, "{input}"),
            Err(e) => panic!("{input} should parse: {e}"),
        }
    }
}

#[test]
fn rejects_unsupported_schemes_by_name() {
    for (input, scheme) in [
        ("mysql://root@localhost/gamehall", "mysql"),
        ("redis://localhost:6379/0", "redis"),
        ("sqlite3://gamehall.db", "sqlite3"),
        ("file:///var/lib/gamehall.db", "file"),
        ("postgress://db/gamehall", "postgress"),
    ] {
        match DatabaseUrl::parse(input) {
            Err(e @ ArchiveError::UnsupportedScheme { .. }) => {
                let message = e.to_string();
                assert!(
                    message.contains(&format!("`{scheme}`")),
                    "{input}: {message}"
                );
            }
            other => panic!("{input}: expected an unsupported scheme, got {other:?}"),
        }
    }
}

#[test]
fn rejects_malformed_urls() {
    for input in [
        "",
        "gamehall.db",
        "/var/lib/gamehall.db",
        r"C:\gamehall\archive.db",
        "sqlite:",
        "sqlite://",
        "sqlite:gamehall.db",
        "sqlite:/var/lib/gamehall.db",
        "sqlite://gamehall.db?mode=ro",
        "sqlite://gamehall.db#x",
        "postgres:db/gamehall",
    ] {
        match DatabaseUrl::parse(input) {
            Err(ArchiveError::BadUrl { .. }) => {}
            other => panic!("{input:?}: expected a bad URL error, got {other:?}"),
        }
    }
}

#[test]
fn never_prints_passwords() {
    let err = DatabaseUrl::parse("mysql://root:hunter2@localhost/gamehall")
        .expect_err("unsupported scheme");
    assert!(!err.to_string().contains("hunter2"));

    let url = DatabaseUrl::parse("postgres://gamehall:hunter2@db:5432/gamehall").expect("parses");
    assert_eq!(url.to_string(), "postgres://gamehall:***@db:5432/gamehall");
    assert!(!format!("{url:?}").contains("hunter2"));
}

#[test]
fn derives_test_database_urls() {
    assert_eq!(
        database_url_for("postgres://postgres@127.0.0.1:5432/test", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        database_url_for("postgres://u@h/test?sslmode=disable", "x"),
        "postgres://u@h/x?sslmode=disable"
    );
    assert_eq!(database_url_for("postgres://u@h", "x"), "postgres://u@h/x");
}
