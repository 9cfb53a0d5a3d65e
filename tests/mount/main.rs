//! Real FUSE mounts of xetfs. In-process mounts run `XetFs` over test doubles (a Hub serving
//! listings from memory, a reader serving bytes from memory) or over the real engine
//! (`real_engine`); `daemon` and the `e2e_*` tests run the built binary (the `e2e_*` ones over
//! `xetfs serve`, in process). Every test unmounts, even when it fails.

mod daemon;
mod doubles;
mod e2e_bytes;
mod e2e_cache;
mod e2e_faults;
mod e2e_fixture;
mod e2e_mmap;
mod e2e_traffic;
mod fakehub;
mod faults;
mod harness;
mod real_engine;

use std::fs;
use std::io::Read;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use doubles::{pseudo_random, MemReader, TestFile, TestHub};
use harness::{io, Opts, TestMount};
use xetfs::hub::RepoId;
use xetfs::remote::RemoteError;

/// A hub with `org/model` (main, tag v1 = main, refs/pr/1) and dataset `org/data`.
struct World {
    hub: Arc<TestHub>,
    reader: Arc<MemReader>,
    model: Vec<TestFile>,
    main_commit: String,
}

fn world() -> World {
    let hub = Arc::new(TestHub::default());
    let reader = Arc::new(MemReader::default());
    let model = vec![
        TestFile::plain("config.json", &b"{\"hidden_size\": 8}\n"[..]),
        TestFile::xet("model.safetensors", pseudo_random(3 * 1024 * 1024 + 123, 1)),
        TestFile::xet("sub/dir/notes.txt", &b"deep file\n"[..]),
    ];
    let main_commit = hub.commit(&RepoId::model("org/model"), &["main", "v1"], &model);
    let pr = vec![TestFile::plain(
        "config.json",
        &b"{\"hidden_size\": 16}\n"[..],
    )];
    hub.commit(&RepoId::model("org/model"), &["refs/pr/1"], &pr);
    let data = vec![TestFile::xet("train.csv", &b"a,b\n1,2\n"[..])];
    hub.commit(&RepoId::dataset("org/data"), &["main"], &data);
    for files in [&model, &pr, &data] {
        reader.add(files);
    }
    World {
        hub,
        reader,
        model,
        main_commit,
    }
}

fn mount(w: &World, opts: Opts) -> Option<TestMount> {
    TestMount::start(w.hub.clone(), w.reader.clone(), opts)
}

fn read(m: &TestMount, rel: &str) -> std::io::Result<Vec<u8>> {
    let p = m.path(rel);
    io(&format!("read {rel}"), move || fs::read(p))
}

fn list(m: &TestMount, rel: &str) -> Vec<String> {
    let p = m.path(rel);
    let mut names: Vec<String> = io(&format!("list {rel}"), move || {
        fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect()
    });
    names.sort();
    names
}

fn errno<T: std::fmt::Debug>(r: std::io::Result<T>) -> i32 {
    r.expect_err("expected an error").raw_os_error().unwrap()
}

fn meta(m: &TestMount, rel: &str) -> std::io::Result<fs::Metadata> {
    let p = m.path(rel);
    io(&format!("stat {rel}"), move || fs::metadata(p))
}

