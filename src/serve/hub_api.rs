//! Hub metadata endpoints: repo info (`/api/{type}s/{repo}[/revision/{rev}]`), the tree API
//! (recursive, paginated with `Link: rel="next"`), `paths-info`, refs, whoami.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::access::{open, repo_id, Access};
use super::catalog::{Snapshot, TreeItem};
use super::errors::{HubError, HubResult};
use super::git;
use super::shared::Shared;
use super::time::iso8601;
use crate::hub::{encode_path, encode_revision, RepoId, RepoType};

pub async fn agent_harnesses() -> Json<Value> {
    Json(json!({ "standardEnvVars": [], "harnesses": {} }))
}

/// `POST /api/validate-yaml` (README metadata check of `upload_folder`): everything is valid.
pub async fn validate_yaml() -> Json<Value> {
    Json(json!({ "errors": [], "warnings": [] }))
}

pub async fn whoami(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> HubResult<Json<Value>> {
    match shared.config.auth.caller(&headers)? {
        super::auth::Caller::Anonymous => {
            Err(HubError::unauthorized("Invalid username or password."))
        }
        super::auth::Caller::User { name, write } => Ok(Json(json!({
            "type": "user", "id": git::content_id("user", &[&name])[..24], "name": name,
            "fullname": name, "orgs": [], "isPro": false, "canPay": false,
            "auth": {"type": "access_token",
                     "accessToken": {"displayName": "xetfs", "role": if write { "write" } else { "read" }}},
        }))),
    }
}

/// `GET /api/{type}s/{org}/{name}`: info at `main`.
pub async fn repo_info_main(
    State(shared): State<Arc<Shared>>,
    Path((kind, org, name)): Path<(String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> HubResult<Json<Value>> {
    repo_info(&shared, &repo_id(&kind, &org, &name)?, "main", &q, &headers)
}

/// `GET /api/{type}s/{org}/{name}/revision/{rev}`: answers 200 only once the repo is readable.
pub async fn repo_info_rev(
    State(shared): State<Arc<Shared>>,
    Path((kind, org, name, rev)): Path<(String, String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> HubResult<Json<Value>> {
    repo_info(&shared, &repo_id(&kind, &org, &name)?, &rev, &q, &headers)
}

fn repo_info(
    shared: &Shared,
    id: &RepoId,
    rev: &str,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
) -> HubResult<Json<Value>> {
    let repo = open(shared, id, headers, Access::Read)?;
    let snap = repo.snapshot(rev)?;
    let st = repo.entry.state.read();
    let policy = shared.config.auth.policy(id);
    let private = policy.is_some_and(|p| p.private) || st.created_private().is_some();
    let gated = policy.is_some_and(|p| p.gated);
    let created = st.history.created.as_ref().map_or(snap.time, |c| c.time);
    let blobs = q.get("blobs").is_some_and(|v| truthy(v));
    let siblings: Vec<Value> = snap
        .files
        .iter()
        .map(|(path, e)| {
            let mut s = json!({ "rfilename": path });
            if blobs {
                s["size"] = json!(e.size);
                s["blobId"] = json!(e.git_oid());
                if let Some((_, sha256)) = e.xet() {
                    s["lfs"] = json!({"sha256": sha256, "size": e.size,
                                      "pointerSize": git::lfs_pointer(sha256, e.size).len()});
                }
            }
            s
        })
        .collect();
    let (org, _) = id.name.split_once('/').unwrap_or((&id.name, ""));
    let mut info = json!({
        "_id": git::content_id("repo", &[&id.to_string()])[..24],
        "id": id.name, "author": org, "sha": snap.sha,
        "lastModified": iso8601(snap.time), "createdAt": iso8601(created),
        "private": private, "gated": if gated { json!("auto") } else { json!(false) },
        "disabled": false, "downloads": 0, "likes": 0, "tags": [],
        "siblings": siblings,
        "usedStorage": snap.files.values().map(|e| e.size).sum::<u64>(),
    });
    match id.kind {
        RepoType::Model => info["modelId"] = json!(id.name),
        RepoType::Space => info["sdk"] = json!("static"),
        RepoType::Dataset => {}
    }
    Ok(Json(info))
}

fn truthy(v: &str) -> bool {
    matches!(v, "1" | "true" | "True" | "yes")
}

/// The JSON of one tree entry, as the tree and paths-info APIs return it.
pub fn tree_entry_json(item: &TreeItem<'_>) -> Value {
    match item {
        TreeItem::Dir(path, oid) => {
            json!({"type": "directory", "oid": oid, "size": 0, "path": path})
        }
        TreeItem::File(path, e) => {
            let mut v = json!({"type": "file", "oid": e.git_oid(), "size": e.size, "path": path});
            if let Some((hash, sha256)) = e.xet() {
                v["lfs"] = json!({"oid": sha256, "size": e.size,
                                  "pointerSize": git::lfs_pointer(sha256, e.size).len()});
                v["xetHash"] = json!(hash.to_hex());
            }
            v
        }
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct TreeQuery {
    recursive: Option<String>,
    expand: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
}

pub async fn tree_root(
    State(shared): State<Arc<Shared>>,
    Path((kind, org, name, rev)): Path<(String, String, String, String)>,
    Query(q): Query<TreeQuery>,
    headers: HeaderMap,
) -> HubResult<Response> {
    tree(&shared, repo_id(&kind, &org, &name)?, &rev, "", q, &headers)
}

pub async fn tree_path(
    State(shared): State<Arc<Shared>>,
    Path((kind, org, name, rev, path)): Path<(String, String, String, String, String)>,
    Query(q): Query<TreeQuery>,
    headers: HeaderMap,
) -> HubResult<Response> {
    tree(
        &shared,
        repo_id(&kind, &org, &name)?,
        &rev,
        &path,
        q,
        &headers,
    )
}

fn tree(
    shared: &Shared,
    id: RepoId,
    rev: &str,
    path: &str,
    q: TreeQuery,
    headers: &HeaderMap,
) -> HubResult<Response> {
    let repo = open(shared, &id, headers, Access::Read)?;
    let snap = repo.snapshot(rev)?;
    let path = path.trim_matches('/');
    if !snap.is_dir(path) {
        return Err(HubError::entry_not_found(path, &snap.sha));
    }
    let recursive = q.recursive.as_deref().is_some_and(truthy);
    let items = snap.list(path, recursive);
    let page = q
        .limit
        .unwrap_or(shared.config.tree_page_size)
        .clamp(1, shared.config.tree_page_size.max(1));
    let start: usize = match q.cursor.as_deref() {
        None | Some("") => 0,
        Some(c) => c
            .parse()
            .map_err(|_| HubError::bad_request(format!("invalid cursor {c:?}")))?,
    };
    let end = (start + page).min(items.len());
    let body: Vec<Value> = items
        .get(start..end)
        .unwrap_or_default()
        .iter()
        .map(tree_entry_json)
        .collect();
    let mut resp = Json(body).into_response();
    if end < items.len() {
        let mut url = format!(
            "{}{}/tree/{}",
            shared.hub_base(headers),
            id.api_path(),
            encode_revision(rev)
        );
        if !path.is_empty() {
            url.push('/');
            url.push_str(&encode_path(path));
        }
        url.push_str(&format!(
            "?recursive={recursive}&expand={}&cursor={end}",
            q.expand.as_deref().is_some_and(truthy)
        ));
        if let Some(l) = q.limit {
            url.push_str(&format!("&limit={l}"));
        }
        if let Ok(v) = HeaderValue::from_str(&format!("<{url}>; rel=\"next\"")) {
            resp.headers_mut().insert(header::LINK, v);
        }
    }
    Ok(resp)
}

/// `POST /api/{type}s/{repo}/paths-info/{rev}`, form (`paths` repeated) or JSON body.
pub async fn paths_info(
    State(shared): State<Arc<Shared>>,
    Path((kind, org, name, rev)): Path<(String, String, String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> HubResult<Json<Vec<Value>>> {
    let id = repo_id(&kind, &org, &name)?;
    let repo = open(&shared, &id, &headers, Access::Read)?;
    let snap = repo.snapshot(&rev)?;
    let paths = requested_paths(&headers, &body)?;
    Ok(Json(
        paths
            .iter()
            .filter_map(|p| item_at(&snap, p.trim_matches('/')))
            .map(|i| tree_entry_json(&i))
            .collect(),
    ))
}

fn item_at<'a>(snap: &'a Snapshot, path: &'a str) -> Option<TreeItem<'a>> {
    if let Some((p, e)) = snap.files.get_key_value(path) {
        return Some(TreeItem::File(p, e));
    }
    Some(TreeItem::Dir(
        path,
        snap.dir_oid(path).filter(|_| !path.is_empty())?,
    ))
}

fn requested_paths(headers: &HeaderMap, body: &[u8]) -> HubResult<Vec<String>> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    if is_json {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| HubError::bad_request(format!("invalid JSON body: {e}")))?;
        return Ok(match &v["paths"] {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(|p| p.as_str().map(String::from))
                .collect(),
            _ => Vec::new(),
        });
    }
    Ok(url::form_urlencoded::parse(body)
        .filter(|(k, _)| k == "paths" || k == "paths[]")
        .map(|(_, v)| v.into_owned())
        .collect())
}

/// `GET /api/{type}s/{repo}/refs`: branches and tags.
pub async fn refs(
    State(shared): State<Arc<Shared>>,
    Path((kind, org, name)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> HubResult<Json<Value>> {
    let id = repo_id(&kind, &org, &name)?;
    let repo = open(&shared, &id, &headers, Access::Read)?;
    let st = repo.entry.state.read();
    let (prs, branches): (Vec<_>, Vec<_>) = st
        .refs
        .iter()
        .map(|(n, sha)| {
            (
                n,
                json!({"name": n, "ref": format!("refs/heads/{n}"), "targetCommit": sha}),
            )
        })
        .partition(|(n, _)| n.starts_with("refs/pr/"));
    Ok(Json(json!({
        "branches": branches.into_iter().map(|b| b.1).collect::<Vec<_>>(),
        "converts": [], "tags": [],
        "pullRequests": prs.into_iter().map(|(n, v)| json!({"name": n, "ref": n, "targetCommit": v["targetCommit"]})).collect::<Vec<_>>(),
    })))
}
