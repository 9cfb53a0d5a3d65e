//! A real Redis on loopback for tests: a 3-node Redis Cluster (or one plain node) run from the
//! Debian `redis-server` binary on free ports, with kill / freeze (SIGSTOP) / thaw of a node, torn
//! down on drop (every node killed, its directory removed; also when the test panics).
//!
//! Use it from any integration test crate, either through `mod support;` as `support::redis`, or
//! alone with `#[path = "support/redis.rs"] mod redis_support;` (`"../support/redis.rs"` from a
//! `tests/<dir>/main.rs` crate):
//!
//! ```ignore
//! let Some(cluster) = Redis::cluster() else { return }; // visible skip, or a panic under XETFS_REQUIRE_REDIS=1
//! let client = redis::cluster::ClusterClient::builder(cluster.urls()).build()?;
//! let key = format!("xf1:{}:0", cluster.hash_tag(2)); // a key that lives on node 2
//! cluster.stop(2);                                    // node 2 accepts connections, never answers
//! ```
//!
//! Create it on the test's own thread (the test body, also under `#[tokio::test]`): the nodes get
//! `PR_SET_PDEATHSIG`, so they die with that thread if the test process is killed before Drop.
#![allow(dead_code)]

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::ops::RangeInclusive;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tempfile::TempDir;

/// Hash slots of a Redis Cluster.
pub const SLOTS: u16 = 16384;
/// Start, cluster formation and every readiness poll end by this deadline.
const START_DEADLINE: Duration = Duration::from_secs(60);
/// Deadline of one command of the harness itself (connect, read, write).
const IO_DEADLINE: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(20);
/// Another process may take a port between our probe and the node's bind: try again.
const PORT_ATTEMPTS: usize = 8;

/// How to run the nodes.
#[derive(Clone, Debug)]
pub struct Options {
    /// Number of nodes (masters without replicas in cluster mode).
    pub nodes: usize,
    /// Cluster mode (slots split evenly) or plain single nodes.
    pub cluster: bool,
    /// Redis's default is yes: a dead node makes every key answer CLUSTERDOWN. With no (our
    /// default), the surviving nodes keep serving their slots.
    pub require_full_coverage: bool,
    /// `cluster-node-timeout`: how long before the others mark a silent node as failing.
    pub node_timeout_ms: u64,
    /// `maxmemory` per node (with `allkeys-lru`, as a chunk cache would run).
    pub maxmemory: String,
}

impl Options {
    pub fn cluster() -> Options {
        Options {
            nodes: 3,
            cluster: true,
            require_full_coverage: false,
            node_timeout_ms: 2000,
            maxmemory: "256mb".into(),
        }
    }

    pub fn single() -> Options {
        Options {
            nodes: 1,
            cluster: false,
            ..Options::cluster()
        }
    }
}

struct Node {
    port: u16,
    /// `None` once killed.
    child: Option<Child>,
    log: PathBuf,
}

/// Running Redis nodes; dropping it kills them and removes their directories.
pub struct Redis {
    nodes: Vec<Node>,
    options: Options,
    /// `hash_tags[i]` is a `{…}` hash tag whose slot node `i` serves (cluster mode).
    hash_tags: Vec<String>,
    dir: TempDir,
}

impl Redis {
    /// A 3-node cluster (see [`Options::cluster`]); `None` when `redis-server` is missing and
    /// `XETFS_REQUIRE_REDIS` is not 1 (the skip is printed).
    pub fn cluster() -> Option<Redis> {
        Redis::start(Options::cluster())
    }

    /// One plain (non-cluster) node.
    pub fn single() -> Option<Redis> {
        Redis::start(Options::single())
    }

