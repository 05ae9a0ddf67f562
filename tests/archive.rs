//! The archive's storage half: the store on both backends, the spool, and the archiver actors,
//! including a database outage in the middle of a run.
//!
//! PostgreSQL must be running: each test creates its own database through
//! `postgres://postgres@127.0.0.1:5432/test` (or `GAMEHALL_TEST_PG_URL`) and drops it when done.
//! An unreachable server fails the tests; it never skips them. SQLite tests use a file in a
//! temporary directory. Set `TEST_LOG=1` to see the archive's logs.

mod archive_support;

use std::collections::HashSet;
use std::time::Duration;

use archive_support::{
    game, games, logger, now, pg_server_addr, spool_lines, wait_until, ChaosProxy, TestDb,
    CONNECT_TIMEOUT,
};
use chrono::TimeDelta;
use gamehall::affinity::CpuList;
use gamehall::archive::{
    ArchiveGame, ArchiveHandle, ArchiveStatus, ArchiveStore, Archiver, ArchiverSettings,
    BatchWritten, CursorError, DatabaseUrl, Drain, DrainReport, Flush, FlushReport, GameCursor,
    GameQuery, GameRecord, Spool, SpoolError, StoreError,
};

/// Long enough never to fire during a test that relies on batch size or Flush alone.
const NEVER: Duration = Duration::from_secs(3600);
const WAIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// The store, on both backends

fn round_trip(db: &TestDb) {
    let store = db.store();
    let mut records = games(3);
    records[1].events_truncated = true;
    records[1].events.drain(..4);
    records[2].events.clear();
    records[2].seed = 0;
    records[0].seed = u64::MAX;
    // The longest kind `event_type` (VARCHAR(100)) takes.
    records[0].events[1].kind = "k".repeat(100);

    let written = store.write_batch(&records).expect("write");
    assert_eq!(
        written,
        BatchWritten {
            games: 3,
            duplicates: 0,
            events: 9 + 5
        }
    );
    for record in &records {
        let back = store
            .load_record(&record.game_id)
            .expect("load")
            .expect("the game is stored");
        assert_eq!(&back, record);
    }
    assert_eq!(store.load_record("no-such-game").expect("load"), None);
    assert_eq!(store.count_games().expect("count"), 3);
    assert_eq!(store.count_events().expect("count"), 14);
}

#[test]
fn postgres_round_trip() {
    round_trip(&TestDb::postgres());
}

#[test]
fn sqlite_round_trip() {
    round_trip(&TestDb::sqlite());
}

fn duplicates_are_stored_once(db: &TestDb) {
    let store = db.store();
    let records = games(2);
    let (a, b) = (&records[0], &records[1]);

    let first = store
        .write_batch(&[a.clone(), a.clone(), b.clone()])
        .expect("write");
    assert_eq!((first.games, first.duplicates, first.events), (2, 1, 18));

    // A different record under a stored id changes nothing: the first write wins whole.
    let mut impostor = b.clone();
    impostor.room_id = "r-impostor".into();
    impostor.events.push(gamehall::archive::ArchivedEvent {
        seq: 99,
        ..impostor.events[0].clone()
    });
    let again = store
        .write_batch(&[a.clone(), impostor])
        .expect("write again");
    assert_eq!((again.games, again.duplicates, again.events), (0, 2, 0));

    assert_eq!(store.count_games().expect("count"), 2);
    assert_eq!(store.count_events().expect("count"), 18);
    assert_eq!(
        store.load_record(&b.game_id).expect("load").as_ref(),
        Some(b)
    );
}

#[test]
fn postgres_duplicates_are_stored_once() {
    duplicates_are_stored_once(&TestDb::postgres());
}

#[test]
fn sqlite_duplicates_are_stored_once() {
    duplicates_are_stored_once(&TestDb::sqlite());
}

fn invalid_records_fail_the_batch_and_write_nothing(db: &TestDb) {
    let store = db.store();
    let mut records = games(2);
    // event_type is VARCHAR(100).
    records[1].events[3].kind = "k".repeat(101);
    match store.write_batch(&records) {
        Err(e @ StoreError::InvalidRecord { .. }) => {
            assert!(e.is_record_fault() && !e.is_unavailable(), "{e}");
        }
        other => panic!("expected an invalid record, got {other:?}"),
    }
    let mut out_of_order = games(1);
    out_of_order[0].events.swap(2, 3);
    assert!(matches!(
        store.write_batch(&out_of_order),
        Err(StoreError::InvalidRecord { .. })
    ));
    let mut nul = games(1);
    nul[0].players[0].name = "A\u{0}da".into();
    assert!(matches!(
        store.write_batch(&nul),
        Err(StoreError::InvalidRecord { .. })
    ));
    assert_eq!(store.count_games().expect("count"), 0);
}

