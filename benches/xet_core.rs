//! Throughput of the Xet core: chunker, chunk hash, LZ4 frame decoding (raw lz4_flex as the
//! ceiling vs our record decoder), BG4, and decode + verify of a 64 MiB xorb.
//!
//! `cargo bench --bench xet_core` (add a filter to run one group). Data: bf16-like weights
//! (Gaussian-ish f32 truncated to bf16), zeros and text.

use std::hint::black_box;
use std::io::{Read, Write};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use xetfs::xet::chunk::{
    bg4_join, bg4_split, decode_payload, ChunkHeader, CompressionPolicy, CompressionScheme,
};
use xetfs::xet::chunker::chunk_lengths;
use xetfs::xet::reconstruction::ChunkRange;
use xetfs::xet::xorb::{decode_range, SerializedXorb, XorbBuilder};
use xetfs::xet::{chunk_hash, file_hash_of_reader};

const MIB: usize = 1 << 20;

fn splitmix(seed: u64, words: usize) -> impl Iterator<Item = u64> {
    let mut s = seed;
    (0..words).map(move |_| {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    })
}

/// bf16 weights: sum of four uniforms (≈ normal) scaled like a layer's weights, top 16 bits.
fn bf16_like(len: usize) -> Vec<u8> {
    splitmix(1, len / 2)
        .flat_map(|r| {
            {
                let sum: f32 = (0..4)
                    .map(|i| ((r >> (16 * i)) & 0xFFFF) as f32 / 65536.0)
                    .sum();
                (((sum - 2.0) * 0.05).to_bits() >> 16) as u16
            }
            .to_le_bytes()
        })
        .collect()
}

fn text(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    let mut i = 0;
    while out.len() < len {
        out.extend_from_slice(
            format!("{i:08} the quick brown fox jumps over the lazy dog\n").as_bytes(),
        );
        i += 1;
    }
    out.truncate(len);
    out
}

fn random(len: usize) -> Vec<u8> {
    splitmix(7, len / 8).flat_map(u64::to_le_bytes).collect()
}

fn inputs(len: usize) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("bf16", bf16_like(len)),
        ("zeros", vec![0; len]),
        ("text", text(len)),
    ]
}

fn quick<'a>(
    c: &'a mut Criterion,
    name: &str,
    bytes: usize,
) -> BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Bytes(bytes as u64));
    g
}

fn chunker(c: &mut Criterion) {
    let data = random(32 * MIB);
    let mut g = quick(c, "chunker", data.len());
    g.bench_function("chunk_lengths/random", |b| {
        b.iter(|| chunk_lengths(black_box(&data)))
    });
    g.bench_function("file_hash_of_reader/random", |b| {
        b.iter(|| file_hash_of_reader(black_box(&data[..])).unwrap())
    });
    g.finish();
}

fn hashing(c: &mut Criterion) {
    let data = random(16 * MIB);
    let mut g = quick(c, "chunk_hash", data.len());
    g.bench_function("64KiB chunks", |b| {
        b.iter(|| data.chunks(64 * 1024).map(chunk_hash).count())
    });
    g.finish();
}

/// Every 64 KiB … 128 KiB chunk of `data` as an LZ4 frame, even where a writer would store it
/// uncompressed, so both decoders see the same frames.
fn lz4_frames(data: &[u8], grouped: bool) -> Vec<(Vec<u8>, usize)> {
    let mut at = 0;
    chunk_lengths(data)
        .into_iter()
        .map(|n| {
            let raw = &data[at..at + n];
            at += n;
            let mut src = Vec::new();
            if grouped {
                bg4_split(raw, &mut src);
            } else {
                src.extend_from_slice(raw);
            }
            let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::new());
            enc.write_all(&src).unwrap();
            (enc.finish().unwrap(), n)
        })
        .collect()
}

