//! CAS read endpoints: reconstructions v1/v2 (honouring `Range`), the chunk-hashes extension,
//! existence checks, and the endpoints the clients call that need only a fixed answer.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::auth::bearer;
use super::errors::{HubError, HubResult};
use super::metrics::Endpoint;
use super::range::{self, RangeSpec};
use super::shared::Shared;
use super::signing::{Scope, SignError, TokenClaims};
use super::time::now_secs;
use super::transfer::xorb_url;
use crate::xet::plan::{plan_range, PlanError, PlannedReconstruction};
use crate::xet::reconstruction::{
    FetchInfoV1, ReconstructionV1, ReconstructionV2, XorbFetch, XorbRangeDescriptor,
};
use crate::xet::MerkleHash;

/// Checks the CAS bearer token: 401 when missing, invalid or expired; 403 for a read token
/// on a write endpoint.
pub fn cas_claims(shared: &Shared, headers: &HeaderMap, scope: Scope) -> HubResult<TokenClaims> {
    let token = bearer(headers).ok_or_else(|| HubError::unauthorized("missing CAS token"))?;
    let claims = shared.signer.verify_token(token).map_err(|e| match e {
        SignError::Expired => HubError::unauthorized("CAS token expired"),
        SignError::Invalid => HubError::unauthorized("invalid CAS token"),
    })?;
    if scope == Scope::Write && claims.scope != Scope::Write {
        return Err(HubError::forbidden("this CAS token is read-only"));
    }
    Ok(claims)
}

fn parse_hash(s: &str) -> HubResult<MerkleHash> {
    MerkleHash::from_hex(s).map_err(|e| HubError::bad_request(format!("invalid hash: {e}")))
}

/// Whether the token's repo may read `file`: files only in private repos need a token of one
/// of those repos; files in no repo yet (just uploaded) are readable with any token.
fn visible(shared: &Shared, claims: &TokenClaims, file: &MerkleHash) -> bool {
    let repos = shared.catalog.repos_with_file(file);
    repos.is_empty()
        || repos.iter().any(|r| r.to_string() == claims.repo)
        || repos.iter().any(|r| {
            let created = shared
                .catalog
                .get(r)
                .and_then(|e| e.state.read().history.created.clone());
            shared.config.auth.is_public(r, created.as_ref())
        })
}

async fn plan(
    shared: &Shared,
    hash: &str,
    headers: &HeaderMap,
) -> HubResult<Result<PlannedReconstruction, Response>> {
    let claims = cas_claims(shared, headers, Scope::Read)?;
    let file = parse_hash(hash)?;
    let record = shared
        .store
        .file(&file)
        .filter(|_| visible(shared, &claims, &file))
        .ok_or_else(|| HubError::not_found(format!("file {file} not found")))?;
    let range = match range::from_headers(headers)
        .map_err(HubError::bad_request)?
        .as_deref()
    {
        None => 0..u64::MAX,
        Some([RangeSpec::FromTo(a, b)]) => *a..b.saturating_add(1),
        Some([RangeSpec::From(a)]) => *a..u64::MAX,
        Some(_) => return Err(HubError::bad_request("one `bytes=a-b` range is supported")),
    };
    let store = shared.store.clone();
    let terms = record.terms.clone();
    let planned = tokio::task::spawn_blocking(move || {
        let layouts = store.layouts_for(&terms)?;
        Ok::<_, std::io::Error>(layouts.map(|l| plan_range(&terms, &l, range)))
    })
    .await
    .map_err(|e| HubError::internal("planning task", e))?
    .map_err(|e| HubError::internal("reading xorb index", e))?
    .map_err(|x| HubError::internal("reconstruction", format!("xorb {x} is missing")))?;
    match planned {
        Ok(p) => Ok(Ok(p)),
        Err(PlanError::RangeNotSatisfiable) => {
            let mut r = HubError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                None,
                "range not satisfiable",
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{}", record.size)) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            Ok(Err(r))
        }
        Err(e) => Err(HubError::internal("reconstruction", e)),
    }
}