#[test]
fn postgres_invalid_records_write_nothing() {
    invalid_records_fail_the_batch_and_write_nothing(&TestDb::postgres());
}

#[test]
fn sqlite_invalid_records_write_nothing() {
    invalid_records_fail_the_batch_and_write_nothing(&TestDb::sqlite());
}

fn prune_deletes_only_old_games(db: &TestDb) {
    let store = db.store();
    let now = now();
    let records: Vec<GameRecord> = [10, 5, 1, 0]
        .iter()
        .enumerate()
        .map(|(n, days)| game(n, now - TimeDelta::days(*days), 9))
        .collect();
    store.write_batch(&records).expect("write");

    let pruned = store.prune(now - TimeDelta::days(3)).expect("prune");
    assert_eq!(pruned, 2);
    assert_eq!(store.count_games().expect("count"), 2);
    assert_eq!(
        store.count_events().expect("count"),
        18,
        "the pruned games' events went with them"
    );
    assert_eq!(store.load_record(&records[0].game_id).expect("load"), None);
    assert_eq!(store.load_record(&records[1].game_id).expect("load"), None);
    assert!(store
        .load_record(&records[2].game_id)
        .expect("load")
        .is_some());
    assert_eq!(store.prune(now - TimeDelta::days(3)).expect("again"), 0);
}

#[test]
fn postgres_prune_deletes_only_old_games() {
    prune_deletes_only_old_games(&TestDb::postgres());
}

#[test]
fn sqlite_prune_deletes_only_old_games() {
    prune_deletes_only_old_games(&TestDb::sqlite());
}

/// Walks every page of `query`, returning the game ids in order.
fn all_pages(store: &ArchiveStore, mut query: GameQuery) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..1000 {
        let page = store.list_games(&query).expect("list");
        assert!(page.games.len() <= query.limit as usize);
        ids.extend(page.games.iter().map(|g| g.game_id.clone()));
        match page.next {
            // Through the wire form, as a client would send it back.
            Some(next) => {
                query.before = Some(GameCursor::decode(&next.encode()).expect("cursor decodes"));
            }
            None => return ids,
        }
    }
    panic!("pagination does not end");
}

fn keyset_pagination(db: &TestDb) {
    let store = db.store();
    let base = now() - TimeDelta::hours(2);
    // Five games share each completion time, so ties must be broken by game_id.
    let mut records: Vec<GameRecord> = (0..23)
        .map(|n| game(n, base + TimeDelta::seconds((n / 5) as i64), 9))
        .collect();
    store.write_batch(&records).expect("write");
    records.sort_by(|a, b| (b.completed_at, &b.game_id).cmp(&(a.completed_at, &a.game_id)));
    let expected: Vec<String> = records.iter().map(|r| r.game_id.clone()).collect();

    for limit in [1, 4, 5, 7, 23, 100] {
        let query = GameQuery {
            limit,
            ..GameQuery::default()
        };
        assert_eq!(all_pages(&store, query), expected, "limit {limit}");
    }

    // Games archived between two requests do not shift the pages after them.
    let first = store
        .list_games(&GameQuery {
            limit: 6,
            ..GameQuery::default()
        })
        .expect("list");
    store
        .write_batch(&[game(99, now(), 9)])
        .expect("write a newer game");
    let rest = all_pages(
        &store,
        GameQuery {
            limit: 6,
            before: first.next.clone(),
            ..GameQuery::default()
        },
    );
    let mut seen: Vec<String> = first.games.iter().map(|g| g.game_id.clone()).collect();
    seen.extend(rest);
    assert_eq!(seen, expected);

    // The summary rows carry what a listing shows.
    let top = &first.games[0];
    let newest = &records[0];
    assert_eq!(top.game_id, newest.game_id);
    assert_eq!(top.room_id, newest.room_id);
    assert_eq!(top.game_kind, "tictactoe");
    assert_eq!(top.completed_at, newest.completed_at);
    assert_eq!(top.duration_seconds, Some(newest.duration_seconds()));
    assert_eq!(top.winner_name.as_deref(), newest.winner_name());
    assert_eq!(top.players, newest.players);
    assert_eq!(top.outcome.as_ref(), Some(&newest.outcome));

    // Limits are clamped to 1..=100.
    let one = store
        .list_games(&GameQuery {
            limit: 0,
            ..GameQuery::default()
        })
        .expect("list");
    assert_eq!(one.games.len(), 1);
}

#[test]
fn postgres_keyset_pagination_has_no_gaps_or_duplicates() {
    keyset_pagination(&TestDb::postgres());
}

