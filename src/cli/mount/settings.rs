//! What `xetfs mount` runs with: flags, then `-o` options, then the environment
//! (huggingface_hub's variables), then defaults. Resolved before forking, so that every
//! mistake is reported in the caller's terminal.

use std::path::PathBuf;

use anyhow::bail;

use super::args::MountArgs;
use super::options;
use crate::cli::env::Env;
use crate::cli::hub_args::absolute;
use crate::fs::mount::{Access, DEFAULT_READ_AHEAD, MIN_READ_AHEAD};
use crate::stack::Settings;

/// Everything a mount needs, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct MountSettings {
    /// The read stack.
    pub stack: Settings,
    /// Absolute path.
    pub mountpoint: PathBuf,
    pub access: Access,
    pub foreground: bool,
    pub read_ahead: u64,
    pub log_file: Option<PathBuf>,
}

/// Resolves `args` against the environment.
pub fn resolve(args: &MountArgs, env: &Env) -> anyhow::Result<MountSettings> {
    let o = options::parse(&args.options)?;
    let stack = args.hub.clone().or(o.hub).resolve(env)?;
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
    let log_file = args.log_file.clone().or(o.log_file);
    Ok(MountSettings {
        stack,
        mountpoint: absolute(&args.mountpoint)?,
        access,
        foreground: args.foreground || o.foreground,
        read_ahead,
        log_file: log_file.map(|p| absolute(&p)).transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;
    use std::time::Duration;

    use clap::Parser;

    use super::*;
    use crate::hub::DEFAULT_ENDPOINT;

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
        let get = |k: &str| env.get(k).cloned();
        resolve(&cmd.args, &Env::new(&get))
    }

    #[test]
    fn defaults_follow_huggingface_hub() {
        let s = resolve_with(&["/mnt"], &[("HOME", "/home/u")]).unwrap();
        assert_eq!(s.stack.endpoint, DEFAULT_ENDPOINT);
        assert_eq!(
            s.stack.cache.dir.as_deref(),
            Some(Path::new("/home/u/.cache/xetfs"))
        );
        assert_eq!(s.stack.token, None, "no token file: anonymous");
        assert_eq!(
            (s.read_ahead, s.stack.offline, s.access),
            (4 << 20, false, Access::Owner)
        );
        assert_eq!(s.stack.metadata_ttl, Duration::from_secs(60));

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
        assert_eq!(s.stack.endpoint, "http://127.0.0.1:9");
        assert_eq!(s.stack.token.as_deref(), Some("hf_abc"));
        assert_eq!(
            s.stack.cache.dir,
            Some(dir.path().join("xetfs")),
            "HF_HOME wins over XDG"
        );
        assert!(s.stack.offline);

        let env = [
            ("HOME", "/h"),
            ("XDG_CACHE_HOME", "/xdg"),
            ("HF_TOKEN", "hf_env"),
        ];
        let s = resolve_with(&["/mnt"], &env).unwrap();
        assert_eq!(s.stack.cache.dir.as_deref(), Some(Path::new("/xdg/xetfs")));
        assert_eq!(s.stack.token.as_deref(), Some("hf_env"));
        let flag = ["/mnt", "--token", "hf_flag"];
        let s = resolve_with(&flag, &[("HOME", "/h"), ("HF_TOKEN", "hf_env")]).unwrap();
        assert_eq!(s.stack.token.as_deref(), Some("hf_flag"));
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
                "-o",
                "read_timeout=7s",
            ],
            &env,
        )
        .unwrap();
        assert_eq!(s.stack.cache.dir.as_deref(), Some(Path::new("/c")));
        assert_eq!(s.stack.cache.disk_bytes, 2 << 30);
        assert_eq!(s.stack.metadata_ttl, Duration::from_secs(300));
        assert_eq!(s.stack.deadlines.read, Duration::from_secs(7));
        assert_eq!(s.read_ahead, 8 << 20);
        assert!(s.stack.offline);
        assert_eq!(s.access, Access::All);
        // A flag beats the same option.
        let argv = ["/mnt", "--cache-dir", "/flag", "-o", "cache_dir=/opt"];
        let s = resolve_with(&argv, &env).unwrap();
        assert_eq!(s.stack.cache.dir.as_deref(), Some(Path::new("/flag")));

        for (bad, msg) in [
            ("rw", "read-only"),
            ("bogus", "unknown mount option"),
            ("cache_size=lots", "cache_size=lots"),
            ("cache_dir", "needs a value"),
            ("token=x", "token_file"),
            ("read_ahead=512K", "at least 1MiB"),
            ("read_timeout=0s", "must be positive"),
        ] {
            let e = resolve_with(&["/mnt", "-o", bad], &env).unwrap_err();
            assert!(format!("{e:#}").contains(msg), "{bad}: {e:#}");
        }
        assert!(resolve_with(&["/mnt", "--memory-cache", "1 parsec"], &env).is_err());
        assert!(resolve_with(&["/mnt", "--endpoint", "not a url"], &env).is_err());
        let e = resolve_with(&["/mnt", "--token-file", "/nonexistent/token"], &env).unwrap_err();
        assert!(format!("{e:#}").contains("cannot read token file"));
        let e = resolve_with(&["/mnt", "-o", "token_file=/nonexistent/t"], &env).unwrap_err();
        assert!(format!("{e:#}").contains("cannot read token file"));
        let e = resolve_with(&["/mnt"], &[("HOME", "/h"), ("HF_HUB_OFFLINE", "maybe")]);
        assert!(format!("{:#}", e.unwrap_err()).contains("HF_HUB_OFFLINE"));
    }

    #[test]
    fn relative_paths_become_absolute() {
        let argv = ["mnt", "--cache-dir", "c", "--log-file", "x.log"];
        let s = resolve_with(&argv, &[("HOME", "/h")]).unwrap();
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(s.mountpoint, cwd.join("mnt"));
        assert_eq!(s.stack.cache.dir, Some(cwd.join("c")));
        assert_eq!(s.log_file, Some(cwd.join("x.log")));
    }
}
