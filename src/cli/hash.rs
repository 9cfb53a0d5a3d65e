//! `xetfs hash`.
// SKELETON: to be written.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct HashArgs {}

pub fn run(args: HashArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("`xetfs hash` is not implemented yet")
}
