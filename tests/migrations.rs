//! The archive migrations go up, down and up again on both backends, the schema files match
//! what they create (column by column), an archive made by the seed's `init-archive.sql` or by
//! an earlier gamehall is brought to the current shape, and `DATABASE_URL` is parsed strictly.
//!
//! PostgreSQL must be running: each test creates its own database through
//! `postgres://postgres@127.0.0.1:5432/test` (or `GAMEHALL_TEST_PG_URL`) and drops it when done,
//! even if it fails. An unreachable server fails the tests; it never skips them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, SubsecRound, TimeDelta, Utc};
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::{Bool, Integer, Nullable, Text};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::MigrationHarness;
use gamehall::archive::{
    establish_postgres, establish_sqlite, revert_all_migrations, run_migrations, ArchiveError,
    ArchiveStore, ArchivedAction, ArchivedEvent, ArchivedPlayer, DatabaseUrl, GameQuery,
    GameRecord, StoreError,
};
use gamehall::game::Outcome;
use serde_json::json;

#[path = "support/pg.rs"]
mod pg;
use pg::{database_url_for, TestPgDb};

/// Every migration, in order.
const MIGRATIONS: [&str; 5] = [
    "20251125000000",
    "20251126000000",
    ADOPT,
    SQLITE_INDEXES,
    BYTE_ORDER,
];
/// The migration that adopts a seed-schema archive and widens `event_type`.
const ADOPT: &str = "20261201000000";
/// The migration that drops, on SQLite only, the indexes no gamehall query uses.
const SQLITE_INDEXES: &str = "20261205000000";
/// The migration that makes the ids compare byte by byte on PostgreSQL.
const BYTE_ORDER: &str = "20261206000000";
/// What an archive made before the adoption migration is migrated with.
const SINCE_ADOPT: [&str; 3] = [ADOPT, SQLITE_INDEXES, BYTE_ORDER];

/// The PostgreSQL columns collated "C" (`table.column`), however the database started out.
const PG_BYTE_ORDER_COLUMNS: [&str; 4] = [
    "completed_games.game_id",
    "completed_games.room_id",
    "game_events.event_type",
    "game_events.game_id",
];

/// The archive indexes on PostgreSQL, however the database started out.
const PG_INDEXES: [&str; 9] = [
    "completed_games_pkey",
    "game_events_game_id_seq_key",
    "game_events_pkey",
    "idx_completed_games_completed",
    "idx_completed_games_kind_completed",
    "idx_completed_games_players",
    "idx_completed_games_room",
    "idx_completed_games_winner",
    "idx_game_events_type",
];

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
    assert_eq!(pg_indexes(&mut conn), PG_INDEXES);
    assert_eq!(pg_byte_order_columns(&mut conn), PG_BYTE_ORDER_COLUMNS);

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
    assert_eq!(pg_indexes(&mut conn), PG_INDEXES);
    assert_eq!(pg_byte_order_columns(&mut conn), PG_BYTE_ORDER_COLUMNS);
    assert_pg_columns_match_schema(&mut conn, Order::AsDeclared);
}

