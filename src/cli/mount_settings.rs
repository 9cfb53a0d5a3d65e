//! What `xetfs mount` runs with: flags, then `-o` options, then the environment
//! (huggingface_hub's variables), then defaults. Resolved before forking, so that every
//! mistake is reported in the caller's terminal.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};

use super::mount::MountArgs;
use crate::fs::mount::{Access, DEFAULT_READ_AHEAD, MIN_READ_AHEAD};
use crate::util::units::{parse_duration, parse_size};

pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";
pub const DEFAULT_METADATA_TTL: Duration = Duration::from_secs(60);
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_CACHE_SIZE: u64 = 20 << 30;
pub const DEFAULT_MEMORY_CACHE: u64 = 1 << 30;

/// Everything a mount needs, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct MountSettings {
    /// Absolute path.
    pub mountpoint: PathBuf,
    pub endpoint: String,
    pub token: Option<String>,
    pub cache_dir: PathBuf,
    pub cache_size: u64,
    pub memory_cache: u64,
    pub metadata_ttl: Duration,
    pub offline: bool,
    pub access: Access,
    pub foreground: bool,
    pub read_ahead: u64,
    pub read_timeout: Duration,
    pub log_file: Option<PathBuf>,
}

/// Values given with `-o`, before merging with flags.
#[derive(Debug, Default)]
struct OptionValues {
    endpoint: Option<String>,
    token_file: Option<PathBuf>,
    cache_dir: Option<PathBuf>,
    cache_size: Option<u64>,
    memory_cache: Option<u64>,
    metadata_ttl: Option<Duration>,
    read_ahead: Option<u64>,
    read_timeout: Option<Duration>,
    log_file: Option<PathBuf>,
    offline: bool,
    foreground: bool,
    access: Option<Access>,
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

fn parse_options(lists: &[String]) -> anyhow::Result<OptionValues> {
    let mut v = OptionValues::default();
    for opt in lists
        .iter()
        .flat_map(|l| l.split(','))
        .filter(|o| !o.is_empty())
    {
        let (key, value) = match opt.split_once('=') {
            Some((k, v)) => (k.replace('-', "_"), Some(v)),
            None => (opt.replace('-', "_"), None),
        };
        let need = || value.with_context(|| format!("mount option {key} needs a value ({key}=…)"));
        let bad = |e: String| anyhow::anyhow!("mount option {opt}: {e}");
        match key.as_str() {
            "endpoint" => v.endpoint = Some(need()?.to_string()),
            "token_file" => v.token_file = Some(need()?.into()),
            "cache_dir" => v.cache_dir = Some(need()?.into()),
            "cache_size" => v.cache_size = Some(parse_size(need()?).map_err(bad)?),
            "memory_cache" => v.memory_cache = Some(parse_size(need()?).map_err(bad)?),
            "metadata_ttl" => v.metadata_ttl = Some(parse_duration(need()?).map_err(bad)?),
            "read_ahead" => v.read_ahead = Some(parse_size(need()?).map_err(bad)?),
            "read_timeout" => v.read_timeout = Some(parse_duration(need()?).map_err(bad)?),
            "log_file" => v.log_file = Some(need()?.into()),
            "offline" => v.offline = true,
            "foreground" => v.foreground = true,
            "allow_other" => v.access = Some(Access::All),
            "allow_root" => v.access = Some(Access::RootAndOwner),
            "rw" => bail!("xetfs is read-only: remove the `rw` mount option"),
            "token" => {
                bail!("pass the token with token_file=PATH or HF_TOKEN, not as a mount option")
            }
            k if IGNORED.contains(&k) || k.starts_with("x_") || k == "comment" => {}
            _ => bail!("unknown mount option {opt:?} (see `xetfs mount --help`)"),
        }
    }
    Ok(v)
}

/// Resolves `args` against the environment `env` (a lookup function, for tests).
pub fn resolve(
    args: &MountArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<MountSettings> {
    let o = parse_options(&args.options)?;
    let env = |k: &str| env(k).filter(|v| !v.is_empty());
    let home = env("HOME").map(PathBuf::from);
    let xdg_cache = env("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".cache")));
    let hf_home_set = env("HF_HOME").map(PathBuf::from);
    let hf_home = hf_home_set
        .clone()
        .or_else(|| xdg_cache.as_ref().map(|c| c.join("huggingface")));

    let endpoint = args
        .endpoint
        .clone()
        .or(o.endpoint)
        .or_else(|| env("HF_ENDPOINT"))
        .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
    let endpoint = endpoint.trim_end_matches('/').to_string();
    url::Url::parse(&endpoint).with_context(|| format!("invalid endpoint URL {endpoint:?}"))?;

    let token_file = args
        .token_file
        .clone()
        .or(o.token_file)
        .or_else(|| env("HF_TOKEN_PATH").map(PathBuf::from))
        .or_else(|| hf_home.as_ref().map(|h| h.join("token")));
    let explicit_file = args.token_file.is_some();
    let token = match args.token.clone().or_else(|| env("HF_TOKEN")) {
        Some(t) => Some(t),
        None => read_token(token_file.as_deref(), explicit_file)?,
    };

    // Precedence: flag/option, then $HF_HOME/xetfs when HF_HOME is set, then
    // $XDG_CACHE_HOME/xetfs, then ~/.cache/xetfs.
    let cache_dir = args
        .cache_dir
        .clone()
        .or(o.cache_dir)
        .or_else(|| hf_home_set.map(|h| h.join("xetfs")))
        .or_else(|| xdg_cache.map(|c| c.join("xetfs")))
        .context("no cache directory: set --cache-dir, HF_HOME, XDG_CACHE_HOME or HOME")?;

    let offline = args.offline
        || o.offline
        || env("HF_HUB_OFFLINE").is_some_and(|v| {
            matches!(v.to_ascii_uppercase().as_str(), "1" | "ON" | "YES" | "TRUE")
        });
    let access = if args.allow_other {
        Access::All
    } else {
        o.access.unwrap_or_default()
    };
    let read_ahead = args
        .read_ahead
        .or(o.read_ahead)
        .unwrap_or(DEFAULT_READ_AHEAD);
    if read_ahead < MIN_READ_AHEAD {
        bail!("--read-ahead must be at least 1MiB (smaller windows make mmap readers crawl)");
    }
    let read_timeout = args
        .read_timeout
        .or(o.read_timeout)
        .unwrap_or(DEFAULT_READ_TIMEOUT);
    if read_timeout.is_zero() {
        bail!("--read-timeout must be positive");
    }
    Ok(MountSettings {
        mountpoint: absolute(&args.mountpoint)?,
        endpoint,
        token,
        cache_dir: absolute(&cache_dir)?,
        cache_size: args
            .cache_size
            .or(o.cache_size)
            .unwrap_or(DEFAULT_CACHE_SIZE),
        memory_cache: args
            .memory_cache
            .or(o.memory_cache)
            .unwrap_or(DEFAULT_MEMORY_CACHE),
        metadata_ttl: args
            .metadata_ttl
            .or(o.metadata_ttl)
            .unwrap_or(DEFAULT_METADATA_TTL),
        offline,
        access,
        foreground: args.foreground || o.foreground,
        read_ahead,
        read_timeout,
        log_file: args
            .log_file
            .clone()
            .or(o.log_file)
            .map(|p| absolute(&p))
            .transpose()?,
    })
}

/// The stored token; a missing default file just means "anonymous".
fn read_token(path: Option<&Path>, explicit: bool) -> anyhow::Result<Option<String>> {
    let Some(path) = path else {
        return Ok(None);
    };
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t.trim().to_string()).filter(|t| !t.is_empty())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read token file {}", path.display())),
    }
}

/// The daemon changes directory to `/`: every path it keeps must be absolute.
fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    if p.is_absolute() {
        Ok(p.to_path_buf())
    } else {
        Ok(std::env::current_dir()?.join(p))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        args: MountArgs,
    }

