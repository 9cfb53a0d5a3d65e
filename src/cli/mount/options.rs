//! `-o` mount options (as in fstab): the same settings as the flags, comma-separated.

use std::path::PathBuf;

use anyhow::{bail, Context};

use crate::cli::hub_args::HubArgs;
use crate::fs::Access;
use crate::util::units::{parse_duration, parse_size};

/// What `-o` said.
#[derive(Debug, Default)]
pub struct MountOptions {
    pub hub: HubArgs,
    pub read_ahead: Option<u64>,
    pub log_file: Option<PathBuf>,
    pub foreground: bool,
    pub access: Option<Access>,
}

/// Generic mount options that mean nothing to xetfs (it is always read-only, nosuid, nodev).
const IGNORED: &[&str] = &[
    "ro",
    "defaults",
    "auto",
    "noauto",
    "user",
    "users",
    "nouser",
    "owner",
    "group",
    "nofail",
    "_netdev",
    "async",
    "sync",
    "exec",
    "noexec",
    "suid",
    "nosuid",
    "dev",
    "nodev",
    "atime",
    "noatime",
    "relatime",
    "strictatime",
    "diratime",
    "nodiratime",
    "default_permissions",
];

/// Parses every `-o` list; hyphens and underscores in names are interchangeable.
pub fn parse(lists: &[String]) -> anyhow::Result<MountOptions> {
    let mut o = MountOptions::default();
    for opt in lists
        .iter()
        .flat_map(|l| l.split(','))
        .filter(|o| !o.is_empty())
    {
        let (key, value) = match opt.split_once('=') {
            Some((k, v)) => (k.replace('-', "_"), Some(v)),
            None => (opt.replace('-', "_"), None),
        };
        apply(&mut o, opt, &key, value)?;
    }
    Ok(o)
}

fn apply(o: &mut MountOptions, opt: &str, key: &str, value: Option<&str>) -> anyhow::Result<()> {
    let need = || value.with_context(|| format!("mount option {key} needs a value ({key}=…)"));
    let bad = |e: String| anyhow::anyhow!("mount option {opt}: {e}");
    let size = || parse_size(need()?).map_err(bad);
    let duration = || parse_duration(need()?).map_err(bad);
    let h = &mut o.hub;
    match key {
        "endpoint" => h.endpoint = Some(need()?.to_string()),
        "token_file" => h.token_file = Some(need()?.into()),
        "cache_dir" => h.cache_dir = Some(need()?.into()),
        "cache_size" => h.cache_size = Some(size()?),
        "memory_cache" => h.memory_cache = Some(size()?),
        "metadata_ttl" => h.metadata_ttl = Some(duration()?),
        "read_timeout" => h.read_timeout = Some(duration()?),
        "offline" => h.offline = true,
        "read_ahead" => o.read_ahead = Some(size()?),
        "log_file" => o.log_file = Some(need()?.into()),
        "foreground" => o.foreground = true,
        "allow_other" => o.access = Some(Access::All),
        "allow_root" => o.access = Some(Access::RootAndOwner),
        "rw" => bail!("xetfs is read-only: remove the `rw` mount option"),
        "token" => bail!("pass the token with token_file=PATH or HF_TOKEN, not as a mount option"),
        k if IGNORED.contains(&k) || k.starts_with("x_") || k == "comment" => {}
        _ => bail!("unknown mount option {opt:?} (see `xetfs mount --help`)"),
    }
    Ok(())
}
