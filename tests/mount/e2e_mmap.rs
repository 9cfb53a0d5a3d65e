//! End to end, model loading: Python `safetensors` memory-maps a file through the mount, its
//! tensors equal the originals, and loading one tensor of a large file fetches little more than
//! that tensor.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};
use xetfs::serve::FaultConfig;
use xetfs::util::splitmix::SplitMix64;

use crate::e2e_fixture::{fuse, Mount, Served, MIB};
use crate::harness::io;

const REPO: &str = "org/llm";
const FILE: &str = "model.safetensors";

/// One tensor as written: where its bytes are and what they hash to.
#[derive(Debug, Clone, serde::Serialize)]
struct Tensor {
    #[serde(skip)]
    name: String,
    dtype: &'static str,
    shape: Vec<usize>,
    /// Absolute offset of its bytes in the file, and their length.
    offset: u64,
    len: u64,
    sha256: String,
}

/// The layout of a small "LLM": a big embedding, then 12 layers of a 4 MiB F32 and a 16 MiB F16
/// matrix, then a norm vector (304 MiB in all).
fn llm_layout() -> Vec<(String, &'static str, Vec<usize>)> {
    let mut t = vec![(
        "model.embed_tokens.weight".to_string(),
        "F16",
        vec![32768, 1024],
    )];
    for i in 0..12 {
        t.push((
            format!("model.layers.{i}.self_attn.weight"),
            "F32",
            vec![1024, 1024],
        ));
        t.push((
            format!("model.layers.{i}.mlp.weight"),
            "F16",
            vec![2048, 4096],
        ));
    }
    t.push(("model.norm.weight".to_string(), "F32", vec![1024]));
    t
}

/// Writes a safetensors file of finite pseudo-random floats (small magnitudes, like weights).
fn write_safetensors(
    path: &Path,
    seed: u64,
    layout: &[(String, &'static str, Vec<usize>)],
) -> Vec<Tensor> {
    let width = |dtype: &str| if dtype == "F32" { 4 } else { 2 };
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), serde_json::json!({"format": "pt"}));
    let mut at = 0u64;
    for (name, dtype, shape) in layout {
        let len = shape.iter().product::<usize>() as u64 * width(dtype);
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [at, at + len]}),
        );
        at += len;
    }
    let mut header = serde_json::to_vec(&serde_json::Value::Object(header)).unwrap();
    while header.len() % 8 != 0 {
        header.push(b' ');
    }
    let data_start = 8 + header.len() as u64;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    w.write_all(&(header.len() as u64).to_le_bytes()).unwrap();
    w.write_all(&header).unwrap();
    let mut rng = SplitMix64::new(seed);
    let mut offset = data_start;
    let mut out = Vec::new();
    for (name, dtype, shape) in layout {
        let len = shape.iter().product::<usize>() as u64 * width(dtype);
        let mut sha = Sha256::new();
        let mut left = len as usize;
        let mut buf = Vec::with_capacity(1 << 20);
        while left > 0 {
            buf.clear();
            rng.fill(&mut buf, left.min(1 << 20));
            // Pin the exponents: no NaN, no infinity, magnitudes around 2^-7 … 2.
            if *dtype == "F32" {
                for e in buf.chunks_exact_mut(4) {
                    let b = u32::from_le_bytes(e.try_into().unwrap());
                    let b = (b & 0x807F_FFFF) | ((120 + ((b >> 23) & 7)) << 23);
                    e.copy_from_slice(&b.to_le_bytes());
                }
            } else {
                for e in buf.chunks_exact_mut(2) {
                    let b = u16::from_le_bytes(e.try_into().unwrap());
                    let b = (b & 0x83FF) | ((8 + ((b >> 10) & 7)) << 10);
                    e.copy_from_slice(&b.to_le_bytes());
                }
            }
            sha.update(&buf);
            w.write_all(&buf).unwrap();
            left -= buf.len();
        }
        out.push(Tensor {
            name: name.clone(),
            dtype,
            shape: shape.clone(),
            offset,
            len,
            sha256: hex::encode(sha.finalize()),
        });
        offset += len;
    }
    w.flush().unwrap();
    out
}

/// The Python of the test venv: `XETFS_TEST_PYTHON` (tests/run.sh creates it).
fn python() -> PathBuf {
    let p = std::env::var_os("XETFS_TEST_PYTHON")
        .map(PathBuf::from)
        .expect(
            "XETFS_TEST_PYTHON is not set: it must name a Python with safetensors and numpy \
         (tests/run.sh creates .venv from tests/python/requirements.txt)",
        );
    assert!(
        p.exists(),
        "XETFS_TEST_PYTHON={} does not exist (run tests/run.sh to create the venv)",
        p.display()
    );
    p
}

