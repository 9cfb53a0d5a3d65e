//! Logs to stderr, filtered by `-v` or `RUST_LOG`.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::Context;

/// Sets up logging to stderr (`RUST_LOG` wins over `-v`); with `log_file`, stderr is first
/// redirected there (appending).
pub fn init(verbose: u8, log_file: Option<&Path>) -> anyhow::Result<()> {
    if let Some(path) = log_file {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open log file {}", path.display()))?;
        // SAFETY: dup2 onto stderr, which this process owns.
        if unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&file), 2) } < 0 {
            return Err(std::io::Error::last_os_error()).context("redirecting stderr");
        }
    }
    let default = ["info", "debug", "trace"][usize::from(verbose.min(2))];
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
    Ok(())
}
