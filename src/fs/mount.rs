//! Mounting and unmounting: fuser `Config`, the mount's readahead window, stale-mount cleanup.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fuser::{BackgroundSession, Config, MountOption, Session, SessionACL, SessionUnmounter};

use super::fuse::{FsControl, XetFs};
use super::mountinfo;

/// Default kernel readahead window of the mount (`fuse-notes.md` §1.4, §3.4).
pub const DEFAULT_READ_AHEAD: u64 = 4 << 20;
/// Smaller windows make mmap readers fall back to 4 KiB requests.
pub const MIN_READ_AHEAD: u64 = 1 << 20;

/// Who may use the mount besides its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Access {
    #[default]
    Owner,
    /// `allow_root`.
    RootAndOwner,
    /// `allow_other` (non-root mounters need `user_allow_other` in /etc/fuse.conf).
    All,
}

/// How to mount.
#[derive(Debug, Clone)]
pub struct MountConfig {
    /// Source shown by `mount` and matched by `xetfs umount` (must start with `xetfs`).
    pub fsname: String,
    pub access: Access,
    /// Kernel readahead window in bytes, set on the mount's bdi after mounting (needs root).
    pub read_ahead: u64,
    /// FUSE request threads; reads are answered from tokio tasks, so two are plenty.
    pub threads: usize,
}

impl Default for MountConfig {
    fn default() -> Self {
        MountConfig {
            fsname: "xetfs".into(),
            access: Access::Owner,
            read_ahead: DEFAULT_READ_AHEAD,
            threads: 2,
        }
    }
}

impl MountConfig {
    pub fn fuser_config(&self) -> Config {
        let mut config = Config::default();
        config.mount_options = vec![
            MountOption::RO,
            MountOption::NoAtime,
            MountOption::DefaultPermissions,
            MountOption::NoDev,
            MountOption::NoSuid,
            MountOption::FSName(self.fsname.clone()),
            MountOption::Subtype("xetfs".into()),
        ];
        config.acl = match self.access {
            Access::Owner => SessionACL::Owner,
            Access::RootAndOwner => SessionACL::RootAndOwner,
            Access::All => SessionACL::All,
        };
        config.n_threads = Some(self.threads.max(1));
        config.clone_fd = false;
        config
    }
}

/// A mounted filesystem whose request loop has not started yet.
pub struct Mounted {
    session: Session<XetFs>,
    pub control: FsControl,
    pub mountpoint: PathBuf,
}

/// Mounts `fs` at `mountpoint`: clears a dead xetfs mount left there, mounts, wires the
/// notifier, and sets the readahead window (a failure there is logged, not fatal).
pub fn mount(fs: XetFs, mountpoint: &Path, config: &MountConfig) -> io::Result<Mounted> {
    let mountpoint = mountinfo::normalize(mountpoint)?;
    clear_stale_mount(&mountpoint)?;
    let control = fs.control();
    let session = Session::new(fs, &mountpoint, &config.fuser_config())?;
    control.set_notifier(session.notifier());
    if let Err(e) = set_read_ahead(&mountpoint, config.read_ahead) {
        tracing::warn!(mountpoint = %mountpoint.display(), error = %e, "could not set the readahead window (needs root); large sequential reads will be slower");
    }
    Ok(Mounted {
        session,
        control,
        mountpoint,
    })
}

impl Mounted {
    /// Something that unmounts from another thread (signal handlers).
    pub fn unmounter(&mut self) -> SessionUnmounter {
        self.session.unmount_callable()
    }

    /// Serves requests on this thread until the filesystem is unmounted.
    pub fn run(self) -> io::Result<()> {
        self.session.run()
    }

    /// Serves requests on a background thread; dropping the handle unmounts.
    pub fn spawn(self) -> io::Result<BackgroundSession> {
        self.session.spawn()
    }
}

/// The kernel's FUSE request timeout, if it has one (Linux ≥ 6.14): the smaller non-zero value
/// of `default_request_timeout` and `max_request_timeout` under /proc/sys/fs/fuse. A request
/// unanswered by then makes the kernel abort the whole connection.
pub fn kernel_request_timeout() -> Option<Duration> {
    kernel_request_timeout_in(Path::new("/proc/sys/fs/fuse"))
}

