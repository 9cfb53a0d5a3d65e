//! The byte budget and the eviction order.

use crate::*;

#[test]
fn ten_mib_through_a_one_mib_cache_never_passes_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let budget = MIB;
    let cache = open(dir.path(), budget);
    let mut written = 0u64;
    let mut n = 0u32;
    // Puts of 1–4 chunks of 64 KiB, several into the same blocks, across 12 xorbs.
    while written < 10 * MIB {
        let x = n % 12;
        let first = (n / 12) * 3 % 120;
        let count = 1 + n % 4;
        let indices: Vec<u32> = (first..first + count).collect();
        put(&cache, x, &indices, 64 * KIB);
        written += count as u64 * 64 * KIB as u64;
        n += 1;
        let on_disk = dir_usage(dir.path());
        assert!(on_disk <= budget, "put {n}: {on_disk} bytes on disk");
        assert_eq!(
            cache.usage_bytes(),
            on_disk,
            "put {n}: index agrees with the disk"
        );
    }
    let stats = cache.stats();
    assert!(stats.evicted_bytes > 0);
    assert!(stats.written_bytes >= 10 * MIB);
    assert_eq!(stats.write_errors, 0);
    // The last put is still there.
    assert!(cache.contains(&key((n - 1) % 12, ((n - 1) / 12) * 3 % 120)));
}

#[test]
fn recently_read_blocks_outlive_untouched_ones() {
    let dir = tempfile::tempdir().unwrap();
    let len = 100 * KIB;
    let cache = open(dir.path(), MIB);
    // Eight one-chunk blocks (~800 KiB): A..D are read, E..H are not.
    for x in 0..8 {
        put(&cache, x, &[0], len);
    }
    for _ in 0..3 {
        for x in 0..4 {
            assert!(holds(&cache, x, 0, len));
        }
    }
    // Four more (~400 KiB) force about four evictions.
    for x in 8..12 {
        put(&cache, x, &[0], len);
    }
    for x in 0..4 {
        assert!(cache.contains(&key(x, 0)), "read block {x} was evicted");
        assert!(holds(&cache, x, 0, len));
    }
    for x in 8..12 {
        assert!(holds(&cache, x, 0, len), "new block {x}");
    }
    let untouched_left = (4..8).filter(|&x| cache.contains(&key(x, 0))).count();
    assert!(untouched_left < 4, "an untouched block made room");
    assert!(
        !cache.contains(&key(4, 0)),
        "the oldest untouched block goes first"
    );
    assert!(dir_usage(dir.path()) <= MIB);
}

#[test]
fn recency_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let len = 100 * KIB;
    {
        let cache = open(dir.path(), MIB);
        for x in 0..8 {
            put(&cache, x, &[0], len);
        }
    }
    // Age the files apart (mtime is the recency kept across restarts): 0 oldest.
    let cache = open(dir.path(), MIB);
    let base = std::time::SystemTime::now() - std::time::Duration::from_secs(86_400);
    for x in 0..8u64 {
        let f = std::fs::File::options()
            .write(true)
            .open(cache.block_path(&key(x as u32, 0)))
            .unwrap();
        f.set_modified(base + std::time::Duration::from_secs(x * 60))
            .unwrap();
    }
    drop(cache);
    let cache = open(dir.path(), MIB);
    // Reading block 0 after the restart makes it the newest, also on disk.
    assert!(holds(&cache, 0, 0, len));
    drop(cache);
    let cache = open(dir.path(), MIB);
    // Ten blocks fit; three more evict the oldest ones.
    for x in 8..11 {
        put(&cache, x, &[0], len);
    }
    assert!(cache.contains(&key(0, 0)), "read after restart: kept");
    assert!(!cache.contains(&key(1, 0)), "oldest unread: evicted");
}

#[test]
fn entries_bigger_than_the_budget_are_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let budget = 150 * KIB as u64;
    let cache = open(dir.path(), budget);
    put(&cache, 1, &[0], 64 * KIB);
    put(&cache, 1, &[1], 64 * KIB);
    assert!(holds(&cache, 1, 0, 64 * KIB) && holds(&cache, 1, 1, 64 * KIB));
    // A third chunk would make the block larger than the whole cache: the new chunk wins.
    put(&cache, 1, &[2], 64 * KIB);
    assert!(holds(&cache, 1, 2, 64 * KIB));
    assert!(cache.get(&key(1, 0)).is_none());
    // Alone too big: nothing stored, nothing lost.
    put(&cache, 2, &[0, 1, 2], 64 * KIB);
    assert!(!cache.contains(&key(2, 0)));
    assert!(holds(&cache, 1, 2, 64 * KIB));
    cache.put_blob("big", &vec![1u8; 200 * KIB]).unwrap();
    assert!(cache.get_blob("big").is_none());
    assert!(dir_usage(dir.path()) <= budget);
    assert_eq!(cache.usage_bytes(), dir_usage(dir.path()));
}

#[test]
fn reopening_with_a_smaller_budget_evicts_the_oldest() {
    let dir = tempfile::tempdir().unwrap();
    let len = 100 * KIB;
    {
        let cache = open(dir.path(), 4 * MIB);
        let base = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        for x in 0..10 {
            put(&cache, x, &[0], len);
            std::fs::File::options()
                .write(true)
                .open(cache.block_path(&key(x, 0)))
                .unwrap()
                .set_modified(base + std::time::Duration::from_secs(x as u64))
                .unwrap();
        }
    }
    // Four blocks fit.
    let budget = 500 * KIB as u64;
    let cache = open(dir.path(), budget);
    let on_disk = dir_usage(dir.path());
    assert!(on_disk <= budget, "{on_disk}");
    assert_eq!(cache.usage_bytes(), on_disk);
    assert!(cache.stats().evicted_bytes > 0);
    for x in 0..10 {
        assert_eq!(cache.contains(&key(x, 0)), x >= 6, "block {x}");
    }
}