#[test]
fn sqlite_keyset_pagination_has_no_gaps_or_duplicates() {
    keyset_pagination(&TestDb::sqlite());
}

fn filters(db: &TestDb) {
    let store = db.store();
    let mut records = games(12);
    // p-shared sits in games 0, 3, 6, 9 (in either seat).
    for (n, record) in records.iter_mut().enumerate() {
        if n % 3 == 0 {
            record.players[n % 2].player_id = "p-shared".into();
        }
        if n % 2 == 0 {
            record.game_kind = "chess".into();
        }
    }
    store.write_batch(&records).expect("write");
    let ids = |pred: &dyn Fn(usize) -> bool| -> Vec<String> {
        (0..records.len())
            .rev()
            .filter(|n| pred(*n))
            .map(|n| records[n].game_id.clone())
            .collect()
    };

    let player = GameQuery {
        player: Some("p-shared".into()),
        limit: 3,
        ..GameQuery::default()
    };
    assert_eq!(all_pages(&store, player), ids(&|n| n % 3 == 0));

    let kind = GameQuery {
        game_kind: Some("chess".into()),
        limit: 4,
        ..GameQuery::default()
    };
    assert_eq!(all_pages(&store, kind), ids(&|n| n % 2 == 0));

    let both = GameQuery {
        player: Some("p-shared".into()),
        game_kind: Some("chess".into()),
        limit: 1,
        ..GameQuery::default()
    };
    assert_eq!(all_pages(&store, both), ids(&|n| n % 6 == 0));

    // A player id is matched whole, not as a prefix or inside JSON text.
    for nobody in ["p-shared-x", "p-shar", "p-1-a\"", "%"] {
        let query = GameQuery {
            player: Some(nobody.into()),
            ..GameQuery::default()
        };
        assert!(
            store.list_games(&query).expect("list").games.is_empty(),
            "{nobody}"
        );
    }
}

#[test]
fn postgres_player_and_kind_filters() {
    filters(&TestDb::postgres());
}

#[test]
fn sqlite_player_and_kind_filters() {
    filters(&TestDb::sqlite());
}

#[test]
fn an_in_memory_sqlite_store_migrates_through_its_pool() {
    // Each connection to :memory: is its own database: the pool keeps exactly one.
    let url = DatabaseUrl::parse("sqlite::memory:").expect("parses");
    let store = ArchiveStore::connect(&url, 8, CONNECT_TIMEOUT).expect("pool");
    let applied = store.migrate().expect("migrate");
    let shipped = diesel::migration::MigrationSource::<diesel::sqlite::Sqlite>::migrations(
        &gamehall::archive::SQLITE_MIGRATIONS,
    )
    .expect("embedded migrations")
    .len();
    assert_eq!(applied.len(), shipped);
    assert!(store.migrate().expect("migrate again").is_empty());
    let records = games(2);
    store.write_batch(&records).expect("write");
    assert_eq!(
        store
            .load_record(&records[1].game_id)
            .expect("load")
            .as_ref(),
        Some(&records[1])
    );
}

#[test]
fn bad_cursors_are_typed_errors() {
    assert_eq!(
        GameCursor::decode("not a cursor!"),
        Err(CursorError::NotBase64)
    );
    assert_eq!(GameCursor::decode("bm9wZQ"), Err(CursorError::Malformed));
}

/// A batch is written slice by slice (the writer gives way to the reactors in between): stored
/// and new games interleaved across many slices are told apart exactly, a slice of long games
/// goes in over many statements, and games and events of every count are cut into the
/// store's fixed-size inserts without a row lost or repeated.
fn batches_spanning_many_slices(db: &TestDb) {
    let store = db.store();
    let records = games(100);
    let every_third: Vec<GameRecord> = records.iter().step_by(3).cloned().collect();
    let first = store.write_batch(&every_third).expect("write every third");
    assert_eq!((first.games, first.duplicates, first.events), (34, 0, 306));

    let all = store.write_batch(&records).expect("write all");
    assert_eq!((all.games, all.duplicates, all.events), (66, 34, 594));
    assert_eq!(store.count_games().expect("count"), 100);
    assert_eq!(store.count_events().expect("count"), 900);
    for n in [0, 1, 50, 98, 99] {
        let back = store.load_record(&records[n].game_id).expect("load");
        assert_eq!(back.as_ref(), Some(&records[n]));
    }

    let base = now() - TimeDelta::minutes(30);
    // Ten 700-event games in one slice: 7,000 event rows, in many statements.
    let long: Vec<GameRecord> = (0..12)
        .map(|n| game(1_000 + n, base + TimeDelta::milliseconds(n as i64), 700))
        .collect();
    let written = store.write_batch(&long).expect("write long games");
    assert_eq!((written.games, written.events), (12, 8_400));
    assert_eq!(store.count_events().expect("count"), 9_300);
    for n in [0, 9, 11] {
        let back = store.load_record(&long[n].game_id).expect("load");
        assert_eq!(back.as_ref(), Some(&long[n]));
    }

    // 23 games (two full slices and three left over) of 1 to 70 events each: every count of
    // rows a slice can leave for the inserts' sizes to cut.
    let odd: Vec<GameRecord> = (0..23)
        .map(|n| {
            let at = base + TimeDelta::milliseconds(100 + n as i64);
            game(2_000 + n, at, 1 + (n * 37) % 70)
        })
        .collect();
    let odd_events: usize = odd.iter().map(|r| r.events.len()).sum();
    let written = store.write_batch(&odd).expect("write games of odd lengths");
    assert_eq!((written.games, written.events), (23, odd_events));
    assert_eq!(
        store.count_events().expect("count"),
        9_300 + odd_events as u64
    );
    for record in &odd {
        let back = store.load_record(&record.game_id).expect("load");
        assert_eq!(back.as_ref(), Some(record));
    }
    let again = store.write_batch(&odd).expect("write them again");
    assert_eq!((again.games, again.duplicates, again.events), (0, 23, 0));
}

