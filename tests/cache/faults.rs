//! Torn writes, leftovers of a crash, flipped bits and strays in the directory.

use std::fs;
use std::os::unix::fs::symlink;

use crate::*;

/// Header length of a block file with `n` chunks (documented format, block.rs).
fn header_len(n: usize) -> usize {
    52 + 56 * n + 4
}

fn flip(path: &Path, at: usize) {
    let mut raw = fs::read(path).unwrap();
    raw[at] ^= 0x20;
    fs::write(path, raw).unwrap();
}

#[test]
fn leftover_temp_files_are_removed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path(), MIB));
    let tmp = dir.path().join("tmp");
    fs::write(tmp.join("tmpA1b2"), vec![7u8; 5000]).unwrap();
    fs::create_dir(tmp.join("odd")).unwrap();
    fs::write(tmp.join("odd/x"), b"x").unwrap();
    let cache = DiskCache::open(dir.path(), MIB).unwrap();
    assert_eq!(count_files(&tmp), 0);
    assert_eq!(fs::read_dir(&tmp).unwrap().count(), 0);
    cache.wait_until_indexed();
    assert_eq!(cache.usage_bytes(), 0);
}

#[test]
fn torn_block_files_are_dropped_at_open_and_others_survive() {
    let dir = tempfile::tempdir().unwrap();
    let (torn, garbage);
    {
        let cache = open(dir.path(), 64 * MIB);
        for x in 1..=3 {
            put(&cache, x, &[0, 1, 2, 3], 4000);
        }
        torn = cache.block_path(&key(1, 0));
        garbage = cache.block_path(&key(2, 0));
    }
    // A half-written file (no fsync before a power cut) and one full of garbage.
    let raw = fs::read(&torn).unwrap();
    fs::write(&torn, &raw[..raw.len() / 2]).unwrap();
    fs::write(&garbage, vec![0xabu8; raw.len()]).unwrap();

    let cache = open(dir.path(), 64 * MIB);
    assert!(
        !torn.exists() && !garbage.exists(),
        "scan deletes invalid blocks"
    );
    assert_eq!(cache.stats().corrupt_dropped, 2);
    for i in 0..4 {
        assert!(!cache.contains(&key(1, i)) && cache.get(&key(1, i)).is_none());
        assert!(cache.get(&key(2, i)).is_none());
        assert!(holds(&cache, 3, i, 4000), "intact block {i}");
    }
    assert_eq!(cache.usage_bytes(), dir_usage(dir.path()));
}

#[test]
fn a_block_torn_while_open_is_dropped_on_read() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path(), 64 * MIB);
    put(&cache, 1, &[0, 1], 4000);
    put(&cache, 2, &[0], 4000);
    let path = cache.block_path(&key(1, 0));
    let raw = fs::read(&path).unwrap();
    fs::write(&path, &raw[..raw.len() - 100]).unwrap();
    assert!(cache.get(&key(1, 1)).is_none());
    assert!(!path.exists());
    assert!(
        !cache.contains(&key(1, 0)),
        "index forgets the dropped block"
    );
    assert_eq!(cache.stats().corrupt_dropped, 2, "both chunks of the block");
    assert!(holds(&cache, 2, 0, 4000));
    assert_eq!(cache.usage_bytes(), dir_usage(dir.path()));
}

#[test]
fn a_flipped_record_byte_drops_only_that_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path(), 64 * MIB);
    let len = 3000;
    put(&cache, 1, &(0..8).collect::<Vec<_>>(), len);
    let path = cache.block_path(&key(1, 0));
    // Middle of record 5's payload.
    let record_len = 8 + len;
    flip(&path, header_len(8) + 5 * record_len + 8 + len / 2);

    assert!(cache.get(&key(1, 5)).is_none());
    assert_eq!(cache.stats().corrupt_dropped, 1);
    assert!(!cache.contains(&key(1, 5)));
    for i in (0..8).filter(|&i| i != 5) {
        assert!(holds(&cache, 1, i, len), "neighbour {i} kept");
    }
    put(&cache, 1, &[5], len);
    assert!(holds(&cache, 1, 5, len));
    assert_eq!(cache.stats().corrupt_dropped, 1);
    assert_eq!(cache.usage_bytes(), dir_usage(dir.path()));
}

#[test]
fn a_flipped_record_header_byte_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path(), 64 * MIB);
    put(&cache, 1, &[0, 1], 3000);
    let path = cache.block_path(&key(1, 0));
    // The chunk header of record 1 (its compressed length field).
    flip(&path, header_len(2) + 3008 + 2);
    assert!(cache.get(&key(1, 1)).is_none());
    assert!(holds(&cache, 1, 0, 3000));
    assert_eq!(cache.stats().corrupt_dropped, 1);
}

