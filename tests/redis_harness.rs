//! The Redis test harness (tests/support/redis.rs) against the `redis` crate's cluster client:
//! keys land on the node that serves their hash tag, hash-tagged MGET and `SET NX PX` work, and
//! a killed or frozen (SIGSTOP) node ends in an error within a deadline, never a hang.
//! Needs Debian's `redis-server`; under tests/run.sh (`XETFS_REQUIRE_REDIS=1`) a missing one fails.

#[path = "support/redis.rs"]
mod redis_support;

use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{AsyncCommands, ErrorKind, ExistenceCheck, RedisError, ServerErrorKind, SetExpiry};
use redis::{AsyncConnectionConfig, SetOptions};
use redis_support::{Options, Redis};

/// The client's own deadlines: what a chunk tier would use (tens to hundreds of ms).
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(300);
/// Our outer deadline around every call: if it fires, the client's own deadline did not.
const OUTER: Duration = Duration::from_secs(10);
/// How long a failure may take to show (the cluster's node timeout is 2 s).
const FAILURE_DEADLINE: Duration = Duration::from_secs(30);

async fn cluster_connection(redis: &Redis) -> ClusterConnection {
    cluster_connection_with_retries(redis, 1).await
}

/// `retries`: the client retries MOVED/ASK, I/O errors and (after a wait) CLUSTERDOWN/TRYAGAIN,
/// all inside `response_timeout`.
async fn cluster_connection_with_retries(redis: &Redis, retries: u32) -> ClusterConnection {
    let client = ClusterClient::builder(redis.urls())
        .connection_timeout(CONNECT_TIMEOUT)
        .response_timeout(RESPONSE_TIMEOUT)
        .retries(retries)
        .build()
        .unwrap();
    within(client.get_async_connection()).await.unwrap()
}

/// Runs a call under the outer deadline; panics if only that deadline ended it.
async fn within<T>(call: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(OUTER, call)
        .await
        .expect("the client's own deadline did not fire within the outer one")
}

fn key(redis: &Redis, node: usize, i: usize) -> String {
    format!("xf1:{}:{i}", redis.hash_tag(node))
}

fn value(node: usize, i: usize) -> Vec<u8> {
    // Binary, like chunk records: every byte value, a node/index marker.
    (0..=255u8)
        .cycle()
        .take(4096 + i)
        .chain([node as u8])
        .collect()
}

