//! Engine counters. Tests assert on them (bytes fetched, cache hits…); `.xetfs-stats` shows them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::metrics::counters;

counters! {
    /// Engine counters, updated with relaxed atomics; all monotonic but the `background_tasks`
    /// gauge.
    pub struct EngineStats => StatsSnapshot {
        reads: "read calls answered (successfully or not)",
        read_bytes: "bytes returned to readers",
        read_errors: "reads that ended in an error",
        deadline_errors: "reads that hit the read deadline",
        mem_hits: "chunks served from the memory cache",
        disk_hits: "chunks served from the disk cache",
        inflight_joins: "chunks obtained by joining a fetch already under way",
        reconstructions: "reconstruction calls made",
        fetches: "xorb range fetches started (attempts included)",
        fetch_retries: "xorb range fetch attempts that were retries",
        fetched_bytes: "xorb bytes received from the network",
        fetched_chunks: "chunks decoded from network data",
        prefetch_windows: "prefetch windows issued",
        chunks_proven: "chunks whose hash was proven (xorb list, xorb root or file hash)",
        files_verified: "files whose full-content hash matched the Xet file ID",
        integrity_failures: "failed integrity checks (structure, chunk hash, file hash)",
        disk_write_dropped: "chunk batches not written to the disk cache (queue full or I/O error)",
        plain_fetches: "plain (non-Xet) file fetches",
        plain_fetched_bytes: "plain file bytes received",
        background_tasks: "prefetch windows and xorb range fetches under way now (a gauge: 0 when idle)",
    }
}

/// Holds one unit of [`EngineStats::background_tasks`] for as long as it lives: taken before a
/// task is spawned, so that work queued but not yet started counts too.
pub struct Busy(Arc<EngineStats>);

impl Busy {
    pub fn new(stats: &Arc<EngineStats>) -> Self {
        EngineStats::inc(&stats.background_tasks);
        Busy(stats.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.background_tasks.fetch_sub(1, Ordering::Relaxed);
    }
}

impl EngineStats {
    pub fn add(counter: &AtomicU64, n: u64) {
        crate::metrics::add(counter, n);
    }
    pub fn inc(counter: &AtomicU64) {
        crate::metrics::inc(counter);
    }
}
