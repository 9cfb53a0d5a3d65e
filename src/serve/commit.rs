//! `POST /api/{type}s/{repo}/commit/{rev}`: the NDJSON commit. `lfsFile` lines name Xet files by
//! SHA-256, mapped to the files registered from verified shards; `file` lines carry regular
//! files inline (base64). Commits are persisted as operations (see `catalog::history`).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

use super::access::{open, repo_id, Access};
use super::catalog::{BranchBase, Content, FileEntry, Op, Push};
use super::errors::{HubError, HubResult};
use super::shared::Shared;
use super::time::now_secs;
use super::upload::repo_url;

/// Regular files arrive base64 inside the body; big uploads go through Xet instead.
const MAX_COMMIT_BODY: usize = 1 << 30;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CommitQuery {
    create_pr: Option<String>,
}

#[derive(Deserialize)]
struct Line {
    key: String,
    value: Value,
}

#[derive(Default)]
struct Parsed {
    summary: String,
    description: String,
    parent: Option<String>,
    ops: Vec<Op>,
}

/// A path a commit may write: relative, `/`-separated, no empty, `.` or `..` parts, no `.git`.
fn valid_path(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 4096
        && p.split('/')
            .all(|c| !c.is_empty() && c != "." && c != ".." && c != ".git" && !c.contains('\0'))
}

fn text<'a>(v: &'a Value, key: &str) -> HubResult<&'a str> {
    v[key]
        .as_str()
        .ok_or_else(|| HubError::bad_request(format!("commit line lacks {key:?}")))
}

fn parse(shared: &Shared, body: &[u8]) -> HubResult<Parsed> {
    let mut out = Parsed::default();
    for (n, raw) in body.split(|&b| b == b'\n').enumerate() {
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let line: Line = serde_json::from_slice(raw)
            .map_err(|e| HubError::bad_request(format!("commit line {}: {e}", n + 1)))?;
        let v = &line.value;
        match line.key.as_str() {
            "header" => {
                out.summary = v["summary"].as_str().unwrap_or_default().to_string();
                out.description = v["description"].as_str().unwrap_or_default().to_string();
                out.parent = v["parentCommit"].as_str().map(str::to_string);
            }
            "lfsFile" => {
                let path = text(v, "path")?;
                let oid = text(v, "oid")?;
                if v["algo"].as_str().is_some_and(|a| a != "sha256") {
                    return Err(HubError::bad_request("lfsFile: only sha256 is supported"));
                }
                let (file_hash, record) = shared.store.file_by_sha256(oid).ok_or_else(|| {
                    HubError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        Some("BadRequest"),
                        format!("{path}: no uploaded Xet file has SHA-256 {oid}"),
                    )
                })?;
                if v["size"].as_u64().is_some_and(|s| s != record.size) {
                    return Err(HubError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        Some("BadRequest"),
                        format!(
                            "{path}: size {} does not match the uploaded file ({})",
                            v["size"], record.size
                        ),
                    ));
                }
                out.ops.push(put(
                    path,
                    record.size,
                    Content::Xet {
                        file_hash,
                        sha256: record.sha256.clone(),
                    },
                )?);
            }
            "file" => {
                let path = text(v, "path")?;
                let content = text(v, "content")?;
                let data = match v["encoding"].as_str().unwrap_or("base64") {
                    "base64" => base64::engine::general_purpose::STANDARD
                        .decode(content)
                        .map_err(|e| {
                            HubError::bad_request(format!("{path}: invalid base64: {e}"))
                        })?,
                    "utf-8" | "utf8" => content.as_bytes().to_vec(),
                    other => {
                        return Err(HubError::bad_request(format!("unknown encoding {other}")))
                    }
                };
                let oid = shared
                    .store
                    .put_blob(&data)
                    .map_err(|e| HubError::internal("storing file", e))?;
                out.ops
                    .push(put(path, data.len() as u64, Content::Regular { oid })?);
            }
            "deletedFile" => out.ops.push(Op::Delete {
                path: checked(text(v, "path")?)?,
            }),
            "deletedFolder" => out.ops.push(Op::DeleteFolder {
                path: checked(text(v, "path")?.trim_end_matches('/'))?,
            }),
            other => {
                return Err(HubError::bad_request(format!(
                    "unsupported commit operation {other:?}"
                )))
            }
        }
    }
    Ok(out)
}

