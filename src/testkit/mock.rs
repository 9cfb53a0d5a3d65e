//! In-memory [`Remote`](crate::remote::Remote) for tests and engine benchmarks: repos built from byte
//! buffers with the real chunker and xorb builder, answered with the same planner as
//! `xetfs serve`, with request and byte counters.
//!
//! ```ignore
//! let mock = MockRemote::new();
//! let commit = mock.commit(&RepoId::model("org/m"), "main").xet("w.bin", data).push();
//! ```

mod repos;
mod store;

use std::collections::HashSet;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;

pub use repos::CommitBuilder;

use self::repos::{tree_entries, MockFile, MockRepo, Snapshot};
use self::store::XetStore;
use crate::hub::{FileMetadata, RepoId, RepoScope, TreeEntry};
use crate::metrics::{add, counters, inc};
use crate::remote::{ByteStream, RangeBody, Remote, RemoteError};
use crate::xet::plan::{plan_range, PlanError};
use crate::xet::reconstruction::{ByteRange, ReconstructionV2, XorbFetch, XorbRangeDescriptor};
use crate::xet::MerkleHash;

/// Prefix of the mock's presigned "URLs": `mock://xorb/<xorb hash>`.
pub const XORB_URL_PREFIX: &str = "mock://xorb/";
/// Bodies are streamed in pieces of this size, like a network would.
const PIECE: usize = 64 << 10;

/// A Hub and CAS in memory.
pub struct MockRemote {
    state: parking_lot::RwLock<State>,
    counters: Arc<MockCalls>,
    /// What [`counters`](Self::counters) subtracts.
    baseline: parking_lot::Mutex<MockCounters>,
    ignore_range: AtomicBool,
    offer_chunk_hashes: AtomicBool,
    redact_xet_hashes: AtomicBool,
}

#[derive(Default)]
struct State {
    repos: std::collections::HashMap<RepoId, MockRepo>,
    store: XetStore,
    /// `(xorb, byte range)` of every descriptor handed out: the only ranges a fetch may ask for,
    /// as with real presigned URLs.
    signed: HashSet<(MerkleHash, ByteRange)>,
}

counters! {
    /// How often each method was called, and bytes served. Read with [`MockRemote::counters`].
    pub struct MockCalls => MockCounters {
        resolve_revision: "resolve_revision calls",
        list_tree: "list_tree calls",
        file_metadata: "file_metadata calls",
        get_file: "get_file calls",
        reconstruction: "reconstruction calls",
        fetch_xorb_range: "xorb range requests",
        xorb_chunk_hashes: "xorb_chunk_hashes calls",
        xorb_bytes: "xorb bytes yielded by fetch streams",
        file_bytes: "file bytes yielded by get_file bodies",
    }
}

impl Default for MockRemote {
    fn default() -> Self {
        Self::new()
    }
}

impl MockRemote {
    pub fn new() -> Self {
        MockRemote {
            state: Default::default(),
            counters: Default::default(),
            baseline: Default::default(),
            ignore_range: AtomicBool::new(false),
            offer_chunk_hashes: AtomicBool::new(false),
            redact_xet_hashes: AtomicBool::new(false),
        }
    }