#[test]
fn postgres_ids_go_to_byte_order_and_back_keeping_their_rows_and_lengths() {
    use gamehall::archive::POSTGRES_MIGRATIONS;

    let db = TestPgDb::create();
    let url = DatabaseUrl::parse(&db.url).expect("test URL parses");
    assert_eq!(run_migrations(&url).expect("migrate"), MIGRATIONS);
    // One connection, so that every statement below has been prepared on it before the
    // migration changes the columns under them, as in a server that keeps running while
    // another replica migrates.
    let store = ArchiveStore::connect(&url, 1, Duration::from_secs(5)).expect("a store");
    let mut games = vec![gamehall_game("one", Utc::now())];
    let exercise = |games: &[GameRecord], when: &str| {
        let last = games.last().expect("a game");
        let written = store
            .write_batch(std::slice::from_ref(last))
            .unwrap_or_else(|err| panic!("write {when}: {err}"));
        assert_eq!(written.games, 1, "{when}");
        for game in games {
            assert_eq!(
                store.load_record(&game.game_id).expect(when),
                Some(game.clone()),
                "every game reads back {when}"
            );
        }
        let page = store.list_games(&GameQuery::default()).expect(when);
        assert_eq!(page.games.len(), games.len(), "{when}");
        assert_eq!(store.count_games().expect(when), games.len() as u64);
        assert_eq!(store.count_events().expect(when), 3 * games.len() as u64);
        assert_eq!(
            store.prune(Utc::now() - TimeDelta::days(1)).expect(when),
            0,
            "{when}"
        );
        store.ping().expect(when);
    };
    exercise(&games, "before any change");
    let mut conn = db.connect();
    let lengths = pg_column_lengths(&mut conn);

    let reverted = conn
        .revert_last_migration(POSTGRES_MIGRATIONS)
        .expect("revert the byte-order migration");
    assert_eq!(reverted.to_string(), BYTE_ORDER);
    assert!(
        pg_byte_order_columns(&mut conn).is_empty(),
        "down.sql gives the columns the database's collation back"
    );
    assert_eq!(pg_column_lengths(&mut conn), lengths);
    assert_eq!(pg_indexes(&mut conn), PG_INDEXES);
    games.push(gamehall_game("two", Utc::now()));
    exercise(&games, "after down.sql, on statements prepared before it");

    assert_eq!(run_migrations(&url).expect("migrate again"), [BYTE_ORDER]);
    assert_eq!(pg_byte_order_columns(&mut conn), PG_BYTE_ORDER_COLUMNS);
    assert_eq!(pg_column_lengths(&mut conn), lengths);
    assert_eq!(pg_indexes(&mut conn), PG_INDEXES);
    games.push(gamehall_game("three", Utc::now()));
    exercise(
        &games,
        "after up.sql again, on statements prepared before it",
    );
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

fn pg_byte_order_columns(conn: &mut PgConnection) -> Vec<String> {
    names(
        diesel::sql_query(
            "SELECT table_name::text || '.' || column_name::text AS name \
             FROM information_schema.columns \
             WHERE table_schema = 'archive' AND collation_name = 'C' ORDER BY 1",
        )
        .load(conn),
    )
}

/// `table.column type` of every archive column, lengths included.
fn pg_column_lengths(conn: &mut PgConnection) -> Vec<String> {
    names(
        diesel::sql_query(
            "SELECT c.relname::text || '.' || a.attname::text || ' ' \
                    || format_type(a.atttypid, a.atttypmod) AS name \
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'archive' AND c.relkind = 'r' AND a.attnum > 0 \
               AND NOT a.attisdropped ORDER BY 1",
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
    assert_sqlite_columns_match_schema(&mut conn);
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

// ---------------------------------------------------------------------------------------------
// Adopting archives made before the current migrations

/// The archive DDL of the seed (`scripts/init-archive.sql`), verbatim: what users who set up
/// the archive before gamehall have in production.
const SEED_ARCHIVE_DDL: &str = r#"
-- scripts/init-archive.sql
-- Only for completed games, not active games
CREATE SCHEMA IF NOT EXISTS archive;

CREATE TABLE IF NOT EXISTS archive.completed_games (
    game_id VARCHAR(50) PRIMARY KEY,
    room_id VARCHAR(50) NOT NULL,
    game_data JSONB NOT NULL,
    completed_at TIMESTAMPTZ NOT NULL,
    archived_at TIMESTAMPTZ DEFAULT NOW(),
    game_duration_seconds INTEGER,
    winner_name VARCHAR(100),
    final_scores JSONB
);

CREATE INDEX idx_completed_games_room ON archive.completed_games(room_id);
CREATE INDEX idx_completed_games_completed ON archive.completed_games(completed_at);
CREATE INDEX idx_completed_games_winner ON archive.completed_games(winner_name);

CREATE TABLE IF NOT EXISTS archive.game_events (
    id BIGSERIAL PRIMARY KEY,
    game_id VARCHAR(50) REFERENCES archive.completed_games(game_id),
    event_type VARCHAR(100) NOT NULL,
    event_data JSONB NOT NULL,
    event_timestamp TIMESTAMPTZ NOT NULL,
    archived_at TIMESTAMPTZ DEFAULT NOW()
);

CREATE INDEX idx_game_events_game ON archive.game_events(game_id);
CREATE INDEX idx_game_events_type ON archive.game_events(event_type);
"#;

/// Rows as the seed wrote them: `seed-1` (its kind inside game_data, archived_at NULL) with
/// three events, their ids interleaved with the one event of `seed-2` (game_data gamehall
/// cannot read, no kind). One event kind is longer than gamehall's old VARCHAR(50).
const SEED_ROWS: &str = r#"
INSERT INTO archive.completed_games
    (game_id, room_id, game_data, completed_at, archived_at, game_duration_seconds,
     winner_name, final_scores)
VALUES
    ('seed-1', 'room-1', '{"game_kind": "tictactoe", "board": "XXXOO...."}',
     '2026-01-10T12:00:00Z', NULL, 95, 'alice', '{"alice": 1, "bob": 0}'),
    ('seed-2', 'room-2', '[1, 2, 3]', '2026-01-11T12:00:00Z', '2026-01-11T12:00:05Z', NULL,
     NULL, NULL);
INSERT INTO archive.game_events (game_id, event_type, event_data, event_timestamp, archived_at)
VALUES
    ('seed-1', 'game_started', '{}', '2026-01-10T11:58:25Z', NULL),
    ('seed-2', 'game_started', '{}', '2026-01-11T11:59:00Z', DEFAULT),
    ('seed-1', 'move', '{"cell": 4}', '2026-01-10T11:59:00Z', NULL),
    ('seed-1', 'player_left_the_table_before_the_game_was_over_and_forfeited', '{}',
     '2026-01-10T12:00:00Z', DEFAULT);
"#;

/// What `2025-11-25-000000_create_archive/up.sql` created before it learnt to adopt the seed's
/// tables (comments left out): the archive of a database gamehall migrated before 2026-12-01.
const PG_CREATE_ARCHIVE_BEFORE_ADOPTION: &str = r#"
CREATE SCHEMA IF NOT EXISTS archive;

CREATE TABLE archive.completed_games (
    game_id               VARCHAR(50)  PRIMARY KEY,
    room_id               VARCHAR(50)  NOT NULL,
    game_kind             VARCHAR(50)  NOT NULL,
    game_data             JSONB        NOT NULL,
    completed_at          TIMESTAMPTZ  NOT NULL,
    archived_at           TIMESTAMPTZ  NOT NULL DEFAULT NOW(),
    game_duration_seconds INTEGER,
    winner_name           VARCHAR(100),
    final_scores          JSONB,
    seed                  BIGINT       NOT NULL
);

CREATE INDEX idx_completed_games_room ON archive.completed_games (room_id);
CREATE INDEX idx_completed_games_completed ON archive.completed_games (completed_at);
CREATE INDEX idx_completed_games_winner ON archive.completed_games (winner_name);
CREATE INDEX idx_completed_games_kind_completed ON archive.completed_games (game_kind, completed_at);

CREATE TABLE archive.game_events (
    id              BIGSERIAL    PRIMARY KEY,
    game_id         VARCHAR(50)  NOT NULL
                    REFERENCES archive.completed_games (game_id) ON DELETE CASCADE,
    seq             BIGINT       NOT NULL,
    event_type      VARCHAR(50)  NOT NULL,
    event_data      JSONB        NOT NULL,
    event_timestamp TIMESTAMPTZ  NOT NULL,
    archived_at     TIMESTAMPTZ  NOT NULL DEFAULT NOW(),
    CONSTRAINT game_events_game_id_seq_key UNIQUE (game_id, seq)
);
"#;

/// The SQLite twin of [`PG_CREATE_ARCHIVE_BEFORE_ADOPTION`].
const SQLITE_CREATE_ARCHIVE_BEFORE_ADOPTION: &str = r#"
CREATE TABLE completed_games (
    game_id               VARCHAR(50)  PRIMARY KEY NOT NULL CHECK (length(game_id) <= 50),
    room_id               VARCHAR(50)  NOT NULL CHECK (length(room_id) <= 50),
    game_kind             VARCHAR(50)  NOT NULL CHECK (length(game_kind) <= 50),
    game_data             TEXT         NOT NULL CHECK (json_valid(game_data)),
    completed_at          TIMESTAMP    NOT NULL,
    archived_at           TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    game_duration_seconds INTEGER,
    winner_name           VARCHAR(100) CHECK (length(winner_name) <= 100),
    final_scores          TEXT         CHECK (json_valid(final_scores)),
    seed                  BIGINT       NOT NULL
);

CREATE INDEX idx_completed_games_room ON completed_games (room_id);
CREATE INDEX idx_completed_games_completed ON completed_games (completed_at);
CREATE INDEX idx_completed_games_winner ON completed_games (winner_name);
CREATE INDEX idx_completed_games_kind_completed ON completed_games (game_kind, completed_at);

CREATE TABLE game_events (
    id              INTEGER      PRIMARY KEY AUTOINCREMENT NOT NULL,
    game_id         VARCHAR(50)  NOT NULL
                    REFERENCES completed_games (game_id) ON DELETE CASCADE,
    seq             BIGINT       NOT NULL,
    event_type      VARCHAR(50)  NOT NULL CHECK (length(event_type) <= 50),
    event_data      TEXT         NOT NULL CHECK (json_valid(event_data)),
    event_timestamp TIMESTAMP    NOT NULL,
    archived_at     TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT game_events_game_id_seq_key UNIQUE (game_id, seq)
);
"#;

/// A finished game as a room hands it to the archive, with whole-microsecond times so that it
/// reads back exactly.
fn gamehall_game(game_id: &str, completed_at: DateTime<Utc>) -> GameRecord {
    let completed_at = completed_at.trunc_subsecs(6);
    let player = |seat: u8, name: &str| ArchivedPlayer {
        seat,
        player_id: format!("p-{seat}"),
        name: name.into(),
    };
    GameRecord {
        game_id: game_id.into(),
        room_id: "room-new".into(),
        game_kind: "tictactoe".into(),
        seed: 42,
        options: json!({}).into(),
        players: vec![player(0, "Ada"), player(1, "Bob")],
        outcome: Outcome::win(0),
        final_state: json!({"board": "XXXOO...."}).into(),
        started_at: completed_at - TimeDelta::seconds(60),
        completed_at,
        events: (1..=3)
            .map(|seq| ArchivedEvent {
                seq,
                kind: "move".into(),
                data: json!({"cell": seq}).into(),
                private: None,
                action: Some(ArchivedAction {
                    seat: 0,
                    action: json!({"cell": seq}).into(),
                }),
                tick: None,
                inputs: Vec::new(),
                at: completed_at,
            })
            .collect(),
        events_truncated: false,
    }
}

#[test]
fn postgres_adopts_a_seed_schema_archive() {
    use gamehall::archive::schema::pg::archive::{completed_games as games, game_events as events};

    let db = TestPgDb::create();
    let url = DatabaseUrl::parse(&db.url).expect("test URL parses");
    let mut conn = db.connect();
    conn.batch_execute(SEED_ARCHIVE_DDL)
        .expect("the seed's DDL runs");
    conn.batch_execute(SEED_ROWS).expect("seed-shaped rows");

    assert_eq!(run_migrations(&url).expect("adopt"), MIGRATIONS);

    // The old rows are all there, backfilled.
    type Game = (String, String, i64, DateTime<Utc>, DateTime<Utc>);
    let old_games: Vec<Game> = games::table
        .order(games::game_id)
        .select((
            games::game_id,
            games::game_kind,
            games::seed,
            games::completed_at,
            games::archived_at,
        ))
        .load(&mut conn)
        .expect("read the adopted games");
    let kinds: Vec<(&str, &str, i64)> = old_games
        .iter()
        .map(|(id, kind, seed, ..)| (id.as_str(), kind.as_str(), *seed))
        .collect();
    assert_eq!(
        kinds,
        [("seed-1", "tictactoe", 0), ("seed-2", "unknown", 0)],
        "game_kind from game_data, else 'unknown'; seed 0"
    );
    assert_eq!(
        old_games[0].4, old_games[0].3,
        "a NULL archived_at becomes completed_at"
    );
    let old_events: Vec<(String, i64, String, DateTime<Utc>)> = events::table
        .order(events::id)
        .select((
            events::game_id,
            events::seq,
            events::event_type,
            events::archived_at,
        ))
        .load(&mut conn)
        .expect("read the adopted events");
    let seqs: Vec<(&str, i64)> = old_events
        .iter()
        .map(|(game, seq, ..)| (game.as_str(), *seq))
        .collect();
    assert_eq!(
        seqs,
        [("seed-1", 1), ("seed-2", 1), ("seed-1", 2), ("seed-1", 3)],
        "seq numbers each game's events in id order"
    );
    assert_eq!(
        old_events[3].2, "player_left_the_table_before_the_game_was_over_and_forfeited",
        "event kinds longer than 50 characters are kept whole"
    );
    assert_eq!(
        old_events[0].3, old_games[0].4,
        "a NULL event archived_at becomes its game's"
    );

    // The shape is gamehall's: columns, collations, constraints and indexes.
    assert_pg_columns_match_schema(&mut conn, Order::ByName);
    assert_eq!(pg_indexes(&mut conn), PG_INDEXES);
    assert_eq!(pg_byte_order_columns(&mut conn), PG_BYTE_ORDER_COLUMNS);
    assert_eq!(
        names(
            diesel::sql_query(
                "SELECT conname::text || ' ' || contype::text || ' ' || confdeltype::text AS name \
                 FROM pg_constraint WHERE conrelid = 'archive.game_events'::regclass \
                 AND contype IN ('f', 'u') ORDER BY 1",
            )
            .load(&mut conn),
        ),
        // confdeltype 'c' is ON DELETE CASCADE; a unique constraint has none (' ').
        [
            "game_events_game_id_fkey f c",
            "game_events_game_id_seq_key u  "
        ]
    );

    // The archive works on it: new games are written and read back, old ones are listed and
    // answer a typed error instead of a record.
    let store = ArchiveStore::connect(&url, 2, Duration::from_secs(5)).expect("a store");
    let new = gamehall_game("new-1", Utc::now());
    let written = store
        .write_batch(std::slice::from_ref(&new))
        .expect("write a game");
    assert_eq!((written.games, written.events), (1, 3));
    assert_eq!(store.load_record("new-1").expect("load"), Some(new.clone()));
    match store.load_record("seed-1") {
        Err(StoreError::Adopted { game_id }) => assert_eq!(game_id, "seed-1"),
        other => panic!("expected an adopted game, got {other:?}"),
    }
    let page = store.list_games(&GameQuery::default()).expect("list");
    let listed: Vec<&str> = page.games.iter().map(|g| g.game_id.as_str()).collect();
    assert_eq!(listed, ["new-1", "seed-2", "seed-1"]);
    let adopted = &page.games[2];
    assert_eq!(adopted.game_kind, "tictactoe");
    assert_eq!(adopted.winner_name.as_deref(), Some("alice"));
    assert_eq!(adopted.duration_seconds, Some(95));
    assert!(adopted.players.is_empty());
    assert_eq!(adopted.outcome, None);
    assert_eq!(page.games[0].outcome, Some(new.outcome.clone()));

    // Retention deletes old games with their events: the foreign key cascades now.
    let pruned = store
        .prune(Utc::now() - TimeDelta::days(1))
        .expect("prune the seed's games");
    assert_eq!(pruned, 2);
    assert_eq!(store.count_games().expect("count"), 1);
    assert_eq!(store.count_events().expect("count"), 3);

    assert!(
        run_migrations(&url).expect("migrate again").is_empty(),
        "an adopted database is up to date"
    );
}

#[test]
fn postgres_adoption_stops_at_events_without_a_game() {
    let db = TestPgDb::create();
    let url = DatabaseUrl::parse(&db.url).expect("test URL parses");
    let mut conn = db.connect();
    conn.batch_execute(SEED_ARCHIVE_DDL)
        .expect("the seed's DDL runs");
    conn.batch_execute(SEED_ROWS).expect("seed-shaped rows");
    conn.batch_execute(
        "INSERT INTO archive.game_events (game_id, event_type, event_data, event_timestamp) \
         VALUES (NULL, 'stray', '{}', NOW())",
    )
    .expect("an event of no game");

    let err = run_migrations(&url).expect_err("adoption refuses orphan events");
    let message = err.to_string();
    assert!(
        matches!(err, ArchiveError::Migration { .. })
            && message.contains("1 event(s) with no game_id")
            && message.contains("DELETE FROM archive.game_events WHERE game_id IS NULL"),
        "the error says what to do: {message}"
    );
    assert!(
        !pg_column_names(&mut conn, "game_events").contains(&"seq".to_owned()),
        "the adoption was rolled back as a whole"
    );

    conn.batch_execute("DELETE FROM archive.game_events WHERE game_id IS NULL")
        .expect("the operator's fix");
    assert_eq!(run_migrations(&url).expect("adopt"), SINCE_ADOPT);
    assert_pg_columns_match_schema(&mut conn, Order::ByName);
}

#[test]
fn postgres_archive_migrated_before_adoption_only_widens_event_type() {
    use gamehall::archive::schema::pg::archive::game_events as events;

    let db = TestPgDb::create();
    let url = DatabaseUrl::parse(&db.url).expect("test URL parses");
    let mut conn = db.connect();
    conn.applied_migrations()
        .expect("diesel's bookkeeping table");
    conn.batch_execute(PG_CREATE_ARCHIVE_BEFORE_ADOPTION)
        .expect("the first migration as it was");
    conn.batch_execute(include_str!(
        "../migrations/postgres/2025-11-26-000000_index_game_players/up.sql"
    ))
    .expect("the second migration");
    conn.batch_execute(
        "INSERT INTO __diesel_schema_migrations (version) \
         VALUES ('20251125000000'), ('20251126000000')",
    )
    .expect("both recorded as applied");
    let store = ArchiveStore::connect(&url, 2, Duration::from_secs(5)).expect("a store");
    let old = gamehall_game("before", Utc::now());
    store
        .write_batch(std::slice::from_ref(&old))
        .expect("write a game");

    assert_eq!(run_migrations(&url).expect("migrate"), SINCE_ADOPT);

    assert_pg_columns_match_schema(&mut conn, Order::AsDeclared);
    assert_eq!(pg_indexes(&mut conn), PG_INDEXES);
    assert_eq!(pg_byte_order_columns(&mut conn), PG_BYTE_ORDER_COLUMNS);
    assert_eq!(store.load_record("before").expect("load"), Some(old));
    let mut long = gamehall_game("after", Utc::now());
    long.events[0].kind = "k".repeat(100);
    store
        .write_batch(&[long.clone()])
        .expect("a long event kind");
    assert_eq!(store.load_record("after").expect("load"), Some(long));
    let seqs: Vec<i64> = events::table
        .filter(events::game_id.eq("before"))
        .order(events::id)
        .select(events::seq)
        .load(&mut conn)
        .expect("read events");
    assert_eq!(seqs, [1, 2, 3], "existing events keep their seq");
    assert!(run_migrations(&url).expect("migrate again").is_empty());
}

#[test]
fn sqlite_archive_migrated_before_the_widening_keeps_its_events_and_ids() {
    use gamehall::archive::schema::sqlite::game_events as events;

    let file = TempSqliteFile::new();
    let url = DatabaseUrl::parse(&file.url()).expect("test URL parses");
    let mut conn = establish_sqlite(file.path_str()).expect("connect");
    conn.applied_migrations()
        .expect("diesel's bookkeeping table");
    conn.batch_execute(SQLITE_CREATE_ARCHIVE_BEFORE_ADOPTION)
        .expect("the first migration as it was");
    conn.batch_execute(
        "INSERT INTO __diesel_schema_migrations (version) \
         VALUES ('20251125000000'), ('20251126000000')",
    )
    .expect("both recorded as applied");
    let store = ArchiveStore::connect(&url, 2, Duration::from_secs(5)).expect("a store");
    let old = gamehall_game("before", Utc::now());
    store
        .write_batch(std::slice::from_ref(&old))
        .expect("write a game");
    // Ids 1 to 3; deleting the last leaves AUTOINCREMENT's high-water mark above the others.
    diesel::delete(events::table.filter(events::seq.eq(3_i64)))
        .execute(&mut conn)
        .expect("delete an event");

    assert_eq!(run_migrations(&url).expect("migrate"), SINCE_ADOPT);

    assert_sqlite_columns_match_schema(&mut conn);
    let kept: Vec<(i64, i64)> = events::table
        .order(events::id)
        .select((events::id, events::seq))
        .load(&mut conn)
        .expect("read events");
    assert_eq!(kept, [(1, 1), (2, 2)], "events keep their ids and seqs");
    let mut long = gamehall_game("after", Utc::now());
    long.events[0].kind = "k".repeat(100);
    store
        .write_batch(&[long.clone()])
        .expect("a long event kind");
    assert_eq!(store.load_record("after").expect("load"), Some(long));
    let first_new_id: i64 = events::table
        .filter(events::game_id.eq("after"))
        .select(diesel::dsl::min(events::id))
        .first::<Option<i64>>(&mut conn)
        .expect("read ids")
        .expect("the new game has events");
    assert_eq!(first_new_id, 4, "no id is used twice");
    let too_long = diesel::insert_into(events::table)
        .values((
            events::game_id.eq("after"),
            events::seq.eq(9_i64),
            events::event_type.eq("k".repeat(101)),
            events::event_data.eq("{}"),
            events::event_timestamp.eq(Utc::now().naive_utc()),
        ))
        .execute(&mut conn);
    assert_db_error(too_long, DatabaseErrorKind::CheckViolation);
    assert!(run_migrations(&url).expect("migrate again").is_empty());
}

// ---------------------------------------------------------------------------------------------
// schema.rs against the migrated database

/// One column: its name, diesel's SQL type for it (`Varchar` is diesel's `Text`), whether it
/// takes NULL, and the length limit of a VARCHAR.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ColumnShape {
    name: String,
    sql_type: String,
    nullable: bool,
    max_length: Option<i32>,
}

/// The name diesel gives each SQL type the archive uses, and whether it is `Nullable`. A
/// column of any other type does not compile here, which is as good as failing.
trait SqlTypeName {
    const NAME: &'static str;
    const NULLABLE: bool = false;
}

macro_rules! sql_type_names {
    ($($ty:ident),+) => {
        $(impl SqlTypeName for diesel::sql_types::$ty {
            const NAME: &'static str = stringify!($ty);
        })+
    };
}
sql_type_names!(Integer, BigInt, Text, Jsonb, Timestamptz, Timestamp);

impl<T: SqlTypeName + diesel::sql_types::SqlType> SqlTypeName for diesel::sql_types::Nullable<T> {
    const NAME: &'static str = T::NAME;
    const NULLABLE: bool = true;
}

/// The columns of a `table!`'s `all_columns` tuple, in declaration order.
trait DeclaredColumns {
    fn declared() -> Vec<(&'static str, &'static str, bool)>;
}

macro_rules! declared_columns {
    () => {};
    ($first:ident $(, $rest:ident)*) => {
        impl<$first, $($rest),*> DeclaredColumns for ($first, $($rest,)*)
        where
            $first: diesel::Column,
            <$first as diesel::Expression>::SqlType: SqlTypeName,
            $(
                $rest: diesel::Column,
                <$rest as diesel::Expression>::SqlType: SqlTypeName,
            )*
        {
            fn declared() -> Vec<(&'static str, &'static str, bool)> {
                vec![
                    (
                        $first::NAME,
                        <<$first as diesel::Expression>::SqlType as SqlTypeName>::NAME,
                        <<$first as diesel::Expression>::SqlType as SqlTypeName>::NULLABLE,
                    ),
                    $((
                        $rest::NAME,
                        <<$rest as diesel::Expression>::SqlType as SqlTypeName>::NAME,
                        <<$rest as diesel::Expression>::SqlType as SqlTypeName>::NULLABLE,
                    ),)*
                ]
            }
        }
        declared_columns!($($rest),*);
    };
}
declared_columns!(C0, C1, C2, C3, C4, C5, C6, C7, C8, C9, C10, C11, C12, C13, C14, C15);

/// `#[max_length = N]` of each column in a schema file, by (table, column). diesel's `table!`
/// keeps it only as a trait on columns that have one, which generic code cannot ask for, so
/// it is read from the file itself.
fn declared_max_lengths(schema_source: &str) -> BTreeMap<(String, String), i32> {
    let mut lengths = BTreeMap::new();
    let (mut table, mut pending) = (String::new(), None);
    for line in schema_source.lines().map(str::trim) {
        if let Some(n) = line
            .strip_prefix("#[max_length = ")
            .and_then(|rest| rest.strip_suffix(']'))
        {
            pending = Some(n.parse().expect("a max_length is a number"));
        } else if let Some((name, _)) = line.split_once(" (").filter(|_| line.ends_with('{')) {
            table = name.rsplit('.').next().unwrap_or(name).to_owned();
        } else if let Some((column, _)) = line.split_once(" -> ") {
            if let Some(n) = pending.take() {
                lengths.insert((table.clone(), column.to_owned()), n);
            }
        }
    }
    lengths
}

/// What schema.rs declares for `table` (whose `all_columns` is `T::AllColumns`), with the
/// VARCHAR limits of the PostgreSQL schema file; SQLite checks the same limits.
fn declared<T>(table: &str) -> Vec<ColumnShape>
where
    T: diesel::Table,
    T::AllColumns: DeclaredColumns,
{
    let lengths = declared_max_lengths(include_str!("../src/archive/schema/pg.rs"));
    let columns = T::AllColumns::declared();
    for (t, c) in lengths.keys() {
        assert!(
            t != table || columns.iter().any(|(name, ..)| name == c),
            "pg.rs gives {t}.{c} a max_length, but {table} has no such column"
        );
    }
    columns
        .into_iter()
        .map(|(name, sql_type, nullable)| ColumnShape {
            name: name.to_owned(),
            sql_type: sql_type.to_owned(),
            nullable,
            max_length: lengths.get(&(table.to_owned(), name.to_owned())).copied(),
        })
        .collect()
}

/// Fresh databases must list columns as schema.rs does, since `diesel print-schema` follows
/// the table's column order; an adopted table has its added columns at the end.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Order {
    AsDeclared,
    ByName,
}

/// `None` when the database has exactly the declared columns, else what differs.
fn column_difference(
    mut actual: Vec<ColumnShape>,
    mut expected: Vec<ColumnShape>,
    order: Order,
) -> Option<String> {
    if order == Order::ByName {
        actual.sort();
        expected.sort();
    }
    (actual != expected).then(|| {
        format!("the database has\n{actual:#?}\nbut src/archive/schema declares\n{expected:#?}")
    })
}

fn assert_same_columns(
    table: &str,
    actual: Vec<ColumnShape>,
    expected: Vec<ColumnShape>,
    order: Order,
) {
    if let Some(difference) = column_difference(actual, expected, order) {
        panic!("{table}: {difference}");
    }
}

#[derive(QueryableByName)]
struct PgColumn {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = Bool)]
    nullable: bool,
    #[diesel(sql_type = Nullable<Integer>)]
    max_length: Option<i32>,
}