fn checked(path: &str) -> HubResult<String> {
    if valid_path(path) {
        Ok(path.to_string())
    } else {
        Err(HubError::bad_request(format!("invalid path {path:?}")))
    }
}

fn put(path: &str, size: u64, content: Content) -> HubResult<Op> {
    Ok(Op::Put {
        path: checked(path)?,
        entry: FileEntry { size, content },
    })
}

pub async fn commit(
    State(shared): State<Arc<Shared>>,
    Path((kind, org, name, rev)): Path<(String, String, String, String)>,
    Query(q): Query<CommitQuery>,
    headers: HeaderMap,
    body: Body,
) -> HubResult<Json<Value>> {
    let id = repo_id(&kind, &org, &name)?;
    let repo = open(&shared, &id, &headers, Access::Write)?;
    let body = axum::body::to_bytes(body, MAX_COMMIT_BODY)
        .await
        .map_err(|e| HubError::bad_request(format!("commit body unreadable: {e}")))?;
    let create_pr = q
        .create_pr
        .as_deref()
        .is_some_and(|v| v == "1" || v == "true");
    let s = shared.clone();
    let entry = repo.entry.clone();
    let (head, pr) = tokio::task::spawn_blocking(move || -> HubResult<_> {
        let parsed = parse(&s, &body)?;
        let _serial = entry.commit_lock.lock();
        let current = {
            let st = entry.state.read();
            if !st.refs.contains_key(&rev) {
                return Err(HubError::revision_not_found(&rev));
            }
            st.resolve(&rev).expect("refs point at commits")
        };
        if parsed.parent.as_ref().is_some_and(|p| *p != current.sha) {
            return Err(HubError::new(
                StatusCode::PRECONDITION_FAILED,
                None,
                format!(
                    "A commit has happened since {}: the head of {rev} is {}",
                    parsed.parent.unwrap_or_default(),
                    current.sha
                ),
            ));
        }
        for op in &parsed.ops {
            if let Op::Delete { path } = op {
                if current.file(path).is_none() {
                    return Err(HubError::entry_not_found(path, &current.sha));
                }
            }
        }
        let (branch, base, pr) = if create_pr {
            let st = entry.state.read();
            let n = 1 + st.refs.keys().filter(|r| r.starts_with("refs/pr/")).count();
            let after = st.history.branches.get(&rev).map_or(0, |b| b.pushes.len());
            let base = BranchBase::Fork {
                branch: rev.clone(),
                after_pushes: after,
            };
            (format!("refs/pr/{n}"), Some(base), Some(n))
        } else {
            (rev.clone(), None, None)
        };
        let push = Push {
            summary: parsed.summary,
            description: parsed.description,
            time: now_secs(),
            ops: parsed.ops,
        };
        let head = s.catalog.push(&entry, &branch, base, push);
        let history = serde_json::to_vec(&entry.state.read().history)
            .map_err(|e| HubError::internal("saving commit", e))?;
        s.store
            .write_atomic(&s.catalog.history_path(&entry.id), &history)
            .map_err(|e| HubError::internal("saving commit", e))?;
        Ok((head, pr))
    })
    .await
    .map_err(|e| HubError::internal("commit task", e))??;
    shared.metrics.add("commits", 1);
    tracing::info!("{id}: commit {} ({} files)", head.sha, head.files.len());
    let url = repo_url(&shared, &headers, &id);
    Ok(Json(json!({
        "success": true,
        "commitOid": head.sha,
        "commitUrl": format!("{url}/commit/{}", head.sha),
        "commitMessage": head.summary,
        "hookOutput": "",
        "pullRequestUrl": pr.map(|n| format!("{url}/discussions/{n}")),
    })))
}

#[cfg(test)]
mod tests {
    use super::valid_path;

    #[test]
    fn commit_paths_are_confined() {
        for ok in ["a", "a/b.bin", "dir with space/x #1.bin", ".gitattributes"] {
            assert!(valid_path(ok), "{ok}");
        }
        for bad in [
            "",
            "/abs",
            "a//b",
            "../x",
            "a/../b",
            "./a",
            ".git/config",
            "a/",
        ] {
            assert!(!valid_path(bad), "{bad}");
        }
    }
}
