//! End to end, faults injected by `xetfs serve`: server errors, resets and truncated bodies are
//! retried into correct bytes; corrupted xorb bytes are caught, never served by a whole-file read
//! and never kept in the cache (with and without the chunk-hash extension); a flipped byte in the
//! disk cache is dropped and refetched; a stalled server turns into EIO within `--read-timeout`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;
use xetfs::serve::FaultConfig;

use crate::e2e_fixture::{errno_of, fuse, pread, put, random_bytes, read_file, Mount, Served, MIB};

/// Three 6 MiB Xet files and a plain one, in `org/f`.
fn files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("org/f/a.bin", random_bytes(71, 6 * MIB as usize)),
        ("org/f/b.bin", random_bytes(72, 6 * MIB as usize)),
        ("org/f/c.bin", random_bytes(73, 6 * MIB as usize)),
        ("org/f/config.json", b"{\"hidden_size\": 64}\n".to_vec()),
    ]
}

fn serve(files: &[(&str, Vec<u8>)], faults: serde_json::Value) -> Served {
    let faults: FaultConfig = serde_json::from_value(faults).unwrap();
    Served::start(faults, |root| {
        for (p, data) in files {
            put(root, p, data);
        }
    })
}

#[test]
fn server_errors_resets_and_truncated_bodies_are_retried_into_correct_bytes() {
    if !fuse() {
        return;
    }
    let files = files();
    // Bursts small enough for the retry budgets (5 attempts per request, 3 per xorb range), so
    // that every read must end with the right bytes.
    let served = serve(
        &files,
        json!({"seed": 5, "rules": [
            {"target": "xorb_get", "kind": "status", "status": 503, "count": 2},
            {"target": "xorb_get", "kind": "reset", "count": 1},
            {"target": "xorb_get", "kind": "truncate", "count": 2},
            {"target": "reconstruction_v2", "kind": "status", "status": 502, "count": 2},
            {"target": "resolve", "kind": "status", "status": 500, "count": 1},
            {"target": "tree", "kind": "status", "status": 503, "count": 1},
        ]}),
    );
    let cache = tempfile::tempdir().unwrap();
    let m = Mount::start(Some(&served.endpoint()), cache.path(), &[]);
    for (p, data) in &files {
        let got = read_file(m.path(p)).unwrap_or_else(|e| panic!("{p}: {e}\n{}", m.log()));
        assert!(got == *data, "{p} differs");
    }
    let metrics = served.metrics();
    for kind in ["status", "reset", "truncate"] {
        assert!(
            metrics.counter(&format!("faults_injected.{kind}")) > 0,
            "no {kind} fault fired: {metrics:?}"
        );
    }
    // Rules roll independently: one request may draw several (a reset then hides its status).
    assert_eq!(metrics.counter("faults_injected.status"), 6, "{metrics:?}");
    assert_eq!(metrics.endpoint("reconstruction_v2").status_count(502), 2);
    // Failed attempts are retried inside the HTTP client: the server saw more xorb requests
    // than the engine made fetches (at least the two requests the count-limited rules hit).
    let xorb_requests = metrics.endpoint("xorb_get").requests;
    let fetches = m.reader_stat("fetches");
    assert!(
        xorb_requests >= fetches + 2,
        "{xorb_requests} xorb requests for {fetches} fetches: {}",
        m.stats()
    );
    assert_eq!(m.reader_stat("integrity_failures"), 0);
    assert_eq!(m.stats()["fs"]["read_errors"], 0);
}

/// Every 256 KiB piece of `path` reads as the right bytes or fails with EIO: never anything else.
fn right_or_eio(path: &Path, data: &[u8]) -> (usize, usize) {
    let (mut right, mut eio) = (0, 0);
    for at in (0..data.len()).step_by(256 << 10) {
        let len = (256 << 10).min(data.len() - at);
        match pread(path.to_path_buf(), at as u64, len) {
            Ok(got) => {
                assert!(
                    got == data[at..at + len],
                    "{} at {at}: wrong bytes",
                    path.display()
                );
                right += 1;
            }
            Err(e) => {
                assert_eq!(
                    e.raw_os_error(),
                    Some(libc::EIO),
                    "{} at {at}: {e}",
                    path.display()
                );
                eio += 1;
            }
        }
    }
    (right, eio)
}

