//! tests/python/check_hf_cache.py, the judge of `xetfs download`'s huggingface_hub cache
//! layout, judged itself: it accepts what the real `snapshot_download` and `hf download
//! --local-dir` (huggingface_hub + hf_xet from the venv) wrote from `xetfs serve`, and rejects each
//! kind of damage a downloader could leave behind.

#[path = "support/serve.rs"]
mod serve_support;
#[path = "support/transformersjs.rs"]
mod tjs;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use serve_support::Serve;
use sha2::{Digest, Sha256};

use tjs::{python_support, REPO};
const CACHE_REPO: &str = "models--org--tiny-embed";
const ONNX: &str = "onnx/model.onnx";

struct Fixture {
    /// `$HF_HOME`, filled by snapshot_download.
    home: tempfile::TempDir,
    /// Filled by `hf download --local-dir`.
    local: tempfile::TempDir,
    /// `PATH=SHA256:lfs|git` for every repo file.
    specs: Vec<String>,
}

fn python() -> PathBuf {
    python_support::python("huggingface_hub, hf_xet, transformers")
}

/// The generated Transformers.js repo, downloaded both ways by the official client.
async fn fixture() -> Fixture {
    let root = tempfile::tempdir().unwrap();
    let expected = tjs::make_repo(root.path());
    let specs = expected["files"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(path, meta)| {
            let kind = if path == ONNX { "lfs" } else { "git" };
            format!("{path}={}:{kind}", meta["sha256"].as_str().unwrap())
        })
        .collect();
    let serve = Serve::start(root.path(), None).await;
    let home = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    let snapshot =
        format!("from huggingface_hub import snapshot_download; snapshot_download({REPO:?})");
    client(&serve, home.path(), python(), &["-c", &snapshot]);
    let hf = python().with_file_name("hf");
    let local_dir = local.path().to_str().unwrap();
    client(
        &serve,
        home.path(),
        hf,
        &["download", REPO, "--local-dir", local_dir],
    );
    Fixture { home, local, specs }
}

fn client(serve: &Serve, home: &Path, program: PathBuf, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .env("HF_ENDPOINT", &serve.endpoint)
        .env("HF_HOME", home)
        .env_remove("HF_TOKEN")
        .env_remove("HF_HUB_OFFLINE")
        .env("HF_HUB_DISABLE_TELEMETRY", "1")
        .env("HF_XET_TELEMETRY_ENABLED", "false")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {out:?}\n{}",
        serve.log_tail(30)
    );
}

/// Runs the checker; `Ok(json)` when it accepts, `Err(stderr)` when it rejects.
fn check(dir: &Path, revision: &str, specs: &[String], extra: &[&str]) -> Result<Value, String> {
    let out = Command::new(python())
        .arg(python_support::scripts_dir().join("check_hf_cache.py"))
        .args(extra)
        .arg(dir)
        .args([REPO, "model", revision])
        .args(specs)
        .current_dir(python_support::scripts_dir())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        return Err(stderr);
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    Ok(serde_json::from_str(stdout.lines().last().unwrap()).unwrap())
}

/// A copy of `src` (symlinks kept as symlinks) to damage.
fn copy(src: &Path) -> tempfile::TempDir {
    let dst = tempfile::tempdir().unwrap();
    let status = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", src.display()))
        .arg(dst.path())
        .status()
        .unwrap();
    assert!(status.success());
    dst
}

fn snapshot_dir(hub: &Path) -> PathBuf {
    let commit = std::fs::read_to_string(hub.join(CACHE_REPO).join("refs/main")).unwrap();
    hub.join(CACHE_REPO).join("snapshots").join(commit)
}

fn blob_of(hub: &Path, file: &str) -> PathBuf {
    let link = snapshot_dir(hub).join(file);
    let blob = link
        .parent()
        .unwrap()
        .join(std::fs::read_link(&link).unwrap());
    std::fs::canonicalize(blob).unwrap()
}

/// Damages a copy of the cache with `damage`; the checker must reject it saying `why`.
fn rejects(f: &Fixture, what: &str, why: &str, damage: impl FnOnce(&Path)) {
    let copy = copy(f.home.path());
    let hub = copy.path().join("hub");
    damage(&hub);
    match check(&hub, "main", &f.specs, &[]) {
        Ok(v) => panic!("{what}: accepted: {v}"),
        Err(e) => assert!(e.contains(why), "{what}: rejected for another reason:\n{e}"),
    }
}

