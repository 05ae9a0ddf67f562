//! How a yielding archive writer stays off the reactors' cores: it never runs for longer than
//! [`RUN_BUDGET`] of CPU without stepping off its core for a moment.
//!
//! Lowering the writer into `SCHED_IDLE` (archiver.rs) is not enough on its own. In a
//! scheduler trace at 10,000 moves/s on two cores, a reactor woken while the writer ran often
//! waited for the writer to give up its core by itself (a `sched_yield`, the next timer tick,
//! a system call's return): 0.2–1.2 ms, 0.63 ms on average. A CPU-bound `SCHED_IDLE` loop
//! beside the server, with archiving off, raised the server's move p99 from ≤ 0.4 ms to
//! ≤ 0.75–1.5 ms; the same loop sleeping 0.2 ms after every 0.2 ms of work raised nothing
//! (docs/benchmarks.md, "Profile", eighteenth round). A woken reactor can only wait behind
//! the writer while the writer is runnable, so the writer sleeps briefly after every
//! [`RUN_BUDGET`]: the core is then idle, and whatever waits for it runs.
//!
//! The writer checks its budget between statements ([`pause_if_due`] from store.rs) and,
//! on SQLite, inside them: every SQLite connection the process opens gets a progress handler
//! that calls [`pause_if_due`] every [`SQLITE_OPS_PER_CHECK`] virtual-machine instructions,
//! and SQLite's default VFS calls it before every page it reads or writes, which paces the
//! commit and the WAL checkpoint. On any other thread (the catch-up writer, the read API, the
//! command-line tools) the check is one thread-local read.

use std::cell::Cell;
use std::time::Duration;

/// CPU a paced thread runs before it pauses. Short against the server's own move p99 (about
/// 0.4 ms at 10,000 moves/s on two cores), so that a reactor's wait behind the writer is
/// lost in it.
pub const RUN_BUDGET: Duration = Duration::from_micros(100);
/// How long a paced thread sleeps at each pause: long enough that the kernel takes the core
/// from it (a sleep of zero returns at once) and short, since the batch's transaction stays
/// open meanwhile.
pub const PAUSE: Duration = Duration::from_micros(20);
/// SQLite virtual-machine instructions between two checks of the budget inside a statement:
/// a few tens of microseconds of an insert.
pub const SQLITE_OPS_PER_CHECK: i32 = 1_000;

thread_local! {
    /// The paced thread's CPU time at its last pause; `None` on a thread that is not paced.
    static LAST_PAUSE: Cell<Option<Duration>> = const { Cell::new(None) };
    /// Pauses the thread has made.
    static PAUSES: Cell<u64> = const { Cell::new(0) };
}

/// From now on the calling thread pauses after every [`RUN_BUDGET`] of CPU it uses.
pub fn pace_this_thread() {
    LAST_PAUSE.with(|last| last.set(Some(thread_cpu_time())));
}

/// Whether the calling thread is paced.
pub fn this_thread_is_paced() -> bool {
    LAST_PAUSE.with(|last| last.get().is_some())
}

/// On a paced thread that has used [`RUN_BUDGET`] of CPU since its last pause, sleeps for
/// [`PAUSE`]; anywhere else returns at once.
pub fn pause_if_due() {
    // `try_with`: SQLite may call in while the thread's locals are being destroyed, where
    // there is nothing to pace.
    let _ = LAST_PAUSE.try_with(|last| {
        let Some(since) = last.get() else { return };
        if thread_cpu_time().saturating_sub(since) >= RUN_BUDGET {
            std::thread::sleep(PAUSE);
            last.set(Some(thread_cpu_time()));
            let _ = PAUSES.try_with(|pauses| pauses.set(pauses.get() + 1));
        }
    });
}

/// Pauses the calling thread has made so far.
pub fn pauses_on_this_thread() -> u64 {
    PAUSES.try_with(Cell::get).unwrap_or(0)
}

/// CPU time the calling thread has used (zero if the clock cannot be read).
pub fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec the call writes; CLOCK_THREAD_CPUTIME_ID always
    // exists on Linux. On failure `now` stays zero, and the budget never runs out.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    Duration::new(
        u64::try_from(now.tv_sec).unwrap_or(0),
        u32::try_from(now.tv_nsec).unwrap_or(0),
    )
}

/// Gives every SQLite connection opened from now on a progress handler that calls
/// [`pause_if_due`]; called once, before the first connection opens.
pub fn pace_sqlite_connections() {
    // SAFETY: the entry point has the signature SQLite requires of an automatic extension
    // and lives as long as the program.
    unsafe { libsqlite3_sys::sqlite3_auto_extension(Some(install_progress_handler)) };
    pace_sqlite_file_io();
}

