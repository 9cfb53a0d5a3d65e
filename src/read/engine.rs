//! The read engine: assembles verified bytes of a file from caches and the network.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::RwLock;

use super::disk_writer::DiskWriter;
use super::fetch::{FetchConfig, Fetcher};
use super::plain::PlainFiles;
use super::prefetch::PrefetchConfig;
use super::stats::{Busy, EngineStats, StatsSnapshot};
use super::url_book::UrlBook;
use super::verify::XorbProofs;
use super::xet_file::FileStates;
use super::{plain, xet_read, FileContent, FileDesc, FileReader, InvalidationHook, ReadError};
use crate::cache::disk::DiskCache;
use crate::cache::memory::MemoryCache;
use crate::cache::metadata::MetadataStore;
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
    /// How long a signed xorb URL from a reconstruction answer is reused (below its expiry).
    pub url_ttl: Duration,
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
            url_ttl: Duration::from_secs(300),
        }
    }
}

/// State shared by every read.
pub(crate) struct Core {
    pub remote: Arc<dyn Remote>,
    pub cfg: EngineConfig,
    pub mem: Arc<MemoryCache>,
    pub disk: Option<Arc<DiskCache>>,
    pub disk_writer: Option<DiskWriter>,
    pub fetcher: Arc<Fetcher>,
    pub url_book: UrlBook,
    pub states: FileStates,
    pub plain: PlainFiles,
    pub prefetch: PrefetchConfig,
    pub stats: Arc<EngineStats>,
    hook: RwLock<Option<InvalidationHook>>,
}

impl Core {
    pub fn invalidate(&self, file: &FileDesc) {
        if let Some(hook) = self.hook.read().as_ref() {
            hook(file);
        }
    }
}

/// Implements [`FileReader`].
pub struct ReadEngine {
    core: Arc<Core>,
    housekeeping: tokio::task::JoinHandle<()>,
}

/// One memory budget (`--memory-cache`) split between everything that holds file bytes, so
/// that the process stays near the budget: whole plain files, xorb chunk lists, bytes being
/// fetched, puts queued for the disk cache, and — the rest — decoded chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryShares {
    pub plain: u64,
    pub lists: u64,
    pub in_flight: u64,
    pub disk_queue: u64,
    pub chunks: u64,
}

impl MemoryShares {
    pub fn of(budget: u64) -> Self {
        let budget = budget.max(32 << 20);
        let plain = (budget / 8).min(64 << 20);
        let lists = (budget / 64).min(16 << 20);
        // Enough for the prefetch window's parallel ranges on a fast link (a 40 ms, 10 Gbit/s
        // path holds 50 MB); more only adds memory.
        let in_flight = (budget / 8).clamp(8 << 20, 128 << 20);
        let disk_queue = (budget / 16).clamp(4 << 20, 64 << 20);
        MemoryShares {
            plain,
            lists,
            in_flight,
            disk_queue,
            chunks: budget - plain - lists - in_flight - disk_queue,
        }
    }
}

