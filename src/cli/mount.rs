//! `xetfs mount` and `xetfs umount`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};

use super::daemon::{self, Readiness};
use super::mount_settings::{self, MountSettings};
use crate::cache::metadata::MetadataStore;
use crate::fs::{mountinfo, FsConfig, MountConfig, XetFs};
use crate::read::catalog::Catalog;
use crate::read::engine::{EngineConfig, ReadEngine};
use crate::remote::http::{HttpRemote, RemoteConfig};
use crate::remote::Remote;
use crate::util::units::{parse_duration, parse_size};

/// Last-line deadline of one catalog call. Every HTTP request has its own, shorter deadlines
/// (`XETFS_*_TIMEOUT`); this one bounds a whole paginated listing of a very large repo.
const HUB_CALL_DEADLINE: Duration = Duration::from_secs(300);

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Layout: MOUNTPOINT/<org>/<name>/… (branch main), MOUNTPOINT/<org>/<name>@<rev>/… (branch, tag \
or commit; quote slashes: refs%2Fpr%2F1), MOUNTPOINT/datasets/<org>/<name>/…. Repos appear when \
first used. Unmount with `xetfs umount MOUNTPOINT`. See docs/CONFIGURATION.md.")]
pub struct MountArgs {
    /// Directory to mount on (must exist)
    pub mountpoint: PathBuf,

    /// Hub URL [env: HF_ENDPOINT] [default: https://huggingface.co]
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,

    /// Hub access token [default: $HF_TOKEN, else the token file]
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,

    /// File holding the token [default: $HF_TOKEN_PATH, else $HF_HOME/token]
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,

    /// Persistent cache (chunks and metadata) [default: $HF_HOME/xetfs if HF_HOME is set, else
    /// $XDG_CACHE_HOME/xetfs, else ~/.cache/xetfs]
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Budget of the disk cache, e.g. 20GiB [default: 20GiB]
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub cache_size: Option<u64>,

    /// Budget of the in-memory chunk cache [default: 1GiB]
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory_cache: Option<u64>,

    /// How long a branch or tag keeps resolving to the same commit before the Hub is asked
    /// again; commits never expire [default: 60s]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub metadata_ttl: Option<Duration>,

    /// Never contact the Hub: serve only what the cache holds [env: HF_HUB_OFFLINE=1]
    #[arg(long)]
    pub offline: bool,

    /// Let other users (and containers) read the mount; non-root mounters need
    /// `user_allow_other` in /etc/fuse.conf
    #[arg(long)]
    pub allow_other: bool,

    /// Stay in the foreground (logs to stderr); SIGINT/SIGTERM unmount
    #[arg(long, short = 'f')]
    pub foreground: bool,

    /// Mount options, comma-separated (as in fstab): endpoint=, token_file=, cache_dir=,
    /// cache_size=, memory_cache=, metadata_ttl=, read_ahead=, read_timeout=, log_file=,
    /// offline, foreground, allow_other, allow_root; generic ones (ro, nosuid, _netdev,
    /// x-systemd.*, …) are accepted and ignored
    #[arg(short = 'o', value_name = "OPTS")]
    pub options: Vec<String>,

    /// Kernel readahead window of the mount, at least 1MiB (needs root) [default: 4MiB]
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub read_ahead: Option<u64>,

    /// A read that has no data by then fails with EIO [default: 60s]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub read_timeout: Option<Duration>,