#[tokio::test]
async fn checker_accepts_the_official_layouts() {
    let f = fixture().await;
    let hub = f.home.path().join("hub");
    let by_name = check(&hub, "main", &f.specs, &["--transformers"]).unwrap();
    assert_eq!(by_name["tree_cache"], "present");
    assert_eq!(by_name["transformers"]["config"], "bert");
    assert_eq!(by_name["files"][ONNX]["etag"], "lfs");
    assert_eq!(by_name["files"]["config.json"]["etag"], "git");
    let commit = by_name["commit"].as_str().unwrap();
    check(&hub, commit, &f.specs, &[]).unwrap();
    let local = check(f.local.path(), "main", &f.specs, &["--local-dir"]).unwrap();
    assert_eq!(local["commit"], commit);
}

#[tokio::test]
async fn checker_rejects_damaged_caches() {
    let f = fixture().await;
    rejects(&f, "newline in refs/main", "exactly 40 hex", |hub| {
        let refs = hub.join(CACHE_REPO).join("refs/main");
        let commit = std::fs::read_to_string(&refs).unwrap();
        std::fs::write(refs, format!("{commit}\n")).unwrap();
    });
    rejects(&f, "absolute snapshot link", "relative links", |hub| {
        let link = snapshot_dir(hub).join("config.json");
        let blob = blob_of(hub, "config.json");
        std::fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink(blob, link).unwrap();
    });
    rejects(&f, "snapshot file copied", "not a symlink", |hub| {
        let link = snapshot_dir(hub).join("tokenizer.json");
        let bytes = std::fs::read(&link).unwrap();
        std::fs::remove_file(&link).unwrap();
        std::fs::write(link, bytes).unwrap();
    });
    rejects(&f, "one flipped byte", "does not match", |hub| {
        let blob = blob_of(hub, "tokenizer_config.json");
        let mut bytes = std::fs::read(&blob).unwrap();
        bytes[3] ^= 1;
        std::fs::write(blob, bytes).unwrap();
    });
    rejects(&f, "missing blob", "broken link", |hub| {
        std::fs::remove_file(blob_of(hub, "config.json")).unwrap();
    });
    rejects(&f, "leftover partial blob", "not a finished blob", |hub| {
        let blobs = hub.join(CACHE_REPO).join("blobs");
        std::fs::write(blobs.join(format!("{}.incomplete", "a".repeat(64))), b"x").unwrap();
    });
    rejects(&f, "private blob mode", "mode 600", |hub| {
        let blob = blob_of(hub, "config.json");
        std::fs::set_permissions(blob, std::fs::Permissions::from_mode(0o600)).unwrap();
    });
    rejects(&f, "ref to a missing snapshot", "no snapshots/", |hub| {
        std::fs::write(hub.join(CACHE_REPO).join("refs/main"), "0".repeat(40)).unwrap();
    });
    rejects(
        &f,
        "plain file blob named by sha256",
        "git blob id",
        |hub| {
            let blob = blob_of(hub, "config.json");
            let sha = hex::encode(Sha256::digest(std::fs::read(&blob).unwrap()));
            let renamed = blob.with_file_name(sha);
            std::fs::rename(&blob, &renamed).unwrap();
            let link = snapshot_dir(hub).join("config.json");
            std::fs::remove_file(&link).unwrap();
            std::os::unix::fs::symlink(
                format!(
                    "../../blobs/{}",
                    renamed.file_name().unwrap().to_str().unwrap()
                ),
                link,
            )
            .unwrap();
        },
    );
    let stale = copy(f.local.path());
    let meta = stale
        .path()
        .join(".cache/huggingface/download/config.json.metadata");
    let text = std::fs::read_to_string(&meta).unwrap();
    let old: Vec<&str> = text.lines().collect();
    std::fs::write(&meta, format!("{}\n{}\n1000.0\n", old[0], old[1])).unwrap();
    let err = check(stale.path(), "main", &f.specs, &["--local-dir"]).unwrap_err();
    assert!(err.contains("timestamp older"), "{err}");
}
