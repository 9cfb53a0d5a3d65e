//! The upload path in Rust, shaped like hf_xet's: repo create, preupload, write token, xorb
//! POSTs, a shard (v1 and v2), an NDJSON commit; then the files read back, also after restart.

use std::collections::HashMap;

use base64::Engine;
use reqwest::StatusCode;
use sha2::{Digest, Sha256};
use xetfs::serve::ServeConfig;
use xetfs::util::splitmix::splitmix_bytes;
use xetfs::xet::chunk::CompressionPolicy;
use xetfs::xet::chunker::chunk_lengths;
use xetfs::xet::hash::verification_hash;
use xetfs::xet::shard::{Shard, ShardFile, ShardTerm, ShardXorb, ShardXorbChunk};
use xetfs::xet::xorb::{SerializedXorb, XorbBuilder};
use xetfs::xet::{chunk_hash, merkle, MerkleHash};

use crate::support::*;

/// Files packed like an uploader does: chunks deduplicated across files, one xorb.
struct Upload {
    xorb: SerializedXorb,
    shard: Shard,
    /// path → (sha256 hex, size, file hash)
    files: Vec<(String, String, u64, MerkleHash)>,
}

fn pack(files: &[(&str, &[u8])]) -> Upload {
    let mut builder = XorbBuilder::new(CompressionPolicy::Auto);
    let mut known: HashMap<MerkleHash, u32> = HashMap::new();
    let mut per_file = Vec::new();
    for (_, data) in files {
        builder.start_file();
        let mut at = 0;
        let mut chunks = Vec::new();
        for len in chunk_lengths(data) {
            let c = &data[at..at + len];
            at += len;
            let h = chunk_hash(c);
            let index = *known
                .entry(h)
                .or_insert_with(|| builder.add_chunk_with_hash(h, c));
            chunks.push((h, len as u64, index));
        }
        per_file.push(chunks);
    }
    let xorb = builder.finish();
    let mut shard = Shard::default();
    let mut out = Vec::new();
    for ((path, data), chunks) in files.iter().zip(per_file) {
        // Consecutive chunk indices form one term.
        let mut terms: Vec<ShardTerm> = Vec::new();
        let mut term_hashes: Vec<Vec<MerkleHash>> = Vec::new();
        for (h, len, i) in &chunks {
            match terms.last_mut() {
                Some(t) if t.chunk_end == *i => {
                    t.chunk_end += 1;
                    t.unpacked_bytes += *len as u32;
                    term_hashes.last_mut().unwrap().push(*h);
                }
                _ => {
                    terms.push(ShardTerm {
                        xorb_hash: xorb.hash,
                        xorb_flags: 0,
                        unpacked_bytes: *len as u32,
                        chunk_start: *i,
                        chunk_end: i + 1,
                    });
                    term_hashes.push(vec![*h]);
                }
            }
        }
        let leaves: Vec<_> = chunks.iter().map(|(h, l, _)| (*h, *l)).collect();
        let file_hash = merkle::file_hash(&leaves);
        let sha: [u8; 32] = Sha256::digest(data).into();
        shard.files.push(ShardFile {
            file_hash,
            terms,
            verification: Some(term_hashes.iter().map(|h| verification_hash(h)).collect()),
            sha256: Some(sha),
        });
        out.push((
            path.to_string(),
            hex::encode(sha),
            data.len() as u64,
            file_hash,
        ));
    }
    let mut byte_start = 0;
    shard.xorbs.push(ShardXorb {
        xorb_hash: xorb.hash,
        flags: 0,
        num_bytes_in_xorb: xorb.raw_len() as u32,
        num_bytes_on_disk: 0,
        chunks: xorb
            .chunks
            .iter()
            .map(|c| {
                let e = ShardXorbChunk {
                    hash: c.hash,
                    byte_start,
                    raw_len: c.raw_len,
                    flags: 0,
                };
                byte_start += c.raw_len;
                e
            })
            .collect(),
    });
    Upload {
        xorb,
        shard,
        files: out,
    }
}

