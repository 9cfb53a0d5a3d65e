//! One commit of a repo: its files, the directories they imply, and ids derived from content.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

use crate::hub::RepoId;
use crate::serve::git;
use crate::xet::MerkleHash;

/// Where a file's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Content {
    /// A regular git file, stored in `blobs/` by its git blob id.
    Regular { oid: String },
    /// A Xet file; `sha256` is what LFS pointers and `lfsFile` commit lines name.
    Xet {
        file_hash: MerkleHash,
        sha256: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub size: u64,
    pub content: Content,
}

impl FileEntry {
    /// The git object id the Hub lists: the blob id, or the blob id of the LFS pointer.
    pub fn git_oid(&self) -> String {
        match &self.content {
            Content::Regular { oid } => oid.clone(),
            Content::Xet { sha256, .. } => {
                git::blob_oid(git::lfs_pointer(sha256, self.size).as_bytes())
            }
        }
    }

    pub fn xet(&self) -> Option<(&MerkleHash, &str)> {
        match &self.content {
            Content::Xet { file_hash, sha256 } => Some((file_hash, sha256)),
            Content::Regular { .. } => None,
        }
    }
}

/// One item of a tree listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeItem<'a> {
    File(&'a str, &'a FileEntry),
    Dir(&'a str, &'a str),
}

impl TreeItem<'_> {
    pub fn path(&self) -> &str {
        match self {
            TreeItem::File(p, _) | TreeItem::Dir(p, _) => p,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// 40-hex commit id, deterministic from the repo, the parent, the message and the content.
    pub sha: String,
    pub parent: Option<String>,
    pub summary: String,
    /// Unix seconds.
    pub time: u64,
    pub files: BTreeMap<String, FileEntry>,
    /// Every directory (not the root) → its tree id.
    dirs: BTreeMap<String, String>,
    tree_oid: String,
}

impl Snapshot {
    /// Builds a commit over `files`; `identity` (repo, revision or parent, message) makes the
    /// commit id unique to its place in history.
    pub fn build(
        repo: &RepoId,
        identity: &[&str],
        parent: Option<String>,
        summary: String,
        time: u64,
        files: BTreeMap<String, FileEntry>,
    ) -> Self {
        let (dirs, tree_oid) = tree_ids(&files);
        let repo = repo.to_string();
        let mut parts = vec![repo.as_str(), tree_oid.as_str(), summary.as_str()];
        parts.extend_from_slice(identity);
        if let Some(p) = &parent {
            parts.push(p);
        }
        Snapshot {
            sha: git::content_id("commit", &parts),
            parent,
            summary,
            time,
            files,
            dirs,
            tree_oid,
        }
    }

    pub fn tree_oid(&self) -> &str {
        &self.tree_oid
    }

    pub fn file(&self, path: &str) -> Option<&FileEntry> {
        self.files.get(path)
    }

    /// Whether `path` is a directory (`""` is the root).
    pub fn is_dir(&self, path: &str) -> bool {
        path.is_empty() || self.dirs.contains_key(path)
    }

    pub fn dir_oid(&self, path: &str) -> Option<&str> {
        if path.is_empty() {
            Some(&self.tree_oid)
        } else {
            self.dirs.get(path).map(String::as_str)
        }
    }

    /// The entries below directory `dir` (direct children, or all descendants), sorted by path.
    pub fn list(&self, dir: &str, recursive: bool) -> Vec<TreeItem<'_>> {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let below = |p: &str| {
            p.strip_prefix(prefix.as_str())
                .is_some_and(|rest| recursive || !rest.contains('/'))
        };
        let mut items: Vec<TreeItem<'_>> = self
            .dirs
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .filter(|(p, _)| below(p))
            .map(|(p, oid)| TreeItem::Dir(p, oid))
            .chain(
                self.files
                    .range(prefix.clone()..)
                    .take_while(|(p, _)| p.starts_with(&prefix))
                    .filter(|(p, _)| below(p))
                    .map(|(p, e)| TreeItem::File(p, e)),
            )
            .collect();
        items.sort_by(|a, b| a.path().cmp(b.path()));
        items
    }
}

/// Tree ids of every directory and of the root: a hash over the (relative path, oid) of every
/// file below it, in path order.
fn tree_ids(files: &BTreeMap<String, FileEntry>) -> (BTreeMap<String, String>, String) {
    let mut hashers: BTreeMap<String, Sha1> = BTreeMap::new();
    let mut root = Sha1::new();
    root.update(b"tree");
    for (path, entry) in files {
        let oid = entry.git_oid();
        let update = |h: &mut Sha1, rel: &str| {
            h.update([0u8]);
            h.update(rel.as_bytes());
            h.update([0u8]);
            h.update(oid.as_bytes());
        };
        update(&mut root, path);
        let mut at = 0;
        while let Some(i) = path[at..].find('/') {
            let dir = &path[..at + i];
            let h = hashers.entry(dir.to_string()).or_insert_with(|| {
                let mut h = Sha1::new();
                h.update(b"tree");
                h
            });
            update(h, &path[at + i + 1..]);
            at += i + 1;
        }
    }
    let dirs = hashers
        .into_iter()
        .map(|(d, h)| (d, hex::encode(h.finalize())))
        .collect();
    (dirs, hex::encode(root.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regular(oid: &str, size: u64) -> FileEntry {
        FileEntry {
            size,
            content: Content::Regular {
                oid: oid.repeat(40),
            },
        }
    }

    fn sample() -> BTreeMap<String, FileEntry> {
        [
            ("a.txt", regular("1", 1)),
            ("d/b.txt", regular("2", 2)),
            ("d/e/c.txt", regular("3", 3)),
            ("d2/x", regular("4", 4)),
        ]
        .into_iter()
        .map(|(p, e)| (p.to_string(), e))
        .collect()
    }

    #[test]
    fn listings_and_ids() {
        let repo = RepoId::model("o/n");
        let s = Snapshot::build(&repo, &["main"], None, "s".into(), 0, sample());
        let paths = |items: Vec<TreeItem>| -> Vec<String> {
            items.iter().map(|i| i.path().to_string()).collect()
        };
        assert_eq!(paths(s.list("", false)), ["a.txt", "d", "d2"]);
        assert_eq!(paths(s.list("d", false)), ["d/b.txt", "d/e"]);
        assert_eq!(
            paths(s.list("", true)),
            ["a.txt", "d", "d/b.txt", "d/e", "d/e/c.txt", "d2", "d2/x"]
        );
        assert!(s.is_dir("d/e") && !s.is_dir("d/e/c.txt") && s.is_dir(""));

        // Same content → same id; any change → new commit and new tree ids along the path.
        let again = Snapshot::build(&repo, &["main"], None, "s".into(), 9, sample());
        assert_eq!(again.sha, s.sha);
        let mut changed = sample();
        changed.insert("d/e/c.txt".into(), regular("5", 3));
        let c = Snapshot::build(&repo, &["main"], None, "s".into(), 0, changed);
        assert_ne!(c.sha, s.sha);
        assert_ne!(c.dir_oid("d/e"), s.dir_oid("d/e"));
        assert_eq!(c.dir_oid("d2"), s.dir_oid("d2"));
        let other_rev = Snapshot::build(&repo, &["v1"], None, "s".into(), 0, sample());
        assert_ne!(other_rev.sha, s.sha);
    }
}
