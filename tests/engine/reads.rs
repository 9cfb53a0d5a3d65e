//! Bytes: every file, whole and in random pieces, equals its source.

use std::sync::Arc;

use crate::harness::*;

fn corpus() -> Vec<(&'static str, Vec<u8>, bool)> {
    vec![
        ("empty.bin", vec![], true),
        ("one.bin", vec![7], true),
        ("small.bin", random_bytes(1, 8191), true),
        ("chunk.bin", random_bytes(2, 65536), true),
        ("over-max-chunk.bin", random_bytes(3, 131_073), true),
        ("text.txt.bin", text_bytes(3 << 20), true),
        ("zeros.bin", vec![0; 1 << 20], true),
        ("random.bin", random_bytes(4, 5 << 20), true),
        ("config.json", br#"{"model_type": "test"}"#.to_vec(), false),
        ("dir with space/notes.md", text_bytes(10_000), false),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_file_reads_back_exactly() {
    let files = corpus();
    let setup = Setup::new(&files);
    let engine = setup.engine(config(None));
    for (path, bytes, _) in &files {
        let desc = setup.desc(path).await;
        assert_eq!(desc.size, bytes.len() as u64);
        for step in [4096u32, 1 << 20] {
            let got = read_all(&engine, &desc, step).await;
            assert!(got == *bytes, "{path} read in {step}-byte steps differs");
        }
        // Past EOF reads are empty, reads across EOF are short.
        assert!(read(&engine, &desc, desc.size, 100).await.is_empty());
        if desc.size > 10 {
            let tail = read(&engine, &desc, desc.size - 10, 100).await;
            assert_eq!(tail, bytes[bytes.len() - 10..]);
        }
    }
    let s = engine.stats();
    assert_eq!(s.read_errors, 0);
    assert!(
        s.files_verified >= 1,
        "whole-file reads must prove the file hash: {s:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_preads_cross_chunk_term_and_xorb_boundaries() {
    // > 64 MiB so the file spans two xorbs.
    let big = random_bytes(9, 70 << 20);
    let setup = Setup::new(&[("big.bin", big.clone(), true)]);
    let engine = setup.engine(config(None));
    let desc = setup.desc("big.bin").await;
    let mut state = 0x1234_5678u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..300 {
        let off = next() % big.len() as u64;
        let len = match i % 3 {
            0 => (next() % 4096 + 1) as u32,
            1 => (next() % (300 << 10) + 1) as u32,
            _ => (next() % (2 << 20) + 1) as u32,
        };
        let got = read(&engine, &desc, off, len).await;
        let end = (off as usize + len as usize).min(big.len());
        assert!(got == big[off as usize..end], "pread {off}+{len} differs");
    }
    // Explicitly across the xorb boundary (64 MiB of raw data per xorb at most).
    let off = (64 << 20) - 1000;
    let got = read(&engine, &desc, off, 4000).await;
    assert!(got == big[off as usize..off as usize + 4000]);
    assert_eq!(engine.stats().read_errors, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_readers_get_correct_bytes() {
    let big = random_bytes(11, 12 << 20);
    let setup = Setup::new(&[("big.bin", big.clone(), true)]);
    let engine = setup.engine(config(None));
    let desc = setup.desc("big.bin").await;
    let big = Arc::new(big);
    let mut tasks = Vec::new();
    for t in 0..8u64 {
        let (engine, desc, big) = (engine.clone(), desc.clone(), big.clone());
        tasks.push(tokio::spawn(async move {
            let mut s = t * 7919 + 1;
            for _ in 0..40 {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let off = (s >> 20) % big.len() as u64;
                let len = ((s >> 8) % (256 << 10) + 1) as u32;
                let got = read(&engine, &desc, off, len).await;
                let end = (off as usize + len as usize).min(big.len());
                assert!(
                    got == big[off as usize..end],
                    "thread {t}: {off}+{len} differs"
                );
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}
