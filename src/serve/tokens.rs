//! `GET /api/{type}s/{repo}/xet-{read,write}-token/{rev}`: a CAS token in the headers (read by
//! huggingface_hub) and in the JSON body (read by hf_xet), both required by the clients.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::access::{open, repo_id, Access};
use super::errors::{header_safe, HubResult};
use super::metrics::Endpoint;
use super::shared::Shared;
use super::signing::Scope;
use super::time::now_secs;

pub async fn read_token(
    State(shared): State<Arc<Shared>>,
    Path((kind, org, name, rev)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> HubResult<Response> {
    let id = repo_id(&kind, &org, &name)?;
    let repo = open(&shared, &id, &headers, Access::Read)?;
    repo.snapshot(&rev)?;
    Ok(token_response(
        &shared,
        &headers,
        Scope::Read,
        &id.to_string(),
    ))
}

/// `rev` is not checked: `create_pr` uploads literally ask for `…/xet-write-token/None`.
pub async fn write_token(
    State(shared): State<Arc<Shared>>,
    Path((kind, org, name, _rev)): Path<(String, String, String, String)>,
    Query(_q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> HubResult<Response> {
    let id = repo_id(&kind, &org, &name)?;
    open(&shared, &id, &headers, Access::Write)?;
    Ok(token_response(
        &shared,
        &headers,
        Scope::Write,
        &id.to_string(),
    ))
}

fn token_response(shared: &Shared, headers: &HeaderMap, scope: Scope, repo: &str) -> Response {
    let class = match scope {
        Scope::Read => Endpoint::XetReadToken,
        Scope::Write => Endpoint::XetWriteToken,
    };
    let exp = now_secs() + shared.token_ttl(class).as_secs();
    let token = shared.signer.token(scope, repo, exp);
    let cas = shared.cas_base(headers);
    let mut resp = Json(json!({ "accessToken": token, "exp": exp, "casUrl": cas })).into_response();
    let h = resp.headers_mut();
    h.insert("x-xet-access-token", header_safe(&token));
    h.insert("x-xet-token-expiration", header_safe(&exp.to_string()));
    h.insert("x-xet-cas-url", header_safe(&cas));
    resp
}
