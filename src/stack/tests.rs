//! The stack as a front end uses it: build from `Settings`, describe a file through the catalog,
//! read it through the engine. Over the in-memory remote, so every remote call is counted.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::hub::RepoId;
use crate::remote::RemoteError;
use crate::testkit::faulty::{FaultyRemote, Method};
use crate::testkit::mock::MockRemote;
use crate::testkit::runtime;
use crate::util::splitmix::splitmix_bytes;

fn settings(cache_dir: Option<&std::path::Path>, offline: bool) -> Settings {
    let mut s = Settings::new("http://mock.invalid");
    s.cache.dir = cache_dir.map(|d| d.to_path_buf());
    s.offline = offline;
    s
}

/// Everything a download does: resolve, list, describe, read every file.
async fn read_all(stack: &Stack, repo: &RepoId) -> Vec<(String, Bytes)> {
    let snap = stack.catalog.snapshot(repo, "main").await.unwrap();
    let mut out = Vec::new();
    for file in snap.files() {
        let desc = stack.catalog.file_desc(&file).await.unwrap();
        let bytes = stack
            .engine
            .read(&desc, 0, desc.size as u32, 1)
            .await
            .unwrap();
        out.push((file.path.clone(), bytes));
    }
    out
}

/// Each stack in its own runtime: shutting the runtime down stops the engine's background
/// tasks, which release the disk cache's lock for the next stack.
#[test]
fn a_front_end_reads_through_the_stack_and_offline_from_its_cache() {
    let mock = Arc::new(MockRemote::new());
    let repo = RepoId::model("org/m");
    let weights = Bytes::from(splitmix_bytes(3, 300_000));
    let config = Bytes::from_static(b"{}\n");
    mock.commit(&repo, "main")
        .xet("w.bin", weights.clone())
        .plain("config.json", config.clone())
        .push();
    let cache = tempfile::tempdir().unwrap();
    let want = vec![
        ("config.json".to_string(), config),
        ("w.bin".to_string(), weights),
    ];
    runtime().block_on(async {
        let online = settings(Some(cache.path()), false);
        let stack = Stack::with_remote(online, mock.clone()).unwrap();
        assert_eq!(read_all(&stack, &repo).await, want);
        stack.engine.flush().await;
        assert_eq!(stack.catalog.stats().counts.tree_calls, 1);
    });
    assert!(mock.counters().xorb_bytes > 0);
    mock.reset_counters();
    // Offline reaches every layer: the catalog answers from the metadata store, the engine from
    // the disk cache, and the remote is never called.
    runtime().block_on(async {
        let offline = Stack::with_remote(settings(Some(cache.path()), true), mock.clone()).unwrap();
        assert_eq!(read_all(&offline, &repo).await, want);
        let e = offline.catalog.resolve(&repo, "other").await.unwrap_err();
        assert!(matches!(e, RemoteError::Offline(_)), "{e:?}");
        assert!(offline.engine.stats().disk_hits > 0);
    });
    let calls = mock.counters();
    assert_eq!(calls, Default::default(), "offline made a remote call");
}

#[tokio::test]
async fn the_hub_call_deadline_of_the_settings_bounds_catalog_calls() {
    let mock = Arc::new(MockRemote::new());
    let repo = RepoId::model("org/m");
    mock.commit(&repo, "main")
        .plain("a", Bytes::from_static(b"a"))
        .push();
    let faulty = Arc::new(FaultyRemote::new(mock));
    faulty.delay_always(Method::ResolveRevision, Duration::from_secs(3600));
    let mut s = settings(None, false);
    s.deadlines.hub_call = Duration::from_millis(50);
    let stack = Stack::with_remote(s, faulty.clone()).unwrap();
    let e = stack.catalog.resolve(&repo, "main").await.unwrap_err();
    assert!(matches!(e, RemoteError::Timeout(_)), "{e:?}");
    assert_eq!(faulty.stats().delayed, 1, "{:?}", faulty.stats());
}
