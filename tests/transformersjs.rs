//! Transformers.js (npm `@huggingface/transformers`, pinned in tests/node/package.json) in Node
//! against `xetfs serve`: `pipeline('feature-extraction', repo)` on a generated model repo
//! (tests/python/make_tjs_repo.py) gives the numbers computed in Python, its progress reaches
//! every file's size, its cached files are the repo's bytes, and a private repo needs the token.
//!
//! Needs node with tests/node/node_modules (`ONNXRUNTIME_NODE_INSTALL=skip npm ci` there; done
//! by tests/run.sh) and a Python with `tokenizers`, `onnx` and numpy (the venv). Without them
//! these tests fail (they never skip).

#[path = "support/serve.rs"]
mod serve_support;
#[path = "support/transformersjs.rs"]
mod tjs;

use serde_json::json;
use serve_support::Serve;

const TOKEN: &str = "hf_tjs_reader";

#[tokio::test]
async fn feature_extraction_through_serve() {
    let root = tempfile::tempdir().unwrap();
    let expected = tjs::make_repo(root.path());
    let serve = Serve::start(root.path(), None).await;
    let cache = tempfile::tempdir().unwrap();
    let got = tjs::run_pipeline(&serve.endpoint, cache.path(), None)
        .await
        .unwrap_or_else(|e| panic!("{e}\nserver log:\n{}", serve.log_tail(40)));
    tjs::assert_numbers(&got, &expected);
    tjs::assert_progress(&got, &expected);
    tjs::assert_cached(&got, &expected);
    tjs::assert_no_failed_request(&got);
}

#[tokio::test]
async fn private_repo_needs_the_token() {
    let root = tempfile::tempdir().unwrap();
    let expected = tjs::make_repo(root.path());
    let config = json!({"auth": {"tokens": {TOKEN: {"user": "alice"}},
                                 "repos": {tjs::REPO: {"private": true, "readers": ["alice"]}}}});
    let serve = Serve::start(root.path(), Some(&config)).await;

    let refused = tempfile::tempdir().unwrap();
    let err = tjs::run_pipeline(&serve.endpoint, refused.path(), None)
        .await
        .expect_err("a private repo loaded without a token");
    assert!(err.contains("401") || err.contains("Unauthorized"), "{err}");
    assert!(!refused
        .path()
        .join(tjs::REPO)
        .join("onnx/model.onnx")
        .exists());
    let err = tjs::run_pipeline(&serve.endpoint, refused.path(), Some("hf_not_a_reader"))
        .await
        .expect_err("a private repo loaded with an unknown token");
    assert!(err.contains("401") || err.contains("Unauthorized"), "{err}");

    let cache = tempfile::tempdir().unwrap();
    let got = tjs::run_pipeline(&serve.endpoint, cache.path(), Some(TOKEN))
        .await
        .unwrap_or_else(|e| panic!("{e}\nserver log:\n{}", serve.log_tail(40)));
    tjs::assert_numbers(&got, &expected);
    tjs::assert_cached(&got, &expected);
}
