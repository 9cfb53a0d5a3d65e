//! State shared by every handler of both listeners.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;

use super::catalog::Catalog;
use super::config::ServeConfig;
use super::faults::Faults;
use super::metrics::{Endpoint, Metrics};
use super::signing::Signer;
use super::store::Store;

pub struct Shared {
    pub config: ServeConfig,
    pub store: Arc<Store>,
    pub catalog: Arc<Catalog>,
    pub signer: Signer,
    pub faults: Faults,
    pub metrics: Metrics,
    pub hub_addr: SocketAddr,
    pub cas_addr: SocketAddr,
}

/// `http://` + `addr`, with an unspecified IP (`0.0.0.0`, `::`) replaced by loopback.
pub fn base_url(addr: SocketAddr) -> String {
    let ip = addr.ip();
    match ip {
        _ if ip.is_unspecified() && ip.is_ipv4() => format!("http://127.0.0.1:{}", addr.port()),
        _ if ip.is_unspecified() => format!("http://[::1]:{}", addr.port()),
        std::net::IpAddr::V6(v6) => format!("http://[{v6}]:{}", addr.port()),
        std::net::IpAddr::V4(v4) => format!("http://{v4}:{}", addr.port()),
    }
}

/// The host name the client used (`Host` header without the port), if it is a plain name.
fn request_host(headers: &HeaderMap) -> Option<String> {
    let host = headers.get("host")?.to_str().ok()?;
    let authority: axum::http::uri::Authority = host.parse().ok()?;
    let name = authority.host();
    let plain = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    (plain && !name.is_empty()).then(|| name.to_string())
}

impl Shared {
    /// The Hub base URL as this client reaches it (`HF_ENDPOINT`).
    pub fn hub_base(&self, headers: &HeaderMap) -> String {
        match request_host(headers) {
            Some(h) => format!("http://{h}:{}", self.hub_addr.port()),
            None => base_url(self.hub_addr),
        }
    }

    /// The CAS base URL on the same host name (a second port: another origin, as clients need).
    pub fn cas_base(&self, headers: &HeaderMap) -> String {
        match request_host(headers) {
            Some(h) => format!("http://{h}:{}", self.cas_addr.port()),
            None => base_url(self.cas_addr),
        }
    }

    /// Lifetime of URLs handed out by `class` (shortened by an `url_expiry` fault).
    pub fn url_ttl(&self, class: Endpoint) -> Duration {
        self.faults
            .ttl_override(class, true)
            .unwrap_or(self.config.url_ttl())
    }

    /// Lifetime of tokens handed out by `class` (shortened by a `token_expiry` fault).
    pub fn token_ttl(&self, class: Endpoint) -> Duration {
        self.faults
            .ttl_override(class, false)
            .unwrap_or(self.config.token_ttl())
    }
}