    /// Write logs to this file (the daemon's default is to discard them)
    #[arg(long, value_name = "PATH")]
    pub log_file: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct UmountArgs {
    /// A xetfs mount point (live, or left by a daemon that died)
    pub mountpoint: PathBuf,

    /// Detach now even if files are open; the daemon exits when they are closed
    #[arg(long, short = 'l')]
    pub lazy: bool,
}

pub fn run(args: MountArgs, verbose: u8) -> anyhow::Result<ExitCode> {
    let env = |k: &str| std::env::var(k).ok();
    let settings = mount_settings::resolve(&args, &env)?;
    check_mountpoint(&settings.mountpoint)?;
    // Fork now: no thread and no runtime exist yet.
    let readiness = if settings.foreground {
        None
    } else {
        Some(daemon::daemonize(settings.log_file.as_deref())?)
    };
    // A daemon's stderr already is the log file.
    let redirect = if settings.foreground {
        settings.log_file.as_deref()
    } else {
        None
    };
    init_logging(verbose, redirect)?;
    serve(&settings, readiness)
}

/// A clear message for the usual mistakes, before anything is started.
fn check_mountpoint(path: &Path) -> anyhow::Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if !m.is_dir() => bail!("mount point {} is not a directory", path.display()),
        // A dead xetfs mount answers ENOTCONN: cleared when mounting.
        Ok(_) => {}
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("mount point {} does not exist", path.display())
        }
        Err(e) => return Err(e).with_context(|| format!("mount point {}", path.display())),
    }
    let existing = mountinfo::find(&mountinfo::normalize(path)?)?;
    if existing.is_some_and(|m| m.is_xetfs()) && !crate::fs::mount::is_dead(path) {
        bail!("{} is already a xetfs mount", path.display());
    }
    Ok(())
}

/// Logs go to stderr (the log file in daemon mode, where stderr was redirected). In the
/// foreground, `log_file` redirects them.
fn init_logging(verbose: u8, log_file: Option<&Path>) -> anyhow::Result<()> {
    if let Some(path) = log_file {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open log file {}", path.display()))?;
        // SAFETY: dup2 onto stderr, which this process owns.
        if unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&file), 2) } < 0 {
            return Err(std::io::Error::last_os_error()).context("redirecting stderr");
        }
    }
    let default = ["info", "debug", "trace"][usize::from(verbose.min(2))];
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
    Ok(())
}

fn serve(settings: &MountSettings, readiness: Option<Readiness>) -> anyhow::Result<ExitCode> {
    let started = start(settings);
    let (rt, mounted) = match started {
        Ok(v) => v,
        Err(e) => {
            if let Some(r) = readiness {
                r.failed(&format!("{e:#}"));
            }
            return Err(e);
        }
    };
    let mountpoint = mounted.mountpoint.clone();
    rt.spawn(unmount_on_signal(mountpoint.clone()));
    tracing::info!(mountpoint = %mountpoint.display(), endpoint = %settings.endpoint, offline = settings.offline, "mounted");
    if let Some(r) = readiness {
        r.ready();
    }
    let result = mounted.run();
    tracing::info!(mountpoint = %mountpoint.display(), "unmounted");
    rt.shutdown_timeout(Duration::from_secs(5));
    result.context("serving the filesystem")?;
    Ok(ExitCode::SUCCESS)
}

