//! Small in-process HTTP servers for the remote tests: each binds 127.0.0.1:0, logs every request
//! it sees, answers with a closure, and dies with the test's runtime.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use futures::StreamExt;
use parking_lot::Mutex;
use xetfs::remote::http::{HttpRemote, RemoteConfig};
use xetfs::remote::{ByteStream, RemoteError};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query exactly as received (still percent-encoded).
    pub uri: String,
    pub headers: HeaderMap,
    /// `http://127.0.0.1:port` of the server that got it.
    pub base: String,
    /// The client's address: one per connection.
    pub peer: std::net::SocketAddr,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn auth(&self) -> Option<&str> {
        self.header("authorization")
    }
    pub fn path(&self) -> &str {
        self.uri.split('?').next().unwrap_or("")
    }
}

#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<Seen>>>);

impl Log {
    pub fn all(&self) -> Vec<Seen> {
        self.0.lock().clone()
    }
    pub fn count(&self, pred: impl Fn(&Seen) -> bool) -> usize {
        self.0.lock().iter().filter(|s| pred(s)).count()
    }
    pub fn len(&self) -> usize {
        self.0.lock().len()
    }
}

/// Starts a server answering every request with `handler`; returns its base URL.
pub async fn serve<F, Fut>(log: Log, handler: F) -> String
where
    F: Fn(Seen) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let b = base.clone();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let peer = req
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .expect("served with connect info")
            .0;
        let seen = Seen {
            peer,
            method: req.method().to_string(),
            uri: req
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default(),
            headers: req.headers().clone(),
            base: b.clone(),
        };
        log.0.lock().push(seen.clone());
        handler(seen)
    });
    tokio::spawn(async move {
        let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
        let _ = axum::serve(listener, app).await;
    });
    base
}

/// A response with `status`, `headers` and `body`.
pub fn reply(status: u16, headers: &[(&str, String)], body: impl Into<Body>) -> Response {
    let mut r = Response::builder().status(StatusCode::from_u16(status).unwrap());
    for (k, v) in headers {
        r = r.header(*k, v.as_str());
    }
    r.body(body.into()).unwrap()
}

pub fn json(status: u16, value: serde_json::Value) -> Response {
    reply(
        status,
        &[("content-type", "application/json".into())],
        value.to_string(),
    )
}

pub fn status(status: u16) -> Response {
    reply(status, &[], Body::empty())
}

/// Test settings: short deadlines, fast backoff, 3 attempts.
pub fn config(endpoint: &str, token: Option<&str>) -> RemoteConfig {
    RemoteConfig {
        endpoint: endpoint.to_string(),
        hf_token: token.map(str::to_string),
        connect_timeout: Duration::from_secs(5),
        response_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_millis(300),
        call_timeout: Duration::from_secs(20),
        max_attempts: 3,
        backoff_base: Duration::from_millis(1),
        backoff_cap: Duration::from_millis(5),
        ..RemoteConfig::default()
    }
}

pub fn remote(endpoint: &str, token: Option<&str>) -> HttpRemote {
    HttpRemote::new(config(endpoint, token)).unwrap()
}

/// All bytes of a stream, and the error that ended it, if any.
pub async fn collect(mut s: ByteStream) -> (Vec<u8>, Option<RemoteError>) {
    let mut out = Vec::new();
    while let Some(item) = s.next().await {
        match item {
            Ok(b) => out.extend_from_slice(&b),
            Err(e) => return (out, Some(e)),
        }
    }
    (out, None)
}

pub const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
