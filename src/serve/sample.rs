//! Deterministic sample repos for tests, benchmarks and `xetfs demo`: a small model repo with
//! the usual text files, files of awkward sizes (empty, one byte, around chunk bounds), a
//! multi-xorb file, repetitive data, nested directories, names with spaces, and a real
//! safetensors file with bf16-like tensors. Everything is derived from a seed.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::classify::XetRules;
use crate::util::splitmix::{splitmix_bytes, SplitMix64};

/// Writes a file while hashing it; returns its SHA-256 (hex).
fn write_with(
    path: &Path,
    len: u64,
    mut next: impl FnMut(&mut Vec<u8>, usize),
) -> io::Result<String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut w = BufWriter::new(File::create(path)?);
    let mut sha = Sha256::new();
    let mut left = len;
    let mut buf = Vec::with_capacity(1 << 20);
    while left > 0 {
        let n = left.min(1 << 20) as usize;
        buf.clear();
        next(&mut buf, n);
        sha.update(&buf);
        w.write_all(&buf)?;
        left -= n as u64;
    }
    w.flush()?;
    Ok(hex::encode(sha.finalize()))
}

/// Writes `data` to `path`; returns its SHA-256 (hex).
fn write_bytes(path: &Path, data: &[u8]) -> io::Result<String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, data)?;
    Ok(hex::encode(Sha256::digest(data)))
}

/// What to generate. Sizes are bytes; 0 leaves the optional files out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleSpec {
    pub seed: u64,
    /// `big/multi_xorb.bin`, random (incompressible): more than 64 MiB means several xorbs.
    pub big_file_size: u64,
    /// `repetitive.bin`: one random 256 KiB block over and over (deduplicates to one block).
    pub repetitive_size: u64,
    /// `data/large.txt`: text that is Xet only because of its size (≥ 10 MiB).
    pub large_text_size: u64,
    /// bf16 tensors in `model.safetensors`, and elements per tensor.
    pub tensors: usize,
    pub tensor_elems: usize,
}

impl SampleSpec {
    /// Small and fast: every kind of file, no file over a few MiB.
    pub fn small(seed: u64) -> Self {
        SampleSpec {
            seed,
            big_file_size: 0,
            repetitive_size: 2 << 20,
            large_text_size: 0,
            tensors: 4,
            tensor_elems: 64 * 1024,
        }
    }

