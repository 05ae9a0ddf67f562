//! What the memory allocator holds, for metrics: live bytes against the pages kept for them.
//!
//! The `gamehall` binary allocates with jemalloc (`src/main.rs`) and says so with
//! [`report_jemalloc`] before it starts the server; only then are these figures exported
//! (tests and tools that link this library run on the system allocator, where jemalloc's
//! counters would read as nearly nothing). A process's RSS mixes live data with pages the
//! allocator keeps for reuse; `allocated` is the live data alone, so a leak shows there,
//! while a high-water mark the allocator has not handed back shows only in `resident`.

use std::sync::atomic::{AtomicBool, Ordering};

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