    /// Starts a commit of `repo` that `rev` will point to.
    pub fn commit(&self, repo: &RepoId, rev: &str) -> CommitBuilder<'_> {
        CommitBuilder {
            mock: self,
            repo: repo.clone(),
            rev: rev.to_string(),
            files: Vec::new(),
        }
    }

    /// What was asked and served since creation or the last [`reset_counters`](Self::reset_counters).
    pub fn counters(&self) -> MockCounters {
        self.counters.snapshot().since(&self.baseline.lock())
    }

    pub fn reset_counters(&self) {
        *self.baseline.lock() = self.counters.snapshot();
    }

    /// `get_file` answers like a server that ignores `Range` (whole body, `start = 0`).
    pub fn set_ignore_range(&self, on: bool) {
        self.ignore_range.store(on, Ordering::Relaxed);
    }

    /// Offer the chunk-hash extension of `xetfs serve` (off by default, like the Hub).
    pub fn set_offer_chunk_hashes(&self, on: bool) {
        self.offer_chunk_hashes.store(on, Ordering::Relaxed);
    }

    /// Listings hide Xet hashes (64 `*`), so callers must ask `file_metadata`.
    pub fn set_redact_xet_hashes(&self, on: bool) {
        self.redact_xet_hashes.store(on, Ordering::Relaxed);
    }

    /// Number of distinct xorbs stored (dedup tests).
    pub fn xorb_count(&self) -> usize {
        self.state.read().store.xorbs.len()
    }

    /// Total bytes of stored xorb records.
    pub fn stored_xorb_bytes(&self) -> u64 {
        let s = self.state.read();
        s.store.xorbs.values().map(|x| x.records.len() as u64).sum()
    }

    fn snapshot(&self, repo: &RepoId, commit: &str) -> Result<Arc<Snapshot>, RemoteError> {
        let state = self.state.read();
        let r = state
            .repos
            .get(repo)
            .ok_or_else(|| RemoteError::NotFound(format!("repository {repo}")))?;
        r.commits
            .get(commit)
            .cloned()
            .ok_or_else(|| RemoteError::NotFound(format!("revision {commit} of {repo}")))
    }

    fn with_file<T>(
        &self,
        repo: &RepoId,
        commit: &str,
        path: &str,
        f: impl FnOnce(&MockFile) -> T,
    ) -> Result<T, RemoteError> {
        let snapshot = self.snapshot(repo, commit)?;
        let file = snapshot
            .get(path)
            .ok_or_else(|| RemoteError::NotFound(format!("{path} in {repo}@{commit}")))?;
        Ok(f(file))
    }
}

/// `data` as a stream of pieces, counting the bytes in `counter` of `calls` as they are yielded.
fn piece_stream(
    data: Bytes,
    calls: Arc<MockCalls>,
    counter: fn(&MockCalls) -> &AtomicU64,
) -> ByteStream {
    let pieces: Vec<Bytes> = (0..data.len())
        .step_by(PIECE)
        .map(|at| data.slice(at..(at + PIECE).min(data.len())))
        .collect();
    Box::pin(futures::stream::iter(pieces).map(move |p| {
        add(counter(&calls), p.len() as u64);
        Ok(p)
    }))
}

#[async_trait::async_trait]
impl Remote for MockRemote {
    async fn resolve_revision(&self, repo: &RepoId, rev: &str) -> Result<String, RemoteError> {
        inc(&self.counters.resolve_revision);
        let state = self.state.read();
        let r = state
            .repos
            .get(repo)
            .ok_or_else(|| RemoteError::NotFound(format!("repository {repo}")))?;
        r.resolve(rev)
            .map(str::to_string)
            .ok_or_else(|| RemoteError::NotFound(format!("revision {rev} of {repo}")))
    }

    async fn list_tree(&self, repo: &RepoId, commit: &str) -> Result<Vec<TreeEntry>, RemoteError> {
        inc(&self.counters.list_tree);
        let snapshot = self.snapshot(repo, commit)?;
        Ok(tree_entries(
            &snapshot,
            self.redact_xet_hashes.load(Ordering::Relaxed),
        ))
    }

    async fn file_metadata(
        &self,
        repo: &RepoId,
        commit: &str,
        path: &str,
    ) -> Result<FileMetadata, RemoteError> {
        inc(&self.counters.file_metadata);
        self.with_file(repo, commit, path, |f| FileMetadata {
            commit: commit.to_string(),
            size: f.bytes.len() as u64,
            etag: if f.xet.is_some() {
                f.sha256.clone()
            } else {
                f.git_oid.clone()
            },
            xet_hash: f.xet,
        })
    }

