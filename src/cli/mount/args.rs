//! The command line of `xetfs mount` and `xetfs umount`.

use std::path::PathBuf;

use crate::cli::hub_args::HubArgs;
use crate::util::units::parse_size;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Layout: MOUNTPOINT/<org>/<name>/… (branch main), MOUNTPOINT/<org>/<name>@<rev>/… (branch, tag \
or commit; quote slashes: refs%2Fpr%2F1), MOUNTPOINT/datasets/<org>/<name>/…. Repos appear when \
first used. Unmount with `xetfs umount MOUNTPOINT`.

Environment: HF_ENDPOINT, HF_TOKEN, HF_TOKEN_PATH, HF_HOME, XDG_CACHE_HOME, HF_HUB_OFFLINE (as huggingface_hub); XETFS_CONNECT_TIMEOUT, XETFS_RESPONSE_TIMEOUT, XETFS_IDLE_TIMEOUT, XETFS_CALL_TIMEOUT (per HTTP request, all attempts), XETFS_MAX_ATTEMPTS; RUST_LOG. See docs/CONFIGURATION.md.")]
pub struct MountArgs {
    /// Directory to mount on (must exist)
    pub mountpoint: PathBuf,

    #[command(flatten)]
    pub hub: HubArgs,

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
