//! `xetfs serve ROOT --listen HOST:PORT [--state DIR] [--config FILE]` (+ fault flags).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::serve::{FaultConfig, FaultKind, FaultRule, ServeConfig, ServeOptions};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Directory of repos: ROOT/<org>/<name>/ (models), ROOT/datasets/<org>/<name>/,
    /// ROOT/<org>/<name>@<rev>/ for more revisions
    pub root: PathBuf,
    /// Hub address (HF_ENDPOINT); port 0 picks a free port
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// CAS address (default: the Hub's IP, a free port)
    #[arg(long)]
    pub cas_listen: Option<SocketAddr>,
    /// State directory (xorbs, shards, pushed commits); default $XDG_DATA_HOME/xetfs/serve/<hash of ROOT>
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// JSON config: auth (tokens, private/gated repos), faults, url/token lifetimes, tree page size
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// JSON fault rules (replaces the config file's `faults`)
    #[arg(long)]
    pub faults: Option<PathBuf>,
    /// Seed of the fault RNG
    #[arg(long)]
    pub fault_seed: Option<u64>,
    /// Fault: added latency in ms on every request
    #[arg(long)]
    pub fault_latency_ms: Option<u64>,
    /// Fault: fraction (0–1) of xorb GETs answered with 503
    #[arg(long)]
    pub fault_xorb_5xx: Option<f64>,
    /// Fault: fraction (0–1) of xorb GETs whose body is cut in half
    #[arg(long)]
    pub fault_xorb_truncate: Option<f64>,
    /// Fault: fraction (0–1) of xorb GETs with one corrupted byte
    #[arg(long)]
    pub fault_xorb_corrupt: Option<f64>,
    /// Fault: cap xorb bodies to this many bytes per second
    #[arg(long)]
    pub fault_bandwidth: Option<u64>,
    /// Lifetime of presigned URLs in seconds
    #[arg(long)]
    pub url_ttl: Option<u64>,
    /// Lifetime of CAS tokens in seconds
    #[arg(long)]
    pub token_ttl: Option<u64>,
}

fn rule(target: &str, kind: FaultKind, probability: f64) -> FaultRule {
    FaultRule {
        target: target.into(),
        kind,
        probability,
        count: None,
    }
}

impl ServeArgs {
    fn config(&self) -> anyhow::Result<ServeConfig> {
        let mut config = match &self.config {
            Some(p) => ServeConfig::load(p)?,
            None => ServeConfig::default(),
        };
        if let Some(p) = &self.faults {
            let text = std::fs::read_to_string(p)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))?;
            config.faults = serde_json::from_str::<FaultConfig>(&text)
                .map_err(|e| anyhow::anyhow!("invalid fault rules {}: {e}", p.display()))?;
        }
        let f = &mut config.faults;
        if let Some(seed) = self.fault_seed {
            f.seed = seed;
        }
        if let Some(ms) = self.fault_latency_ms {
            f.rules.push(rule("all", FaultKind::Latency { ms }, 1.0));
        }
        if let Some(p) = self.fault_xorb_5xx {
            f.rules
                .push(rule("xorb_get", FaultKind::Status { status: 503 }, p));
        }
        if let Some(p) = self.fault_xorb_truncate {
            f.rules
                .push(rule("xorb_get", FaultKind::Truncate { at: None }, p));
        }
        if let Some(p) = self.fault_xorb_corrupt {
            f.rules
                .push(rule("xorb_get", FaultKind::Corrupt { at: None }, p));
        }
        if let Some(bytes_per_sec) = self.fault_bandwidth {
            f.rules.push(rule(
                "xorb_get",
                FaultKind::Bandwidth { bytes_per_sec },
                1.0,
            ));
        }
        if let Some(t) = self.url_ttl {
            config.url_ttl_secs = t;
        }
        if let Some(t) = self.token_ttl {
            config.token_ttl_secs = t;
        }
        config.validate()?;
        Ok(config)
    }
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = args.config()?;
    let opts = ServeOptions {
        root: args.root.clone(),
        listen: args.listen,
        cas_listen: args.cas_listen,
        state_dir: args.state.clone(),
        config,
    };
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let server = crate::serve::start(opts).await?;
        // Machine-readable: scripts and tests look for this exact line on stdout.
        println!("xetfs serve: listening on {}", server.endpoint());
        tracing::info!(
            "CAS on {}, state in {}",
            server.cas_endpoint(),
            server.state_dir().display()
        );
        let ready = server.wait_ready(std::time::Duration::from_secs(u64::MAX / 4));
        tokio::select! {
            r = ready => match r {
                Ok(()) => {
                    println!("xetfs serve: ready");
                    tracing::info!("all repos ingested; serving");
                }
                Err(e) => tracing::error!("{e:#}; serving what could be ingested"),
            },
            _ = shutdown_signal() => {
                server.shutdown().await;
                return Ok(ExitCode::SUCCESS);
            }
        }
        shutdown_signal().await;
        tracing::info!("shutting down");
        server.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