#[test]
fn postgres_batches_spanning_many_slices() {
    batches_spanning_many_slices(&TestDb::postgres());
}

#[test]
fn sqlite_batches_spanning_many_slices() {
    batches_spanning_many_slices(&TestDb::sqlite());
}

#[test]
fn postgres_bulk_batches() {
    let db = TestDb::postgres();
    let store = db.store();

    let records = games(1_000);
    let written = store.write_batch(&records).expect("write 1,000 games");
    assert_eq!(
        written,
        BatchWritten {
            games: 1_000,
            duplicates: 0,
            events: 9_000
        }
    );
    assert_eq!(store.count_games().expect("count"), 1_000);
    assert_eq!(store.count_events().expect("count"), 9_000);
    for n in [0, 499, 999] {
        let back = store.load_record(&records[n].game_id).expect("load");
        assert_eq!(back.as_ref(), Some(&records[n]));
    }

    let long = game(5_000, now(), 1_000);
    let written = store
        .write_batch(std::slice::from_ref(&long))
        .expect("write a 1,000-event game");
    assert_eq!((written.games, written.events), (1, 1_000));
    assert_eq!(store.load_record(&long.game_id).expect("load"), Some(long));
    assert_eq!(store.count_events().expect("count"), 10_000);

    // Again, whole: nothing more is stored.
    let again = store.write_batch(&records).expect("write again");
    assert_eq!((again.games, again.duplicates), (0, 1_000));
    assert_eq!(store.count_events().expect("count"), 10_000);
}

