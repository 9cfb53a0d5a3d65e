//! `xetfs demo`: the whole product on one machine, no network and no token.
//!
//! Generates a sample model repo, serves it with `xetfs serve` (in this process), mounts it with
//! `xetfs mount` (the real CLI, as a daemon), loads a safetensors tensor through the mount like a
//! model loader does (header first, then the tensor's bytes, by `pread` and by `mmap`), checks
//! every byte against the source, shows what crossed the network, and cleans up.

use std::fs::File;
use std::net::SocketAddr;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::serve::sample::{write_model_repo, SampleSpec};
use crate::serve::{start, ServeOptions};
use crate::util::units::{format_size, parse_size};

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Work directory for the repo, the server state, the cache and the mount point
    /// (default: a new temporary directory, removed at the end)
    #[arg(long)]
    pub dir: Option<PathBuf>,

    /// Size of the tensor data in the sample safetensors file
    #[arg(long, default_value = "256MiB", value_parser = parse_size)]
    pub model_size: u64,

    /// Leave the server running and the repo mounted until Ctrl-C
    #[arg(long)]
    pub keep_mounted: bool,
}

const REPO: &str = "demo/tiny-model";

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let tmp;
    let work = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => {
            tmp = tempfile::Builder::new().prefix("xetfs-demo-").tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    let root = work.join("hub");
    let mnt = work.join("mnt");
    std::fs::create_dir_all(&mnt)?;
    let st_path = generate(&root, args.model_size)?;
    let rt = tokio::runtime::Runtime::new()?;
    let server = rt.block_on(serve(&root, &work))?;
    step("mounting with `xetfs mount` (daemon)");
    let exe = std::env::current_exe().context("locating the xetfs binary")?;
    mount(&exe, &mnt, &work, &server.endpoint())?;
    let result = load_through_mount(&mnt, &st_path, &server);
    if args.keep_mounted && result.is_ok() {
        println!(
            "\n  mounted at {} (server {}); press Ctrl-C to stop",
            mnt.display(),
            server.endpoint()
        );
        rt.block_on(tokio::signal::ctrl_c())?;
    }
    step("unmounting and stopping the server");
    let _ = Command::new(&exe).arg("umount").arg(&mnt).status();
    rt.block_on(server.shutdown());
    result?;
    println!("\nxetfs demo: OK");
    Ok(ExitCode::SUCCESS)
}

/// Writes the sample repo under `root`; returns its safetensors file.
fn generate(root: &Path, model_size: u64) -> anyhow::Result<PathBuf> {
    step("generating a sample model repo");
    // bf16 tensors of 4 Mi elements (8 MiB) each.
    let tensors = (model_size / (8 << 20)).max(1) as usize;
    let spec = SampleSpec {
        tensors,
        tensor_elems: 4 << 20,
        ..SampleSpec::small(7)
    };
    let dir = root.join(REPO);
    let repo = write_model_repo(&dir, &spec).context("writing the sample repo")?;
    let st_path = dir.join(&repo.safetensors);
    println!(
        "  {} files in {}, {} is {}",
        repo.files.len(),
        dir.display(),
        repo.safetensors,
        format_size(std::fs::metadata(&st_path)?.len())
    );
    Ok(st_path)
}

/// `xetfs serve` of `root` on a free loopback port, once its ingest is done.
async fn serve(root: &Path, work: &Path) -> anyhow::Result<crate::serve::RunningServer> {
    step("starting `xetfs serve` on 127.0.0.1 (ingest: chunking into xorbs)");
    let started = Instant::now();
    let mut opts = ServeOptions::new(root, SocketAddr::from(([127, 0, 0, 1], 0)));
    opts.state_dir = Some(work.join("serve-state"));
    let server = start(opts).await?;
    server.wait_ready(Duration::from_secs(600)).await?;
    println!(
        "  {} ready in {:.1}s",
        server.endpoint(),
        started.elapsed().as_secs_f64()
    );
    Ok(server)
}

/// Runs the real `xetfs mount` (a daemon) on `mnt`, caching and logging under `work`.
fn mount(exe: &Path, mnt: &Path, work: &Path, endpoint: &str) -> anyhow::Result<()> {
    let log = work.join("mount.log");
    let status = Command::new(exe)
        .arg("mount")
        .arg(mnt)
        .args(["--endpoint", endpoint])
        .arg("--cache-dir")
        .arg(work.join("cache"))
        .arg("--log-file")
        .arg(&log)
        .env_remove("HF_TOKEN")
        .status()
        .context("running xetfs mount")?;
    if !status.success() {
        bail!("xetfs mount failed (see {})", log.display());
    }
    Ok(())
}

fn step(what: &str) {
    println!("\n== {what}");
}

/// Loads one tensor the way a loader does and compares everything with the source file.
fn load_through_mount(
    mnt: &Path,
    source: &Path,
    server: &crate::serve::RunningServer,
) -> anyhow::Result<()> {
    let repo_dir = mnt.join(REPO);
    list(&repo_dir)?;
    let path = repo_dir.join(source.file_name().expect("file name"));
    let file = File::open(&path)?;
    let src = File::open(source)?;
    let header = read_safetensors_header(&file)?;
    let largest = header
        .iter()
        .max_by_key(|t| t.2 - t.1)
        .cloned()
        .context("the safetensors file has no tensors")?;
    step(&format!("loading a tensor from {}", path.display()));
    pread_tensor(&file, &src, &largest, header.len(), server)?;
    step("mmap of another tensor (page faults through the mount)");
    let other = header
        .iter()
        .find(|t| t.0 != largest.0)
        .cloned()
        .unwrap_or(largest);
    mmap_tensor(&file, &src, &other)?;
    step("reading the whole file (sequential, with prefetch)");
    read_whole(&path, source)?;
    if let Ok(stats) = std::fs::read_to_string(mnt.join(".xetfs-stats")) {
        println!("  engine counters: {}", stats.trim());
    }
    Ok(())
}