fn pg_columns(conn: &mut PgConnection, table: &str) -> Vec<ColumnShape> {
    let rows: Vec<PgColumn> = diesel::sql_query(
        "SELECT column_name::text AS name, data_type::text AS data_type, \
         is_nullable = 'YES' AS nullable, character_maximum_length::int AS max_length \
         FROM information_schema.columns WHERE table_schema = 'archive' AND table_name = $1 \
         ORDER BY ordinal_position",
    )
    .bind::<Text, _>(table)
    .load(conn)
    .expect("catalog query");
    rows.into_iter()
        .map(|c| ColumnShape {
            // As diesel print-schema maps them.
            sql_type: match c.data_type.as_str() {
                "character varying" | "text" => "Text",
                "integer" => "Integer",
                "bigint" => "BigInt",
                "jsonb" => "Jsonb",
                "timestamp with time zone" => "Timestamptz",
                "timestamp without time zone" => "Timestamp",
                other => other,
            }
            .to_owned(),
            name: c.name,
            nullable: c.nullable,
            max_length: c.max_length,
        })
        .collect()
}

fn pg_column_names(conn: &mut PgConnection, table: &str) -> Vec<String> {
    pg_columns(conn, table)
        .into_iter()
        .map(|c| c.name)
        .collect()
}

