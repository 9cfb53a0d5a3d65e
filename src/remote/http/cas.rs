//! CAS calls: read tokens from the Hub, reconstructions (v2, falling back to v1), and the
//! chunk-hash extension of `xetfs serve` (§4, §5.5).

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use reqwest::header::RANGE;
use reqwest::{Method, StatusCode};

use super::body::read_small_body;
use super::errors::display_url;
use super::token::{parse_token, CasToken};
use super::{HttpRemote, Redirects, MAX_JSON_BYTES};
use crate::hub::{encode_revision, RepoScope};
use crate::remote::RemoteError;
use crate::xet::reconstruction::{ReconstructionV1, ReconstructionV2};
use crate::xet::MerkleHash;

/// What a CAS GET came back with, once 401s were handled.
enum CasReply {
    Body(Bytes),
    /// One of the statuses the caller asked to see instead of an error.
    Status(StatusCode),
}

#[derive(serde::Deserialize)]
struct ChunkHashesJson {
    chunks: Vec<ChunkHashJson>,
}

#[derive(serde::Deserialize)]
struct ChunkHashJson {
    hash: MerkleHash,
    len: u32,
}

impl HttpRemote {
    /// The scope's CAS token, fetched from the Hub when missing, near expiry, or `rejected`.
    async fn cas_token(
        &self,
        scope: &RepoScope,
        rejected: Option<&str>,
    ) -> Result<Arc<CasToken>, RemoteError> {
        self.tokens
            .get(scope, rejected, || self.fetch_token(scope))
            .await
    }

    async fn fetch_token(&self, scope: &RepoScope) -> Result<CasToken, RemoteError> {
        let url = self.hub_url(&format!(
            "{}/xet-read-token/{}",
            scope.repo.api_path(),
            encode_revision(&scope.commit)
        ))?;
        let what = format!("GET {}", display_url(&url));
        let (what, url) = (what.as_str(), &url);
        self.retry
            .run(what, || async move {
                let r = self
                    .hub_request(Method::GET, url, None, Redirects::Relative, what)
                    .await?;
                if !r.status().is_success() {
                    return Err(self.error_from(what, r, None).await);
                }
                let headers = r.headers().clone();
                let body = read_small_body(r, what, MAX_JSON_BYTES, self.idle_timeout).await?;
                parse_token(&headers, &body)
            })
            .await
    }

    /// GET `{casUrl}{path}` with `token` (retried). A 401 refreshes the token and repeats once;
    /// statuses in `pass` are returned instead of turned into errors.
    async fn cas_get(
        &self,
        scope: &RepoScope,
        what: &str,
        path: &str,
        range: Option<&Range<u64>>,
        pass: &[u16],
        mut token: Arc<CasToken>,
    ) -> Result<(CasReply, Arc<CasToken>), RemoteError> {
        let mut rejected: Option<String> = None;
        loop {
            if rejected.is_some() {
                token = self.cas_token(scope, rejected.as_deref()).await?;
            }
            let url = format!("{}{}", token.cas_url, path);
            let (token_ref, url) = (&token, url.as_str());
            let reply = self
                .retry
                .run(what, || async move {
                    let mut request = self.cas.get(url).bearer_auth(&token_ref.access_token);
                    if let Some(r) = range {
                        request = request.header(RANGE, format!("bytes={}-{}", r.start, r.end - 1));
                    }
                    let r = self.send(what, request).await?;
                    let status = r.status();
                    if status == StatusCode::OK {
                        let body =
                            read_small_body(r, what, MAX_JSON_BYTES, self.idle_timeout).await?;
                        return Ok(CasReply::Body(body));
                    }
                    if pass.contains(&status.as_u16()) || status == StatusCode::UNAUTHORIZED {
                        return Ok(CasReply::Status(status));
                    }
                    Err(self
                        .error_from(what, r, Some(&token_ref.access_token))
                        .await)
                })
                .await?;
            match reply {
                CasReply::Status(StatusCode::UNAUTHORIZED) if rejected.is_none() => {
                    tracing::debug!(%what, "CAS token rejected, refreshing");
                    rejected = Some(token.access_token.clone());
                }
                CasReply::Status(StatusCode::UNAUTHORIZED) => {
                    return Err(RemoteError::Unauthorized(format!(
                        "{what}: the CAS rejected a freshly issued token"
                    )))
                }
                reply => return Ok((reply, token)),
            }
        }
    }

