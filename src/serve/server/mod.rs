//! Starting and stopping a server: bind both listeners at once, ingest ROOT in the background,
//! answer `revision/main` with 200 per repo once it is readable.

mod body;
mod gate;
mod listen;
mod routes;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::catalog::Catalog;
use super::config::ServeConfig;
use super::faults::{FaultConfig, Faults};
use super::ingest::{self, IngestSummary};
use super::layout::scan_root;
use super::metrics::{Metrics, MetricsSnapshot, Origin};
use super::shared::{base_url, Shared};
use super::signing::Signer;
use super::store::Store;

/// Where and how to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Directory of repos (see [`layout`](super::layout)).
    pub root: PathBuf,
    /// The Hub address (`HF_ENDPOINT`); port 0 picks a free one.
    pub listen: SocketAddr,
    /// The CAS address; default: the Hub's IP, any free port.
    pub cas_listen: Option<SocketAddr>,
    /// Xorbs, shards, pushed commits; default: [`default_state_dir`].
    pub state_dir: Option<PathBuf>,
    pub config: ServeConfig,
}

impl ServeOptions {
    pub fn new(root: impl Into<PathBuf>, listen: SocketAddr) -> Self {
        ServeOptions {
            root: root.into(),
            listen,
            cas_listen: None,
            state_dir: None,
            config: ServeConfig::default(),
        }
    }
}

/// `$XDG_DATA_HOME/xetfs/serve/<hash of ROOT>` (or `~/.local/share/…`, or `ROOT/.xetfs-serve`).
pub fn default_state_dir(root: &Path) -> PathBuf {
    let key = blake3::hash(root.as_os_str().as_encoded_bytes()).to_hex();
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")));
    match base {
        Some(b) => b.join("xetfs/serve").join(&key[..16]),
        None => root.join(".xetfs-serve"),
    }
}

/// Ingest progress as seen by [`RunningServer::wait_ready`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Readiness {
    Ingesting,
    Ready,
    Failed(String),
}

/// A server running inside this process. Dropping it stops it (listeners closed, connections
/// cut, ingest interrupted).
pub struct RunningServer {
    shared: Arc<Shared>,
    cancel: CancellationToken,
    stop_ingest: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
    ready: watch::Receiver<Readiness>,
    summary: Arc<parking_lot::Mutex<Option<IngestSummary>>>,
}