#[tokio::test]
async fn cluster_serves_hash_tagged_keys_from_their_node() {
    let Some(redis) = Redis::cluster() else {
        return;
    };
    let mut con = cluster_connection(&redis).await;
    let info: String = redis::cmd("INFO")
        .arg("cluster")
        .query(&mut redis.node_connection(0))
        .unwrap();
    assert!(info.contains("cluster_enabled:1"), "{info}");
    for node in 0..redis.len() {
        for i in 0..4 {
            let () = within(con.set(key(&redis, node, i), value(node, i)))
                .await
                .unwrap();
        }
        // One MGET fetches a run of keys that share a hash tag (one slot, one node).
        let keys: Vec<String> = (0..4).map(|i| key(&redis, node, i)).collect();
        let got: Vec<Option<Vec<u8>>> = within(con.mget(&keys)).await.unwrap();
        let want: Vec<Option<Vec<u8>>> = (0..4).map(|i| Some(value(node, i))).collect();
        assert_eq!(got, want);
        // The node serving the tag holds the value itself (no redirection on a direct read).
        let direct: Vec<u8> = redis::cmd("GET")
            .arg(key(&redis, node, 0))
            .query(&mut redis.node_connection(node))
            .unwrap();
        assert_eq!(direct, value(node, 0));
    }
    // Keys of different slots in one MGET: the cluster client splits it per slot.
    let spread: Vec<String> = (0..redis.len()).map(|n| key(&redis, n, 1)).collect();
    let got: Vec<Option<Vec<u8>>> = within(con.mget(&spread)).await.unwrap();
    assert_eq!(
        got,
        (0..redis.len())
            .map(|n| Some(value(n, 1)))
            .collect::<Vec<_>>()
    );
    // The server itself refuses such a MGET.
    let err = redis::cmd("MGET")
        .arg(&spread)
        .query::<Vec<Option<Vec<u8>>>>(&mut redis.node_connection(0))
        .unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Server(ServerErrorKind::CrossSlot | ServerErrorKind::Moved)
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn set_nx_px_is_a_lock_that_expires() {
    let Some(redis) = Redis::cluster() else {
        return;
    };
    let mut con = cluster_connection(&redis).await;
    let lock = format!("xf1:{}:lock", redis.hash_tag(1));
    let opts = || {
        SetOptions::default()
            .conditional_set(ExistenceCheck::NX)
            .with_expiration(SetExpiry::PX(300))
    };
    let first: Option<String> = within(con.set_options(&lock, "node-a", opts()))
        .await
        .unwrap();
    assert_eq!(first.as_deref(), Some("OK"));
    let second: Option<String> = within(con.set_options(&lock, "node-b", opts()))
        .await
        .unwrap();
    assert_eq!(second, None, "a held lock is not taken twice");
    let ttl: i64 = within(con.pttl(&lock)).await.unwrap();
    assert!((1..=300).contains(&ttl), "pttl {ttl}");
    // A holder that never releases: the lock expires by itself.
    let deadline = Instant::now() + FAILURE_DEADLINE;
    loop {
        let taken: Option<String> = within(con.set_options(&lock, "node-b", opts()))
            .await
            .unwrap();
        if taken.is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "the lock never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let holder: Option<String> = within(con.get(&lock)).await.unwrap();
    assert_eq!(holder.as_deref(), Some("node-b"));
}

/// Key 0 of every node, set through the cluster client.
async fn set_key_on_every_node(con: &mut ClusterConnection, redis: &Redis) {
    for node in 0..redis.len() {
        let () = within(con.set(key(redis, node, 0), value(node, 0)))
            .await
            .unwrap();
    }
}

/// Polls `GET key` until it fails with an error that `wanted` accepts; prints every answer on
/// the way (what a tier sees while the cluster notices a dead node). Panics after the deadline.
async fn error_until(
    con: &mut ClusterConnection,
    key: &str,
    wanted: impl Fn(&RedisError) -> bool,
) -> RedisError {
    let deadline = Instant::now() + FAILURE_DEADLINE;
    loop {
        let started = Instant::now();
        let answer = within(con.get::<_, Option<Vec<u8>>>(key)).await;
        let shown = answer.as_ref().map(|v| v.as_ref().map(Vec::len));
        eprintln!(
            "GET {key} after {:?}: {shown:?} (value length)",
            started.elapsed()
        );
        match answer {
            Err(e) if wanted(&e) => return e,
            other => assert!(Instant::now() < deadline, "GET {key}: last {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls `GET key` until it returns `want`.
async fn until_served(con: &mut ClusterConnection, key: &str, want: &[u8]) {
    let deadline = Instant::now() + FAILURE_DEADLINE;
    loop {
        match within(con.get::<_, Option<Vec<u8>>>(key)).await {
            Ok(Some(v)) if v == want => return,
            other => assert!(Instant::now() < deadline, "GET {key}: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn killed_node_fails_its_slots_and_the_others_keep_serving() {
    let Some(mut redis) = Redis::cluster() else {
        return;
    };
    let mut con = cluster_connection(&redis).await;
    set_key_on_every_node(&mut con, &redis).await;
    redis.kill(2);
    // Seen: connection refused, and MOVED to the dead node once the client's retries are spent.
    error_until(&mut con, &key(&redis, 2, 0), |e| {
        e.is_io_error()
            || e.kind() == ErrorKind::Server(ServerErrorKind::ClusterDown)
            || e.kind() == ErrorKind::Server(ServerErrorKind::Moved)
            || e.kind() == ErrorKind::ClusterConnectionNotFound
    })
    .await;
    // cluster-require-full-coverage no: the surviving nodes' slots stay readable.
    until_served(&mut con, &key(&redis, 0, 0), &value(0, 0)).await;
    until_served(&mut con, &key(&redis, 1, 0), &value(1, 0)).await;
}

#[tokio::test]
async fn killed_node_with_full_coverage_is_clusterdown_everywhere() {
    let options = Options {
        require_full_coverage: true,
        ..Options::cluster()
    };
    let Some(mut redis) = Redis::start(options) else {
        return;
    };
    // With retries the client waits and retries CLUSTERDOWN until its response timeout: the caller
    // would see "timed out". Without, CLUSTERDOWN itself.
    let mut con = cluster_connection_with_retries(&redis, 0).await;
    let () = within(con.set(key(&redis, 0, 0), value(0, 0)))
        .await
        .unwrap();
    redis.kill(2);
    // A key of a healthy node fails once the others agree that node 2 is down.
    error_until(&mut con, &key(&redis, 0, 0), |e| {
        e.kind() == ErrorKind::Server(ServerErrorKind::ClusterDown)
    })
    .await;
}

#[tokio::test]
async fn frozen_node_hits_the_client_response_timeout() {
    let Some(redis) = Redis::cluster() else {
        return;
    };
    let mut con = cluster_connection(&redis).await;
    set_key_on_every_node(&mut con, &redis).await;
    redis.stop(1);
    let started = Instant::now();
    let err = within(con.get::<_, Option<Vec<u8>>>(key(&redis, 1, 0)))
        .await
        .unwrap_err();
    eprintln!(
        "GET on the frozen node failed after {:?}: {err:?}",
        started.elapsed()
    );
    assert!(err.is_timeout(), "{err:?}");
    // The other nodes answer meanwhile.
    until_served(&mut con, &key(&redis, 0, 0), &value(0, 0)).await;
    redis.cont(1);
    until_served(&mut con, &key(&redis, 1, 0), &value(1, 0)).await;
}

async fn single_connection(redis: &Redis) -> MultiplexedConnection {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT));
    let client = redis::Client::open(redis.url(0)).unwrap();
    within(client.get_multiplexed_async_connection_with_config(&config))
        .await
        .unwrap()
}

#[tokio::test]
async fn single_node_mode_and_its_response_timeout() {
    let Some(redis) = Redis::single() else { return };
    let mut con = single_connection(&redis).await;
    // How a client tells plain Redis from a cluster.
    let info: String = within(redis::cmd("INFO").arg("cluster").query_async(&mut con))
        .await
        .unwrap();
    assert!(info.contains("cluster_enabled:0"), "{info}");
    let () = within(con.set("xf1:{x}:0", value(0, 0))).await.unwrap();
    let got: Vec<u8> = within(con.get("xf1:{x}:0")).await.unwrap();
    assert_eq!(got, value(0, 0));
    redis.stop(0);
    let err = within(con.get::<_, Option<Vec<u8>>>("xf1:{x}:0"))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    redis.cont(0);
    let got: Vec<u8> = within(con.get("xf1:{x}:0")).await.unwrap();
    assert_eq!(got, value(0, 0));
}
