use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::*;
use crate::cache::metadata::MetadataStore;
use crate::hub::{EntryKind, FileContent, FileMetadata, RepoId, TreeEntry};
use crate::remote::{ByteStream, RangeBody, Remote, RemoteError};
use crate::xet::reconstruction::{ByteRange, ReconstructionV2};
use crate::xet::MerkleHash;

const HOUR: Duration = Duration::from_secs(3600);

/// A Hub in memory that counts calls; `fail` makes every call fail with that error.
#[derive(Default)]
struct FakeHub {
    branches: Mutex<HashMap<String, String>>,
    trees: Mutex<HashMap<String, Vec<TreeEntry>>>,
    fail: Mutex<Option<RemoteError>>,
    /// When set, resolve calls wait for a permit (to pile up concurrent callers).
    gate: Option<Arc<tokio::sync::Semaphore>>,
    resolves: AtomicU64,
    lists: AtomicU64,
    heads: AtomicU64,
}

fn commit(n: u8) -> String {
    format!("{n:02x}").repeat(20)
}

fn file(path: &str, oid: &str) -> TreeEntry {
    TreeEntry {
        path: path.into(),
        kind: EntryKind::File,
        size: 5,
        oid: oid.into(),
        xet_hash: None,
        xet_redacted: false,
        lfs_sha256: None,
    }
}

impl FakeHub {
    fn with_repo() -> Self {
        let hub = FakeHub::default();
        hub.set_branch("main", 1, vec![file("a.txt", "oid-a1")]);
        hub
    }

    fn set_branch(&self, branch: &str, n: u8, entries: Vec<TreeEntry>) {
        self.branches.lock().insert(branch.into(), commit(n));
        self.trees.lock().insert(commit(n), entries);
    }

    fn check(&self) -> Result<(), RemoteError> {
        match self.fail.lock().clone() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn calls(&self) -> (u64, u64, u64) {
        (
            self.resolves.load(Ordering::SeqCst),
            self.lists.load(Ordering::SeqCst),
            self.heads.load(Ordering::SeqCst),
        )
    }
}

#[async_trait::async_trait]
impl Remote for FakeHub {
    async fn resolve_revision(&self, _repo: &RepoId, rev: &str) -> Result<String, RemoteError> {
        self.resolves.fetch_add(1, Ordering::SeqCst);
        if let Some(gate) = &self.gate {
            let _permit = gate.acquire().await.unwrap();
        }
        self.check()?;
        self.branches
            .lock()
            .get(rev)
            .cloned()
            .ok_or_else(|| RemoteError::NotFound(rev.into()))
    }

    async fn list_tree(&self, _repo: &RepoId, commit: &str) -> Result<Vec<TreeEntry>, RemoteError> {
        self.lists.fetch_add(1, Ordering::SeqCst);
        self.check()?;
        self.trees
            .lock()
            .get(commit)
            .cloned()
            .ok_or_else(|| RemoteError::NotFound(commit.into()))
    }

    async fn file_metadata(
        &self,
        _repo: &RepoId,
        commit: &str,
        _path: &str,
    ) -> Result<FileMetadata, RemoteError> {
        self.heads.fetch_add(1, Ordering::SeqCst);
        self.check()?;
        Ok(FileMetadata {
            commit: commit.into(),
            size: 5,
            etag: "e".repeat(64),
            xet_hash: Some(MerkleHash::from_bytes([3; 32])),
        })
    }

    async fn get_file(
        &self,
        _: &RepoId,
        _: &str,
        _: &str,
        _: Option<ByteRange>,
    ) -> Result<RangeBody, RemoteError> {
        Err(RemoteError::NotFound("not in this test".into()))
    }

    async fn reconstruction(
        &self,
        _: &RepoScope,
        _: &MerkleHash,
        _: Range<u64>,
    ) -> Result<ReconstructionV2, RemoteError> {
        Err(RemoteError::NotFound("not in this test".into()))
    }