impl ReadEngine {
    /// Builds the engine (opening the disk cache when configured). Must be called inside a tokio
    /// runtime.
    pub fn new(remote: Arc<dyn Remote>, config: EngineConfig) -> anyhow::Result<Arc<Self>> {
        let stats = Arc::new(EngineStats::default());
        let shares = MemoryShares::of(config.memory_cache_bytes);
        let mem = Arc::new(MemoryCache::new(shares.chunks));
        let (disk, meta) = match &config.cache_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    anyhow::anyhow!("cannot create cache directory {}: {e}", dir.display())
                })?;
                let disk = DiskCache::open(dir, config.disk_cache_bytes).map_err(|e| {
                    anyhow::anyhow!("cannot open disk cache in {}: {e}", dir.display())
                })?;
                let meta = MetadataStore::open(&dir.join("meta"))?;
                (Some(Arc::new(disk)), Some(meta))
            }
            None => (None, None),
        };
        let disk_writer = disk
            .as_ref()
            .map(|d| DiskWriter::spawn(d.clone(), stats.clone(), shares.disk_queue));
        let proofs = Arc::new(XorbProofs::new(remote.clone(), shares.lists));
        let fetcher = Fetcher::new(
            remote.clone(),
            mem.clone(),
            disk_writer.clone(),
            proofs,
            stats.clone(),
            FetchConfig {
                max_attempts: 3,
                deadline: config.read_timeout,
                max_bytes_in_flight: shares.in_flight,
                retry_backoff: Duration::from_millis(200),
            },
        );
        let prefetch = PrefetchConfig {
            max_window: config
                .max_prefetch_bytes
                .min(config.memory_cache_bytes / 4)
                .max(4 << 20),
            initial_window: (8 << 20u64).min(config.max_prefetch_bytes.max(4 << 20)),
            ..PrefetchConfig::default()
        };
        let core = Arc::new(Core {
            remote,
            mem,
            disk,
            disk_writer,
            fetcher,
            url_book: UrlBook::new(config.url_ttl),
            states: FileStates::new(meta, 4096),
            plain: PlainFiles::new(shares.plain),
            prefetch,
            stats,
            hook: RwLock::new(None),
            cfg: config,
        });
        let housekeeping = tokio::spawn(housekeeping(Arc::downgrade(&core)));
        Ok(Arc::new(ReadEngine { core, housekeeping }))
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.core.stats.snapshot()
    }

    async fn read_inner(
        &self,
        file: &Arc<FileDesc>,
        offset: u64,
        len: u32,
    ) -> Result<Bytes, ReadError> {
        let end = offset.saturating_add(u64::from(len)).min(file.size);
        if offset >= end {
            return Ok(Bytes::new());
        }
        let core = &self.core;
        match &file.content {
            FileContent::Xet { hash } => {
                let st = core.states.get(hash, file.size);
                let window = st
                    .access
                    .lock()
                    .on_read(&core.prefetch, offset, end, file.size);
                tracing::trace!(path = %file.path, offset, end, prefetch = ?window, "xet read");
                if let Some(window) = window {
                    let busy = Busy::new(&core.stats);
                    let warm = xet_read::warm(core.clone(), file.clone(), st.clone(), window);
                    tokio::spawn(async move {
                        warm.await;
                        drop(busy);
                    });
                }
                xet_read::read(core, file, &st, offset, end).await
            }
            FileContent::Plain { oid, sha256 } => {
                plain::read(core, file, oid, sha256.as_deref(), offset, end).await
            }
        }
    }
}

#[async_trait::async_trait]
impl FileReader for ReadEngine {
    async fn read(
        &self,
        file: &Arc<FileDesc>,
        offset: u64,
        len: u32,
        _handle: u64,
    ) -> Result<Bytes, ReadError> {
        let stats = &self.core.stats;
        EngineStats::inc(&stats.reads);
        let timeout = self.core.cfg.read_timeout;
        let result = match tokio::time::timeout(timeout, self.read_inner(file, offset, len)).await {
            Ok(r) => r,
            Err(_) => {
                EngineStats::inc(&stats.deadline_errors);
                Err(ReadError::Deadline(timeout))
            }
        };
        match &result {
            Ok(b) => EngineStats::add(&stats.read_bytes, b.len() as u64),
            Err(e) => {
                EngineStats::inc(&stats.read_errors);
                tracing::warn!(path = %file.path, offset, len, error = %e, "read failed");
            }
        }
        result
    }

    fn set_invalidation_hook(&self, hook: InvalidationHook) {
        *self.core.hook.write() = Some(hook);
    }

    fn stats(&self) -> StatsSnapshot {
        ReadEngine::stats(self)
    }

    async fn flush(&self) {
        // Fetches and prefetch windows under way queue their chunks when they land: let them
        // (each has a deadline; this wait is bounded again) before draining the writer.
        let idle_by = tokio::time::Instant::now() + self.core.cfg.read_timeout;
        while self.core.stats.background_tasks.load(Ordering::Relaxed) > 0
            && tokio::time::Instant::now() < idle_by
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if let Some(w) = &self.core.disk_writer {
            w.flush().await;
        }
        let core = self.core.clone();
        let _ = tokio::task::spawn_blocking(move || core.states.persist_dirty()).await;
    }
}

impl Drop for ReadEngine {
    fn drop(&mut self) {
        self.housekeeping.abort();
        self.core.states.persist_dirty();
    }
}

/// Persists changed chunk maps and drops expired URLs now and then, until the engine is gone.
async fn housekeeping(core: Weak<Core>) {
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let Some(core) = core.upgrade() else { return };
        core.url_book.sweep();
        let _ = tokio::task::spawn_blocking(move || core.states.persist_dirty()).await;
    }
}