/// A file and its bytes.
type File = (&'static str, Vec<u8>);

/// Fault rules on top of the base: without the extension, `chunk-hashes` answers 404, so the
/// engine can only prove chunks by the xorb hash or the file hash.
fn fault_rules(chunk_hash_extension: bool, extra: serde_json::Value) -> serde_json::Value {
    let mut rules = if chunk_hash_extension {
        vec![]
    } else {
        vec![json!({"target": "chunk_hashes", "kind": "status", "status": 404})]
    };
    rules.extend(extra.as_array().unwrap().iter().cloned());
    json!({"seed": 9, "rules": rules})
}

fn corrupted_xorb_bytes_are_caught(chunk_hash_extension: bool) {
    if !fuse() {
        return;
    }
    let files = files();
    let (a, b, c) = (&files[0], &files[1], &files[2]);
    let rules = |extra| fault_rules(chunk_hash_extension, extra);
    let mut served = serve(&files, rules(json!([])));
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().join("c");
    let m = Mount::start(Some(&served.endpoint()), &cache_dir, &[]);

    // a: every xorb response has a flipped byte.
    served.set_faults(rules(json!([{"target": "xorb_get", "kind": "corrupt"}])));
    every_response_corrupt(&m, a, chunk_hash_extension);
    // b: one corrupted response.
    served.set_faults(rules(
        json!([{"target": "xorb_get", "kind": "corrupt", "count": 1}]),
    ));
    one_response_corrupt(&m, b);
    served.set_faults(rules(json!([])));
    assert!(
        read_file(m.path(b.0)).unwrap() == b.1,
        "{} after the fault",
        b.0
    );
    assert!(read_file(m.path(c.0)).unwrap() == c.1);
    check_counters(&served, &m, chunk_hash_extension);
    m.wait_idle();
    m.unmount();
    served.stop();
    only_right_bytes_were_cached(&cache_dir, a, &[b, c]);
}

/// A whole-file read fails; no piece of the file is ever returned wrong (with the extension each
/// chunk is checked before it is served; without it, a partial read cannot be checked before
/// the whole file has been seen).
fn every_response_corrupt(m: &Mount, a: &File, chunk_hash_extension: bool) {
    match read_file(m.path(a.0)) {
        Ok(got) => panic!(
            "{}: a whole-file read succeeded; right bytes: {}",
            a.0,
            got == a.1
        ),
        Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EIO), "{e}"),
    }
    if chunk_hash_extension {
        // The chunks of a response before its flipped byte are right and may be served.
        right_or_eio(&m.path(a.0), &a.1);
    }
    m.wait_idle();
}

/// A whole-file read gives the right bytes or EIO; once the faults are gone it gives the right
/// bytes (nothing wrong stayed in any cache, the kernel's page cache included: the caller
/// checks).
fn one_response_corrupt(m: &Mount, b: &File) {
    match read_file(m.path(b.0)) {
        Ok(got) => assert!(got == b.1, "{}: wrong bytes", b.0),
        Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EIO), "{e}"),
    }
    m.wait_idle();
}

fn check_counters(served: &Served, m: &Mount, chunk_hash_extension: bool) {
    let metrics = served.metrics();
    assert!(
        metrics.counter("faults_injected.corrupt") >= 2,
        "{metrics:?}"
    );
    assert!(m.reader_stat("integrity_failures") > 0);
    if chunk_hash_extension {
        assert!(m.reader_stat("chunks_proven") > 0);
    } else {
        // Asked once, refused, never used.
        assert_eq!(metrics.endpoint("chunk_hashes").requests, 1, "{metrics:?}");
        assert_eq!(metrics.endpoint("chunk_hashes").status_count(404), 1);
        assert!(
            m.reader_stat("files_verified") >= 2,
            "b and c proven by their file hash"
        );
    }
}

/// What the cache kept: only right bytes. `never_right` was never read right: each piece is
/// right (a chunk that was not corrupted) or EIO; `whole` files read whole.
fn only_right_bytes_were_cached(cache_dir: &Path, never_right: &File, whole: &[&File]) {
    let offline = Mount::start(None, cache_dir, &["--offline"]);
    let (_, eio) = right_or_eio(&offline.path(never_right.0), &never_right.1);
    assert!(
        eio > 0,
        "the corrupted chunks of {} were not cached",
        never_right.0
    );
    for f in whole {
        assert!(
            read_file(offline.path(f.0)).unwrap() == f.1,
            "{} offline",
            f.0
        );
    }
    assert_eq!(offline.reader_stat("integrity_failures"), 0);
}

#[test]
fn corrupted_xorb_bytes_are_caught_with_the_chunk_hash_extension() {
    corrupted_xorb_bytes_are_caught(true);
}

#[test]
fn corrupted_xorb_bytes_are_caught_without_the_chunk_hash_extension() {
    corrupted_xorb_bytes_are_caught(false);
}

