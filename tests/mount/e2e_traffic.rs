//! End to end, what crosses the network (server counters, never timings): a small read of a big
//! file fetches about that much; chunks shared by two revisions are fetched once.

use xetfs::serve::FaultConfig;

use crate::e2e_fixture::{fuse, pread, put, random_bytes, read_file, Mount, Served, MIB};

#[test]
fn one_mib_read_in_the_middle_of_a_100_mib_file_fetches_at_most_2_mib() {
    if !fuse() {
        return;
    }
    let data = random_bytes(41, 100 * MIB as usize);
    let served = Served::start(FaultConfig::default(), |root| {
        put(root, "org/lazy/weights.bin", &data)
    });
    let cache = tempfile::tempdir().unwrap();
    let m = Mount::start(Some(&served.endpoint()), cache.path(), &[]);
    let file = m.path("org/lazy/weights.bin");
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 100 * MIB);

    let at = 50 * MIB;
    let got = pread(file.clone(), at, MIB as usize).unwrap();
    assert!(
        got == data[at as usize..(at + MIB) as usize],
        "bytes differ"
    );
    m.wait_idle();
    let fetched = served.xorb_bytes();
    eprintln!("1 MiB read: {fetched} xorb bytes");
    assert!(
        (MIB..=2 * MIB).contains(&fetched),
        "a 1 MiB read fetched {fetched} xorb bytes"
    );
    assert_eq!(
        m.reader_stat("prefetch_windows"),
        0,
        "a lone read is not a stream"
    );
    assert_eq!(
        served.metrics().endpoint("reconstruction_v2").requests
            + served.metrics().endpoint("reconstruction_v1").requests,
        1,
        "one reconstruction for one read"
    );

    // A 4 KiB read far away costs a chunk or two (≤ 128 KiB each), not a whole xorb.
    let at = 80 * MIB + 12345;
    let got = pread(file, at, 4096).unwrap();
    assert!(got == data[at as usize..at as usize + 4096]);
    m.wait_idle();
    let small = served.xorb_bytes() - fetched;
    assert!(
        small <= 2 * (128 << 10) + 64,
        "a 4 KiB read fetched {small} bytes"
    );
}

#[test]
fn chunks_shared_by_two_revisions_and_two_paths_are_fetched_once() {
    if !fuse() {
        return;
    }
    // v2 = main with 100 bytes changed in the middle: they share all but a chunk or two.
    let a = random_bytes(42, 16 * MIB as usize);
    let mut b = a.clone();
    let mid = a.len() / 2;
    b[mid..mid + 100].copy_from_slice(&[0x5a; 100]);
    let served = Served::start(FaultConfig::default(), |root| {
        put(root, "org/dedup/weights.bin", &a);
        put(root, "org/dedup/copy/weights.bin", &a);
        put(root, "org/dedup@v2/weights.bin", &b);
    });
    let cache = tempfile::tempdir().unwrap();
    let m = Mount::start(Some(&served.endpoint()), cache.path(), &[]);

    assert!(read_file(m.path("org/dedup/weights.bin")).unwrap() == a);
    m.wait_idle();
    let for_a = served.xorb_bytes();
    assert!(for_a >= a.len() as u64, "{for_a}");

    // Another revision: only the changed chunks cross the network.
    assert!(read_file(m.path("org/dedup@v2/weights.bin")).unwrap() == b);
    m.wait_idle();
    let for_b = served.xorb_bytes() - for_a;
    eprintln!("main: {for_a} xorb bytes, then v2: {for_b}");
    assert!(
        for_b <= 3 * (128 << 10),
        "v2 shares all but ~2 chunks with main, yet cost {for_b} xorb bytes"
    );

    // The same content at another path: nothing at all.
    assert!(read_file(m.path("org/dedup/copy/weights.bin")).unwrap() == a);
    m.wait_idle();
    assert_eq!(
        served.xorb_bytes(),
        for_a + for_b,
        "the copy was fetched again"
    );
    assert_eq!(m.reader_stat("integrity_failures"), 0);
    assert_eq!(
        m.reader_stat("files_verified"),
        2,
        "main and v2 both proven"
    );
}
