//! Talking to a Hub and its Xet CAS. The catalog and the read engine see only the [`Remote`]
//! trait; [`http::HttpRemote`] speaks the real protocol. (The in-memory and fault-injecting
//! remotes of the tests live in `testkit`, outside the release binary.)

pub mod error;
pub mod http;

use std::ops::Range;
use std::pin::Pin;

use bytes::Bytes;
use futures::Stream;

pub use error::RemoteError;

use crate::hub::{FileMetadata, RepoId, RepoScope, TreeEntry};
use crate::xet::reconstruction::{ByteRange, ReconstructionV2};
use crate::xet::MerkleHash;

/// A response body arriving in pieces. Implementations enforce their idle timeout and the
/// expected length: a short or long body ends with an error item, never silently.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, RemoteError>> + Send>>;

/// A plain file body from the resolve endpoint. Servers may ignore `Range` and send the whole
/// file: `start` says where the body begins.
pub struct RangeBody {
    /// File offset of the body's first byte.
    pub start: u64,
    /// Length of the body.
    pub len: u64,
    pub body: ByteStream,
}

/// Everything the read engine and the filesystem need from a Hub and its CAS.
///
/// Implementations retry transient failures of the request itself (up to the response head)
/// within their deadlines; failures while a body streams are reported through the stream and
/// retried by the caller, which knows what it has already consumed.
#[async_trait::async_trait]
pub trait Remote: Send + Sync + 'static {
    /// Revision (branch, tag or commit) → 40-hex commit sha.
    async fn resolve_revision(&self, repo: &RepoId, rev: &str) -> Result<String, RemoteError>;

    /// Recursive listing of the repo at `commit`, all pages.
    async fn list_tree(&self, repo: &RepoId, commit: &str) -> Result<Vec<TreeEntry>, RemoteError>;

    /// Resolve HEAD of one path (used when a listing redacts the Xet hash).
    async fn file_metadata(
        &self,
        repo: &RepoId,
        commit: &str,
        path: &str,
    ) -> Result<FileMetadata, RemoteError>;

    /// GET of a plain (non-Xet) file through the resolve endpoint, optionally ranged.
    async fn get_file(
        &self,
        repo: &RepoId,
        commit: &str,
        path: &str,
        range: Option<ByteRange>,
    ) -> Result<RangeBody, RemoteError>;

    /// Reconstruction of file bytes `range` (end exclusive, non-empty). v2, or v1 converted.
    async fn reconstruction(
        &self,
        scope: &RepoScope,
        file: &MerkleHash,
        range: Range<u64>,
    ) -> Result<ReconstructionV2, RemoteError>;

    /// GET one inclusive byte range of a presigned xorb URL. The stream yields exactly
    /// `range.len()` bytes or ends with an error.
    async fn fetch_xorb_range(
        &self,
        url: &str,
        range: ByteRange,
    ) -> Result<ByteStream, RemoteError>;

    /// Extension of `xetfs serve` (never required): the `(chunk hash, raw length)` list of a
    /// xorb, which the caller authenticates against the xorb hash. `Ok(None)`: not offered.
    async fn xorb_chunk_hashes(
        &self,
        scope: &RepoScope,
        xorb: &MerkleHash,
    ) -> Result<Option<Vec<(MerkleHash, u32)>>, RemoteError> {
        let _ = (scope, xorb);
        Ok(None)
    }
}