    async fn fetch_xorb_range(&self, _: &str, _: ByteRange) -> Result<ByteStream, RemoteError> {
        Err(RemoteError::NotFound("not in this test".into()))
    }
}

fn repo() -> RepoId {
    RepoId::model("org/name")
}

fn catalog(
    hub: &Arc<FakeHub>,
    ttl: Duration,
    meta: Option<MetadataStore>,
    offline: bool,
) -> HubCatalog {
    catalog_with(hub, meta, config(ttl, offline))
}

fn config(metadata_ttl: Duration, offline: bool) -> CatalogConfig {
    CatalogConfig {
        metadata_ttl,
        offline,
        ..CatalogConfig::default()
    }
}

fn catalog_with(hub: &Arc<FakeHub>, meta: Option<MetadataStore>, c: CatalogConfig) -> HubCatalog {
    HubCatalog::new(hub.clone(), meta, c)
}

fn oid_of(snap: &RepoSnapshot, name: &str) -> String {
    match snap.child("", name) {
        Some(SnapshotEntry::File(f)) => f.oid.clone(),
        other => panic!("{name}: {other:?}"),
    }
}

#[tokio::test]
async fn branch_is_resolved_once_per_ttl_and_tree_once_per_commit() {
    let hub = Arc::new(FakeHub::with_repo());
    let long = catalog(&hub, HOUR, None, false);
    for _ in 0..3 {
        let s = long.snapshot(&repo(), "main").await.unwrap();
        assert_eq!(s.scope.commit, commit(1));
    }
    assert_eq!(hub.calls(), (1, 1, 0));
    assert!(long.fresh_snapshot(&repo(), "main").is_some());

    // TTL zero: every lookup re-resolves, but an unchanged commit is never listed again.
    let hub = Arc::new(FakeHub::with_repo());
    let zero = catalog(&hub, Duration::ZERO, None, false);
    for _ in 0..3 {
        zero.snapshot(&repo(), "main").await.unwrap();
    }
    assert_eq!(hub.calls(), (3, 1, 0));
    assert!(zero.fresh_snapshot(&repo(), "main").is_none());
}

#[tokio::test]
async fn pinned_commit_is_never_resolved() {
    let hub = Arc::new(FakeHub::with_repo());
    let cat = catalog(&hub, Duration::ZERO, None, false);
    for _ in 0..3 {
        let s = cat.snapshot(&repo(), &commit(1)).await.unwrap();
        assert_eq!(oid_of(&s, "a.txt"), "oid-a1");
    }
    assert_eq!(hub.calls(), (0, 1, 0));
    assert!(cat.fresh_snapshot(&repo(), &commit(1)).is_some());
}

#[tokio::test]
async fn branch_move_gives_a_new_snapshot_and_keeps_the_old() {
    let hub = Arc::new(FakeHub::with_repo());
    let cat = catalog(&hub, Duration::ZERO, None, false);
    let old = cat.snapshot(&repo(), "main").await.unwrap();
    hub.set_branch("main", 2, vec![file("a.txt", "oid-a2")]);
    let new = cat.snapshot(&repo(), "main").await.unwrap();
    assert_eq!(new.scope.commit, commit(2));
    assert_eq!(oid_of(&new, "a.txt"), "oid-a2");
    assert_eq!(oid_of(&old, "a.txt"), "oid-a1");
    assert_eq!(hub.calls(), (2, 2, 0));
}

#[tokio::test]
async fn concurrent_lookups_make_one_call() {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let hub = Arc::new(FakeHub {
        gate: Some(gate.clone()),
        ..FakeHub::with_repo()
    });
    let cat = Arc::new(catalog(&hub, HOUR, None, false));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let cat = cat.clone();
            tokio::spawn(async move { cat.snapshot(&repo(), "main").await })
        })
        .collect();
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    gate.add_permits(100);
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().scope.commit, commit(1));
    }
    assert_eq!(hub.calls(), (1, 1, 0));
    assert_eq!(cat.flights.len(), 0, "finished flights are forgotten");
}

