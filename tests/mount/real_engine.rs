//! In-process mounts over the real stack: catalog, caches and engine built by `xetfs::stack`
//! over `MockRemote`, which stores files as real xorbs and answers with the planner of
//! `xetfs serve`.

use std::fs;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use xetfs::hub::RepoId;
use xetfs::stack::Settings;
use xetfs::testkit::mock::MockRemote;

use crate::doubles::pseudo_random;
use crate::harness::{io, TestMount};
use crate::{errno, read};

/// What the tests mount with: the given cache directory (none: memory only).
fn settings(cache_dir: Option<&Path>, offline: bool) -> Settings {
    let mut s = Settings::new("http://mock.invalid");
    s.cache.dir = cache_dir.map(Path::to_path_buf);
    s.offline = offline;
    s.metadata_ttl = Duration::from_secs(3600);
    s.deadlines.read = Duration::from_secs(20);
    s
}

/// The whole stack below FUSE is real here: catalog and `ReadEngine` over `MockRemote`, which
/// stores files as real xorbs and answers with the planner of `xetfs serve`.
#[test]
fn real_engine_serves_verified_xet_files() {
    let mock = Arc::new(MockRemote::new());
    let weights = pseudo_random(6 * 1024 * 1024 + 1234, 11);
    let config = Bytes::from_static(b"{\"model_type\": \"test\"}\n");
    mock.commit(&RepoId::model("org/real"), "main")
        .xet("model.safetensors", weights.clone())
        .plain("config.json", config.clone())
        .push();
    let Some(m) = TestMount::start_stack(mock.clone(), settings(None, false)) else {
        return;
    };
    assert_eq!(read(&m, "org/real/config.json").unwrap(), config);
    assert_eq!(read(&m, "org/real/model.safetensors").unwrap(), weights);
    let fetched = mock.counters().xorb_bytes;
    // Random data does not compress: each byte was fetched about once, not twice.
    assert!(
        fetched >= weights.len() as u64 && fetched < weights.len() as u64 * 21 / 20,
        "{fetched}"
    );

    // Random-offset reads give the same bytes and, with everything cached, fetch nothing.
    let p = m.path("org/real/model.safetensors");
    let w = weights.clone();
    io("pread", move || {
        let f = fs::File::open(p).unwrap();
        for (i, off) in [
            0u64,
            65_535,
            1 << 20,
            3 * (1 << 20) + 7,
            w.len() as u64 - 100,
        ]
        .into_iter()
        .enumerate()
        {
            let mut buf = vec![0u8; 4096 * (i + 1)];
            let n = f.read_at(&mut buf, off).unwrap();
            let end = (off as usize + buf.len()).min(w.len());
            assert_eq!(&buf[..n], &w[off as usize..end], "offset {off}");
        }
    });
    assert_eq!(mock.counters().xorb_bytes, fetched);
    let stats = m.stats();
    assert_eq!(stats["reader"]["integrity_failures"], 0);
    assert!(
        stats["reader"]["files_verified"].as_u64().unwrap() >= 1,
        "{stats}"
    );
    assert_eq!(stats["fs"]["read_errors"], 0);
}

/// After an unmount (which flushes the engine), an offline mount serves the same files from the
/// persisted listing and the disk chunk cache, with no remote call at all.
#[test]
fn offline_remount_reads_from_the_disk_cache() {
    let mock = Arc::new(MockRemote::new());
    let weights = pseudo_random(2 * 1024 * 1024 + 99, 12);
    mock.commit(&RepoId::model("org/cached"), "main")
        .xet("w.bin", weights.clone())
        .push();
    let cache = tempfile::tempdir().unwrap();
    let mount_with =
        |offline: bool| TestMount::start_stack(mock.clone(), settings(Some(cache.path()), offline));
    {
        let Some(m) = mount_with(false) else {
            return;
        };
        assert_eq!(read(&m, "org/cached/w.bin").unwrap(), weights);
    }
    mock.reset_counters();
    let m = mount_with(true).unwrap();
    assert_eq!(read(&m, "org/cached/w.bin").unwrap(), weights);
    assert_eq!(errno(read(&m, "org/other/w.bin")), libc::ENOENT);
    assert_eq!(
        mock.counters(),
        Default::default(),
        "offline made a remote call"
    );
    assert!(m.stats()["reader"]["disk_hits"].as_u64().unwrap() > 0);
}
