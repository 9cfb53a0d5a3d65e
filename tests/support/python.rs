//! The Python the client tests run: `$XETFS_TEST_PYTHON`, or the checkout's `.venv` as
//! tests/run.sh creates it from tests/python/requirements.txt. Missing: the test fails (it
//! never skips).
//!
//! Use from an integration test crate: `#[path = "support/python.rs"] mod python_support;`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// A Python that can import every module in `modules` (comma-separated, as in `import a, b`).
pub fn python(modules: &str) -> PathBuf {
    let candidate = std::env::var_os("XETFS_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"));
    let ok = std::process::Command::new(&candidate)
        .args(["-c", &format!("import {modules}")])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "no Python with {modules} at {} — run tests/run.sh (it creates .venv from \
         tests/python/requirements.txt) or set XETFS_TEST_PYTHON",
        candidate.display()
    );
    candidate
}

/// tests/python: the client scripts.
pub fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python")
}