#[tokio::test]
async fn not_found_is_remembered_briefly() {
    let hub = Arc::new(FakeHub::with_repo());
    let cat = catalog(&hub, HOUR, None, false);
    for _ in 0..3 {
        let e = cat.snapshot(&repo(), "nope").await.unwrap_err();
        assert!(matches!(e, RemoteError::NotFound(_)), "{e:?}");
    }
    assert_eq!(hub.calls(), (1, 0, 0));
    assert_eq!(cat.stats().counts.negative_hits, 2);

    let no_memory = CatalogConfig {
        negative_ttl: Duration::ZERO,
        ..config(HOUR, false)
    };
    let cat = catalog_with(&hub, None, no_memory);
    for _ in 0..2 {
        assert!(cat.snapshot(&repo(), "nope").await.is_err());
    }
    assert_eq!(hub.calls(), (3, 0, 0));

    // A commit that does not exist: negative too.
    let cat = catalog(&hub, HOUR, None, false);
    for _ in 0..2 {
        assert!(cat.snapshot(&repo(), &commit(9)).await.is_err());
    }
    assert_eq!(hub.calls(), (3, 1, 0));
}

#[tokio::test]
async fn offline_serves_what_was_persisted() {
    let dir = tempfile::tempdir().unwrap();
    let store = || Some(MetadataStore::open(dir.path()).unwrap());
    let hub = Arc::new(FakeHub::with_repo());
    catalog(&hub, HOUR, store(), false)
        .snapshot(&repo(), "main")
        .await
        .unwrap();
    assert_eq!(hub.calls(), (1, 1, 0));

    let idle = Arc::new(FakeHub::default());
    let offline = catalog(&idle, Duration::ZERO, store(), true);
    let s = offline.snapshot(&repo(), "main").await.unwrap();
    assert_eq!(s.scope.commit, commit(1));
    assert_eq!(oid_of(&s, "a.txt"), "oid-a1");
    let s = offline.snapshot(&repo(), &commit(1)).await.unwrap();
    assert_eq!(s.scope.commit, commit(1));
    let e = offline.snapshot(&repo(), "other").await.unwrap_err();
    assert!(matches!(e, RemoteError::Offline(_)), "{e:?}");
    let e = offline
        .snapshot(&RepoId::model("org/unknown"), &commit(1))
        .await
        .unwrap_err();
    assert!(matches!(e, RemoteError::Offline(_)), "{e:?}");
    assert_eq!(idle.calls(), (0, 0, 0), "offline never calls the Hub");
}

#[tokio::test]
async fn restart_within_ttl_needs_no_hub_call() {
    let dir = tempfile::tempdir().unwrap();
    let store = || Some(MetadataStore::open(dir.path()).unwrap());
    let hub = Arc::new(FakeHub::with_repo());
    catalog(&hub, HOUR, store(), false)
        .snapshot(&repo(), "main")
        .await
        .unwrap();
    let again = catalog(&hub, HOUR, store(), false);
    again.snapshot(&repo(), "main").await.unwrap();
    assert_eq!(hub.calls(), (1, 1, 0));
    // With a zero TTL the restarted catalog asks again, but the tree comes from the store.
    let zero = catalog(&hub, Duration::ZERO, store(), false);
    zero.snapshot(&repo(), "main").await.unwrap();
    assert_eq!(hub.calls(), (2, 1, 0));
    assert_eq!(zero.stats().counts.loaded_from_store, 1);
}

#[tokio::test]
async fn unreachable_hub_serves_the_last_known_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = || Some(MetadataStore::open(dir.path()).unwrap());
    let hub = Arc::new(FakeHub::with_repo());
    let cat = catalog(&hub, Duration::ZERO, store(), false);
    cat.snapshot(&repo(), "main").await.unwrap();

    *hub.fail.lock() = Some(RemoteError::Transient("connection refused".into()));
    let s = cat.snapshot(&repo(), "main").await.unwrap();
    assert_eq!(s.scope.commit, commit(1));
    assert_eq!(cat.stats().counts.served_stale, 1);
    // After a restart too, from the store.
    let restarted = catalog(&hub, Duration::ZERO, store(), false);
    let s = restarted.snapshot(&repo(), "main").await.unwrap();
    assert_eq!(s.scope.commit, commit(1));
    // Without anything known, the failure is the answer.
    let e = cat.snapshot(&repo(), "dev").await.unwrap_err();
    assert!(e.is_retryable(), "{e:?}");

    // A definite "gone" is not papered over with stale data.
    *hub.fail.lock() = Some(RemoteError::NotFound("main".into()));
    let e = cat.snapshot(&repo(), "main").await.unwrap_err();
    assert!(matches!(e, RemoteError::NotFound(_)), "{e:?}");
}

