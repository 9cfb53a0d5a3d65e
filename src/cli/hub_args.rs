//! The flags every front end of the read stack shares (which Hub, who we are, caches,
//! deadlines) and their resolution, with the environment, into [`Settings`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};

use super::env::Env;
use crate::hub::DEFAULT_ENDPOINT;
use crate::stack::Settings;
use crate::util::units::{parse_duration, parse_size};

/// Flags of the read stack. `None` means "not given": the environment or the default decides.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct HubArgs {
    /// Hub URL [env: HF_ENDPOINT] [default: https://huggingface.co]
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,

    /// Hub access token (visible in `ps`: prefer the file or HF_TOKEN) [default: $HF_TOKEN,
    /// else the token file]
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,

    /// File holding the token; when given it must exist [default: $HF_TOKEN_PATH, else
    /// $HF_HOME/token, where a missing file means anonymous]
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,

    /// Persistent cache (chunks and metadata) [default: $HF_HOME/xetfs if HF_HOME is set, else
    /// $XDG_CACHE_HOME/xetfs, else ~/.cache/xetfs]
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Budget of the disk cache, e.g. 20GiB [default: 20GiB]
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub cache_size: Option<u64>,

    /// Memory for file bytes: decoded chunks, small files, buffers [default: 1GiB]
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory_cache: Option<u64>,

    /// How long a branch or tag keeps resolving to the same commit before the Hub is asked
    /// again; commits never expire [default: 60s]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub metadata_ttl: Option<Duration>,

    /// Never contact the Hub: serve only what the cache holds [env: HF_HUB_OFFLINE=1]
    #[arg(long)]
    pub offline: bool,

    /// A read that has no data by then fails (EIO in a mount) [default: 60s]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub read_timeout: Option<Duration>,
}

impl HubArgs {
    /// `self`, with what it leaves unset taken from `fallback` (a mount's `-o` options).
    pub fn or(self, fallback: HubArgs) -> HubArgs {
        HubArgs {
            endpoint: self.endpoint.or(fallback.endpoint),
            token: self.token.or(fallback.token),
            token_file: self.token_file.or(fallback.token_file),
            cache_dir: self.cache_dir.or(fallback.cache_dir),
            cache_size: self.cache_size.or(fallback.cache_size),
            memory_cache: self.memory_cache.or(fallback.memory_cache),
            metadata_ttl: self.metadata_ttl.or(fallback.metadata_ttl),
            offline: self.offline || fallback.offline,
            read_timeout: self.read_timeout.or(fallback.read_timeout),
        }
    }

    /// The settings: these flags, then the environment, then the defaults. Paths come out
    /// absolute (a daemon changes directory to `/`).
    pub fn resolve(&self, env: &Env) -> anyhow::Result<Settings> {
        let endpoint = self
            .endpoint
            .clone()
            .or_else(|| env.endpoint())
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        url::Url::parse(&endpoint).with_context(|| format!("invalid endpoint URL {endpoint:?}"))?;
        let mut s = Settings::new(&endpoint);
        s.token = self.token(env)?;
        let cache_dir = self
            .cache_dir
            .clone()
            .or_else(|| env.cache_dir())
            .context("no cache directory: set --cache-dir, HF_HOME, XDG_CACHE_HOME or HOME")?;
        s.cache.dir = Some(absolute(&cache_dir)?);
        s.cache.disk_bytes = self.cache_size.unwrap_or(s.cache.disk_bytes);
        s.cache.memory_bytes = self.memory_cache.unwrap_or(s.cache.memory_bytes);
        s.metadata_ttl = self.metadata_ttl.unwrap_or(s.metadata_ttl);
        s.offline = self.offline || env.offline()?;
        env.apply_http_knobs(&mut s)?;
        if let Some(t) = self.read_timeout {
            if t.is_zero() {
                bail!("--read-timeout must be positive");
            }
            s.deadlines.read = t;
        }
        Ok(s)
    }

    /// `--token`, else `$HF_TOKEN`, else the token file. A missing file is an error only when
    /// it was named explicitly.
    fn token(&self, env: &Env) -> anyhow::Result<Option<String>> {
        if let Some(t) = self.token.clone().or_else(|| env.token()) {
            return Ok(Some(t));
        }
        let explicit = self.token_file.is_some();
        let Some(path) = self.token_file.clone().or_else(|| env.token_file()) else {
            return Ok(None);
        };
        match std::fs::read_to_string(&path) {
            Ok(t) => Ok(Some(t.trim().to_string()).filter(|t| !t.is_empty())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read token file {}", path.display())),
        }
    }
}

/// `p` relative to the current directory, unless already absolute.
pub fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    if p.is_absolute() {
        Ok(p.to_path_buf())
    } else {
        Ok(std::env::current_dir()?.join(p))
    }
}
