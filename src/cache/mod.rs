//! Chunk caches shared by every file and revision, keyed by content: `(xorb hash, chunk index)`.
//! [`memory::MemoryCache`] holds decoded chunks (moka, bounded in bytes); [`disk::DiskCache`]
//! holds chunk records persistently (bounded in bytes, checksummed, crash-safe);
//! [`metadata::MetadataStore`] persists what offline use needs (listings, file chunk maps).

pub mod disk;
pub mod memory;
pub mod metadata;

use bytes::Bytes;

use crate::xet::MerkleHash;

/// Content address of one chunk: the same bytes wherever a file or revision uses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkKey {
    pub xorb: MerkleHash,
    pub index: u32,
}

/// A decoded chunk in memory.
#[derive(Debug, Clone)]
pub struct CachedChunk {
    pub data: Bytes,
    /// Chunk hash of `data` (computed when it was decoded).
    pub hash: MerkleHash,
    /// Whether `hash` has been proven against a xorb hash, a file hash or an authenticated list.
    pub proven: bool,
}
