//! End to end, bytes: every file of a generated repo, read through a daemon mount over
//! `xetfs serve`, equals the served file; hundreds of random `pread`s across chunk, term, xorb
//! and EOF boundaries match the source.

use std::os::unix::fs::FileExt;

use xetfs::serve::sample::{write_model_repo, SampleRepo, SampleSpec};
use xetfs::serve::FaultConfig;
use xetfs::util::splitmix::SplitMix64;
use xetfs::xet::chunker::chunk_lengths;

use crate::e2e_fixture::{fuse, list_files, read_file, sha256_hex, Mount, Served, MIB};
use crate::harness::io;

const REPO: &str = "org/model";
const BIG: &str = "big/multi_xorb.bin";

fn serve_sample(seed: u64) -> (Served, SampleRepo) {
    let mut sample = None;
    let served = Served::start(FaultConfig::default(), |root| {
        let spec = SampleSpec::with_big_file(seed);
        sample = Some(write_model_repo(&root.join(REPO), &spec).unwrap());
    });
    (served, sample.unwrap())
}

#[test]
fn every_file_reads_back_identical() {
    if !fuse() {
        return;
    }
    let (served, sample) = serve_sample(21);
    // The sample has every awkward kind of file this test is meant to cover.
    let has = |p: &dyn Fn(&str, u64) -> bool| sample.files.iter().any(|f| p(&f.path, f.size));
    assert!(has(&|_, s| s == 0) && has(&|_, s| s == 1));
    assert!(has(&|p, s| p.starts_with("bounds/") && s == 131_073));
    assert!(has(&|p, _| p.contains(' ')) && has(&|p, _| p.matches('/').count() >= 3));
    assert!(has(&|p, s| p == BIG && s > 64 * MIB));
    let xorbs: std::collections::HashSet<_> = served
        .terms(REPO, "main", BIG)
        .into_iter()
        .map(|(_, x)| x)
        .collect();
    assert!(xorbs.len() >= 2, "{BIG} spans several xorbs");

    let cache = tempfile::tempdir().unwrap();
    let m = Mount::start(Some(&served.endpoint()), cache.path(), &[]);
    let want: Vec<String> = sample.files.iter().map(|f| f.path.clone()).collect();
    assert_eq!(list_files(m.path(REPO)), want);
    for f in &sample.files {
        let path = m.path(&format!("{REPO}/{}", f.path));
        let size = std::fs::metadata(&path).unwrap().len();
        assert_eq!(size, f.size, "{} size", f.path);
        let got = read_file(path).unwrap_or_else(|e| panic!("{}: {e}\n{}", f.path, m.log()));
        assert_eq!(got.len() as u64, f.size, "{}", f.path);
        assert_eq!(sha256_hex(&got), f.sha256, "{} differs", f.path);
    }
    // Tensors at their offsets, as a loader reads them.
    let st = m.path(&format!("{REPO}/{}", sample.safetensors));
    let orig = std::fs::read(served.source(&format!("{REPO}/{}", sample.safetensors))).unwrap();
    let tensors = sample.tensors.clone();
    io("tensors", move || {
        let f = std::fs::File::open(st).unwrap();
        for t in tensors.iter().rev() {
            let mut got = vec![0u8; t.len as usize];
            f.read_exact_at(&mut got, t.offset).unwrap();
            let at = t.offset as usize;
            assert!(got == orig[at..at + got.len()], "tensor {}", t.name);
        }
    });

    // Every Xet file was proven by its file hash; nothing failed.
    let xet_files = sample.files.iter().filter(|f| f.xet).count() as u64;
    let stats = m.stats();
    assert_eq!(stats["reader"]["files_verified"], xet_files, "{stats}");
    assert_eq!(stats["reader"]["integrity_failures"], 0, "{stats}");
    assert_eq!(stats["fs"]["read_errors"], 0, "{stats}");

    // Read once, cached: reading it all again costs the CAS nothing.
    let before = served.xorb_requests();
    assert!(before > 0, "Xet files came through xorb fetches");
    for f in &sample.files {
        let got = read_file(m.path(&format!("{REPO}/{}", f.path))).unwrap();
        assert_eq!(sha256_hex(&got), f.sha256, "{} on the second read", f.path);
    }
    assert_eq!(served.xorb_requests(), before);
}

