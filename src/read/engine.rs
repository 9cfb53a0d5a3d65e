//! The read engine: assembles verified bytes of a file from caches and the network.
// SKELETON: to be written by the lead (issue 4).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::remote::Remote;

/// Engine settings (the mount CLI fills them from its flags).
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Budget of the decoded-chunk memory cache.
    pub memory_cache_bytes: u64,
    /// Persistent cache directory; `None` disables the disk cache.
    pub cache_dir: Option<PathBuf>,
    /// Budget of the disk cache.
    pub disk_cache_bytes: u64,
    /// Every read ends with data or an error within this time.
    pub read_timeout: Duration,
    /// Largest sequential prefetch window.
    pub max_prefetch_bytes: u64,
    /// Serve only what is cached; never touch the network.
    pub offline: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            memory_cache_bytes: 1 << 30,
            cache_dir: None,
            disk_cache_bytes: 20 << 30,
            read_timeout: Duration::from_secs(60),
            max_prefetch_bytes: 256 << 20,
            offline: false,
        }
    }
}

/// Implements [`FileReader`](super::FileReader).
pub struct ReadEngine {
    _private: (),
}

impl ReadEngine {
    /// Builds the engine (opening the disk cache when configured). Must be called inside a tokio
    /// runtime.
    pub fn new(remote: Arc<dyn Remote>, config: EngineConfig) -> anyhow::Result<Arc<Self>> {
        let _ = (remote, config);
        todo!()
    }
}
