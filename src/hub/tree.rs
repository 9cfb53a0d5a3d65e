//! What the Hub says about a repo's files: tree listings and resolve HEADs (PROTOCOL.md §5).

use crate::xet::MerkleHash;

/// File or directory, as listed by the tree API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    File,
    Directory,
}

/// One tree entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TreeEntry {
    /// Path from the repo root, `/`-separated.
    pub path: String,
    pub kind: EntryKind,
    pub size: u64,
    /// Git object id (blob sha1 of the file, or of the LFS pointer).
    pub oid: String,
    /// Xet file ID, when the file is Xet-backed and the hash is not redacted.
    pub xet_hash: Option<MerkleHash>,
    /// The listing said Xet but hid the hash (64 `*`): ask the resolve HEAD.
    #[serde(default)]
    pub xet_redacted: bool,
    /// SHA-256 of the content for LFS and Xet files.
    pub lfs_sha256: Option<String>,
}

/// What a resolve HEAD tells about one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMetadata {
    pub commit: String,
    pub size: u64,
    /// `X-Linked-Etag` / `ETag` without quotes: SHA-256 for LFS/Xet files, git blob id otherwise.
    pub etag: String,
    pub xet_hash: Option<MerkleHash>,
}
