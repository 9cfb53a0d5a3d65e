//! Tokens, private and gated repos: 401/403 with the Hub's error headers, and CAS tokens that
//! only open the files of their repo.

use reqwest::StatusCode;
use xetfs::serve::ServeConfig;

use crate::support::*;

fn config() -> ServeConfig {
    serde_json::from_str(
        r#"{"auth": {"tokens": {"hf_alice": {"user": "alice"}, "hf_bob": {"user": "bob", "write": false}},
                     "repos": {"org/model": {"private": true, "readers": ["alice"]},
                               "org/gated": {"gated": true, "readers": ["alice"]}}}}"#,
    )
    .unwrap()
}

#[tokio::test]
async fn private_and_gated_repos() {
    let t = sample_server(config()).await;
    // A public and a gated repo next to the private sample.
    for name in ["public", "gated"] {
        let dir = t.root_path().join("org").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("w.bin"), b"weights").unwrap();
    }
    let TestServer {
        server,
        root,
        state,
        http,
        ..
    } = t;
    server.shutdown().await;
    let server = start_on(root.path(), state.path(), config()).await;
    let base = server.endpoint();
    let info = |repo: &str, token: Option<&str>| {
        let mut r = http.get(format!("{base}/api/models/{repo}/revision/main"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        async move { r.send().await.unwrap() }
    };
    let code = |r: &reqwest::Response| {
        r.headers()
            .get("x-error-code")
            .map(|v| v.to_str().unwrap().to_string())
    };

    let r = info("org/model", None).await;
    assert_eq!(
        (r.status(), code(&r).as_deref()),
        (StatusCode::UNAUTHORIZED, Some("RepoNotFound"))
    );
    let r = info("org/model", Some("hf_wrong")).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers()["x-error-message"]
        .to_str()
        .unwrap()
        .contains("Invalid credentials"));
    let r = info("org/model", Some("hf_bob")).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "bob is not a reader");
    assert_eq!(
        info("org/model", Some("hf_alice")).await.status(),
        StatusCode::OK
    );
    assert_eq!(info("org/public", None).await.status(), StatusCode::OK);
    let r = info("org/gated", Some("hf_bob")).await;
    assert_eq!(
        (r.status(), code(&r).as_deref()),
        (StatusCode::FORBIDDEN, Some("GatedRepo"))
    );
    let r = info("org/gated", None).await;
    assert_eq!(
        (r.status(), code(&r).as_deref()),
        (StatusCode::UNAUTHORIZED, Some("GatedRepo"))
    );
    // Resolve and tokens follow the same rules.
    let r = http
        .head(format!("{base}/org/model/resolve/main/config.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = http
        .get(format!("{base}/api/models/org/model/xet-read-token/main"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Alice reads a private Xet file; a token of the public repo cannot reach it through the CAS.
    let tok = |repo: &str, user: &str| {
        let r = http
            .get(format!("{base}/api/models/{repo}/xet-read-token/main"))
            .bearer_auth(user);
        async move {
            let v: serde_json::Value = r.send().await.unwrap().json().await.unwrap();
            (
                v["accessToken"].as_str().unwrap().to_string(),
                v["casUrl"].as_str().unwrap().to_string(),
            )
        }
    };
    let (alice_token, cas) = tok("org/model", "hf_alice").await;
    let head = http
        .head(format!("{base}/org/model/resolve/main/model.safetensors"))
        .bearer_auth("hf_alice")
        .send()
        .await
        .unwrap();
    let hash = head.headers()["x-xet-hash"].to_str().unwrap().to_string();
    let size: u64 = head.headers()["x-linked-size"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let data = read_v2(&http, &cas, &alice_token, &hash, 0, size).await;
    assert_eq!(data.len() as u64, size);
    let (public_token, _) = tok("org/public", "hf_bob").await;
    let r = get(
        &http,
        &format!("{cas}/v2/reconstructions/{hash}"),
        Some(&public_token),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Writes need a write token.
    let create = format!("{base}/api/repos/create");
    let body = serde_json::json!({"name": "x", "organization": "org"});
    assert_eq!(
        http.post(&create)
            .json(&body)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let r = http
        .post(&create)
        .bearer_auth("hf_bob")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = http
        .post(&create)
        .bearer_auth("hf_alice")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = http
        .get(format!("{base}/api/models/org/public/xet-write-token/main"))
        .bearer_auth("hf_bob")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn open_server_accepts_any_token_and_any_namespace() {
    let t = sample_server(ServeConfig::default()).await;
    for token in [None, Some("anything")] {
        let mut r = t
            .http
            .get(t.url(&format!("/api/models/{REPO}/revision/main")));
        if let Some(tok) = token {
            r = r.bearer_auth(tok);
        }
        assert_eq!(r.send().await.unwrap().status(), StatusCode::OK);
    }
    let r = t
        .http
        .post(t.url("/api/repos/create"))
        .json(&serde_json::json!({"name": "d", "organization": "not-in-root", "type": "dataset"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = t
        .http
        .get(t.url("/api/datasets/not-in-root/d/revision/main"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}
