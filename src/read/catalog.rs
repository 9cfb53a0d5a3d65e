//! The catalog of repo snapshots: revision → commit → tree.
//!
//! - A 40-hex revision is a commit: immutable, never re-asked. Branches and tags are re-resolved
//!   once `metadata_ttl` has passed since they were last checked.
//! - A tree is listed once per commit (immutable) and kept in memory (bounded) and in the
//!   metadata store, together with each revision's last resolution, so `offline` mode and an
//!   unreachable Hub serve the last known state.
//! - Concurrent lookups of the same revision or commit make one Hub call; definite answers
//!   (not found, unauthorized, forbidden) are remembered briefly.

mod flight;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;

use self::flight::Flights;
use super::snapshot::{RepoSnapshot, SnapshotFile};
use super::{FileContent, FileDesc};
use crate::cache::metadata::MetadataStore;
use crate::remote::{Remote, RemoteError, RepoId, RepoScope, TreeEntry};
use crate::xet::MerkleHash;

/// How long a definite "no" from the Hub is remembered (never longer than `metadata_ttl`).
const NEGATIVE_TTL: Duration = Duration::from_secs(10);
/// Default deadline of one Hub call made by the catalog.
const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound of the in-memory snapshot cache, in tree entries (~200 bytes each).
const SNAPSHOT_CACHE_ENTRIES: u64 = 2_000_000;

/// Revision → commit → tree, cached, persisted and single-flight. See the module docs.
pub struct Catalog {
    remote: Arc<dyn Remote>,
    meta: Option<MetadataStore>,
    metadata_ttl: Duration,
    negative_ttl: Duration,
    call_timeout: Duration,
    offline: bool,
    revs: Mutex<HashMap<(RepoId, String), RevState>>,
    snapshots: moka::sync::Cache<String, Arc<RepoSnapshot>>,
    flights: Flights,
    stats: Counters,
}

#[derive(Default)]
struct RevState {
    known: Option<KnownRev>,
    /// A definite failure and when it happened.
    missing: Option<(RemoteError, Instant)>,
}