/// One `pread`: where, how much, and why (for the failure message).
struct Probe {
    offset: u64,
    len: usize,
    why: &'static str,
}

fn below(rng: &mut SplitMix64, n: u64) -> u64 {
    rng.next_u64() % n.max(1)
}

/// A read that starts up to `before` bytes before `b` and ends up to `after` bytes past it.
fn around(rng: &mut SplitMix64, b: u64, why: &'static str, before: u64, after: u64) -> Probe {
    let offset = b.saturating_sub(1 + below(rng, before));
    let len = (b - offset + 1 + below(rng, after)) as usize;
    Probe { offset, len, why }
}

/// Reads crossing every kind of boundary of a file of `size` bytes, in random order.
fn probes(rng: &mut SplitMix64, size: u64, chunk_ends: &[u64], term_starts: &[u64]) -> Vec<Probe> {
    let mut out = Vec::new();
    // Chunk boundaries: a spread of them, crossed by a few bytes or by whole chunks.
    let step = (chunk_ends.len() / 120).max(1);
    for &b in chunk_ends.iter().step_by(step) {
        out.push(around(rng, b, "chunk boundary", 64, 64));
        out.push(around(rng, b, "chunks around a boundary", 200_000, 200_000));
    }
    // Term (= xorb, here) boundaries: small and large crossings.
    for &b in term_starts.iter().filter(|&&b| b > 0) {
        for _ in 0..8 {
            out.push(around(rng, b, "term boundary", 4096, 4096));
            out.push(around(rng, b, "term boundary, MiBs", 3 << 20, 3 << 20));
        }
    }
    // EOF: reads that end at, cross, start at and start past the end.
    for _ in 0..16 {
        out.push(around(rng, size, "crossing EOF", 300_000, 300_000));
    }
    for (offset, len, why) in [
        (size, 1, "at EOF"),
        (size, 4096, "at EOF"),
        (size + 12345, 100, "past EOF"),
    ] {
        out.push(Probe { offset, len, why });
    }
    // Anywhere, any length up to 4 MiB.
    for _ in 0..100 {
        let offset = below(rng, size);
        let len = 1 + below(rng, 4 << 20) as usize;
        out.push(Probe {
            offset,
            len,
            why: "random",
        });
    }
    // Shuffle (Fisher-Yates) so that nothing arrives in file order.
    for i in (1..out.len()).rev() {
        out.swap(i, below(rng, i as u64 + 1) as usize);
    }
    out
}

#[test]
fn random_preads_across_boundaries_match_the_source() {
    if !fuse() {
        return;
    }
    let (served, sample) = serve_sample(22);
    let cache = tempfile::tempdir().unwrap();
    let m = Mount::start(Some(&served.endpoint()), cache.path(), &[]);
    let mut rng = SplitMix64::new(0x9e3d);
    let mut total = 0;
    // The multi-xorb file, the safetensors file and the files around chunk-size bounds.
    let targets: Vec<String> = sample
        .files
        .iter()
        .map(|f| f.path.clone())
        .filter(|p| p == BIG || *p == sample.safetensors || p.starts_with("bounds/"))
        .collect();
    assert!(targets.len() >= 9, "{targets:?}");
    for path in targets {
        let src = std::fs::read(served.source(&format!("{REPO}/{path}"))).unwrap();
        let path = path.clone();
        let size = src.len() as u64;
        let chunk_ends: Vec<u64> = chunk_lengths(&src)
            .into_iter()
            .scan(0u64, |at, n| {
                *at += n as u64;
                Some(*at)
            })
            .collect();
        let terms: Vec<u64> = served
            .terms(REPO, "main", &path)
            .into_iter()
            .map(|(at, _)| at)
            .collect();
        if path == BIG {
            assert!(terms.len() >= 2, "{path} has several terms: {terms:?}");
        }
        let probes = probes(&mut rng, size, &chunk_ends, &terms);
        total += probes.len();
        let file = m.path(&format!("{REPO}/{path}"));
        let log = m.log_path();
        io(&path.clone(), move || {
            let f = std::fs::File::open(file).unwrap();
            for p in probes {
                let mut buf = vec![0u8; p.len];
                let n = read_at_full(&f, &mut buf, p.offset).unwrap_or_else(|e| {
                    panic!(
                        "{path}: {} pread({}, {}) failed: {e}\n{}",
                        p.why,
                        p.offset,
                        p.len,
                        std::fs::read_to_string(&log).unwrap_or_default()
                    )
                });
                let start = (p.offset.min(size)) as usize;
                let end = (p.offset + p.len as u64).min(size) as usize;
                assert_eq!(
                    n,
                    end - start,
                    "{path}: {} pread({}, {})",
                    p.why,
                    p.offset,
                    p.len
                );
                assert!(
                    buf[..n] == src[start..end],
                    "{path}: {} pread({}, {}) returned other bytes",
                    p.why,
                    p.offset,
                    p.len
                );
            }
        });
    }
    assert!(total >= 300, "{total} preads");
    let stats = m.stats();
    assert_eq!(stats["reader"]["integrity_failures"], 0, "{stats}");
    assert_eq!(stats["fs"]["read_errors"], 0, "{stats}");
}

