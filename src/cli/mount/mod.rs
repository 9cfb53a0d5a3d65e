//! `xetfs mount`: resolve the settings, daemonize, build the stack, mount, serve until
//! unmounted.

mod args;
mod options;
mod settings;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};

pub use args::{MountArgs, UmountArgs};
pub use settings::{resolve, MountSettings};

use super::daemon::{self, Readiness};
use super::env::Env;
use crate::fs::{mountinfo, FsConfig, MountConfig, Mounted, XetFs};
use crate::stack::{Settings, Stack};

pub fn run(args: MountArgs, verbose: u8) -> anyhow::Result<ExitCode> {
    let get = |k: &str| std::env::var(k).ok();
    let settings = resolve(&args, &Env::new(&get))?;
    check_mountpoint(&settings.mountpoint)?;
    // Fork now: no thread and no runtime exist yet.
    let readiness = if settings.foreground {
        None
    } else {
        Some(daemon::daemonize(settings.log_file.as_deref())?)
    };
    // A daemon's stderr already is the log file.
    let redirect = settings.log_file.as_deref().filter(|_| settings.foreground);
    super::logging::init(verbose, redirect)?;
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

fn serve(settings: &MountSettings, readiness: Option<Readiness>) -> anyhow::Result<ExitCode> {
    let (rt, mounted) = match start(settings) {
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
    let s = &settings.stack;
    tracing::info!(mountpoint = %mountpoint.display(), endpoint = %s.endpoint, offline = s.offline, "mounted");
    if let Some(r) = readiness {
        r.ready();
    }
    let result = mounted.run();
    tracing::info!(mountpoint = %mountpoint.display(), "unmounted");
    rt.shutdown_timeout(Duration::from_secs(5));
    result.context("serving the filesystem")?;
    Ok(ExitCode::SUCCESS)
}

fn start(s: &MountSettings) -> anyhow::Result<(tokio::runtime::Runtime, Mounted)> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("xetfs-worker")
        .build()
        .context("starting the runtime")?;
    let stack = {
        let _enter = rt.enter();
        Stack::open(within_kernel_timeout(s.stack.clone()))?
    };
    let deadlines = stack.settings.deadlines;
    let fs_config = FsConfig {
        read_timeout: deadlines.read,
        lookup_timeout: deadlines.lookup(),
        ..FsConfig::default()
    };
    let fs = XetFs::new(
        stack.catalog.clone(),
        stack.reader(),
        rt.handle().clone(),
        fs_config,
    );
    let mount_config = MountConfig {
        access: s.access,
        read_ahead: s.read_ahead,
        ..MountConfig::default()
    };
    let mounted = crate::fs::mount(fs, &s.mountpoint, &mount_config).map_err(|e| {
        anyhow::anyhow!(
            "cannot mount on {}: {e}{}",
            s.mountpoint.display(),
            hint(&e)
        )
    })?;
    Ok((rt, mounted))
}

/// The settings with every deadline a FUSE request waits for shortened below the kernel's
/// request timeout, if it has one: past it the kernel aborts the whole mount.
fn within_kernel_timeout(mut settings: Settings) -> Settings {
    let Some(limit) = crate::fs::mount::kernel_request_timeout() else {
        return settings;
    };
    let fitted = settings.deadlines.fit_within(limit);
    if fitted != settings.deadlines {
        tracing::info!(kernel_timeout = ?limit, read = ?fitted.read, hub_call = ?fitted.hub_call, "deadlines shortened to answer before the kernel's FUSE request timeout");
    }
    settings.deadlines = fitted;
    settings
}

/// What to do about a failed mount.
fn hint(e: &std::io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => {
            " (mounting needs root, or fusermount3 from the fuse3 package)"
        }
        Some(libc::ENOENT) if !Path::new("/dev/fuse").exists() => {
            " (/dev/fuse is missing: load the fuse module)"
        }
        // Not root: fuser runs fusermount3.
        Some(libc::ENOENT) => " (is fusermount3 installed? it is in the fuse3 package)",
        _ => "",
    }
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