#[test]
fn the_store_starts_while_the_database_is_down() {
    // Port 1 on the loopback refuses connections at once.
    let url =
        DatabaseUrl::parse("postgres://gamehall:hunter2@127.0.0.1:1/gamehall").expect("parses");
    let store = ArchiveStore::connect(&url, 2, CONNECT_TIMEOUT).expect("no connection needed");
    for result in [store.ping(), store.write_batch(&games(1)).map(drop)] {
        match result {
            Err(e @ StoreError::Unavailable { .. }) => {
                assert!(e.is_unavailable());
                assert!(!e.is_record_fault());
                assert!(!e.to_string().contains("hunter2"), "{e}");
            }
            other => panic!("expected the database to be unavailable, got {other:?}"),
        }
    }
    assert!(!format!("{store:?}").contains("hunter2"));
    assert!(matches!(
        ArchiveStore::connect(&url, 0, CONNECT_TIMEOUT),
        Err(StoreError::BadSettings { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// The spool

#[test]
fn spool_keeps_records_in_order_across_reopening() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let spool_dir = dir.path().join("nested/spool");
    let records = games(5);
    {
        let mut spool = Spool::open(&spool_dir, logger()).expect("open creates the directory");
        assert!(spool.is_empty());
        spool.append(&records[..2]).expect("append");
        spool.append(&[]).expect("append nothing");
        spool.append(&records[2..]).expect("append");
        assert_eq!(spool.len(), 5);
        assert_eq!(spool.read_all().expect("read"), records);
    }
    let mut spool = Spool::open(&spool_dir, logger()).expect("reopen");
    assert_eq!(spool.len(), 5);
    assert_eq!(spool.read_all().expect("read"), records);
    spool.clear().expect("clear");
    assert!(spool.is_empty());
    assert!(spool.read_all().expect("read").is_empty());
    spool.append(&records[..1]).expect("append after clearing");
    assert_eq!(spool.read_all().expect("read"), records[..1]);
}

#[test]
fn spool_skips_a_torn_last_line() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let records = games(3);
    let path = {
        let mut spool = Spool::open(dir.path(), logger()).expect("open");
        spool.append(&records[..2]).expect("append");
        spool.path().to_owned()
    };
    // A crash in the middle of the third append.
    let third = serde_json::to_string(&records[2]).expect("serialise");
    let mut bytes = std::fs::read(&path).expect("read the spool");
    bytes.extend_from_slice(&third.as_bytes()[..third.len() / 2]);
    std::fs::write(&path, &bytes).expect("tear the spool");

    let mut spool = Spool::open(dir.path(), logger()).expect("a torn tail is not fatal");
    assert_eq!(spool.len(), 2);
    assert_eq!(spool.read_all().expect("read"), records[..2]);
    // The next append starts on a line of its own.
    spool.append(&records[2..]).expect("append");
    assert_eq!(spool.read_all().expect("read"), records);

    // A last record that only lacks its newline is whole: kept.
    let mut bytes = std::fs::read(&path).expect("read the spool");
    assert_eq!(bytes.pop(), Some(b'\n'));
    std::fs::write(&path, &bytes).expect("drop the last newline");
    let spool = Spool::open(dir.path(), logger()).expect("open");
    assert_eq!(spool.len(), 3);
    assert_eq!(spool.read_all().expect("read"), records);
}

#[test]
fn spool_refuses_a_corrupt_line_and_keeps_the_file() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let records = games(2);
    let mut spool = Spool::open(dir.path(), logger()).expect("open");
    spool.append(&records[..1]).expect("append");
    std::fs::OpenOptions::new()
        .append(true)
        .open(spool.path())
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"{\"game_id\": \"half\n"))
        .expect("corrupt the spool");
    drop(spool);
    let mut spool = Spool::open(dir.path(), logger()).expect("open");
    spool.append(&records[1..]).expect("append");
    let before = std::fs::read(spool.path()).expect("read the spool");

    match spool.read_all() {
        Err(SpoolError::Corrupt { line, .. }) => assert_eq!(line, 2),
        other => panic!("expected a corrupt line, got {other:?}"),
    }
    assert_eq!(
        std::fs::read(spool.path()).expect("read the spool"),
        before,
        "the file is kept as it was"
    );

    let (salvaged, moved) = spool.salvage().expect("salvage");
    assert_eq!((salvaged, moved), (records.clone(), 1));
    assert_eq!(spool.read_all().expect("read"), records);
    let rejected = std::fs::read_to_string(spool.rejected_path()).expect("rejected file");
    assert!(rejected.contains("half"), "{rejected}");
}

#[test]
fn replaying_a_spool_twice_duplicates_nothing() {
    // A crash between the database commit and the spool's truncation replays it again.
    let db = TestDb::postgres();
    let store = db.store();
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut spool = Spool::open(dir.path(), logger()).expect("open");
    let records = games(5);
    spool.append(&records).expect("spool");

    let first = store
        .write_batch(&spool.read_all().expect("read"))
        .expect("replay");
    assert_eq!((first.games, first.duplicates), (5, 0));
    // ... crash: the spool was not cleared.
    let spool = Spool::open(dir.path(), logger()).expect("reopen after the crash");
    let second = store
        .write_batch(&spool.read_all().expect("read"))
        .expect("replay again");
    assert_eq!((second.games, second.duplicates), (0, 5));
    assert_eq!(store.count_games().expect("count"), 5);
    assert_eq!(store.count_events().expect("count"), 45);
}

// ---------------------------------------------------------------------------------------------
// The archiver

/// Two writers, as the server's default: on PostgreSQL two batches are written at once (the
/// test pools have 4 connections); SQLite gets one.
fn settings(
    batch_size: usize,
    flush_interval: Duration,
    dir: &tempfile::TempDir,
) -> ArchiverSettings {
    ArchiverSettings {
        batch_size,
        flush_interval,
        spool_dir: dir.path().join("spool"),
        writers: 2,
        cpus: CpuList::default(),
    }
}

/// Hands finished games to the archiver, as rooms do.
fn submit(archive: &ArchiveHandle, records: impl IntoIterator<Item = GameRecord>) {
    for record in records {
        archive.archiver.do_send(ArchiveGame(record));
    }
}

fn count(store: &ArchiveStore) -> u64 {
    store.count_games().expect("count games")
}

