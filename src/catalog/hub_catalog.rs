//! [`HubCatalog`]: revision → commit → tree over a [`Remote`].
//!
//! - A 40-hex revision is a commit: immutable, never re-asked. Branches and tags are re-resolved
//!   once `metadata_ttl` has passed since they were last checked.
//! - A tree is listed once per commit (immutable) and kept in memory (bounded) and in the
//!   metadata store, together with each revision's last resolution, so `offline` mode and an
//!   unreachable Hub serve the last known state.
//! - Concurrent lookups of the same revision or commit make one Hub call; definite answers
//!   (not found, unauthorized, forbidden) are remembered briefly.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::flight::Flights;
use super::records::{tree_key, FileRecord, Records, TreeRecord};
use super::revisions::{unix_now, KnownRev, Revisions};
use super::snapshot::{RepoSnapshot, SnapshotFile};
use super::stats::{CatalogCounters, CatalogStats};
use super::RepoCatalog;
use crate::cache::metadata::MetadataStore;
use crate::hub::{is_commit_id, FileContent, FileDesc, RepoId, RepoScope};
use crate::metrics::inc;
use crate::remote::{Remote, RemoteError};

/// Bound of the in-memory snapshot cache, in tree entries (~200 bytes each).
const SNAPSHOT_CACHE_ENTRIES: u64 = 2_000_000;

/// How the catalog treats time and the network.
#[derive(Debug, Clone)]
pub struct CatalogConfig {
    /// How long a branch or tag keeps resolving to the same commit before the Hub is asked again.
    pub metadata_ttl: Duration,
    /// How long a definite "no" from the Hub is remembered (never longer than `metadata_ttl`).
    pub negative_ttl: Duration,
    /// Deadline of one catalog call to the Hub (a resolve, or a whole paginated listing); the
    /// remote's per-request deadlines are shorter.
    pub call_timeout: Duration,
    /// Never call the Hub: answer from memory and the metadata store.
    pub offline: bool,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        CatalogConfig {
            metadata_ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(10),
            // A whole paginated listing of a very large repo.
            call_timeout: Duration::from_secs(300),
            offline: false,
        }
    }
}

/// Revision → commit → tree, cached, persisted and single-flight. See the module docs.
pub struct HubCatalog {
    remote: Arc<dyn Remote>,
    config: CatalogConfig,
    records: Records,
    revs: Revisions,
    snapshots: moka::sync::Cache<String, Arc<RepoSnapshot>>,
    pub(super) flights: Flights,
    counters: CatalogCounters,
}

impl HubCatalog {
    pub fn new(
        remote: Arc<dyn Remote>,
        meta: Option<MetadataStore>,
        config: CatalogConfig,
    ) -> Self {
        HubCatalog {
            remote,
            records: Records::new(meta),
            revs: Revisions::new(config.metadata_ttl, config.negative_ttl),
            config,
            snapshots: moka::sync::Cache::builder()
                .max_capacity(SNAPSHOT_CACHE_ENTRIES)
                .weigher(|_, s: &Arc<RepoSnapshot>| s.len().clamp(1, u32::MAX as usize) as u32)
                .build(),
            flights: Flights::default(),
            counters: CatalogCounters::default(),
        }
    }

    /// Resolves `rev` (unless fresh), lists the commit; on a Hub failure that is not a definite
    /// "no", falls back to the last known commit.
    async fn refresh(&self, repo: &RepoId, rev: &str) -> Result<Arc<RepoSnapshot>, RemoteError> {
        if is_commit_id(rev) {
            return self.listing(repo, rev).await.inspect_err(|e| {
                if is_definite(e) {
                    self.revs.set_missing(repo, rev, e.clone());
                }
            });
        }
        let last = self.last_known(repo, rev);
        let error = match self.resolve_now(repo, rev, last.as_ref()).await {
            Ok(known) => match self.listing(repo, &known.commit).await {
                Ok(snap) => {
                    self.remember(repo, rev, known);
                    return Ok(snap);
                }
                Err(e) => e,
            },
            Err(e) => e,
        };
        if is_definite(&error) {
            self.revs.set_missing(repo, rev, error.clone());
            return Err(error);
        }
        match last {
            Some(last) => self.serve_stale(repo, rev, last, error).await,
            None => Err(error),
        }
    }

