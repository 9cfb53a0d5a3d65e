//! Everything about a server that is not where it listens: auth, faults, lifetimes, paging.
//! Loadable from a JSON file (`--config FILE`); every field is optional.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::auth::AuthConfig;
use super::faults::FaultConfig;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServeConfig {
    pub auth: AuthConfig,
    pub faults: FaultConfig,
    /// Lifetime of presigned xorb and bridge URLs.
    pub url_ttl_secs: u64,
    /// Lifetime of CAS tokens.
    pub token_ttl_secs: u64,
    /// Entries per page of the tree API (clients follow `Link: rel="next"`).
    pub tree_page_size: usize,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            auth: AuthConfig::default(),
            faults: FaultConfig::default(),
            url_ttl_secs: 3600,
            token_ttl_secs: 3600,
            tree_page_size: 1000,
        }
    }
}

impl ServeConfig {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read config {}: {e}", path.display()))?;
        let c: ServeConfig = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("invalid config {}: {e}", path.display()))?;
        c.validate()?;
        Ok(c)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        self.faults.validate().map_err(anyhow::Error::msg)?;
        anyhow::ensure!(self.tree_page_size > 0, "tree_page_size must be positive");
        anyhow::ensure!(
            self.url_ttl_secs > 0 && self.token_ttl_secs > 0,
            "lifetimes must be positive"
        );
        Ok(())
    }

    pub fn url_ttl(&self) -> Duration {
        Duration::from_secs(self.url_ttl_secs)
    }

    pub fn token_ttl(&self) -> Duration {
        Duration::from_secs(self.token_ttl_secs)
    }
}