/// Runs `tests/python/safetensors_mmap.py FILE SPEC NAMES…`; panics with its output on failure.
fn load(file: PathBuf, spec: &Path, names: &[&str], log: PathBuf) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/safetensors_mmap.py");
    let mut cmd = Command::new(python());
    cmd.arg(script).arg(&file).arg(spec).args(names);
    let out = io("python safetensors", move || cmd.output().unwrap());
    assert!(
        out.status.success(),
        "safetensors load of {names:?} failed: {}{}\nlog:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(log).unwrap_or_default()
    );
    serde_json::from_slice(&out.stdout).expect("the script prints JSON")
}

#[test]
fn python_safetensors_mmap_loads_one_tensor_lazily_and_all_correctly() {
    if !fuse() {
        return;
    }
    // Fails (does not skip) without the venv, before any work.
    python();
    let mut tensors = Vec::new();
    let served = Served::start(FaultConfig::default(), |root| {
        tensors = write_safetensors(&root.join(REPO).join(FILE), 77, &llm_layout());
    });
    let size = std::fs::metadata(served.source(&format!("{REPO}/{FILE}")))
        .unwrap()
        .len();
    assert!(size > 256 * MIB, "a large file: {size}");
    let spec_dir = tempfile::tempdir().unwrap();
    let spec = spec_dir.path().join("spec.json");
    let by_name: serde_json::Map<String, serde_json::Value> = tensors
        .iter()
        .map(|t| (t.name.clone(), serde_json::to_value(t).unwrap()))
        .collect();
    std::fs::write(&spec, serde_json::to_vec(&by_name).unwrap()).unwrap();

    let cache = tempfile::tempdir().unwrap();
    let m = Mount::start(Some(&served.endpoint()), cache.path(), &[]);
    let file = m.path(&format!("{REPO}/{FILE}"));

    // One 16 MiB tensor from the middle of the file.
    let one = tensors
        .iter()
        .find(|t| t.name == "model.layers.6.mlp.weight")
        .unwrap();
    assert!(one.offset > 128 * MIB && one.offset + one.len < size - 64 * MIB);
    let before = served.xorb_bytes();
    let got = load(file.clone(), &spec, &[&one.name], m.log_path());
    assert_eq!(got["checked"], serde_json::json!([one.name]));
    m.wait_idle();
    let fetched = served.xorb_bytes() - before;
    eprintln!(
        "one tensor of {} bytes: {fetched} xorb bytes fetched",
        one.len
    );
    assert!(fetched >= one.len, "{fetched} < {}", one.len);
    let allowance = prefetch_allowance(one.len);
    assert!(
        fetched <= one.len + allowance && fetched < size / 5,
        "loading one {} MiB tensor fetched {:.1} MiB of a {} MiB file (allowed: {} MiB)",
        one.len / MIB,
        fetched as f64 / MIB as f64,
        size / MIB,
        (one.len + allowance) / MIB
    );

    // Every tensor, through safe_open and through an explicit mmap.
    let got = load(file, &spec, &[], m.log_path());
    assert_eq!(got["checked"].as_array().unwrap().len(), tensors.len());
    let stats = m.stats();
    assert_eq!(stats["reader"]["integrity_failures"], 0, "{stats}");
    assert_eq!(stats["fs"]["read_errors"], 0, "{stats}");
}

/// What loading one tensor of `len` bytes may fetch besides the tensor itself, with the mount's
/// default 4 MiB read-ahead and the engine's 8 MiB initial prefetch window:
/// - the header: the kernel's mmap read-around of the first page (4 MiB), plus one engine
///   prefetch window (the read-around arrives as parallel 1 MiB reads, which look sequential);
/// - the tensor: the kernel's read-around before it (2 MiB) and read-ahead after it (4 MiB), plus
///   the engine's prefetch past the last read, which never exceeds what that stream read
///   (`len` + 6 MiB) or the initial window;
/// - 1 MiB of slack for the chunks at each end of a range and the records' headers.
fn prefetch_allowance(len: u64) -> u64 {
    let (kernel_window, initial_window) = (4 * MIB, 8 * MIB);
    let header = kernel_window + initial_window;
    let around = 2 * MIB + kernel_window;
    let engine = (len + around).max(initial_window);
    header + around + engine + MIB
}
