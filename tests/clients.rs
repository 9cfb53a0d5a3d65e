//! The official PyPI clients (`huggingface_hub`, `hf_xet`; pinned in tests/python/requirements.txt)
//! against the `xetfs serve` binary: downloads through Xet (v2, v1, multi-range), snapshot and
//! plain-HTTP downloads, uploads through Xet read back from a fresh cache, a private repo.
//!
//! Needs a Python with the clients: `$XETFS_TEST_PYTHON`, or `.venv/bin/python` as created by
//! `tests/run.sh`. Without one these tests fail (they never skip).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Mutex;
use xetfs::serve::sample::{write_model_repo, SampleRepo, SampleSpec};
use xetfs::serve::MetricsSnapshot;

/// The clients are heavy on 2 cores: one test at a time, even under `cargo test`.
static SERIAL: Mutex<()> = Mutex::const_new(());

const REPO: &str = "org/model";

fn python() -> PathBuf {
    let candidate = std::env::var_os("XETFS_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"));
    let ok = std::process::Command::new(&candidate)
        .args(["-c", "import huggingface_hub, hf_xet"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "no Python with huggingface_hub and hf_xet at {} — run tests/run.sh (it creates .venv \
         from tests/python/requirements.txt) or set XETFS_TEST_PYTHON",
        candidate.display()
    );
    candidate
}

/// The `xetfs serve` binary on a temp ROOT, killed on drop.
struct Server {
    child: Child,
    endpoint: String,
    _root: TempDir,
    state: TempDir,
    log: PathBuf,
}