    fn resolve_with(argv: &[&str], env: &[(&str, &str)]) -> anyhow::Result<MountSettings> {
        let cmd = Cmd::try_parse_from(std::iter::once("mount").chain(argv.iter().copied()))?;
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        resolve(&cmd.args, &|k| env.get(k).cloned())
    }

    #[test]
    fn defaults_follow_huggingface_hub() {
        let s = resolve_with(&["/mnt"], &[("HOME", "/home/u")]).unwrap();
        assert_eq!(s.endpoint, DEFAULT_ENDPOINT);
        assert_eq!(s.cache_dir, Path::new("/home/u/.cache/xetfs"));
        assert_eq!(s.token, None, "no token file: anonymous");
        assert_eq!(
            (s.read_ahead, s.offline, s.access),
            (4 << 20, false, Access::Owner)
        );
        assert_eq!(s.metadata_ttl, DEFAULT_METADATA_TTL);

        let dir = tempfile::tempdir().unwrap();
        let hf_home = dir.path().to_str().unwrap();
        std::fs::write(dir.path().join("token"), "hf_abc\n").unwrap();
        let env = [
            ("HOME", "/home/u"),
            ("XDG_CACHE_HOME", "/xdg"),
            ("HF_HOME", hf_home),
            ("HF_ENDPOINT", "http://127.0.0.1:9/"),
            ("HF_HUB_OFFLINE", "yes"),
        ];
        let s = resolve_with(&["/mnt"], &env).unwrap();
        assert_eq!(s.endpoint, "http://127.0.0.1:9");
        assert_eq!(s.token.as_deref(), Some("hf_abc"));
        assert_eq!(
            s.cache_dir,
            dir.path().join("xetfs"),
            "HF_HOME wins over XDG"
        );
        assert!(s.offline);

        let s = resolve_with(
            &["/mnt"],
            &[
                ("HOME", "/h"),
                ("XDG_CACHE_HOME", "/xdg"),
                ("HF_TOKEN", "hf_env"),
            ],
        )
        .unwrap();
        assert_eq!(s.cache_dir, Path::new("/xdg/xetfs"));
        assert_eq!(s.token.as_deref(), Some("hf_env"));
        let s = resolve_with(
            &["/mnt", "--token", "hf_flag"],
            &[("HOME", "/h"), ("HF_TOKEN", "hf_env")],
        )
        .unwrap();
        assert_eq!(s.token.as_deref(), Some("hf_flag"));
    }