#[test]
fn a_flipped_header_byte_drops_the_block_and_it_can_be_stored_again() {
    for at in [3, 20, header_len(0) - 4 + 10, header_len(3) - 2] {
        let dir = tempfile::tempdir().unwrap();
        let cache = open(dir.path(), 64 * MIB);
        put(&cache, 1, &[0, 1, 2], 3000);
        let path = cache.block_path(&key(1, 0));
        flip(&path, at);
        assert!(cache.get(&key(1, 2)).is_none(), "flip at {at}");
        assert!(!path.exists(), "flip at {at}");
        assert_eq!(cache.stats().corrupt_dropped, 3, "flip at {at}");
        assert_eq!(cache.usage_bytes(), 0);
        put(&cache, 1, &[0, 1, 2], 3000);
        for i in 0..3 {
            assert!(holds(&cache, 1, i, 3000), "flip at {at}, chunk {i}");
        }
    }
}

#[test]
fn a_put_into_a_damaged_block_keeps_only_good_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path(), 64 * MIB);
    put(&cache, 1, &[0, 1], 3000);
    let path = cache.block_path(&key(1, 0));
    flip(&path, header_len(2) + 100);
    put(&cache, 1, &[2], 3000);
    assert_eq!(cache.stats().corrupt_dropped, 1);
    assert!(cache.get(&key(1, 0)).is_none() && !cache.contains(&key(1, 0)));
    assert!(holds(&cache, 1, 1, 3000) && holds(&cache, 1, 2, 3000));
}

#[test]
fn a_block_moved_to_another_key_is_not_served() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path(), 64 * MIB);
    put(&cache, 1, &[0], 3000);
    let from = cache.block_path(&key(1, 0));
    let to = cache.block_path(&key(2, 0));
    fs::create_dir_all(to.parent().unwrap()).unwrap();
    fs::copy(&from, &to).unwrap();
    assert!(cache.get(&key(2, 0)).is_none());
    assert!(holds(&cache, 1, 0, 3000));
    assert_eq!(cache.stats().corrupt_dropped, 1);
}

#[test]
fn strays_in_the_directory_are_removed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let good;
    {
        let cache = open(dir.path(), 64 * MIB);
        put(&cache, 1, &[0], 3000);
        good = cache.block_path(&key(1, 0));
    }
    let chunks = dir.path().join("chunks");
    let xorb_dir = good.parent().unwrap();
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("keep"), b"not ours").unwrap();
    fs::create_dir_all(chunks.join("zz")).unwrap();
    fs::create_dir_all(good.parent().unwrap().parent().unwrap().join("not-a-hash")).unwrap();
    fs::write(xorb_dir.join("007"), b"non-canonical block name").unwrap();
    fs::write(xorb_dir.join("x"), b"junk").unwrap();
    symlink(outside.path().join("keep"), xorb_dir.join("5")).unwrap();
    symlink(outside.path(), chunks.join("ab")).unwrap();

    let cache = open(dir.path(), 64 * MIB);
    assert_eq!(count_files(&chunks), 1, "only the real block is left");
    assert!(good.exists());
    assert!(holds(&cache, 1, 0, 3000));
    assert!(
        outside.path().join("keep").exists(),
        "symlinks are never followed"
    );
    assert_eq!(cache.usage_bytes(), dir_usage(dir.path()));
}

#[test]
fn get_many_reads_across_blocks_skips_misses_and_drops_a_flipped_record() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path(), 64 * MIB);
    let len = 3000;
    put(&cache, 1, &[0, 1, 2, 3, 4, 5, 6, 7], len);
    put(&cache, 1, &[64, 65], len); // second block of the same xorb
    put(&cache, 2, &[0], len);
    let path = cache.block_path(&key(1, 0));
    let record_len = 8 + len;
    flip(&path, header_len(8) + 5 * record_len + 8 + len / 2);

    let keys = [
        key(1, 65),
        key(1, 5), // flipped
        key(1, 0),
        key(3, 0), // no such xorb
        key(1, 9), // not in its block
        key(2, 0),
        key(1, 64),
        key(1, 7),
    ];
    let got = cache.get_many(&keys);
    assert_eq!(got.len(), keys.len());
    for (k, g) in keys.iter().zip(&got) {
        let present = [(1, 65), (1, 0), (2, 0), (1, 64), (1, 7)]
            .iter()
            .any(|&(x, i)| *k == key(x, i));
        match g {
            Some(c) => {
                assert!(present, "{k:?} should be a miss");
                assert_eq!(c.record, chunk(k, len).record, "bytes of {k:?}");
            }
            None => assert!(!present, "{k:?} should be a hit"),
        }
    }
    // The flipped record is gone for good; its neighbours stay.
    assert_eq!(cache.stats().corrupt_dropped, 1);
    assert!(!cache.contains(&key(1, 5)));
    for i in (0..8).filter(|&i| i != 5) {
        assert!(holds(&cache, 1, i, len), "neighbour {i} kept");
    }
    assert_eq!(cache.usage_bytes(), dir_usage(dir.path()));
}
