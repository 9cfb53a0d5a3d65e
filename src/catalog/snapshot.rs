//! One repo at one commit: its directory tree, built once from the tree listing and then
//! immutable. The filesystem walks it, `download` lists its files; files hand out [`FileDesc`]s
//! for the engine.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::OnceCell;

use crate::hub::{EntryKind, FileContent, FileDesc, RepoScope, TreeEntry};
use crate::xet::MerkleHash;

/// A repo's tree at one commit.
#[derive(Debug)]
pub struct RepoSnapshot {
    pub scope: RepoScope,
    /// When this machine first listed the commit: the mtime of everything in the snapshot.
    pub first_seen: SystemTime,
    /// Directory path (`""` is the repo root) → its entries.
    dirs: HashMap<String, BTreeMap<String, SnapshotEntry>>,
    entry_count: usize,
}

/// A name inside a snapshot directory.
#[derive(Debug, Clone)]
pub enum SnapshotEntry {
    /// A subdirectory; the string is its full path.
    Dir(Arc<str>),
    File(Arc<SnapshotFile>),
}

/// A file of a snapshot. Its bytes never change: the same `oid` always means the same content.
#[derive(Debug)]
pub struct SnapshotFile {
    pub scope: RepoScope,
    pub path: String,
    pub size: u64,
    /// Git blob id: changes exactly when the content changes.
    pub oid: String,
    /// Xet file ID, when the listing named one (see `xet_redacted`).
    pub xet_hash: Option<MerkleHash>,
    /// The listing said Xet but hid the hash: [`RepoCatalog::file_desc`](super::RepoCatalog)
    /// asks the Hub.
    pub xet_redacted: bool,
    /// SHA-256 of the content, for LFS and Xet files.
    pub sha256: Option<String>,
    /// When this machine first listed the commit the file came from (its mtime).
    pub first_seen: SystemTime,
    /// Set at build time unless the listing redacted the Xet hash (then the catalog asks the
    /// Hub once, on first open).
    pub(super) desc: OnceCell<Arc<FileDesc>>,
}

impl SnapshotFile {
    /// The engine's view of the file, when already known without a Hub call.
    pub fn desc_if_known(&self) -> Option<Arc<FileDesc>> {
        self.desc.get().cloned()
    }
}

impl RepoSnapshot {
    /// Builds the tree from a recursive listing. Entries whose path could not be a file name
    /// (empty components, `.`/`..`, NUL, over 255 bytes) are skipped with a warning, as are files
    /// that collide with a directory.
    pub fn build(scope: RepoScope, first_seen: SystemTime, entries: &[TreeEntry]) -> Self {
        let mut dirs: HashMap<String, BTreeMap<String, SnapshotEntry>> = HashMap::new();
        dirs.insert(String::new(), BTreeMap::new());
        // Directories first, so a file never shadows a directory listed later.
        let mut sorted: Vec<&TreeEntry> = entries.iter().collect();
        sorted.sort_by_key(|e| (e.kind != EntryKind::Directory, e.path.len()));
        for entry in sorted {
            let Some(parts) = split_path(&entry.path) else {
                tracing::warn!(repo = %scope.repo, path = %entry.path, "skipping unusable path");
                continue;
            };
            let (name, parents) = parts.split_last().expect("split_path is non-empty");
            let parent = ensure_dirs(&mut dirs, parents);
            let full = entry.path.trim_matches('/').to_string();
            let children = dirs.get_mut(&parent).expect("ensure_dirs created it");
            match entry.kind {
                EntryKind::Directory => {
                    if !matches!(children.get(*name), Some(SnapshotEntry::Dir(_))) {
                        children.insert(name.to_string(), SnapshotEntry::Dir(full.clone().into()));
                    }
                    dirs.entry(full).or_default();
                }
                EntryKind::File => {
                    if children.contains_key(*name) {
                        tracing::warn!(repo = %scope.repo, path = %entry.path, "duplicate path");
                        continue;
                    }
                    let file = SnapshotFile::from_entry(&scope, first_seen, full, entry);
                    children.insert(name.to_string(), SnapshotEntry::File(Arc::new(file)));
                }
            }
        }
        let entry_count = dirs.values().map(BTreeMap::len).sum();
        RepoSnapshot {
            scope,
            first_seen,
            dirs,
            entry_count,
        }
    }

    /// The entries of directory `path` (`""` for the root), sorted by name.
    pub fn dir(&self, path: &str) -> Option<&BTreeMap<String, SnapshotEntry>> {
        self.dirs.get(path)
    }

    /// One entry of directory `dir`.
    pub fn child(&self, dir: &str, name: &str) -> Option<&SnapshotEntry> {
        self.dirs.get(dir)?.get(name)
    }

    /// The file at `path` (`a/b.txt`; leading and trailing `/` ignored).
    pub fn file(&self, path: &str) -> Option<&Arc<SnapshotFile>> {
        let path = path.trim_matches('/');
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        match self.child(dir, name)? {
            SnapshotEntry::File(f) => Some(f),
            SnapshotEntry::Dir(_) => None,
        }
    }

    /// Every file of the snapshot, sorted by path.
    pub fn files(&self) -> Vec<Arc<SnapshotFile>> {
        let mut files: Vec<Arc<SnapshotFile>> = self
            .dirs
            .values()
            .flat_map(|children| children.values())
            .filter_map(|e| match e {
                SnapshotEntry::File(f) => Some(f.clone()),
                SnapshotEntry::Dir(_) => None,
            })
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        files
    }

