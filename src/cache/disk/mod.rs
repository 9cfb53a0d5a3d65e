//! Persistent chunk cache on disk: content-addressed, bounded in bytes with LRU eviction,
//! write-temp + rename, a checksum on every entry checked on every read.
//!
//! Chunks live in block files of 64 chunk indices of one xorb (`block.rs`), small whole files
//! in blob files (`blob.rs`); `layout.rs` says where. An in-memory index (`index.rs`) of the
//! files (size, chunks present, recency) answers `contains`, accounts usage and picks eviction
//! victims; it is rebuilt at open by a background scan of file headers (`scan.rs`). Every write
//! replaces a whole file through `tmp/` + rename under a per-block lock (`write.rs`), so readers
//! (`read.rs`, one fd across the header and record reads) see the old file or the new one, and
//! concurrent writers merge.
//!
//! All methods do blocking file I/O: async callers use `spawn_blocking`.

mod blob;
mod block;
mod index;
mod layout;
mod read;
mod scan;
mod write;

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use bytes::Bytes;
use parking_lot::{Condvar, Mutex, MutexGuard};

use self::block::BlockId;
use self::index::{EntryId, Index};
use self::layout::Layout;
use super::ChunkKey;
use crate::xet::MerkleHash;

pub use self::block::CHUNKS_PER_BLOCK;

/// Write locks, striped by file: enough that unrelated writers rarely meet.
const LOCK_STRIPES: usize = 64;

/// One chunk as stored: its record exactly as served (8-byte header + payload, still compressed),
/// the chunk hash of its decoded bytes, and whether that hash was proven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskChunk {
    pub record: Bytes,
    pub hash: MerkleHash,
    pub proven: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiskCacheStats {
    /// Lookups (`get`, `get_blob`) answered from disk.
    pub hits: u64,
    pub misses: u64,
    /// Entries or chunks dropped because a checksum or structure check failed.
    pub corrupt_dropped: u64,
    pub evicted_bytes: u64,
    pub written_bytes: u64,
    /// Writes skipped because of I/O errors (ENOSPC, …): never read errors.
    pub write_errors: u64,
}

pub struct DiskCache {
    inner: Arc<Inner>,
    scanner: Option<JoinHandle<()>>,
}

impl DiskCache {
    /// Opens (creating) the cache under `dir`, bounded to `budget_bytes` on disk. Removes temp
    /// files left by a crash and rebuilds the in-memory index from the directory.
    ///
    /// Only one process may use a directory at a time (an `flock` on `<dir>/lock`; a second open
    /// fails with `WouldBlock`). The index is rebuilt by a background thread so that opening a
    /// large cache never blocks: `get` works at once, `contains` and `usage_bytes` see files as
    /// the scan reaches them, and writes wait until it is done ([`DiskCache::wait_until_indexed`]).
    pub fn open(dir: &Path, budget_bytes: u64) -> io::Result<Self> {
        let layout = Layout::new(dir);
        let lock = layout.prepare()?;
        layout.clear_tmp()?;
        let inner = Arc::new(Inner {
            layout,
            budget: budget_bytes,
            index: Mutex::new(Index::default()),
            stripes: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
            counters: Counters::default(),
            indexed: Mutex::new(false),
            indexed_cv: Condvar::new(),
            cancel: AtomicBool::new(false),
            _lock: lock,
        });
        let scanner = {
            let inner = inner.clone();
            std::thread::Builder::new()
                .name("xetfs-cache-scan".into())
                .spawn(move || {
                    let _done = MarkIndexed(&inner);
                    scan::run(&inner);
                })?
        };
        Ok(DiskCache {
            inner,
            scanner: Some(scanner),
        })
    }

    /// Reads one chunk, checking its checksum; a corrupt chunk is dropped and reported as a miss.
    pub fn get(&self, key: &ChunkKey) -> Option<DiskChunk> {
        self.inner.get(key)
    }

    /// Reads many chunks (one open and header check per block file); `None` for each miss.
    pub fn get_many(&self, keys: &[ChunkKey]) -> Vec<Option<DiskChunk>> {
        self.inner.get_many(keys)
    }

    /// Index lookup only, no I/O. May miss files the startup scan has not reached yet.
    pub fn contains(&self, key: &ChunkKey) -> bool {
        self.inner
            .index
            .lock()
            .has_chunk(&BlockId::of(key), key.index)
    }

