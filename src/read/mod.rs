//! The read engine: turns `(file, offset, len)` into verified bytes from the caches or the
//! network. Usable and benchmarkable without FUSE; the filesystem only calls [`FileReader`].

pub mod catalog;
pub mod chunk_map;
mod disk_writer;
pub mod engine;
mod fetch;
mod persist;
mod plain;
mod plan;
pub mod prefetch;
pub mod snapshot;
pub mod stats;
pub mod url_book;
pub mod verify;
mod xet_file;
mod xet_read;

pub use engine::{EngineConfig, ReadEngine};

use std::sync::Arc;

use bytes::Bytes;

use crate::remote::{RemoteError, RepoScope};
use crate::xet::MerkleHash;

/// How a file's bytes are obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileContent {
    /// Xet-backed: read through the reconstruction API.
    Xet { hash: MerkleHash },
    /// Plain git blob or non-Xet LFS object: read through the resolve endpoint.
    Plain {
        /// Git blob id (for regular files) — a content address.
        oid: String,
        /// SHA-256 of the content, for LFS objects.
        sha256: Option<String>,
    },
}

/// An immutable file: what the filesystem hands to the engine for every read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDesc {
    pub scope: RepoScope,
    pub path: String,
    pub size: u64,
    pub content: FileContent,
}

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

    /// Counters as a JSON object (cache hits, bytes fetched, errors…), for `.xetfs-stats` and logs.
    fn stats_json(&self) -> String {
        "{}".to_string()
    }
}

/// Called with a file whose previously served bytes must be forgotten by the front end.
pub type InvalidationHook = Arc<dyn Fn(&FileDesc) + Send + Sync>;
