//! What a misbehaving engine or Hub does to the mount: deadlines, wrong answers, invalidation,
//! slow lookups.

use std::fs;
use std::time::Duration;

use xetfs::hub::FileDesc;
use xetfs::hub::{RepoId, RepoScope};

use crate::doubles::{pseudo_random, Fault};
use crate::harness::{self, io, Opts};
use crate::{errno, mount, read, world};

#[test]
fn hung_read_gets_eio_from_the_fs_deadline() {
    let w = world();
    w.reader.fault("model.safetensors", Fault::Hang);
    let opts = Opts {
        read_timeout: Duration::from_secs(1),
        ..Opts::default()
    };
    let Some(m) = mount(&w, opts) else {
        return;
    };
    assert_eq!(errno(read(&m, "org/model/model.safetensors")), libc::EIO);
    assert!(m.stats()["fs"]["read_timeouts"].as_u64().unwrap() >= 1);
    // The mount stays healthy.
    assert_eq!(read(&m, "org/model/config.json").unwrap(), w.model[0].data);
}

#[test]
fn wrong_length_or_engine_error_is_eio() {
    let w = world();
    w.reader.fault("model.safetensors", Fault::Short);
    w.reader.fault("config.json", Fault::Fail);
    let Some(m) = mount(&w, Opts::default()) else {
        return;
    };
    assert_eq!(errno(read(&m, "org/model/model.safetensors")), libc::EIO);
    assert_eq!(errno(read(&m, "org/model/config.json")), libc::EIO);
    let fs_stats = &m.stats()["fs"];
    assert!(fs_stats["short_reads"].as_u64().unwrap() >= 1);
    assert!(fs_stats["read_errors"].as_u64().unwrap() >= 1);
    assert_eq!(
        fs_stats["read_bytes"], 0,
        "no byte of a failed read is served"
    );
}

#[test]
fn page_cache_is_kept_across_opens_and_dropped_on_invalidation() {
    let w = world();
    let Some(m) = mount(&w, Opts::default()) else {
        return;
    };
    let file = w.model[1].clone();
    assert_eq!(read(&m, "org/model/model.safetensors").unwrap(), file.data);
    let after_first = w.reader.reads();
    // KEEP_CACHE: a second open is served from the page cache.
    assert_eq!(read(&m, "org/model/model.safetensors").unwrap(), file.data);
    assert_eq!(w.reader.reads(), after_first);

    // The engine finds that what it served was wrong and asks the fs to forget it.
    let fixed = pseudo_random(file.data.len(), 99);
    w.reader.replace(&file, fixed.clone());
    w.reader.invalidate(&FileDesc {
        scope: RepoScope {
            repo: RepoId::model("org/model"),
            commit: w.main_commit.clone(),
        },
        path: file.path.clone(),
        size: file.data.len() as u64,
        content: file.content(),
    });
    let p = m.path("org/model/model.safetensors");
    let fixed2 = fixed.clone();
    // The kernel drops the pages asynchronously (on a helper thread): poll by content.
    let ok = io("read after invalidation", move || {
        (0..200).any(|_| {
            let ok = fs::read(&p).unwrap() == fixed2;
            if !ok {
                std::thread::sleep(Duration::from_millis(25));
            }
            ok
        })
    });
    assert!(ok, "stale pages were still served after invalidation");
    assert!(w.reader.reads() > after_first);
    assert_eq!(m.stats()["fs"]["invalidations"], 1);
}

#[test]
fn a_slow_repo_does_not_hold_up_its_neighbours() {
    let w = world();
    w.hub
        .commit(&RepoId::model("org/slow"), &["main"], &w.model);
    w.hub.gated.lock().insert(RepoId::model("org/slow"));
    let Some(m) = mount(&w, Opts::default()) else {
        return;
    };
    // The lookup of org/slow waits for the Hub…
    let slow = m.path("org/slow/config.json");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(fs::read(slow));
    });
    let hub = w.hub.clone();
    io("slow lookup started", move || {
        while hub.resolves() == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    // …while a neighbour in the same directory is served.
    assert_eq!(read(&m, "org/model/config.json").unwrap(), w.model[0].data);
    assert!(rx.try_recv().is_err(), "org/slow should still be waiting");
    w.hub.gate.open();
    let slow = rx.recv_timeout(harness::IO_TIMEOUT).unwrap().unwrap();
    assert_eq!(slow, w.model[0].data);
}