#[derive(Clone)]
struct KnownRev {
    commit: String,
    /// When the revision was last checked (or fell back to this commit); `None`: long ago.
    checked: Option<Instant>,
    /// Wall-clock time of the last successful resolution (persisted).
    fetched_at: u64,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct PersistedRev {
    commit: String,
    fetched_at: u64,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct PersistedTree {
    first_seen: u64,
    entries: Vec<TreeEntry>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct PersistedFile {
    size: u64,
    etag: String,
    xet_hash: Option<MerkleHash>,
}

#[derive(Default)]
struct Counters {
    resolve_calls: AtomicU64,
    tree_calls: AtomicU64,
    file_metadata_calls: AtomicU64,
    served_stale: AtomicU64,
    negative_hits: AtomicU64,
    loaded_from_store: AtomicU64,
}

impl Catalog {
    pub fn new(
        remote: Arc<dyn Remote>,
        meta: Option<MetadataStore>,
        metadata_ttl: Duration,
        offline: bool,
    ) -> Self {
        Catalog {
            remote,
            meta,
            metadata_ttl,
            negative_ttl: NEGATIVE_TTL.min(metadata_ttl),
            call_timeout: DEFAULT_CALL_TIMEOUT,
            offline,
            revs: Mutex::new(HashMap::new()),
            snapshots: moka::sync::Cache::builder()
                .max_capacity(SNAPSHOT_CACHE_ENTRIES)
                .weigher(|_, s: &Arc<RepoSnapshot>| s.len().clamp(1, u32::MAX as usize) as u32)
                .build(),
            flights: Flights::default(),
            stats: Counters::default(),
        }
    }

    /// Deadline of each Hub call (the remote has its own; this is the last line).
    pub fn with_call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// How long a definite "no" is remembered (default 10 s, at most `metadata_ttl`).
    pub fn with_negative_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = ttl.min(self.metadata_ttl);
        self
    }

    pub fn metadata_ttl(&self) -> Duration {
        self.metadata_ttl
    }

    /// Whether `rev` names a commit (40 lowercase hex digits): such snapshots never change.
    pub fn is_commit(rev: &str) -> bool {
        rev.len() == 40 && rev.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    }

    /// The snapshot of `repo` at `rev` if it is in memory and needs no Hub call (commit, or
    /// branch checked within `metadata_ttl`). Never waits: callable from a FUSE thread.
    pub fn fresh_snapshot(&self, repo: &RepoId, rev: &str) -> Option<Arc<RepoSnapshot>> {
        let commit = if Self::is_commit(rev) {
            rev.to_string()
        } else {
            let revs = self.revs.lock();
            let known = revs.get(&(repo.clone(), rev.to_string()))?.known.as_ref()?;
            if !self.is_fresh(known) {
                return None;
            }
            known.commit.clone()
        };
        self.snapshots.get(&tree_key(repo, &commit))
    }

    /// The snapshot of `repo` at `rev` (branch, tag or commit), asking the Hub when needed.
    pub async fn snapshot(
        &self,
        repo: &RepoId,
        rev: &str,
    ) -> Result<Arc<RepoSnapshot>, RemoteError> {
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

    /// What the engine needs to read `file`. Immediate unless the listing redacted the Xet
    /// hash; then one resolve HEAD per file (persisted).
    pub async fn file_desc(&self, file: &SnapshotFile) -> Result<Arc<FileDesc>, RemoteError> {
        file.desc
            .get_or_try_init(|| self.describe_redacted(file))
            .await
            .cloned()
    }

    /// Counters for `.xetfs-stats`.
    pub fn stats_json(&self) -> serde_json::Value {
        let s = &self.stats;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        serde_json::json!({
            "resolve_calls": get(&s.resolve_calls),
            "tree_calls": get(&s.tree_calls),
            "file_metadata_calls": get(&s.file_metadata_calls),
            "served_stale": get(&s.served_stale),
            "negative_hits": get(&s.negative_hits),
            "loaded_from_store": get(&s.loaded_from_store),
            "snapshots_in_memory": self.snapshots.entry_count(),
        })
    }

    async fn refresh(&self, repo: &RepoId, rev: &str) -> Result<Arc<RepoSnapshot>, RemoteError> {
        if Self::is_commit(rev) {
            return self.listing(repo, rev).await.inspect_err(|e| {
                if is_definite(e) {
                    self.set_missing(repo, rev, e.clone());
                }
            });
        }
        let last = self.last_known(repo, rev);
        let fresh = last.as_ref().filter(|l| self.is_fresh(l));
        let resolved = if let Some(l) = fresh {
            // Resolved recently (e.g. before a restart): no need to ask again.
            Ok(l.clone())
        } else if self.offline {
            Err(RemoteError::Offline(format!(
                "{repo}@{rev} was never resolved on this machine"
            )))
        } else {
            self.stats.resolve_calls.fetch_add(1, Ordering::Relaxed);
            self.deadline(self.remote.resolve_revision(repo, rev))
                .await
                .and_then(|commit| {
                    if Self::is_commit(&commit) {
                        Ok(KnownRev {
                            commit,
                            checked: Some(Instant::now()),
                            fetched_at: unix_now(),
                        })
                    } else {
                        Err(RemoteError::Protocol(format!(
                            "revision {rev} resolved to {commit:?}, not a commit id"
                        )))
                    }
                })
        };
        let error = match resolved {
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
            self.set_missing(repo, rev, error.clone());
            return Err(error);
        }
        // The Hub is unreachable (or we are offline): serve the last known state.
        let Some(last) = last else {
            return Err(error);
        };
        let snap = self
            .listing(repo, &last.commit)
            .await
            .map_err(|_| error.clone())?;
        if !self.offline {
            tracing::warn!(%repo, rev, commit = %last.commit, %error, "Hub unreachable: serving the last known commit");
            self.stats.served_stale.fetch_add(1, Ordering::Relaxed);
        }
        // Ask again after another TTL, not on every lookup.
        self.remember(
            repo,
            rev,
            KnownRev {
                checked: Some(Instant::now()),
                ..last
            },
        );
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
        let scope = RepoScope {
            repo: repo.clone(),
            commit: commit.to_string(),
        };
        let stored = self
            .meta
            .as_ref()
            .and_then(|m| m.get::<PersistedTree>("tree", &key));
        let tree = if let Some(tree) = stored {
            self.stats.loaded_from_store.fetch_add(1, Ordering::Relaxed);
            tree
        } else if self.offline {
            return Err(RemoteError::Offline(format!(
                "the tree of {repo} at {commit} is not in the offline cache"
            )));
        } else {
            self.stats.tree_calls.fetch_add(1, Ordering::Relaxed);
            let entries = self.deadline(self.remote.list_tree(repo, commit)).await?;
            let tree = PersistedTree {
                first_seen: unix_now(),
                entries,
            };
            self.persist("tree", &key, &tree);
            tree
        };
        let first_seen = SystemTime::UNIX_EPOCH + Duration::from_secs(tree.first_seen);
        let snap = Arc::new(RepoSnapshot::build(scope, first_seen, &tree.entries));
        self.snapshots.insert(key, snap.clone());
        Ok(snap)
    }

    async fn describe_redacted(&self, file: &SnapshotFile) -> Result<Arc<FileDesc>, RemoteError> {
        let scope = &file.scope;
        let key = format!("{}@{}:{}", scope.repo, scope.commit, file.path);
        let stored = self
            .meta
            .as_ref()
            .and_then(|m| m.get::<PersistedFile>("file", &key));
        let meta = if let Some(m) = stored {
            m
        } else if self.offline {
            return Err(RemoteError::Offline(format!(
                "{}/{} needs a Hub call and is not in the offline cache",
                scope.repo, file.path
            )));
        } else {
            self.stats
                .file_metadata_calls
                .fetch_add(1, Ordering::Relaxed);
            let m = self
                .deadline(
                    self.remote
                        .file_metadata(&scope.repo, &scope.commit, &file.path),
                )
                .await?;
            let m = PersistedFile {
                size: m.size,
                etag: m.etag,
                xet_hash: m.xet_hash,
            };
            self.persist("file", &key, &m);
            m
        };
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
                sha256: file.lfs_sha256.clone().or_else(|| {
                    let e = meta.etag.to_ascii_lowercase();
                    (e.len() == 64 && e.bytes().all(|b| b.is_ascii_hexdigit())).then_some(e)
                }),
            },
        };
        Ok(Arc::new(FileDesc {
            scope: scope.clone(),
            path: file.path.clone(),
            size: file.size,
            content,
        }))
    }

    /// The last resolution of a revision: in memory, else from the store (its age carried over
    /// so that the TTL counts from the original resolution).
    fn last_known(&self, repo: &RepoId, rev: &str) -> Option<KnownRev> {
        let key = (repo.clone(), rev.to_string());
        if let Some(k) = self.revs.lock().get(&key).and_then(|s| s.known.clone()) {
            return Some(k);
        }
        let p: PersistedRev = self.meta.as_ref()?.get("rev", &rev_key(repo, rev))?;
        if !Self::is_commit(&p.commit) {
            return None;
        }
        let age = Duration::from_secs(unix_now().saturating_sub(p.fetched_at));
        Some(KnownRev {
            commit: p.commit,
            // An age beyond what Instant can represent is simply "long ago".
            checked: Instant::now().checked_sub(age),
            fetched_at: p.fetched_at,
        })
    }

    fn is_fresh(&self, known: &KnownRev) -> bool {
        known
            .checked
            .is_some_and(|c| c.elapsed() < self.metadata_ttl)
    }

    fn remember(&self, repo: &RepoId, rev: &str, known: KnownRev) {
        let persisted = PersistedRev {
            commit: known.commit.clone(),
            fetched_at: known.fetched_at,
        };
        let previous = {
            let mut revs = self.revs.lock();
            let state = revs.entry((repo.clone(), rev.to_string())).or_default();
            state.missing = None;
            state.known.replace(known)
        };
        let changed = previous
            .is_none_or(|p| p.commit != persisted.commit || p.fetched_at != persisted.fetched_at);
        if changed {
            self.persist("rev", &rev_key(repo, rev), &persisted);
        }
    }

    fn set_missing(&self, repo: &RepoId, rev: &str, error: RemoteError) {
        if self.negative_ttl.is_zero() {
            return;
        }
        let mut revs = self.revs.lock();
        let state = revs.entry((repo.clone(), rev.to_string())).or_default();
        state.missing = Some((error, Instant::now()));
    }

    fn negative(&self, repo: &RepoId, rev: &str) -> Option<RemoteError> {
        let revs = self.revs.lock();
        let (error, at) = revs
            .get(&(repo.clone(), rev.to_string()))?
            .missing
            .as_ref()?;
        (at.elapsed() < self.negative_ttl).then(|| {
            self.stats.negative_hits.fetch_add(1, Ordering::Relaxed);
            error.clone()
        })
    }

    fn persist<T: serde::Serialize>(&self, kind: &str, key: &str, value: &T) {
        if let Some(meta) = &self.meta {
            if let Err(e) = meta.put(kind, key, value) {
                // Losing metadata only costs a Hub call later.
                tracing::warn!(kind, key, error = %e, "could not persist metadata");
            }
        }
    }

    async fn deadline<T>(
        &self,
        call: impl Future<Output = Result<T, RemoteError>>,
    ) -> Result<T, RemoteError> {
        tokio::time::timeout(self.call_timeout, call)
            .await
            .unwrap_or_else(|_| {
                Err(RemoteError::Timeout(format!(
                    "no answer from the Hub within {:?}",
                    self.call_timeout
                )))
            })
    }
}

/// The Hub answered, and the answer is "no": retrying soon would not help.
fn is_definite(e: &RemoteError) -> bool {
    matches!(
        e,
        RemoteError::NotFound(_) | RemoteError::Unauthorized(_) | RemoteError::Forbidden(_)
    )
}

fn tree_key(repo: &RepoId, commit: &str) -> String {
    format!("{repo}@{commit}")
}

fn rev_key(repo: &RepoId, rev: &str) -> String {
    format!("{repo}@{rev}")
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
