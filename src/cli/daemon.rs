//! Running `xetfs mount` in the background: fork (before any thread or runtime exists), detach
//! the child from the terminal and stdio, and let the parent exit only once the child reports
//! that the mount is ready or failed.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

/// How long the parent waits for the daemon to mount (opening a large disk cache is included).
pub const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// The child's end of the readiness pipe.
pub struct Readiness(File);

impl Readiness {
    /// The mount is up: the parent exits 0.
    pub fn ready(mut self) {
        let _ = self.0.write_all(b"ok\n");
    }

    /// Starting failed: the parent prints `message` and exits non-zero.
    pub fn failed(mut self, message: &str) {
        let _ = writeln!(self.0, "error {message}");
    }
}

/// Forks. The parent waits for the child's report and exits the process with its outcome;
/// only the child returns, detached (new session, cwd `/`, stdin from /dev/null, stdout and
/// stderr to `log_file` or /dev/null).
///
/// Must be called while the process has a single thread.
pub fn daemonize(log_file: Option<&Path>) -> anyhow::Result<Readiness> {
    // Opened before forking so that a bad path is reported by the parent, in the terminal.
    let log = match log_file {
        Some(p) => Some(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("cannot open log file {}", p.display()))?,
        ),
        None => None,
    };
    let (read_end, write_end) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("creating a pipe")?;
    // SAFETY: the process is single-threaded here (documented precondition), so the child
    // may run arbitrary code after fork.
    match unsafe { fork() }.context("fork")? {
        ForkResult::Parent { child } => {
            drop(write_end);
            let code = wait_for_child(read_end, child, READY_TIMEOUT);
            std::process::exit(if code == ExitCode::SUCCESS { 0 } else { 1 });
        }
        ForkResult::Child => {
            drop(read_end);
            nix::unistd::setsid().context("setsid")?;
            std::env::set_current_dir("/").context("chdir /")?;
            redirect_stdio(log.as_ref())?;
            Ok(Readiness(File::from(write_end)))
        }
    }
}

fn redirect_stdio(log: Option<&File>) -> anyhow::Result<()> {
    let null = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .context("opening /dev/null")?;
    let out = log.unwrap_or(&null);
    for (from, to) in [(null.as_fd(), 0), (out.as_fd(), 1), (out.as_fd(), 2)] {
        // SAFETY: dup2 onto the standard descriptors, which this process owns.
        if unsafe { libc::dup2(from.as_raw_fd(), to) } < 0 {
            return Err(std::io::Error::last_os_error()).context("redirecting stdio");
        }
    }
    Ok(())
}

/// Parent side: reads the child's report, with a deadline.
fn wait_for_child(pipe: OwnedFd, child: Pid, timeout: Duration) -> ExitCode {
    let mut pipe = File::from(pipe);
    let deadline = Instant::now() + timeout;
    let mut report = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = PollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32)
            .unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(pipe.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, ms) {
            Ok(0) => {
                // Still starting after the deadline: stop it rather than leave a half-started
                // daemon behind.
                let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
                eprintln!(
                    "xetfs: the mount was not ready within {timeout:?}; stopped the daemon (pid {child})"
                );
                return ExitCode::FAILURE;
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                eprintln!("xetfs: waiting for the daemon: {e}");
                return ExitCode::FAILURE;
            }
            Ok(_) => {}
        }
        let mut buf = [0u8; 4096];
        match pipe.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                report.extend_from_slice(&buf[..n]);
                if report.ends_with(b"\n") {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                eprintln!("xetfs: reading the daemon's report: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let report = String::from_utf8_lossy(&report);
    let report = report.trim_end();
    if report == "ok" {
        return ExitCode::SUCCESS;
    }
    if let Some(message) = report.strip_prefix("error ") {
        eprintln!("xetfs: {message}");
    } else {
        // The daemon died without a word (crash or signal).
        let status = exit_status(child);
        eprintln!(
            "xetfs: the daemon (pid {child}) exited before the mount was ready ({status}); \
             run with --foreground or --log-file to see why"
        );
    }
    ExitCode::FAILURE
}

/// How the child ended, waiting a little for it to finish exiting.
fn exit_status(child: Pid) -> String {
    for _ in 0..200 {
        match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => return format!("exit status {code}"),
            Ok(WaitStatus::Signaled(_, sig, _)) => return format!("killed by {sig}"),
            Ok(WaitStatus::StillAlive) => std::thread::sleep(Duration::from_millis(10)),
            _ => break,
        }
    }
    "status unknown".to_string()
}
