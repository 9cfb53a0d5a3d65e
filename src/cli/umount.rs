//! `xetfs umount`.

use std::process::ExitCode;

use anyhow::{bail, Context};

use super::mount::UmountArgs;
use crate::fs::mountinfo;

pub fn run(args: UmountArgs) -> anyhow::Result<ExitCode> {
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
