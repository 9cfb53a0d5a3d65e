//! Hub-style errors, path confinement and bad bodies: typed answers, never a panic.

use reqwest::StatusCode;
use xetfs::serve::ServeConfig;

use crate::support::*;

fn code(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get("x-error-code")
        .map(|v| v.to_str().unwrap().to_string())
}

#[tokio::test]
async fn hub_errors_carry_codes_and_messages() {
    let t = sample_server(ServeConfig::default()).await;
    let r = t
        .http
        .get(t.url("/api/models/org/nope/revision/main"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.status(), code(&r).as_deref()),
        (StatusCode::NOT_FOUND, Some("RepoNotFound"))
    );
    assert!(r.headers().contains_key("x-error-message"));
    let r = t
        .http
        .get(t.url(&format!("/api/models/{REPO}/revision/nobranch")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.status(), code(&r).as_deref()),
        (StatusCode::NOT_FOUND, Some("RevisionNotFound"))
    );
    let r = t
        .http
        .head(t.url(&format!("/{REPO}/resolve/main/missing.bin")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.status(), code(&r).as_deref()),
        (StatusCode::NOT_FOUND, Some("EntryNotFound"))
    );
    assert_eq!(r.headers()["x-repo-commit"].to_str().unwrap().len(), 40);
    let r = t
        .http
        .get(t.url(&format!("/api/models/{REPO}/tree/main/nope")))
        .send()
        .await
        .unwrap();
    assert_eq!(code(&r).as_deref(), Some("EntryNotFound"));
    let r = t.http.get(t.url("/api/things/org/x")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = t
        .http
        .get(t.url("/no/such/endpoint/at/all"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // The agent-harness probe of huggingface_hub 2.x and telemetry are accepted.
    let r = t
        .http
        .get(t.url("/api/agent-harnesses"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn paths_are_confined_to_the_repo() {
    let root = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), b"TOPSECRET-CONTENT").unwrap();
    let repo = root.path().join("org/repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(repo.join("ok.txt"), b"ok").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), repo.join("link.txt")).unwrap();
    std::os::unix::fs::symlink(outside.path(), repo.join("linkdir")).unwrap();
    std::fs::write(root.path().join("org/other.txt"), b"not a repo").unwrap();
    let server = start_on(root.path(), state.path(), ServeConfig::default()).await;
    let http = client();
    let base = server.endpoint();
    let tree: Vec<serde_json::Value> = http
        .get(format!(
            "{base}/api/models/org/repo/tree/main?recursive=true"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths: Vec<&str> = tree.iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["ok.txt"], "symlinks leaving ROOT are not served");
    for p in [
        "link.txt",
        "linkdir/secret.txt",
        "%2e%2e/%2e%2e/etc/passwd",
        "..%2F..%2Fetc%2Fpasswd",
        "%2Fetc%2Fpasswd",
    ] {
        let r = http
            .get(format!("{base}/org/repo/resolve/main/{p}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{p}");
        let body = r.bytes().await.unwrap();
        assert!(!body.windows(9).any(|w| w == b"TOPSECRET"), "{p}");
    }
}

#[tokio::test]
async fn bad_upload_bodies_are_400_not_panics() {
    let t = sample_server(ServeConfig::default()).await;
    let r = t
        .http
        .get(t.url(&format!("/api/models/{REPO}/xet-write-token/main")))
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    let (token, cas) = (
        v["accessToken"].as_str().unwrap(),
        v["casUrl"].as_str().unwrap(),
    );
    let post = |path: String, body: Vec<u8>| {
        let http = t.http.clone();
        let token = token.to_string();
        async move {
            http.post(path)
                .bearer_auth(token)
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    // A valid xorb under the wrong name.
    let mut b = xetfs::xet::xorb::XorbBuilder::new(Default::default());
    b.add_chunk(&xetfs::util::splitmix::splitmix_bytes(5, 10_000));
    let xorb = b.finish();
    let wrong = xetfs::xet::MerkleHash::from_bytes([9; 32]);
    let r = post(
        format!("{cas}/v1/xorbs/default/{wrong}"),
        xorb.records.clone(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("mismatch"));
    // Garbage instead of a xorb, a truncated xorb, a shard of garbage, an empty shard.
    let r = post(
        format!("{cas}/v1/xorbs/default/{wrong}"),
        b"\x07garbage".to_vec(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = post(
        format!("{cas}/v1/xorbs/default/{}", xorb.hash),
        xorb.records[..xorb.records.len() - 3].to_vec(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    for v in ["v1", "v2"] {
        let r = post(format!("{cas}/{v}/shards"), vec![0xAB; 500]).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{v}");
        let r = post(format!("{cas}/{v}/shards"), Vec::new()).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{v}");
    }
    // Commits: not NDJSON, unknown operation, path escaping the repo, unknown LFS object.
    let commit = t.url(&format!("/api/models/{REPO}/commit/main"));
    for (body, status) in [
        ("{not json", StatusCode::BAD_REQUEST),
        (r#"{"key":"explode","value":{}}"#, StatusCode::BAD_REQUEST),
        (
            r#"{"key":"file","value":{"path":"../x","content":"aGk=","encoding":"base64"}}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"{"key":"lfsFile","value":{"path":"x.bin","algo":"sha256","oid":"0000000000000000000000000000000000000000000000000000000000000000","size":5}}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let r = t
            .http
            .post(&commit)
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{body}");
    }
    let m = t.server.metrics();
    assert_eq!(m.counter("xorbs_rejected"), 3);
    assert_eq!(m.counter("shards_rejected"), 4);
    assert_eq!(m.counter("xorbs_accepted"), 0);
    // Without a CAS token nothing is accepted.
    let r = t
        .http
        .post(format!("{cas}/v1/xorbs/default/{}", xorb.hash))
        .body(xorb.records.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A read token cannot write.
    let (read, _) = t.read_token(REPO, "main").await;
    let r = t
        .http
        .post(format!("{cas}/v1/xorbs/default/{}", xorb.hash))
        .bearer_auth(read)
        .body(xorb.records.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}