    /// Files and directories in the snapshot (for cache weighing).
    pub fn len(&self) -> usize {
        self.entry_count
    }

    pub fn is_empty(&self) -> bool {
        self.entry_count == 0
    }
}

impl SnapshotFile {
    fn from_entry(
        scope: &RepoScope,
        first_seen: SystemTime,
        path: String,
        entry: &TreeEntry,
    ) -> Self {
        let desc = OnceCell::new();
        if !entry.xet_redacted {
            let content = match entry.xet_hash {
                Some(hash) => FileContent::Xet { hash },
                None => FileContent::Plain {
                    oid: entry.oid.clone(),
                    sha256: entry.lfs_sha256.clone(),
                },
            };
            let _ = desc.set(Arc::new(FileDesc {
                scope: scope.clone(),
                path: path.clone(),
                size: entry.size,
                content,
            }));
        }
        SnapshotFile {
            scope: scope.clone(),
            path,
            size: entry.size,
            oid: entry.oid.clone(),
            xet_hash: entry.xet_hash,
            xet_redacted: entry.xet_redacted,
            sha256: entry.lfs_sha256.clone(),
            first_seen,
            desc,
        }
    }
}

/// `a/b/c` → `["a", "b", "c"]`; `None` when a component cannot be a file name.
fn split_path(path: &str) -> Option<Vec<&str>> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let ok = parts
        .iter()
        .all(|p| !p.is_empty() && *p != "." && *p != ".." && p.len() <= 255 && !p.contains('\0'));
    ok.then_some(parts)
}

/// Creates the directories `parents` (and their ancestors); returns the path of the last.
fn ensure_dirs(
    dirs: &mut HashMap<String, BTreeMap<String, SnapshotEntry>>,
    parents: &[&str],
) -> String {
    let mut path = String::new();
    for name in parents {
        let child = if path.is_empty() {
            name.to_string()
        } else {
            format!("{path}/{name}")
        };
        let siblings = dirs.get_mut(&path).expect("parents are created first");
        if !matches!(siblings.get(*name), Some(SnapshotEntry::Dir(_))) {
            // A file of the same name loses against the directory that needs the name.
            siblings.insert(name.to_string(), SnapshotEntry::Dir(child.clone().into()));
        }
        dirs.entry(child.clone()).or_default();
        path = child;
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::RepoId;

    fn entry(path: &str, kind: EntryKind) -> TreeEntry {
        TreeEntry {
            path: path.into(),
            kind,
            size: 3,
            oid: format!("oid-{path}"),
            xet_hash: None,
            xet_redacted: false,
            lfs_sha256: None,
        }
    }

    fn scope() -> RepoScope {
        RepoScope {
            repo: RepoId::model("org/name"),
            commit: "c".repeat(40),
        }
    }

    #[test]
    fn builds_tree_with_implicit_dirs() {
        let mut xet = entry("weights/model.bin", EntryKind::File);
        xet.xet_hash = Some(MerkleHash::from_bytes([7; 32]));
        let entries = vec![
            entry("README.md", EntryKind::File),
            xet,
            entry("a/b/c.txt", EntryKind::File), // parents not listed
            entry("weights", EntryKind::Directory),
            entry("../escape", EntryKind::File),
            entry("x//y", EntryKind::File),
        ];
        let snap = RepoSnapshot::build(scope(), SystemTime::UNIX_EPOCH, &entries);
        let root: Vec<&String> = snap.dir("").unwrap().keys().collect();
        assert_eq!(root, ["README.md", "a", "weights"]);
        assert!(matches!(snap.child("a", "b"), Some(SnapshotEntry::Dir(p)) if &**p == "a/b"));
        let Some(SnapshotEntry::File(f)) = snap.child("weights", "model.bin") else {
            panic!("model.bin missing")
        };
        let desc = f.desc_if_known().unwrap();
        assert_eq!(desc.path, "weights/model.bin");
        assert!(matches!(desc.content, FileContent::Xet { .. }));
        let Some(SnapshotEntry::File(r)) = snap.child("", "README.md") else {
            panic!("README missing")
        };
        assert!(matches!(
            &r.desc_if_known().unwrap().content,
            FileContent::Plain { oid, .. } if oid == "oid-README.md"
        ));
        assert!(snap.child("", "..").is_none());
        assert_eq!(snap.len(), 6); // README, weights, model.bin, a, b, c.txt

        let files = snap.files();
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["README.md", "a/b/c.txt", "weights/model.bin"]);
        let model = snap.file("/weights/model.bin").unwrap();
        assert_eq!(model.xet_hash, Some(MerkleHash::from_bytes([7; 32])));
        assert_eq!(snap.file("a/b/c.txt").unwrap().oid, "oid-a/b/c.txt");
        assert!(snap.file("weights").is_none(), "a directory is not a file");
        assert!(snap.file("a/nope").is_none());
    }

    #[test]
    fn redacted_hash_leaves_desc_unknown() {
        let mut e = entry("m.bin", EntryKind::File);
        e.xet_redacted = true;
        let snap = RepoSnapshot::build(scope(), SystemTime::UNIX_EPOCH, &[e]);
        let Some(SnapshotEntry::File(f)) = snap.child("", "m.bin") else {
            panic!()
        };
        assert!(f.desc_if_known().is_none());
    }
}
