//! The read engine: turns `(file, offset, len)` into verified bytes from the caches or the
//! network. Usable and benchmarkable without FUSE; the filesystem only calls [`FileReader`].

pub mod chunk_map;
mod disk_writer;
pub mod engine;
mod fetch;
mod persist;
mod plain;
mod plan;
pub mod prefetch;
pub mod stats;
pub mod url_book;
pub mod verify;
mod xet_file;
mod xet_read;

pub use engine::{EngineConfig, ReadEngine};

use std::sync::Arc;

use bytes::Bytes;

pub use crate::hub::{FileContent, FileDesc};
use crate::remote::RemoteError;
pub use stats::StatsSnapshot;

/// Why a read failed. Every variant becomes EIO at the FUSE boundary; the text goes to the log.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error("integrity check failed: {0}")]
    Integrity(String),
    #[error("read did not finish within {0:?}")]
    Deadline(std::time::Duration),
    #[error("not cached and offline: {0}")]
    NotCached(String),
    #[error("{0}")]
    Internal(String),
}

/// What the filesystem (or any other front end) needs from the engine.
#[async_trait::async_trait]
pub trait FileReader: Send + Sync + 'static {
    /// Bytes `[offset, offset + len)` of `file`, fewer only at EOF. `handle` identifies the open
    /// file handle (for access-pattern detection).
    async fn read(
        &self,
        file: &Arc<FileDesc>,
        offset: u64,
        len: u32,
        handle: u64,
    ) -> Result<Bytes, ReadError>;

    /// The handle was closed.
    fn release(&self, handle: u64) {
        let _ = handle;
    }

    /// Registers a callback the engine calls when bytes of a file it already served turned out to
    /// be wrong (a failed file-hash check), so the front end can drop its page cache for it.
    fn set_invalidation_hook(&self, hook: InvalidationHook) {
        let _ = hook;
    }

    /// Waits for fetches under way, then writes what is queued for the persistent caches (called
    /// before unmounting).
    async fn flush(&self) {}

    /// Counters (cache hits, bytes fetched, errors…), for `.xetfs-stats` and logs.
    fn stats(&self) -> StatsSnapshot {
        StatsSnapshot::default()
    }
}

/// Called with a file whose previously served bytes must be forgotten by the front end.
pub type InvalidationHook = Arc<dyn Fn(&FileDesc) + Send + Sync>;
