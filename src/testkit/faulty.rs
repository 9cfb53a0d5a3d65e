//! A [`Remote`](crate::remote::Remote) wrapper that injects failures: errors, delays, stalls, truncated or
//! corrupted bodies, expired URLs. Off unless a test turns it on; every injection is deterministic
//! ("the next N calls of this method") and counted.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;

use crate::hub::{FileMetadata, RepoId, RepoScope, TreeEntry};
use crate::metrics::{counters, inc};
use crate::remote::{ByteStream, RangeBody, Remote, RemoteError};
use crate::xet::reconstruction::{ByteRange, ReconstructionV2};
use crate::xet::MerkleHash;

/// A method of the [`Remote`](crate::remote::Remote) trait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    ResolveRevision,
    ListTree,
    FileMetadata,
    GetFile,
    Reconstruction,
    FetchXorbRange,
    XorbChunkHashes,
}

impl Method {
    const ALL: [Method; 7] = [
        Method::ResolveRevision,
        Method::ListTree,
        Method::FileMetadata,
        Method::GetFile,
        Method::Reconstruction,
        Method::FetchXorbRange,
        Method::XorbChunkHashes,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// What to do to a response body (`get_file`, `fetch_xorb_range`). Offsets count from the
/// body's first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFault {
    /// Yield `after` bytes, then a `Transient` error (a connection that broke off).
    Truncate { after: u64 },
    /// Yield `after` bytes, then end without error (a remote breaking the length contract).
    EndEarly { after: u64 },
    /// Invert the byte at `offset` (bit rot, a bad proxy).
    FlipByte { offset: u64 },
    /// Yield `after` bytes, then nothing, forever: the caller's deadline must end it.
    Stall { after: u64 },
}

counters! {
    /// Faults injected so far.
    pub struct FaultCounters => FaultStats {
        failed: "calls failed without reaching the inner remote",
        delayed: "calls delayed",
        truncated: "bodies cut short (fewer bytes than announced)",
        ended_early: "bodies ended cleanly before their length",
        flipped: "bodies with a flipped byte",
        stalled: "bodies that stopped yielding",
    }
}

#[derive(Debug, Clone)]
enum Action {
    Fail(RemoteError),
    Delay(Duration),
    Body(BodyFault),
}

#[derive(Debug)]
struct Rule {
    method: Method,
    /// `None`: every call until [`FaultyRemote::clear`].
    remaining: Option<u64>,
    action: Action,
}

#[derive(Default)]
struct Counters {
    faults: FaultCounters,
    calls: [AtomicU64; Method::ALL.len()],
}

/// Wraps another remote and misbehaves on request.
pub struct FaultyRemote {
    inner: Arc<dyn Remote>,
    rules: parking_lot::Mutex<Vec<Rule>>,
    counters: Arc<Counters>,
}

/// The faults one call draws: at most one of each kind.
#[derive(Default)]
struct Draw {
    delay: Option<Duration>,
    fail: Option<RemoteError>,
    body: Option<BodyFault>,
}

impl FaultyRemote {
    pub fn new(inner: Arc<dyn Remote>) -> Self {
        FaultyRemote {
            inner,
            rules: Default::default(),
            counters: Default::default(),
        }
    }

    pub fn inner(&self) -> &Arc<dyn Remote> {
        &self.inner
    }

    fn add(&self, method: Method, remaining: Option<u64>, action: Action) {
        if remaining != Some(0) {
            self.rules.lock().push(Rule {
                method,
                remaining,
                action,
            });
        }
    }

    /// The next `n` calls of `method` fail with `error` without reaching the inner remote.
    pub fn fail_next(&self, method: Method, n: u64, error: RemoteError) {
        self.add(method, Some(n), Action::Fail(error));
    }

    /// Every call of `method` fails with `error` (until [`clear`](Self::clear)).
    pub fn fail_always(&self, method: Method, error: RemoteError) {
        self.add(method, None, Action::Fail(error));
    }

    /// The next `n` calls of `fetch_xorb_range` answer `UrlExpired` (a 403 from the CDN).
    pub fn expire_urls_next(&self, n: u64) {
        self.fail_next(Method::FetchXorbRange, n, RemoteError::UrlExpired);
    }

    /// The next `n` calls of `method` wait `delay` first.
    pub fn delay_next(&self, method: Method, n: u64, delay: Duration) {
        self.add(method, Some(n), Action::Delay(delay));
    }

    /// Every call of `method` waits `delay` first (until [`clear`](Self::clear)).
    pub fn delay_always(&self, method: Method, delay: Duration) {
        self.add(method, None, Action::Delay(delay));
    }

    /// The bodies of the next `n` successful calls of `method` (`GetFile` or `FetchXorbRange`)
    /// suffer `fault`.
    pub fn body_fault_next(&self, method: Method, n: u64, fault: BodyFault) {
        assert!(
            matches!(method, Method::GetFile | Method::FetchXorbRange),
            "{method:?} has no body"
        );
        self.add(method, Some(n), Action::Body(fault));
    }

    /// Removes every pending rule (counters are kept).
    pub fn clear(&self) {
        self.rules.lock().clear();
    }

    pub fn stats(&self) -> FaultStats {
        self.counters.faults.snapshot()
    }

    /// Calls of `method` seen (faulted or not).
    pub fn calls(&self, method: Method) -> u64 {
        self.counters.calls[method.index()].load(Ordering::Relaxed)
    }