#[test]
fn browse_stat_and_read() {
    let w = world();
    let Some(m) = mount(&w, Opts::default()) else {
        return;
    };
    assert!(list(&m, "").is_empty(), "nothing used yet");
    assert_eq!(
        list(&m, "org/model"),
        ["config.json", "model.safetensors", "sub"]
    );
    assert_eq!(list(&m, "org/model/sub/dir"), ["notes.txt"]);

    let model = &w.model[1];
    let st = meta(&m, "org/model/model.safetensors").unwrap();
    assert!(st.is_file());
    assert_eq!(st.len(), model.data.len() as u64);
    assert_eq!(st.mode() & 0o7777, 0o444);
    assert_eq!(st.blksize(), 1 << 20);
    assert!(meta(&m, "org/model/sub").unwrap().is_dir());

    assert_eq!(read(&m, "org/model/model.safetensors").unwrap(), model.data);
    assert_eq!(read(&m, "org/model/config.json").unwrap(), w.model[0].data);
    assert_eq!(
        read(&m, "org/model/sub/dir/notes.txt").unwrap(),
        w.model[2].data
    );

    // Positioned reads across page, request and EOF boundaries.
    let p = m.path("org/model/model.safetensors");
    let data = model.data.clone();
    io("pread", move || {
        let f = fs::File::open(p).unwrap();
        let len = data.len() as u64;
        for (off, n) in [
            (0u64, 1usize),
            (4095, 2),
            (1 << 20, 1 << 20),
            (len - 10, 10),
            (len - 3, 100),
            (len, 10),
        ] {
            let mut buf = vec![0u8; n];
            let got = f.read_at(&mut buf, off).unwrap();
            let want = &data[(off as usize).min(data.len())..(off as usize + n).min(data.len())];
            assert_eq!(&buf[..got], want, "offset {off} len {n}");
        }
    });
    // A listing was fetched once and the branch resolved once, however often it was used.
    assert_eq!(w.hub.resolves(), 1);
    assert_eq!(w.hub.lists.load(Ordering::SeqCst), 1);

    if unsafe { libc::geteuid() } == 0 {
        assert_eq!(xetfs::fs::mount::read_ahead(m.root()).unwrap(), 4 << 20);
    }
}

#[test]
fn writes_are_refused_with_erofs() {
    let w = world();
    let Some(m) = mount(&w, Opts::default()) else {
        return;
    };
    let (existing, dir) = (m.path("org/model/config.json"), m.path("org/model"));
    io("writes", move || {
        let erofs = Some(libc::EROFS);
        assert_eq!(
            fs::File::create(dir.join("new"))
                .unwrap_err()
                .raw_os_error(),
            erofs
        );
        let w = fs::OpenOptions::new().write(true).open(&existing);
        assert_eq!(w.unwrap_err().raw_os_error(), erofs);
        assert_eq!(
            fs::remove_file(&existing).unwrap_err().raw_os_error(),
            erofs
        );
        assert_eq!(
            fs::create_dir(dir.join("d")).unwrap_err().raw_os_error(),
            erofs
        );
        assert_eq!(
            fs::rename(&existing, dir.join("x"))
                .unwrap_err()
                .raw_os_error(),
            erofs
        );
        assert_eq!(
            fs::remove_dir(dir.join("sub")).unwrap_err().raw_os_error(),
            erofs
        );
    });
    // Still intact.
    assert_eq!(read(&m, "org/model/config.json").unwrap(), w.model[0].data);
}

#[test]
fn root_lists_what_was_used_and_hides_stats() {
    let w = world();
    let Some(m) = mount(&w, Opts::default()) else {
        return;
    };
    read(&m, "org/model/config.json").unwrap();
    assert_eq!(list(&m, ""), ["org"]);
    assert_eq!(list(&m, "org"), ["model"]);
    read(&m, "org/model@v1/config.json").unwrap();
    read(&m, "datasets/org/data/train.csv").unwrap();
    assert_eq!(list(&m, ""), ["datasets", "org"]);
    assert_eq!(list(&m, "org"), ["model", "model@v1"]);
    assert_eq!(list(&m, "datasets/org"), ["data"]);

    let stats = m.stats();
    assert_eq!(stats["pid"], std::process::id());
    // config.json through `model` and `model@v1` is one inode: its second read hit the page
    // cache, so two files were read through the engine.
    assert_eq!(stats["fs"]["reads"], 2);
    assert_eq!(stats["reader"]["reads"], w.reader.reads());
    assert_eq!(stats["catalog"]["tree_calls"], 2);
    assert!(!list(&m, "").contains(&".xetfs-stats".to_string()));
}

