//! Fault injection: each kind does what it says, counted rules stop, and the server still shuts
//! down promptly with stalled connections open.

use std::time::Duration;

use reqwest::StatusCode;
use xetfs::serve::{FaultConfig, ServeConfig};
use xetfs::xet::reconstruction::{ByteRange, ReconstructionV2};

use crate::support::*;

fn rules(json: &str) -> FaultConfig {
    serde_json::from_str(json).unwrap()
}

/// A presigned URL and one descriptor of `model.safetensors`.
async fn descriptor(t: &TestServer) -> (String, ByteRange) {
    let (token, cas) = t.read_token(REPO, "main").await;
    let (hash, _) = t.xet_hash("model.safetensors").await;
    let rec: ReconstructionV2 = get(
        &t.http,
        &format!("{cas}/v2/reconstructions/{hash}"),
        Some(&token),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let f = &rec.xorbs.values().next().unwrap()[0];
    (f.url.clone(), f.ranges[0].bytes)
}

#[tokio::test]
async fn status_bursts_stop_after_their_count() {
    let t = sample_server(ServeConfig::default()).await;
    let (url, d) = descriptor(&t).await;
    t.server.set_faults(rules(
        r#"{"rules":[{"target":"xorb_get","kind":"status","status":503,"count":3}]}"#,
    ));
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(fetch_range(&t.http, &url, d).await.status().as_u16());
    }
    assert_eq!(statuses, [503, 503, 503, 206, 206]);
    let m = t.server.metrics();
    assert_eq!(m.counter("faults_injected.status"), 3);
    assert_eq!(m.endpoint("xorb_get").status_count(503), 3);
}

#[tokio::test]
async fn truncated_and_corrupted_bodies() {
    let t = sample_server(ServeConfig::default()).await;
    let (url, d) = descriptor(&t).await;
    let good = fetch_range(&t.http, &url, d).await.bytes().await.unwrap();

    t.server.set_faults(rules(
        r#"{"rules":[{"target":"xorb_get","kind":"truncate","count":1}]}"#,
    ));
    let before = t.server.metrics().endpoint("xorb_get").bytes_sent;
    let r = fetch_range(&t.http, &url, d).await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        r.content_length(),
        Some(d.len()),
        "the full length is announced"
    );
    assert!(r.bytes().await.is_err(), "the body ends early");
    let sent = t.server.metrics().endpoint("xorb_get").bytes_sent - before;
    assert_eq!(sent, d.len() / 2, "exactly half was sent");

    t.server.set_faults(rules(
        r#"{"rules":[{"target":"xorb_get","kind":"corrupt","at":10,"count":1}]}"#,
    ));
    let bad = fetch_range(&t.http, &url, d).await.bytes().await.unwrap();
    assert_eq!(bad.len(), good.len());
    let diffs: Vec<usize> = (0..good.len()).filter(|&i| good[i] != bad[i]).collect();
    assert_eq!(diffs, [10]);
    // Counted out: clean again.
    assert_eq!(
        fetch_range(&t.http, &url, d).await.bytes().await.unwrap(),
        good
    );
}

#[tokio::test]
async fn resets_stalls_and_slow_bodies() {
    let t = sample_server(ServeConfig::default()).await;
    let (url, d) = descriptor(&t).await;
    let good = fetch_range(&t.http, &url, d).await.bytes().await.unwrap();

    t.server.set_faults(rules(
        r#"{"rules":[{"target":"xorb_get","kind":"reset","count":1}]}"#,
    ));
    let err = t
        .http
        .get(&url)
        .header("range", format!("bytes={}", d.http_spec()))
        .send()
        .await;
    assert!(err.is_err(), "no answer on a reset connection");

    // A short stall mid-body, a bandwidth cap and latency: bytes arrive intact.
    t.server.set_faults(rules(
        r#"{"rules":[{"target":"xorb_get","kind":"stall","after":1000,"ms":100,"count":1},
                     {"target":"xorb_get","kind":"bandwidth","bytes_per_sec":4000000,"count":1},
                     {"target":"all","kind":"latency","ms":5,"count":1}]}"#,
    ));
    assert_eq!(
        fetch_range(&t.http, &url, d).await.bytes().await.unwrap(),
        good
    );
    let m = t.server.metrics();
    for kind in ["reset", "stall", "bandwidth", "latency"] {
        assert_eq!(m.counter(&format!("faults_injected.{kind}")), 1, "{kind}");
    }

    // A stall without end: the client gives up; shutdown still cuts the connection at once.
    t.server
        .set_faults(rules(r#"{"rules":[{"target":"xorb_get","kind":"stall"}]}"#));
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let held = tokio::spawn({
        let (url, range) = (url.clone(), format!("bytes={}", d.http_spec()));
        async move { impatient.get(&url).header("range", range).send().await }
    });
    let err = held.await.unwrap().unwrap_err();
    assert!(err.is_timeout(), "{err}");
    let TestServer { server, .. } = t;
    tokio::time::timeout(Duration::from_secs(30), server.shutdown())
        .await
        .expect("shutdown does not wait for stalled connections");
}

#[tokio::test]
async fn short_lived_urls_and_tokens() {
    let t = sample_server(ServeConfig::default()).await;
    t.server.set_faults(rules(
        r#"{"rules":[{"target":"reconstruction_v2","kind":"url_expiry","secs":0,"count":1},
                     {"target":"xet_read_token","kind":"token_expiry","secs":0,"count":1}]}"#,
    ));
    let (expired_token, cas) = t.read_token(REPO, "main").await;
    let (hash, _) = t.xet_hash("model.safetensors").await;
    let r = get(
        &t.http,
        &format!("{cas}/v2/reconstructions/{hash}"),
        Some(&expired_token),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "expired CAS token");
    let (url, d) = descriptor(&t).await;
    let r = fetch_range(&t.http, &url, d).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "expired presigned URL");
    // The next reconstruction hands out a fresh, valid URL (what clients do after a 403).
    let (url, d) = descriptor(&t).await;
    assert_eq!(
        fetch_range(&t.http, &url, d).await.status(),
        StatusCode::PARTIAL_CONTENT
    );
}

#[tokio::test]
async fn faults_endpoint_replaces_rules() {
    let t = sample_server(ServeConfig::default()).await;
    let url = t.url("/_xetfs/faults");
    for bad in ["{", r#"{"rules":[{"target":"nowhere","kind":"reset"}]}"#] {
        let r = t.http.post(&url).body(bad).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let json =
        r#"{"seed":5,"rules":[{"target":"resolve","kind":"status","status":500,"count":1}]}"#;
    let r = t.http.post(&url).body(json).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let current: FaultConfig = t.http.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(current, rules(json));
    let resolve = t.url(&format!("/{REPO}/resolve/main/config.json"));
    assert_eq!(
        t.http.get(&resolve).send().await.unwrap().status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        t.http.get(&resolve).send().await.unwrap().status(),
        StatusCode::OK
    );
    // The metrics endpoint is never faulted and reports the injection.
    let m: xetfs::serve::MetricsSnapshot = t
        .http
        .get(t.url("/metrics"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(m.counter("faults_injected.status"), 1);
    assert_eq!(m.endpoint("resolve").status_count(500), 1);
}
