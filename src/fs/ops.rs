//! The filesystem's state and what its operations share. Answers come inline when everything
//! needed is in memory; anything that waits for the Hub or the engine runs in a tokio task that
//! owns the reply, so a FUSE thread never blocks on the network. Every such task has a deadline.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use fuser::{INodeNo, Notifier};

use super::attr::{Attrs, LONG_TTL};
use super::handles::Handles;
use super::inode::{InodeTable, Key, RepoMount};
use super::namespace::UsedRepos;
use super::stats::{FsCounters, FsStats, StatsReport};
use crate::catalog::{RepoCatalog, RepoSnapshot, SnapshotFile};
use crate::hub::FileDesc;
use crate::metrics::{add, inc};
use crate::read::FileReader;
use crate::remote::RemoteError;

/// Shared state of the filesystem; the operations live in `lookup`, `file_ops` and `dir_ops`.
pub(super) struct FsInner {
    pub catalog: Arc<dyn RepoCatalog>,
    pub reader: Arc<dyn FileReader>,
    pub rt: tokio::runtime::Handle,
    pub inodes: InodeTable,
    pub handles: Handles,
    pub used: UsedRepos,
    pub attrs: Attrs,
    pub read_timeout: Duration,
    pub lookup_timeout: Duration,
    pub notifier: OnceLock<Notifier>,
    pub stats: FsCounters,
}

type SnapResult = Result<Arc<RepoSnapshot>, RemoteError>;

impl FsInner {
    /// Runs `then` with the current snapshot of `repo`: inline when the catalog has it fresh,
    /// else in a task after asking the Hub (with a deadline).
    pub(super) fn with_snapshot<R: Send + 'static>(
        self: &Arc<Self>,
        repo: Arc<RepoMount>,
        reply: R,
        then: impl FnOnce(&Arc<Self>, SnapResult, R) + Send + 'static,
    ) {
        if let Some(snap) = self.catalog.fresh_snapshot(&repo.repo, &repo.rev) {
            repo.set_latest(&snap);
            return then(self, Ok(snap), reply);
        }
        inc(&self.stats.hub_lookups);
        let fs = self.clone();
        self.rt.spawn(async move {
            let result = fs
                .deadline(fs.catalog.snapshot(&repo.repo, &repo.rev))
                .await;
            if let Ok(snap) = &result {
                repo.set_latest(snap);
            }
            then(&fs, result, reply);
        });
    }

    pub(super) async fn deadline<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, RemoteError>>,
    ) -> Result<T, RemoteError> {
        tokio::time::timeout(self.lookup_timeout, f)
            .await
            .unwrap_or_else(|_| {
                Err(RemoteError::Timeout(format!(
                    "Hub lookup took over {:?}",
                    self.lookup_timeout
                )))
            })
    }

    pub(super) fn repo_ttl(&self, repo: &RepoMount) -> Duration {
        if repo.pinned {
            LONG_TTL
        } else {
            self.catalog.metadata_ttl()
        }
    }

    pub(super) fn hub_error(&self, what: &str, e: &RemoteError) {
        if !matches!(e, RemoteError::NotFound(_)) {
            inc(&self.stats.lookup_errors);
            tracing::warn!(what, error = %e, "Hub lookup failed");
        }
    }

    /// Poisons the open handles of `desc`'s content (bytes served through them may have been
    /// wrong) and drops the kernel's cached pages of every inode with that content.
    pub fn invalidate(&self, desc: &FileDesc) {
        // First the handles: from here on no reply of theirs carries data into the page cache.
        let handles = self.handles.poison(&desc.content);
        let inos = self.inodes.files_with_content(&desc.content);
        add(&self.stats.invalidations, inos.len() as u64);
        tracing::warn!(path = %desc.path, inodes = inos.len(), handles, "dropping cached pages and open handles of a file that failed verification");
        let Some(notifier) = self.notifier.get().cloned() else {
            return;
        };
        // Off the FUSE and tokio threads: the kernel may wait for pages locked by a read that
        // one of them is about to answer.
        std::thread::spawn(move || {
            for ino in inos {
                if let Err(e) = notifier.inval_inode(INodeNo(ino), 0, 0) {
                    tracing::debug!(ino, error = %e, "inval_inode failed");
                }
            }
        });
    }

    pub fn stats(&self) -> StatsReport {
        StatsReport {
            pid: std::process::id(),
            fs: FsStats {
                counts: self.stats.snapshot(),
                inodes: self.inodes.len() as u64,
                open_handles: self.handles.len() as u64,
            },
            catalog: self.catalog.stats(),
            reader: self.reader.stats(),
        }
    }
}

pub(super) fn file_key(file: &SnapshotFile) -> Key {
    Key::File(file.scope.repo.clone(), file.path.clone(), file.oid.clone())
}
