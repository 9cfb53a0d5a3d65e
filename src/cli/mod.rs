//! The `xetfs` command line. Each subcommand lives in its own module with its `Args` and `run`,
//! a thin call into [`stack`](crate::stack) (or [`serve`](crate::serve)). The flags shared by
//! every front end of the read stack are [`hub_args::HubArgs`]; [`env`] reads the environment.

mod daemon;
pub mod demo;
pub mod env;
pub mod hash;
pub mod hub_args;
mod logging;
pub mod mount;
pub mod serve;
mod umount;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "xetfs",
    version,
    about = "Lazy, verified, cached access to Hugging Face Hub repos stored with Xet",
    long_about = "xetfs mounts Hugging Face Hub repos as a read-only filesystem that fetches only \
                  the bytes you read, verifies them, and caches them on disk. It also serves a local \
                  Xet-enabled Hub that the official clients can pull from and push to."
)]
pub struct Cli {
    /// More log output (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the Xet file hash of local files (compare with the Hub's xetHash)
    Hash(hash::HashArgs),
    /// Serve a directory tree as a local Xet-enabled Hub
    Serve(Box<serve::ServeArgs>),
    /// Mount Hub repos as a read-only filesystem
    Mount(Box<mount::MountArgs>),
    /// Unmount a xetfs mount
    Umount(mount::UmountArgs),
    /// Build a sample model, serve it, mount it and load a tensor through the mount
    Demo(demo::DemoArgs),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Hash(a) => hash::run(a),
        Command::Serve(a) => logging::init(cli.verbose, None).and_then(|()| serve::run(*a)),
        Command::Mount(a) => mount::run(*a, cli.verbose),
        Command::Umount(a) => umount::run(a),
        Command::Demo(a) => logging::init(cli.verbose, None).and_then(|()| demo::run(a)),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xetfs: {e:#}");
            ExitCode::FAILURE
        }
    }
}
