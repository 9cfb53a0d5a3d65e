//! The ROOT directory layout: which repos and revisions it holds, and the files of each.
//!
//! `ROOT/<org>/<name>/` is model `org/name` at branch `main`; `ROOT/datasets/<org>/<name>/` and
//! `ROOT/spaces/<org>/<name>/` are datasets and spaces. `<name>@<rev>/` next to it holds another
//! revision (a branch named `<rev>`, percent-decoded, so `name@refs%2Fpr%2F1` is `refs/pr/1`).
//! Hidden entries at the org/name level and `.git` directories are ignored. Symlinks are followed
//! only while they stay inside ROOT.

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::hub::{RepoId, RepoType};

/// One repo found under ROOT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoSource {
    pub id: RepoId,
    /// Revision name → directory, sorted by name.
    pub revisions: BTreeMap<String, PathBuf>,
}

/// One file of a revision directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Repo-relative, `/`-separated.
    pub path: String,
    pub fs_path: PathBuf,
    pub size: u64,
    pub mtime_ns: i64,
    pub ino: u64,
    pub dev: u64,
}

/// Finds every repo under `root`.
pub fn scan_root(root: &Path) -> io::Result<Vec<RepoSource>> {
    let root = root.canonicalize()?;
    let mut repos: BTreeMap<RepoId, BTreeMap<String, PathBuf>> = BTreeMap::new();
    for (kind, base) in [
        (RepoType::Model, root.clone()),
        (RepoType::Dataset, root.join("datasets")),
        (RepoType::Space, root.join("spaces")),
    ] {
        if !base.is_dir() {
            continue;
        }
        for (org, org_dir) in visible_dirs(&root, &base)? {
            if kind == RepoType::Model && (org == "datasets" || org == "spaces") {
                continue;
            }
            for (entry, dir) in visible_dirs(&root, &org_dir)? {
                let (name, rev) = match entry.split_once('@') {
                    Some((name, rev)) => (name, percent_decode(rev)),
                    None => (entry.as_str(), "main".to_string()),
                };
                let full = format!("{org}/{name}");
                if !RepoId::is_valid_name(&full) || rev.is_empty() {
                    tracing::warn!(
                        "ignoring {}: not a valid repo directory name",
                        dir.display()
                    );
                    continue;
                }
                let id = RepoId { kind, name: full };
                let revs = repos.entry(id).or_default();
                // `name/` wins over an explicit `name@main/`.
                if entry.contains('@') && revs.contains_key(&rev) {
                    tracing::warn!(
                        "ignoring {}: revision {rev} is defined twice",
                        dir.display()
                    );
                    continue;
                }
                revs.insert(rev, dir);
            }
        }
    }
    Ok(repos
        .into_iter()
        .map(|(id, revisions)| RepoSource { id, revisions })
        .collect())
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Non-hidden subdirectories of `dir` (following symlinks that stay inside `root`).
fn visible_dirs(root: &Path, dir: &Path) -> io::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        if let Some(target) = confined(root, &entry.path())? {
            if target.is_dir() {
                out.push((name, target));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The canonical path of `path` if it stays inside `root`; `None` (with a warning) otherwise.
fn confined(root: &Path, path: &Path) -> io::Result<Option<PathBuf>> {
    let target = match path.canonicalize() {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            tracing::warn!("ignoring dangling symlink {}", path.display());
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    if target.starts_with(root) {
        Ok(Some(target))
    } else {
        tracing::warn!(
            "ignoring {}: it points outside the served root",
            path.display()
        );
        Ok(None)
    }
}

/// Every file below a revision directory, sorted by path.
pub fn list_files(root: &Path, dir: &Path) -> io::Result<Vec<SourceFile>> {
    let root = root.canonicalize()?;
    let dir = dir.canonicalize()?;
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut stack = vec![(dir, String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        // A symlinked directory seen twice would loop forever.
        if !seen.insert(dir.clone()) {
            continue;
        }
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                tracing::warn!("ignoring {}: name is not UTF-8", entry.path().display());
                continue;
            };
            if name == ".git" {
                continue;
            }
            let path = format!("{prefix}{name}");
            let Some(target) = confined(&root, &entry.path())? else {
                continue;
            };
            let meta = std::fs::metadata(&target)?;
            if meta.is_dir() {
                stack.push((target, format!("{path}/")));
            } else if meta.is_file() {
                out.push(SourceFile {
                    path,
                    fs_path: target,
                    size: meta.len(),
                    mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
                    ino: meta.ino(),
                    dev: meta.dev(),
                });
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_repos_revisions_and_confined_files() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret"), b"s").unwrap();
        let m = root.join("org/model");
        std::fs::create_dir_all(m.join("sub dir")).unwrap();
        std::fs::write(m.join("a.txt"), b"a").unwrap();
        std::fs::write(m.join("sub dir/b.bin"), b"bb").unwrap();
        std::os::unix::fs::symlink(outside.join("secret"), m.join("escape")).unwrap();
        std::os::unix::fs::symlink(m.join("a.txt"), m.join("inside")).unwrap();
        std::os::unix::fs::symlink(&m, m.join("loop")).unwrap();
        std::fs::create_dir_all(m.join(".git")).unwrap();
        std::fs::write(m.join(".git/HEAD"), b"x").unwrap();
        std::fs::create_dir_all(root.join("org/model@v1.0")).unwrap();
        std::fs::create_dir_all(root.join("org/model@refs%2Fpr%2F1")).unwrap();
        std::fs::create_dir_all(root.join("datasets/org/data")).unwrap();
        std::fs::create_dir_all(root.join(".hidden/x")).unwrap();
        std::fs::create_dir_all(root.join("org/bad name")).unwrap();

        let repos = scan_root(&root).unwrap();
        let ids: Vec<String> = repos.iter().map(|r| r.id.to_string()).collect();
        assert_eq!(ids, ["org/model", "datasets/org/data"]);
        let revs: Vec<&String> = repos[0].revisions.keys().collect();
        assert_eq!(revs, ["main", "refs/pr/1", "v1.0"]);

        let files = list_files(&root, &repos[0].revisions["main"]).unwrap();
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        // The escaping symlink is ignored, the inner one is a file, the loop is cut.
        assert!(
            paths.contains(&"a.txt") && paths.contains(&"inside"),
            "{paths:?}"
        );
        assert!(paths.contains(&"sub dir/b.bin"));
        assert!(!paths
            .iter()
            .any(|p| p.contains("escape") || p.contains(".git")));
        assert!(paths.iter().all(|p| !p.starts_with("loop/loop/")));
    }
}