/// A tensor: name, first byte, end (absolute file offsets).
type Tensor = (String, u64, u64);

fn list(repo_dir: &Path) -> anyhow::Result<()> {
    step(&format!("ls {}", repo_dir.display()));
    let mut names: Vec<String> = std::fs::read_dir(repo_dir)
        .with_context(|| format!("listing {}", repo_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort();
    println!("  {}", names.join("  "));
    Ok(())
}

/// `pread` of one tensor, checked against the source, with what crossed the network.
fn pread_tensor(
    file: &File,
    src: &File,
    (name, begin, end): &Tensor,
    tensors: usize,
    server: &crate::serve::RunningServer,
) -> anyhow::Result<()> {
    let before = server.metrics();
    let started = Instant::now();
    let mut tensor = vec![0u8; (end - begin) as usize];
    file.read_exact_at(&mut tensor, *begin)?;
    let elapsed = started.elapsed();
    if tensor != read_source(src, *begin, *end)? {
        bail!("tensor {name} read through the mount differs from the source");
    }
    let after = server.metrics();
    let xorb_bytes = |m: &crate::serve::MetricsSnapshot| m.endpoint("xorb_get").bytes_sent;
    let fetched = xorb_bytes(&after).saturating_sub(xorb_bytes(&before));
    let size = file.metadata()?.len();
    println!(
        "  header: {tensors} tensors; tensor {name:?} ({}) read and verified in {:.0} ms",
        format_size(tensor.len() as u64),
        elapsed.as_secs_f64() * 1000.0
    );
    println!(
        "  network: {} of xorb data for a {} file ({:.1} % of it)",
        format_size(fetched),
        format_size(size),
        100.0 * fetched as f64 / size as f64
    );
    Ok(())
}

fn mmap_tensor(file: &File, src: &File, (name, begin, end): &Tensor) -> anyhow::Result<()> {
    let mapped = mmap_read(file, *begin, *end)?;
    if mapped != read_source(src, *begin, *end)? {
        bail!("tensor {name} read through mmap differs from the source");
    }
    println!(
        "  tensor {name:?} ({}) verified",
        format_size(mapped.len() as u64)
    );
    Ok(())
}

fn read_source(src: &File, begin: u64, end: u64) -> anyhow::Result<Vec<u8>> {
    let mut expected = vec![0u8; (end - begin) as usize];
    src.read_exact_at(&mut expected, begin)?;
    Ok(expected)
}

/// Reads `path` sequentially and compares its SHA-256 with the source's.
fn read_whole(path: &Path, source: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let reader = std::io::BufReader::with_capacity(1 << 20, File::open(path)?);
    let (got, size) = sha256_of(reader)?;
    let secs = started.elapsed().as_secs_f64();
    if got != sha256_of(File::open(source)?)?.0 {
        bail!("whole-file SHA-256 through the mount differs from the source");
    }
    println!(
        "  {} in {:.2}s ({:.0} MB/s), SHA-256 matches the source",
        format_size(size),
        secs,
        size as f64 / secs / 1e6
    );
    Ok(())
}

/// SHA-256 (hex) and length of everything `reader` yields.
fn sha256_of(mut reader: impl std::io::Read) -> anyhow::Result<(String, u64)> {
    let mut hasher = sha2::Sha256::default();
    let size = std::io::copy(&mut reader, &mut hasher)?;
    Ok((hex::encode(sha2::Digest::finalize(hasher)), size))
}

/// `(name, begin, end)` of every tensor, with absolute file offsets.
fn read_safetensors_header(file: &File) -> anyhow::Result<Vec<(String, u64, u64)>> {
    let mut len = [0u8; 8];
    file.read_exact_at(&mut len, 0)?;
    let len = u64::from_le_bytes(len);
    if len > 100 << 20 {
        bail!("safetensors header of {len} bytes is implausible");
    }
    let mut json = vec![0u8; len as usize];
    file.read_exact_at(&mut json, 8)?;
    let header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&json)?;
    let base = 8 + len;
    let mut out = Vec::new();
    for (name, v) in header {
        if name == "__metadata__" {
            continue;
        }
        let offs = v["data_offsets"]
            .as_array()
            .filter(|a| a.len() == 2)
            .context("tensor without data_offsets")?;
        let (b, e) = (offs[0].as_u64(), offs[1].as_u64());
        let (Some(b), Some(e)) = (b, e) else {
            bail!("bad data_offsets for {name}");
        };
        out.push((name, base + b, base + e));
    }
    Ok(out)
}

/// Copies `[begin, end)` of `file` out of a shared read-only mapping.
fn mmap_read(file: &File, begin: u64, end: u64) -> anyhow::Result<Vec<u8>> {
    use std::os::fd::AsRawFd;
    let page = 4096u64;
    let start = begin / page * page;
    let len = (end - start) as usize;
    // SAFETY: a fresh read-only shared mapping of an open file; unmapped before returning, and
    // only read within its length.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            start as libc::off_t,
        );
        if p == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error()).context("mmap");
        }
        let bytes = std::slice::from_raw_parts(p as *const u8, len);
        let out = bytes[(begin - start) as usize..].to_vec();
        libc::munmap(p, len);
        Ok(out)
    }
}