    /// [`small`](Self::small) plus a 72 MiB multi-xorb file.
    pub fn with_big_file(seed: u64) -> Self {
        SampleSpec {
            big_file_size: 72 << 20,
            ..Self::small(seed)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleFile {
    pub path: String,
    pub size: u64,
    pub sha256: String,
    /// Whether the Hub's rules make it a Xet file.
    pub xet: bool,
}

/// One tensor of a generated safetensors file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    /// `BF16` or `F32`.
    pub dtype: String,
    pub shape: Vec<usize>,
    /// Absolute offset of the tensor's bytes in the file, and their length.
    pub offset: u64,
    pub len: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleRepo {
    /// Every file, sorted by path.
    pub files: Vec<SampleFile>,
    pub safetensors: String,
    pub tensors: Vec<TensorInfo>,
}

impl SampleRepo {
    pub fn file(&self, path: &str) -> Option<&SampleFile> {
        self.files.iter().find(|f| f.path == path)
    }
}

/// Sizes around the chunker's minimum (8 KiB), target (64 KiB) and maximum (128 KiB).
pub const CHUNK_BOUND_SIZES: &[u64] = &[8191, 8192, 8193, 65536, 131071, 131072, 131073];

/// Writes a model repo into `dir` (which should be `ROOT/<org>/<name>`).
pub fn write_model_repo(dir: &Path, spec: &SampleSpec) -> io::Result<SampleRepo> {
    let seed = spec.seed;
    let mut files = Vec::new();
    let mut add = |path: &str, size: u64, sha256: String| {
        files.push(SampleFile {
            path: path.to_string(),
            size,
            sha256,
            xet: false,
        })
    };
    let text = |path: &str, body: String| -> io::Result<(u64, String)> {
        let bytes = body.into_bytes();
        let len = bytes.len() as u64;
        let sha = write_with(&dir.join(path), len, |b, n| {
            b.extend_from_slice(&bytes[..n])
        })?;
        Ok((len, sha))
    };
    let config = format!(
        "{{\n  \"architectures\": [\"XetfsSampleModel\"],\n  \"hidden_size\": 256,\n  \"num_hidden_layers\": {},\n  \"torch_dtype\": \"bfloat16\",\n  \"seed\": {seed}\n}}\n",
        spec.tensors
    );
    let (n, s) = text("config.json", config)?;
    add("config.json", n, s);
    let vocab: Vec<String> = (0..200).map(|i| format!("\"tok{i}\": {i}")).collect();
    let tokenizer = format!(
        "{{\"version\": \"1.0\", \"model\": {{\"vocab\": {{{}}}}}}}\n",
        vocab.join(", ")
    );
    let (n, s) = text("tokenizer.json", tokenizer)?;
    add("tokenizer.json", n, s);
    let (n, s) = text(
        "README.md",
        format!("# xetfs sample model\n\nGenerated from seed {seed}.\n"),
    )?;
    add("README.md", n, s);
    let (n, s) = text("empty.bin", String::new())?;
    add("empty.bin", n, s);

    // `dedup/gapped.bin` is `base.bin` with its middle cut out: its terms use two disjoint
    // chunk ranges of one xorb (a multi-range v2 entry, like the reference's dedup_gap case).
    let base = splitmix_bytes(seed.wrapping_add(60), 1 << 20);
    let mut gapped = base[..350_000].to_vec();
    gapped.extend_from_slice(&base[700_000..]);
    for (path, data) in [("dedup/base.bin", &base), ("dedup/gapped.bin", &gapped)] {
        let sha = write_bytes(&dir.join(path), data)?;
        add(path, data.len() as u64, sha);
    }
    let mut rng_file = |path: &str, sub: u64, len: u64| -> io::Result<()> {
        let mut g = SplitMix64::new(seed.wrapping_mul(1000).wrapping_add(sub));
        let sha = write_with(&dir.join(path), len, |b, n| g.fill(b, n))?;
        add(path, len, sha);
        Ok(())
    };
    rng_file("one_byte.bin", 1, 1)?;
    for (i, &size) in CHUNK_BOUND_SIZES.iter().enumerate() {
        rng_file(&format!("bounds/chunk_{size}.bin"), 10 + i as u64, size)?;
    }
    rng_file("nested/a/b/deep.bin", 30, 3000)?;
    rng_file("dir with space/file #1.bin", 31, 20_000)?;
    if spec.big_file_size > 0 {
        rng_file("big/multi_xorb.bin", 40, spec.big_file_size)?;
    }
    if spec.repetitive_size > 0 {
        let block = splitmix_bytes(seed.wrapping_add(50), 256 * 1024);
        let mut at = 0usize;
        let sha = write_with(&dir.join("repetitive.bin"), spec.repetitive_size, |b, n| {
            for _ in 0..n {
                b.push(block[at]);
                at = (at + 1) % block.len();
            }
        })?;
        add("repetitive.bin", spec.repetitive_size, sha);
    }
    if spec.large_text_size > 0 {
        let mut line = 0u64;
        let mut pending: Vec<u8> = Vec::new();
        let sha = write_with(&dir.join("data/large.txt"), spec.large_text_size, |b, n| {
            while pending.len() < n {
                pending.extend_from_slice(
                    format!("{line:08} the quick brown fox jumps over the lazy dog\n").as_bytes(),
                );
                line += 1;
            }
            b.extend(pending.drain(..n));
        })?;
        add("data/large.txt", spec.large_text_size, sha);
    }
    let tensors = write_safetensors(
        &dir.join("model.safetensors"),
        seed,
        spec.tensors,
        spec.tensor_elems,
    )?;
    let size = std::fs::metadata(dir.join("model.safetensors"))?.len();
    let sha = hex::encode(Sha256::digest(std::fs::read(
        dir.join("model.safetensors"),
    )?));
    add("model.safetensors", size, sha);

    let rules = XetRules::defaults(false);
    for f in &mut files {
        f.xet = rules.is_xet(&f.path, f.size);
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(SampleRepo {
        files,
        safetensors: "model.safetensors".into(),
        tensors,
    })
}

/// bf16 bits of a value drawn roughly like trained weights (small, centred on zero).
fn weight_bf16(g: &mut SplitMix64) -> u16 {
    // Sum of four uniforms: a cheap bell curve.
    let u: f32 = (0..4)
        .map(|_| (g.next_u64() >> 40) as f32 / 16_777_216.0)
        .sum::<f32>()
        - 2.0;
    ((u * 0.05).to_bits() >> 16) as u16
}

/// Writes a safetensors file: `count` bf16 matrices of `elems` elements plus one f32 vector.
/// Returns the tensors with their absolute byte offsets.
pub fn write_safetensors(
    path: &Path,
    seed: u64,
    count: usize,
    elems: usize,
) -> io::Result<Vec<TensorInfo>> {
    let cols = 256.min(elems.max(1));
    let rows = elems.div_ceil(cols);
    let mut specs: Vec<(String, &str, Vec<usize>, usize)> = (0..count)
        .map(|i| {
            (
                format!("model.layers.{i}.weight"),
                "BF16",
                vec![rows, cols],
                rows * cols * 2,
            )
        })
        .collect();
    specs.push(("model.norm.weight".into(), "F32", vec![cols], cols * 4));
    let mut header = serde_json::Map::new();
    header.insert(
        "__metadata__".into(),
        serde_json::json!({"format": "pt", "seed": seed.to_string()}),
    );
    let mut at = 0usize;
    for (name, dtype, shape, len) in &specs {
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [at, at + len]}),
        );
        at += len;
    }
    let mut header = serde_json::to_vec(&serde_json::Value::Object(header))?;
    // Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
    while (8 + header.len()) % 8 != 0 {
        header.push(b' ');
    }
    let data_start = 8 + header.len() as u64;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut w = BufWriter::new(File::create(path)?);
    w.write_all(&(header.len() as u64).to_le_bytes())?;
    w.write_all(&header)?;
    let mut g = SplitMix64::new(seed ^ 0x5afe_7e45);
    let mut out = Vec::new();
    let mut offset = data_start;
    for (name, dtype, shape, len) in specs {
        let n: usize = shape.iter().product();
        let mut buf = Vec::with_capacity(len);
        for _ in 0..n {
            if dtype == "BF16" {
                buf.extend_from_slice(&weight_bf16(&mut g).to_le_bytes());
            } else {
                buf.extend_from_slice(
                    &(1.0f32 + (g.next_u64() >> 40) as f32 / 1.6e8).to_le_bytes(),
                );
            }
        }
        w.write_all(&buf)?;
        out.push(TensorInfo {
            name,
            dtype: dtype.to_string(),
            shape,
            offset,
            len: len as u64,
        });
        offset += len as u64;
    }
    w.flush()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_the_vector_generator() {
        let dir = std::env::var_os("XETFS_TESTVECTORS")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/testvectors"));
        let text = std::fs::read_to_string(dir.join("chunking/splitmix_8191.json"))
            .expect("test vectors (set XETFS_TESTVECTORS)");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["input"]["generator"], "splitmix64");
        let (seed, len) = (
            v["input"]["seed"].as_u64().unwrap(),
            v["len"].as_u64().unwrap(),
        );
        let data = splitmix_bytes(seed, len as usize);
        assert_eq!(
            hex::encode(Sha256::digest(&data)),
            v["sha256"].as_str().unwrap()
        );
        assert_eq!(splitmix_bytes(seed, 13)[..8], data[..8]);
    }

