//! Builds the read stack — remote, caches, catalog, engine — once, from one [`Settings`].
//! Every front end (`xetfs mount`, `xetfs demo`, and later `download`, `prefetch`, `proxy`)
//! starts here; nothing else constructs these layers.
//!
//! ```ignore
//! let stack = Stack::open(Settings { token, ..Settings::new("https://huggingface.co") })?;
//! let desc = stack.catalog.describe(&RepoId::model("org/name"), "main", "model.safetensors").await?;
//! let bytes = stack.engine.read(&desc, 0, 1 << 20, 0).await?;
//! ```

mod settings;

use std::sync::Arc;

use anyhow::Context;

pub use settings::{CacheSettings, Deadlines, RetrySettings, Settings};

use crate::cache::metadata::MetadataStore;
use crate::catalog::{CatalogConfig, HubCatalog, RepoCatalog};
use crate::read::{EngineConfig, FileReader, ReadEngine};
use crate::remote::http::{HttpRemote, RemoteConfig};
use crate::remote::Remote;

/// A built stack: a catalog to find files and an engine to read them, over one remote.
pub struct Stack {
    pub settings: Settings,
    pub remote: Arc<dyn Remote>,
    pub catalog: Arc<dyn RepoCatalog>,
    pub engine: Arc<ReadEngine>,
}

impl Stack {
    /// The real stack: an HTTP remote for `settings.endpoint` and `settings.token`. Opens (and
    /// creates) the cache directory. Must be called inside a tokio runtime.
    pub fn open(settings: Settings) -> anyhow::Result<Stack> {
        let remote = HttpRemote::new(remote_config(&settings))
            .with_context(|| format!("cannot use the endpoint {}", settings.endpoint))?;
        Stack::with_remote(settings, Arc::new(remote))
    }

    /// The stack over a given remote (tests: an in-memory or fault-injecting one). Everything
    /// else comes from `settings`; `endpoint` and `token` are the remote's business.
    pub fn with_remote(settings: Settings, remote: Arc<dyn Remote>) -> anyhow::Result<Stack> {
        let meta = match &settings.cache.dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create cache directory {}", dir.display()))?;
                let meta = MetadataStore::open(&dir.join("meta")).with_context(|| {
                    format!("cannot open the metadata cache in {}", dir.display())
                })?;
                Some(meta)
            }
            None => None,
        };
        let engine = ReadEngine::new(remote.clone(), engine_config(&settings))
            .context("starting the read engine")?;
        let catalog = HubCatalog::new(remote.clone(), meta, catalog_config(&settings));
        Ok(Stack {
            settings,
            remote,
            catalog: Arc::new(catalog),
            engine,
        })
    }

    /// The engine as front ends hold it.
    pub fn reader(&self) -> Arc<dyn FileReader> {
        self.engine.clone()
    }
}

fn remote_config(s: &Settings) -> RemoteConfig {
    RemoteConfig {
        endpoint: s.endpoint.clone(),
        hf_token: s.token.clone(),
        connect_timeout: s.deadlines.connect,
        response_timeout: s.deadlines.response,
        idle_timeout: s.deadlines.idle,
        call_timeout: s.deadlines.request,
        max_attempts: s.retry.max_attempts,
        backoff_base: s.retry.backoff_base,
        backoff_cap: s.retry.backoff_cap,
        offline: s.offline,
        ..RemoteConfig::default()
    }
}

fn engine_config(s: &Settings) -> EngineConfig {
    EngineConfig {
        memory_cache_bytes: s.cache.memory_bytes,
        cache_dir: s.cache.dir.clone(),
        disk_cache_bytes: s.cache.disk_bytes,
        read_timeout: s.deadlines.read,
        offline: s.offline,
        ..EngineConfig::default()
    }
}

fn catalog_config(s: &Settings) -> CatalogConfig {
    CatalogConfig {
        metadata_ttl: s.metadata_ttl,
        call_timeout: s.deadlines.hub_call,
        offline: s.offline,
        ..CatalogConfig::default()
    }
}

#[cfg(test)]
mod tests;