pub async fn start(opts: ServeOptions) -> anyhow::Result<RunningServer> {
    opts.config.validate()?;
    let root = opts
        .root
        .canonicalize()
        .with_context(|| format!("serve root {}", opts.root.display()))?;
    anyhow::ensure!(
        root.is_dir(),
        "serve root {} is not a directory",
        root.display()
    );
    let state_dir = opts
        .state_dir
        .clone()
        .unwrap_or_else(|| default_state_dir(&root));
    let store_dir = state_dir.clone();
    let store = tokio::task::spawn_blocking(move || Store::open(&store_dir))
        .await?
        .with_context(|| format!("state directory {}", state_dir.display()))?;
    let sources = scan_root(&root).with_context(|| format!("scanning {}", root.display()))?;
    let catalog = Catalog::new(&store.repos_dir());
    for s in &sources {
        catalog.add_pending(&s.id);
    }
    let root_ids: Vec<_> = sources.iter().map(|s| s.id.clone()).collect();
    catalog.load_created(&root_ids);

    let hub = TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("cannot listen on {}", opts.listen))?;
    let cas_addr = opts
        .cas_listen
        .unwrap_or_else(|| SocketAddr::new(opts.listen.ip(), 0));
    let cas = TcpListener::bind(cas_addr)
        .await
        .with_context(|| format!("cannot listen on {cas_addr}"))?;

    let faults = Faults::new(opts.config.faults.clone());
    let shared = Arc::new(Shared {
        config: opts.config,
        store: Arc::new(store),
        catalog: Arc::new(catalog),
        signer: Signer::random(),
        faults,
        metrics: Metrics::default(),
        hub_addr: hub.local_addr()?,
        cas_addr: cas.local_addr()?,
    });
    let cancel = CancellationToken::new();
    let mut tasks = vec![
        tokio::spawn(listen::accept_loop(
            hub,
            shared.clone(),
            routes::hub(shared.clone()),
            Origin::Hub,
            cancel.clone(),
        )),
        tokio::spawn(listen::accept_loop(
            cas,
            shared.clone(),
            routes::cas(shared.clone()),
            Origin::Cas,
            cancel.clone(),
        )),
    ];

    let (tx, ready) = watch::channel(Readiness::Ingesting);
    let stop_ingest = Arc::new(AtomicBool::new(false));
    let summary = Arc::new(parking_lot::Mutex::new(None));
    let (s, stop, sum) = (shared.clone(), stop_ingest.clone(), summary.clone());
    tasks.push(tokio::spawn(async move {
        let result = tokio::task::spawn_blocking(move || {
            ingest::run(&root, &sources, &s.store, &s.catalog, &s.metrics, &stop)
        })
        .await;
        let state = match result {
            Ok(summary) if summary.failed.is_empty() => {
                *sum.lock() = Some(summary);
                Readiness::Ready
            }
            Ok(summary) => {
                let msg = summary.failed.join("; ");
                *sum.lock() = Some(summary);
                Readiness::Failed(msg)
            }
            Err(e) => Readiness::Failed(format!("ingest task failed: {e}")),
        };
        let _ = tx.send(state);
    }));

    Ok(RunningServer {
        shared,
        cancel,
        stop_ingest,
        tasks,
        ready,
        summary,
    })
}

impl RunningServer {
    /// The Hub base URL, e.g. `http://127.0.0.1:PORT` (what `HF_ENDPOINT` should be).
    pub fn endpoint(&self) -> String {
        base_url(self.shared.hub_addr)
    }

    /// The CAS base URL (as handed out in `casUrl`).
    pub fn cas_endpoint(&self) -> String {
        base_url(self.shared.cas_addr)
    }

    pub fn hub_addr(&self) -> SocketAddr {
        self.shared.hub_addr
    }

    pub fn state_dir(&self) -> &Path {
        self.shared.store.dir()
    }

    /// The same data as `GET /metrics`.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.shared.metrics.snapshot()
    }

    /// Replaces the fault rules. Invalid rules are rejected with an error log (old rules kept).
    pub fn set_faults(&self, faults: FaultConfig) {
        match faults.validate() {
            Ok(()) => self.shared.faults.set(faults),
            Err(e) => tracing::error!("fault rules not applied: {e}"),
        }
    }

    /// What the ingest of ROOT did, once it finished.
    pub fn ingest_summary(&self) -> Option<IngestSummary> {
        self.summary.lock().clone()
    }

    /// Waits until the ingest of ROOT finished (every repo readable), or fails with why not.
    pub async fn wait_ready(&self, timeout: Duration) -> anyhow::Result<()> {
        let mut rx = self.ready.clone();
        let state = tokio::time::timeout(timeout, rx.wait_for(|r| *r != Readiness::Ingesting))
            .await
            .map_err(|_| anyhow::anyhow!("ingest did not finish within {timeout:?}"))?
            .map_err(|_| anyhow::anyhow!("the server stopped during ingest"))?
            .clone();
        match state {
            Readiness::Failed(msg) => anyhow::bail!("ingest failed: {msg}"),
            _ => Ok(()),
        }
    }

    /// Stops listening, cuts every connection and waits for the tasks to end.
    pub async fn shutdown(mut self) {
        self.stop();
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }

    fn stop(&self) {
        self.cancel.cancel();
        self.stop_ingest
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.stop();
        for t in &self.tasks {
            t.abort();
        }
    }
}