    pub fn start(options: Options) -> Option<Redis> {
        let binary = redis_server()?;
        let dir = tempfile::Builder::new()
            .prefix("xetfs-redis-")
            .tempdir()
            .unwrap();
        let mut redis = Redis {
            nodes: Vec::new(),
            options,
            hash_tags: Vec::new(),
            dir,
        };
        let deadline = Instant::now() + START_DEADLINE;
        for i in 0..redis.options.nodes {
            let node = spawn_node(&binary, redis.dir.path(), i, &redis.options, deadline);
            redis.nodes.push(node);
        }
        if redis.options.cluster {
            redis.form_cluster(deadline);
        }
        Some(redis)
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn addr(&self, node: usize) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.nodes[node].port))
    }

    /// `redis://127.0.0.1:PORT` of one node.
    pub fn url(&self, node: usize) -> String {
        format!("redis://{}", self.addr(node))
    }

    /// Every node's URL: the initial nodes of a cluster client.
    pub fn urls(&self) -> Vec<String> {
        (0..self.len()).map(|i| self.url(i)).collect()
    }

    /// The slots node `node` serves (cluster mode: an even split, in node order).
    pub fn slots(&self, node: usize) -> RangeInclusive<u16> {
        slot_range(node, self.len())
    }

    /// A hash tag (`{…}`, to put in a key) whose slot node `node` serves.
    pub fn hash_tag(&self, node: usize) -> &str {
        assert!(self.options.cluster, "hash tags are for cluster mode");
        &self.hash_tags[node]
    }

    /// A direct connection to one node (no cluster redirections): to inspect or damage what it
    /// stores, e.g. `SETRANGE` on a key of its slots.
    pub fn node_connection(&self, node: usize) -> redis::Connection {
        connect(self.nodes[node].port).unwrap_or_else(|e| panic!("node {node}: {e}"))
    }

    /// SIGKILL: the node is gone (connections refused; its slots fail after the node timeout).
    pub fn kill(&mut self, node: usize) {
        if let Some(mut child) = self.nodes[node].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGSTOP: the node keeps its sockets, accepts connections and never answers.
    pub fn stop(&self, node: usize) {
        self.signal(node, Signal::SIGSTOP);
    }

    /// SIGCONT after [`Redis::stop`].
    pub fn cont(&self, node: usize) {
        self.signal(node, Signal::SIGCONT);
    }

    fn signal(&self, node: usize, signal: Signal) {
        let child = self.nodes[node].child.as_ref().expect("node was killed");
        kill(Pid::from_raw(child.id() as i32), signal).unwrap();
    }

    /// The last lines of a node's log (for assertion messages).
    pub fn log_tail(&self, node: usize) -> String {
        tail(&self.nodes[node].log)
    }

    /// Slots split evenly, epochs made distinct (as `redis-cli --cluster create` does), every
    /// node introduced to the first, then wait until every node sees the whole healthy cluster.
    fn form_cluster(&mut self, deadline: Instant) {
        let n = self.len();
        for i in 0..n {
            let mut con = self.node_connection(i);
            let slots = slot_range(i, n);
            let _: () = redis::cmd("CLUSTER")
                .arg("ADDSLOTSRANGE")
                .arg(*slots.start())
                .arg(*slots.end())
                .query(&mut con)
                .unwrap();
            let _: () = redis::cmd("CLUSTER")
                .arg("SET-CONFIG-EPOCH")
                .arg(i + 1)
                .query(&mut con)
                .unwrap();
        }
        let mut first = self.node_connection(0);
        for node in &self.nodes[1..] {
            let _: () = redis::cmd("CLUSTER")
                .arg("MEET")
                .arg("127.0.0.1")
                .arg(node.port)
                .query(&mut first)
                .unwrap();
        }
        for i in 0..n {
            self.wait_cluster_ok(i, deadline);
        }
        self.hash_tags = (0..n).map(|i| self.find_hash_tag(i)).collect();
    }

    fn wait_cluster_ok(&self, node: usize, deadline: Instant) {
        let n = self.len();
        let healthy = |info: &str| {
            info.contains("cluster_state:ok")
                && info.contains(&format!("cluster_slots_ok:{SLOTS}"))
                && info.contains(&format!("cluster_known_nodes:{n}"))
        };
        let mut last = String::new();
        while Instant::now() < deadline {
            let mut con = self.node_connection(node);
            last = redis::cmd("CLUSTER").arg("INFO").query(&mut con).unwrap();
            if healthy(&last) {
                return;
            }
            std::thread::sleep(POLL);
        }
        panic!(
            "redis node {node} did not see a healthy cluster within {START_DEADLINE:?}:\n{last}\nlog:\n{}",
            self.log_tail(node)
        );
    }

    fn find_hash_tag(&self, node: usize) -> String {
        let mut con = self.node_connection(0);
        let want = self.slots(node);
        (0u32..)
            .map(|i| format!("{{t{i}}}"))
            .find(|tag| {
                let slot: u16 = redis::cmd("CLUSTER")
                    .arg("KEYSLOT")
                    .arg(tag)
                    .query(&mut con)
                    .unwrap();
                want.contains(&slot)
            })
            .unwrap()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            // SIGKILL ends a stopped process too.
            self.kill(i);
        }
    }
}

