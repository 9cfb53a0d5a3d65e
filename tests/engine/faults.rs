//! Faults between the engine and the remote: every read ends with correct bytes or an error,
//! within the deadline, and bad bytes are never kept.

use std::time::{Duration, Instant};

use xetfs::read::{FileReader, ReadError};
use xetfs::remote::RemoteError;
use xetfs::testkit::faulty::{BodyFault, Method};

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_and_broken_bodies_are_retried() {
    let data = random_bytes(31, 6 << 20);
    let setup = Setup::new(&[("f.bin", data.clone(), true)]);
    let engine = setup.engine(config(None));
    let desc = setup.desc("f.bin").await;
    setup.faulty.body_fault_next(
        Method::FetchXorbRange,
        1,
        BodyFault::Truncate { after: 100_000 },
    );
    setup.faulty.body_fault_next(
        Method::FetchXorbRange,
        1,
        BodyFault::EndEarly { after: 5000 },
    );
    assert!(read_all(&engine, &desc, 1 << 20).await == data);
    let f = setup.faulty.stats();
    assert!(f.truncated + f.ended_early >= 1, "{f:?}");
    assert!(engine.stats().fetch_retries >= 1, "{:?}", engine.stats());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_transfer_ends_in_an_error_within_the_deadline() {
    let data = random_bytes(32, 2 << 20);
    let setup = Setup::new(&[("f.bin", data.clone(), true)]);
    let mut cfg = config(None);
    cfg.read_timeout = Duration::from_secs(2);
    let engine = setup.engine(cfg);
    let desc = setup.desc("f.bin").await;
    setup
        .faulty
        .body_fault_next(Method::FetchXorbRange, 10, BodyFault::Stall { after: 10 });
    let started = Instant::now();
    let outcome = tokio::time::timeout(Duration::from_secs(30), engine.read(&desc, 0, 4096, 1))
        .await
        .expect("the engine's own deadline must end the read");
    // Either the read's deadline or the fetch's own deadline (the same length) ends it.
    assert!(
        matches!(
            outcome,
            Err(ReadError::Deadline(_)) | Err(ReadError::Remote(RemoteError::Timeout(_)))
        ),
        "a stalled transfer must end in a timeout: {outcome:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    // The engine stays usable once the remote recovers (after the stalled fetches that are still
    // under way, e.g. a prefetch, reach their own deadline).
    setup.faulty.clear();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = read(&engine, &desc, 0, 4096).await;
    assert_eq!(got, data[..4096]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_urls_are_replanned() {
    let data = random_bytes(33, 3 << 20);
    let setup = Setup::new(&[("f.bin", data.clone(), true)]);
    let engine = setup.engine(config(None));
    let desc = setup.desc("f.bin").await;
    setup.faulty.expire_urls_next(1);
    let got = read(&engine, &desc, 1000, 500_000).await;
    assert!(got == data[1000..501_000]);
    assert!(
        setup.mock.counters().reconstruction >= 2,
        "an expired URL needs a new plan"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_plan_is_an_error_not_a_hang_and_the_next_read_works() {
    let data = random_bytes(34, 1 << 20);
    let setup = Setup::new(&[("f.bin", data.clone(), true)]);
    let engine = setup.engine(config(None));
    let desc = setup.desc("f.bin").await;
    setup.faulty.fail_next(
        Method::Reconstruction,
        1,
        RemoteError::Transient("injected 503".into()),
    );
    // Not at offset 0: a read from the start would also start a prefetch, racing for the fault.
    assert!(matches!(
        engine.read(&desc, 4096, 100, 1).await,
        Err(ReadError::Remote(RemoteError::Transient(_)))
    ));
    assert_eq!(read(&engine, &desc, 4096, 100).await, data[4096..4196]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flipped_bytes_are_caught_by_the_xorb_chunk_list_and_refetched() {
    let data = random_bytes(35, 2 << 20);
    let setup = Setup::new(&[("f.bin", data.clone(), true)]);
    setup.mock.set_offer_chunk_hashes(true);
    let engine = setup.engine(config(None));
    let desc = setup.desc("f.bin").await;
    // Random data is stored uncompressed: only a hash can notice the flip.
    setup.faulty.body_fault_next(
        Method::FetchXorbRange,
        1,
        BodyFault::FlipByte { offset: 200 },
    );
    assert!(read_all(&engine, &desc, 1 << 20).await == data);
    let s = engine.stats();
    assert_eq!(setup.faulty.stats().flipped, 1);
    assert!(s.integrity_failures >= 1 && s.fetch_retries >= 1, "{s:?}");
    assert!(s.chunks_proven > 0, "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_chunk_lists_the_file_hash_catches_a_flip_and_nothing_bad_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let data = random_bytes(36, 2 << 20);
    let setup = Setup::new(&[("f.bin", data.clone(), true)]);
    let engine = setup.engine(config(Some(dir.path())));
    let desc = setup.desc("f.bin").await;
    setup.faulty.body_fault_next(
        Method::FetchXorbRange,
        1,
        BodyFault::FlipByte { offset: 200 },
    );
    // Read the whole file: the last read completes the file and must fail its hash check.
    let mut off = 0;
    let mut failed = false;
    while off < desc.size {
        match engine.read(&desc, off, 1 << 20, 1).await {
            Ok(b) => off += b.len() as u64,
            Err(ReadError::Integrity(_)) => {
                failed = true;
                break;
            }
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert!(
        failed,
        "a full read of a corrupted file must end in an integrity error"
    );
    // Everything unproven was purged: reading again fetches again and is right.
    let before = setup.mock.counters().xorb_bytes;
    assert!(read_all(&engine, &desc, 1 << 20).await == data);
    assert!(
        setup.mock.counters().xorb_bytes > before,
        "purged chunks are refetched"
    );
    assert_eq!(engine.stats().files_verified, 1);
    // The disk cache does not hold the flipped chunk either: a fresh engine on the same cache,
    // offline, reads only good bytes.
    engine.flush().await;
    drop(engine);
    let mut cfg = config(Some(dir.path()));
    cfg.offline = true;
    let offline = setup.engine(cfg);
    assert!(read_all(&offline, &desc, 1 << 20).await == data);
}
