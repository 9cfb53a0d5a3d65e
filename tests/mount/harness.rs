//! Mounting in tests: FUSE availability, stale-mount cleanup, a guard that always unmounts, and
//! running blocking I/O with a timeout so that a bug cannot hang the suite.

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Once};
use std::time::Duration;

use fuser::BackgroundSession;
use tempfile::TempDir;
use xetfs::cache::metadata::MetadataStore;
use xetfs::catalog::{CatalogConfig, HubCatalog, RepoCatalog};
use xetfs::fs::mountinfo;
use xetfs::fs::{FsConfig, MountConfig, XetFs};
use xetfs::read::FileReader;
use xetfs::remote::Remote;
use xetfs::stack::{Settings, Stack};
use xetfs::testkit::runtime;

/// Upper bound for any single blocking step of a test.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `f` on its own thread; panics if it does not finish within [`IO_TIMEOUT`] (a panic in
/// `f` is passed on).
pub fn io<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    });
    match rx.recv_timeout(IO_TIMEOUT) {
        Ok(Ok(v)) => v,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("{what}: no result within {IO_TIMEOUT:?} (hung filesystem?)"),
    }
}

/// Whether mount tests can run here. When they cannot: fail under `XETFS_REQUIRE_FUSE=1`,
/// else say so and skip.
pub fn fuse_usable() -> bool {
    let dev = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse");
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let problem = match dev {
        Err(e) => Some(format!("cannot open /dev/fuse: {e}")),
        Ok(_) if !root && which("fusermount3").is_none() => {
            Some("not root and no fusermount3".to_string())
        }
        Ok(_) => None,
    };
    match problem {
        None => true,
        Some(p) if std::env::var("XETFS_REQUIRE_FUSE").as_deref() == Ok("1") => {
            panic!("FUSE is required (XETFS_REQUIRE_FUSE=1) but unusable: {p}")
        }
        Some(p) => {
            eprintln!("SKIPPED: FUSE unusable: {p}");
            false
        }
    }
}

fn which(bin: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(bin))
        .find(|p| p.exists())
}

/// Source name of in-process test mounts: identifies leftovers of dead test processes.
pub fn test_fsname() -> String {
    format!("xetfs-test-{}", std::process::id())
}

/// Unmounts mounts that earlier test runs left behind: in-process mounts of dead test
/// processes, and dead daemon mounts in `xetfs-test*` temp dirs. Live mounts of other running
/// tests are left alone.
pub fn clean_stale_mounts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let Ok(mounts) = mountinfo::mounts() else {
            return;
        };
        for m in mounts.iter().filter(|m| m.is_xetfs()) {
            let owner_dead = m
                .source
                .strip_prefix("xetfs-test-")
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
            let in_test_dir = m.mountpoint.to_string_lossy().contains("/xetfs-test");
            let dead = in_test_dir && xetfs::fs::mount::is_dead(&m.mountpoint);
            if owner_dead || dead {
                eprintln!("cleaning stale mount {}", m.mountpoint.display());
                let _ = xetfs::fs::unmount(&m.mountpoint, true);
            }
        }
    });
}

/// A temp dir whose name marks it as a test mountpoint.
pub fn test_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("xetfs-test")
        .tempdir()
        .unwrap()
}

/// Settings of a test mount.
#[derive(Clone)]
pub struct Opts {
    pub metadata_ttl: Duration,
    pub read_timeout: Duration,
    pub offline: bool,
    /// Metadata store directory (persisted listings), if any.
    pub meta_dir: Option<PathBuf>,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            metadata_ttl: Duration::from_secs(3600),
            read_timeout: Duration::from_secs(20),
            offline: false,
            meta_dir: None,
        }
    }
}

/// A real FUSE mount of `XetFs` over the given doubles, unmounted on drop (even on panic).
pub struct TestMount {
    dir: TempDir,
    session: Option<BackgroundSession>,
    rt: Option<tokio::runtime::Runtime>,
}

impl TestMount {
    /// `None` when FUSE is unusable and not required (the test then returns early).
    pub fn start(remote: Arc<dyn Remote>, reader: Arc<dyn FileReader>, opts: Opts) -> Option<Self> {
        if !fuse_usable() {
            return None;
        }
        let meta = opts
            .meta_dir
            .as_ref()
            .map(|d| MetadataStore::open(d).unwrap());
        let config = CatalogConfig {
            metadata_ttl: opts.metadata_ttl,
            offline: opts.offline,
            ..CatalogConfig::default()
        };
        let catalog = Arc::new(HubCatalog::new(remote, meta, config));
        Some(Self::mount(runtime(), catalog, reader, opts.read_timeout))
    }

    /// A mount of the whole real stack (catalog, caches, engine) built by `xetfs::stack` from
    /// `settings`, over `remote`.
    pub fn start_stack(remote: Arc<dyn Remote>, settings: Settings) -> Option<Self> {
        if !fuse_usable() {
            return None;
        }
        let rt = runtime();
        let stack = {
            let _enter = rt.enter();
            Stack::with_remote(settings, remote).expect("building the stack")
        };
        let (catalog, reader) = (stack.catalog.clone(), stack.reader());
        Some(Self::mount(
            rt,
            catalog,
            reader,
            stack.settings.deadlines.read,
        ))
    }

    fn mount(
        rt: tokio::runtime::Runtime,
        catalog: Arc<dyn RepoCatalog>,
        reader: Arc<dyn FileReader>,
        read_timeout: Duration,
    ) -> Self {
        clean_stale_mounts();
        let config = FsConfig {
            read_timeout,
            lookup_timeout: Duration::from_secs(20),
            ..FsConfig::default()
        };
        let fs = XetFs::new(catalog, reader, rt.handle().clone(), config);
        let dir = test_dir();
        let mount_config = MountConfig {
            fsname: test_fsname(),
            ..MountConfig::default()
        };
        let path = dir.path().to_path_buf();
        let mounted =
            io("mount", move || xetfs::fs::mount(fs, &path, &mount_config)).expect("mount failed");
        let session = mounted.spawn().expect("starting the session");
        TestMount {
            dir,
            session: Some(session),
            rt: Some(rt),
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `.xetfs-stats`, read through the mount.
    pub fn stats(&self) -> serde_json::Value {
        let p = self.path(".xetfs-stats");
        let text = io("read stats", move || std::fs::read_to_string(p)).unwrap();
        serde_json::from_str(&text).expect("stats are JSON")
    }
}

impl Drop for TestMount {
    fn drop(&mut self) {
        let mountpoint = self.dir.path().to_path_buf();
        if let Some(session) = self.session.take() {
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                let _ = tx.send(session.umount_and_join());
            });
            match rx.recv_timeout(Duration::from_secs(10)) {
                Ok(Ok(())) => {}
                other => {
                    eprintln!("unmount failed ({other:?}); detaching and aborting the connection");
                    force_unmount(&mountpoint);
                }
            }
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// Last resort: detach the mount and abort its FUSE connection so stuck readers return.
pub fn force_unmount(mountpoint: &Path) {
    let entry = mountinfo::find(mountpoint).ok().flatten();
    let _ = xetfs::fs::unmount(mountpoint, true);
    if let Some(m) = entry {
        let conn = Path::new("/sys/fs/fuse/connections");
        if !conn
            .join("")
            .read_dir()
            .is_ok_and(|mut d| d.next().is_some())
        {
            let _ = std::process::Command::new("mount")
                .args(["-t", "fusectl", "none", "/sys/fs/fuse/connections"])
                .status();
        }
        let _ = std::fs::write(conn.join(m.minor.to_string()).join("abort"), "1");
    }
}