#[test]
fn revisions_and_datasets() {
    let w = world();
    let Some(m) = mount(&w, Opts::default()) else {
        return;
    };
    assert_eq!(
        read(&m, "org/model@refs%2Fpr%2F1/config.json").unwrap(),
        b"{\"hidden_size\": 16}\n"
    );
    assert_eq!(list(&m, "org/model@refs%2Fpr%2F1"), ["config.json"]);
    assert_eq!(
        read(&m, "datasets/org/data/train.csv").unwrap(),
        b"a,b\n1,2\n"
    );
    assert_eq!(errno(read(&m, "org/model@nope/config.json")), libc::ENOENT);
    assert_eq!(errno(meta(&m, "org/missing")), libc::ENOENT);
    assert_eq!(errno(meta(&m, "org/model/missing.bin")), libc::ENOENT);

    // The same file through a branch, a tag and its commit is one inode (one page cache).
    let a = meta(&m, "org/model/model.safetensors").unwrap();
    let b = meta(&m, "org/model@v1/model.safetensors").unwrap();
    let c = meta(
        &m,
        &format!("org/model@{}/model.safetensors", w.main_commit),
    )
    .unwrap();
    assert_eq!((a.ino(), a.ino()), (b.ino(), c.ino()));
}

#[test]
fn names_that_cannot_be_repos_never_reach_the_hub() {
    let w = world();
    let Some(m) = mount(&w, Opts::default()) else {
        return;
    };
    let before = w.hub.resolves();
    for probe in [
        ".git",
        ".Trash",
        ".Trash-0",
        "autorun.inf",
        "org/.git",
        "org/.hidden",
        "datasets/.x",
        "org/a b",
        "org/model@",
    ] {
        assert_eq!(errno(meta(&m, probe)), libc::ENOENT, "{probe}");
    }
    assert_eq!(w.hub.resolves(), before);
    assert!(m.stats()["fs"]["fast_enoent"].as_u64().unwrap() >= 8);
}

#[test]
fn pinned_commit_is_never_resolved() {
    let w = world();
    let opts = Opts {
        metadata_ttl: Duration::ZERO,
        ..Opts::default()
    };
    let Some(m) = mount(&w, opts) else {
        return;
    };
    let dir = format!("org/model@{}", w.main_commit);
    for _ in 0..3 {
        assert_eq!(
            read(&m, &format!("{dir}/config.json")).unwrap(),
            w.model[0].data
        );
        list(&m, &dir);
    }
    assert_eq!(w.hub.resolves(), 0);
    assert_eq!(w.hub.lists.load(Ordering::SeqCst), 1);
}

#[test]
fn branch_move_keeps_open_handles_on_their_content() {
    let w = world();
    let opts = Opts {
        metadata_ttl: Duration::ZERO, // every path walk re-resolves main
        ..Opts::default()
    };
    let Some(m) = mount(&w, opts) else {
        return;
    };
    let old = w.model[1].clone();
    let path = m.path("org/model/model.safetensors");
    let p = path.clone();
    let (handle, old_ino) = io("open", move || {
        let f = fs::File::open(p).unwrap();
        let ino = f.metadata().unwrap().ino();
        (f, ino)
    });
    let config_ino = meta(&m, "org/model/config.json").unwrap().ino();

    // main moves: the model changes, config.json does not.
    let new = TestFile::xet("model.safetensors", pseudo_random(1024 * 1024 + 7, 2));
    let moved = vec![w.model[0].clone(), new.clone(), w.model[2].clone()];
    w.reader.add(&moved);
    w.hub.commit(&RepoId::model("org/model"), &["main"], &moved);

    // The open handle still reads the old bytes, all of them.
    let got = io("read old handle", move || {
        let mut buf = Vec::new();
        let mut f = handle;
        f.read_to_end(&mut buf).unwrap();
        buf
    });
    assert_eq!(got, old.data);
    // A fresh open sees the new content under a new inode; the unchanged file keeps its inode.
    assert_eq!(read(&m, "org/model/model.safetensors").unwrap(), new.data);
    let st = meta(&m, "org/model/model.safetensors").unwrap();
    assert_ne!(st.ino(), old_ino);
    assert_eq!(st.len(), new.data.len() as u64);
    assert_eq!(meta(&m, "org/model/config.json").unwrap().ino(), config_ino);
}