#[tokio::test]
async fn hub_call_deadline_is_enforced() {
    let gate = Arc::new(tokio::sync::Semaphore::new(0)); // never opened: the Hub hangs
    let hub = Arc::new(FakeHub {
        gate: Some(gate),
        ..FakeHub::with_repo()
    });
    let short = CatalogConfig {
        call_timeout: Duration::from_millis(50),
        ..config(HOUR, false)
    };
    let cat = catalog_with(&hub, None, short);
    let e = cat.snapshot(&repo(), "main").await.unwrap_err();
    assert!(matches!(e, RemoteError::Timeout(_)), "{e:?}");
}

#[tokio::test]
async fn redacted_hash_is_looked_up_once_and_persisted() {
    let dir = tempfile::tempdir().unwrap();
    let store = || Some(MetadataStore::open(dir.path()).unwrap());
    let hub = Arc::new(FakeHub::default());
    let mut hidden = file("m.bin", "oid-m");
    hidden.xet_redacted = true;
    hub.set_branch("main", 1, vec![hidden]);
    let cat = Arc::new(catalog(&hub, HOUR, store(), false));
    let snap = cat.snapshot(&repo(), "main").await.unwrap();
    let Some(SnapshotEntry::File(f)) = snap.child("", "m.bin").cloned() else {
        panic!()
    };
    let descs = futures::future::join_all((0..5).map(|_| cat.file_desc(&f))).await;
    for d in descs {
        let d = d.unwrap();
        assert_eq!(
            d.content,
            FileContent::Xet {
                hash: MerkleHash::from_bytes([3; 32])
            }
        );
    }
    assert_eq!(hub.calls(), (1, 1, 1));

    // Offline after a restart: the persisted answer is enough.
    let idle = Arc::new(FakeHub::default());
    let offline = catalog(&idle, HOUR, store(), true);
    let snap = offline.snapshot(&repo(), "main").await.unwrap();
    let Some(SnapshotEntry::File(f)) = snap.child("", "m.bin").cloned() else {
        panic!()
    };
    assert!(offline.file_desc(&f).await.is_ok());
    assert_eq!(idle.calls(), (0, 0, 0));
}

#[tokio::test]
async fn resolve_and_describe_answer_front_ends() {
    let hub = Arc::new(FakeHub::default());
    let mut lfs = file("dir/w.bin", "oid-w");
    lfs.xet_hash = Some(MerkleHash::from_bytes([5; 32]));
    hub.set_branch("main", 4, vec![file("a.txt", "oid-a"), lfs]);
    let cat: Arc<dyn RepoCatalog> = Arc::new(catalog(&hub, HOUR, None, false));
    let scope = cat.resolve(&repo(), "main").await.unwrap();
    assert_eq!(scope.commit, commit(4));
    let desc = cat.describe(&repo(), "main", "dir/w.bin").await.unwrap();
    assert_eq!((desc.path.as_str(), desc.size), ("dir/w.bin", 5));
    assert_eq!(
        desc.content,
        FileContent::Xet {
            hash: MerkleHash::from_bytes([5; 32])
        }
    );
    let plain = cat.describe(&repo(), &commit(4), "a.txt").await.unwrap();
    assert!(matches!(&plain.content, FileContent::Plain { oid, .. } if oid == "oid-a"));
    let e = cat.describe(&repo(), "main", "dir").await.unwrap_err();
    assert!(matches!(e, RemoteError::NotFound(_)), "{e:?}");
    assert_eq!(hub.calls(), (1, 1, 0), "one resolve, one listing");
}