    #[test]
    fn sample_repo_is_deterministic_and_well_formed() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let spec = SampleSpec::small(3);
        let ra = write_model_repo(a.path(), &spec).unwrap();
        let rb = write_model_repo(b.path(), &spec).unwrap();
        assert_eq!(ra, rb);
        for f in &ra.files {
            let data = std::fs::read(a.path().join(&f.path)).unwrap();
            assert_eq!(data.len() as u64, f.size, "{}", f.path);
            assert_eq!(hex::encode(Sha256::digest(&data)), f.sha256, "{}", f.path);
        }
        assert!(!ra.file("empty.bin").unwrap().xet && ra.file("one_byte.bin").unwrap().xet);
        assert!(!ra.file("config.json").unwrap().xet && ra.file("model.safetensors").unwrap().xet);

        // The safetensors header parses and the offsets tile the data exactly.
        let st = std::fs::read(a.path().join("model.safetensors")).unwrap();
        let n = u64::from_le_bytes(st[..8].try_into().unwrap()) as usize;
        let header: serde_json::Value = serde_json::from_slice(&st[8..8 + n]).unwrap();
        let mut end = (8 + n) as u64;
        for t in &ra.tensors {
            assert_eq!(t.offset, end);
            let off = &header[&t.name]["data_offsets"];
            assert_eq!(off[1].as_u64().unwrap() - off[0].as_u64().unwrap(), t.len);
            end += t.len;
        }
        assert_eq!(end, st.len() as u64);
    }
}
