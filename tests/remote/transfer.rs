//! Presigned xorb URLs: status and length checks, idle deadline, retries, no credentials; offline.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use xetfs::hub::{RepoId, RepoScope};
use xetfs::remote::http::{HttpRemote, RemoteConfig};
use xetfs::remote::{Remote, RemoteError};
use xetfs::xet::reconstruction::ByteRange;
use xetfs::xet::MerkleHash;

use crate::support::*;

fn data() -> Vec<u8> {
    (0..=255u8).cycle().take(1000).collect()
}

fn r(start: u64, end: u64) -> ByteRange {
    ByteRange { start, end }
}

/// `/ok` honours Range; other paths misbehave in the way their name says.
async fn xorb_host(log: Log) -> String {
    serve(log, |s| async move {
        let d = data();
        let (a, b) = s
            .header("range")
            .and_then(|v| v.strip_prefix("bytes="))
            .and_then(|v| v.split_once('-'))
            .map(|(a, b)| (a.parse::<usize>().unwrap(), b.parse::<usize>().unwrap()))
            .unwrap();
        let part = d[a..=b].to_vec();
        let cr = ("content-range", format!("bytes {a}-{b}/1000"));
        match s.path() {
            "/ok" => reply(206, &[cr], part),
            "/wrong-range" => reply(
                206,
                &[("content-range", format!("bytes {}-{b}/1000", a + 1))],
                part,
            ),
            "/whole" => reply(200, &[], d),
            "/expired" => status(403),
            // Declares the right length, sends half, then the connection breaks.
            "/cut" => {
                let half = Bytes::from(part[..part.len() / 2].to_vec());
                let stream = futures::stream::iter([Ok::<_, std::io::Error>(half)]).chain(
                    futures::stream::once(async {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Err(std::io::Error::other("connection reset"))
                    }),
                );
                reply(
                    206,
                    &[cr, ("content-length", (b - a + 1).to_string())],
                    Body::from_stream(stream),
                )
            }
            // Chunked (no length), short.
            "/short" => {
                let half = Bytes::from(part[..part.len() / 2].to_vec());
                let stream = futures::stream::iter([Ok::<_, std::io::Error>(half)]);
                reply(206, &[cr], Body::from_stream(stream))
            }
            // Chunked, longer than asked.
            "/long" => {
                let mut more = part.clone();
                more.extend_from_slice(b"extra");
                let stream = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from(more))]);
                reply(206, &[cr], Body::from_stream(stream))
            }
            // Declares a different length.
            "/bad-length" => reply(206, &[cr], d[a..].to_vec()),
            // Sends some bytes, then nothing ever again.
            "/stall" => {
                let first = Bytes::from(part[..10].to_vec());
                let stream = futures::stream::iter([Ok::<_, std::io::Error>(first)])
                    .chain(futures::stream::pending());
                reply(
                    206,
                    &[cr, ("content-length", (b - a + 1).to_string())],
                    Body::from_stream(stream),
                )
            }
            _ => status(404),
        }
    })
    .await
}

use futures::StreamExt as _;

#[tokio::test]
async fn ranges_are_checked_and_no_credentials_are_sent() {
    let log = Log::default();
    let host = xorb_host(log.clone()).await;
    // A Hub token is configured; it must not reach the transfer host.
    let rem = remote("http://127.0.0.1:9", Some("hf_t"));
    let u = |p: &str| format!("{host}/{p}?Signature=abc");

    let s = rem.fetch_xorb_range(&u("ok"), r(100, 299)).await.unwrap();
    assert_eq!(collect(s).await, (data()[100..300].to_vec(), None));
    assert_eq!(log.all()[0].header("range"), Some("bytes=100-299"));

    let e = rem.fetch_xorb_range(&u("wrong-range"), r(100, 299)).await;
    assert!(matches!(e, Err(RemoteError::Protocol(_))));
    // 200 with the whole object: fine only when the object is exactly the range.
    let s = rem.fetch_xorb_range(&u("whole"), r(0, 999)).await.unwrap();
    assert_eq!(collect(s).await, (data(), None));
    let e = rem.fetch_xorb_range(&u("whole"), r(0, 99)).await;
    assert!(matches!(e, Err(RemoteError::Protocol(_))));
    let e = rem.fetch_xorb_range(&u("whole"), r(1, 999)).await;
    assert!(matches!(e, Err(RemoteError::Protocol(_))));
    let e = rem.fetch_xorb_range(&u("expired"), r(0, 9)).await;
    assert!(matches!(e, Err(RemoteError::UrlExpired)));
    let e = rem.fetch_xorb_range(&u("bad-length"), r(0, 9)).await;
    assert!(matches!(e, Err(RemoteError::Protocol(_))));

    assert_eq!(log.count(|s| s.auth().is_some()), 0);
    // Error messages never carry the signature.
    let e = rem
        .fetch_xorb_range(&u("nope"), r(0, 9))
        .await
        .err()
        .unwrap();
    assert!(!e.to_string().contains("Signature"), "{e}");
}

#[tokio::test]
async fn consumed_bodies_leave_the_connection_reusable() {
    let log = Log::default();
    let host = xorb_host(log.clone()).await;
    let rem = remote("http://127.0.0.1:9", None);
    for i in 0..5 {
        let s = rem
            .fetch_xorb_range(&format!("{host}/ok"), r(i * 100, i * 100 + 99))
            .await
            .unwrap();
        assert_eq!(collect(s).await.1, None);
    }
    let peers: std::collections::HashSet<_> = log.all().iter().map(|s| s.peer).collect();
    assert_eq!(
        peers.len(),
        1,
        "one pooled connection for sequential fetches"
    );
}

