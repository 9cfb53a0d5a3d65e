//! CAS read tokens: parsing the Hub's answer (JSON or legacy headers) and a per-scope cache that
//! refreshes shortly before expiry, or when the CAS rejected the current token, one fetch at a time.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;
use url::Url;

use crate::hub::RepoScope;
use crate::remote::RemoteError;

/// Refresh when `exp − now ≤` this many seconds (xet-core's margin).
pub(crate) const REFRESH_MARGIN_SECS: u64 = 30;

/// What `xet-read-token` grants: a CAS base URL and a bearer token for it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct CasToken {
    /// Base URL without a trailing `/`.
    pub cas_url: String,
    pub access_token: String,
    /// Expiry, Unix seconds.
    pub exp: u64,
}

impl fmt::Debug for CasToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CasToken")
            .field("cas_url", &self.cas_url)
            .field("exp", &self.exp)
            .finish_non_exhaustive()
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenJson {
    cas_url: String,
    access_token: String,
    exp: serde_json::Number,
}

/// JSON body first (current Hub), else the `X-Xet-*` headers (older Hub).
pub(crate) fn parse_token(headers: &HeaderMap, body: &[u8]) -> Result<CasToken, RemoteError> {
    let (cas_url, access_token, exp) = match serde_json::from_slice::<TokenJson>(body) {
        Ok(j) => {
            let exp = j
                .exp
                .as_u64()
                .or_else(|| j.exp.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
                .ok_or_else(|| bad(&format!("exp {} is not a Unix time", j.exp)))?;
            (j.cas_url, j.access_token, exp)
        }
        Err(json_err) => {
            let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
            match (
                h("x-xet-cas-url"),
                h("x-xet-access-token"),
                h("x-xet-token-expiration"),
            ) {
                (Some(u), Some(t), Some(e)) => {
                    let exp = e
                        .trim()
                        .parse()
                        .map_err(|_| bad(&format!("X-Xet-Token-Expiration {e:?}")))?;
                    (u.to_string(), t.to_string(), exp)
                }
                _ => {
                    return Err(bad(&format!(
                        "neither a JSON body ({json_err}) nor X-Xet-* headers"
                    )))
                }
            }
        }
    };
    let cas_url = cas_url.trim().trim_end_matches('/').to_string();
    match Url::parse(&cas_url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
        _ => return Err(bad(&format!("casUrl {cas_url:?} is not an http(s) URL"))),
    }
    if access_token.is_empty() || access_token.chars().any(|c| c.is_control()) {
        return Err(bad("empty or malformed accessToken"));
    }
    Ok(CasToken {
        cas_url,
        access_token,
        exp,
    })
}

fn bad(what: &str) -> RemoteError {
    RemoteError::Protocol(format!("xet-read-token: {what}"))
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// One cached token per scope; fetches are serialized per scope.
#[derive(Default)]
pub(crate) struct TokenCache {
    slots: parking_lot::Mutex<HashMap<RepoScope, Arc<Slot>>>,
}

#[derive(Default)]
struct Slot {
    /// Fetches finished so far (bumped under the lock): a waiter that sees it grow while it
    /// waited knows someone fetched for it.
    fetches_done: AtomicU64,
    state: tokio::sync::Mutex<SlotState>,
}

#[derive(Default)]
struct SlotState {
    token: Option<Arc<CasToken>>,
    last_error: Option<RemoteError>,
}

impl TokenCache {
    /// The token for `scope`. Fetches a new one (with `fetch`) when there is none, when it is
    /// within the refresh margin, or when it is `rejected` (the CAS answered 401 to it).
    /// Callers queued behind a fetch take its result, success or error, instead of fetching again.
    pub async fn get<F, Fut>(
        &self,
        scope: &RepoScope,
        rejected: Option<&str>,
        fetch: F,
    ) -> Result<Arc<CasToken>, RemoteError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<CasToken, RemoteError>>,
    {
        let slot = self.slots.lock().entry(scope.clone()).or_default().clone();
        let seen = slot.fetches_done.load(Ordering::Acquire);
        let mut state = slot.state.lock().await;
        let fetched_while_waiting = slot.fetches_done.load(Ordering::Acquire) != seen;
        let now = unix_now();
        if let Some(t) = &state.token {
            let is_rejected = rejected == Some(t.access_token.as_str());
            let fresh = t.exp > now + REFRESH_MARGIN_SECS;
            // A token fetched while we waited is used unless it is already past `exp`: servers
            // that hand out short-lived tokens would otherwise cause a fetch per call.
            if !is_rejected && (fresh || (fetched_while_waiting && t.exp > now)) {
                return Ok(t.clone());
            }
        }
        if fetched_while_waiting {
            if let Some(e) = &state.last_error {
                return Err(e.clone());
            }
        }
        let result = fetch().await;
        slot.fetches_done.fetch_add(1, Ordering::AcqRel);
        match result {
            Ok(t) => {
                let t = Arc::new(t);
                state.token = Some(t.clone());
                state.last_error = None;
                Ok(t)
            }
            Err(e) => {
                state.last_error = Some(e.clone());
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;
    use std::time::Duration;

    use reqwest::header::HeaderValue;

    use super::*;
    use crate::hub::RepoId;

    fn scope() -> RepoScope {
        RepoScope {
            repo: RepoId::model("a/b"),
            commit: "c".repeat(40),
        }
    }

    fn token(n: u32, exp: u64) -> CasToken {
        CasToken {
            cas_url: "http://cas".into(),
            access_token: format!("t{n}"),
            exp,
        }
    }

    #[test]
    fn json_and_headers_forms() {
        let t = parse_token(
            &HeaderMap::new(),
            br#"{"casUrl":"http://127.0.0.1:1/","accessToken":"abc","exp":17}"#,
        )
        .unwrap();
        assert_eq!(t.cas_url, "http://127.0.0.1:1");
        assert_eq!((t.access_token.as_str(), t.exp), ("abc", 17));
        let mut h = HeaderMap::new();
        h.insert("x-xet-cas-url", HeaderValue::from_static("https://cas.x"));
        h.insert("x-xet-access-token", HeaderValue::from_static("hdr"));
        h.insert("x-xet-token-expiration", HeaderValue::from_static("99"));
        let t = parse_token(&h, b"").unwrap();
        assert_eq!((t.cas_url.as_str(), t.exp), ("https://cas.x", 99));
        assert!(parse_token(&HeaderMap::new(), b"{}").is_err());
        assert!(parse_token(
            &HeaderMap::new(),
            br#"{"casUrl":"ftp://x","accessToken":"a","exp":1}"#
        )
        .is_err());
    }

    #[tokio::test]
    async fn cached_until_near_expiry_or_rejected() {
        let cache = TokenCache::default();
        let fetches = AtomicU32::new(0);
        let far = unix_now() + 3600;
        let fetch = || async {
            let n = fetches.fetch_add(1, Ordering::SeqCst);
            Ok(token(n, far))
        };
        let a = cache.get(&scope(), None, fetch).await.unwrap();
        let b = cache.get(&scope(), None, fetch).await.unwrap();
        assert_eq!(a.access_token, b.access_token);
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        // A 401 on t0 refreshes; a late 401 on the old t0 does not refresh again.
        let c = cache.get(&scope(), Some("t0"), fetch).await.unwrap();
        assert_eq!(c.access_token, "t1");
        let d = cache.get(&scope(), Some("t0"), fetch).await.unwrap();
        assert_eq!(d.access_token, "t1");
        assert_eq!(fetches.load(Ordering::SeqCst), 2);

        // Inside the refresh margin: refetched on the next call.
        let cache = TokenCache::default();
        let near = unix_now() + REFRESH_MARGIN_SECS - 1;
        let fetch = || async {
            let n = fetches.fetch_add(1, Ordering::SeqCst);
            Ok(token(n, near))
        };
        cache.get(&scope(), None, fetch).await.unwrap();
        cache.get(&scope(), None, fetch).await.unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_fetch_and_its_error() {
        let cache = Arc::new(TokenCache::default());
        let fetches = Arc::new(AtomicU32::new(0));
        let run = |fail: bool| {
            let (cache, fetches) = (cache.clone(), fetches.clone());
            tokio::spawn(async move {
                cache
                    .get(&scope(), None, || async move {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        if fail {
                            Err(RemoteError::Transient("hub down".into()))
                        } else {
                            Ok(token(0, unix_now() + 3600))
                        }
                    })
                    .await
            })
        };
        let tasks: Vec<_> = (0..8).map(|_| run(true)).collect();
        for t in tasks {
            assert!(t.await.unwrap().is_err());
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        let tasks: Vec<_> = (0..8).map(|_| run(false)).collect();
        for t in tasks {
            assert!(t.await.unwrap().is_ok());
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }
}
