//! Transformers.js (npm `@huggingface/transformers`, pinned in tests/node/package.json) in Node
//! against `xetfs serve`: `pipeline('feature-extraction', repo)` on a generated model repo
//! (tests/python/make_tjs_repo.py) gives the numbers computed in Python, its progress reaches
//! every file's size, its cached files are the repo's bytes, and a private repo needs the token.
//!
//! Needs node with tests/node/node_modules (`ONNXRUNTIME_NODE_INSTALL=skip npm ci` there; done
//! by tests/run.sh) and a Python with `tokenizers`, `onnx` and numpy (the venv). Without them
//! these tests fail (they never skip).

#[path = "support/python.rs"]
mod python_support;
#[path = "support/serve.rs"]
mod serve_support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use serve_support::Serve;
use sha2::{Digest, Sha256};

const REPO: &str = "org/tiny-embed";
const TOKEN: &str = "hf_tjs_reader";
/// Node loads an 11 MiB model in seconds; the deadline only guards against a hang.
const NODE_DEADLINE: Duration = Duration::from_secs(300);

/// Generates the model repo under `root`; returns what the sentence must produce.
fn make_repo(root: &Path) -> Value {
    let out = root.join(REPO);
    let status = std::process::Command::new(python_support::python("numpy, tokenizers, onnx"))
        .arg(python_support::scripts_dir().join("make_tjs_repo.py"))
        .arg(&out)
        .current_dir(python_support::scripts_dir())
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "make_tjs_repo.py failed");
    // The expectations sit next to the repo, outside what is served.
    let expected = root.join("org/tiny-embed.expected.json");
    let value = serde_json::from_slice(&std::fs::read(&expected).unwrap()).unwrap();
    std::fs::remove_file(expected).unwrap();
    value
}

fn node_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node");
    assert!(
        dir.join("node_modules/@huggingface/transformers").is_dir(),
        "Transformers.js is not installed: run tests/run.sh, or `ONNXRUNTIME_NODE_INSTALL=skip \
         npm ci` in {}",
        dir.display()
    );
    dir
}

/// Runs tests/node/pipeline.mjs; its JSON on success, its stderr on failure.
async fn run_pipeline(host: &str, cache: &Path, token: Option<&str>) -> Result<Value, String> {
    let dir = node_dir();
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(dir.join("pipeline.mjs"))
        .args(["--host", host, "--repo", REPO, "--cache-dir"])
        .arg(cache)
        .current_dir(&dir)
        .env_remove("HF_TOKEN")
        .env_remove("HF_ACCESS_TOKEN")
        .kill_on_drop(true);
    if let Some(t) = token {
        cmd.args(["--token", t]);
    }
    let out = tokio::time::timeout(NODE_DEADLINE, cmd.output())
        .await
        .expect("node pipeline timed out")
        .expect("cannot run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        return Err(stderr);
    }
    let line = stdout.lines().last().unwrap_or_default();
    Ok(serde_json::from_str(line).unwrap_or_else(|e| panic!("no JSON ({e}): {stdout}\n{stderr}")))
}

fn assert_numbers(got: &Value, expected: &Value) {
    assert_eq!(
        got["input_ids"], expected["input_ids"],
        "tokenization differs"
    );
    let got: Vec<f64> = serde_json::from_value(got["embedding"].clone()).unwrap();
    let want: Vec<f64> = serde_json::from_value(expected["embedding"].clone()).unwrap();
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        // Both sides average float32 rows; only the summation order differs.
        assert!(
            (g - w).abs() <= 1e-5 * w.abs().max(1.0),
            "dim {i}: {g} vs {w}"
        );
    }
}

/// Every file's progress reached its full size.
fn assert_progress(got: &Value, expected: &Value) {
    let mut reached: HashMap<&str, (u64, u64)> = HashMap::new();
    for e in got["progress"].as_array().unwrap() {
        if let (Some(file), Some(loaded), Some(total)) = (
            e["file"].as_str(),
            e["loaded"].as_u64(),
            e["total"].as_u64(),
        ) {
            let r = reached.entry(file).or_default();
            *r = (r.0.max(loaded), total);
        }
    }
    for (file, meta) in expected["files"].as_object().unwrap() {
        let size = meta["size"].as_u64().unwrap();
        assert_eq!(reached.get(file.as_str()), Some(&(size, size)), "{file}");
    }
}

/// The files Transformers.js cached are the repo's bytes.
fn assert_cached(got: &Value, expected: &Value) {
    for (file, meta) in expected["files"].as_object().unwrap() {
        let path = got["cached"][file].as_str().unwrap();
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(
            hex::encode(Sha256::digest(&bytes)),
            meta["sha256"],
            "{file}"
        );
    }
}

#[tokio::test]
async fn feature_extraction_through_serve() {
    let root = tempfile::tempdir().unwrap();
    let expected = make_repo(root.path());
    let serve = Serve::start(root.path(), None).await;
    let cache = tempfile::tempdir().unwrap();
    let got = run_pipeline(&serve.endpoint, cache.path(), None)
        .await
        .unwrap_or_else(|e| panic!("{e}\nserver log:\n{}", serve.log_tail(40)));
    assert_numbers(&got, &expected);
    assert_progress(&got, &expected);
    assert_cached(&got, &expected);
    let failed: Vec<&Value> = got["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"].as_u64().unwrap() >= 400)
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
}

#[tokio::test]
async fn private_repo_needs_the_token() {
    let root = tempfile::tempdir().unwrap();
    let expected = make_repo(root.path());
    let config = json!({"auth": {"tokens": {TOKEN: {"user": "alice"}},
                                 "repos": {REPO: {"private": true, "readers": ["alice"]}}}});
    let serve = Serve::start(root.path(), Some(&config)).await;

    let refused = tempfile::tempdir().unwrap();
    let err = run_pipeline(&serve.endpoint, refused.path(), None)
        .await
        .expect_err("a private repo loaded without a token");
    assert!(err.contains("401") || err.contains("Unauthorized"), "{err}");
    assert!(!refused.path().join(REPO).join("onnx/model.onnx").exists());

    let cache = tempfile::tempdir().unwrap();
    let got = run_pipeline(&serve.endpoint, cache.path(), Some(TOKEN))
        .await
        .unwrap_or_else(|e| panic!("{e}\nserver log:\n{}", serve.log_tail(40)));
    assert_numbers(&got, &expected);
    assert_cached(&got, &expected);
}