    /// Counts the call and consumes one use of the first matching rule of each kind.
    fn draw(&self, method: Method) -> Draw {
        self.counters.calls[method.index()].fetch_add(1, Ordering::Relaxed);
        let mut draw = Draw::default();
        let mut rules = self.rules.lock();
        for rule in rules.iter_mut().filter(|r| r.method == method) {
            let taken = match &rule.action {
                Action::Delay(d) if draw.delay.is_none() => {
                    draw.delay = Some(*d);
                    true
                }
                Action::Fail(e) if draw.fail.is_none() => {
                    draw.fail = Some(e.clone());
                    true
                }
                Action::Body(f) if draw.body.is_none() => {
                    draw.body = Some(*f);
                    true
                }
                _ => false,
            };
            if taken {
                if let Some(n) = &mut rule.remaining {
                    *n -= 1;
                }
            }
        }
        rules.retain(|r| r.remaining != Some(0));
        draw
    }

    /// Applies the delay and failure of a draw; returns the body fault to apply, if any.
    async fn before(&self, method: Method) -> Result<Option<BodyFault>, RemoteError> {
        let draw = self.draw(method);
        if let Some(d) = draw.delay {
            inc(&self.counters.faults.delayed);
            tokio::time::sleep(d).await;
        }
        if let Some(e) = draw.fail {
            inc(&self.counters.faults.failed);
            return Err(e);
        }
        Ok(draw.body)
    }

    fn wrap(&self, body: ByteStream, fault: Option<BodyFault>) -> ByteStream {
        match fault {
            None => body,
            Some(f) => faulty_stream(body, f, self.counters.clone()),
        }
    }
}

/// `inner` with `fault` applied as its bytes pass.
fn faulty_stream(inner: ByteStream, fault: BodyFault, counters: Arc<Counters>) -> ByteStream {
    let cut_at = match fault {
        BodyFault::Truncate { after }
        | BodyFault::EndEarly { after }
        | BodyFault::Stall { after } => Some(after),
        BodyFault::FlipByte { .. } => None,
    };
    let state = (inner, 0u64, false);
    Box::pin(futures::stream::unfold(
        state,
        move |(mut inner, pos, done)| {
            let counters = counters.clone();
            async move {
                if done {
                    return None;
                }
                if cut_at.is_some_and(|at| pos >= at) {
                    match fault {
                        BodyFault::Truncate { .. } => {
                            inc(&counters.faults.truncated);
                            let e = RemoteError::Transient(format!(
                                "injected truncation after {pos} bytes"
                            ));
                            return Some((Err(e), (inner, pos, true)));
                        }
                        BodyFault::EndEarly { .. } => {
                            inc(&counters.faults.ended_early);
                            return None;
                        }
                        _ => {
                            inc(&counters.faults.stalled);
                            futures::future::pending::<()>().await;
                            unreachable!("pending() never completes");
                        }
                    }
                }
                let mut piece: Bytes = match inner.next().await? {
                    Ok(p) => p,
                    Err(e) => return Some((Err(e), (inner, pos, true))),
                };
                if let Some(at) = cut_at {
                    if pos + piece.len() as u64 > at {
                        piece = piece.slice(..(at - pos) as usize);
                    }
                }
                if let BodyFault::FlipByte { offset } = fault {
                    if (pos..pos + piece.len() as u64).contains(&offset) {
                        let mut m = BytesMut::from(&piece[..]);
                        m[(offset - pos) as usize] ^= 0xFF;
                        piece = m.freeze();
                        inc(&counters.faults.flipped);
                    }
                }
                let next = pos + piece.len() as u64;
                Some((Ok(piece), (inner, next, false)))
            }
        },
    ))
}

#[async_trait::async_trait]
impl Remote for FaultyRemote {
    async fn resolve_revision(&self, repo: &RepoId, rev: &str) -> Result<String, RemoteError> {
        self.before(Method::ResolveRevision).await?;
        self.inner.resolve_revision(repo, rev).await
    }

    async fn list_tree(&self, repo: &RepoId, commit: &str) -> Result<Vec<TreeEntry>, RemoteError> {
        self.before(Method::ListTree).await?;
        self.inner.list_tree(repo, commit).await
    }

    async fn file_metadata(
        &self,
        repo: &RepoId,
        commit: &str,
        path: &str,
    ) -> Result<FileMetadata, RemoteError> {
        self.before(Method::FileMetadata).await?;
        self.inner.file_metadata(repo, commit, path).await
    }

    async fn get_file(
        &self,
        repo: &RepoId,
        commit: &str,
        path: &str,
        range: Option<ByteRange>,
    ) -> Result<RangeBody, RemoteError> {
        let fault = self.before(Method::GetFile).await?;
        let r = self.inner.get_file(repo, commit, path, range).await?;
        Ok(RangeBody {
            body: self.wrap(r.body, fault),
            ..r
        })
    }

    async fn reconstruction(
        &self,
        scope: &RepoScope,
        file: &MerkleHash,
        range: Range<u64>,
    ) -> Result<ReconstructionV2, RemoteError> {
        self.before(Method::Reconstruction).await?;
        self.inner.reconstruction(scope, file, range).await
    }

    async fn fetch_xorb_range(
        &self,
        url: &str,
        range: ByteRange,
    ) -> Result<ByteStream, RemoteError> {
        let fault = self.before(Method::FetchXorbRange).await?;
        let body = self.inner.fetch_xorb_range(url, range).await?;
        Ok(self.wrap(body, fault))
    }

    async fn xorb_chunk_hashes(
        &self,
        scope: &RepoScope,
        xorb: &MerkleHash,
    ) -> Result<Option<Vec<(MerkleHash, u32)>>, RemoteError> {
        self.before(Method::XorbChunkHashes).await?;
        self.inner.xorb_chunk_hashes(scope, xorb).await
    }
}

#[cfg(test)]
mod tests;