/// `pread` until `buf` is full or EOF; returns the bytes read.
fn read_at_full(f: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match f.read_at(&mut buf[got..], offset + got as u64)? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

#[test]
fn eight_threads_reading_one_file_at_random_offsets_all_get_the_right_bytes() {
    if !fuse() {
        return;
    }
    let (served, _) = serve_sample(23);
    let src = std::sync::Arc::new(std::fs::read(served.source(&format!("{REPO}/{BIG}"))).unwrap());
    let cache = tempfile::tempdir().unwrap();
    let m = Mount::start(Some(&served.endpoint()), cache.path(), &[]);
    let path = m.path(&format!("{REPO}/{BIG}"));
    let shared = std::sync::Arc::new(std::fs::File::open(&path).unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    let workers: Vec<_> = (0..8u64)
        .map(|t| {
            let (src, path, shared, tx) = (src.clone(), path.clone(), shared.clone(), tx.clone());
            std::thread::spawn(move || {
                // Half the threads share one descriptor, half open their own.
                let own = std::fs::File::open(path).unwrap();
                let f = if t % 2 == 0 { &*shared } else { &own };
                let mut rng = SplitMix64::new(1000 + t);
                let size = src.len() as u64;
                for i in 0..40 {
                    let offset = below(&mut rng, size);
                    let len = 1 + below(&mut rng, 2 << 20) as usize;
                    let mut buf = vec![0u8; len];
                    let n = read_at_full(f, &mut buf, offset).unwrap();
                    let end = (offset as usize + len).min(src.len());
                    assert!(
                        buf[..n] == src[offset as usize..end],
                        "thread {t}, read {i}: pread({offset}, {len}) differs"
                    );
                }
                tx.send(t).unwrap();
            })
        })
        .collect();
    drop(tx);
    let mut done = Vec::new();
    while done.len() < workers.len() {
        match rx.recv_timeout(crate::harness::IO_TIMEOUT * 2) {
            Ok(t) => done.push(t),
            // A thread that panicked drops its sender: join below reports its message.
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(_) => panic!("readers hung; done: {done:?}\n{}", m.log()),
        }
    }
    for w in workers {
        if let Err(e) = w.join() {
            std::panic::resume_unwind(e);
        }
    }
    let stats = m.stats();
    assert_eq!(stats["reader"]["integrity_failures"], 0, "{stats}");
    assert_eq!(stats["fs"]["read_errors"], 0, "{stats}");
    // Single flight: concurrent readers do not fetch the same bytes over and over.
    m.wait_idle();
    let fetched = served.xorb_bytes();
    eprintln!(
        "8 threads: {fetched} xorb bytes for a {} byte file",
        src.len()
    );
    assert!(
        fetched <= src.len() as u64 * 3 / 2,
        "{fetched} xorb bytes fetched for a {} byte file",
        src.len()
    );
}