fn kernel_request_timeout_in(dir: &Path) -> Option<Duration> {
    ["default_request_timeout", "max_request_timeout"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(dir.join(f)).ok())
        .filter_map(|s| s.trim().parse::<u64>().ok())
        .filter(|secs| *secs > 0)
        .min()
        .map(Duration::from_secs)
}

/// Sets the mount's kernel readahead window. The device numbers come from mountinfo, not
/// `stat`: the filesystem may not be serving requests yet.
pub fn set_read_ahead(mountpoint: &Path, bytes: u64) -> io::Result<()> {
    std::fs::write(bdi_path(mountpoint)?, format!("{}\n", bytes / 1024))
}

/// The mount's kernel readahead window in bytes.
pub fn read_ahead(mountpoint: &Path) -> io::Result<u64> {
    let text = std::fs::read_to_string(bdi_path(mountpoint)?)?;
    let kb: u64 = text.trim().parse().map_err(io::Error::other)?;
    Ok(kb * 1024)
}

fn bdi_path(mountpoint: &Path) -> io::Result<PathBuf> {
    let m = mountinfo::find(&mountinfo::normalize(mountpoint)?)?
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "not a mount point"))?;
    Ok(PathBuf::from(format!(
        "/sys/class/bdi/{}:{}/read_ahead_kb",
        m.major, m.minor
    )))
}

/// Unmounts a dead xetfs mount at `mountpoint` (its daemon was killed: every request fails
/// with ENOTCONN). A live mount is an error: mounting twice would hide it.
fn clear_stale_mount(mountpoint: &Path) -> io::Result<()> {
    let Some(entry) = mountinfo::find(mountpoint)? else {
        return Ok(());
    };
    if !entry.is_xetfs() {
        return Ok(()); // mounting over another filesystem is allowed
    }
    if is_dead(mountpoint) {
        tracing::info!(mountpoint = %mountpoint.display(), "removing a dead xetfs mount");
        unmount(mountpoint, true)
    } else {
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} is already a xetfs mount", mountpoint.display()),
        ))
    }
}

/// Whether the FUSE mount at `mountpoint` lost its daemon. `statfs` always reaches the
/// daemon, where `stat` may be answered from the kernel's attribute cache.
pub fn is_dead(mountpoint: &Path) -> bool {
    matches!(
        nix::sys::statfs::statfs(mountpoint),
        Err(nix::errno::Errno::ENOTCONN) | Err(nix::errno::Errno::ECONNABORTED)
    )
}

/// Unmounts `mountpoint` (`lazy`: detach now, finish when no longer busy). Falls back to
/// `fusermount3 -u` when not permitted (non-root mounter).
pub fn unmount(mountpoint: &Path, lazy: bool) -> io::Result<()> {
    let flags = if lazy {
        nix::mount::MntFlags::MNT_DETACH
    } else {
        nix::mount::MntFlags::empty()
    };
    match nix::mount::umount2(mountpoint, flags) {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::EPERM) => fusermount_unmount(mountpoint, lazy),
        Err(e) => Err(e.into()),
    }
}

fn fusermount_unmount(mountpoint: &Path, lazy: bool) -> io::Result<()> {
    let mut cmd = std::process::Command::new("fusermount3");
    cmd.arg("-u");
    if lazy {
        cmd.arg("-z");
    }
    let out = cmd.arg("--").arg(mountpoint).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "fusermount3 -u failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_request_timeout_is_the_smaller_non_zero_setting() {
        let dir = tempfile::tempdir().unwrap();
        let set = |f: &str, v: &str| std::fs::write(dir.path().join(f), v).unwrap();
        assert_eq!(
            kernel_request_timeout_in(dir.path()),
            None,
            "an older kernel"
        );
        set("default_request_timeout", "0\n");
        set("max_request_timeout", "0\n");
        assert_eq!(
            kernel_request_timeout_in(dir.path()),
            None,
            "none configured"
        );
        set("default_request_timeout", "120\n");
        assert_eq!(
            kernel_request_timeout_in(dir.path()),
            Some(Duration::from_secs(120))
        );
        set("max_request_timeout", "90\n");
        assert_eq!(
            kernel_request_timeout_in(dir.path()),
            Some(Duration::from_secs(90))
        );
    }
}