fn assert_pg_columns_match_schema(conn: &mut PgConnection, order: Order) {
    use gamehall::archive::schema::pg::archive::{completed_games, game_events};
    for (table, expected) in [
        (
            "completed_games",
            declared::<completed_games::table>("completed_games"),
        ),
        ("game_events", declared::<game_events::table>("game_events")),
    ] {
        assert_same_columns(table, pg_columns(conn, table), expected, order);
    }
}

#[derive(QueryableByName)]
struct SqliteColumn {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    declared_type: String,
    #[diesel(sql_type = Bool)]
    not_null: bool,
    #[diesel(sql_type = Bool)]
    primary_key: bool,
}

fn sqlite_columns(conn: &mut SqliteConnection, table: &str) -> Vec<ColumnShape> {
    let rows: Vec<SqliteColumn> = diesel::sql_query(
        "SELECT name, type AS declared_type, \"notnull\" AS not_null, pk > 0 AS primary_key \
         FROM pragma_table_info(?) ORDER BY cid",
    )
    .bind::<Text, _>(table)
    .load(conn)
    .expect("pragma_table_info");
    rows.into_iter()
        .map(|c| {
            let declared = c.declared_type.to_ascii_uppercase();
            let (base, max_length) = match declared.split_once('(') {
                Some((base, rest)) => (
                    base.trim().to_owned(),
                    rest.trim_end_matches(')').trim().parse().ok(),
                ),
                None => (declared.clone(), None),
            };
            // As diesel print-schema maps them, with --sqlite-integer-primary-key-is-bigint.
            let sql_type = match base.as_str() {
                "INTEGER" if c.primary_key => "BigInt",
                "INTEGER" => "Integer",
                "BIGINT" => "BigInt",
                "VARCHAR" | "TEXT" => "Text",
                "TIMESTAMP" => "Timestamp",
                _ => declared.as_str(),
            }
            .to_owned();
            ColumnShape {
                name: c.name,
                sql_type,
                nullable: !c.not_null,
                max_length,
            }
        })
        .collect()
}

