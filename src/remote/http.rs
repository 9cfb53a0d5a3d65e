//! [`Remote`] over HTTP: Hub API, CAS (tokens, reconstruction v2→v1 fallback) and presigned
//! transfer URLs, with deadlines and retries.
//!
//! Three `reqwest` clients, one per role, so credentials cannot leak between them: the Hub client
//! sends the HF token only to the Hub's origin (redirects are followed by hand to enforce that),
//! the CAS client sends only the CAS token, and the transfer client sends no credentials at all.

mod body;
mod cas;
mod config;
mod errors;
mod hub;
mod retry;
mod token;
mod transfer;

use std::collections::HashSet;
use std::ops::Range;
use std::time::Duration;

use reqwest::header::{HeaderMap, ACCEPT_ENCODING, LOCATION, RANGE};
use reqwest::{Method, Response};
use url::{Origin, Url};

pub use config::RemoteConfig;

use self::errors::{scrub, status_error, transport_error};
use self::retry::RetryPolicy;
use self::token::TokenCache;
use super::{ByteStream, RangeBody, Remote, RemoteError};
use crate::hub::{FileMetadata, RepoId, RepoScope, TreeEntry};
use crate::xet::reconstruction::{ByteRange, ReconstructionV2};
use crate::xet::MerkleHash;

/// Redirect hops followed before giving up.
const MAX_REDIRECTS: usize = 10;
/// Largest JSON body accepted from the Hub or the CAS.
const MAX_JSON_BYTES: usize = 64 << 20;
/// Largest error body read to find a message in it.
const MAX_ERROR_BODY: usize = 16 << 10;

/// The real protocol client. Cheap to share behind an `Arc`.
pub struct HttpRemote {
    hub_base: String,
    hub_origin: Origin,
    hf_token: Option<String>,
    hub: reqwest::Client,
    cas: reqwest::Client,
    transfer: reqwest::Client,
    retry: RetryPolicy,
    response_timeout: Duration,
    idle_timeout: Duration,
    offline: bool,
    tokens: TokenCache,
    /// CAS base URLs that answered 404/501 to v2 reconstructions.
    v1_only: parking_lot::Mutex<HashSet<String>>,
    /// CAS base URLs without the chunk-hashes extension.
    no_chunk_hashes: parking_lot::Mutex<HashSet<String>>,
}

/// Which redirects a Hub request follows by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Redirects {
    /// Only `Location`s without scheme and host (repo renames); absolute ones are returned.
    Relative,
    /// Any, dropping the HF token once the chain leaves the Hub's origin.
    Any,
}

impl HttpRemote {
    pub fn new(config: RemoteConfig) -> Result<Self, RemoteError> {
        let hub_base = config.endpoint.trim().trim_end_matches('/').to_string();
        let hub_url = Url::parse(&hub_base)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| {
                RemoteError::Protocol(format!(
                    "invalid Hub endpoint {hub_base:?}: expected an http(s) URL"
                ))
            })?;
        let build = |redirect: reqwest::redirect::Policy| {
            reqwest::Client::builder()
                .user_agent(config.user_agent.clone())
                .connect_timeout(config.connect_timeout)
                .pool_idle_timeout(Duration::from_secs(60))
                .tcp_nodelay(true)
                .redirect(redirect)
                .build()
                .map_err(|e| RemoteError::Protocol(format!("cannot build HTTP client: {e}")))
        };
        Ok(HttpRemote {
            hub_origin: hub_url.origin(),
            hub_base,
            hf_token: config.hf_token.filter(|t| !t.is_empty()),
            hub: build(reqwest::redirect::Policy::none())?,
            cas: build(reqwest::redirect::Policy::none())?,
            // Presigned URLs carry no credentials, so a CDN redirect is harmless.
            transfer: build(reqwest::redirect::Policy::limited(5))?,
            retry: RetryPolicy {
                max_attempts: config.max_attempts,
                backoff_base: config.backoff_base,
                backoff_cap: config.backoff_cap,
                call_timeout: config.call_timeout,
            },
            response_timeout: config.response_timeout,
            idle_timeout: config.idle_timeout,
            offline: config.offline,
            tokens: TokenCache::default(),
            v1_only: Default::default(),
            no_chunk_hashes: Default::default(),
        })
    }

    fn check_online(&self, what: &str) -> Result<(), RemoteError> {
        if self.offline {
            Err(RemoteError::Offline(format!("{what} needs the network")))
        } else {
            Ok(())
        }
    }

    /// `{endpoint}{path_and_query}`; `path_and_query` starts with `/` and is already encoded.
    fn hub_url(&self, path_and_query: &str) -> Result<Url, RemoteError> {
        Url::parse(&format!("{}{}", self.hub_base, path_and_query))
            .map_err(|e| RemoteError::Protocol(format!("bad Hub URL for {path_and_query}: {e}")))
    }

    /// Sends and waits for the response head (connect included) within the response timeout.
    async fn send(
        &self,
        what: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Response, RemoteError> {
        match tokio::time::timeout(self.response_timeout, request.send()).await {
            Err(_) => Err(RemoteError::Timeout(format!(
                "{what}: no response within {:?}",
                self.response_timeout
            ))),
            Ok(Err(e)) => Err(transport_error(what, e)),
            Ok(Ok(r)) => Ok(r),
        }
    }

    /// One attempt of a Hub request, following redirects as allowed. The HF token goes only to
    /// the Hub's origin, hop by hop.
    async fn hub_request(
        &self,
        method: Method,
        url: &Url,
        range: Option<ByteRange>,
        redirects: Redirects,
        what: &str,
    ) -> Result<Response, RemoteError> {
        let mut url = url.clone();
        for _ in 0..=MAX_REDIRECTS {
            let mut request = self
                .hub
                .request(method.clone(), url.clone())
                .header(ACCEPT_ENCODING, "identity");
            if url.origin() == self.hub_origin {
                if let Some(t) = &self.hf_token {
                    request = request.bearer_auth(t);
                }
            }
            if let Some(r) = range {
                request = request.header(RANGE, format!("bytes={}", r.http_spec()));
            }
            let response = self.send(what, request).await?;
            if !is_redirect(response.status()) {
                return Ok(response);
            }
            let Some(location) = response
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
            else {
                return Ok(response);
            };
            if redirects == Redirects::Relative && !is_relative_reference(location) {
                return Ok(response);
            }
            url = url
                .join(location)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .ok_or_else(|| {
                    RemoteError::Protocol(format!("{what}: bad redirect Location {location:?}"))
                })?;
        }
        Err(RemoteError::Protocol(format!(
            "{what}: more than {MAX_REDIRECTS} redirects"
        )))
    }

    /// The error for a non-success response, with a message from its headers or small body.
    async fn error_from(
        &self,
        what: &str,
        response: Response,
        secret: Option<&str>,
    ) -> RemoteError {
        let status = response.status();
        let headers = response.headers().clone();
        let body = if status.as_u16() == 416 || status.is_server_error() {
            None
        } else {
            body::read_small_body(response, what, MAX_ERROR_BODY, self.idle_timeout)
                .await
                .ok()
        };
        let text = body.as_deref().map(String::from_utf8_lossy);
        let e = status_error(what, status, &headers, text.as_deref());
        scrub(scrub(e, self.hf_token.as_deref()), secret)
    }

    /// GET of a Hub JSON document (with retries); also returns the final URL and headers.
    async fn hub_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &Url,
        what: &str,
    ) -> Result<(T, Url, HeaderMap), RemoteError> {
        self.retry
            .run(what, || async move {
                let response = self
                    .hub_request(Method::GET, url, None, Redirects::Relative, what)
                    .await?;
                if !response.status().is_success() {
                    return Err(self.error_from(what, response, None).await);
                }
                let final_url = response.url().clone();
                let headers = response.headers().clone();
                let body = body::read_small_body(response, what, MAX_JSON_BYTES, self.idle_timeout)
                    .await?;
                let value = serde_json::from_slice(&body)
                    .map_err(|e| RemoteError::Protocol(format!("{what}: unexpected JSON: {e}")))?;
                Ok((value, final_url, headers))
            })
            .await
    }
}

