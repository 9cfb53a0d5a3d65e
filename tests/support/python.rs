//! The Python the client tests run: `$XETFS_TEST_PYTHON`, or the checkout's `.venv` as
//! tests/run.sh creates it from tests/python/requirements.txt. Missing: the test fails (it
//! never skips).
//!
//! Use from an integration test crate: `#[path = "support/python.rs"] mod python_support;`.
#![allow(dead_code)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A Python that can import every module in `modules` (comma-separated, as in `import a, b`).
/// Checked once per process and module list (importing transformers takes seconds).
pub fn python(modules: &str) -> PathBuf {
    static CHECKED: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let candidate = std::env::var_os("XETFS_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"));
    let mut checked = CHECKED.lock().unwrap_or_else(|e| e.into_inner());
    if checked.get_or_insert_with(HashSet::new).contains(modules) {
        return candidate;
    }
    let ok = std::process::Command::new(&candidate)
        .args(["-c", &format!("import {modules}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "no Python with {modules} at {} — run tests/run.sh (it creates .venv from \
         tests/python/requirements.txt) or set XETFS_TEST_PYTHON",
        candidate.display()
    );
    checked.as_mut().unwrap().insert(modules.to_string());
    candidate
}

/// tests/python: the client scripts.
pub fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python")
}