#[actix_rt::test]
async fn a_full_batch_is_written_without_flush() {
    let db = TestDb::postgres();
    let dir = tempfile::tempdir().expect("temporary directory");
    let archive = Archiver::start(db.store(), settings(5, NEVER, &dir), logger()).expect("start");
    submit(&archive, games(10));
    let stats = archive.stats.clone();
    // `written` counts on the writer's thread, `pending` once the archiver has the answer.
    wait_until("two batches are written", WAIT, || {
        stats.written() == 10 && stats.pending() == 0
    })
    .await;
    assert_eq!(count(&db.store()), 10);
    assert!(stats.batches() >= 2);
}

#[test]
fn sqlite_takes_one_writer_and_postgres_one_per_pool_connection() {
    // The archiver starts min(ARCHIVE_WRITERS, this) writers.
    assert_eq!(TestDb::sqlite().store().parallel_writers(), 1);
    assert_eq!(TestDb::postgres().store().parallel_writers(), 4);
}

#[actix_rt::test]
async fn parallel_writers_store_every_game_once_and_a_flush_waits_for_all_of_them() {
    let db = TestDb::postgres();
    let store = db.store();
    let dir = tempfile::tempdir().expect("temporary directory");
    let settings = ArchiverSettings {
        writers: 3,
        ..settings(5, NEVER, &dir)
    };
    let archive = Archiver::start(store.clone(), settings, logger()).expect("start");
    let records = games(203);
    submit(&archive, records.iter().cloned());
    // Forty full batches are on their way to three writers, which answer in any order; the
    // flush's answer comes only once every one of them, and its own, is stored.
    let report = archive.archiver.send(Flush).await.expect("flush");
    assert_eq!(
        report,
        FlushReport {
            flushed: 203,
            pending: 0
        }
    );
    assert_eq!(count(&store), 203);
    assert_eq!(store.count_events().expect("count"), 203 * 9);
    let health = archive.archiver.send(ArchiveStatus).await.expect("status");
    assert_eq!((health.written, health.failed, health.pending), (203, 0, 0));
    // Full batches that waited while every writer was busy went with the flush's own.
    assert!(archive.stats.batches() > 3, "{}", archive.stats.batches());
    for record in records.iter().step_by(20) {
        assert_eq!(
            store.load_record(&record.game_id).expect("load").as_ref(),
            Some(record)
        );
    }

    // Sent again, from two sides at once: stored once.
    submit(&archive, records.iter().cloned());
    let report = archive.archiver.send(Flush).await.expect("flush");
    assert_eq!(report.pending, 0);
    assert_eq!(count(&store), 203);
    assert_eq!(archive.stats.written(), 203);
}

#[actix_rt::test]
async fn a_backlog_goes_to_the_catch_up_writer_and_every_game_is_stored_once() {
    use diesel::{Connection, RunQueryDsl, SqliteConnection};

    let db = TestDb::sqlite();
    let store = db.store();
    let DatabaseUrl::Sqlite(path) = db.url() else {
        panic!("a SQLite test database");
    };
    // Another connection holds SQLite's write lock, so the one yielding writer (SQLite gets
    // one) is stuck in its first batch, as a writer starved of CPU would be.
    let mut holder = SqliteConnection::establish(&path).expect("open the database");
    diesel::sql_query("BEGIN IMMEDIATE")
        .execute(&mut holder)
        .expect("take the write lock");
    let dir = tempfile::tempdir().expect("temporary directory");
    // One game a batch: ten queued batches is ten games.
    let archive =
        Archiver::start(store.clone(), settings(1, NEVER, &dir), logger()).expect("start");
    let records = games(30);
    submit(&archive, records.iter().cloned());
    // Handled in order: every game has been queued or sent by the time this is answered.
    let health = archive.archiver.send(ArchiveStatus).await.expect("status");
    assert_eq!((health.pending, health.written), (30, 0));
    // Game 1 went to the yielding writer; games 2 to 10 waited; from game 11 on the queue
    // held ten each time, and one went to the catch-up writer.
    assert_eq!(archive.stats.catch_up_batches(), 20);
    // The writers are inside their first batches, waiting for the lock, and the stats say a
    // batch is being written.
    let stats = archive.stats.clone();
    wait_until("a writer is inside its batch", WAIT, || stats.writing()).await;

    diesel::sql_query("ROLLBACK")
        .execute(&mut holder)
        .expect("release the write lock");
    // The writers may have stored some batches before the flush was asked: only what is
    // left over is certain.
    let report = archive.archiver.send(Flush).await.expect("flush");
    assert_eq!(report.pending, 0);
    assert!(!archive.stats.writing(), "every batch is answered");
    assert_eq!(count(&store), 30);
    assert_eq!(store.count_events().expect("count"), 30 * 9);
    let health = archive.archiver.send(ArchiveStatus).await.expect("status");
    assert_eq!((health.written, health.failed, health.spooled), (30, 0, 0));
    for record in records.iter().step_by(7) {
        assert_eq!(
            store.load_record(&record.game_id).expect("load").as_ref(),
            Some(record)
        );
    }
}

