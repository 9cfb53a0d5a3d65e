//! End to end: `xetfs serve` (in this process) over a generated model repo, and the `xetfs`
//! binary mounting it as a daemon. Every byte goes through the real Xet protocol, `HttpRemote`,
//! the engine and FUSE, and must equal the file in the served directory.

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Duration;

use tempfile::TempDir;
use xetfs::serve::sample::{write_model_repo, SampleRepo, SampleSpec};
use xetfs::serve::{start, RunningServer, ServeOptions};

use crate::harness::{self, io};

const BIN: &str = env!("CARGO_BIN_EXE_xetfs");

struct Served {
    root: TempDir,
    _state: TempDir,
    sample: SampleRepo,
    server: Option<RunningServer>,
    rt: tokio::runtime::Runtime,
}

impl Served {
    fn start() -> Served {
        let root = tempfile::tempdir().unwrap();
        let state = tempfile::tempdir().unwrap();
        let sample =
            write_model_repo(&root.path().join("org/model"), &SampleSpec::small(5)).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut opts = ServeOptions::new(root.path(), "127.0.0.1:0".parse().unwrap());
        opts.state_dir = Some(state.path().to_path_buf());
        let server = rt.block_on(async {
            let server = start(opts).await.unwrap();
            server.wait_ready(Duration::from_secs(120)).await.unwrap();
            server
        });
        Served {
            root,
            _state: state,
            sample,
            server: Some(server),
            rt,
        }
    }

    fn server(&self) -> &RunningServer {
        self.server.as_ref().unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            self.rt.block_on(s.shutdown());
        }
    }
}

/// Unmounts on drop, whatever happened.
struct Mnt(TempDir);

impl Drop for Mnt {
    fn drop(&mut self) {
        let _ = std::process::Command::new(BIN)
            .args(["umount", &self.0.path().display().to_string()])
            .output();
        if xetfs::fs::mountinfo::find(self.0.path())
            .ok()
            .flatten()
            .is_some()
        {
            harness::force_unmount(self.0.path());
        }
    }
}

#[test]
fn serve_and_mount_end_to_end() {
    if !harness::fuse_usable() {
        return;
    }
    harness::clean_stale_mounts();
    let served = Served::start();
    let mnt = Mnt(harness::test_dir());
    let cache = tempfile::tempdir().unwrap();
    let log = cache.path().join("xetfs.log");
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(["mount", &mnt.0.path().display().to_string()])
        .args(["--endpoint", &served.server().endpoint()])
        .args(["--cache-dir", &cache.path().join("c").display().to_string()])
        .args(["--log-file", &log.display().to_string()])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", cache.path())
        .env("RUST_LOG", "debug");
    let out = io("mount", move || cmd.output().unwrap());
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        log_text()
    );

    let repo = mnt.0.path().join("org/model");
    let mut listed: Vec<String> = Vec::new();
    collect_files(&repo, "", &mut listed);
    listed.sort();
    let want: Vec<String> = served.sample.files.iter().map(|f| f.path.clone()).collect();
    assert_eq!(listed, want);
    assert!(
        served.sample.files.iter().any(|f| f.xet),
        "the sample has Xet files"
    );

    for f in &served.sample.files {
        let (a, b) = (
            repo.join(&f.path),
            served.root.path().join("org/model").join(&f.path),
        );
        let (got, orig) = io(&f.path, move || {
            (std::fs::read(a).unwrap(), std::fs::read(b).unwrap())
        });
        assert!(
            got == orig,
            "{} differs through the mount\n{}",
            f.path,
            log_text()
        );
        assert_eq!(got.len() as u64, f.size);
    }
    // Tensors at their offsets, as a loader reads them.
    let (st, orig) = (
        repo.join(&served.sample.safetensors),
        served
            .root
            .path()
            .join("org/model")
            .join(&served.sample.safetensors),
    );
    let tensors = served.sample.tensors.clone();
    io("tensors", move || {
        let (m, o) = (
            std::fs::File::open(st).unwrap(),
            std::fs::File::open(orig).unwrap(),
        );
        for t in tensors.iter().rev() {
            let (mut a, mut b) = (vec![0u8; t.len as usize], vec![0u8; t.len as usize]);
            m.read_exact_at(&mut a, t.offset).unwrap();
            o.read_exact_at(&mut b, t.offset).unwrap();
            assert!(a == b, "tensor {}", t.name);
        }
    });
    // Everything read once is cached: reading it all again costs the CAS nothing.
    let xorb_requests = |s: &Served| s.server().metrics().endpoint("xorb_get").requests;
    let before = xorb_requests(&served);
    assert!(before > 0, "Xet files came through xorb fetches");
    for f in &served.sample.files {
        let p = repo.join(&f.path);
        io("reread", move || std::fs::read(p).unwrap());
    }
    assert_eq!(xorb_requests(&served), before);
    let stats: serde_json::Value = {
        let p = mnt.0.path().join(".xetfs-stats");
        serde_json::from_str(&io("stats", move || std::fs::read_to_string(p).unwrap())).unwrap()
    };
    assert_eq!(stats["reader"]["integrity_failures"], 0, "{stats}");
    assert_eq!(stats["fs"]["read_errors"], 0, "{stats}");
}

fn collect_files(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    let d = dir.to_path_buf();
    let entries: Vec<(String, bool)> = io("list", move || {
        std::fs::read_dir(d)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().into_string().unwrap(),
                    e.file_type().unwrap().is_dir(),
                )
            })
            .collect()
    });
    for (name, is_dir) in entries {
        let rel = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        if is_dir {
            collect_files(&dir.join(&name), &rel, out);
        } else {
            out.push(rel);
        }
    }
}