async fn write_token(t: &TestServer, repo: &str, rev: &str) -> (String, String) {
    let r = t
        .http
        .get(t.url(&format!("/api/models/{repo}/xet-write-token/{rev}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().contains_key("x-xet-access-token"));
    let v: serde_json::Value = r.json().await.unwrap();
    (
        v["accessToken"].as_str().unwrap().into(),
        v["casUrl"].as_str().unwrap().into(),
    )
}

fn ndjson(lines: &[serde_json::Value]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

#[tokio::test]
async fn upload_commit_read_back_and_restart() {
    let t = sample_server(ServeConfig::default()).await;
    let create = t.url("/api/repos/create");
    let body = serde_json::json!({"name": "fresh", "organization": "team"});
    let r = t.http.post(&create).json(&body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = t.http.post(&create).json(&body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(
        v["url"].as_str().unwrap().ends_with("/team/fresh"),
        "409 carries the url: {v}"
    );

    let a = splitmix_bytes(21, 700_000);
    // b shares a's first 300 kB: its terms reuse a's chunks.
    let mut b = a[..300_000].to_vec();
    b.extend(splitmix_bytes(22, 150_000));
    let up = pack(&[("weights/a.bin", &a), ("b.safetensors", &b)]);

    let r = t
        .http
        .post(t.url("/api/models/team/fresh/preupload/main"))
        .json(&serde_json::json!({"files": [
            {"path": "weights/a.bin", "sample": base64::engine::general_purpose::STANDARD.encode(&a[..512]), "size": a.len()},
            {"path": "notes.txt", "sample": base64::engine::general_purpose::STANDARD.encode(b"hello"), "size": 5},
            {"path": "blob.dat", "sample": base64::engine::general_purpose::STANDARD.encode([0u8, 1, 2]), "size": 3}]}))
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    let modes: Vec<&str> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["uploadMode"].as_str().unwrap())
        .collect();
    assert_eq!(
        modes,
        ["lfs", "regular", "lfs"],
        "binary samples go to LFS: {v}"
    );

    let (token, cas) = write_token(&t, "team/fresh", "main").await;
    let post = |url: String, body: Vec<u8>| {
        let (http, token) = (t.http.clone(), token.clone());
        async move {
            http.post(url)
                .bearer_auth(token)
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    let xurl = format!("{cas}/v1/xorbs/default/{}", up.xorb.hash);
    let r = post(xurl.clone(), up.xorb.records.clone()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["was_inserted"],
        true
    );
    let r = post(xurl, up.xorb.records.clone()).await;
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["was_inserted"],
        false
    );

    let r = post(format!("{cas}/v2/shards"), up.shard.serialize_upload()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let frames: Vec<serde_json::Value> = r
        .text()
        .await
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(frames.last().unwrap()["type"], "result");
    let r = post(format!("{cas}/v1/shards"), up.shard.serialize_upload()).await;
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["result"],
        0,
        "already known"
    );

    let mut lines = vec![
        serde_json::json!({"key": "header", "value": {"summary": "add files", "description": ""}}),
    ];
    for (path, sha, size, _) in &up.files {
        lines.push(serde_json::json!({"key": "lfsFile", "value": {"path": path, "algo": "sha256", "oid": sha, "size": size}}));
    }
    lines.push(serde_json::json!({"key": "file", "value": {"path": "notes.txt", "content": "aGVsbG8=", "encoding": "base64"}}));
    let r = t
        .http
        .post(t.url("/api/models/team/fresh/commit/main"))
        .header("content-type", "application/x-ndjson")
        .body(ndjson(&lines))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let commit: serde_json::Value = r.json().await.unwrap();
    let sha = commit["commitOid"].as_str().unwrap().to_string();

    // A stale parent is refused.
    let stale = vec![
        serde_json::json!({"key": "header", "value": {"summary": "x", "parentCommit": "0".repeat(40)}}),
        serde_json::json!({"key": "deletedFile", "value": {"path": "notes.txt"}}),
    ];
    let r = t
        .http
        .post(t.url("/api/models/team/fresh/commit/main"))
        .body(ndjson(&stale))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);

    let check = |server_url: String| {
        let http = t.http.clone();
        let files = up.files.clone();
        let (a, b, sha) = (a.clone(), b.clone(), sha.clone());
        async move {
            let info: serde_json::Value = http
                .get(format!("{server_url}/api/models/team/fresh/revision/main"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(info["sha"], sha.as_str());
            let tok: serde_json::Value = http
                .get(format!(
                    "{server_url}/api/models/team/fresh/xet-read-token/{sha}"
                ))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let (token, cas) = (
                tok["accessToken"].as_str().unwrap(),
                tok["casUrl"].as_str().unwrap(),
            );
            for ((path, _, size, hash), data) in files.iter().zip([&a, &b]) {
                let head = http
                    .head(format!("{server_url}/team/fresh/resolve/main/{path}"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(
                    head.headers()["x-xet-hash"].to_str().unwrap(),
                    hash.to_hex()
                );
                let got = read_v2(&http, cas, token, &hash.to_hex(), 0, *size).await;
                assert_eq!(&got, data, "{path}");
            }
            let notes = http
                .get(format!("{server_url}/team/fresh/resolve/main/notes.txt"))
                .send()
                .await
                .unwrap();
            assert_eq!(notes.text().await.unwrap(), "hello");
        }
    };
    check(t.server.endpoint()).await;
    let m = t.server.metrics();
    assert_eq!(m.counter("xorbs_accepted"), 2);
    assert_eq!(m.counter("shards_accepted"), 2);
    assert_eq!(m.counter("shard_files_verified"), 4);
    assert_eq!(m.counter("commits"), 1);

    // Everything pushed survives a restart on the same state directory.
    let state = t.state.path().to_path_buf();
    let root = t.root_path();
    let TestServer { server, .. } = t;
    server.shutdown().await;
    let again = start_on(&root, &state, ServeConfig::default()).await;
    check(again.endpoint()).await;
}

#[tokio::test]
async fn shards_that_lie_are_rejected() {
    let t = sample_server(ServeConfig::default()).await;
    let data = splitmix_bytes(31, 200_000);
    let up = pack(&[("x.bin", &data)]);
    let (token, cas) = write_token(&t, REPO, "main").await;
    let post = |url: String, body: Vec<u8>| {
        let (http, token) = (t.http.clone(), token.clone());
        async move {
            http.post(url)
                .bearer_auth(token)
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    // The xorb is not uploaded yet: the shard refers to a missing xorb.
    let r = post(format!("{cas}/v1/shards"), up.shard.serialize_upload()).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = post(
        format!("{cas}/v1/xorbs/default/{}", up.xorb.hash),
        up.xorb.records.clone(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);

    let mut lies = Vec::new();
    let mut s = up.shard.clone();
    s.files[0].file_hash = MerkleHash::from_bytes([1; 32]);
    lies.push(("file hash", s));
    let mut s = up.shard.clone();
    s.files[0].sha256 = Some([7; 32]);
    lies.push(("sha256", s));
    let mut s = up.shard.clone();
    s.files[0].verification = Some(vec![
        MerkleHash::from_bytes([2; 32]);
        s.files[0].terms.len()
    ]);
    lies.push(("verification", s));
    let mut s = up.shard.clone();
    s.files[0].terms[0].unpacked_bytes += 1;
    lies.push(("term length", s));
    let mut s = up.shard.clone();
    s.files[0].terms[0].chunk_end += 1000;
    lies.push(("chunk range", s));
    for (what, shard) in lies {
        let r = post(format!("{cas}/v2/shards"), shard.serialize_upload()).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{what}");
    }
    // Nothing of the lies became a file; the honest shard still works.
    assert!(t.server.metrics().counter("shards_accepted") == 0);
    let r = post(format!("{cas}/v2/shards"), up.shard.serialize_upload()).await;
    assert_eq!(r.status(), StatusCode::OK);
}