#[actix_rt::test]
async fn a_partial_batch_is_written_after_the_interval() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().expect("temporary directory");
    let archive = Archiver::start(
        db.store(),
        settings(100, Duration::from_millis(200), &dir),
        logger(),
    )
    .expect("start");
    submit(&archive, games(3));
    // Messages are handled in order: the games are queued, well short of a batch.
    let health = archive.archiver.send(ArchiveStatus).await.expect("status");
    assert_eq!((health.pending, health.written), (3, 0));
    let stats = archive.stats.clone();
    wait_until("the interval writes them", WAIT, || {
        stats.written() == 3 && stats.pending() == 0
    })
    .await;
    assert_eq!(count(&db.store()), 3);
}

#[actix_rt::test]
async fn flush_writes_everything_pending_and_reports_it() {
    let db = TestDb::postgres();
    let store = db.store();
    let dir = tempfile::tempdir().expect("temporary directory");
    let archive =
        Archiver::start(store.clone(), settings(100, NEVER, &dir), logger()).expect("start");
    let records = games(7);
    submit(&archive, records.clone());
    let report = archive.archiver.send(Flush).await.expect("flush");
    assert_eq!(
        report,
        FlushReport {
            flushed: 7,
            pending: 0
        }
    );
    assert_eq!(count(&store), 7);
    assert_eq!(store.count_events().expect("count"), 63);

    let report = archive.archiver.send(Flush).await.expect("flush");
    assert_eq!(
        report,
        FlushReport {
            flushed: 0,
            pending: 0
        }
    );

    // The same games sent again are stored once.
    submit(&archive, records);
    let report = archive.archiver.send(Flush).await.expect("flush");
    assert_eq!(
        report,
        FlushReport {
            flushed: 7,
            pending: 0
        }
    );
    assert_eq!(count(&store), 7);
    let health = archive.archiver.send(ArchiveStatus).await.expect("status");
    assert_eq!((health.written, health.failed, health.spooled), (7, 0, 0));
    assert!(!health.degraded);
}

#[actix_rt::test]
async fn an_outage_spools_games_then_writes_each_once() {
    let db = TestDb::postgres();
    let TestDb::Postgres(pg) = &db else {
        unreachable!("a PostgreSQL test database");
    };
    let proxy = ChaosProxy::start(pg_server_addr());
    let url = DatabaseUrl::parse(&pg.url_via(&proxy.server())).expect("proxied URL parses");
    let proxied = ArchiveStore::connect(&url, 2, CONNECT_TIMEOUT).expect("pool");
    let direct = db.store();
    let dir = tempfile::tempdir().expect("temporary directory");
    let interval = Duration::from_millis(100);
    let archive = Archiver::start(proxied, settings(3, interval, &dir), logger()).expect("start");
    let stats = archive.stats.clone();
    let records = games(11);

    // Healthy: written as usual.
    submit(&archive, records[..2].iter().cloned());
    let report = archive.archiver.send(Flush).await.expect("flush");
    assert_eq!(
        report,
        FlushReport {
            flushed: 2,
            pending: 0
        }
    );

    // The database goes away: games go to the spool, in order, and nothing is lost.
    proxy.cut();
    submit(&archive, records[2..8].iter().cloned());
    wait_until("six games are spooled", WAIT, || {
        stats.spooled() == 6 && stats.pending() == 0
    })
    .await;
    let health = archive.archiver.send(ArchiveStatus).await.expect("status");
    assert!(health.degraded);
    assert!(health.last_error.is_some());
    assert_eq!((health.written, health.failed, health.pending), (2, 6, 0));
    let spooled_ids: Vec<String> = spool_lines(&dir.path().join("spool"))
        .iter()
        .map(|line| {
            serde_json::from_str::<GameRecord>(line)
                .expect("a spooled game")
                .game_id
        })
        .collect();
    // Each batch in order; the two writers failed at the same moment, so either batch may
    // have reached the spool first.
    let ids = |range: std::ops::Range<usize>| -> Vec<String> {
        records[range].iter().map(|r| r.game_id.clone()).collect()
    };
    let in_order = [ids(2..5), ids(5..8)].concat();
    let swapped = [ids(5..8), ids(2..5)].concat();
    assert!(
        spooled_ids == in_order || spooled_ids == swapped,
        "{spooled_ids:?}"
    );

    // A flush during the outage writes nothing and says what waits.
    archive.archiver.do_send(ArchiveGame(records[8].clone()));
    let report = archive.archiver.send(Flush).await.expect("flush");
    assert_eq!(
        report,
        FlushReport {
            flushed: 0,
            pending: 7
        }
    );
    assert_eq!(count(&direct), 2);

    // Back: the spool is replayed by the interval, then new games follow.
    proxy.restore();
    wait_until("the spool is replayed", WAIT, || {
        stats.spooled() == 0 && stats.written() == 9
    })
    .await;
    // The writer counts the replay before the archiver has its answer; a flush now settles
    // it, so that the next flush counts only the games sent after it.
    let settled = archive.archiver.send(Flush).await.expect("flush");
    assert_eq!(settled.pending, 0);
    submit(&archive, records[9..].iter().cloned());
    let report = archive.archiver.send(Flush).await.expect("flush");
    assert_eq!(
        report,
        FlushReport {
            flushed: 2,
            pending: 0
        }
    );

    assert_eq!(count(&direct), 11, "every game exactly once");
    assert_eq!(direct.count_events().expect("count"), 99);
    for record in &records {
        assert_eq!(
            direct.load_record(&record.game_id).expect("load").as_ref(),
            Some(record)
        );
    }
    let health = archive.archiver.send(ArchiveStatus).await.expect("status");
    assert!(!health.degraded, "{health:?}");
    assert_eq!(
        (
            health.written,
            health.failed,
            health.spooled,
            health.pending
        ),
        (11, 7, 0, 0)
    );
    assert!(spool_lines(&dir.path().join("spool")).is_empty());
}

