//! The `xetfs` binary: daemon mode, foreground mode with signals, `xetfs umount`, errors, stale
//! mounts, and the `mount.xetfs` helper — against a small HTTP Hub on loopback, through the real
//! `HttpRemote` and `ReadEngine`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tempfile::TempDir;
use xetfs::fs::mountinfo;

use crate::doubles::pseudo_random;
use crate::fakehub::{FakeHub, HubRepo};
use crate::harness::{self, io};

const BIN: &str = env!("CARGO_BIN_EXE_xetfs");

struct Fixture {
    hub: FakeHub,
    files: Vec<(String, Bytes)>,
    home: TempDir,
}

fn fixture() -> Option<Fixture> {
    if !harness::fuse_usable() {
        return None;
    }
    harness::clean_stale_mounts();
    let files = vec![
        (
            "config.json".to_string(),
            Bytes::from_static(b"{\"layers\": 2}\n"),
        ),
        (
            "weights/part-0.bin".to_string(),
            pseudo_random(1536 * 1024 + 5, 7),
        ),
    ];
    let hub = FakeHub::start(vec![HubRepo {
        name: "org/model".into(),
        commit: "c0ffee".repeat(6) + "abcd",
        files: files.clone(),
    }]);
    Some(Fixture {
        hub,
        files,
        home: tempfile::tempdir().unwrap(),
    })
}

impl Fixture {
    /// `xetfs ARGS` with a clean environment pointing at the fake Hub.
    fn command(&self, args: &[&str]) -> Command {
        self.command_for(Path::new(BIN), args)
    }

    fn command_for(&self, program: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("HF_ENDPOINT", &self.hub.url)
            .env("XETFS_MAX_ATTEMPTS", "1")
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut cmd = self.command(args);
        let what = format!("xetfs {}", args.join(" "));
        // output() waits for every holder of stdout/stderr: a daemon that kept the caller's
        // stdio would make this time out.
        io(&what, move || cmd.output().unwrap())
    }
}

/// A daemon-mode mount, unmounted (and its daemon killed) on drop whatever happens.
struct DaemonMount {
    mnt: TempDir,
    cache: TempDir,
    log: PathBuf,
}

impl DaemonMount {
    fn new() -> Self {
        let cache = tempfile::tempdir().unwrap();
        let log = cache.path().join("xetfs.log");
        DaemonMount {
            mnt: harness::test_dir(),
            cache,
            log,
        }
    }

    fn path(&self) -> &Path {
        self.mnt.path()
    }