    async fn get_file(
        &self,
        repo: &RepoId,
        commit: &str,
        path: &str,
        range: Option<ByteRange>,
    ) -> Result<RangeBody, RemoteError> {
        inc(&self.counters.get_file);
        let data = self.with_file(repo, commit, path, |f| f.bytes.clone())?;
        let size = data.len() as u64;
        let (start, end) = match range {
            Some(r) if r.is_empty() => {
                return Err(RemoteError::Protocol("empty range requested".into()))
            }
            Some(r) if !self.ignore_range.load(Ordering::Relaxed) => {
                if r.start >= size {
                    return Err(RemoteError::RangeNotSatisfiable);
                }
                (r.start, r.end.min(size - 1) + 1)
            }
            _ => (0, size),
        };
        let body = data.slice(start as usize..end as usize);
        Ok(RangeBody {
            start,
            len: end - start,
            body: piece_stream(body, self.counters.clone(), |c| &c.file_bytes),
        })
    }

    async fn reconstruction(
        &self,
        scope: &RepoScope,
        file: &MerkleHash,
        range: Range<u64>,
    ) -> Result<ReconstructionV2, RemoteError> {
        inc(&self.counters.reconstruction);
        if range.start >= range.end {
            return Err(RemoteError::Protocol("empty range requested".into()));
        }
        self.snapshot(&scope.repo, &scope.commit)?;
        let mut state = self.state.write();
        let terms = state
            .store
            .files
            .get(file)
            .ok_or_else(|| RemoteError::NotFound(format!("file {file}")))?;
        let plan = plan_range(terms, &state.store, range).map_err(|e| match e {
            PlanError::RangeNotSatisfiable => RemoteError::RangeNotSatisfiable,
            e => RemoteError::Protocol(format!("mock: {e}")),
        })?;
        let mut xorbs = std::collections::HashMap::new();
        for (xorb, ranges) in plan.xorb_ranges {
            let ranges: Vec<XorbRangeDescriptor> = ranges
                .into_iter()
                .map(|(chunks, bytes)| XorbRangeDescriptor { chunks, bytes })
                .collect();
            for d in &ranges {
                state.signed.insert((xorb, d.bytes));
            }
            let url = format!("{XORB_URL_PREFIX}{xorb}");
            xorbs.insert(xorb, vec![XorbFetch { url, ranges }]);
        }
        Ok(ReconstructionV2 {
            offset_into_first_range: plan.offset_into_first_range,
            terms: plan.terms,
            xorbs,
        })
    }

    async fn fetch_xorb_range(
        &self,
        url: &str,
        range: ByteRange,
    ) -> Result<ByteStream, RemoteError> {
        inc(&self.counters.fetch_xorb_range);
        let xorb = url
            .strip_prefix(XORB_URL_PREFIX)
            .and_then(|h| MerkleHash::from_hex(h).ok())
            .ok_or_else(|| RemoteError::Protocol(format!("not a mock xorb URL: {url}")))?;
        let state = self.state.read();
        let stored = state
            .store
            .xorbs
            .get(&xorb)
            .ok_or_else(|| RemoteError::NotFound(format!("xorb {xorb}")))?;
        // A real presigned URL is signed for its descriptors only.
        if !state.signed.contains(&(xorb, range)) {
            return Err(RemoteError::UrlExpired);
        }
        if range.is_empty() || range.end >= stored.records.len() as u64 {
            return Err(RemoteError::RangeNotSatisfiable);
        }
        let body = stored
            .records
            .slice(range.start as usize..range.end as usize + 1);
        Ok(piece_stream(body, self.counters.clone(), |c| &c.xorb_bytes))
    }

    async fn xorb_chunk_hashes(
        &self,
        _scope: &RepoScope,
        xorb: &MerkleHash,
    ) -> Result<Option<Vec<(MerkleHash, u32)>>, RemoteError> {
        inc(&self.counters.xorb_chunk_hashes);
        if !self.offer_chunk_hashes.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let state = self.state.read();
        let stored = state
            .store
            .xorbs
            .get(xorb)
            .ok_or_else(|| RemoteError::NotFound(format!("xorb {xorb}")))?;
        Ok(Some(
            stored.chunks.iter().map(|c| (c.hash, c.raw_len)).collect(),
        ))
    }
}

#[cfg(test)]
mod tests;
