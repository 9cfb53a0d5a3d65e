//! The two routers: the Hub (`--listen`, what `HF_ENDPOINT` points at) and the CAS (a second
//! port: reconstructions, uploads, presigned transfers).

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::serve::errors::HubError;
use crate::serve::faults::FaultConfig;
use crate::serve::shared::Shared;
use crate::serve::{cas_api, cas_upload, commit, hub_api, resolve, tokens, transfer, upload};

pub fn hub(shared: Arc<Shared>) -> Router {
    let api = "/api/{kind}/{org}/{name}";
    Router::new()
        .route("/api/agent-harnesses", get(hub_api::agent_harnesses))
        .route("/api/whoami-v2", get(hub_api::whoami))
        .route("/api/repos/create", post(upload::create_repo))
        .route(api, get(hub_api::repo_info_main))
        .route(
            &format!("{api}/revision/{{rev}}"),
            get(hub_api::repo_info_rev),
        )
        .route(&format!("{api}/tree/{{rev}}"), get(hub_api::tree_root))
        .route(
            &format!("{api}/tree/{{rev}}/{{*path}}"),
            get(hub_api::tree_path),
        )
        .route(
            &format!("{api}/paths-info/{{rev}}"),
            post(hub_api::paths_info),
        )
        .route(&format!("{api}/refs"), get(hub_api::refs))
        .route(
            &format!("{api}/xet-read-token/{{rev}}"),
            get(tokens::read_token),
        )
        .route(
            &format!("{api}/xet-write-token/{{rev}}"),
            get(tokens::write_token),
        )
        .route(&format!("{api}/preupload/{{rev}}"), post(upload::preupload))
        .route(&format!("{api}/commit/{{rev}}"), post(commit::commit))
        .route("/{org}/{name}/resolve/{rev}/{*path}", get(resolve::model))
        .route(
            "/datasets/{org}/{name}/resolve/{rev}/{*path}",
            get(resolve::dataset),
        )
        .route(
            "/spaces/{org}/{name}/resolve/{rev}/{*path}",
            get(resolve::space),
        )
        .route("/metrics", get(metrics))
        .route("/_xetfs/faults", get(get_faults).post(set_faults))
        .fallback(not_found)
        // Commits carry base64 files; bodies are bounded by the handlers that read them.
        .layer(DefaultBodyLimit::disable())
        .with_state(shared)
}

pub fn cas(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/v1/reconstructions/{hash}",
            get(cas_api::reconstruction_v1),
        )
        .route(
            "/v2/reconstructions/{hash}",
            get(cas_api::reconstruction_v2),
        )
        .route(
            "/v1/xorbs/default/{hash}/chunk-hashes",
            get(cas_api::chunk_hashes),
        )
        .route(
            "/v1/xorbs/default/{hash}",
            post(cas_upload::post_xorb).head(cas_api::xorb_head),
        )
        .route("/v1/files/{hash}", axum::routing::head(cas_api::file_head))
        .route("/v1/chunks/{prefix}/{hash}", get(cas_api::dedup_query))
        .route("/v1/xorb-grants/{*rest}", post(cas_api::xorb_grant))
        .route("/v1/xorb-commits/{*rest}", post(cas_api::xorb_grant))
        .route("/v1/shards", post(cas_upload::post_shard_v1))
        .route("/v2/shards", post(cas_upload::post_shard_v2))
        .route("/v1/telemetry", post(cas_api::telemetry))
        .route("/xorbs/default/{hash}", get(transfer::get_xorb))
        .route("/xet-bridge/{hash}", get(transfer::get_bridge))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        // Xorbs are 64 MiB and more; the upload handlers enforce their own limits.
        .layer(DefaultBodyLimit::disable())
        .with_state(shared)
}

async fn not_found() -> HubError {
    HubError::not_found("no such endpoint")
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.metrics.snapshot()).into_response()
}

async fn get_faults(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.faults.config()).into_response()
}

/// `POST /_xetfs/faults` with a [`FaultConfig`] replaces the rules (tests, chaos drills).
async fn set_faults(
    State(shared): State<Arc<Shared>>,
    _headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<StatusCode, HubError> {
    let config: FaultConfig = serde_json::from_slice(&body)
        .map_err(|e| HubError::bad_request(format!("invalid fault config: {e}")))?;
    config.validate().map_err(HubError::bad_request)?;
    tracing::info!("fault rules replaced: {} rules", config.rules.len());
    shared.faults.set(config);
    Ok(StatusCode::NO_CONTENT)
}
