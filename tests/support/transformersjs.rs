//! Transformers.js in Node as a test client of any Hub-compatible server (`xetfs serve`, later
//! `xetfs proxy`): the generated model repo (tests/python/make_tjs_repo.py), the run of
//! tests/node/pipeline.mjs, and the checks of its answer.
//!
//! Use from an integration test crate: `#[path = "support/transformersjs.rs"] mod tjs;`, then
//! ```ignore
//! let expected = tjs::make_repo(root.path());             // ROOT/org/tiny-embed
//! let got = tjs::run_pipeline(&endpoint, cache.path(), Some(token)).await.unwrap();
//! tjs::assert_numbers(&got, &expected);
//! tjs::assert_progress(&got, &expected);
//! tjs::assert_cached(&got, &expected);
//! ```
#![allow(dead_code)]

/// Also for the including crate (a second `#[path]` include of python.rs would duplicate it).
#[path = "python.rs"]
pub mod python_support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The generated repo's id (under the served ROOT).
pub const REPO: &str = "org/tiny-embed";
/// Node loads the 11 MiB model in seconds; the deadline only guards against a hang.
const NODE_DEADLINE: Duration = Duration::from_secs(300);

/// Generates the model repo at `root/org/tiny-embed`; returns what the sentence must produce:
/// `{"sentence", "input_ids", "embedding", "files": {path: {"size", "sha256"}}}`.
pub fn make_repo(root: &Path) -> Value {
    let scripts = python_support::scripts_dir();
    let out = std::process::Command::new(python_support::python("numpy, tokenizers, onnx"))
        .arg(scripts.join("make_tjs_repo.py"))
        .arg(root.join(REPO))
        .current_dir(&scripts)
        .output()
        .unwrap();
    assert!(out.status.success(), "make_tjs_repo.py failed: {out:?}");
    // The expectations are written next to the repo; keep them out of what is served.
    let expected = root.join(format!("{REPO}.expected.json"));
    let value = serde_json::from_slice(&std::fs::read(&expected).unwrap()).unwrap();
    std::fs::remove_file(expected).unwrap();
    value
}

/// tests/node, with Transformers.js installed (by tests/run.sh); panics otherwise.
pub fn node_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node");
    assert!(
        dir.join("node_modules/@huggingface/transformers").is_dir(),
        "Transformers.js is not installed: run tests/run.sh, or `ONNXRUNTIME_NODE_INSTALL=skip \
         npm ci` in {}",
        dir.display()
    );
    dir
}

/// Runs tests/node/pipeline.mjs against `host` with an empty Node cache `cache`; its JSON
/// answer on success, its stderr on failure.
pub async fn run_pipeline(host: &str, cache: &Path, token: Option<&str>) -> Result<Value, String> {
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

/// Same tokens, and the embedding within float32 rounding of Python's.
pub fn assert_numbers(got: &Value, expected: &Value) {
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
pub fn assert_progress(got: &Value, expected: &Value) {
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
pub fn assert_cached(got: &Value, expected: &Value) {
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

/// No request answered with an error status.
pub fn assert_no_failed_request(got: &Value) {
    let failed: Vec<&Value> = got["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"].as_u64().unwrap() >= 400)
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
}