fn start(s: &MountSettings) -> anyhow::Result<(tokio::runtime::Runtime, crate::fs::Mounted)> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("xetfs-worker")
        .build()
        .context("starting the runtime")?;
    let _enter = rt.enter();
    std::fs::create_dir_all(&s.cache_dir)
        .with_context(|| format!("cannot create cache directory {}", s.cache_dir.display()))?;
    let remote = build_remote(s)?;
    let engine = ReadEngine::new(
        remote.clone(),
        EngineConfig {
            memory_cache_bytes: s.memory_cache,
            cache_dir: Some(s.cache_dir.clone()),
            disk_cache_bytes: s.cache_size,
            read_timeout: s.read_timeout,
            offline: s.offline,
            ..EngineConfig::default()
        },
    )
    .context("starting the read engine")?;
    // The engine's metadata store: listings live next to its chunk maps (other kinds).
    let meta = MetadataStore::open(&s.cache_dir.join("meta")).with_context(|| {
        format!(
            "cannot open the metadata cache in {}",
            s.cache_dir.display()
        )
    })?;
    let catalog = Catalog::new(remote, Some(meta), s.metadata_ttl, s.offline)
        .with_call_timeout(HUB_CALL_DEADLINE);
    let fs_config = FsConfig {
        read_timeout: s.read_timeout,
        // A repo lookup is two Hub calls (resolve, list).
        lookup_timeout: HUB_CALL_DEADLINE * 2,
        ..FsConfig::default()
    };
    let fs = XetFs::new(Arc::new(catalog), engine, rt.handle().clone(), fs_config);
    let mount_config = MountConfig {
        access: s.access,
        read_ahead: s.read_ahead,
        ..MountConfig::default()
    };
    let mounted = crate::fs::mount(fs, &s.mountpoint, &mount_config).map_err(|e| {
        let hint = match e.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => {
                " (mounting needs root, or fusermount3 from the fuse3 package)"
            }
            Some(libc::ENOENT) if !Path::new("/dev/fuse").exists() => {
                " (/dev/fuse is missing: load the fuse module)"
            }
            // Not root: fuser runs fusermount3.
            Some(libc::ENOENT) => " (is fusermount3 installed? it is in the fuse3 package)",
            _ => "",
        };
        anyhow::anyhow!("cannot mount on {}: {e}{hint}", s.mountpoint.display())
    })?;
    Ok((rt, mounted))
}

/// The HTTP client: the environment's deadlines (`XETFS_*_TIMEOUT`…), then the flags.
fn build_remote(s: &MountSettings) -> anyhow::Result<Arc<dyn Remote>> {
    let mut config = RemoteConfig::from_env().map_err(|e| anyhow::anyhow!("{e}"))?;
    config.endpoint = s.endpoint.clone();
    config.hf_token = s.token.clone();
    config.offline = s.offline;
    Ok(Arc::new(HttpRemote::new(config)?))
}

/// SIGINT, SIGTERM and SIGHUP unmount; the request loop then ends and the process exits.
async fn unmount_on_signal(mountpoint: PathBuf) {
    use tokio::signal::unix::{signal, SignalKind};
    let kinds = [
        SignalKind::interrupt(),
        SignalKind::terminate(),
        SignalKind::hangup(),
    ];
    let mut streams: Vec<_> = kinds.iter().filter_map(|k| signal(*k).ok()).collect();
    let waits = streams.iter_mut().map(|s| Box::pin(s.recv()));
    futures::future::select_all(waits).await;
    tracing::info!("signal received: unmounting");
    let result = tokio::task::spawn_blocking(move || {
        crate::fs::unmount(&mountpoint, false).or_else(|e| {
            if e.raw_os_error() == Some(libc::EBUSY) {
                tracing::warn!(
                    "files are still open: detaching; the daemon exits when they are closed"
                );
                crate::fs::unmount(&mountpoint, true)
            } else {
                Err(e)
            }
        })
    })
    .await;
    if let Ok(Err(e)) = result {
        tracing::error!(error = %e, "unmount failed");
    }
}

pub fn run_umount(args: UmountArgs) -> anyhow::Result<ExitCode> {
    let path = mountinfo::normalize(&args.mountpoint)
        .with_context(|| format!("{}", args.mountpoint.display()))?;
    let entry = mountinfo::find(&path)
        .context("reading /proc/self/mountinfo")?
        .with_context(|| format!("{} is not mounted", path.display()))?;
    if !entry.is_xetfs() {
        bail!(
            "{} is not a xetfs mount (it is {} from {})",
            path.display(),
            entry.fstype,
            entry.source
        );
    }
    crate::fs::unmount(&path, args.lazy).map_err(|e| match e.raw_os_error() {
        Some(libc::EBUSY) => anyhow::anyhow!(
            "{} is busy: a process has files or its working directory there; close them or use --lazy",
            path.display()
        ),
        _ => anyhow::anyhow!("cannot unmount {}: {e}", path.display()),
    })?;
    Ok(ExitCode::SUCCESS)
}