    /// The commit `rev` names: the last known one if still fresh (e.g. resolved before a
    /// restart), else the Hub's answer.
    async fn resolve_now(
        &self,
        repo: &RepoId,
        rev: &str,
        last: Option<&KnownRev>,
    ) -> Result<KnownRev, RemoteError> {
        if let Some(l) = last.filter(|l| self.revs.is_fresh(l)) {
            return Ok(l.clone());
        }
        if self.config.offline {
            return Err(RemoteError::Offline(format!(
                "{repo}@{rev} was never resolved on this machine"
            )));
        }
        inc(&self.counters.resolve_calls);
        let commit = self
            .deadline(self.remote.resolve_revision(repo, rev))
            .await?;
        if !is_commit_id(&commit) {
            return Err(RemoteError::Protocol(format!(
                "revision {rev} resolved to {commit:?}, not a commit id"
            )));
        }
        Ok(KnownRev::now(commit))
    }

    /// The Hub is unreachable (or we are offline): the last known commit's tree.
    async fn serve_stale(
        &self,
        repo: &RepoId,
        rev: &str,
        last: KnownRev,
        error: RemoteError,
    ) -> Result<Arc<RepoSnapshot>, RemoteError> {
        let snap = self
            .listing(repo, &last.commit)
            .await
            .map_err(|_| error.clone())?;
        if !self.config.offline {
            tracing::warn!(%repo, rev, commit = %last.commit, %error, "Hub unreachable: serving the last known commit");
            inc(&self.counters.served_stale);
        }
        // Ask again after another TTL, not on every lookup.
        let checked = KnownRev {
            checked: Some(std::time::Instant::now()),
            ..last
        };
        self.remember(repo, rev, checked);
        Ok(snap)
    }

    /// The tree of `repo` at `commit`: memory, then the store, then the Hub.
    async fn listing(&self, repo: &RepoId, commit: &str) -> Result<Arc<RepoSnapshot>, RemoteError> {
        let key = tree_key(repo, commit);
        if let Some(s) = self.snapshots.get(&key) {
            return Ok(s);
        }
        let _flight = self.flights.enter(&format!("tree:{key}")).await;
        if let Some(s) = self.snapshots.get(&key) {
            return Ok(s);
        }
        let tree = self.tree_record(repo, commit).await?;
        let scope = RepoScope {
            repo: repo.clone(),
            commit: commit.to_string(),
        };
        let first_seen = SystemTime::UNIX_EPOCH + Duration::from_secs(tree.first_seen);
        let snap = Arc::new(RepoSnapshot::build(scope, first_seen, &tree.entries));
        self.snapshots.insert(key, snap.clone());
        Ok(snap)
    }

    async fn tree_record(&self, repo: &RepoId, commit: &str) -> Result<TreeRecord, RemoteError> {
        if let Some(tree) = self.records.tree(repo, commit) {
            inc(&self.counters.loaded_from_store);
            return Ok(tree);
        }
        if self.config.offline {
            return Err(RemoteError::Offline(format!(
                "the tree of {repo} at {commit} is not in the offline cache"
            )));
        }
        inc(&self.counters.tree_calls);
        let entries = self.deadline(self.remote.list_tree(repo, commit)).await?;
        let tree = TreeRecord {
            first_seen: unix_now(),
            entries,
        };
        self.records.put_tree(repo, commit, &tree);
        Ok(tree)
    }

    async fn describe_redacted(&self, file: &SnapshotFile) -> Result<Arc<FileDesc>, RemoteError> {
        let meta = self.file_record(file).await?;
        if meta.size != file.size {
            return Err(RemoteError::Protocol(format!(
                "{}: the tree lists {} bytes but the file metadata says {}",
                file.path, file.size, meta.size
            )));
        }
        let content = match meta.xet_hash {
            Some(hash) => FileContent::Xet { hash },
            None => FileContent::Plain {
                oid: file.oid.clone(),
                sha256: file.sha256.clone().or_else(|| sha256_etag(&meta.etag)),
            },
        };
        Ok(Arc::new(FileDesc {
            scope: file.scope.clone(),
            path: file.path.clone(),
            size: file.size,
            content,
        }))
    }

