//! Chunk cache speed: disk hits (page cache warm), disk inserts, the startup index scan, and the
//! memory cache. Records are ~64 KiB like real chunks; payloads look like bf16 weights.
//!
//! `cargo bench --bench cache` (set `XETFS_BENCH_DIR` to bench another filesystem than /tmp).

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use xetfs::cache::disk::{DiskCache, DiskChunk, CHUNKS_PER_BLOCK};
use xetfs::cache::memory::MemoryCache;
use xetfs::cache::{CachedChunk, ChunkKey};
use xetfs::xet::MerkleHash;

const CHUNK: usize = 64 * 1024;
const GIB: u64 = 1 << 30;

fn bench_dir() -> tempfile::TempDir {
    match std::env::var_os("XETFS_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(PathBuf::from(dir)).unwrap(),
        None => tempfile::tempdir().unwrap(),
    }
}

fn xorb(n: u32) -> MerkleHash {
    let mut b = [0x5au8; 32];
    b[..4].copy_from_slice(&n.to_le_bytes());
    MerkleHash::from_bytes(b)
}

/// bf16-like payload: sign and exponent bytes from a narrow range, random mantissa bytes.
fn bf16_like(rng: &mut StdRng, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| match i % 2 {
            0 => rng.random(),
            _ => (0x3c + rng.random_range(0..4u8)) | if rng.random() { 0x80 } else { 0 },
        })
        .collect()
}

/// An uncompressed record (scheme None), as the cache stores records unchanged.
fn chunk(rng: &mut StdRng) -> DiskChunk {
    let payload = bf16_like(rng, CHUNK);
    let l = (CHUNK as u32).to_le_bytes();
    let mut record = vec![0, l[0], l[1], l[2], 0, l[0], l[1], l[2]];
    record.extend_from_slice(&payload);
    DiskChunk {
        hash: xetfs::xet::chunk_hash(&payload),
        record: Bytes::from(record),
        proven: false,
    }
}

fn block_of(rng: &mut StdRng, first: u32) -> Vec<(u32, DiskChunk)> {
    (first..first + CHUNKS_PER_BLOCK)
        .map(|i| (i, chunk(rng)))
        .collect()
}

fn disk_hits(c: &mut Criterion) {
    let dir = bench_dir();
    let cache = Arc::new(DiskCache::open(dir.path(), 4 * GIB).unwrap());
    cache.wait_until_indexed();
    let mut rng = StdRng::seed_from_u64(1);
    // 256 MiB: 16 xorbs × 4 full blocks of 64 chunks.
    let mut keys = Vec::new();
    for x in 0..16 {
        for b in 0..4 {
            cache
                .put(&xorb(x), &block_of(&mut rng, b * CHUNKS_PER_BLOCK))
                .unwrap();
            keys.extend(
                (b * CHUNKS_PER_BLOCK..(b + 1) * CHUNKS_PER_BLOCK).map(|index| ChunkKey {
                    xorb: xorb(x),
                    index,
                }),
            );
        }
    }
    let record_len = (CHUNK + 8) as u64;
    let mut group = c.benchmark_group("disk_hit");
    group.throughput(Throughput::Bytes(record_len));
    let mut next = 0usize;
    group.bench_function("sequential_64KiB", |b| {
        b.iter(|| {
            let key = &keys[next % keys.len()];
            next += 1;
            black_box(cache.get(key).expect("hit"))
        })
    });
    let mut rng = StdRng::seed_from_u64(2);
    group.bench_function("random_64KiB", |b| {
        b.iter(|| {
            let key = &keys[rng.random_range(0..keys.len())];
            black_box(cache.get(key).expect("hit"))
        })
    });
    // Two threads, as the two tokio blocking workers of a mount would.
    group.throughput(Throughput::Bytes(2 * 64 * record_len));
    group.bench_function("two_threads_64_chunks_each", |b| {
        b.iter(|| {
            std::thread::scope(|s| {
                for t in 0..2usize {
                    let (cache, keys) = (&cache, &keys);
                    s.spawn(move || {
                        for k in keys.iter().skip(t * 997 % keys.len()).take(64) {
                            black_box(cache.get(k).expect("hit"));
                        }
                    });
                }
            })
        })
    });
    group.finish();
    assert_eq!(cache.stats().corrupt_dropped, 0);
}