/// Block and blob files of a cache directory, largest first.
fn cache_files(cache_dir: &Path, sub: &str) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let mut todo = vec![cache_dir.join(sub)];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten() {
            let e = e.unwrap();
            let meta = e.metadata().unwrap();
            if meta.is_dir() {
                todo.push(e.path());
            } else {
                out.push((e.path(), meta.len()));
            }
        }
    }
    out.sort_by_key(|(_, len)| std::cmp::Reverse(*len));
    out
}

fn flip_byte(path: &Path, at: u64) {
    let mut raw = std::fs::read(path).unwrap();
    raw[at as usize] ^= 0x40;
    std::fs::write(path, raw).unwrap();
}

#[test]
fn a_flipped_byte_in_the_disk_cache_is_dropped_and_refetched() {
    if !fuse() {
        return;
    }
    let files = files();
    let served = serve(&files, json!({}));
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().join("c");
    let (xet, plain) = (&files[0], &files[3]);
    {
        let m = Mount::start(Some(&served.endpoint()), &cache_dir, &[]);
        for f in [xet, plain] {
            assert!(read_file(m.path(f.0)).unwrap() == f.1);
        }
        m.wait_idle();
        m.unmount();
    }
    // One byte in the middle of the biggest chunk block (a record, past the header) and one in
    // the blob of the plain file (its data, at the end).
    let blocks = cache_files(&cache_dir, "chunks");
    let (block, len) = blocks.first().expect("a block file").clone();
    flip_byte(&block, len * 2 / 3);
    let blobs = cache_files(&cache_dir, "blobs");
    let (blob, len) = blobs.first().expect("a blob file").clone();
    flip_byte(&blob, len - 2);

    let xorbs = served.xorb_requests();
    let resolves = served.metrics().endpoint("resolve").requests;
    let m = Mount::start(Some(&served.endpoint()), &cache_dir, &[]);
    for f in [xet, plain] {
        let got = read_file(m.path(f.0)).unwrap_or_else(|e| panic!("{}: {e}\n{}", f.0, m.log()));
        assert!(got == f.1, "{} differs", f.0);
    }
    assert!(
        m.reader_stat("disk_hits") > 0,
        "the intact chunks came from disk"
    );
    assert!(
        served.xorb_requests() > xorbs,
        "the damaged chunk was fetched again"
    );
    assert!(
        served.metrics().endpoint("resolve").requests > resolves,
        "the damaged blob was fetched again"
    );
    assert_eq!(
        m.reader_stat("integrity_failures"),
        0,
        "caught by the cache's checksums"
    );
}

#[test]
fn a_stalled_server_gives_eio_within_the_read_timeout() {
    if !fuse() {
        return;
    }
    let files = files();
    let served = serve(&files, json!({}));
    let cache = tempfile::tempdir().unwrap();
    let m = Mount::start(
        Some(&served.endpoint()),
        cache.path(),
        &["--read-timeout", "5s"],
    );
    let (a, b) = (&files[0], &files[1]);
    // Look the files up while the server answers: the stalls below hit reads only.
    for f in [a, b] {
        assert_eq!(
            std::fs::metadata(m.path(f.0)).unwrap().len(),
            f.1.len() as u64
        );
    }
    // A bound against hangs (the harness gives up at 30 s), not a performance claim.
    let bound = Duration::from_secs(25);
    let stalls = [
        (
            "xorb_get before the head",
            json!({"target": "xorb_get", "kind": "stall"}),
            a,
            0,
        ),
        (
            "xorb_get mid-body",
            json!({"target": "xorb_get", "kind": "stall", "after": 1000}),
            a,
            MIB,
        ),
        // A file not read yet: its plan is not known (a's may cover all of a).
        (
            "reconstruction",
            json!({"target": "reconstruction_v2", "kind": "stall"}),
            b,
            2 * MIB,
        ),
    ];
    for (what, rule, file, at) in stalls {
        served.set_faults(json!({"rules": [rule]}));
        let started = Instant::now();
        let r = pread(m.path(file.0), at, 4096);
        let took = started.elapsed();
        assert_eq!(errno_of(r, what), libc::EIO, "{what}");
        assert!(took < bound, "{what}: EIO only after {took:?}");
    }
    assert!(m.reader_stat("read_errors") >= 3, "{}", m.stats());
    // Once the server answers again (and the stalled fetches have given up), so does the mount.
    served.set_faults(json!({}));
    m.wait_idle();
    assert!(read_file(m.path(a.0)).unwrap() == a.1);
    assert!(read_file(m.path(b.0)).unwrap() == b.1);
}
