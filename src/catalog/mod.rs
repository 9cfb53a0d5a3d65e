//! Repo revisions → commits → trees. Front ends (the filesystem, and later `xetfs download` and
//! `xetfs proxy`) ask a [`RepoCatalog`] which commit a revision names, what that commit's tree
//! holds, and what the engine needs to read one of its files ([`FileDesc`]).
//! [`HubCatalog`] is the implementation over a [`Remote`](crate::remote::Remote): cached in
//! memory, persisted in the metadata store, single-flight, usable offline.

mod flight;
mod hub_catalog;
mod records;
mod revisions;
mod snapshot;
mod stats;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

pub use hub_catalog::{CatalogConfig, HubCatalog};
pub use snapshot::{RepoSnapshot, SnapshotEntry, SnapshotFile};
pub use stats::{CatalogCounts, CatalogStats};

use crate::hub::{FileDesc, RepoId, RepoScope};
use crate::remote::RemoteError;

/// What front ends need to know about repos. Errors are the Hub's ([`RemoteError`]): not found,
/// unauthorized, offline, timeout…
#[async_trait::async_trait]
pub trait RepoCatalog: Send + Sync + 'static {
    /// The snapshot of `repo` at `rev` if it is in memory and needs no Hub call (a commit, or a
    /// branch checked within the metadata TTL). Never waits: callable from a FUSE thread.
    fn fresh_snapshot(&self, repo: &RepoId, rev: &str) -> Option<Arc<RepoSnapshot>>;

    /// The snapshot of `repo` at `rev` (branch, tag or commit), asking the Hub when needed.
    async fn snapshot(&self, repo: &RepoId, rev: &str) -> Result<Arc<RepoSnapshot>, RemoteError>;

    /// What the engine needs to read `file`: immediate unless the listing redacted the Xet hash
    /// (then one resolve HEAD, remembered).
    async fn file_desc(&self, file: &SnapshotFile) -> Result<Arc<FileDesc>, RemoteError>;

    /// How long a branch or tag keeps resolving to the same commit.
    fn metadata_ttl(&self) -> Duration;

    /// Counters, for `.xetfs-stats`.
    fn stats(&self) -> CatalogStats;

    /// The commit `rev` names now (with the tree listed and cached on the way).
    async fn resolve(&self, repo: &RepoId, rev: &str) -> Result<RepoScope, RemoteError> {
        Ok(self.snapshot(repo, rev).await?.scope.clone())
    }

    /// The file at `path` of `repo` at `rev`, ready for the engine.
    async fn describe(
        &self,
        repo: &RepoId,
        rev: &str,
        path: &str,
    ) -> Result<Arc<FileDesc>, RemoteError> {
        let snap = self.snapshot(repo, rev).await?;
        let file = snap.file(path).ok_or_else(|| {
            RemoteError::NotFound(format!("{path} in {repo}@{}", snap.scope.commit))
        })?;
        self.file_desc(file).await
    }
}
