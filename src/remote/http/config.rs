//! Settings of [`HttpRemote`](super::HttpRemote), with defaults and the environment variables of
//! `huggingface_hub` (so a mount sees the same Hub and token as the official clients).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::util::units::parse_duration;

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

pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// An environment variable with a value we cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}: {reason}")]
pub struct ConfigError {
    pub var: String,
    pub reason: String,
}

impl RemoteConfig {
    /// Defaults overridden by the process environment (see [`RemoteConfig::from_env_with`]).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_env_with(|k| std::env::var(k).ok())
    }

    /// Like `huggingface_hub`: `HF_ENDPOINT` (else `https://huggingface.co`); token from `HF_TOKEN`,
    /// else the file `HF_TOKEN_PATH`, else `$HF_HOME/token` (`HF_HOME` defaults to
    /// `~/.cache/huggingface`, or `$XDG_CACHE_HOME/huggingface`); `HF_HUB_OFFLINE=1` → offline.
    /// xetfs' own knobs: `XETFS_CONNECT_TIMEOUT`, `XETFS_RESPONSE_TIMEOUT`, `XETFS_IDLE_TIMEOUT`,
    /// `XETFS_CALL_TIMEOUT` (durations such as `30s`), `XETFS_MAX_ATTEMPTS`.
    pub fn from_env_with(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let mut cfg = RemoteConfig::default();
        if let Some(e) = get("HF_ENDPOINT") {
            cfg.endpoint = e.trim().trim_end_matches('/').to_string();
        }
        cfg.hf_token = match get("HF_TOKEN") {
            Some(t) => Some(t.trim().to_string()),
            None => token_file(&get).and_then(|p| read_token_file(&p)),
        };
        if let Some(v) = get("HF_HUB_OFFLINE") {
            cfg.offline = parse_bool("HF_HUB_OFFLINE", &v)?;
        }
        let duration = |var: &str, slot: &mut Duration| -> Result<(), ConfigError> {
            if let Some(v) = get(var) {
                *slot = parse_duration(&v).map_err(|reason| ConfigError {
                    var: var.into(),
                    reason,
                })?;
            }
            Ok(())
        };
        duration("XETFS_CONNECT_TIMEOUT", &mut cfg.connect_timeout)?;
        duration("XETFS_RESPONSE_TIMEOUT", &mut cfg.response_timeout)?;
        duration("XETFS_IDLE_TIMEOUT", &mut cfg.idle_timeout)?;
        duration("XETFS_CALL_TIMEOUT", &mut cfg.call_timeout)?;
        if let Some(v) = get("XETFS_MAX_ATTEMPTS") {
            cfg.max_attempts =
                v.trim()
                    .parse()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| ConfigError {
                        var: "XETFS_MAX_ATTEMPTS".into(),
                        reason: format!("{v:?} is not a whole number ≥ 1"),
                    })?;
        }
        Ok(cfg)
    }
}

fn token_file(get: &impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(p) = get("HF_TOKEN_PATH") {
        return Some(PathBuf::from(p));
    }
    let home = match get("HF_HOME") {
        Some(h) => PathBuf::from(h),
        None => match get("XDG_CACHE_HOME") {
            Some(x) => PathBuf::from(x).join("huggingface"),
            None => PathBuf::from(get("HOME")?).join(".cache/huggingface"),
        },
    };
    Some(home.join("token"))
}

/// A missing or unreadable token file means "anonymous", as in `huggingface_hub`.
fn read_token_file(path: &PathBuf) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// `huggingface_hub`'s truthy values.
fn parse_bool(var: &str, v: &str) -> Result<bool, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "on" | "yes" | "true" => Ok(true),
        "0" | "off" | "no" | "false" => Ok(false),
        _ => Err(ConfigError {
            var: var.into(),
            reason: format!("{v:?} is not a boolean (use 1 or 0)"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn cfg(vars: &[(&str, &str)]) -> Result<RemoteConfig, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        RemoteConfig::from_env_with(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_without_environment() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.endpoint, "https://huggingface.co");
        assert_eq!(c.hf_token, None);
        assert!(!c.offline);
        assert_eq!(c.max_attempts, 5);
        assert_eq!(c.connect_timeout, Duration::from_secs(10));
    }

    #[test]
    fn hf_variables_are_honoured() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "hf_fromfile\n").unwrap();
        let home = dir.path().to_str().unwrap();
        let c = cfg(&[
            ("HF_ENDPOINT", "http://127.0.0.1:9/"),
            ("HF_HOME", home),
            ("HF_HUB_OFFLINE", "1"),
        ])
        .unwrap();
        assert_eq!(c.endpoint, "http://127.0.0.1:9");
        assert_eq!(c.hf_token.as_deref(), Some("hf_fromfile"));
        assert!(c.offline);
        // HF_TOKEN wins over the file.
        let c = cfg(&[("HF_HOME", home), ("HF_TOKEN", "hf_env")]).unwrap();
        assert_eq!(c.hf_token.as_deref(), Some("hf_env"));
        // The default HF_HOME is under HOME.
        std::fs::create_dir_all(dir.path().join(".cache/huggingface")).unwrap();
        std::fs::write(dir.path().join(".cache/huggingface/token"), "hf_home").unwrap();
        let c = cfg(&[("HOME", home)]).unwrap();
        assert_eq!(c.hf_token.as_deref(), Some("hf_home"));
    }

    #[test]
    fn bad_values_are_errors() {
        assert_eq!(
            cfg(&[("HF_HUB_OFFLINE", "maybe")]).unwrap_err().var,
            "HF_HUB_OFFLINE"
        );
        assert!(cfg(&[("XETFS_IDLE_TIMEOUT", "soon")]).is_err());
        assert!(cfg(&[("XETFS_MAX_ATTEMPTS", "0")]).is_err());
        let c = cfg(&[("XETFS_IDLE_TIMEOUT", "250ms"), ("XETFS_MAX_ATTEMPTS", "2")]).unwrap();
        assert_eq!(c.idle_timeout, Duration::from_millis(250));
        assert_eq!(c.max_attempts, 2);
    }

    #[test]
    fn debug_hides_the_token() {
        let c = RemoteConfig {
            hf_token: Some("hf_secret".into()),
            ..RemoteConfig::default()
        };
        assert!(!format!("{c:?}").contains("hf_secret"));
    }
}