fn is_redirect(status: reqwest::StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// A `Location` without scheme and authority (`/a/b`, `b`, `?x`), resolved against the request.
fn is_relative_reference(location: &str) -> bool {
    if location.starts_with("//") {
        return false;
    }
    // RFC 3986: a scheme is ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) followed by ':'.
    match location.find(':') {
        None => true,
        Some(colon) => {
            let head = &location[..colon];
            let looks_like_scheme = head.starts_with(|c: char| c.is_ascii_alphabetic())
                && head
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
            // `a/b:c` has a ':' after a '/', so it is a path.
            !looks_like_scheme
        }
    }
}

#[async_trait::async_trait]
impl Remote for HttpRemote {
    async fn resolve_revision(&self, repo: &RepoId, rev: &str) -> Result<String, RemoteError> {
        self.check_online("resolving a revision")?;
        self.hub_resolve_revision(repo, rev).await
    }

    async fn list_tree(&self, repo: &RepoId, commit: &str) -> Result<Vec<TreeEntry>, RemoteError> {
        self.check_online("listing a repository")?;
        self.hub_list_tree(repo, commit).await
    }

    async fn file_metadata(
        &self,
        repo: &RepoId,
        commit: &str,
        path: &str,
    ) -> Result<FileMetadata, RemoteError> {
        self.check_online("file metadata")?;
        self.hub_file_metadata(repo, commit, path).await
    }

    async fn get_file(
        &self,
        repo: &RepoId,
        commit: &str,
        path: &str,
        range: Option<ByteRange>,
    ) -> Result<RangeBody, RemoteError> {
        self.check_online("downloading a file")?;
        self.hub_get_file(repo, commit, path, range).await
    }

    async fn reconstruction(
        &self,
        scope: &RepoScope,
        file: &MerkleHash,
        range: Range<u64>,
    ) -> Result<ReconstructionV2, RemoteError> {
        self.check_online("a reconstruction")?;
        self.cas_reconstruction(scope, file, range).await
    }

    async fn fetch_xorb_range(
        &self,
        url: &str,
        range: ByteRange,
    ) -> Result<ByteStream, RemoteError> {
        self.check_online("fetching xorb bytes")?;
        self.transfer_xorb_range(url, range).await
    }

    async fn xorb_chunk_hashes(
        &self,
        scope: &RepoScope,
        xorb: &MerkleHash,
    ) -> Result<Option<Vec<(MerkleHash, u32)>>, RemoteError> {
        self.check_online("xorb chunk hashes")?;
        self.cas_xorb_chunk_hashes(scope, xorb).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_references() {
        assert!(is_relative_reference("/api/models/new/name/tree/x"));
        assert!(is_relative_reference("page2?cursor=a:b"));
        assert!(is_relative_reference("../x"));
        assert!(!is_relative_reference("https://cdn.example/x"));
        assert!(!is_relative_reference("//cdn.example/x"));
        assert!(!is_relative_reference("HTTP://cdn.example/x"));
    }

    #[test]
    fn bad_endpoints_are_rejected() {
        for e in ["", "huggingface.co", "ftp://x", "http://"] {
            let cfg = RemoteConfig {
                endpoint: e.into(),
                ..RemoteConfig::default()
            };
            assert!(HttpRemote::new(cfg).is_err(), "{e:?}");
        }
    }
}
