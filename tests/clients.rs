//! The official PyPI clients (`huggingface_hub`, `hf_xet`; pinned in tests/python/requirements.txt)
//! against the `xetfs serve` binary: downloads through Xet (v2, v1, multi-range), snapshot and
//! plain-HTTP downloads, uploads through Xet read back from a fresh cache, a private repo.
//!
//! Needs a Python with the clients: `$XETFS_TEST_PYTHON`, or `.venv/bin/python` as created by
//! `tests/run.sh`. Without one these tests fail (they never skip).

#[path = "support/python.rs"]
mod python_support;
#[path = "support/serve.rs"]
mod serve_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use serve_support::Serve;
use tempfile::TempDir;
use tokio::process::Command;
use tokio::sync::Mutex;
use xetfs::serve::sample::{write_model_repo, SampleRepo, SampleSpec};
use xetfs::serve::MetricsSnapshot;

/// The clients are heavy on 2 cores: one test at a time, even under `cargo test`.
static SERIAL: Mutex<()> = Mutex::const_new(());

const REPO: &str = "org/model";

fn python() -> PathBuf {
    python_support::python("huggingface_hub, hf_xet")
}

/// `xetfs serve` (tests/support/serve.rs) on a temp ROOT that lives as long as it.
struct Server {
    serve: Serve,
    _root: TempDir,
}

impl std::ops::Deref for Server {
    type Target = Serve;
    fn deref(&self) -> &Serve {
        &self.serve
    }
}

impl Server {
    async fn start(root: TempDir, config: Option<Value>) -> Server {
        let serve = Serve::start(root.path(), config.as_ref()).await;
        Server { serve, _root: root }
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
            self.log_tail(40)
        );
        serde_json::from_str(stdout.lines().last().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{script}: no JSON result ({e}): {stdout}"))
    }
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
