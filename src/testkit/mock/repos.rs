//! The mock's Hub side: repos, refs, commits and their files, and the builder that adds them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use sha1::{Digest as _, Sha1};
use sha2::Sha256;

use super::MockRemote;
use crate::hub::{EntryKind, RepoId, TreeEntry};
use crate::xet::MerkleHash;

/// One file of a commit.
pub(super) struct MockFile {
    pub bytes: Bytes,
    pub xet: Option<MerkleHash>,
    /// Hex SHA-256 of the content (the LFS oid / Xet files' ETag).
    pub sha256: String,
    /// Git object id: blob sha1 of the content, or of the LFS pointer for Xet files.
    pub git_oid: String,
}

/// The files of one commit, by path.
pub(super) type Snapshot = BTreeMap<String, MockFile>;

#[derive(Default)]
pub(super) struct MockRepo {
    pub refs: HashMap<String, String>,
    pub commits: HashMap<String, Arc<Snapshot>>,
}

impl MockRepo {
    /// A branch/tag name, or a commit sha of this repo.
    pub fn resolve(&self, rev: &str) -> Option<&str> {
        if let Some(c) = self.refs.get(rev) {
            return Some(c);
        }
        self.commits.get_key_value(rev).map(|(k, _)| k.as_str())
    }
}

/// Recursive listing of a snapshot, directories included, sorted by path.
pub(super) fn tree_entries(snapshot: &Snapshot, redact_xet: bool) -> Vec<TreeEntry> {
    let mut dirs = BTreeSet::new();
    for path in snapshot.keys() {
        let mut at = 0;
        while let Some(i) = path[at..].find('/') {
            dirs.insert(&path[..at + i]);
            at += i + 1;
        }
    }
    let mut out: Vec<TreeEntry> = dirs
        .into_iter()
        .map(|d| TreeEntry {
            path: d.to_string(),
            kind: EntryKind::Directory,
            size: 0,
            oid: hex::encode(Sha1::digest(format!("tree {d}"))),
            xet_hash: None,
            xet_redacted: false,
            lfs_sha256: None,
        })
        .collect();
    out.extend(snapshot.iter().map(|(path, f)| TreeEntry {
        path: path.clone(),
        kind: EntryKind::File,
        size: f.bytes.len() as u64,
        oid: f.git_oid.clone(),
        xet_hash: f.xet.filter(|_| !redact_xet),
        xet_redacted: f.xet.is_some() && redact_xet,
        lfs_sha256: f.xet.map(|_| f.sha256.clone()),
    }));
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

fn git_blob_oid(data: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(format!("blob {}\0", data.len()));
    h.update(data);
    hex::encode(h.finalize())
}

/// Adds one commit to a repo of a [`MockRemote`] and points a revision at it.
///
/// A commit holds exactly the files given (nothing is inherited from the revision's previous
/// commit). Its sha is derived from the repo and the content, so the same files give the same sha.
#[must_use = "call .push() to add the commit"]
pub struct CommitBuilder<'a> {
    pub(super) mock: &'a MockRemote,
    pub(super) repo: RepoId,
    pub(super) rev: String,
    pub(super) files: Vec<(String, Bytes, bool)>,
}

impl CommitBuilder<'_> {
    /// Adds a file; `xet` stores it in the mock CAS (else it is a plain git file).
    pub fn file(mut self, path: impl Into<String>, bytes: impl Into<Bytes>, xet: bool) -> Self {
        self.files.push((path.into(), bytes.into(), xet));
        self
    }

    pub fn xet(self, path: impl Into<String>, bytes: impl Into<Bytes>) -> Self {
        self.file(path, bytes, true)
    }

    pub fn plain(self, path: impl Into<String>, bytes: impl Into<Bytes>) -> Self {
        self.file(path, bytes, false)
    }

    /// Stores the files and moves the revision to the new commit; returns the commit sha.
    pub fn push(self) -> String {
        let mut commit_hash = Sha1::new();
        commit_hash.update(self.repo.to_string());
        let mut snapshot = Snapshot::new();
        let mut state = self.mock.state.write();
        for (path, bytes, xet) in self.files {
            let sha256 = hex::encode(Sha256::digest(&bytes));
            let (xet, git_oid) = if xet {
                let hash = state.store.add_file(&bytes);
                let pointer = format!(
                    "version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {}\n",
                    bytes.len()
                );
                (Some(hash), git_blob_oid(pointer.as_bytes()))
            } else {
                (None, git_blob_oid(&bytes))
            };
            commit_hash.update(format!("\0{path}\0{git_oid}"));
            snapshot.insert(
                path,
                MockFile {
                    bytes,
                    xet,
                    sha256,
                    git_oid,
                },
            );
        }
        let commit = hex::encode(commit_hash.finalize());
        let repo = state.repos.entry(self.repo).or_default();
        repo.commits.insert(commit.clone(), Arc::new(snapshot));
        repo.refs.insert(self.rev, commit.clone());
        commit
    }
}
