//! `xetfs serve` speed: ingest (MB/s of source), presigned xorb range serving and the plain-bytes
//! bridge, over loopback with reqwest as the client. The official-client download of a 512 MiB
//! file is measured by `benches/serve_clients.sh`.
//!
//! `cargo bench --bench serve` (`XETFS_BENCH_DIR` picks the filesystem, default /tmp).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures::StreamExt;
use xetfs::serve::{start, RunningServer, ServeOptions};
use xetfs::util::splitmix::SplitMix64;
use xetfs::xet::reconstruction::ReconstructionV2;

const MIB: u64 = 1 << 20;
/// Random (incompressible) bytes: chunking, hashing and the LZ4 attempt all run, like weights.
const INGEST_SIZE: u64 = 256 * MIB;

fn bench_dir() -> tempfile::TempDir {
    match std::env::var_os("XETFS_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(PathBuf::from(dir)).unwrap(),
        None => tempfile::tempdir().unwrap(),
    }
}

fn write_random(path: &Path, len: u64, seed: u64) {
    use std::io::Write;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut g = SplitMix64::new(seed);
    let mut buf = Vec::with_capacity(MIB as usize);
    for _ in 0..len / MIB {
        buf.clear();
        g.fill(&mut buf, MIB as usize);
        w.write_all(&buf).unwrap();
    }
    w.flush().unwrap();
}

async fn serve(root: &Path, state: &Path) -> RunningServer {
    let mut opts = ServeOptions::new(root, "127.0.0.1:0".parse().unwrap());
    opts.state_dir = Some(state.to_path_buf());
    let s = start(opts).await.unwrap();
    s.wait_ready(Duration::from_secs(3600)).await.unwrap();
    s
}

fn ingest(c: &mut Criterion) {
    let dir = bench_dir();
    let root = dir.path().join("root");
    write_random(&root.join("org/model/model.safetensors"), INGEST_SIZE, 1);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut g = c.benchmark_group("serve_ingest");
    g.sample_size(10).throughput(Throughput::Bytes(INGEST_SIZE));
    g.bench_function("random_256MiB", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let state = tempfile::tempdir_in(dir.path()).unwrap();
                let t = Instant::now();
                let s = rt.block_on(serve(&root, state.path()));
                total += t.elapsed();
                rt.block_on(s.shutdown());
            }
            total
        })
    });
    g.finish();
}

/// One presigned descriptor of the big file (the first xorb, ~64 MiB) and the bridge URL.
struct Served {
    _dir: tempfile::TempDir,
    server: RunningServer,
    xorb_url: String,
    xorb_range: String,
    xorb_len: u64,
    bridge_url: String,
}

async fn served() -> Served {
    let dir = bench_dir();
    let root = dir.path().join("root");
    write_random(&root.join("org/model/big.bin"), 128 * MIB, 2);
    let server = serve(&root, &dir.path().join("state")).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = server.endpoint();
    let head = http
        .head(format!("{base}/org/model/resolve/main/big.bin"))
        .send()
        .await
        .unwrap();
    let hash = head.headers()["x-xet-hash"].to_str().unwrap().to_string();
    let bridge_url = head.headers()["location"].to_str().unwrap().to_string();
    let tok: serde_json::Value = http
        .get(format!("{base}/api/models/org/model/xet-read-token/main"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (token, cas) = (
        tok["accessToken"].as_str().unwrap(),
        tok["casUrl"].as_str().unwrap(),
    );
    let rec: ReconstructionV2 = http
        .get(format!("{cas}/v2/reconstructions/{hash}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first = &rec.xorbs[&rec.terms[0].hash][0];
    let d = first.ranges[0].bytes;
    Served {
        _dir: dir,
        server,
        xorb_url: first.url.clone(),
        xorb_range: format!("bytes={}", d.http_spec()),
        xorb_len: d.len(),
        bridge_url,
    }
}

/// GETs `url` and counts the body bytes as they arrive.
async fn drain(http: &reqwest::Client, url: &str, range: Option<&str>) -> u64 {
    let mut req = http.get(url);
    if let Some(r) = range {
        req = req.header("range", r);
    }
    let mut body = req.send().await.unwrap().bytes_stream();
    let mut n = 0;
    while let Some(piece) = body.next().await {
        n += piece.unwrap().len() as u64;
    }
    n
}

fn transfer(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s = rt.block_on(served());
    let http = reqwest::Client::new();
    let mut g = c.benchmark_group("serve_transfer");
    g.sample_size(20).throughput(Throughput::Bytes(s.xorb_len));
    g.bench_function("xorb_range_64MiB", |b| {
        b.iter(|| {
            let n = rt.block_on(drain(&http, &s.xorb_url, Some(&s.xorb_range)));
            assert_eq!(n, s.xorb_len);
        })
    });
    g.throughput(Throughput::Bytes(128 * MIB));
    g.bench_function("bridge_128MiB", |b| {
        b.iter(|| {
            let n = rt.block_on(drain(&http, &s.bridge_url, None));
            assert_eq!(n, 128 * MIB);
        })
    });
    g.finish();
    let m = s.server.metrics();
    eprintln!(
        "xorb_get: {} requests, {} bytes sent",
        m.endpoint("xorb_get").requests,
        m.endpoint("xorb_get").bytes_sent
    );
}

criterion_group!(benches, transfer, ingest);
criterion_main!(benches);
