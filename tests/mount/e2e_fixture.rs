//! Shared by the end-to-end tests: a `xetfs serve` running in this process over a directory of
//! generated repos, and daemon mounts of the built `xetfs` binary over it. Both are torn down on
//! drop, even when the test panics.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tempfile::TempDir;
use xetfs::hub::{RepoId, RepoScope};
use xetfs::remote::http::{HttpRemote, RemoteConfig};
use xetfs::remote::Remote;
use xetfs::serve::{start, FaultConfig, MetricsSnapshot, RunningServer, ServeOptions};
use xetfs::xet::MerkleHash;

use crate::harness::{self, io};

pub const BIN: &str = env!("CARGO_BIN_EXE_xetfs");
pub const MIB: u64 = 1 << 20;

/// A server over ROOT, stopped on drop.
pub struct Served {
    root: TempDir,
    _state: TempDir,
    server: Option<RunningServer>,
    rt: tokio::runtime::Runtime,
}

impl Served {
    /// `write` fills ROOT (`ROOT/<org>/<name>[@<rev>]/…`); the server then ingests it.
    /// `faults` are in force from the first request on.
    pub fn start(faults: FaultConfig, write: impl FnOnce(&Path)) -> Served {
        let root = tempfile::tempdir().unwrap();
        let state = tempfile::tempdir().unwrap();
        write(root.path());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut opts = ServeOptions::new(root.path(), "127.0.0.1:0".parse().unwrap());
        opts.state_dir = Some(state.path().to_path_buf());
        opts.config.faults = faults;
        let server = rt.block_on(async {
            let server = start(opts).await.unwrap();
            server.wait_ready(Duration::from_secs(600)).await.unwrap();
            server
        });
        Served {
            root,
            _state: state,
            server: Some(server),
            rt,
        }
    }

    pub fn server(&self) -> &RunningServer {
        self.server.as_ref().expect("the server was stopped")
    }

    pub fn endpoint(&self) -> String {
        self.server().endpoint()
    }

    pub fn metrics(&self) -> MetricsSnapshot {
        self.server().metrics()
    }

    /// Xorb body bytes the CAS sent so far.
    pub fn xorb_bytes(&self) -> u64 {
        self.metrics().endpoint("xorb_get").bytes_sent
    }

    pub fn xorb_requests(&self) -> u64 {
        self.metrics().endpoint("xorb_get").requests
    }

    /// Replaces the fault rules (JSON as in `src/serve/faults.rs`).
    pub fn set_faults(&self, rules: serde_json::Value) {
        let config: FaultConfig = serde_json::from_value(rules).expect("fault rules");
        config.validate().expect("fault rules");
        self.server().set_faults(config);
    }

