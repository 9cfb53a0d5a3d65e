//! `xetfs demo`.
// SKELETON: to be written.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {}

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("`xetfs demo` is not implemented yet")
}
