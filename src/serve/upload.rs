//! Upload bookkeeping on the Hub side: `POST /api/repos/create` and `POST …/preupload/{rev}`
//! (which files go through Xet, which are inlined in the commit).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

use super::access::{open, repo_id, Access};
use super::catalog::{Content, CreatedRepo, Snapshot};
use super::classify::XetRules;
use super::errors::{HubError, HubResult};
use super::shared::Shared;
use super::time::now_secs;
use crate::hub::{RepoId, RepoType};

#[derive(Deserialize)]
pub struct CreateRepo {
    name: String,
    #[serde(default)]
    organization: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    private: Option<bool>,
    #[serde(default)]
    visibility: Option<String>,
}

/// The public URL of a repo: `{hub}/org/name` or `{hub}/datasets/org/name`.
pub fn repo_url(shared: &Shared, headers: &HeaderMap, id: &RepoId) -> String {
    format!("{}{}", shared.hub_base(headers), id.file_path())
}

pub async fn create_repo(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> HubResult<Response> {
    let req: CreateRepo = serde_json::from_slice(&body)
        .map_err(|e| HubError::bad_request(format!("invalid body: {e}")))?;
    let caller = shared.config.auth.caller(&headers)?;
    let namespace = req
        .organization
        .clone()
        .or_else(|| caller.name().map(str::to_string))
        .unwrap_or_else(|| "user".into());
    let kind = match req.kind.as_deref().unwrap_or("model") {
        "model" => "models",
        "dataset" => "datasets",
        "space" => "spaces",
        other => return Err(HubError::bad_request(format!("unknown repo type {other}"))),
    };
    let id = repo_id(kind, &namespace, &req.name).map_err(|_| {
        HubError::bad_request(format!("invalid repo name {namespace}/{}", req.name))
    })?;
    let private = req.private.unwrap_or(false) || req.visibility.as_deref() == Some("private");
    shared.config.auth.check_write(&caller, &id, None)?;
    let url = repo_url(&shared, &headers, &id);
    let created = CreatedRepo {
        private,
        owner: caller.name().map(str::to_string),
        time: now_secs(),
    };
    let Some(entry) = shared.catalog.create(&id, created) else {
        let body = json!({"error": format!("You already created this {} repo", kind.trim_end_matches('s')), "url": url});
        return Ok((StatusCode::CONFLICT, Json(body)).into_response());
    };
    let history = serde_json::to_vec(&entry.state.read().history)
        .map_err(|e| HubError::internal("saving repo", e))?;
    shared
        .store
        .write_atomic(&shared.catalog.history_path(&id), &history)
        .map_err(|e| HubError::internal("saving repo", e))?;
    tracing::info!(
        "created repo {id}{}",
        if private { " (private)" } else { "" }
    );
    shared.metrics.add("repos_created", 1);
    Ok(Json(json!({"url": url, "name": id.name, "id": id.name})).into_response())
}

#[derive(Deserialize)]
struct PreuploadFile {
    path: String,
    #[serde(default)]
    sample: String,
    #[serde(default)]
    size: u64,
}

#[derive(Deserialize)]
struct Preupload {
    files: Vec<PreuploadFile>,
}

/// The LFS rules of a repo at a commit: Hub defaults plus its `.gitattributes`.
pub fn rules_at(shared: &Shared, id: &RepoId, snap: &Snapshot) -> XetRules {
    let mut rules = XetRules::defaults(id.kind == RepoType::Dataset);
    if let Some(Content::Regular { oid }) = snap.file(".gitattributes").map(|e| &e.content) {
        if let Some(text) = shared
            .store
            .blob_path(oid)
            .and_then(|p| std::fs::read_to_string(p).ok())
        {
            rules.add_gitattributes(&text);
        }
    }
    rules
}

pub async fn preupload(
    State(shared): State<Arc<Shared>>,
    Path((kind, org, name, rev)): Path<(String, String, String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> HubResult<Json<Value>> {
    let id = repo_id(&kind, &org, &name)?;
    let repo = open(&shared, &id, &headers, Access::Write)?;
    let req: Preupload = serde_json::from_slice(&body)
        .map_err(|e| HubError::bad_request(format!("invalid body: {e}")))?;
    // A new branch is fine (uploads may create it): compare against main then.
    let snap = repo.snapshot(&rev).or_else(|_| repo.snapshot("main")).ok();
    let rules = snap.as_ref().map_or_else(
        || XetRules::defaults(id.kind == RepoType::Dataset),
        |s| rules_at(&shared, &id, s),
    );
    let files: Vec<Value> = req
        .files
        .iter()
        .map(|f| {
            let sample = base64::engine::general_purpose::STANDARD
                .decode(&f.sample)
                .unwrap_or_default();
            // The Hub refuses binary content in git: NUL bytes send a file to LFS/Xet.
            let lfs = f.size > 0 && (rules.is_xet(&f.path, f.size) || sample.contains(&0));
            let mut v = json!({
                "path": f.path,
                "uploadMode": if lfs { "lfs" } else { "regular" },
                "shouldIgnore": false,
            });
            if let Some(e) = snap.as_ref().and_then(|s| s.file(&f.path)) {
                v["oid"] = match &e.content {
                    Content::Xet { sha256, .. } => json!(sha256),
                    Content::Regular { oid } => json!(oid),
                };
            }
            v
        })
        .collect();
    Ok(Json(json!({
        "files": files,
        "commitOid": snap.map(|s| s.sha.clone()),
    })))
}
