//! Unit tests of the faulty remote.

use super::*;

/// Answers every call with fixed data; `fetch_xorb_range` yields bytes `0..len` in pieces.
struct Stub {
    calls: AtomicU64,
}

#[async_trait::async_trait]
impl Remote for Stub {
    async fn resolve_revision(&self, _: &RepoId, _: &str) -> Result<String, RemoteError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok("c".repeat(40))
    }
    async fn list_tree(&self, _: &RepoId, _: &str) -> Result<Vec<TreeEntry>, RemoteError> {
        Ok(Vec::new())
    }
    async fn file_metadata(
        &self,
        _: &RepoId,
        _: &str,
        _: &str,
    ) -> Result<FileMetadata, RemoteError> {
        Err(RemoteError::NotFound("stub".into()))
    }
    async fn get_file(
        &self,
        _: &RepoId,
        _: &str,
        _: &str,
        _: Option<ByteRange>,
    ) -> Result<RangeBody, RemoteError> {
        Ok(RangeBody {
            start: 0,
            len: 100,
            body: pieces(100),
        })
    }
    async fn reconstruction(
        &self,
        _: &RepoScope,
        _: &MerkleHash,
        _: Range<u64>,
    ) -> Result<ReconstructionV2, RemoteError> {
        Err(RemoteError::RangeNotSatisfiable)
    }
    async fn fetch_xorb_range(&self, _: &str, range: ByteRange) -> Result<ByteStream, RemoteError> {
        Ok(pieces(range.len()))
    }
}

fn pieces(len: u64) -> ByteStream {
    let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
    let parts: Vec<Result<Bytes, RemoteError>> = data
        .chunks(30)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    Box::pin(futures::stream::iter(parts))
}

fn faulty() -> (FaultyRemote, Arc<Stub>) {
    let stub = Arc::new(Stub {
        calls: AtomicU64::new(0),
    });
    (FaultyRemote::new(stub.clone()), stub)
}

fn range(len: u64) -> ByteRange {
    ByteRange {
        start: 0,
        end: len - 1,
    }
}

async fn collect(mut s: ByteStream) -> (Vec<u8>, Option<RemoteError>) {
    let mut out = Vec::new();
    while let Some(item) = s.next().await {
        match item {
            Ok(b) => out.extend_from_slice(&b),
            Err(e) => return (out, Some(e)),
        }
    }
    (out, None)
}

#[tokio::test]
async fn fails_exactly_the_next_n_calls() {
    let (f, stub) = faulty();
    let repo = RepoId::model("a/b");
    f.fail_next(
        Method::ResolveRevision,
        2,
        RemoteError::Transient("x".into()),
    );
    assert!(f.resolve_revision(&repo, "main").await.is_err());
    assert!(f.resolve_revision(&repo, "main").await.is_err());
    assert!(f.resolve_revision(&repo, "main").await.is_ok());
    assert_eq!(stub.calls.load(Ordering::SeqCst), 1);
    assert_eq!(f.calls(Method::ResolveRevision), 3);
    assert_eq!(f.stats().failed, 2);
    // Other methods are untouched.
    assert!(f.list_tree(&repo, "c").await.is_ok());
}

#[tokio::test]
async fn always_rules_last_until_cleared() {
    let (f, _) = faulty();
    f.fail_always(Method::ListTree, RemoteError::Offline("x".into()));
    let repo = RepoId::model("a/b");
    for _ in 0..3 {
        assert!(matches!(
            f.list_tree(&repo, "c").await,
            Err(RemoteError::Offline(_))
        ));
    }
    f.clear();
    assert!(f.list_tree(&repo, "c").await.is_ok());
    assert_eq!(f.stats().failed, 3);
}

#[tokio::test(start_paused = true)]
async fn delays_are_applied() {
    let (f, _) = faulty();
    f.delay_next(Method::ResolveRevision, 1, Duration::from_secs(3600));
    let started = tokio::time::Instant::now();
    f.resolve_revision(&RepoId::model("a/b"), "main")
        .await
        .unwrap();
    // Paused clock: the virtual time advanced by exactly the injected delay.
    assert!(started.elapsed() >= Duration::from_secs(3600));
    assert_eq!(f.stats().delayed, 1);
}

#[tokio::test]
async fn truncation_and_early_end() {
    let (f, _) = faulty();
    f.body_fault_next(Method::FetchXorbRange, 1, BodyFault::Truncate { after: 45 });
    let (got, err) = collect(f.fetch_xorb_range("u", range(100)).await.unwrap()).await;
    assert_eq!(got.len(), 45);
    assert!(matches!(err, Some(RemoteError::Transient(_))));
    f.body_fault_next(Method::FetchXorbRange, 1, BodyFault::EndEarly { after: 10 });
    let (got, err) = collect(f.fetch_xorb_range("u", range(100)).await.unwrap()).await;
    assert_eq!((got.len(), err), (10, None));
    // Rules were used up: the next body is whole.
    let (got, err) = collect(f.fetch_xorb_range("u", range(100)).await.unwrap()).await;
    assert_eq!((got.len(), err), (100, None));
    let s = f.stats();
    assert_eq!((s.truncated, s.ended_early), (1, 1));
}

#[tokio::test]
async fn flips_one_byte() {
    let (f, _) = faulty();
    f.body_fault_next(Method::GetFile, 1, BodyFault::FlipByte { offset: 61 });
    let r = f
        .get_file(&RepoId::model("a/b"), "c", "p", None)
        .await
        .unwrap();
    let (got, err) = collect(r.body).await;
    assert!(err.is_none());
    let want: Vec<u8> = (0..100u8).collect();
    let diff: Vec<usize> = (0..100).filter(|&i| got[i] != want[i]).collect();
    assert_eq!(diff, vec![61]);
    assert_eq!(got[61], !want[61]);
    assert_eq!(f.stats().flipped, 1);
}

#[tokio::test(start_paused = true)]
async fn stall_never_finishes() {
    let (f, _) = faulty();
    f.body_fault_next(Method::FetchXorbRange, 1, BodyFault::Stall { after: 30 });
    let mut s = f.fetch_xorb_range("u", range(100)).await.unwrap();
    assert_eq!(s.next().await.unwrap().unwrap().len(), 30);
    let next = tokio::time::timeout(Duration::from_secs(3600), s.next()).await;
    assert!(next.is_err(), "a stalled body must not yield");
    assert_eq!(f.stats().stalled, 1);
}

#[tokio::test]
async fn expired_urls() {
    let (f, _) = faulty();
    f.expire_urls_next(1);
    assert!(matches!(
        f.fetch_xorb_range("u", range(10)).await,
        Err(RemoteError::UrlExpired)
    ));
    assert!(f.fetch_xorb_range("u", range(10)).await.is_ok());
}