/// The `redis-server` to run: `$XETFS_REDIS_SERVER`, else the one on PATH. Missing: a panic
/// under `XETFS_REQUIRE_REDIS=1` (tests/run.sh), else a printed skip.
fn redis_server() -> Option<PathBuf> {
    let found = match std::env::var_os("XETFS_REDIS_SERVER") {
        Some(p) => Some(PathBuf::from(p)).filter(|p| p.is_file()),
        None => which("redis-server"),
    };
    if found.is_none() {
        let why =
            "redis-server not found (apt-get install redis-server, or set XETFS_REDIS_SERVER)";
        if std::env::var("XETFS_REQUIRE_REDIS").as_deref() == Ok("1") {
            panic!("Redis is required (XETFS_REQUIRE_REDIS=1): {why}");
        }
        eprintln!("SKIPPED: {why}");
    }
    found
}

fn which(bin: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
}

fn slot_range(node: usize, nodes: usize) -> RangeInclusive<u16> {
    let start = SLOTS as usize * node / nodes;
    let end = SLOTS as usize * (node + 1) / nodes - 1;
    start as u16..=end as u16
}

/// Starts node `index` and waits until it answers PING; retries on another port when the one
/// probed was taken meanwhile.
fn spawn_node(
    binary: &Path,
    dir: &Path,
    index: usize,
    options: &Options,
    deadline: Instant,
) -> Node {
    let mut failures = Vec::new();
    for _ in 0..PORT_ATTEMPTS {
        let port = free_port(options.cluster);
        let node_dir = dir.join(format!("node{index}-{port}"));
        std::fs::create_dir_all(&node_dir).unwrap();
        let log = node_dir.join("log");
        let mut child = server_command(binary, &node_dir, port, options, &log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
        match wait_ping(port, &mut child, deadline) {
            Ok(()) => {
                return Node {
                    port,
                    child: Some(child),
                    log,
                }
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                failures.push(format!("port {port}: {e}\n{}", tail(&log)));
            }
        }
    }
    panic!("redis node {index} did not start:\n{}", failures.join("\n"));
}

fn server_command(binary: &Path, dir: &Path, port: u16, options: &Options, log: &Path) -> Command {
    let mut cmd = Command::new(binary);
    cmd.arg("--port")
        .arg(port.to_string())
        .args(["--bind", "127.0.0.1", "--daemonize", "no", "--save", ""])
        .args(["--appendonly", "no", "--protected-mode", "yes"])
        .arg("--dir")
        .arg(dir)
        .args(["--maxmemory", &options.maxmemory])
        .args(["--maxmemory-policy", "allkeys-lru"]);
    if options.cluster {
        let coverage = if options.require_full_coverage {
            "yes"
        } else {
            "no"
        };
        cmd.args(["--cluster-enabled", "yes", "--cluster-config-file"])
            .arg(dir.join("nodes.conf"))
            .args([
                "--cluster-node-timeout",
                &options.node_timeout_ms.to_string(),
            ])
            .args(["--cluster-require-full-coverage", coverage]);
    }
    let log = File::create(log).unwrap();
    cmd.stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd
}

/// A loopback port that is free now; in cluster mode PORT + 10000 (the cluster bus) too.
fn free_port(cluster: bool) -> u16 {
    loop {
        let probe = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        if !cluster {
            return port;
        }
        let Some(bus) = port.checked_add(10000) else {
            continue;
        };
        if TcpListener::bind(("127.0.0.1", bus)).is_ok() {
            return port;
        }
    }
}

fn wait_ping(port: u16, child: &mut Child, deadline: Instant) -> Result<(), String> {
    let mut last = String::from("never polled");
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Err(format!("exited with {status}"));
        }
        match connect(port).and_then(|mut c| redis::cmd("PING").query::<String>(&mut c)) {
            Ok(_) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(POLL);
    }
    Err(format!("no PONG within the deadline: {last}"))
}

fn connect(port: u16) -> redis::RedisResult<redis::Connection> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}"))?;
    let con = client.get_connection_with_timeout(IO_DEADLINE)?;
    con.set_read_timeout(Some(IO_DEADLINE))?;
    con.set_write_timeout(Some(IO_DEADLINE))?;
    Ok(con)
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