#[tokio::test]
async fn broken_bodies_end_with_an_error() {
    let host = xorb_host(Log::default()).await;
    let rem = remote("http://127.0.0.1:9", None);
    let u = |p: &str| format!("{host}/{p}");

    let (got, e) = collect(rem.fetch_xorb_range(&u("cut"), r(0, 199)).await.unwrap()).await;
    assert!(got.len() < 200);
    assert!(matches!(e, Some(RemoteError::Transient(_))), "{e:?}");
    let (got, e) = collect(rem.fetch_xorb_range(&u("short"), r(0, 199)).await.unwrap()).await;
    assert_eq!(got.len(), 100);
    assert!(matches!(e, Some(RemoteError::Transient(m)) if m.contains("truncated")));
    let (got, e) = collect(rem.fetch_xorb_range(&u("long"), r(0, 199)).await.unwrap()).await;
    assert!(got.len() <= 200);
    assert!(matches!(e, Some(RemoteError::Protocol(_))), "{e:?}");
}

#[tokio::test]
async fn a_stalled_body_hits_the_idle_timeout() {
    let host = xorb_host(Log::default()).await;
    let rem = remote("http://127.0.0.1:9", None);
    let s = rem
        .fetch_xorb_range(&format!("{host}/stall"), r(0, 199))
        .await
        .unwrap();
    let (got, e) = collect(s).await;
    assert_eq!(got.len(), 10);
    assert!(matches!(e, Some(RemoteError::Timeout(_))), "{e:?}");
}

#[tokio::test]
async fn transient_statuses_are_retried_up_to_max_attempts() {
    // Fails `fail` times with 503, then serves.
    async fn flaky(fail: u64) -> (String, Arc<AtomicU64>) {
        let hits = Arc::new(AtomicU64::new(0));
        let h = hits.clone();
        let base = serve(Log::default(), move |_| {
            let n = h.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < fail {
                    status(503)
                } else {
                    reply(206, &[("content-range", "bytes 0-2/3".into())], "abc")
                }
            }
        })
        .await;
        (base, hits)
    }
    let rem = remote("http://127.0.0.1:9", None);
    let (host, hits) = flaky(2).await;
    let s = rem.fetch_xorb_range(&host, r(0, 2)).await.unwrap();
    assert_eq!(collect(s).await.0, b"abc");
    assert_eq!(hits.load(Ordering::SeqCst), 3);

    let (host, hits) = flaky(u64::MAX).await;
    let e = rem.fetch_xorb_range(&host, r(0, 2)).await.err().unwrap();
    assert!(matches!(e, RemoteError::Transient(_)), "{e}");
    assert_eq!(hits.load(Ordering::SeqCst), 3, "max_attempts is 3");

    // 4xx are not retried.
    let hits = Arc::new(AtomicU64::new(0));
    let h = hits.clone();
    let host = serve(Log::default(), move |_| {
        h.fetch_add(1, Ordering::SeqCst);
        async { status(404) }
    })
    .await;
    assert!(matches!(
        rem.fetch_xorb_range(&host, r(0, 2)).await,
        Err(RemoteError::NotFound(_))
    ));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_silent_server_hits_the_response_timeout_on_every_attempt() {
    let log = Log::default();
    let host = serve(log.clone(), |_| async {
        futures::future::pending::<()>().await;
        status(200)
    })
    .await;
    let rem = HttpRemote::new(RemoteConfig {
        response_timeout: Duration::from_millis(200),
        max_attempts: 2,
        ..config("http://127.0.0.1:9", None)
    })
    .unwrap();
    let e = rem.fetch_xorb_range(&host, r(0, 2)).await.err().unwrap();
    assert!(matches!(e, RemoteError::Timeout(_)), "{e}");
    assert_eq!(log.len(), 2);
}

#[tokio::test]
async fn offline_does_no_io() {
    let log = Log::default();
    let base = serve(log.clone(), |_| async { status(200) }).await;
    let rem = HttpRemote::new(RemoteConfig {
        offline: true,
        ..config(&base, Some("hf_t"))
    })
    .unwrap();
    let repo = RepoId::model("org/m");
    let scope = RepoScope {
        repo: repo.clone(),
        commit: SHA.into(),
    };
    let h = MerkleHash::from_bytes([1; 32]);
    let offline = |e: RemoteError| assert!(matches!(e, RemoteError::Offline(_)), "{e}");
    offline(rem.resolve_revision(&repo, "main").await.unwrap_err());
    offline(rem.list_tree(&repo, SHA).await.unwrap_err());
    offline(rem.file_metadata(&repo, SHA, "a").await.unwrap_err());
    offline(rem.get_file(&repo, SHA, "a", None).await.err().unwrap());
    offline(rem.reconstruction(&scope, &h, 0..1).await.unwrap_err());
    offline(rem.fetch_xorb_range(&base, r(0, 1)).await.err().unwrap());
    offline(rem.xorb_chunk_hashes(&scope, &h).await.unwrap_err());
    assert_eq!(log.len(), 0);
}
