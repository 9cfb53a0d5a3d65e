//! Decoded chunks in memory: moka, bounded in bytes, least-recently-used eviction.
//!
//! LRU rather than moka's default TinyLFU admission: this cache is above all the hand-off between
//! the prefetcher and readers, and TinyLFU refuses new entries into a full cache when they are
//! less popular than the victim — exactly what freshly prefetched chunks are, so a long
//! sequential read would refetch them. Re-reads of hot pages are served by the kernel page cache
//! (files are opened with KEEP_CACHE), so scan resistance matters little here. Callers still keep
//! the chunk they just decoded and never rely on reading it back from here.

use moka::ops::compute::Op;

use super::{CachedChunk, ChunkKey};

/// Bytes charged per entry on top of the data: key, flags, `Bytes` header and moka's own
/// bookkeeping. Keeps a flood of tiny chunks from overshooting the budget in real memory.
pub const ENTRY_OVERHEAD_BYTES: u32 = 128;

pub struct MemoryCache {
    chunks: moka::sync::Cache<ChunkKey, CachedChunk>,
    budget_bytes: u64,
}

impl MemoryCache {
    /// A cache holding at most about `budget_bytes` of chunk data (plus per-entry overhead).
    pub fn new(budget_bytes: u64) -> Self {
        let chunks = moka::sync::Cache::builder()
            .eviction_policy(moka::policy::EvictionPolicy::lru())
            .max_capacity(budget_bytes)
            .weigher(|_key: &ChunkKey, chunk: &CachedChunk| weight(chunk))
            .build();
        MemoryCache {
            chunks,
            budget_bytes,
        }
    }

    pub fn get(&self, key: &ChunkKey) -> Option<CachedChunk> {
        self.chunks.get(key)
    }

    pub fn insert(&self, key: ChunkKey, chunk: CachedChunk) {
        self.chunks.insert(key, chunk);
    }

    pub fn remove(&self, key: &ChunkKey) {
        self.chunks.invalidate(key);
    }

    /// Records that the chunk's hash was proven (no-op when absent).
    pub fn mark_proven(&self, key: &ChunkKey) {
        // Compute-with holds moka's per-key lock, so a concurrent insert of the same key is never
        // overwritten by a stale copy.
        self.chunks
            .entry(*key)
            .and_compute_with(|entry| match entry {
                Some(entry) if !entry.value().proven => {
                    let mut chunk = entry.into_value();
                    chunk.proven = true;
                    Op::Put(chunk)
                }
                _ => Op::Nop,
            });
    }

    /// Bytes currently accounted (after pending maintenance).
    pub fn weighted_bytes(&self) -> u64 {
        self.chunks.run_pending_tasks();
        self.chunks.weighted_size()
    }

    pub fn budget_bytes(&self) -> u64 {
        self.budget_bytes
    }
}

fn weight(chunk: &CachedChunk) -> u32 {
    u32::try_from(chunk.data.len())
        .unwrap_or(u32::MAX)
        .saturating_add(ENTRY_OVERHEAD_BYTES)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::xet::hash::chunk_hash;
    use crate::xet::MerkleHash;

    fn key(xorb: u8, index: u32) -> ChunkKey {
        ChunkKey {
            xorb: MerkleHash::from_bytes([xorb; 32]),
            index,
        }
    }

    fn chunk(seed: u8, len: usize) -> CachedChunk {
        let data = Bytes::from(vec![seed; len]);
        CachedChunk {
            hash: chunk_hash(&data),
            data,
            proven: false,
        }
    }

    #[test]
    fn get_returns_what_was_inserted_and_remove_forgets_it() {
        let cache = MemoryCache::new(1 << 20);
        let c = chunk(7, 1000);
        cache.insert(key(1, 3), c.clone());
        let got = cache
            .get(&key(1, 3))
            .expect("just inserted into an empty cache");
        assert_eq!(got.data, c.data);
        assert_eq!(got.hash, c.hash);
        assert!(cache.get(&key(1, 4)).is_none());
        assert!(cache.get(&key(2, 3)).is_none());
        cache.remove(&key(1, 3));
        assert!(cache.get(&key(1, 3)).is_none());
        assert_eq!(cache.weighted_bytes(), 0);
    }

    #[test]
    fn weight_counts_data_and_overhead() {
        let cache = MemoryCache::new(1 << 20);
        cache.insert(key(1, 0), chunk(1, 1000));
        cache.insert(key(1, 1), chunk(2, 3000));
        assert_eq!(
            cache.weighted_bytes(),
            4000 + 2 * ENTRY_OVERHEAD_BYTES as u64
        );
        assert_eq!(cache.budget_bytes(), 1 << 20);
    }

    #[test]
    fn weighted_size_stays_within_budget() {
        let budget = 1 << 20;
        let cache = MemoryCache::new(budget);
        // 10 MiB of 64 KiB chunks through a 1 MiB cache, some read back to exercise admission.
        for i in 0..160u32 {
            cache.insert(key((i % 7) as u8, i), chunk(i as u8, 64 * 1024));
            if i % 3 == 0 {
                let _ = cache.get(&key((i % 7) as u8, i));
            }
            assert!(cache.weighted_bytes() <= budget, "after insert {i}");
        }
        let present = (0..160u32)
            .filter(|&i| cache.get(&key((i % 7) as u8, i)).is_some())
            .count();
        assert!(present > 0, "a 1 MiB cache keeps some 64 KiB chunks");
        assert!(
            present <= 16,
            "{present} chunks of 64 KiB cannot fit in 1 MiB"
        );
    }

    #[test]
    fn mark_proven_sets_the_flag_and_ignores_absent_keys() {
        let cache = MemoryCache::new(1 << 20);
        let c = chunk(9, 500);
        cache.insert(key(3, 1), c.clone());
        assert!(!cache.get(&key(3, 1)).unwrap().proven);
        cache.mark_proven(&key(3, 1));
        let got = cache.get(&key(3, 1)).unwrap();
        assert!(got.proven);
        assert_eq!(got.data, c.data);
        cache.mark_proven(&key(3, 2));
        assert!(cache.get(&key(3, 2)).is_none(), "marking never inserts");
    }
}