/// `GET /v2/reconstructions/{file_hash}`: one presigned URL per xorb for all its ranges.
pub async fn reconstruction_v2(
    State(shared): State<Arc<Shared>>,
    Path(hash): Path<String>,
    headers: HeaderMap,
) -> HubResult<Response> {
    let p = match plan(&shared, &hash, &headers).await? {
        Ok(p) => p,
        Err(resp) => return Ok(resp),
    };
    let cas = shared.cas_base(&headers);
    let exp = now_secs() + shared.url_ttl(Endpoint::ReconstructionV2).as_secs();
    let xorbs: HashMap<MerkleHash, Vec<XorbFetch>> = p
        .xorb_ranges
        .iter()
        .map(|(x, descs)| {
            let bytes: Vec<_> = descs.iter().map(|d| d.1).collect();
            let fetch = XorbFetch {
                url: xorb_url(&shared, &cas, x, &bytes, exp),
                ranges: descs
                    .iter()
                    .map(|(c, b)| XorbRangeDescriptor {
                        chunks: *c,
                        bytes: *b,
                    })
                    .collect(),
            };
            (*x, vec![fetch])
        })
        .collect();
    Ok(Json(ReconstructionV2 {
        offset_into_first_range: p.offset_into_first_range,
        terms: p.terms,
        xorbs,
    })
    .into_response())
}

/// `GET /v1/reconstructions/{file_hash}`: one presigned URL per range.
pub async fn reconstruction_v1(
    State(shared): State<Arc<Shared>>,
    Path(hash): Path<String>,
    headers: HeaderMap,
) -> HubResult<Response> {
    let p = match plan(&shared, &hash, &headers).await? {
        Ok(p) => p,
        Err(resp) => return Ok(resp),
    };
    let cas = shared.cas_base(&headers);
    let exp = now_secs() + shared.url_ttl(Endpoint::ReconstructionV1).as_secs();
    let fetch_info = p
        .xorb_ranges
        .iter()
        .map(|(x, descs)| {
            let entries = descs
                .iter()
                .map(|(c, b)| FetchInfoV1 {
                    range: *c,
                    url: xorb_url(&shared, &cas, x, &[*b], exp),
                    url_range: *b,
                })
                .collect();
            (*x, entries)
        })
        .collect();
    Ok(Json(ReconstructionV1 {
        offset_into_first_range: p.offset_into_first_range,
        terms: p.terms,
        fetch_info,
    })
    .into_response())
}

/// `GET /v1/xorbs/default/{xorb}/chunk-hashes` (xetfs extension).
pub async fn chunk_hashes(
    State(shared): State<Arc<Shared>>,
    Path(hash): Path<String>,
    headers: HeaderMap,
) -> HubResult<Json<Value>> {
    cas_claims(&shared, &headers, Scope::Read)?;
    let xorb = parse_hash(&hash)?;
    let index = shared
        .store
        .xorb_index(&xorb)
        .map_err(|e| HubError::internal("reading xorb index", e))?
        .ok_or_else(|| HubError::not_found(format!("xorb {xorb} not found")))?;
    let chunks: Vec<Value> = index
        .chunks
        .iter()
        .map(|c| json!({"hash": c.hash.to_hex(), "len": c.raw_len}))
        .collect();
    Ok(Json(json!({ "chunks": chunks })))
}

/// `HEAD /v1/xorbs/default/{xorb}`: existence, `Content-Length` = stored length.
pub async fn xorb_head(
    State(shared): State<Arc<Shared>>,
    Path(hash): Path<String>,
    headers: HeaderMap,
) -> HubResult<Response> {
    cas_claims(&shared, &headers, Scope::Read)?;
    let xorb = parse_hash(&hash)?;
    match std::fs::metadata(shared.store.xorb_path(&xorb)) {
        Ok(m) if shared.store.has_xorb(&xorb) => {
            Ok(([(header::CONTENT_LENGTH, m.len().to_string())], ()).into_response())
        }
        _ => Err(HubError::not_found(format!("xorb {xorb} not found"))),
    }
}

/// `HEAD /v1/files/{file}`: existence, `Content-Length` = file size.
pub async fn file_head(
    State(shared): State<Arc<Shared>>,
    Path(hash): Path<String>,
    headers: HeaderMap,
) -> HubResult<Response> {
    let claims = cas_claims(&shared, &headers, Scope::Read)?;
    let file = parse_hash(&hash)?;
    match shared
        .store
        .file(&file)
        .filter(|_| visible(&shared, &claims, &file))
    {
        Some(r) => Ok(([(header::CONTENT_LENGTH, r.size.to_string())], ()).into_response()),
        None => Err(HubError::not_found(format!("file {file} not found"))),
    }
}

/// Global dedup query: 404 ("nothing known") is always a correct answer.
pub async fn dedup_query(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> HubResult<Response> {
    cas_claims(&shared, &headers, Scope::Read)?;
    Err(HubError::not_found("no global dedup information"))
}

/// Xorb upload grants are not offered: 404 sends hf_xet to the classic `POST /v1/xorbs`.
pub async fn xorb_grant() -> HubResult<Response> {
    Err(HubError::not_found("upload grants are not offered"))
}

/// `POST /v1/telemetry`: accepted and dropped.
pub async fn telemetry() -> StatusCode {
    StatusCode::OK
}
