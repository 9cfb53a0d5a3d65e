//! Settings of [`HttpRemote`](super::HttpRemote), with defaults. The stack fills them from its
//! `Settings` (where the CLI put flags and the environment).

use std::fmt;
use std::time::Duration;

use crate::hub::DEFAULT_ENDPOINT;

/// Where the Hub is, who we are, and how long we wait.
#[derive(Clone)]
pub struct RemoteConfig {
    /// Hub base URL, e.g. `https://huggingface.co` (may carry a path prefix).
    pub endpoint: String,
    /// Hub token; sent only to the Hub's origin, never to the CAS or transfer hosts.
    pub hf_token: Option<String>,
    pub user_agent: String,
    /// TCP (+TLS) connect.
    pub connect_timeout: Duration,
    /// Request sent → response head received.
    pub response_timeout: Duration,
    /// Longest gap between two pieces of a response body.
    pub idle_timeout: Duration,
    /// Everything one call spends on one request: all attempts and backoff sleeps, plus reading
    /// small (JSON) bodies. Streamed bodies are bounded by `idle_timeout` instead.
    pub call_timeout: Duration,
    /// Attempts per request for transient failures (1 = no retry).
    pub max_attempts: u32,
    /// Backoff before attempt `n + 1` is uniform in `[0, min(cap, base · 2^(n-1))]` (full jitter).
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// No network at all: every call fails with `RemoteError::Offline`.
    pub offline: bool,
}

impl Default for RemoteConfig {
    fn default() -> Self {
        RemoteConfig {
            endpoint: DEFAULT_ENDPOINT.to_string(),
            hf_token: None,
            user_agent: concat!("xetfs/", env!("CARGO_PKG_VERSION")).to_string(),
            connect_timeout: Duration::from_secs(10),
            response_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(30),
            call_timeout: Duration::from_secs(120),
            max_attempts: 5,
            backoff_base: Duration::from_millis(200),
            backoff_cap: Duration::from_secs(5),
            offline: false,
        }
    }
}

// Never print the token.
impl fmt::Debug for RemoteConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteConfig")
            .field("endpoint", &self.endpoint)
            .field("hf_token", &self.hf_token.as_ref().map(|_| "<redacted>"))
            .field("user_agent", &self.user_agent)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("call_timeout", &self.call_timeout)
            .field("max_attempts", &self.max_attempts)
            .field("backoff_base", &self.backoff_base)
            .field("backoff_cap", &self.backoff_cap)
            .field("offline", &self.offline)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_token() {
        let c = RemoteConfig {
            hf_token: Some("hf_secret".into()),
            ..RemoteConfig::default()
        };
        assert!(!format!("{c:?}").contains("hf_secret"));
        assert_eq!(c.endpoint, "https://huggingface.co");
    }
}
