//! End to end, the disk cache: what was read survives an unmount and serves an `--offline`
//! remount with the server gone (the rest fails with EIO, at once); a small `--cache-size` bounds
//! the chunk cache on disk while every byte stays correct.

use std::path::Path;

use xetfs::serve::sample::{write_model_repo, SampleSpec};
use xetfs::serve::FaultConfig;

use crate::e2e_fixture::{
    errno_of, fuse, pread, put, random_bytes, read_file, sha256_hex, Mount, Served, MIB,
};

#[test]
fn offline_remount_serves_what_was_read_and_eio_for_the_rest() {
    if !fuse() {
        return;
    }
    let big = random_bytes(51, 24 * MIB as usize);
    let mut sample = None;
    let mut served = Served::start(FaultConfig::default(), |root| {
        sample = Some(write_model_repo(&root.join("org/model"), &SampleSpec::small(51)).unwrap());
        put(root, "org/model/big.bin", &big);
    });
    let sample = sample.unwrap();
    // Whole files (Xet and plain), and one range of a bigger file.
    let whole = [
        "model.safetensors",
        "config.json",
        "nested/a/b/deep.bin",
        "dir with space/file #1.bin",
    ];
    let never = ["bounds/chunk_65536.bin", "README.md", "tokenizer.json"];
    for p in whole.iter().chain(&never) {
        assert!(sample.file(p).is_some(), "{p} is in the sample");
    }
    assert!(sample.file("README.md").is_some_and(|f| !f.xet));
    assert!(sample.file("bounds/chunk_65536.bin").is_some_and(|f| f.xet));
    let (range_at, range_len) = (8 * MIB, MIB as usize);
    let range = &big[range_at as usize..range_at as usize + range_len];

    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().join("c");
    let online = Mount::start(Some(&served.endpoint()), &cache_dir, &[]);
    for p in whole {
        let got = read_file(online.path(&format!("org/model/{p}"))).unwrap();
        assert_eq!(sha256_hex(&got), sample.file(p).unwrap().sha256, "{p}");
    }
    let got = pread(online.path("org/model/big.bin"), range_at, range_len).unwrap();
    assert!(got == range);
    online.wait_idle();
    online.unmount();
    served.stop();

    let offline = Mount::start(None, &cache_dir, &["--offline"]);
    let repo = |p: &str| offline.path(&format!("org/model/{p}"));
    for p in whole {
        let got =
            read_file(repo(p)).unwrap_or_else(|e| panic!("{p} offline: {e}\n{}", offline.log()));
        assert_eq!(
            sha256_hex(&got),
            sample.file(p).unwrap().sha256,
            "{p} offline"
        );
    }
    assert!(pread(repo("big.bin"), range_at, range_len).unwrap() == range);
    // The listing survived, so these exist; their bytes were never fetched: EIO, not a hang
    // (each read is time-boxed).
    for p in never {
        assert_eq!(
            std::fs::metadata(repo(p)).unwrap().len(),
            sample.file(p).unwrap().size,
            "{p} is listed offline"
        );
        assert_eq!(
            errno_of(read_file(repo(p)), p),
            libc::EIO,
            "{p} was never read"
        );
    }
    assert_eq!(
        errno_of(pread(repo("big.bin"), 20 * MIB, 4096), "big.bin"),
        libc::EIO
    );
    assert_eq!(
        errno_of(read_file(offline.path("org/unknown/x.bin")), "unknown"),
        libc::ENOENT
    );
    assert!(offline.reader_stat("disk_hits") > 0);
    assert_eq!(offline.reader_stat("reconstructions"), 0);
    assert_eq!(offline.reader_stat("fetches"), 0);
    assert_eq!(offline.reader_stat("integrity_failures"), 0);
}

/// Bytes of every file below `dir`.
fn du(dir: &Path) -> u64 {
    if !dir.exists() {
        return 0;
    }
    walkdir(dir).iter().map(|(_, len)| len).sum()
}

fn walkdir(dir: &Path) -> Vec<(std::path::PathBuf, u64)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let meta = std::fs::symlink_metadata(e.path()).unwrap();
            if meta.is_dir() {
                todo.push(e.path());
            } else {
                out.push((e.path(), meta.len()));
            }
        }
    }
    out
}

#[test]
fn small_cache_size_bounds_the_disk_cache_and_bytes_stay_correct() {
    if !fuse() {
        return;
    }
    let budget = 8 * MIB;
    let files: Vec<(String, Vec<u8>)> = (0..3)
        .map(|i| {
            (
                format!("org/bound/part-{i}.bin"),
                random_bytes(60 + i, 12 * MIB as usize),
            )
        })
        .collect();
    let served = Served::start(FaultConfig::default(), |root| {
        for (p, data) in &files {
            put(root, p, data);
        }
    });
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().join("c");
    // A small memory cache too, so that re-reads go through the disk cache and the network.
    let args = ["--cache-size", "8MiB", "--memory-cache", "16MiB"];
    for round in 0..2 {
        let m = Mount::start(Some(&served.endpoint()), &cache_dir, &args);
        for (p, data) in &files {
            let got = read_file(m.path(p)).unwrap_or_else(|e| panic!("{p}: {e}\n{}", m.log()));
            assert!(got == *data, "{p} differs (round {round})");
        }
        assert_eq!(m.reader_stat("integrity_failures"), 0);
        m.wait_idle();
        m.unmount();
        // `--cache-size` bounds the chunk cache (chunks/, blobs/, tmp/: everything but the
        // listings and chunk maps in meta/, which docs/CONFIGURATION.md leaves outside it).
        let all = walkdir(&cache_dir);
        let meta = du(&cache_dir.join("meta"));
        let used: u64 = all
            .iter()
            .filter(|(p, _)| !p.starts_with(cache_dir.join("meta")))
            .map(|(_, len)| len)
            .sum();
        eprintln!("round {round}: chunk cache {used} bytes (budget {budget}), meta/ {meta} bytes");
        assert!(
            used <= budget,
            "round {round}: {used} bytes cached, budget {budget}: {all:#?}"
        );
        // Metadata stays small: a few bytes per chunk of the 36 MiB read.
        assert!(meta < 64 << 10, "meta/ holds {meta} bytes");
        assert!(used > 0, "something was cached");
    }
    // 36 MiB went through an 8 MiB cache twice: the second round had to fetch again.
    assert!(
        served.xorb_bytes() > 2 * 30 * MIB,
        "{}",
        served.xorb_bytes()
    );
}
