//! [`Settings`]: everything the read stack runs with, in one struct that front ends fill (the
//! CLI from flags, `-o` options and the environment; tests directly). Its defaults are the
//! components' own (`RemoteConfig`, `CatalogConfig`, `EngineConfig`), so each number is written
//! once.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::catalog::CatalogConfig;
use crate::hub::DEFAULT_ENDPOINT;
use crate::read::EngineConfig;
use crate::remote::http::RemoteConfig;

/// One Hub endpoint, one identity, one set of caches and deadlines.
#[derive(Clone, PartialEq)]
pub struct Settings {
    /// Hub base URL, e.g. `https://huggingface.co` (may carry a path prefix; no trailing `/`).
    /// Cached data is tied to it.
    pub endpoint: String,
    /// Hub token; sent only to the Hub's origin, never to the CAS or transfer hosts.
    pub token: Option<String>,
    /// Never touch the network: answer from the caches (listings, revisions, chunks).
    pub offline: bool,
    pub cache: CacheSettings,
    /// How long a branch or tag keeps resolving to the same commit; commits never expire.
    pub metadata_ttl: Duration,
    pub deadlines: Deadlines,
    pub retry: RetrySettings,
}

/// Where and how much to cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSettings {
    /// Persistent cache (chunks, small files, metadata); `None`: memory only, nothing survives
    /// the process.
    pub dir: Option<PathBuf>,
    /// Budget of the disk cache.
    pub disk_bytes: u64,
    /// Budget of everything the engine keeps in memory (decoded chunks, plain files, buffers).
    pub memory_bytes: u64,
}

/// Every deadline of the stack, in one place. Each layer enforces its own and never waits
/// longer than the layer above it allows:
/// - one HTTP request: `connect`, then `response` (request sent → head), then `idle` (gap in a
///   body); `request` bounds all attempts of one request with their backoff;
/// - one catalog call (a resolve, or a whole paginated listing): `hub_call`; a front end's
///   lookup (resolve + list) gets [`Deadlines::lookup`];
/// - one read: `read`, whatever the engine does inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    pub connect: Duration,
    pub response: Duration,
    pub idle: Duration,
    pub request: Duration,
    pub hub_call: Duration,
    pub read: Duration,
}

impl Deadlines {
    /// A lookup that may resolve a revision and then list its commit.
    pub fn lookup(&self) -> Duration {
        self.hub_call * 2
    }

    /// These deadlines shortened so that a read and a lookup are answered before `limit` (the
    /// kernel's FUSE request timeout, past which it aborts the whole connection), with a margin
    /// of a tenth (at least 2 s) for the answer to get there.
    pub fn fit_within(self, limit: Duration) -> Deadlines {
        let margin = (limit / 10).max(Duration::from_secs(2));
        let budget = limit.saturating_sub(margin).max(Duration::from_secs(1));
        Deadlines {
            read: self.read.min(budget),
            hub_call: self.hub_call.min(budget / 2),
            ..self
        }
    }
}

impl Default for Deadlines {
    /// 10 s connect, 30 s response head, 30 s idle body, 120 s per request, 300 s per catalog
    /// call, 60 s per read.
    fn default() -> Self {
        let (remote, catalog) = (RemoteConfig::default(), CatalogConfig::default());
        Deadlines {
            connect: remote.connect_timeout,
            response: remote.response_timeout,
            idle: remote.idle_timeout,
            request: remote.call_timeout,
            hub_call: catalog.call_timeout,
            read: EngineConfig::default().read_timeout,
        }
    }
}

/// Retries of one HTTP request after a transient failure (5xx, 429, reset, timeout), within
/// [`Deadlines::request`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySettings {
    /// Attempts per request (1: no retry).
    pub max_attempts: u32,
    /// Backoff before attempt `n + 1` is uniform in `[0, min(cap, base · 2^(n-1))]`.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
}

impl Default for RetrySettings {
    /// 5 attempts, backoff from 200 ms up to 5 s.
    fn default() -> Self {
        let remote = RemoteConfig::default();
        RetrySettings {
            max_attempts: remote.max_attempts,
            backoff_base: remote.backoff_base,
            backoff_cap: remote.backoff_cap,
        }
    }
}

impl Settings {
    /// Defaults for `endpoint` (trailing `/` removed): anonymous, online, memory-only caches
    /// (1 GiB; a disk cache, once given a directory, of 20 GiB), a 60 s metadata TTL.
    pub fn new(endpoint: &str) -> Self {
        let engine = EngineConfig::default();
        Settings {
            endpoint: endpoint.trim().trim_end_matches('/').to_string(),
            token: None,
            offline: false,
            cache: CacheSettings {
                dir: None,
                disk_bytes: engine.disk_cache_bytes,
                memory_bytes: engine.memory_cache_bytes,
            },
            metadata_ttl: CatalogConfig::default().metadata_ttl,
            deadlines: Deadlines::default(),
            retry: RetrySettings::default(),
        }
    }
}

impl Default for Settings {
    /// [`Settings::new`] for huggingface.co.
    fn default() -> Self {
        Settings::new(DEFAULT_ENDPOINT)
    }
}

// Never print the token.
impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("endpoint", &self.endpoint)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("offline", &self.offline)
            .field("cache", &self.cache)
            .field("metadata_ttl", &self.metadata_ttl)
            .field("deadlines", &self.deadlines)
            .field("retry", &self.retry)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_debug() {
        let s = Settings::new(" http://127.0.0.1:9/hub/ ");
        assert_eq!(s.endpoint, "http://127.0.0.1:9/hub");
        assert_eq!(s.cache.dir, None);
        assert_eq!(
            (s.cache.memory_bytes, s.cache.disk_bytes),
            (1 << 30, 20 << 30)
        );
        assert_eq!(s.metadata_ttl, Duration::from_secs(60));
        assert_eq!(s.deadlines.hub_call, Duration::from_secs(300));
        assert_eq!(s.retry.max_attempts, 5);
        assert!(s.deadlines.lookup() > s.deadlines.hub_call);
        assert!(s.deadlines.request > s.deadlines.response);
        let secret = Settings {
            token: Some("hf_secret".into()),
            ..Settings::default()
        };
        assert_eq!(secret.endpoint, DEFAULT_ENDPOINT);
        let shown = format!("{secret:?}");
        assert!(!shown.contains("hf_secret") && shown.contains("<redacted>"));
    }

    #[test]
    fn deadlines_fit_within_the_kernel_timeout() {
        let d = Deadlines::default().fit_within(Duration::from_secs(120));
        assert_eq!(d.read, Duration::from_secs(60), "already short enough");
        assert_eq!(d.hub_call, Duration::from_secs(54));
        assert!(d.lookup() < Duration::from_secs(120));
        assert_eq!(
            d.request,
            Deadlines::default().request,
            "bounded by hub_call"
        );
        let tiny = Deadlines::default().fit_within(Duration::from_secs(3));
        assert_eq!(tiny.read, Duration::from_secs(1));
        assert!(tiny.lookup() < Duration::from_secs(3));
        let roomy = Deadlines::default().fit_within(Duration::from_secs(3600));
        assert_eq!(roomy, Deadlines::default());
    }
}
