//! Shared by the test binaries: locating the reference vectors and regenerating their inputs.
#![allow(dead_code)]

/// A real Redis Cluster / node on loopback (also usable alone through `#[path]`).
pub mod redis;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;

/// `$XETFS_TESTVECTORS`, or `../shared/testvectors` next to the crate.
pub fn vectors_dir() -> PathBuf {
    match std::env::var_os("XETFS_TESTVECTORS") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/testvectors"),
    }
}

pub fn load(rel: &str) -> Value {
    let path = vectors_dir().join(rel);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read test vector {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The SplitMix64 stream of the vectors' README, truncated to `len` bytes.
pub fn splitmix64(seed: u64, len: usize) -> Vec<u8> {
    xetfs::util::splitmix::splitmix_bytes(seed, len)
}

pub fn text_lines(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    let mut i = 0u64;
    while out.len() < len {
        out.extend_from_slice(
            format!("{i:08} the quick brown fox jumps over the lazy dog\n").as_bytes(),
        );
        i += 1;
    }
    out.truncate(len);
    out
}

fn counter32_le(len: usize) -> Vec<u8> {
    let mut out: Vec<u8> = (0..len.div_ceil(4) as u32)
        .flat_map(u32::to_le_bytes)
        .collect();
    out.truncate(len);
    out
}

fn f32_unit(seed: u64, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 4);
    let mut g = xetfs::util::splitmix::SplitMix64::new(seed);
    while out.len() < len {
        let v = g.next_u64() >> 40;
        out.extend_from_slice(&((v as f32) / 16_777_216.0).to_le_bytes());
    }
    out.truncate(len);
    out
}

fn num(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("generator field {key} missing in {v}"))
}

fn generate_uncached(g: &Value) -> Vec<u8> {
    let len = || num(g, "len") as usize;
    match g["generator"].as_str().expect("generator name") {
        "literal" => hex::decode(g["hex"].as_str().unwrap()).unwrap(),
        "zeros" => vec![0; len()],
        "splitmix64" => splitmix64(num(g, "seed"), len()),
        "text_lines" => text_lines(len()),
        "counter32_le" => counter32_le(len()),
        "f32_unit" => f32_unit(num(g, "seed"), len()),
        "concat" => g["parts"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| generate(p).to_vec())
            .collect(),
        "slice" => {
            let of = generate(&g["of"]);
            of[num(g, "start") as usize..num(g, "end_exclusive") as usize].to_vec()
        }
        other => panic!("unknown generator {other}"),
    }
}

/// The bytes a vector's `input` describes (cached: several vectors share the big inputs).
pub fn generate(g: &Value) -> Arc<Vec<u8>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Vec<u8>>>>> = OnceLock::new();
    let key = g.to_string();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(hit) = cache.lock().unwrap().get(&key) {
        return hit.clone();
    }
    let data = Arc::new(generate_uncached(g));
    cache.lock().unwrap().insert(key, data.clone());
    data
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}
