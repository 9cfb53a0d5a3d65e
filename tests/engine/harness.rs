//! A mock Hub with generated files, and an engine reading from it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use xetfs::hub::{EntryKind, RepoId, RepoScope};
use xetfs::read::{EngineConfig, FileContent, FileDesc, FileReader, ReadEngine};
use xetfs::remote::Remote;
use xetfs::testkit::faulty::FaultyRemote;
use xetfs::testkit::mock::MockRemote;

pub const MIB: u64 = 1 << 20;

/// Deterministic incompressible bytes (the SplitMix64 stream of the reference vectors).
pub fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    xetfs::util::splitmix::splitmix_bytes(seed, len)
}

/// Compressible text-like bytes.
pub fn text_bytes(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    let mut i = 0u64;
    while out.len() < len {
        out.extend_from_slice(
            format!("{i:08} the quick brown fox jumps over the lazy dog\n").as_bytes(),
        );
        i += 1;
    }
    out.truncate(len);
    out
}

pub fn repo() -> RepoId {
    RepoId::model("org/model")
}

pub struct Setup {
    pub mock: Arc<MockRemote>,
    pub faulty: Arc<FaultyRemote>,
    pub commit: String,
}

impl Setup {
    /// A repo whose main commit holds `files` (`xet` chooses Xet or plain storage).
    pub fn new(files: &[(&str, Vec<u8>, bool)]) -> Self {
        let mock = Arc::new(MockRemote::new());
        let mut b = mock.commit(&repo(), "main");
        for (path, bytes, xet) in files {
            b = b.file(*path, bytes.clone(), *xet);
        }
        let commit = b.push();
        let faulty = Arc::new(FaultyRemote::new(mock.clone()));
        Setup {
            mock,
            faulty,
            commit,
        }
    }

    /// An engine over the faulty twin. A previous engine on the same cache directory releases
    /// its lock once its background tasks end: wait for that (bounded) rather than fail.
    pub fn engine(&self, cfg: EngineConfig) -> Arc<ReadEngine> {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            match ReadEngine::new(self.faulty.clone(), cfg.clone()) {
                Ok(e) => return e,
                Err(e)
                    if format!("{e}").contains("in use")
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("engine does not start: {e:#}"),
            }
        }
    }

    /// The engine's description of `path` at the main commit, from the mock's listing.
    pub async fn desc(&self, path: &str) -> Arc<FileDesc> {
        desc_from(self.faulty.clone(), &self.commit, path).await
    }
}

pub async fn desc_from(remote: Arc<dyn Remote>, commit: &str, path: &str) -> Arc<FileDesc> {
    let entry = remote
        .list_tree(&repo(), commit)
        .await
        .expect("listing")
        .into_iter()
        .find(|e| e.path == path && e.kind == EntryKind::File)
        .unwrap_or_else(|| panic!("{path} is not listed"));
    let content = match entry.xet_hash {
        Some(hash) => FileContent::Xet { hash },
        None => FileContent::Plain {
            oid: entry.oid.clone(),
            sha256: entry.lfs_sha256.clone(),
        },
    };
    Arc::new(FileDesc {
        scope: RepoScope {
            repo: repo(),
            commit: commit.to_string(),
        },
        path: path.to_string(),
        size: entry.size,
        content,
    })
}

/// An engine config for tests: small caches, short deadlines.
pub fn config(cache_dir: Option<&Path>) -> EngineConfig {
    EngineConfig {
        memory_cache_bytes: 256 * MIB,
        cache_dir: cache_dir.map(Path::to_path_buf),
        disk_cache_bytes: 1 << 30,
        read_timeout: Duration::from_secs(20),
        max_prefetch_bytes: 64 * MIB,
        offline: false,
        url_ttl: Duration::from_secs(300),
    }
}

/// Reads `[off, off + len)` in one call.
pub async fn read(engine: &ReadEngine, file: &Arc<FileDesc>, off: u64, len: u32) -> Vec<u8> {
    engine
        .read(file, off, len, 1)
        .await
        .unwrap_or_else(|e| panic!("read {}@{off}+{len}: {e}", file.path))
        .to_vec()
}

/// Reads the whole file in `step`-byte reads, front to back.
pub async fn read_all(engine: &ReadEngine, file: &Arc<FileDesc>, step: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(file.size as usize);
    let mut off = 0;
    while off < file.size {
        let b = read(engine, file, off, step).await;
        assert!(!b.is_empty(), "short read at {off}");
        off += b.len() as u64;
        out.extend_from_slice(&b);
    }
    out
}