fn lz4_decode(c: &mut Criterion) {
    for (name, data) in inputs(32 * MIB) {
        let frames = lz4_frames(&data, false);
        let mut g = quick(c, &format!("lz4_decode/{name}"), data.len());
        let mut out = Vec::with_capacity(128 * 1024);
        g.bench_function("lz4_flex FrameDecoder (ceiling)", |b| {
            b.iter(|| {
                for (frame, _) in &frames {
                    out.clear();
                    lz4_flex::frame::FrameDecoder::new(&frame[..])
                        .read_to_end(&mut out)
                        .unwrap();
                    black_box(&out);
                }
            })
        });
        g.bench_function("xetfs decode_payload", |b| {
            b.iter(|| {
                for (frame, n) in &frames {
                    let header = ChunkHeader {
                        scheme: CompressionScheme::Lz4,
                        compressed_len: frame.len() as u32,
                        uncompressed_len: *n as u32,
                    };
                    out.clear();
                    decode_payload(&header, frame, &mut out).unwrap();
                    black_box(&out);
                }
            })
        });
        g.finish();
    }
}

fn bg4(c: &mut Criterion) {
    let data = bf16_like(32 * MIB);
    let mut grouped = Vec::new();
    bg4_split(&data, &mut grouped);
    let mut g = quick(c, "bg4", data.len());
    let mut out = Vec::with_capacity(data.len());
    g.bench_function("join", |b| {
        b.iter(|| {
            out.clear();
            bg4_join(black_box(&grouped), &mut out);
        })
    });
    g.bench_function("split", |b| {
        b.iter(|| {
            out.clear();
            bg4_split(black_box(&data), &mut out);
        })
    });
    g.finish();

    let frames = lz4_frames(&data, true);
    let mut g = quick(c, "bg4_record_decode/bf16", data.len());
    let mut out = Vec::with_capacity(128 * 1024);
    g.bench_function("lz4_flex FrameDecoder + join (naive)", |b| {
        let mut tmp = Vec::new();
        b.iter(|| {
            for (frame, _) in &frames {
                tmp.clear();
                lz4_flex::frame::FrameDecoder::new(&frame[..])
                    .read_to_end(&mut tmp)
                    .unwrap();
                out.clear();
                bg4_join(&tmp, &mut out);
                black_box(&out);
            }
        })
    });
    g.bench_function("xetfs decode_payload", |b| {
        b.iter(|| {
            for (frame, n) in &frames {
                let header = ChunkHeader {
                    scheme: CompressionScheme::ByteGrouping4Lz4,
                    compressed_len: frame.len() as u32,
                    uncompressed_len: *n as u32,
                };
                out.clear();
                decode_payload(&header, frame, &mut out).unwrap();
                black_box(&out);
            }
        })
    });
    g.finish();
}

fn build_xorb(data: &[u8], policy: CompressionPolicy) -> SerializedXorb {
    let mut b = XorbBuilder::new(policy);
    let mut at = 0;
    for n in chunk_lengths(data) {
        if !b.fits(n) {
            break;
        }
        b.add_chunk(&data[at..at + n]);
        at += n;
    }
    b.finish()
}

fn xorb_decode_verify(c: &mut Criterion) {
    for (name, data) in inputs(64 * MIB) {
        let x = build_xorb(&data, CompressionPolicy::Auto);
        let all = ChunkRange::new(0, x.chunks.len() as u32);
        let mut g = quick(c, &format!("xorb_64MiB/{name}"), x.raw_len() as usize);
        g.bench_function("decode_range", |b| {
            b.iter(|| decode_range(black_box(&x.records), all).unwrap())
        });
        g.bench_function("decode_range + chunk_hash", |b| {
            b.iter(|| {
                let chunks = decode_range(black_box(&x.records), all).unwrap();
                for (c, meta) in chunks.iter().zip(&x.chunks) {
                    assert_eq!(chunk_hash(&c.data), meta.hash);
                }
            })
        });
        g.finish();
    }
}

fn xorb_build(c: &mut Criterion) {
    let data = bf16_like(16 * MIB);
    let mut g = quick(c, "xorb_build/bf16", data.len());
    for policy in [
        CompressionPolicy::Lz4,
        CompressionPolicy::ByteGrouping4Lz4,
        CompressionPolicy::Auto,
    ] {
        g.bench_function(format!("{policy:?}"), |b| {
            b.iter(|| build_xorb(black_box(&data), policy))
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    chunker,
    hashing,
    lz4_decode,
    bg4,
    xorb_decode_verify,
    xorb_build
);
criterion_main!(benches);
