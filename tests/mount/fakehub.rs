//! A minimal Hub over HTTP on 127.0.0.1 for the daemon tests: revision, tree listing and
//! resolve GET of plain (git) files. Enough for the real `HttpRemote` + `ReadEngine` to serve
//! plain files end to end; it stops when dropped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use sha1::{Digest, Sha1};

/// One model repo with a single commit that `main` points to.
pub struct HubRepo {
    pub name: String,
    pub commit: String,
    pub files: Vec<(String, Bytes)>,
}

pub struct FakeHub {
    pub url: String,
    pub requests: Arc<AtomicU64>,
    _rt: tokio::runtime::Runtime,
}

/// Git blob id: what the Hub lists as `oid` and what the engine verifies plain files against.
pub fn git_oid(data: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(format!("blob {}\0", data.len()).as_bytes());
    h.update(data);
    hex::encode(h.finalize())
}

impl FakeHub {
    pub fn start(repos: Vec<HubRepo>) -> FakeHub {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let repos: Arc<HashMap<String, HubRepo>> =
            Arc::new(repos.into_iter().map(|r| (r.name.clone(), r)).collect());
        let requests = Arc::new(AtomicU64::new(0));
        let counter = requests.clone();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new().fallback(move |req: Request| {
            counter.fetch_add(1, Ordering::SeqCst);
            let repos = repos.clone();
            async move { answer(&repos, req.method(), req.uri().path()) }
        });
        rt.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeHub {
            url,
            requests,
            _rt: rt,
        }
    }
}

fn answer(repos: &HashMap<String, HubRepo>, method: &Method, path: &str) -> Response {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["api", "models", org, name, "revision", _rev] => match repos.get(&format!("{org}/{name}"))
        {
            Some(r) => json(serde_json::json!({ "sha": r.commit })),
            None => not_found("RepoNotFound"),
        },
        ["api", "models", org, name, "tree", commit] => match repos.get(&format!("{org}/{name}")) {
            Some(r) if r.commit == *commit => json(listing(r)),
            _ => not_found("RevisionNotFound"),
        },
        [org, name, "resolve", commit, rest @ ..] if *method == Method::GET => {
            let file = repos
                .get(&format!("{org}/{name}"))
                .filter(|r| r.commit == *commit)
                .and_then(|r| r.files.iter().find(|(p, _)| *p == rest.join("/")));
            match file {
                // Ranges are ignored: the whole body with 200 is a valid answer.
                Some((_, data)) => Response::builder()
                    .status(StatusCode::OK)
                    .header("content-length", data.len())
                    .body(Body::from(data.clone()))
                    .unwrap(),
                None => not_found("EntryNotFound"),
            }
        }
        _ => not_found("EntryNotFound"),
    }
}

fn listing(repo: &HubRepo) -> serde_json::Value {
    let mut entries: Vec<serde_json::Value> = repo
        .files
        .iter()
        .map(|(path, data)| {
            serde_json::json!({"type": "file", "path": path, "size": data.len(), "oid": git_oid(data)})
        })
        .collect();
    let mut dirs: Vec<String> = repo
        .files
        .iter()
        .filter_map(|(p, _)| p.rsplit_once('/').map(|(d, _)| d.to_string()))
        .collect();
    dirs.sort();
    dirs.dedup();
    entries.extend(dirs.into_iter().map(
        |d| serde_json::json!({"type": "directory", "path": d, "size": 0, "oid": "0".repeat(40)}),
    ));
    serde_json::Value::Array(entries)
}

fn json(v: serde_json::Value) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(Body::from(v.to_string()))
        .unwrap()
}

fn not_found(code: &str) -> Response {
    Response::builder()
        .status(StatusCode::NOT_FOUND)
        .header("x-error-code", code)
        .body(Body::from(format!("{{\"error\":\"{code}\"}}")))
        .unwrap()
}