    fn args(&self) -> Vec<String> {
        vec![
            "mount".into(),
            self.path().display().to_string(),
            "--cache-dir".into(),
            self.cache.path().join("cache").display().to_string(),
            "--log-file".into(),
            self.log.display().to_string(),
        ]
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn pid(&self) -> u32 {
        let p = self.path().join(".xetfs-stats");
        let text = io("stats", move || std::fs::read_to_string(p)).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["pid"].as_u64().unwrap() as u32
    }

    fn mounted(&self) -> bool {
        mountinfo::find(&mountinfo::normalize(self.path()).unwrap())
            .unwrap()
            .is_some_and(|m| m.is_xetfs())
    }
}

impl Drop for DaemonMount {
    fn drop(&mut self) {
        if self.mounted() {
            harness::force_unmount(self.path());
        }
    }
}

fn args_of(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn wait_until(what: &str, cond: impl Fn() -> bool + Send + 'static) {
    io(what, move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out");
            std::thread::sleep(Duration::from_millis(20));
        }
    });
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn read(path: PathBuf) -> std::io::Result<Vec<u8>> {
    io("read", move || std::fs::read(path))
}

#[test]
fn daemon_returns_when_ready_and_umount_ends_it() {
    let Some(f) = fixture() else {
        return;
    };
    let m = DaemonMount::new();
    let out = f.run(&args_of(&m.args()));
    assert!(
        out.status.success(),
        "mount failed: {}\nlog:\n{}",
        String::from_utf8_lossy(&out.stderr),
        m.log()
    );
    // Ready means mounted: no polling needed.
    assert!(m.mounted());
    let pid = m.pid();
    assert_ne!(pid, std::process::id());
    assert!(alive(pid));
    // Detached: its own session, stdin from /dev/null, stdout and stderr into the log file.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    assert_eq!(fields[3], pid.to_string(), "session id of the daemon");
    let fd = |n: u32| std::fs::read_link(format!("/proc/{pid}/fd/{n}")).unwrap();
    assert_eq!(fd(0), Path::new("/dev/null"));
    assert_eq!((fd(1), fd(2)), (m.log.clone(), m.log.clone()));
    if unsafe { libc::geteuid() } == 0 {
        assert_eq!(xetfs::fs::mount::read_ahead(m.path()).unwrap(), 4 << 20);
    }

    // Real bytes through HttpRemote and the engine.
    for (path, data) in &f.files {
        let got = read(m.path().join("org/model").join(path)).unwrap();
        assert!(got == data[..], "{path} differs\nlog:\n{}", m.log());
    }
    assert!(f.hub.requests.load(std::sync::atomic::Ordering::SeqCst) >= 3);
    let entries = io("ls", {
        let p = m.path().to_path_buf();
        move || std::fs::read_dir(p).unwrap().count()
    });
    assert_eq!(entries, 1, "the root lists org");

    let out = f.run(&["umount", &m.path().display().to_string()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!m.mounted());
    wait_until("daemon exit", move || !alive(pid));
    assert!(m.log().contains("unmounted"), "log:\n{}", m.log());
}

#[test]
fn foreground_unmounts_on_sigterm() {
    let Some(f) = fixture() else {
        return;
    };
    let m = DaemonMount::new();
    let mut args = m.args();
    args.push("--foreground".into());
    let mut child = f
        .command(&args_of(&args))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mnt = m.path().to_path_buf();
    wait_until("foreground mount", move || {
        mountinfo::find(&mnt).unwrap().is_some_and(|e| e.is_xetfs())
    });
    assert_eq!(m.pid(), child.id());
    let got = read(m.path().join("org/model/config.json")).unwrap();
    assert_eq!(got, f.files[0].1);

    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = io("wait", move || child.wait().unwrap());
    assert!(status.success(), "{status:?}\nlog:\n{}", m.log());
    assert!(!m.mounted());
}

#[test]
fn failures_are_reported_with_a_message() {
    let Some(f) = fixture() else {
        return;
    };
    let m = DaemonMount::new();
    let file = m.cache.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["mount".into(), "/nonexistent/xetfs-mnt".into()],
            "does not exist",
        ),
        (
            vec!["mount".into(), file.display().to_string()],
            "not a directory",
        ),
        (
            vec![
                "mount".into(),
                m.path().display().to_string(),
                "-o".into(),
                "rw".into(),
            ],
            "read-only",
        ),
        // Fails in the daemon, after the fork: reported through the readiness pipe.
        (
            vec![
                "mount".into(),
                m.path().display().to_string(),
                "--cache-dir".into(),
                file.join("sub").display().to_string(),
            ],
            "cannot create cache directory",
        ),
        (
            vec!["umount".into(), m.path().display().to_string()],
            "is not mounted",
        ),
        (vec!["umount".into(), "/proc".into()], "not a xetfs mount"),
    ];
    for (args, want) in cases {
        let out = f.run(&args_of(&args));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            stderr.contains(want),
            "{args:?}: expected {want:?} in {stderr:?}"
        );
    }
    assert!(!m.mounted());

    // Mounting twice on the same directory is refused; the first mount is untouched.
    let out = f.run(&args_of(&m.args()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = f.run(&args_of(&m.args()));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already a xetfs mount"));
    assert!(read(m.path().join("org/model/config.json")).is_ok());
    let out = f.run(&["umount", &m.path().display().to_string()]);
    assert!(out.status.success());
}

#[test]
fn dead_daemon_mount_is_cleared() {
    let Some(f) = fixture() else {
        return;
    };
    let m = DaemonMount::new();
    assert!(
        f.run(&args_of(&m.args())).status.success(),
        "log:\n{}",
        m.log()
    );
    let pid = m.pid();
    // SAFETY: killing the daemon this test started.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    wait_until("daemon death", move || !alive(pid));
    // Anything that needs the daemon fails (stat may still be answered from cached attributes).
    let err = io("list dead", {
        let p = m.path().to_path_buf();
        move || std::fs::read_dir(p).unwrap_err()
    });
    assert_eq!(err.raw_os_error(), Some(libc::ENOTCONN));
    assert!(xetfs::fs::mount::is_dead(m.path()));

    // Mounting again over the dead mount works (it is cleared first)…
    let out = f.run(&args_of(&m.args()));
    assert!(
        out.status.success(),
        "{}\nlog:\n{}",
        String::from_utf8_lossy(&out.stderr),
        m.log()
    );
    assert_eq!(
        read(m.path().join("org/model/config.json")).unwrap(),
        f.files[0].1
    );
    // …and `umount` clears a dead one too.
    let pid = m.pid();
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    wait_until("daemon death", move || !alive(pid));
    let out = f.run(&["umount", &m.path().display().to_string()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!m.mounted());
}

#[test]
fn mount_helper_translates_fstab_style_arguments() {
    let Some(f) = fixture() else {
        return;
    };
    let helper = Path::new(env!("CARGO_MANIFEST_DIR")).join("mount-helper/mount.xetfs");
    let m = DaemonMount::new();
    let opts = format!(
        "rw,nosuid,nodev,_netdev,cache_dir={},log_file={}",
        m.cache.path().join("cache").display(),
        m.log.display()
    );
    let mnt = m.path().display().to_string();
    let mut cmd = f.command_for(&helper, &["xetfs", &mnt, "-o", &opts]);
    cmd.env("XETFS_BIN", BIN);
    let out = io("mount.xetfs", move || cmd.output().unwrap());
    assert!(
        out.status.success(),
        "{}\nlog:\n{}",
        String::from_utf8_lossy(&out.stderr),
        m.log()
    );
    assert!(m.mounted());
    assert_eq!(
        read(m.path().join("org/model/config.json")).unwrap(),
        f.files[0].1
    );
    let out = f.run(&["umount", &m.path().display().to_string()]);
    assert!(out.status.success());
}