    #[test]
    fn flags_and_mount_options() {
        let env = [("HOME", "/h")];
        let s = resolve_with(
            &[
                "/mnt",
                "-o",
                "ro,nosuid,allow_other,cache_dir=/c,cache-size=2GiB",
                "-o",
                "metadata_ttl=5m,read_ahead=8M,offline,x-systemd.automount,_netdev",
            ],
            &env,
        )
        .unwrap();
        assert_eq!(s.cache_dir, Path::new("/c"));
        assert_eq!(s.cache_size, 2 << 30);
        assert_eq!(s.metadata_ttl, Duration::from_secs(300));
        assert_eq!(s.read_ahead, 8 << 20);
        assert!(s.offline);
        assert_eq!(s.access, Access::All);
        // A flag beats the same option.
        let s = resolve_with(
            &["/mnt", "--cache-dir", "/flag", "-o", "cache_dir=/opt"],
            &env,
        )
        .unwrap();
        assert_eq!(s.cache_dir, Path::new("/flag"));

        for (bad, msg) in [
            ("rw", "read-only"),
            ("bogus", "unknown mount option"),
            ("cache_size=lots", "cache_size=lots"),
            ("cache_dir", "needs a value"),
            ("token=x", "token_file"),
            ("read_ahead=512K", "at least 1MiB"),
        ] {
            let e = resolve_with(&["/mnt", "-o", bad], &env).unwrap_err();
            assert!(format!("{e:#}").contains(msg), "{bad}: {e:#}");
        }
        assert!(resolve_with(&["/mnt", "--memory-cache", "1 parsec"], &env).is_err());
        assert!(resolve_with(&["/mnt", "--endpoint", "not a url"], &env).is_err());
        let e = resolve_with(&["/mnt", "--token-file", "/nonexistent/token"], &env).unwrap_err();
        assert!(format!("{e:#}").contains("cannot read token file"));
    }

    #[test]
    fn relative_paths_become_absolute() {
        let s = resolve_with(
            &["mnt", "--cache-dir", "c", "--log-file", "x.log"],
            &[("HOME", "/h")],
        )
        .unwrap();
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(s.mountpoint, cwd.join("mnt"));
        assert_eq!(s.cache_dir, cwd.join("c"));
        assert_eq!(s.log_file, Some(cwd.join("x.log")));
    }
}
