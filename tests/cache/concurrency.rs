//! Many threads writing and reading the same blocks.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::thread;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::*;

const THREADS: u64 = 8;
const LEN: usize = 2000;

#[test]
fn concurrent_puts_into_the_same_blocks_lose_nothing_and_reads_are_never_torn() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Arc::new(open(dir.path(), 256 * MIB));
    // Two xorbs × three blocks; every thread writes a random half of the chunks in small
    // batches, so puts into one block from different threads overlap all the time.
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let cache = cache.clone();
            thread::spawn(move || {
                let mut rng = StdRng::seed_from_u64(t);
                let mut mine = BTreeSet::new();
                let mut reads = 0u32;
                for _ in 0..60 {
                    let x = rng.random_range(0..2u32);
                    let start = rng.random_range(0..190u32);
                    let batch: Vec<u32> = (start..start + 3).filter(|_| rng.random()).collect();
                    if !batch.is_empty() {
                        put(&cache, x, &batch, LEN);
                        mine.extend(batch.iter().map(|&i| (x, i)));
                    }
                    for _ in 0..5 {
                        let (x, i) = (rng.random_range(0..2u32), rng.random_range(0..192u32));
                        // `holds` asserts the bytes are exact whenever a chunk is returned.
                        reads += holds(&cache, x, i, LEN) as u32;
                    }
                    // What this thread stored stays readable despite the others' rewrites.
                    for &(x, i) in mine.iter().take(8) {
                        assert!(holds(&cache, x, i, LEN), "thread {t} lost {x}/{i}");
                    }
                }
                (mine, reads)
            })
        })
        .collect();
    let mut all = BTreeSet::new();
    for w in workers {
        let (mine, _) = w.join().expect("worker panicked");
        all.extend(mine);
    }
    assert!(
        all.len() > 100,
        "the workload overlaps: {} chunks",
        all.len()
    );
    for x in 0..2 {
        for i in 0..195 {
            let stored = all.contains(&(x, i));
            assert_eq!(holds(&cache, x, i, LEN), stored, "{x}/{i}");
            assert_eq!(cache.contains(&key(x, i)), stored, "{x}/{i}");
        }
    }
    let stats = cache.stats();
    assert_eq!((stats.corrupt_dropped, stats.write_errors), (0, 0));
    assert_eq!(cache.usage_bytes(), dir_usage(dir.path()));
    assert_eq!(count_files(&dir.path().join("tmp")), 0);
}

#[test]
fn concurrent_puts_under_eviction_pressure_keep_the_accounting_exact() {
    let dir = tempfile::tempdir().unwrap();
    let budget = 2 * MIB;
    let cache = Arc::new(open(dir.path(), budget));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let cache = cache.clone();
            thread::spawn(move || {
                let mut rng = StdRng::seed_from_u64(100 + t);
                for _ in 0..80 {
                    let x = rng.random_range(0..16u32);
                    let i = rng.random_range(0..128u32);
                    put(&cache, x, &[i, i + 1], 30 * KIB);
                    let _ = holds(&cache, rng.random_range(0..16), i, 30 * KIB);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker panicked");
    }
    let on_disk = dir_usage(dir.path());
    assert!(on_disk <= budget, "{on_disk}");
    assert_eq!(cache.usage_bytes(), on_disk);
    assert!(cache.stats().evicted_bytes > 0);
    assert_eq!(cache.stats().corrupt_dropped, 0);
}
