//! CAS tokens (JSON or headers, expiry, 401), reconstructions (v2, v1 fallback, 416, bad bodies)
//! and the chunk-hash extension.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;
use xetfs::hub::{RepoId, RepoScope};
use xetfs::remote::{Remote, RemoteError};
use xetfs::xet::reconstruction::{
    ByteRange, ChunkRange, FetchInfoV1, ReconstructionV1, ReconstructionV2, Term, XorbFetch,
    XorbRangeDescriptor,
};
use xetfs::xet::MerkleHash;

use crate::support::*;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn xorb() -> MerkleHash {
    MerkleHash::from_bytes([5; 32])
}

fn file() -> MerkleHash {
    MerkleHash::from_bytes([6; 32])
}

fn scope() -> RepoScope {
    RepoScope {
        repo: RepoId::model("org/m"),
        commit: SHA.into(),
    }
}

fn term() -> Term {
    Term {
        hash: xorb(),
        unpacked_length: 100,
        range: ChunkRange::new(0, 1),
    }
}

fn v2_body(url: &str) -> serde_json::Value {
    let r = ReconstructionV2 {
        offset_into_first_range: 3,
        terms: vec![term()],
        xorbs: HashMap::from([(
            xorb(),
            vec![XorbFetch {
                url: url.into(),
                ranges: vec![XorbRangeDescriptor {
                    chunks: ChunkRange::new(0, 1),
                    bytes: ByteRange { start: 0, end: 57 },
                }],
            }],
        )]),
    };
    serde_json::to_value(r).unwrap()
}

fn v1_body(url: &str) -> serde_json::Value {
    let r = ReconstructionV1 {
        offset_into_first_range: 3,
        terms: vec![term()],
        fetch_info: HashMap::from([(
            xorb(),
            vec![FetchInfoV1 {
                range: ChunkRange::new(0, 1),
                url: url.into(),
                url_range: ByteRange { start: 0, end: 57 },
            }],
        )]),
    };
    serde_json::to_value(r).unwrap()
}

/// How the fake Hub hands out tokens.
#[derive(Clone, Copy)]
enum TokenStyle {
    Json,
    Headers,
}

/// A Hub whose token endpoint issues `cas-token-N` (N counts from 1) valid for `lifetime` s.
async fn start_hub(
    log: Log,
    cas: String,
    style: TokenStyle,
    lifetime: u64,
) -> (String, Arc<AtomicU64>) {
    let issued = Arc::new(AtomicU64::new(0));
    let n = issued.clone();
    let base = serve(log, move |s| {
        let (cas, n) = (cas.clone(), n.clone());
        async move {
            if s.path() != format!("/api/models/org/m/xet-read-token/{SHA}") {
                return status(404);
            }
            assert_eq!(s.auth(), Some("Bearer hf_t"));
            let token = format!("cas-token-{}", n.fetch_add(1, Ordering::SeqCst) + 1);
            let exp = now() + lifetime;
            match style {
                TokenStyle::Json => json(
                    200,
                    json!({"casUrl": cas, "accessToken": token, "exp": exp}),
                ),
                TokenStyle::Headers => reply(
                    200,
                    &[
                        ("x-xet-cas-url", cas),
                        ("x-xet-access-token", token),
                        ("x-xet-token-expiration", exp.to_string()),
                    ],
                    "",
                ),
            }
        }
    })
    .await;
    (base, issued)
}

/// A CAS answering v2 (and v1) reconstructions for tokens accepted by `accept`.
async fn cas(log: Log, accept: fn(&str) -> bool, v2: bool) -> String {
    serve(log, move |s| async move {
        let token = s
            .auth()
            .and_then(|a| a.strip_prefix("Bearer "))
            .unwrap_or("");
        if !accept(token) {
            return status(401);
        }
        let url = format!("{}/xorb", s.base);
        match s.path() {
            p if p == format!("/v2/reconstructions/{}", file()) && v2 => json(200, v2_body(&url)),
            p if p == format!("/v1/reconstructions/{}", file()) => json(200, v1_body(&url)),
            p if p.starts_with("/v2/") => status(404),
            p if p.starts_with("/v1/reconstructions/") && p.ends_with(&"e".repeat(64)) => {
                status(416)
            }
            _ => status(404),
        }
    })
    .await
}

