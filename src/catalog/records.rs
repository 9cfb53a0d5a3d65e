//! What the catalog keeps in the metadata store, so that a restart, `--offline` and an
//! unreachable Hub still know the last state: each revision's last resolution, each commit's
//! tree, and the answers of resolve HEADs for files whose listing hid the Xet hash.

use crate::cache::metadata::MetadataStore;
use crate::hub::{RepoId, RepoScope, TreeEntry};
use crate::xet::MerkleHash;

/// The last resolution of a revision name.
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct RevRecord {
    pub commit: String,
    /// Unix time of the resolution.
    pub fetched_at: u64,
}

/// A commit's tree.
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct TreeRecord {
    /// Unix time this machine first listed the commit (the mtime of its files).
    pub first_seen: u64,
    pub entries: Vec<TreeEntry>,
}

/// What a resolve HEAD said about one file.
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct FileRecord {
    pub size: u64,
    pub etag: String,
    pub xet_hash: Option<MerkleHash>,
}

/// The catalog's part of the metadata store (none: nothing persists).
pub(super) struct Records {
    meta: Option<MetadataStore>,
}

impl Records {
    pub fn new(meta: Option<MetadataStore>) -> Self {
        Records { meta }
    }

    pub fn rev(&self, repo: &RepoId, rev: &str) -> Option<RevRecord> {
        self.get("rev", &format!("{repo}@{rev}"))
    }

    pub fn put_rev(&self, repo: &RepoId, rev: &str, record: &RevRecord) {
        self.put("rev", &format!("{repo}@{rev}"), record);
    }

    pub fn tree(&self, repo: &RepoId, commit: &str) -> Option<TreeRecord> {
        self.get("tree", &tree_key(repo, commit))
    }

    pub fn put_tree(&self, repo: &RepoId, commit: &str, record: &TreeRecord) {
        self.put("tree", &tree_key(repo, commit), record);
    }

    pub fn file(&self, scope: &RepoScope, path: &str) -> Option<FileRecord> {
        self.get("file", &file_key(scope, path))
    }

    pub fn put_file(&self, scope: &RepoScope, path: &str, record: &FileRecord) {
        self.put("file", &file_key(scope, path), record);
    }

    fn get<T: serde::de::DeserializeOwned>(&self, kind: &str, key: &str) -> Option<T> {
        self.meta.as_ref()?.get(kind, key)
    }

    fn put<T: serde::Serialize>(&self, kind: &str, key: &str, value: &T) {
        if let Some(meta) = &self.meta {
            if let Err(e) = meta.put(kind, key, value) {
                // Losing metadata only costs a Hub call later.
                tracing::warn!(kind, key, error = %e, "could not persist metadata");
            }
        }
    }
}

/// Key of a commit's tree, in the store and in the in-memory snapshot cache.
pub(super) fn tree_key(repo: &RepoId, commit: &str) -> String {
    format!("{repo}@{commit}")
}

fn file_key(scope: &RepoScope, path: &str) -> String {
    format!("{}@{}:{path}", scope.repo, scope.commit)
}