    pub(super) async fn cas_reconstruction(
        &self,
        scope: &RepoScope,
        file: &MerkleHash,
        range: Range<u64>,
    ) -> Result<ReconstructionV2, RemoteError> {
        let what = format!(
            "reconstruction of {file} bytes {}-{}",
            range.start,
            range.end.wrapping_sub(1)
        );
        if range.start >= range.end {
            return Err(RemoteError::Protocol(format!(
                "{what}: empty range requested"
            )));
        }
        let mut token = self.cas_token(scope, None).await?;
        if !self.v1_only.lock().contains(&token.cas_url) {
            let path = format!("/v2/reconstructions/{file}");
            let pass = [404, 501];
            match self
                .cas_get(scope, &what, &path, Some(&range), &pass, token)
                .await?
            {
                (CasReply::Body(body), _) => return parse_reconstruction(&body, false, &what),
                (CasReply::Status(status), t) => {
                    token = t;
                    tracing::debug!(%what, %status, "v2 reconstruction unavailable, trying v1");
                    // 501 says "no v2" outright; a 404 may also mean "no such file", so it
                    // is remembered only when v1 then answers.
                    if status == StatusCode::NOT_IMPLEMENTED {
                        self.v1_only.lock().insert(token.cas_url.clone());
                    }
                }
            }
        }
        let path = format!("/v1/reconstructions/{file}");
        let (reply, token) = self
            .cas_get(scope, &what, &path, Some(&range), &[], token)
            .await?;
        self.v1_only.lock().insert(token.cas_url.clone());
        match reply {
            CasReply::Body(body) => parse_reconstruction(&body, true, &what),
            CasReply::Status(s) => Err(RemoteError::Protocol(format!("{what}: status {s}"))),
        }
    }

    pub(super) async fn cas_xorb_chunk_hashes(
        &self,
        scope: &RepoScope,
        xorb: &MerkleHash,
    ) -> Result<Option<Vec<(MerkleHash, u32)>>, RemoteError> {
        let token = self.cas_token(scope, None).await?;
        if self.no_chunk_hashes.lock().contains(&token.cas_url) {
            return Ok(None);
        }
        let what = format!("chunk hashes of xorb {xorb}");
        let path = format!("/v1/xorbs/default/{xorb}/chunk-hashes");
        match self
            .cas_get(scope, &what, &path, None, &[404, 405, 501], token)
            .await?
        {
            (CasReply::Body(body), _) => {
                let parsed: ChunkHashesJson = serde_json::from_slice(&body)
                    .map_err(|e| RemoteError::Protocol(format!("{what}: unexpected JSON: {e}")))?;
                Ok(Some(
                    parsed.chunks.into_iter().map(|c| (c.hash, c.len)).collect(),
                ))
            }
            (CasReply::Status(status), token) => {
                tracing::debug!(cas = %token.cas_url, %status, "chunk-hash extension not offered");
                self.no_chunk_hashes.lock().insert(token.cas_url.clone());
                Ok(None)
            }
        }
    }
}

/// Parses and checks a reconstruction; a body that fails is a protocol error (not retried).
fn parse_reconstruction(
    body: &[u8],
    v1: bool,
    what: &str,
) -> Result<ReconstructionV2, RemoteError> {
    let parsed: Result<ReconstructionV2, _> = if v1 {
        serde_json::from_slice::<ReconstructionV1>(body).map(Into::into)
    } else {
        serde_json::from_slice(body)
    };
    let r = parsed.map_err(|e| {
        RemoteError::Protocol(format!(
            "{what}: unexpected v{} JSON: {e}",
            if v1 { 1 } else { 2 }
        ))
    })?;
    r.validate()
        .map_err(|e| RemoteError::Protocol(format!("{what}: unusable reconstruction: {e}")))?;
    Ok(r)
}