fn any(_: &str) -> bool {
    true
}

#[tokio::test]
async fn tokens_from_json_or_headers_reach_only_the_cas() {
    for style in [TokenStyle::Json, TokenStyle::Headers] {
        let cas_log = Log::default();
        let cas = cas(cas_log.clone(), |t| t == "cas-token-1", true).await;
        let (hub, issued) = start_hub(Log::default(), cas, style, 3600).await;
        let r = remote(&hub, Some("hf_t"));
        let rec = r.reconstruction(&scope(), &file(), 10..20).await.unwrap();
        assert_eq!(rec.terms, vec![term()]);
        assert_eq!(rec.offset_into_first_range, 3);
        r.reconstruction(&scope(), &file(), 0..1).await.unwrap();
        assert_eq!(issued.load(Ordering::SeqCst), 1, "token is cached");
        let seen = cas_log.all();
        assert_eq!(seen[0].header("range"), Some("bytes=10-19"));
        assert_eq!(seen[1].header("range"), Some("bytes=0-0"));
        assert!(seen.iter().all(|s| s.auth() == Some("Bearer cas-token-1")));
    }
}

#[tokio::test]
async fn tokens_near_expiry_are_refreshed() {
    let cas = cas(Log::default(), any, true).await;
    // 10 s left is inside the 30 s refresh margin: every call fetches a new one.
    let (hub, issued) = start_hub(Log::default(), cas, TokenStyle::Json, 10).await;
    let r = remote(&hub, Some("hf_t"));
    for _ in 0..3 {
        r.reconstruction(&scope(), &file(), 0..1).await.unwrap();
    }
    assert_eq!(issued.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_cas_401_refreshes_the_token_once() {
    let cas_log = Log::default();
    // The first token is "revoked".
    let cas = cas(cas_log.clone(), |t| t != "cas-token-1", true).await;
    let (hub, issued) = start_hub(Log::default(), cas, TokenStyle::Json, 3600).await;
    let r = remote(&hub, Some("hf_t"));
    r.reconstruction(&scope(), &file(), 0..1).await.unwrap();
    assert_eq!(issued.load(Ordering::SeqCst), 2);
    assert_eq!(cas_log.len(), 2);

    // A CAS that rejects everything: one refresh, then Unauthorized (no loop).
    let cas_log = Log::default();
    let cas = cas_fn(cas_log.clone()).await;
    let (hub, issued) = start_hub(Log::default(), cas, TokenStyle::Json, 3600).await;
    let e = remote(&hub, Some("hf_t"))
        .reconstruction(&scope(), &file(), 0..1)
        .await
        .unwrap_err();
    assert!(matches!(e, RemoteError::Unauthorized(_)), "{e}");
    assert_eq!(issued.load(Ordering::SeqCst), 2);
    assert_eq!(cas_log.len(), 2);
}

async fn cas_fn(log: Log) -> String {
    cas(log, |_| false, true).await
}

#[tokio::test]
async fn v1_only_servers_are_remembered() {
    let cas_log = Log::default();
    let cas = cas(cas_log.clone(), any, false).await;
    let (hub, _) = start_hub(Log::default(), cas, TokenStyle::Json, 3600).await;
    let r = remote(&hub, Some("hf_t"));
    for _ in 0..3 {
        let rec = r.reconstruction(&scope(), &file(), 0..50).await.unwrap();
        // v1 converted: one descriptor per fetch entry.
        assert_eq!(
            rec.xorbs[&xorb()][0].ranges[0].bytes,
            ByteRange { start: 0, end: 57 }
        );
    }
    assert_eq!(cas_log.count(|s| s.path().starts_with("/v2/")), 1);
    assert_eq!(cas_log.count(|s| s.path().starts_with("/v1/")), 3);
}

#[tokio::test]
async fn a_missing_file_does_not_demote_a_v2_server() {
    let cas_log = Log::default();
    let cas = cas(cas_log.clone(), any, true).await;
    let (hub, _) = start_hub(Log::default(), cas, TokenStyle::Json, 3600).await;
    let r = remote(&hub, Some("hf_t"));
    let other = MerkleHash::from_bytes([1; 32]);
    for _ in 0..2 {
        let e = r.reconstruction(&scope(), &other, 0..1).await.unwrap_err();
        assert!(matches!(e, RemoteError::NotFound(_)), "{e}");
    }
    r.reconstruction(&scope(), &file(), 0..1).await.unwrap();
    assert_eq!(cas_log.count(|s| s.path().starts_with("/v2/")), 3);
}

#[tokio::test]
async fn past_eof_is_range_not_satisfiable() {
    let cas = cas(Log::default(), any, false).await;
    let (hub, _) = start_hub(Log::default(), cas, TokenStyle::Json, 3600).await;
    let eof_file = MerkleHash::from_hex(&"e".repeat(64)).unwrap();
    let e = remote(&hub, Some("hf_t"))
        .reconstruction(&scope(), &eof_file, 1000..2000)
        .await;
    assert!(matches!(e, Err(RemoteError::RangeNotSatisfiable)));
}

#[tokio::test]
async fn bad_reconstruction_bodies_are_protocol_errors_not_retried() {
    for body in [
        "not json".to_string(),
        // Parses, but the term is not covered by any fetch range.
        json!({"offset_into_first_range": 0, "terms": [term()], "xorbs": {}}).to_string(),
    ] {
        let cas_log = Log::default();
        let cas = serve(cas_log.clone(), move |_| {
            let body = body.clone();
            async move { reply(200, &[], body) }
        })
        .await;
        let (hub, _) = start_hub(Log::default(), cas, TokenStyle::Json, 3600).await;
        let e = remote(&hub, Some("hf_t"))
            .reconstruction(&scope(), &file(), 0..1)
            .await
            .unwrap_err();
        assert!(matches!(e, RemoteError::Protocol(_)), "{e}");
        assert_eq!(cas_log.len(), 1);
    }
}

#[tokio::test]
async fn chunk_hashes_are_parsed_or_remembered_as_absent() {
    let listed = vec![
        (MerkleHash::from_bytes([1; 32]), 100u32),
        (MerkleHash::from_bytes([2; 32]), 7),
    ];
    let body = json!({"chunks": listed.iter().map(|(h, l)| json!({"hash": h.to_hex(), "len": l})).collect::<Vec<_>>()});
    let cas_log = Log::default();
    let cas = serve(cas_log.clone(), move |s| {
        let body = body.clone();
        async move {
            assert_eq!(s.auth(), Some("Bearer cas-token-1"));
            if s.path() == format!("/v1/xorbs/default/{}/chunk-hashes", xorb()) {
                json(200, body)
            } else {
                status(404)
            }
        }
    })
    .await;
    let (hub, _) = start_hub(Log::default(), cas, TokenStyle::Json, 3600).await;
    let r = remote(&hub, Some("hf_t"));
    assert_eq!(
        r.xorb_chunk_hashes(&scope(), &xorb()).await.unwrap(),
        Some(listed)
    );
    // Another server without the extension: asked once, then remembered.
    let cas_log2 = Log::default();
    let cas2 = serve(cas_log2.clone(), |_| async { status(404) }).await;
    let (hub2, _) = start_hub(Log::default(), cas2, TokenStyle::Json, 3600).await;
    let r2 = remote(&hub2, Some("hf_t"));
    for _ in 0..3 {
        assert_eq!(r2.xorb_chunk_hashes(&scope(), &xorb()).await.unwrap(), None);
    }
    assert_eq!(cas_log2.len(), 1);
    assert_eq!(cas_log.len(), 1);
}