#[test]
fn large_directory_is_listed_completely() {
    let w = world();
    let files: Vec<TestFile> = (0..3000)
        .map(|i| {
            TestFile::plain(
                &format!("shards/part-{i:05}-with-a-longish-name.parquet"),
                Bytes::from(vec![i as u8; 3]),
            )
        })
        .collect();
    w.hub.commit(&RepoId::dataset("org/big"), &["main"], &files);
    let Some(m) = mount(&w, Opts::default()) else {
        return;
    };
    let names = list(&m, "datasets/org/big/shards");
    let want: Vec<String> = files
        .iter()
        .map(|f| f.path["shards/".len()..].to_string())
        .collect();
    assert_eq!(names, want);
}

#[test]
fn redacted_hash_is_resolved_on_open() {
    let w = world();
    let mut hidden = TestFile::xet("hidden.bin", pseudo_random(5000, 3));
    hidden.redacted = true;
    w.reader.add(std::slice::from_ref(&hidden));
    w.hub.commit(
        &RepoId::model("org/secret"),
        &["main"],
        std::slice::from_ref(&hidden),
    );
    let Some(m) = mount(&w, Opts::default()) else {
        return;
    };
    assert_eq!(meta(&m, "org/secret/hidden.bin").unwrap().len(), 5000);
    assert_eq!(w.hub.heads.load(Ordering::SeqCst), 0, "stat needs no HEAD");
    assert_eq!(read(&m, "org/secret/hidden.bin").unwrap(), hidden.data);
    assert_eq!(read(&m, "org/secret/hidden.bin").unwrap(), hidden.data);
    assert_eq!(w.hub.heads.load(Ordering::SeqCst), 1);
}

#[test]
fn offline_mount_serves_what_an_earlier_mount_saw() {
    let w = world();
    let meta_dir = tempfile::tempdir().unwrap();
    let opts = Opts {
        meta_dir: Some(meta_dir.path().to_path_buf()),
        ..Opts::default()
    };
    {
        let Some(m) = mount(&w, opts.clone()) else {
            return;
        };
        read(&m, "org/model/config.json").unwrap();
    }
    // The Hub is gone now; offline mode must not even try it.
    *w.hub.fail.lock() = Some(RemoteError::Transient("down".into()));
    let calls = w.hub.resolves();
    let offline = Opts {
        offline: true,
        ..opts.clone()
    };
    let m = mount(&w, offline).unwrap();
    assert_eq!(read(&m, "org/model/config.json").unwrap(), w.model[0].data);
    assert_eq!(
        list(&m, "org/model"),
        ["config.json", "model.safetensors", "sub"]
    );
    assert_eq!(errno(meta(&m, "org/never-seen")), libc::ENOENT);
    assert_eq!(w.hub.resolves(), calls);
    drop(m);

    // Online with an unreachable Hub after the TTL: the last known state is served.
    let stale = Opts {
        metadata_ttl: Duration::ZERO,
        ..opts
    };
    let m = mount(&w, stale).unwrap();
    assert_eq!(read(&m, "org/model/config.json").unwrap(), w.model[0].data);
    assert!(w.hub.resolves() > calls);
    assert!(m.stats()["catalog"]["served_stale"].as_u64().unwrap() >= 1);
    assert_eq!(errno(meta(&m, "org/never-seen")), libc::EIO);
}

#[test]
fn released_handles_reach_the_reader() {
    let w = world();
    let Some(m) = mount(&w, Opts::default()) else {
        return;
    };
    read(&m, "org/model/config.json").unwrap();
    // release is asynchronous in the kernel: poll by counter.
    let reader = w.reader.clone();
    let released = io("release", move || {
        (0..200).any(|_| {
            if reader.released() >= 1 {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
            false
        })
    });
    assert!(released);
}