    /// The resolve HEAD's answer for `file`: from the store, else from the Hub (persisted).
    async fn file_record(&self, file: &SnapshotFile) -> Result<FileRecord, RemoteError> {
        let scope = &file.scope;
        if let Some(m) = self.records.file(scope, &file.path) {
            return Ok(m);
        }
        if self.config.offline {
            return Err(RemoteError::Offline(format!(
                "{}/{} needs a Hub call and is not in the offline cache",
                scope.repo, file.path
            )));
        }
        inc(&self.counters.file_metadata_calls);
        let head = self
            .remote
            .file_metadata(&scope.repo, &scope.commit, &file.path);
        let m = self.deadline(head).await?;
        let record = FileRecord {
            size: m.size,
            etag: m.etag,
            xet_hash: m.xet_hash,
        };
        self.records.put_file(scope, &file.path, &record);
        Ok(record)
    }

    /// The last resolution of a revision: in memory, else from the store.
    fn last_known(&self, repo: &RepoId, rev: &str) -> Option<KnownRev> {
        self.revs
            .known(repo, rev)
            .or_else(|| KnownRev::from_record(self.records.rev(repo, rev)?))
    }

    fn remember(&self, repo: &RepoId, rev: &str, known: KnownRev) {
        let record = known.record();
        if self.revs.remember(repo, rev, known) {
            self.records.put_rev(repo, rev, &record);
        }
    }

    fn negative(&self, repo: &RepoId, rev: &str) -> Option<RemoteError> {
        let e = self.revs.negative(repo, rev)?;
        inc(&self.counters.negative_hits);
        Some(e)
    }

    async fn deadline<T>(
        &self,
        call: impl Future<Output = Result<T, RemoteError>>,
    ) -> Result<T, RemoteError> {
        let timeout = self.config.call_timeout;
        tokio::time::timeout(timeout, call)
            .await
            .unwrap_or_else(|_| {
                Err(RemoteError::Timeout(format!(
                    "no answer from the Hub within {timeout:?}"
                )))
            })
    }
}

#[async_trait::async_trait]
impl RepoCatalog for HubCatalog {
    fn fresh_snapshot(&self, repo: &RepoId, rev: &str) -> Option<Arc<RepoSnapshot>> {
        let commit = if is_commit_id(rev) {
            rev.to_string()
        } else {
            self.revs.fresh_commit(repo, rev)?
        };
        self.snapshots.get(&tree_key(repo, &commit))
    }

    async fn snapshot(&self, repo: &RepoId, rev: &str) -> Result<Arc<RepoSnapshot>, RemoteError> {
        if let Some(s) = self.fresh_snapshot(repo, rev) {
            return Ok(s);
        }
        if let Some(e) = self.negative(repo, rev) {
            return Err(e);
        }
        let _flight = self.flights.enter(&format!("rev:{repo}@{rev}")).await;
        // Whoever held the key before us may have done the work.
        if let Some(s) = self.fresh_snapshot(repo, rev) {
            return Ok(s);
        }
        if let Some(e) = self.negative(repo, rev) {
            return Err(e);
        }
        self.refresh(repo, rev).await
    }

    async fn file_desc(&self, file: &SnapshotFile) -> Result<Arc<FileDesc>, RemoteError> {
        file.desc
            .get_or_try_init(|| self.describe_redacted(file))
            .await
            .cloned()
    }

    fn metadata_ttl(&self) -> Duration {
        self.config.metadata_ttl
    }

    fn stats(&self) -> CatalogStats {
        CatalogStats {
            counts: self.counters.snapshot(),
            snapshots_in_memory: self.snapshots.entry_count(),
        }
    }
}

/// The Hub answered, and the answer is "no": retrying soon would not help.
fn is_definite(e: &RemoteError) -> bool {
    matches!(
        e,
        RemoteError::NotFound(_) | RemoteError::Unauthorized(_) | RemoteError::Forbidden(_)
    )
}

/// An ETag that is a SHA-256 (LFS objects), lower-cased.
fn sha256_etag(etag: &str) -> Option<String> {
    let e = etag.to_ascii_lowercase();
    (e.len() == 64 && e.bytes().all(|b| b.is_ascii_hexdigit())).then_some(e)
}
