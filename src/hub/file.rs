//! A file to read: the catalog describes it, the engine reads it, front ends pass it along.

use super::RepoScope;
use crate::xet::MerkleHash;

/// How a file's bytes are obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileContent {
    /// Xet-backed: read through the reconstruction API.
    Xet { hash: MerkleHash },
    /// Plain git blob or non-Xet LFS object: read through the resolve endpoint.
    Plain {
        /// Git blob id (for regular files) — a content address.
        oid: String,
        /// SHA-256 of the content, for LFS objects.
        sha256: Option<String>,
    },
}

/// An immutable file: what a front end hands to the engine for every read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDesc {
    pub scope: RepoScope,
    pub path: String,
    pub size: u64,
    pub content: FileContent,
}
