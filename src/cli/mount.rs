//! `xetfs mount` and `xetfs umount`.
// SKELETON: to be written (issue 4).

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct MountArgs {}

#[derive(Debug, clap::Args)]
pub struct UmountArgs {}

pub fn run(args: MountArgs, verbose: u8) -> anyhow::Result<ExitCode> {
    let _ = (args, verbose);
    anyhow::bail!("`xetfs mount` is not implemented yet")
}

pub fn run_umount(args: UmountArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("`xetfs umount` is not implemented yet")
}
