//! What crosses the network: laziness, single-flight, dedup, prefetch efficiency.

use std::sync::Arc;

use xetfs::testkit::faulty::Method;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_read_in_a_big_file_fetches_little() {
    let big = random_bytes(21, 100 << 20);
    let setup = Setup::new(&[("big.bin", big.clone(), true)]);
    let engine = setup.engine(config(None));
    let desc = setup.desc("big.bin").await;
    setup.mock.reset_counters();
    let off = 50 << 20;
    let got = read(&engine, &desc, off, 1 << 20).await;
    assert!(got == big[off as usize..(off + MIB) as usize]);
    let c = setup.mock.counters();
    assert!(
        c.xorb_bytes <= 2 * MIB,
        "1 MiB read fetched {} xorb bytes",
        c.xorb_bytes
    );
    assert_eq!(c.reconstruction, 1, "one reconstruction call: {c:?}");
    // A 4 KiB read elsewhere costs about one or two chunks, not a whole xorb.
    setup.mock.reset_counters();
    read(&engine, &desc, 80 << 20, 4096).await;
    let c = setup.mock.counters();
    assert!(
        c.xorb_bytes <= 2 * 131_072 + 64,
        "4 KiB read fetched {} bytes",
        c.xorb_bytes
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_readers_of_the_same_chunks_cause_one_fetch() {
    let data = random_bytes(22, 4 << 20);
    let setup = Setup::new(&[("f.bin", data.clone(), true)]);
    let engine = setup.engine(config(None));
    let desc = setup.desc("f.bin").await;
    // Hold the plan back a little so all readers arrive while it is under way.
    setup.faulty.delay_next(
        Method::Reconstruction,
        1,
        std::time::Duration::from_millis(300),
    );
    let data = Arc::new(data);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (engine, desc, data) = (engine.clone(), desc.clone(), data.clone());
            tokio::spawn(async move {
                let got = read(&engine, &desc, MIB, MIB as u32).await;
                assert!(got == data[MIB as usize..2 * MIB as usize]);
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let c = setup.mock.counters();
    assert_eq!(c.reconstruction, 1, "{c:?}");
    assert_eq!(c.fetch_xorb_range, 1, "{c:?}");
    assert!(c.xorb_bytes < 2 * MIB + 300_000, "{c:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunks_shared_by_two_files_are_fetched_once() {
    // b = a with a small edit in the middle: they share all but a few chunks.
    let a = random_bytes(23, 8 << 20);
    let mut b = a.clone();
    b[4 << 20..(4 << 20) + 100].copy_from_slice(&[0xAB; 100]);
    let setup = Setup::new(&[("a.bin", a.clone(), true), ("b.bin", b.clone(), true)]);
    let engine = setup.engine(config(None));
    let (da, db) = (setup.desc("a.bin").await, setup.desc("b.bin").await);
    assert!(read_all(&engine, &da, 1 << 20).await == a);
    let after_a = setup.mock.counters().xorb_bytes;
    assert!(read_all(&engine, &db, 1 << 20).await == b);
    let for_b = setup.mock.counters().xorb_bytes - after_a;
    assert!(
        for_b < 512 << 10,
        "b shares all but ~2 chunks with a, yet cost {for_b} xorb bytes"
    );
    assert!(engine.stats().mem_hits > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_reads_prefetch_and_fetch_each_byte_once() {
    let data = random_bytes(24, 48 << 20);
    let setup = Setup::new(&[("seq.bin", data.clone(), true)]);
    let engine = setup.engine(config(None));
    let desc = setup.desc("seq.bin").await;
    assert!(read_all(&engine, &desc, 1 << 20).await == data);
    let s = engine.stats();
    let c = setup.mock.counters();
    assert!(s.prefetch_windows > 0, "{s:?}");
    assert!(
        s.inflight_joins + s.mem_hits > 0,
        "readers should meet prefetched data: {s:?}"
    );
    let efficiency = c.xorb_bytes as f64 / data.len() as f64;
    assert!(
        efficiency <= 1.05,
        "fetched {:.3}× the file ({c:?})",
        efficiency
    );
    assert_eq!(s.files_verified, 1);
}
