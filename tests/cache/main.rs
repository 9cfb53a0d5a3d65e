//! Disk and memory chunk caches: round trips, persistence, crash and corruption handling, the
//! byte bound, concurrency and disk-full behaviour. Every check is on bytes or counters.

mod blobs;
mod bound;
mod concurrency;
mod enospc;
mod faults;
mod round_trip;

use std::fs;
use std::path::Path;

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use xetfs::cache::disk::{DiskCache, DiskChunk};
use xetfs::cache::ChunkKey;
use xetfs::xet::{chunk_hash, MerkleHash};

pub const KIB: usize = 1024;
pub const MIB: u64 = 1024 * 1024;

pub fn xorb(n: u32) -> MerkleHash {
    let mut b = [0u8; 32];
    b[..4].copy_from_slice(&n.to_le_bytes());
    b[31] = 0xa5;
    MerkleHash::from_bytes(b)
}

pub fn key(x: u32, index: u32) -> ChunkKey {
    ChunkKey {
        xorb: xorb(x),
        index,
    }
}

/// A valid, uncompressed chunk record of `len` payload bytes, the same for the same key.
pub fn record(key: &ChunkKey, len: usize) -> Bytes {
    let mut payload = vec![0u8; len];
    StdRng::seed_from_u64(key.xorb.first_u64() ^ ((key.index as u64) << 40) ^ len as u64)
        .fill_bytes(&mut payload);
    let l = (len as u32).to_le_bytes();
    let mut r = vec![0, l[0], l[1], l[2], 0, l[0], l[1], l[2]];
    r.extend_from_slice(&payload);
    Bytes::from(r)
}

pub fn chunk(key: &ChunkKey, len: usize) -> DiskChunk {
    let record = record(key, len);
    DiskChunk {
        hash: chunk_hash(&record[8..]),
        record,
        proven: false,
    }
}

/// Stores chunks `indices` of xorb `x`, `len` payload bytes each, in one put.
pub fn put(cache: &DiskCache, x: u32, indices: &[u32], len: usize) {
    let chunks: Vec<_> = indices
        .iter()
        .map(|&i| (i, chunk(&key(x, i), len)))
        .collect();
    cache.put(&xorb(x), &chunks).expect("put");
}

/// Whether the cache returns exactly the chunk `put` stored.
pub fn holds(cache: &DiskCache, x: u32, index: u32, len: usize) -> bool {
    match cache.get(&key(x, index)) {
        Some(got) => {
            let want = chunk(&key(x, index), len);
            assert_eq!(got.record, want.record, "wrong bytes for {x}/{index}");
            assert_eq!(got.hash, want.hash, "wrong hash for {x}/{index}");
            true
        }
        None => false,
    }
}

pub fn open(dir: &Path, budget: u64) -> DiskCache {
    let cache = DiskCache::open(dir, budget).expect("open cache");
    cache.wait_until_indexed();
    cache
}

/// Bytes in regular files under `dir`, measured on disk rather than by the index.
pub fn dir_usage(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = fs::symlink_metadata(entry.path()).unwrap();
        if meta.is_dir() {
            total += dir_usage(&entry.path());
        } else {
            total += meta.len();
        }
    }
    total
}

pub fn count_files(dir: &Path) -> usize {
    fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| {
                let p = e.unwrap().path();
                if p.is_dir() {
                    count_files(&p)
                } else {
                    1
                }
            })
            .sum()
        })
        .unwrap_or(0)
}
