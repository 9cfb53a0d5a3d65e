//! `HEAD`/`GET /{repo}/resolve/{rev}/{path}`: regular files answer with their bytes (ranges
//! honoured); Xet files answer 302 to the bridge on the CAS origin (another origin, so the
//! official client does not follow it) with every `X-Xet-*`/`X-Linked-*` header it needs.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderName, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use super::access::{open, repo_id, Access};
use super::catalog::Content;
use super::errors::{header_safe, HubError, HubResult};
use super::metrics::Endpoint;
use super::range;
use super::shared::Shared;
use super::stream::{file_body, Piece};
use super::time::now_secs;
use super::transfer::bridge_url;
use crate::hub::RepoId;

pub async fn model(
    State(shared): State<Arc<Shared>>,
    Path((org, name, rev, path)): Path<(String, String, String, String)>,
    method: Method,
    headers: HeaderMap,
) -> HubResult<Response> {
    resolve(
        &shared,
        repo_id("models", &org, &name)?,
        &rev,
        &path,
        &method,
        &headers,
    )
}

pub async fn dataset(
    State(shared): State<Arc<Shared>>,
    Path((org, name, rev, path)): Path<(String, String, String, String)>,
    method: Method,
    headers: HeaderMap,
) -> HubResult<Response> {
    resolve(
        &shared,
        repo_id("datasets", &org, &name)?,
        &rev,
        &path,
        &method,
        &headers,
    )
}

pub async fn space(
    State(shared): State<Arc<Shared>>,
    Path((org, name, rev, path)): Path<(String, String, String, String)>,
    method: Method,
    headers: HeaderMap,
) -> HubResult<Response> {
    resolve(
        &shared,
        repo_id("spaces", &org, &name)?,
        &rev,
        &path,
        &method,
        &headers,
    )
}

fn set(resp: &mut Response, name: impl TryInto<HeaderName>, value: &str) {
    if let Ok(name) = name.try_into() {
        resp.headers_mut().insert(name, header_safe(value));
    }
}

fn resolve(
    shared: &Shared,
    id: RepoId,
    rev: &str,
    path: &str,
    method: &Method,
    headers: &HeaderMap,
) -> HubResult<Response> {
    let repo = open(shared, &id, headers, Access::Read)?;
    let snap = repo.snapshot(rev)?;
    let entry = snap
        .file(path)
        .ok_or_else(|| HubError::entry_not_found(path, &snap.sha))?;
    match &entry.content {
        Content::Xet { file_hash, sha256 } => {
            let cas = shared.cas_base(headers);
            let exp = now_secs() + shared.url_ttl(Endpoint::Resolve).as_secs();
            let token_url = format!(
                "{}{}/xet-read-token/{}",
                shared.hub_base(headers),
                id.api_path(),
                snap.sha
            );
            let links = format!(
                "<{token_url}>; rel=\"xet-auth\", <{cas}/v1/reconstructions/{}>; rel=\"xet-reconstruction-info\"",
                file_hash.to_hex()
            );
            let mut resp = StatusCode::FOUND.into_response();
            let etag = format!("\"{sha256}\"");
            set(
                &mut resp,
                header::LOCATION,
                &bridge_url(shared, &cas, file_hash, exp),
            );
            set(&mut resp, "x-repo-commit", &snap.sha);
            set(&mut resp, "x-linked-etag", &etag);
            set(&mut resp, header::ETAG, &etag);
            set(&mut resp, "x-linked-size", &entry.size.to_string());
            set(&mut resp, "x-xet-hash", &file_hash.to_hex());
            set(
                &mut resp,
                "x-xet-refresh-route",
                &format!("{}/xet-read-token/{}", id.api_path(), snap.sha),
            );
            set(&mut resp, header::LINK, &links);
            set(&mut resp, header::CONTENT_LENGTH, "0");
            Ok(resp)
        }
        Content::Regular { oid } => {
            let blob = shared
                .store
                .blob_path(oid)
                .filter(|p| p.exists())
                .ok_or_else(|| {
                    HubError::internal("serving a regular file", format!("blob {oid} is missing"))
                })?;
            let size = entry.size;
            let wanted = match range::from_headers(headers).map_err(HubError::bad_request)? {
                Some(specs) if specs.len() == 1 => match specs[0].resolve(size) {
                    Some(r) => Some(r),
                    None => {
                        let mut e = HubError::new(
                            StatusCode::RANGE_NOT_SATISFIABLE,
                            None,
                            "range not satisfiable",
                        );
                        e.commit = Some(snap.sha.clone());
                        return Err(e);
                    }
                },
                _ => None,
            };
            let (start, len) = wanted.map_or((0, size), |(s, e)| (s, e - s + 1));
            let status = if wanted.is_some() {
                StatusCode::PARTIAL_CONTENT
            } else {
                StatusCode::OK
            };
            let body = if method == Method::HEAD || len == 0 {
                axum::body::Body::empty()
            } else {
                file_body(blob, vec![Piece::File { offset: start, len }])
            };
            let mut resp = (status, body).into_response();
            set(&mut resp, header::CONTENT_LENGTH, &len.to_string());
            set(&mut resp, header::ETAG, &format!("\"{oid}\""));
            set(&mut resp, "x-repo-commit", &snap.sha);
            set(&mut resp, header::ACCEPT_RANGES, "bytes");
            set(&mut resp, header::CONTENT_TYPE, content_type(path));
            if let Some((s, e)) = wanted {
                set(
                    &mut resp,
                    header::CONTENT_RANGE,
                    &format!("bytes {s}-{e}/{size}"),
                );
            }
            Ok(resp)
        }
    }
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("json") => "application/json",
        Some("md" | "txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}
