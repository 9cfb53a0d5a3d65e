use std::io;

use crate::*;

#[test]
fn chunks_of_several_xorbs_round_trip_and_contains_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path(), 64 * MIB);
    for x in 0..3 {
        // Two blocks per xorb: indices 0..70.
        let indices: Vec<u32> = (0..70).filter(|i| i % 3 != x).collect();
        put(&cache, x, &indices, 1000 + x as usize * 100);
    }
    for x in 0..3 {
        for i in 0..72 {
            let stored = i < 70 && i % 3 != x;
            assert_eq!(cache.contains(&key(x, i)), stored, "contains {x}/{i}");
            assert_eq!(
                holds(&cache, x, i, 1000 + x as usize * 100),
                stored,
                "get {x}/{i}"
            );
        }
    }
    assert!(cache.get(&key(9, 0)).is_none());
    let stats = cache.stats();
    let hits = (0..3u32)
        .map(|x| (0..70).filter(|i| i % 3 != x).count() as u64)
        .sum::<u64>();
    assert_eq!(stats.hits, hits);
    assert_eq!(stats.misses, 3 * 72 - hits + 1);
    assert_eq!(stats.corrupt_dropped, 0);
    assert_eq!(cache.usage_bytes(), dir_usage(dir.path()));
}

#[test]
fn any_subset_of_a_block_is_servable() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path(), 64 * MIB);
    put(&cache, 1, &[3], 500);
    put(&cache, 1, &[70], 600);
    put(&cache, 1, &[71], 600);
    assert!(holds(&cache, 1, 3, 500));
    assert!(holds(&cache, 1, 70, 600));
    assert!(holds(&cache, 1, 71, 600));
    for missing in [0, 4, 63, 64, 69, 72, 127, 128] {
        assert!(cache.get(&key(1, missing)).is_none(), "{missing}");
        assert!(!cache.contains(&key(1, missing)), "{missing}");
    }
    // Block 0 holds chunk 3, block 1 holds 70 and 71: two files.
    assert_eq!(count_files(&dir.path().join("chunks")), 2);
}

#[test]
fn reopening_keeps_everything_and_the_same_usage() {
    let dir = tempfile::tempdir().unwrap();
    let usage;
    {
        let cache = open(dir.path(), 64 * MIB);
        put(&cache, 1, &(0..100).collect::<Vec<_>>(), 2000);
        put(&cache, 2, &[5, 500, 5000], 3000);
        cache.put_blob("git:abc", b"plain file").unwrap();
        cache.mark_proven(&xorb(2), &[500]).unwrap();
        usage = cache.usage_bytes();
        assert_eq!(usage, dir_usage(dir.path()));
    }
    let cache = open(dir.path(), 64 * MIB);
    assert_eq!(cache.usage_bytes(), usage);
    for i in 0..100 {
        assert!(cache.contains(&key(1, i)));
        assert!(holds(&cache, 1, i, 2000), "{i}");
    }
    for i in [5, 500, 5000] {
        assert!(holds(&cache, 2, i, 3000), "{i}");
        assert_eq!(cache.get(&key(2, i)).unwrap().proven, i == 500);
    }
    assert_eq!(
        cache.get_blob("git:abc").as_deref(),
        Some(&b"plain file"[..])
    );
    assert_eq!(cache.stats().corrupt_dropped, 0);
}

#[test]
fn mark_proven_and_remove_rewrite_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path(), 64 * MIB);
    put(&cache, 1, &[1, 2, 3], 100);
    cache.mark_proven(&xorb(1), &[2, 3, 9]).unwrap();
    let flags: Vec<bool> = [1, 2, 3]
        .iter()
        .map(|&i| cache.get(&key(1, i)).unwrap().proven)
        .collect();
    assert_eq!(flags, [false, true, true]);

    // Putting the same chunk unproven again keeps the proof and writes nothing.
    let written = cache.stats().written_bytes;
    put(&cache, 1, &[2], 100);
    assert!(cache.get(&key(1, 2)).unwrap().proven);
    assert_eq!(cache.stats().written_bytes, written);
    // A put that brings a proof records it.
    let mut proven = chunk(&key(1, 1), 100);
    proven.proven = true;
    cache.put(&xorb(1), &[(1, proven)]).unwrap();
    assert!(cache.get(&key(1, 1)).unwrap().proven);
    assert!(cache.stats().written_bytes > written);
    cache.put(&xorb(1), &[(1, chunk(&key(1, 1), 100))]).unwrap();
    assert!(
        cache.get(&key(1, 1)).unwrap().proven,
        "an unproven copy never clears a proof"
    );

    cache.remove(&key(1, 2));
    assert!(cache.get(&key(1, 2)).is_none() && !cache.contains(&key(1, 2)));
    assert!(holds(&cache, 1, 1, 100) && holds(&cache, 1, 3, 100));
    cache.remove(&key(1, 1));
    cache.remove(&key(1, 3));
    assert_eq!(count_files(&dir.path().join("chunks")), 0);
    assert_eq!(cache.usage_bytes(), 0);
    // Removing what is absent is harmless.
    cache.remove(&key(1, 3));
}

#[test]
fn invalid_records_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path(), 64 * MIB);
    let mut bad = chunk(&key(1, 0), 100);
    let mut raw = bad.record.to_vec();
    raw.pop(); // payload shorter than its header says
    bad.record = raw.into();
    let err = cache
        .put(&xorb(1), &[(1, chunk(&key(1, 1), 100)), (0, bad)])
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(
        cache.get(&key(1, 1)).is_none(),
        "nothing of a refused put is stored"
    );
    assert_eq!(cache.usage_bytes(), 0);
}

#[test]
fn a_second_process_cannot_share_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path(), MIB);
    let err = DiskCache::open(dir.path(), MIB)
        .err()
        .expect("second open refused");
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    drop(cache);
    open(dir.path(), MIB);
}
