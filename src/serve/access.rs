//! The checks every repo request starts with: which repo, may the caller see it, is it ready,
//! which commit does the revision name.

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};

use super::catalog::{RepoEntry, RepoStatus, Snapshot};
use super::errors::{HubError, HubResult};
use super::shared::Shared;
use crate::hub::{RepoId, RepoType};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// `models` / `datasets` / `spaces` + `org` + `name` → repo id (404 for anything else).
pub fn repo_id(kind: &str, org: &str, name: &str) -> HubResult<RepoId> {
    let kind = match kind {
        "models" => RepoType::Model,
        "datasets" => RepoType::Dataset,
        "spaces" => RepoType::Space,
        _ => return Err(HubError::not_found(format!("unknown repo type {kind}"))),
    };
    let name = format!("{org}/{name}");
    if !RepoId::is_valid_name(&name) {
        return Err(HubError::repo_not_found(&name));
    }
    Ok(RepoId { kind, name })
}

/// A repo the caller may use.
pub struct Opened {
    pub entry: Arc<RepoEntry>,
}

impl Opened {
    /// Revision (branch, tag, commit id) → commit; 404 `RevisionNotFound` otherwise.
    pub fn snapshot(&self, rev: &str) -> HubResult<Arc<Snapshot>> {
        self.entry
            .state
            .read()
            .resolve(rev)
            .ok_or_else(|| HubError::revision_not_found(rev))
    }
}

/// Finds the repo, checks the caller's rights (before revealing its status), and its status.
pub fn open(
    shared: &Shared,
    id: &RepoId,
    headers: &HeaderMap,
    access: Access,
) -> HubResult<Opened> {
    let caller = shared.config.auth.caller(headers)?;
    let Some(entry) = shared.catalog.get(id) else {
        return Err(HubError::repo_not_found(id));
    };
    {
        let st = entry.state.read();
        let created = st.history.created.as_ref();
        match access {
            Access::Read => shared.config.auth.check_read(&caller, id, created)?,
            Access::Write => shared.config.auth.check_write(&caller, id, created)?,
        }
        match &st.status {
            RepoStatus::Ready => {}
            RepoStatus::Pending => return Err(HubError::not_ready(id)),
            RepoStatus::Failed(reason) => {
                return Err(HubError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    None,
                    format!("{id} cannot be served: {reason}"),
                ))
            }
        }
    }
    Ok(Opened { entry })
}
