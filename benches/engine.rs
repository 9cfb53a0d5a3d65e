//! The read engine without FUSE: `ReadEngine` over `HttpRemote` against `xetfs serve`, so the
//! engine's own throughput and CPU cost can be told apart from the kernel's FUSE path.
//!
//! `cargo bench --bench engine` generates a safetensors-like file (bf16 weights), serves it
//! with an in-process `xetfs serve`, and times each case on a fresh engine (empty memory
//! cache, no disk cache), `XETFS_BENCH_REPS` times (default 3), reporting medians:
//!
//! - `seq_q1` / `seq_q4`: the whole file in 1 MiB reads, 1 or 4 in flight (kernel readahead
//!   with a 4 MiB window keeps about 4 requests of 1 MiB outstanding);
//! - `rand_q1` / `rand_q4`: 256 KiB reads at distinct random offsets;
//! - `hot_seq_q4`: `seq_q4` again on the same engine, everything in the memory cache (the
//!   engine's cost with no network at all);
//! - `seq_q4_disk`: `seq_q4` on an engine with a disk cache (a fresh directory), as a mount
//!   has: the cost of writing the cache on the cold path.
//!
//! Environment: `XETFS_BENCH_ENGINE_SIZE` (default `256MiB`), `XETFS_BENCH_DIR` (work dir),
//! or `XETFS_BENCH_ENDPOINT` + `XETFS_BENCH_REPO` + `XETFS_BENCH_FILE` to read a file of an
//! already running `xetfs serve` (the end-to-end harness does that, so engine and FUSE numbers
//! come from the same server and file). `--json PATH` also writes the results as JSON.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use xetfs::hub::{EntryKind, RepoId, RepoScope};
use xetfs::read::{EngineConfig, FileContent, FileDesc, FileReader, ReadEngine};
use xetfs::remote::http::{HttpRemote, RemoteConfig};
use xetfs::remote::Remote;
use xetfs::serve::sample::write_safetensors;
use xetfs::serve::{start, RunningServer, ServeOptions};
use xetfs::util::units::parse_size;

const MIB: u64 = 1 << 20;

