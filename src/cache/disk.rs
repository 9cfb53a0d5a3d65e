//! Persistent chunk cache on disk: content-addressed, bounded in bytes with LRU eviction,
//! write-temp + rename, a checksum on every entry checked on every read.
//!
//! All methods do blocking file I/O: async callers use `spawn_blocking`.
// SKELETON: bodies to be written (issue 4).

use std::io;
use std::path::Path;

use bytes::Bytes;

use super::ChunkKey;
use crate::xet::MerkleHash;

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
    _private: (),
}

impl DiskCache {
    /// Opens (creating) the cache under `dir`, bounded to `budget_bytes` on disk. Removes temp
    /// files left by a crash and rebuilds the in-memory index from the directory.
    pub fn open(dir: &Path, budget_bytes: u64) -> io::Result<Self> {
        let _ = (dir, budget_bytes);
        todo!()
    }

    /// Reads one chunk, checking its checksum; a corrupt chunk is dropped and reported as a miss.
    pub fn get(&self, key: &ChunkKey) -> Option<DiskChunk> {
        let _ = key;
        todo!()
    }

    /// Index lookup only, no I/O.
    pub fn contains(&self, key: &ChunkKey) -> bool {
        let _ = key;
        todo!()
    }

    /// Stores chunks of one xorb (merged with what is already stored), then evicts down to budget.
    pub fn put(&self, xorb: &MerkleHash, chunks: &[(u32, DiskChunk)]) -> io::Result<()> {
        let _ = (xorb, chunks);
        todo!()
    }

    /// Purges one chunk.
    pub fn remove(&self, key: &ChunkKey) {
        let _ = key;
        todo!()
    }

    /// Marks stored chunks as proven.
    pub fn mark_proven(&self, xorb: &MerkleHash, indices: &[u32]) -> io::Result<()> {
        let _ = (xorb, indices);
        todo!()
    }

    /// A whole small object (plain git file) by content address, checksum-verified.
    pub fn get_blob(&self, key: &str) -> Option<Bytes> {
        let _ = key;
        todo!()
    }

    pub fn put_blob(&self, key: &str, data: &[u8]) -> io::Result<()> {
        let _ = (key, data);
        todo!()
    }

    pub fn remove_blob(&self, key: &str) {
        let _ = key;
        todo!()
    }

    /// Bytes on disk accounted by the index.
    pub fn usage_bytes(&self) -> u64 {
        todo!()
    }

    pub fn budget_bytes(&self) -> u64 {
        todo!()
    }

    pub fn stats(&self) -> DiskCacheStats {
        todo!()
    }
}
