//! The disk cache and persisted layouts: offline reads, corruption on disk, the size bound.

use std::path::Path;

use xetfs::read::{FileReader, ReadError};
use xetfs::remote::RemoteError;
use xetfs::testkit::faulty::Method;

use crate::harness::*;

fn dir_size(p: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(p).unwrap().flatten() {
        let m = e.metadata().unwrap();
        total += if m.is_dir() {
            dir_size(&e.path())
        } else {
            m.len()
        };
    }
    total
}

fn all_files(p: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(p).unwrap().flatten() {
        if e.metadata().unwrap().is_dir() {
            all_files(&e.path(), out);
        } else {
            out.push(e.path());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_was_read_is_readable_offline_and_the_rest_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let big = random_bytes(41, 20 << 20);
    let small = text_bytes(5000);
    let setup = Setup::new(&[
        ("big.bin", big.clone(), true),
        ("README.md", small.clone(), false),
    ]);
    let (dbig, dsmall) = (setup.desc("big.bin").await, setup.desc("README.md").await);
    {
        let engine = setup.engine(config(Some(dir.path())));
        assert_eq!(
            read(&engine, &dbig, 3 << 20, 1 << 20).await,
            big[3 << 20..4 << 20]
        );
        assert_eq!(read(&engine, &dsmall, 0, 10_000).await, small);
        engine.flush().await;
    }
    // The network is gone: any call fails.
    for m in [
        Method::Reconstruction,
        Method::FetchXorbRange,
        Method::GetFile,
    ] {
        setup
            .faulty
            .fail_always(m, RemoteError::Transient("network down".into()));
    }
    let calls_before = setup.faulty.calls(Method::Reconstruction);
    let mut cfg = config(Some(dir.path()));
    cfg.offline = true;
    let engine = setup.engine(cfg);
    assert_eq!(
        read(&engine, &dbig, 3 << 20, 1 << 20).await,
        big[3 << 20..4 << 20]
    );
    assert_eq!(
        read(&engine, &dbig, (3 << 20) + 12345, 1000).await,
        big[(3 << 20) + 12345..(3 << 20) + 13345]
    );
    assert_eq!(read(&engine, &dsmall, 100, 50).await, small[100..150]);
    let err = engine.read(&dbig, 15 << 20, 4096, 1).await.unwrap_err();
    assert!(matches!(err, ReadError::NotCached(_)), "{err}");
    assert_eq!(
        setup.faulty.calls(Method::Reconstruction),
        calls_before,
        "offline made calls"
    );
    assert!(engine.stats().disk_hits > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_byte_on_disk_is_dropped_and_refetched() {
    let dir = tempfile::tempdir().unwrap();
    let data = random_bytes(42, 3 << 20);
    let setup = Setup::new(&[("f.bin", data.clone(), true)]);
    let desc = setup.desc("f.bin").await;
    {
        let engine = setup.engine(config(Some(dir.path())));
        assert!(read_all(&engine, &desc, 1 << 20).await == data);
        engine.flush().await;
    }
    // Flip one payload byte in every block file of the chunk cache.
    let mut files = Vec::new();
    all_files(&dir.path().join("chunks"), &mut files);
    assert!(!files.is_empty(), "the disk cache holds block files");
    for f in &files {
        let mut raw = std::fs::read(f).unwrap();
        let at = raw.len() - 100;
        raw[at] ^= 0x55;
        std::fs::write(f, raw).unwrap();
    }
    setup.mock.reset_counters();
    let engine = setup.engine(config(Some(dir.path())));
    assert!(read_all(&engine, &desc, 1 << 20).await == data);
    assert!(
        setup.mock.counters().xorb_bytes > 0,
        "corrupt chunks must be refetched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_disk_cache_stays_under_its_bound() {
    let dir = tempfile::tempdir().unwrap();
    let data = random_bytes(43, 24 << 20);
    let setup = Setup::new(&[("f.bin", data.clone(), true)]);
    let desc = setup.desc("f.bin").await;
    let mut cfg = config(Some(dir.path()));
    cfg.disk_cache_bytes = 4 << 20;
    cfg.memory_cache_bytes = 16 << 20;
    let engine = setup.engine(cfg);
    assert!(read_all(&engine, &desc, 1 << 20).await == data);
    engine.flush().await;
    let chunks = dir_size(&dir.path().join("chunks"));
    assert!(
        chunks <= 4 << 20,
        "chunk cache uses {chunks} bytes over a 4 MiB bound"
    );
    assert!(chunks > 0);
    // And it still reads correctly with most chunks evicted.
    assert!(read_all(&engine, &desc, 1 << 20).await == data);
}