    /// The served file `rel` (`<org>/<name>/<path>`) in ROOT.
    pub fn source(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    /// The terms of `path` (in model `repo` at `rev`) as `(file offset, xorb)`, as the CAS
    /// reconstructs the whole file (asks the server directly: one reconstruction call).
    pub fn terms(&self, repo: &str, rev: &str, path: &str) -> Vec<(u64, MerkleHash)> {
        let remote = HttpRemote::new(RemoteConfig {
            endpoint: self.endpoint(),
            ..RemoteConfig::default()
        })
        .unwrap();
        let repo = RepoId::model(repo);
        self.rt.block_on(async {
            let commit = remote.resolve_revision(&repo, rev).await.unwrap();
            let tree = remote.list_tree(&repo, &commit).await.unwrap();
            let entry = tree.iter().find(|e| e.path == path).expect("path listed");
            let hash = entry.xet_hash.expect("a Xet file");
            let scope = RepoScope { repo, commit };
            let r = remote
                .reconstruction(&scope, &hash, 0..entry.size)
                .await
                .unwrap();
            let mut at = 0;
            r.terms
                .iter()
                .map(|t| {
                    let start = at;
                    at += u64::from(t.unpacked_length);
                    (start, t.hash)
                })
                .collect()
        })
    }

    /// Stops listening and cuts every connection.
    pub fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            self.rt.block_on(s.shutdown());
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether the tests can mount here (fails under `XETFS_REQUIRE_FUSE=1` when they cannot).
pub fn fuse() -> bool {
    if !harness::fuse_usable() {
        return false;
    }
    harness::clean_stale_mounts();
    true
}

/// A daemon started by `xetfs mount`: unmounted on drop, its daemon waited for (and killed if it
/// does not go).
pub struct Mount {
    mnt: TempDir,
    /// Logs and `HOME`, apart from the cache directory (whose size some tests measure).
    aux: TempDir,
    pid: u32,
}

impl Mount {
    /// `xetfs mount MOUNTPOINT --cache-dir CACHE [--endpoint URL] EXTRA…`; panics with the log
    /// when the mount fails.
    pub fn start(endpoint: Option<&str>, cache: &Path, extra: &[&str]) -> Mount {
        let mnt = harness::test_dir();
        let aux = tempfile::tempdir().unwrap();
        let log = aux.path().join("xetfs.log");
        let mut cmd = Command::new(BIN);
        cmd.args(["mount", &mnt.path().display().to_string()])
            .args(["--cache-dir", &cache.display().to_string()])
            .args(["--log-file", &log.display().to_string()])
            .args(extra)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", aux.path())
            // Override to see more, e.g. XETFS_E2E_LOG=xetfs=trace.
            .env(
                "RUST_LOG",
                std::env::var("XETFS_E2E_LOG").unwrap_or_else(|_| "info,xetfs=debug".into()),
            );
        if let Some(e) = endpoint {
            cmd.args(["--endpoint", e]);
        }
        let out = io("xetfs mount", move || cmd.output().unwrap());
        assert!(
            out.status.success(),
            "xetfs mount failed: {}\nlog:\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        let mut m = Mount { mnt, aux, pid: 0 };
        m.pid = m.stats()["pid"].as_u64().expect("pid in .xetfs-stats") as u32;
        m
    }

    pub fn root(&self) -> &Path {
        self.mnt.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.mnt.path().join(rel)
    }

    pub fn log_path(&self) -> PathBuf {
        self.aux.path().join("xetfs.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// `.xetfs-stats` (engine counters under `reader`, filesystem counters under `fs`).
    pub fn stats(&self) -> serde_json::Value {
        let p = self.path(".xetfs-stats");
        let text = io("read .xetfs-stats", move || std::fs::read_to_string(p)).unwrap();
        serde_json::from_str(&text).expect("stats are JSON")
    }

    /// One engine counter.
    pub fn reader_stat(&self, name: &str) -> u64 {
        self.stats()["reader"][name]
            .as_u64()
            .unwrap_or_else(|| panic!("no reader counter {name}"))
    }

    /// Waits until the engine has no prefetch or fetch under way, so that server counters are
    /// final (a bound against hangs, not a timing).
    pub fn wait_idle(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.reader_stat("background_tasks") > 0 {
            assert!(Instant::now() < deadline, "the engine never went idle");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Unmounts and waits for the daemon to exit (it flushes the disk cache and releases the
    /// cache directory first).
    pub fn unmount(self) {
        let out = Command::new(BIN)
            .args(["umount", &self.root().display().to_string()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "xetfs umount: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pid = self.pid;
        let deadline = Instant::now() + Duration::from_secs(30);
        while alive(pid) {
            assert!(Instant::now() < deadline, "the daemon did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn alive(pid: u32) -> bool {
    // A zombie is gone for our purposes (its parent, `xetfs mount`, exited long ago).
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit(')').next().is_some_and(|r| !r.starts_with(" Z")))
}

impl Drop for Mount {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // The daemon's side of a failure (set XETFS_E2E_LOG=xetfs=trace for every read).
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(150)..].join("\n");
            eprintln!(
                "--- last lines of the daemon log of {} ---\n{tail}",
                self.root().display()
            );
        }
        let path = self.mnt.path().to_path_buf();
        if xetfs::fs::mountinfo::find(&path).ok().flatten().is_some() {
            let _ = Command::new(BIN)
                .args(["umount", &path.display().to_string()])
                .output();
            if xetfs::fs::mountinfo::find(&path).ok().flatten().is_some() {
                harness::force_unmount(&path);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.pid != 0 && alive(self.pid) {
            if Instant::now() > deadline {
                // SAFETY: signalling the daemon this fixture started.
                unsafe { libc::kill(self.pid as i32, libc::SIGKILL) };
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// `len` deterministic pseudo-random bytes (SplitMix64, as the sample repos).
pub fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    xetfs::util::splitmix::splitmix_bytes(seed, len)
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Writes `data` to `root/rel`, creating directories.
pub fn put(root: &Path, rel: &str, data: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

/// Reads a whole file through the mount, time-boxed.
pub fn read_file(path: PathBuf) -> std::io::Result<Vec<u8>> {
    let what = format!("read {}", path.display());
    io(&what, move || std::fs::read(path))
}

/// `pread` of `len` bytes at `offset` (short only at EOF), time-boxed.
pub fn pread(path: PathBuf, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let what = format!("pread {} at {offset}", path.display());
    io(&what, move || {
        let f = std::fs::File::open(path)?;
        let mut buf = vec![0u8; len];
        let mut got = 0;
        while got < len {
            let n = f.read_at(&mut buf[got..], offset + got as u64)?;
            if n == 0 {
                break;
            }
            got += n;
        }
        buf.truncate(got);
        Ok(buf)
    })
}

/// Every file below `dir`, as sorted `/`-separated relative paths (time-boxed).
pub fn list_files(dir: PathBuf) -> Vec<String> {
    fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            let rel = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            if e.file_type().unwrap().is_dir() {
                walk(&e.path(), &rel, out);
            } else {
                out.push(rel);
            }
        }
    }
    let mut out = io("list files", move || {
        let mut out = Vec::new();
        walk(&dir, "", &mut out);
        out
    });
    out.sort();
    out
}

/// The errno of a failed call; panics (without dumping the data) when it succeeded.
pub fn errno_of(r: std::io::Result<Vec<u8>>, what: &str) -> i32 {
    match r {
        Ok(data) => panic!("{what}: expected an error, read {} bytes", data.len()),
        Err(e) => e.raw_os_error().unwrap_or_else(|| panic!("{what}: {e}")),
    }
}