impl Server {
    async fn start(root: TempDir, config: Option<Value>) -> Server {
        let state = tempfile::tempdir().unwrap();
        let log = state.path().join("serve.log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xetfs"));
        cmd.arg("serve")
            .arg(root.path())
            .args(["--listen", "127.0.0.1:0", "--state"])
            .arg(state.path().join("state"));
        if let Some(c) = config {
            let path = state.path().join("config.json");
            std::fs::write(&path, c.to_string()).unwrap();
            cmd.arg("--config").arg(path);
        }
        let mut child = cmd
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut endpoint = None;
        let wait = async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(url) = line.strip_prefix("xetfs serve: listening on ") {
                    endpoint = Some(url.to_string());
                }
                if line == "xetfs serve: ready" {
                    return;
                }
            }
        };
        if tokio::time::timeout(Duration::from_secs(600), wait)
            .await
            .is_err()
        {
            panic!(
                "server not ready; log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Server {
            child,
            endpoint: endpoint.expect("the listening line comes first"),
            _root: root,
            state,
            log,
        }
    }

    async fn metrics(&self) -> MetricsSnapshot {
        reqwest::get(format!("{}/metrics", self.endpoint))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Runs a client script with a fresh HF_HOME; returns its JSON result line.
    async fn python(&self, script: &str, args: &[&str], env: &[(&str, &str)]) -> Value {
        let home = tempfile::tempdir().unwrap();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python");
        let mut cmd = Command::new(python());
        cmd.arg(dir.join(script))
            .args(args)
            .current_dir(&dir)
            .env_remove("HF_TOKEN")
            .env("HF_ENDPOINT", &self.endpoint)
            .env("HF_HOME", home.path())
            .env("HF_HUB_DISABLE_TELEMETRY", "1")
            .env("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            // Deliberate failures should fail fast, not retry for minutes.
            .env("HF_XET_CLIENT_RETRY_MAX_ATTEMPTS", "3")
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = tokio::time::timeout(Duration::from_secs(900), cmd.output())
            .await
            .expect("client script timed out")
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{script} {args:?} {env:?} failed\nstdout:\n{stdout}\nstderr:\n{}\nserver log (tail):\n{}",
            String::from_utf8_lossy(&out.stderr),
            tail(&self.log)
        );
        serde_json::from_str(stdout.lines().last().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{script}: no JSON result ({e}): {stdout}"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// A ROOT with the sample model as `org/model`.
fn sample_root(spec: &SampleSpec) -> (TempDir, SampleRepo) {
    let root = tempfile::tempdir().unwrap();
    let sample = write_model_repo(&root.path().join(REPO), spec).unwrap();
    (root, sample)
}

fn manifest(dir: &Path, repo: &str, sample: &SampleRepo) -> PathBuf {
    let files: Vec<Value> = sample
        .files
        .iter()
        .map(|f| json!({"path": f.path, "sha256": f.sha256, "size": f.size, "xet": f.xet}))
        .collect();
    let tensors: Vec<Value> = sample
        .tensors
        .iter()
        .map(|t| json!({"name": t.name, "dtype": t.dtype, "shape": t.shape}))
        .collect();
    let m = json!({"repo": repo, "files": files, "safetensors": sample.safetensors, "tensors": tensors});
    let path = dir.join(format!("manifest-{}.json", repo.replace('/', "_")));
    std::fs::write(&path, m.to_string()).unwrap();
    path
}

fn delta(after: &MetricsSnapshot, before: &MetricsSnapshot, class: &str) -> (u64, u64) {
    let (a, b) = (after.endpoint(class), before.endpoint(class));
    (a.requests - b.requests, a.bytes_sent - b.bytes_sent)
}

#[tokio::test]
async fn xet_downloads_with_v2_v1_and_multirange() {
    let _serial = SERIAL.lock().await;
    let (root, sample) = sample_root(&SampleSpec::with_big_file(11));
    assert!(
        sample.files.iter().any(|f| f.size > 64 << 20),
        "a multi-xorb file"
    );
    let server = Server::start(root, None).await;
    let manifest = manifest(server.state.path(), REPO, &sample);
    let m = manifest.to_str().unwrap();
    let xet_files = sample.files.iter().filter(|f| f.xet).count() as u64;
    let xet_bytes: u64 = sample.files.iter().filter(|f| f.xet).map(|f| f.size).sum();

    // Default: reconstruction v2, single-range xorb GETs.
    let before = server.metrics().await;
    let r = server.python("download.py", &[m, "--check-xet"], &[]).await;
    let after = server.metrics().await;
    assert_eq!(r["files"], sample.files.len());
    assert_eq!(r["xet_checked"], xet_files);
    assert_eq!(r["tensors"], sample.tensors.len());
    let (v2_calls, _) = delta(&after, &before, "reconstruction_v2");
    let (xorb_gets, xorb_bytes) = delta(&after, &before, "xorb_get");
    assert!(
        v2_calls >= xet_files,
        "{v2_calls} v2 reconstructions for {xet_files} Xet files"
    );
    assert_eq!(delta(&after, &before, "reconstruction_v1").0, 0);
    assert!(xorb_gets > 0);
    // Deduplicated data is fetched once per file at most, never more than the files hold.
    assert!(
        xorb_bytes <= xet_bytes + (1 << 20),
        "{xorb_bytes} xorb bytes for {xet_bytes} file bytes"
    );
    assert_eq!(
        delta(&after, &before, "bridge").0,
        0,
        "no plain-bytes fallback"
    );
    assert_eq!(after.counter("xorb_get_multipart"), 0);
    assert_eq!(after.endpoint("xorb_get").status_count(403), 0);

    // Forced v1.
    let before = after;
    server
        .python(
            "download.py",
            &[m],
            &[("HF_XET_CLIENT_RECONSTRUCTION_API_VERSION", "1")],
        )
        .await;
    let after = server.metrics().await;
    assert!(delta(&after, &before, "reconstruction_v1").0 >= xet_files);
    assert_eq!(
        delta(&after, &before, "reconstruction_v2").0,
        0,
        "v1 forced: no v2 calls"
    );
    assert!(delta(&after, &before, "xorb_get").0 > 0);

    // Multi-range xorb GETs (multipart/byteranges answers).
    let before = after;
    server
        .python(
            "download.py",
            &[m],
            &[("HF_XET_CLIENT_ENABLE_MULTIRANGE_FETCHING", "true")],
        )
        .await;
    let after = server.metrics().await;
    assert!(delta(&after, &before, "reconstruction_v2").0 >= xet_files);
    assert!(
        after.counter("xorb_get_multipart") >= 1,
        "dedup/gapped.bin has a multi-range entry"
    );
    assert_eq!(after.endpoint("xorb_get").status_count(416), 0);
}

#[tokio::test]
async fn snapshot_and_plain_http_downloads() {
    let _serial = SERIAL.lock().await;
    let (root, sample) = sample_root(&SampleSpec::small(12));
    let server = Server::start(root, None).await;
    let manifest = manifest(server.state.path(), REPO, &sample);
    let m = manifest.to_str().unwrap();

    let before = server.metrics().await;
    let r = server.python("download.py", &[m, "--snapshot"], &[]).await;
    let after = server.metrics().await;
    assert_eq!(r["files"], sample.files.len());
    assert!(delta(&after, &before, "tree").0 >= 1);
    assert!(delta(&after, &before, "reconstruction_v2").0 >= 1);

    // HF_HUB_DISABLE_XET=1: the same bytes over plain HTTP through the bridge.
    let before = after;
    server
        .python("download.py", &[m], &[("HF_HUB_DISABLE_XET", "1")])
        .await;
    let after = server.metrics().await;
    let xet_files = sample.files.iter().filter(|f| f.xet).count() as u64;
    let (bridge_gets, bridge_bytes) = delta(&after, &before, "bridge");
    assert_eq!(bridge_gets, xet_files);
    let xet_bytes: u64 = sample.files.iter().filter(|f| f.xet).map(|f| f.size).sum();
    assert_eq!(bridge_bytes, xet_bytes);
    assert_eq!(delta(&after, &before, "reconstruction_v2").0, 0);
    assert_eq!(delta(&after, &before, "xorb_get").0, 0);
}

#[tokio::test]
async fn uploads_through_xet_read_back_from_a_fresh_cache() {
    let _serial = SERIAL.lock().await;
    let (root, _) = sample_root(&SampleSpec::small(13));
    let server = Server::start(root, None).await;
    // The files to push: a safetensors file, a random file, and a folder with a bit of everything.
    let src = tempfile::tempdir().unwrap();
    let pushed = write_model_repo(&src.path().join("folder"), &SampleSpec::small(14)).unwrap();
    let big = xetfs::util::splitmix::splitmix_bytes(15, 5_000_000);
    std::fs::write(src.path().join("random.bin"), &big).unwrap();
    let weights = xetfs::serve::sample::write_safetensors(
        &src.path().join("model.safetensors"),
        16,
        3,
        50_000,
    )
    .unwrap();

    let repo = "team/pushed";
    let r = server
        .python(
            "upload.py",
            &[
                repo,
                src.path().to_str().unwrap(),
                "random.bin",
                "model.safetensors",
            ],
            &[],
        )
        .await;
    assert_eq!(r["commits"].as_array().unwrap().len(), 3);
    assert_eq!(r["pr_revision"], "refs/pr/1");
    let m = server.metrics().await;
    // The server checked everything it stored.
    assert!(m.counter("xorbs_accepted") >= 2, "{m:?}");
    assert_eq!(m.counter("xorbs_rejected"), 0);
    assert_eq!(
        m.counter("xorbs_accepted"),
        m.endpoint("xorb_post").status_count(200)
    );
    assert_eq!(
        m.counter("shards_accepted"),
        m.endpoint("shard_post").status_count(200)
    );
    assert!(
        m.counter("shards_accepted") >= 4,
        "one shard per Xet commit"
    );
    assert_eq!(m.counter("shards_rejected"), 0);
    let lfs_files = 2 + pushed.files.iter().filter(|f| f.xet).count() as u64;
    assert!(m.counter("shard_files_verified") >= lfs_files);
    assert_eq!(m.counter("commits"), 4);

    // Read everything back from a fresh HF_HOME (python() always uses a new one).
    let mut expect: Vec<Value> = vec![
        json!({"path": "random.bin", "sha256": sha256_hex(&big), "size": big.len(), "xet": true}),
        json!({"path": "model.safetensors", "sha256": sha256_hex(&std::fs::read(src.path().join("model.safetensors")).unwrap()),
               "size": std::fs::metadata(src.path().join("model.safetensors")).unwrap().len(), "xet": true}),
    ];
    for f in &pushed.files {
        // Uploads route binary-looking regular files to Xet too; compare bytes, not the route.
        expect.push(json!({"path": format!("folder/{}", f.path), "sha256": f.sha256, "size": f.size, "xet": f.xet}));
    }
    let tensors: Vec<Value> = weights
        .iter()
        .map(|t| json!({"name": t.name, "dtype": t.dtype, "shape": t.shape}))
        .collect();
    let manifest = server.state.path().join("pushed.json");
    std::fs::write(
        &manifest,
        json!({"repo": repo, "files": expect, "safetensors": "model.safetensors", "tensors": tensors}).to_string(),
    )
    .unwrap();
    let before = server.metrics().await;
    let r = server
        .python(
            "download.py",
            &[manifest.to_str().unwrap(), "--snapshot"],
            &[],
        )
        .await;
    assert_eq!(r["files"], expect.len());
    let after = server.metrics().await;
    assert!(
        delta(&after, &before, "xorb_get").0 > 0,
        "read back through Xet"
    );
}

#[tokio::test]
async fn private_repo_needs_the_right_token() {
    let _serial = SERIAL.lock().await;
    let (root, sample) = sample_root(&SampleSpec::small(17));
    let config = json!({"auth": {"tokens": {"hf_secret_token": {"user": "alice"}},
                                 "repos": {"org/model": {"private": true, "readers": ["alice"]}}}});
    let server = Server::start(root, Some(config)).await;
    let f = sample.file("model.safetensors").unwrap();
    let r = server
        .python(
            "private.py",
            &[REPO, &f.path, &f.sha256, "hf_secret_token"],
            &[],
        )
        .await;
    assert_eq!(r["no_token"]["status"], 401, "{r}");
    assert_eq!(r["no_token"]["error"], "RepositoryNotFoundError", "{r}");
    assert_eq!(r["wrong_token"]["status"], 401, "{r}");
    assert_eq!(r["ok"], true);
    let m = server.metrics().await;
    assert!(m.endpoint("resolve").status_count(401) >= 2);
    assert!(m.endpoint("xorb_get").status_count(206) >= 1);
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}