fn assert_sqlite_columns_match_schema(conn: &mut SqliteConnection) {
    use gamehall::archive::schema::sqlite::{completed_games, game_events};
    for (table, expected) in [
        (
            "completed_games",
            declared::<completed_games::table>("completed_games"),
        ),
        ("game_events", declared::<game_events::table>("game_events")),
    ] {
        assert_same_columns(
            table,
            sqlite_columns(conn, table),
            expected,
            Order::AsDeclared,
        );
    }
}

#[test]
fn postgres_columns_are_those_of_schema_rs() {
    let db = TestPgDb::create();
    run_migrations(&DatabaseUrl::parse(&db.url).expect("test URL parses")).expect("migrate");
    assert_pg_columns_match_schema(&mut db.connect(), Order::AsDeclared);
}

#[test]
fn sqlite_columns_are_those_of_schema_rs() {
    let file = TempSqliteFile::new();
    run_migrations(&DatabaseUrl::parse(&file.url()).expect("test URL parses")).expect("migrate");
    assert_sqlite_columns_match_schema(&mut establish_sqlite(file.path_str()).expect("connect"));
}

#[test]
fn the_column_check_sees_added_removed_and_retyped_columns() {
    use gamehall::archive::schema::pg::archive::game_events;
    let expected = declared::<game_events::table>("game_events");
    let event_type = expected
        .iter()
        .find(|c| c.name == "event_type")
        .expect("game_events.event_type is declared");
    assert_eq!(
        (event_type.sql_type.as_str(), event_type.max_length),
        ("Text", Some(100))
    );
    let mut added = expected.clone();
    added.push(ColumnShape {
        name: "extra".into(),
        sql_type: "Text".into(),
        nullable: true,
        max_length: None,
    });
    let mut retyped = expected.clone();
    retyped[0].sql_type = "Integer".into();
    let mut narrowed = expected.clone();
    for column in &mut narrowed {
        column.max_length = column.max_length.map(|n| n - 1);
    }
    let mut nullable = expected.clone();
    nullable[1].nullable = true;
    for (what, actual) in [
        ("added", added),
        ("removed", expected[1..].to_vec()),
        ("retyped", retyped),
        ("narrowed", narrowed),
        ("made nullable", nullable),
    ] {
        assert!(
            column_difference(actual, expected.clone(), Order::ByName).is_some(),
            "a column {what} must fail the check"
        );
    }
    assert_eq!(
        column_difference(expected.clone(), expected, Order::AsDeclared),
        None
    );
}