struct Source {
    endpoint: String,
    repo: RepoId,
    path: String,
    _server: Option<(RunningServer, tempfile::TempDir)>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The file to read: from the environment, or generated and served in this process.
async fn source() -> anyhow::Result<Source> {
    if let Some(endpoint) = env("XETFS_BENCH_ENDPOINT") {
        return Ok(Source {
            endpoint,
            repo: RepoId::model(env("XETFS_BENCH_REPO").unwrap_or("bench/model".into())),
            path: env("XETFS_BENCH_FILE").unwrap_or("model.safetensors".into()),
            _server: None,
        });
    }
    let size = parse_size(&env("XETFS_BENCH_ENGINE_SIZE").unwrap_or("256MiB".into()))
        .map_err(anyhow::Error::msg)?;
    let base = env("XETFS_BENCH_DIR").unwrap_or_else(|| std::env::temp_dir().display().to_string());
    let dir = tempfile::Builder::new()
        .prefix("xetfs-engine-bench-")
        .tempdir_in(base)?;
    let elems = 4 << 20; // 8 MiB bf16 tensors
    let file = dir.path().join("hub/bench/model/model.safetensors");
    let count = (size / (2 * elems as u64)).max(1) as usize;
    tokio::task::block_in_place(|| write_safetensors(&file, 7, count, elems))?;
    let mut opts = ServeOptions::new(dir.path().join("hub"), "127.0.0.1:0".parse()?);
    opts.state_dir = Some(dir.path().join("state"));
    let server = start(opts).await?;
    server.wait_ready(Duration::from_secs(600)).await?;
    Ok(Source {
        endpoint: server.endpoint(),
        repo: RepoId::model("bench/model"),
        path: "model.safetensors".into(),
        _server: Some((server, dir)),
    })
}

async fn describe(remote: &HttpRemote, src: &Source) -> anyhow::Result<Arc<FileDesc>> {
    let commit = remote.resolve_revision(&src.repo, "main").await?;
    let entry = remote
        .list_tree(&src.repo, &commit)
        .await?
        .into_iter()
        .find(|e| e.path == src.path && e.kind == EntryKind::File)
        .ok_or_else(|| anyhow::anyhow!("{} is not in {}", src.path, src.repo))?;
    let hash = entry
        .xet_hash
        .ok_or_else(|| anyhow::anyhow!("{} is not a Xet file", src.path))?;
    Ok(Arc::new(FileDesc {
        scope: RepoScope {
            repo: src.repo.clone(),
            commit,
        },
        path: src.path.clone(),
        size: entry.size,
        content: FileContent::Xet { hash },
    }))
}

/// What one timed pass did.
struct Pass {
    secs: f64,
    bytes: u64,
    fetched: u64,
    cpu: f64,
    dropped: u64,
}

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

/// Reads `reads` (offset, len) with `depth` in flight, in order, checking every length.
async fn pass(
    engine: &ReadEngine,
    file: &Arc<FileDesc>,
    reads: &[(u64, u32)],
    depth: usize,
) -> Pass {
    let (before, dropped) = {
        let s = engine.stats();
        (s.fetched_bytes, s.disk_write_dropped)
    };
    let (t0, c0) = (Instant::now(), cpu_seconds());
    let bytes = stream::iter(reads.iter().copied())
        .map(|(off, len)| async move {
            let b = engine.read(file, off, len, 1).await.expect("engine read");
            let want = (u64::from(len)).min(file.size - off);
            assert_eq!(b.len() as u64, want, "short read at {off}");
            b.len() as u64
        })
        .buffered(depth)
        .fold(0u64, |a, n| async move { a + n })
        .await;
    Pass {
        secs: t0.elapsed().as_secs_f64(),
        bytes,
        fetched: engine.stats().fetched_bytes - before,
        cpu: cpu_seconds() - c0,
        dropped: engine.stats().disk_write_dropped - dropped,
    }
}

fn engine(remote: &Arc<HttpRemote>, memory: u64) -> Arc<ReadEngine> {
    engine_with(remote, memory, None)
}

fn engine_with(
    remote: &Arc<HttpRemote>,
    memory: u64,
    cache_dir: Option<&std::path::Path>,
) -> Arc<ReadEngine> {
    let cfg = EngineConfig {
        memory_cache_bytes: memory,
        cache_dir: cache_dir.map(|d| d.to_path_buf()),
        ..EngineConfig::default()
    };
    ReadEngine::new(remote.clone(), cfg).expect("engine")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let json_out = args
        .iter()
        .position(|a| a == "--json")
        .and_then(|i| args.get(i + 1).cloned());
    let reps: usize = env("XETFS_BENCH_REPS").map_or(Ok(3), |r| r.parse())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let src = source().await?;
        let remote = Arc::new(HttpRemote::new(RemoteConfig {
            endpoint: src.endpoint.clone(),
            ..RemoteConfig::default()
        })?);
        let file = describe(&remote, &src).await?;
        let size = file.size;
        let seq: Vec<(u64, u32)> = (0..size.div_ceil(MIB)).map(|i| (i * MIB, MIB as u32)).collect();
        let block = 256 * 1024u64;
        let mut rand: Vec<(u64, u32)> = (0..size / block).map(|i| (i * block, block as u32)).collect();
        rand.shuffle(&mut rand::rngs::StdRng::seed_from_u64(17));
        rand.truncate(256.min(rand.len()));
        let memory = (1u64 << 30).max(size + 512 * MIB);
        println!(
            "engine bench: {} ({:.0} MB) from {}, {reps} reps, memory cache {} MiB",
            file.path,
            size as f64 / 1e6,
            src.endpoint,
            memory >> 20
        );
        let cases = ["seq_q1", "seq_q4", "rand_q1", "rand_q4", "hot_seq_q4", "seq_q4_disk"];
        let base = env("XETFS_BENCH_DIR").unwrap_or_else(|| std::env::temp_dir().display().to_string());
        let mut results: Vec<Vec<Pass>> = cases.iter().map(|_| Vec::new()).collect();
        for _ in 0..reps {
            results[0].push(pass(&engine(&remote, memory), &file, &seq, 1).await);
            let warm = engine(&remote, memory);
            results[1].push(pass(&warm, &file, &seq, 4).await);
            results[4].push(pass(&warm, &file, &seq, 4).await);
            drop(warm);
            results[2].push(pass(&engine(&remote, memory), &file, &rand, 1).await);
            results[3].push(pass(&engine(&remote, memory), &file, &rand, 4).await);
            let dir = tempfile::Builder::new().prefix("xetfs-engine-cache-").tempdir_in(&base)?;
            let with_disk = engine_with(&remote, memory, Some(dir.path()));
            results[5].push(pass(&with_disk, &file, &seq, 4).await);
            with_disk.flush().await;
            drop(with_disk);
        }
        let mut json = serde_json::Map::new();
        println!("| case | MB/s | fetched ÷ read | CPU s per GB read | mean ms per read | disk puts dropped |");
        println!("|---|---|---|---|---|---|");
        for (name, passes) in cases.iter().zip(&results) {
            let mbps = median(passes.iter().map(|p| p.bytes as f64 / p.secs / 1e6).collect());
            let eff = median(passes.iter().map(|p| p.fetched as f64 / p.bytes as f64).collect());
            let cpu = median(passes.iter().map(|p| p.cpu / (p.bytes as f64 / 1e9)).collect());
            let n = if name.starts_with("rand") { rand.len() } else { seq.len() };
            let ms = median(passes.iter().map(|p| p.secs * 1e3 / n as f64).collect());
            let dropped = median(passes.iter().map(|p| p.dropped as f64).collect());
            println!("| {name} | {mbps:.0} | {eff:.3} | {cpu:.2} | {ms:.2} | {dropped:.0} |");
            json.insert(
                name.to_string(),
                serde_json::json!({"mb_per_s": mbps, "fetch_ratio": eff, "cpu_s_per_gb": cpu,
                    "ms_per_read": ms, "reads": n, "disk_write_dropped": dropped,
                    "runs_mb_per_s": passes.iter().map(|p| p.bytes as f64 / p.secs / 1e6).collect::<Vec<_>>()}),
            );
        }
        if let Some(path) = json_out {
            std::fs::write(path, serde_json::to_string_pretty(&json)?)?;
        }
        anyhow::Ok(())
    })
}
