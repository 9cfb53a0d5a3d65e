//! CAS upload endpoints: `POST /v1/xorbs/default/{hash}` (the xorb is parsed, every chunk
//! decoded and hashed, and the xorb hash compared with the path) and `POST /v1|v2/shards` (see
//! [`verify`](super::verify)). Nothing is stored before it is verified.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::cas_api::cas_claims;
use super::errors::{HubError, HubResult};
use super::shared::Shared;
use super::signing::Scope;
use super::verify::verify_shard;
use crate::xet::xorb::parse_xorb_object;
use crate::xet::MerkleHash;

/// A xorb holds ≤ 64 MiB of raw chunks; records add 8 bytes each and the fallback rule keeps
/// payloads ≤ raw, so anything much larger is not a xorb.
const MAX_XORB_BODY: usize = 80 << 20;
/// Shards describe files and xorbs in 48-byte entries; this allows millions of them.
const MAX_SHARD_BODY: usize = 256 << 20;

async fn read_body(body: Body, limit: usize) -> HubResult<Bytes> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        HubError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
            format!("request body unreadable or over {limit} bytes: {e}"),
        )
    })
}

pub async fn post_xorb(
    State(shared): State<Arc<Shared>>,
    Path(hash): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> HubResult<Json<serde_json::Value>> {
    cas_claims(&shared, &headers, Scope::Write)?;
    let expected = MerkleHash::from_hex(&hash)
        .map_err(|e| HubError::bad_request(format!("invalid xorb hash: {e}")))?;
    let bytes = read_body(body, MAX_XORB_BODY).await?;
    let s = shared.clone();
    let result = tokio::task::spawn_blocking(move || {
        let xorb = parse_xorb_object(&bytes).map_err(|e| Err(format!("invalid xorb: {e}")))?;
        if xorb.hash != expected {
            return Err(Err(format!(
                "xorb hash mismatch: the path says {expected}, the content hashes to {}",
                xorb.hash
            )));
        }
        s.store.put_xorb(&xorb).map_err(Ok)
    })
    .await
    .map_err(|e| HubError::internal("xorb upload task", e))?;
    match result {
        Ok(inserted) => {
            shared.metrics.add("xorbs_accepted", 1);
            Ok(Json(json!({ "was_inserted": inserted })))
        }
        Err(Err(reason)) => {
            shared.metrics.add("xorbs_rejected", 1);
            tracing::warn!("rejected xorb {expected}: {reason}");
            Err(HubError::bad_request(reason))
        }
        Err(Ok(io)) => Err(HubError::internal("storing xorb", io)),
    }
}

/// Verifies and registers a shard; `Ok(true)` when it was new.
async fn accept_shard(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    body: Body,
) -> HubResult<(bool, usize)> {
    cas_claims(shared, headers, Scope::Write)?;
    let bytes = read_body(body, MAX_SHARD_BODY).await?;
    let s = shared.clone();
    let result = tokio::task::spawn_blocking(move || {
        let files = verify_shard(&s.store, &bytes).map_err(Err)?;
        for f in &files {
            s.store.put_file(f.hash, f.record.clone()).map_err(Ok)?;
        }
        let new = s.store.put_shard(&bytes).map_err(Ok)?;
        Ok((new, files.len()))
    })
    .await
    .map_err(|e| HubError::internal("shard upload task", e))?;
    match result {
        Ok((new, files)) => {
            shared.metrics.add("shards_accepted", 1);
            shared.metrics.add("shard_files_verified", files as u64);
            Ok((new, files))
        }
        Err(Err(reason)) => {
            shared.metrics.add("shards_rejected", 1);
            tracing::warn!("rejected shard: {reason}");
            Err(HubError::bad_request(reason))
        }
        Err(Ok(io)) => Err(HubError::internal("storing shard", io)),
    }
}

/// `POST /v1/shards` → `{"result": 1}` (registered) or `0` (already known).
pub async fn post_shard_v1(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> HubResult<Json<serde_json::Value>> {
    let (new, _) = accept_shard(&shared, &headers, body).await?;
    Ok(Json(json!({ "result": u8::from(new) })))
}

/// `POST /v2/shards` → NDJSON progress frames ending with `{"type":"result"}`.
pub async fn post_shard_v2(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> HubResult<Response> {
    let (_, files) = accept_shard(&shared, &headers, body).await?;
    let frames = [
        json!({"type": "validating", "verified": files, "total": files}),
        json!({"type": "committing", "stage": "uploading"}),
        json!({"type": "committing", "stage": "syncing"}),
        json!({"type": "result"}),
    ];
    let body: String = frames.iter().map(|f| format!("{f}\n")).collect();
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}