/// Routes the default VFS's reads and writes of database and WAL pages through
/// [`pause_if_due`]: a commit writes every page of the batch to the WAL in one step of
/// SQLite's virtual machine, and a checkpoint copies up to a thousand pages from the WAL
/// into the database outside it, milliseconds that no progress handler interrupts.
fn pace_sqlite_file_io() {
    type Pread = unsafe extern "C" fn(
        std::ffi::c_int,
        *mut std::ffi::c_void,
        libc::size_t,
        libc::off_t,
    ) -> libc::ssize_t;
    type Pwrite = unsafe extern "C" fn(
        std::ffi::c_int,
        *const std::ffi::c_void,
        libc::size_t,
        libc::off_t,
    ) -> libc::ssize_t;
    unsafe extern "C" fn paced_pread(
        fd: std::ffi::c_int,
        buf: *mut std::ffi::c_void,
        count: libc::size_t,
        offset: libc::off_t,
    ) -> libc::ssize_t {
        pause_if_due();
        // SAFETY: SQLite's own arguments, passed on unchanged.
        unsafe { libc::pread(fd, buf, count, offset) }
    }
    unsafe extern "C" fn paced_pwrite(
        fd: std::ffi::c_int,
        buf: *const std::ffi::c_void,
        count: libc::size_t,
        offset: libc::off_t,
    ) -> libc::ssize_t {
        pause_if_due();
        // SAFETY: SQLite's own arguments, passed on unchanged.
        unsafe { libc::pwrite(fd, buf, count, offset) }
    }
    // SAFETY: sqlite3_vfs_find with a null name returns the default VFS (or null), which
    // lives as long as the program; no connection is open yet, as xSetSystemCall requires.
    // On 64-bit Linux `off_t` is `off64_t`, so the same functions serve SQLite's pread64
    // and pwrite64, and the transmutes only erase the signature, as the interface expects.
    unsafe {
        let vfs = libsqlite3_sys::sqlite3_vfs_find(std::ptr::null());
        let Some(vfs_ref) = vfs.as_ref() else { return };
        let Some(set_system_call) = vfs_ref.xSetSystemCall else {
            return;
        };
        let read = std::mem::transmute::<Pread, unsafe extern "C" fn()>(paced_pread);
        let write = std::mem::transmute::<Pwrite, unsafe extern "C" fn()>(paced_pwrite);
        for (name, call) in [
            (c"pread", read),
            (c"pread64", read),
            (c"pwrite", write),
            (c"pwrite64", write),
        ] {
            // A name this build of SQLite does not use answers SQLITE_NOTFOUND: nothing to pace.
            set_system_call(vfs, name.as_ptr(), Some(call));
        }
    }
}

/// SQLite's automatic-extension entry point, run for each new connection.
unsafe extern "C" fn install_progress_handler(
    db: *mut libsqlite3_sys::sqlite3,
    _error: *mut *mut std::ffi::c_char,
    _api: *const libsqlite3_sys::sqlite3_api_routines,
) -> std::ffi::c_int {
    // SAFETY: SQLite hands us the connection it is opening; the handler takes no argument.
    unsafe {
        libsqlite3_sys::sqlite3_progress_handler(
            db,
            SQLITE_OPS_PER_CHECK,
            Some(on_progress),
            std::ptr::null_mut(),
        )
    };
    libsqlite3_sys::SQLITE_OK
}

/// The progress handler: pauses a paced thread whose budget ran out; 0 lets the statement go
/// on (anything else would interrupt it).
unsafe extern "C" fn on_progress(_: *mut std::ffi::c_void) -> std::ffi::c_int {
    pause_if_due();
    0
}

#[cfg(test)]
mod tests {
    use super::{
        pace_this_thread, pause_if_due, pauses_on_this_thread, this_thread_is_paced, RUN_BUDGET,
    };
    use diesel::prelude::*;
    use diesel::sql_types::BigInt;
    use std::time::Duration;

    /// Spins until the thread has used `cpu` of CPU, checking the budget as the writer does
    /// between statements. CPU, not time on the clock: the pauses' sleeps, and whatever else
    /// the machine runs meanwhile, would otherwise eat into the budgets counted (a pause
    /// slept about 100 µs on a slow virtual machine, where half the pauses went missing).
    fn spin_checking(cpu: Duration) {
        let until = super::thread_cpu_time() + cpu;
        while super::thread_cpu_time() < until {
            std::hint::black_box(0u64.wrapping_add(1));
            pause_if_due();
        }
    }

