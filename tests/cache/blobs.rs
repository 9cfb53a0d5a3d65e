//! Whole small objects (plain git files).

use std::fs;

use crate::*;

fn blob_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for prefix in fs::read_dir(dir.join("blobs")).unwrap() {
        for f in fs::read_dir(prefix.unwrap().path()).unwrap() {
            out.push(f.unwrap().path());
        }
    }
    out
}

#[test]
fn blobs_round_trip_persist_and_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    {
        let cache = open(dir.path(), MIB);
        cache.put_blob("sha256:aa", b"first").unwrap();
        cache.put_blob("git:bb/../../x", b"").unwrap();
        assert_eq!(cache.get_blob("sha256:aa").as_deref(), Some(&b"first"[..]));
        assert_eq!(cache.get_blob("git:bb/../../x").as_deref(), Some(&b""[..]));
        assert!(cache.get_blob("sha256:cc").is_none());
        assert_eq!(blob_files(dir.path()).len(), 2);
        assert_eq!(cache.usage_bytes(), dir_usage(dir.path()));
    }
    let cache = open(dir.path(), MIB);
    assert_eq!(cache.usage_bytes(), dir_usage(dir.path()));
    assert_eq!(cache.get_blob("sha256:aa").as_deref(), Some(&b"first"[..]));
    cache.remove_blob("sha256:aa");
    assert!(cache.get_blob("sha256:aa").is_none());
    assert_eq!(blob_files(dir.path()).len(), 1);
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses), (1, 1));
}

#[test]
fn a_corrupt_blob_is_dropped_and_can_be_stored_again() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path(), MIB);
    let data = vec![9u8; 10_000];
    cache.put_blob("k", &data).unwrap();
    let path = blob_files(dir.path()).pop().unwrap();
    let mut raw = fs::read(&path).unwrap();
    raw[5000] ^= 1;
    fs::write(&path, raw).unwrap();
    assert!(cache.get_blob("k").is_none());
    assert!(!path.exists());
    assert_eq!(cache.stats().corrupt_dropped, 1);
    assert_eq!(cache.usage_bytes(), 0);
    cache.put_blob("k", &data).unwrap();
    assert_eq!(cache.get_blob("k").as_deref(), Some(&data[..]));
}

#[test]
fn blobs_and_blocks_share_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path(), 300 * KIB as u64);
    cache.put_blob("old", &vec![1u8; 100 * KIB]).unwrap();
    put(&cache, 1, &[0], 100 * KIB);
    put(&cache, 2, &[0], 100 * KIB);
    // The blob is least recently used: it makes room.
    assert!(cache.get_blob("old").is_none());
    assert!(holds(&cache, 1, 0, 100 * KIB) && holds(&cache, 2, 0, 100 * KIB));
    assert!(dir_usage(dir.path()) <= 300 * KIB as u64);
}