fn disk_inserts(c: &mut Criterion) {
    let dir = bench_dir();
    // 512 MiB budget: the steady state includes eviction.
    let cache = DiskCache::open(dir.path(), GIB / 2).unwrap();
    cache.wait_until_indexed();
    let mut rng = StdRng::seed_from_u64(3);
    let block = block_of(&mut rng, 0);
    let one = vec![(5u32, chunk(&mut rng))];
    let mut group = c.benchmark_group("disk_put");
    let mut n = 0u32;
    group.throughput(Throughput::Bytes(
        block.iter().map(|(_, c)| c.record.len() as u64).sum(),
    ));
    group.bench_function("whole_block_64_chunks", |b| {
        b.iter(|| {
            n += 1;
            cache.put(&xorb(1_000_000 + n), &block).unwrap();
        })
    });
    group.throughput(Throughput::Bytes(one[0].1.record.len() as u64));
    group.bench_function("one_chunk_new_block", |b| {
        b.iter(|| {
            n += 1;
            cache.put(&xorb(1_000_000 + n), &one).unwrap();
        })
    });
    group.finish();
}

fn index_scan(c: &mut Criterion) {
    let mut group = c.benchmark_group("open_and_index");
    group.sample_size(10);
    for files in [1_000u32, 10_000] {
        let dir = bench_dir();
        {
            let cache = DiskCache::open(dir.path(), 64 * GIB).unwrap();
            cache.wait_until_indexed();
            let mut rng = StdRng::seed_from_u64(4);
            let small = DiskChunk {
                record: {
                    let mut r = vec![0, 64, 0, 0, 0, 64, 0, 0];
                    r.extend(bf16_like(&mut rng, 64));
                    Bytes::from(r)
                },
                hash: MerkleHash::default(),
                proven: false,
            };
            for f in 0..files {
                cache.put(&xorb(f), &[(0, small.clone())]).unwrap();
            }
        }
        group.throughput(Throughput::Elements(files as u64));
        group.bench_with_input(BenchmarkId::from_parameter(files), &files, |b, _| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let cache = DiskCache::open(dir.path(), 64 * GIB).unwrap();
                    cache.wait_until_indexed();
                    total += start.elapsed();
                    assert!(cache.usage_bytes() > 0);
                }
                total
            })
        });
    }
    group.finish();
}

fn memory(c: &mut Criterion) {
    let cache = MemoryCache::new(GIB);
    let data = Bytes::from(vec![7u8; CHUNK]);
    let chunk = CachedChunk {
        data,
        hash: MerkleHash::default(),
        proven: false,
    };
    for index in 0..4096 {
        cache.insert(
            ChunkKey {
                xorb: xorb(0),
                index,
            },
            chunk.clone(),
        );
    }
    let mut group = c.benchmark_group("memory");
    group.throughput(Throughput::Bytes(CHUNK as u64));
    let mut i = 0u32;
    group.bench_function("get_hit", |b| {
        b.iter(|| {
            i = (i + 1) % 4096;
            black_box(
                cache
                    .get(&ChunkKey {
                        xorb: xorb(0),
                        index: i,
                    })
                    .expect("hit"),
            )
        })
    });
    group.bench_function("insert", |b| {
        b.iter(|| {
            i += 1;
            cache.insert(
                ChunkKey {
                    xorb: xorb(1),
                    index: i,
                },
                chunk.clone(),
            )
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = disk_hits, disk_inserts, index_scan, memory
}
criterion_main!(benches);
