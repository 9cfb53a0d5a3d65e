//! The `xetfs serve` binary as a test upstream: started on a ROOT with a fresh state directory,
//! on a free loopback port, returned once it printed `xetfs serve: ready` (every repo ingested:
//! no 503 RepoNotReady afterwards), killed on drop.
//!
//! Use from an integration test crate: `#[path = "support/serve.rs"] mod serve_support;`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Ingest of the test repos takes seconds; a loaded 2-core machine needs more.
const READY_DEADLINE: Duration = Duration::from_secs(600);

pub struct Serve {
    child: Child,
    /// `http://127.0.0.1:PORT`: what `HF_ENDPOINT` or Transformers.js's `remoteHost` get.
    pub endpoint: String,
    /// State, config and log live here.
    pub state: TempDir,
    pub log: PathBuf,
}

impl Serve {
    /// Serves `root`; `config` is written to a `--config` file when given.
    pub async fn start(root: &Path, config: Option<&serde_json::Value>) -> Serve {
        let state = tempfile::tempdir().unwrap();
        let log = state.path().join("serve.log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xetfs"));
        cmd.arg("serve")
            .arg(root)
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
        let stdout = child.stdout.take().unwrap();
        let endpoint = match tokio::time::timeout(READY_DEADLINE, wait_ready(stdout)).await {
            Ok(Some(endpoint)) => endpoint,
            _ => panic!("xetfs serve not ready; log:\n{}", tail(&log, 40)),
        };
        Serve {
            child,
            endpoint,
            state,
            log,
        }
    }

    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log, lines)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Reads stdout up to the ready line; returns the endpoint it announced. Keeps draining
/// stdout afterwards so the server never blocks on a full pipe.
async fn wait_ready(stdout: tokio::process::ChildStdout) -> Option<String> {
    let mut lines = BufReader::new(stdout).lines();
    let mut endpoint = None;
    while let Some(line) = lines.next_line().await.ok()? {
        if let Some(url) = line.strip_prefix("xetfs serve: listening on ") {
            endpoint = Some(url.to_string());
        }
        if line == "xetfs serve: ready" {
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return endpoint;
        }
    }
    None
}

pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