    #[derive(QueryableByName)]
    struct Total {
        #[diesel(sql_type = BigInt)]
        total: i64,
    }

    /// Runs `test` on a new thread: pacing belongs to a thread, and is never undone.
    fn on_a_thread_of_its_own(test: impl FnOnce() + Send + 'static) {
        std::thread::spawn(test)
            .join()
            .expect("the test's thread finishes");
    }

    /// A new SQLite database, opened as the archive opens one, in a folder that goes with it.
    fn fresh_database() -> (tempfile::TempDir, SqliteConnection) {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("pacing.db");
        let conn = super::super::establish_sqlite(path.to_str().expect("a UTF-8 path"))
            .expect("SQLite opens");
        (dir, conn)
    }

    /// A statement that runs for milliseconds in SQLite's virtual machine alone.
    fn long_statement(conn: &mut SqliteConnection) -> i64 {
        diesel::sql_query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000) \
             SELECT sum(i) AS total FROM n",
        )
        .get_result::<Total>(conn)
        .expect("the statement runs")
        .total
    }

    #[test]
    fn a_paced_thread_steps_off_its_core_after_each_budget() {
        on_a_thread_of_its_own(|| {
            assert!(!this_thread_is_paced());
            let before = pauses_on_this_thread();
            spin_checking(RUN_BUDGET * 20);
            let unpaced = pauses_on_this_thread() - before;

            pace_this_thread();
            assert!(this_thread_is_paced());
            let before = pauses_on_this_thread();
            spin_checking(RUN_BUDGET * 20);
            let paced = pauses_on_this_thread() - before;
            // Twenty budgets of CPU: a pause after each, a few fewer for the CPU the pauses
            // themselves take (a sleep's system call).
            assert!(paced >= 10, "paced: {paced} pauses in 20 budgets");
            assert_eq!(unpaced, 0);
        });
    }

    #[test]
    fn a_paced_thread_pauses_inside_a_long_sqlite_statement() {
        on_a_thread_of_its_own(|| {
            let (_dir, mut conn) = fresh_database();
            let before = pauses_on_this_thread();
            let unpaced_total = long_statement(&mut conn);
            let unpaced = pauses_on_this_thread() - before;

            pace_this_thread();
            let started = super::thread_cpu_time();
            let before = pauses_on_this_thread();
            let paced_total = long_statement(&mut conn);
            let paced = pauses_on_this_thread() - before;
            let budgets = (super::thread_cpu_time() - started).as_micros() / RUN_BUDGET.as_micros();
            assert_eq!(paced_total, unpaced_total);
            assert_eq!(paced_total, 300_000 * 300_001 / 2);
            // One statement, no I/O: every pause came from the progress handler.
            assert!(
                budgets >= 5,
                "the statement took only {budgets} budgets of CPU"
            );
            assert!(
                u128::from(paced) >= budgets / 2,
                "{paced} pauses in {budgets} budgets of CPU"
            );
            assert_eq!(unpaced, 0);
        });
    }

    #[test]
    fn a_paced_thread_pauses_between_the_pages_of_a_commit() {
        on_a_thread_of_its_own(|| {
            let (_dir, mut conn) = fresh_database();
            // A page cache that holds the whole transaction, so that its pages are written
            // at COMMIT, in one step of the virtual machine: no progress handler runs there,
            // and every pause comes from the writes (and the checkpoint's reads) of pages.
            diesel::sql_query("PRAGMA cache_size = 4000")
                .execute(&mut conn)
                .expect("pragma");
            diesel::sql_query("CREATE TABLE blobs (b BLOB)")
                .execute(&mut conn)
                .expect("table");
            pace_this_thread();
            let mut before_commit = 0;
            conn.immediate_transaction(|conn| {
                diesel::sql_query(
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000) \
                     INSERT INTO blobs SELECT randomblob(4000) FROM n",
                )
                .execute(conn)?;
                before_commit = pauses_on_this_thread();
                Ok::<_, diesel::result::Error>(())
            })
            .expect("the transaction commits");
            let in_commit = pauses_on_this_thread() - before_commit;
            // About 1,000 pages of 4 KB written to the WAL, then checkpointed into the
            // database: tens of budgets of CPU, most of it in the kernel.
            assert!(in_commit >= 5, "{in_commit} pauses committing 4 MB");
        });
    }
}