    /// Whether a `get` of the chunk may find it: the index answer once the startup scan is done,
    /// `true` before (the scan may not have reached its file yet).
    pub fn may_contain(&self, key: &ChunkKey) -> bool {
        !self.inner.is_indexed() || self.contains(key)
    }

    /// Stores chunks of one xorb (merged with what is already stored), then evicts down to budget.
    ///
    /// Records must pass the chunk-header checks (`InvalidInput` otherwise, nothing stored).
    /// A block that would exceed the whole budget keeps only the new chunks, or is not stored.
    pub fn put(&self, xorb: &MerkleHash, chunks: &[(u32, DiskChunk)]) -> io::Result<()> {
        self.inner.put(xorb, chunks)
    }

    /// Purges one chunk.
    pub fn remove(&self, key: &ChunkKey) {
        self.inner.remove(key)
    }

    /// Marks stored chunks as proven.
    pub fn mark_proven(&self, xorb: &MerkleHash, indices: &[u32]) -> io::Result<()> {
        self.inner.mark_proven(xorb, indices)
    }

    /// A whole small object (plain git file) by content address, checksum-verified.
    pub fn get_blob(&self, key: &str) -> Option<Bytes> {
        self.inner.get_blob(key)
    }

    pub fn put_blob(&self, key: &str, data: &[u8]) -> io::Result<()> {
        self.inner.put_blob(key, data)
    }

    pub fn remove_blob(&self, key: &str) {
        self.inner.remove_blob(key)
    }

    /// Bytes on disk accounted by the index.
    pub fn usage_bytes(&self) -> u64 {
        self.inner.index.lock().usage()
    }

    pub fn budget_bytes(&self) -> u64 {
        self.inner.budget
    }

    pub fn stats(&self) -> DiskCacheStats {
        self.inner.counters.snapshot()
    }

    /// Blocks until the startup scan has indexed every file already on disk.
    pub fn wait_until_indexed(&self) {
        self.inner.wait_indexed();
    }

    /// The block file that holds (or would hold) `key`: for tools and tests.
    pub fn block_path(&self, key: &ChunkKey) -> PathBuf {
        self.inner.layout.block_path(&BlockId::of(key))
    }
}

impl Drop for DiskCache {
    fn drop(&mut self) {
        // Stop a scan still running so the directory lock is released promptly.
        self.inner.cancel.store(true, Ordering::Relaxed);
        if let Some(scanner) = self.scanner.take() {
            let _ = scanner.join();
        }
    }
}

/// State shared with the scan thread.
struct Inner {
    layout: Layout,
    budget: u64,
    index: Mutex<Index>,
    stripes: Vec<Mutex<()>>,
    counters: Counters,
    indexed: Mutex<bool>,
    indexed_cv: Condvar,
    cancel: AtomicBool,
    _lock: File,
}

impl Inner {
    /// The write lock of one file.
    fn lock(&self, entry: &EntryId) -> MutexGuard<'_, ()> {
        self.stripes[entry.stripe(LOCK_STRIPES)].lock()
    }

    fn try_lock(&self, entry: &EntryId) -> Option<MutexGuard<'_, ()>> {
        self.stripes[entry.stripe(LOCK_STRIPES)].try_lock()
    }

    fn path_of(&self, entry: &EntryId) -> PathBuf {
        match entry {
            EntryId::Block(id) => self.layout.block_path(id),
            EntryId::Blob(name) => self.layout.blob_path(name),
        }
    }

    fn is_indexed(&self) -> bool {
        *self.indexed.lock()
    }

    fn wait_indexed(&self) {
        let mut done = self.indexed.lock();
        while !*done {
            self.indexed_cv.wait(&mut done);
        }
    }
}

/// Marks the scan finished even if it panicked, so writers never wait forever.
struct MarkIndexed<'a>(&'a Inner);

impl Drop for MarkIndexed<'_> {
    fn drop(&mut self) {
        *self.0.indexed.lock() = true;
        self.0.indexed_cv.notify_all();
    }
}

#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    corrupt_dropped: AtomicU64,
    evicted_bytes: AtomicU64,
    written_bytes: AtomicU64,
    write_errors: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    fn snapshot(&self) -> DiskCacheStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        DiskCacheStats {
            hits: get(&self.hits),
            misses: get(&self.misses),
            corrupt_dropped: get(&self.corrupt_dropped),
            evicted_bytes: get(&self.evicted_bytes),
            written_bytes: get(&self.written_bytes),
            write_errors: get(&self.write_errors),
        }
    }
}
