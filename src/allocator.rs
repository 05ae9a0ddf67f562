//! What the memory allocator holds, for metrics: live bytes against the pages kept for them.
//!
//! The `gamehall` binary allocates with jemalloc (`src/main.rs`) and says so with
//! [`report_jemalloc`] before it starts the server; only then are these figures exported
//! (tests and tools that link this library run on the system allocator, where jemalloc's
//! counters would read as nearly nothing). A process's RSS mixes live data with pages the
//! allocator keeps for reuse; `allocated` is the live data alone, so a leak shows there,
//! while a high-water mark the allocator has not handed back shows only in `resident`.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tikv_jemalloc_ctl::{epoch, raw, stats};

/// Freed pages of all arenas together (`MALLCTL_ARENAS_ALL` is 4096) that jemalloc has not yet
/// returned to the system, in pages.
const DIRTY_PAGES: &[u8] = b"stats.arenas.4096.pdirty\0";
/// jemalloc's page size in bytes.
const PAGE_SIZE: &[u8] = b"arenas.page\0";

static JEMALLOC_IS_THE_ALLOCATOR: AtomicBool = AtomicBool::new(false);

/// Called by a binary whose global allocator is jemalloc.
pub fn report_jemalloc() {
    JEMALLOC_IS_THE_ALLOCATOR.store(true, Ordering::Relaxed);
}

/// jemalloc's own counters, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllocatorBytes {
    /// Bytes in live allocations.
    pub allocated: u64,
    /// Bytes in pages holding live allocations (`allocated` plus the gaps between them).
    pub active: u64,
    /// Bytes of physically resident pages jemalloc maps: `active`, its metadata, and freed
    /// pages not yet returned to the system.
    pub resident: u64,
    /// Bytes of jemalloc's own bookkeeping (extent records, its radix tree), part of `resident`.
    pub metadata: u64,
    /// Bytes of freed pages not yet returned to the system (they go back after
    /// `dirty_decay_ms`), part of `resident`.
    pub dirty: u64,
}

/// The allocator's counters now; `None` unless the process said it runs on jemalloc, or when
/// jemalloc cannot answer.
pub fn allocator_bytes() -> Option<AllocatorBytes> {
    if !JEMALLOC_IS_THE_ALLOCATOR.load(Ordering::Relaxed) {
        return None;
    }
    // jemalloc's statistics are a snapshot refreshed when the epoch advances.
    epoch::advance().ok()?;
    Some(AllocatorBytes {
        allocated: stats::allocated::read().ok()? as u64,
        active: stats::active::read().ok()? as u64,
        resident: stats::resident::read().ok()? as u64,
        metadata: stats::metadata::read().ok()? as u64,
        // SAFETY: both are `size_t` values, read as the `usize` they are.
        dirty: unsafe { raw::read::<usize>(DIRTY_PAGES) }.ok()? as u64
            * unsafe { raw::read::<usize>(PAGE_SIZE) }.ok()? as u64,
    })
}

/// How often each actix thread of the server hands its cache of freed blocks back
/// ([`release_thread_cache_periodically`]).
pub const THREAD_CACHE_RELEASE_PERIOD: Duration = Duration::from_secs(1);

/// Hands the calling thread's cache of freed blocks back to jemalloc's arenas.
///
/// Each thread keeps up to 200 freed blocks of every small size for its next allocations, and
/// only trims that cache as it allocates more. A thread that goes quiet after a busy moment
/// (a reactor once a burst of rooms is reaped, an archive writer after its batch) keeps it
/// as it was, and those blocks lie scattered over pages that are otherwise empty: after a
/// minute of `churn` the server held 13.4 MB of small-block pages for 2.6 MB of blocks, 1.4 MB
/// of them in thread caches, and jemalloc cannot return a page while one block on it is in
/// use (docs/benchmarks.md, "Profile", tenth round). A no-op unless jemalloc is the
/// allocator ([`report_jemalloc`]).
pub fn release_thread_cache() {
    if JEMALLOC_IS_THE_ALLOCATOR.load(Ordering::Relaxed) {
        // Failing leaves the cache as it was, which is what jemalloc does on its own anyway.
        let _ = flush_thread_cache();
    }
}

/// Calls [`release_thread_cache`] every [`THREAD_CACHE_RELEASE_PERIOD`] on the calling
/// thread, which must run an actix (tokio) runtime: an arbiter or an HTTP worker. Once per
/// thread, however often it is called; a no-op unless jemalloc is the allocator. A flush
/// costs microseconds, and a busy thread refills its cache in a few allocations, so a fixed
/// period is cheaper than telling idle from busy.
pub fn release_thread_cache_periodically() {
    thread_local!(static RELEASING: Cell<bool> = const { Cell::new(false) });
    if !JEMALLOC_IS_THE_ALLOCATOR.load(Ordering::Relaxed) || RELEASING.with(|r| r.replace(true)) {
        return;
    }
    actix_rt::spawn(async {
        let mut every = actix_rt::time::interval(THREAD_CACHE_RELEASE_PERIOD);
        loop {
            every.tick().await;
            release_thread_cache();
        }
    });
}

/// jemalloc's `thread.tcache.flush`, whichever allocator the process uses: the error is
/// `mallctl`'s error number.
fn flush_thread_cache() -> Result<(), i32> {
    // SAFETY: the name is a NUL-terminated string; `thread.tcache.flush` reads and writes
    // nothing, so every value pointer is null and the new length 0, as jemalloc requires.
    let code = unsafe {
        tikv_jemalloc_sys::mallctl(
            c"thread.tcache.flush".as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        )
    };
    if code == 0 {
        Ok(())
    } else {
        Err(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes jemalloc counts as allocated, thread caches included (this test binary runs on
    /// the system allocator, so only this test's own blocks are jemalloc's).
    fn jemalloc_allocated() -> usize {
        epoch::advance().expect("advance jemalloc's epoch");
        stats::allocated::read().expect("read stats.allocated")
    }

    #[test]
    fn flushing_hands_a_threads_freed_blocks_back() {
        const BLOCKS: usize = 150;
        const SIZE: usize = 48;
        flush_thread_cache().expect("flush");
        let before = jemalloc_allocated();
        // SAFETY: jemalloc's own malloc and free, each block freed once, never read.
        unsafe {
            let blocks: Vec<*mut std::ffi::c_void> = (0..BLOCKS)
                .map(|_| tikv_jemalloc_sys::malloc(SIZE))
                .collect();
            assert!(blocks.iter().all(|b| !b.is_null()));
            for block in blocks {
                tikv_jemalloc_sys::free(block);
            }
        }
        // Freed, but kept in this thread's cache: still counted as allocated.
        let cached = jemalloc_allocated();
        assert!(
            cached >= before + BLOCKS * SIZE,
            "before {before}, after freeing {cached}"
        );
        flush_thread_cache().expect("flush");
        let flushed = jemalloc_allocated();
        assert!(
            flushed + BLOCKS * SIZE <= cached,
            "after freeing {cached}, after the flush {flushed}"
        );
    }
}