#[actix_rt::test]
async fn drain_spools_what_it_cannot_write_and_the_next_run_writes_it_once() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let records = games(4);

    // Run 1: the database is down from the start; shutdown drains to the spool.
    let down = DatabaseUrl::parse("postgres://postgres@127.0.0.1:1/gamehall").expect("parses");
    let store = ArchiveStore::connect(&down, 1, CONNECT_TIMEOUT).expect("pool");
    let archive = Archiver::start(store, settings(100, NEVER, &dir), logger()).expect("start");
    submit(&archive, records.iter().cloned());
    let report = archive.archiver.send(Drain).await.expect("drain");
    assert_eq!(
        report,
        DrainReport {
            flushed: 0,
            spooled: 4,
            unsaved: 0
        }
    );
    assert_eq!(spool_lines(&dir.path().join("spool")).len(), 4);

    // Between runs, half of them reached the database (a crash after the commit, before the
    // spool was emptied).
    let db = TestDb::postgres();
    let store = db.store();
    store.write_batch(&records[..2]).expect("write half");

    // Run 2: the spool is found and replayed; every game is stored exactly once.
    let archive =
        Archiver::start(store.clone(), settings(100, NEVER, &dir), logger()).expect("start");
    let health = archive.archiver.send(ArchiveStatus).await.expect("status");
    assert_eq!(health.spooled, 4);
    assert!(health.degraded, "a non-empty spool is degraded");
    let report = archive.archiver.send(Flush).await.expect("flush");
    assert_eq!(
        report,
        FlushReport {
            flushed: 4,
            pending: 0
        }
    );
    assert_eq!(count(&store), 4);
    assert_eq!(store.count_events().expect("count"), 36);
    let health = archive.archiver.send(ArchiveStatus).await.expect("status");
    assert_eq!((health.written, health.spooled), (2, 0));
    assert!(!health.degraded);
}

#[actix_rt::test]
async fn a_game_the_database_refuses_is_set_aside_without_blocking_others() {
    let db = TestDb::sqlite();
    let store = db.store();
    let dir = tempfile::tempdir().expect("temporary directory");
    let archive =
        Archiver::start(store.clone(), settings(100, NEVER, &dir), logger()).expect("start");
    let mut records = games(3);
    records[1].game_kind = "x".repeat(60);
    submit(&archive, records.iter().cloned());
    let report = archive.archiver.send(Flush).await.expect("flush");
    assert_eq!(
        report,
        FlushReport {
            flushed: 2,
            pending: 0
        }
    );
    assert_eq!(count(&store), 2);
    let health = archive.archiver.send(ArchiveStatus).await.expect("status");
    assert_eq!((health.written, health.rejected, health.spooled), (2, 1, 0));
    assert!(!health.degraded);
    let rejected = std::fs::read_to_string(
        dir.path()
            .join("spool")
            .join(gamehall::archive::spool::REJECTED_FILE),
    )
    .expect("the rejected file");
    assert!(rejected.contains(&records[1].game_id));
    let ids: HashSet<String> = store
        .list_games(&GameQuery::default())
        .expect("list")
        .games
        .into_iter()
        .map(|g| g.game_id)
        .collect();
    assert_eq!(
        ids,
        HashSet::from([records[0].game_id.clone(), records[2].game_id.clone()])
    );
}
