//! Counters per endpoint class (requests, body bytes, statuses) plus named event counters
//! (verified uploads, ingest progress, injected faults). Tests assert on these, never on timing.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::Method;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// Which listener a request arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Hub,
    Cas,
}

macro_rules! endpoints {
    ($($variant:ident => $name:literal,)*) => {
        /// The class of a request, used for metrics and as a fault target.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Endpoint { $($variant,)* }

        impl Endpoint {
            pub const ALL: &'static [Endpoint] = &[$(Endpoint::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(Endpoint::$variant => $name,)* }
            }

            pub fn from_name(name: &str) -> Option<Endpoint> {
                match name { $($name => Some(Endpoint::$variant),)* _ => None }
            }
        }
    };
}

endpoints! {
    AgentHarnesses => "agent_harnesses",
    Whoami => "whoami",
    RepoCreate => "repo_create",
    Revision => "revision",
    Tree => "tree",
    PathsInfo => "paths_info",
    Refs => "refs",
    XetReadToken => "xet_read_token",
    XetWriteToken => "xet_write_token",
    Preupload => "preupload",
    Commit => "commit",
    Resolve => "resolve",
    ReconstructionV1 => "reconstruction_v1",
    ReconstructionV2 => "reconstruction_v2",
    XorbGet => "xorb_get",
    Bridge => "bridge",
    ChunkHashes => "chunk_hashes",
    XorbHead => "xorb_head",
    FileHead => "file_head",
    XorbPost => "xorb_post",
    XorbGrant => "xorb_grant",
    ShardPost => "shard_post",
    DedupQuery => "dedup_query",
    Telemetry => "telemetry",
    Metrics => "metrics",
    Faults => "faults",
    Other => "other",
}

impl Endpoint {
    /// Classifies a request by origin, method and (still percent-encoded) path.
    pub fn classify(origin: Origin, method: &Method, path: &str) -> Endpoint {
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match origin {
            Origin::Hub => classify_hub(&segs),
            Origin::Cas => classify_cas(method, &segs),
        }
    }
}

fn classify_hub(segs: &[&str]) -> Endpoint {
    use Endpoint::*;
    match segs {
        ["metrics"] => Metrics,
        ["_xetfs", "faults"] => Faults,
        ["api", "agent-harnesses"] => AgentHarnesses,
        ["api", "whoami-v2"] => Whoami,
        ["api", "repos", "create"] => RepoCreate,
        ["api", kind, _, _, rest @ ..] if kind.ends_with('s') => match rest {
            [] | ["revision", ..] => Revision,
            ["tree", ..] => Tree,
            ["paths-info", ..] => PathsInfo,
            ["refs", ..] => Refs,
            ["xet-read-token", ..] => XetReadToken,
            ["xet-write-token", ..] => XetWriteToken,
            ["preupload", ..] => Preupload,
            ["commit", ..] => Commit,
            _ => Other,
        },
        [_, _, "resolve", ..] | ["datasets" | "spaces", _, _, "resolve", ..] => Resolve,
        _ => Other,
    }
}

fn classify_cas(method: &Method, segs: &[&str]) -> Endpoint {
    use Endpoint::*;
    match segs {
        ["v1", "reconstructions", ..] => ReconstructionV1,
        ["v2", "reconstructions", ..] => ReconstructionV2,
        ["xorbs", "default", _] => XorbGet,
        ["xet-bridge", _] => Bridge,
        ["v1", "xorbs", "default", _, "chunk-hashes"] => ChunkHashes,
        ["v1", "xorbs", "default", _] if method == Method::POST => XorbPost,
        ["v1", "xorbs", "default", _] => XorbHead,
        ["v1", "files", _] => FileHead,
        ["v1", "xorb-grants" | "xorb-commits", ..] => XorbGrant,
        ["v1" | "v2", "shards"] => ShardPost,
        ["v1", "chunks", ..] => DedupQuery,
        ["v1", "telemetry"] => Telemetry,
        ["metrics"] => Metrics,
        _ => Other,
    }
}

#[derive(Default)]
struct EndpointCounters {
    requests: AtomicU64,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    statuses: Mutex<BTreeMap<u16, u64>>,
}

/// Live counters, shared by every connection.
pub struct Metrics {
    endpoints: Vec<EndpointCounters>,
    counters: Mutex<BTreeMap<String, u64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            endpoints: Endpoint::ALL.iter().map(|_| Default::default()).collect(),
            counters: Mutex::new(BTreeMap::new()),
        }
    }
}

impl Metrics {
    fn at(&self, e: Endpoint) -> &EndpointCounters {
        &self.endpoints[e as usize]
    }

    pub fn request(&self, e: Endpoint) {
        self.at(e).requests.fetch_add(1, Ordering::Relaxed);
    }

    pub fn status(&self, e: Endpoint, status: u16) {
        *self.at(e).statuses.lock().entry(status).or_default() += 1;
    }

    /// Response body bytes handed to the connection.
    pub fn sent(&self, e: Endpoint, n: u64) {
        self.at(e).bytes_sent.fetch_add(n, Ordering::Relaxed);
    }

    /// Request body bytes read.
    pub fn received(&self, e: Endpoint, n: u64) {
        self.at(e).bytes_received.fetch_add(n, Ordering::Relaxed);
    }

    /// Adds to a named event counter (`xorbs_accepted`, `ingest_bytes`, …).
    pub fn add(&self, name: &str, n: u64) {
        *self.counters.lock().entry(name.to_string()).or_default() += n;
    }

    pub fn snapshot(&self) -> MetricsSnapshot {
        let endpoints = Endpoint::ALL
            .iter()
            .filter_map(|&e| {
                let c = self.at(e);
                let requests = c.requests.load(Ordering::Relaxed);
                (requests > 0).then(|| {
                    let stats = EndpointStats {
                        requests,
                        bytes_sent: c.bytes_sent.load(Ordering::Relaxed),
                        bytes_received: c.bytes_received.load(Ordering::Relaxed),
                        statuses: c
                            .statuses
                            .lock()
                            .iter()
                            .map(|(k, v)| (k.to_string(), *v))
                            .collect(),
                    };
                    (e.as_str().to_string(), stats)
                })
            })
            .collect();
        MetricsSnapshot {
            endpoints,
            counters: self.counters.lock().clone(),
        }
    }
}

/// Counters of one endpoint class.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointStats {
    pub requests: u64,
    /// Response body bytes sent (exactly what left through the connection's body stream).
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Status code (as a string, for JSON) → count.
    pub statuses: BTreeMap<String, u64>,
}

impl EndpointStats {
    pub fn status_count(&self, status: u16) -> u64 {
        self.statuses.get(&status.to_string()).copied().unwrap_or(0)
    }
}

/// A copy of all counters, as served by `GET /metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricsSnapshot {
    /// Endpoint class name → counters; classes never hit are absent.
    pub endpoints: BTreeMap<String, EndpointStats>,
    pub counters: BTreeMap<String, u64>,
}

impl MetricsSnapshot {
    /// Counters of one class (zero when never hit).
    pub fn endpoint(&self, name: &str) -> EndpointStats {
        self.endpoints.get(name).cloned().unwrap_or_default()
    }

    pub fn counter(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_official_conversation() {
        let get = Method::GET;
        let hub = |p| Endpoint::classify(Origin::Hub, &get, p);
        assert_eq!(hub("/org/m/resolve/main/a%20b/c.bin"), Endpoint::Resolve);
        assert_eq!(hub("/datasets/org/d/resolve/main/x"), Endpoint::Resolve);
        assert_eq!(hub("/api/models/org/m/revision/main"), Endpoint::Revision);
        assert_eq!(hub("/api/models/org/m"), Endpoint::Revision);
        assert_eq!(hub("/api/datasets/org/d/tree/main/sub"), Endpoint::Tree);
        assert_eq!(
            hub("/api/models/org/m/xet-read-token/abc"),
            Endpoint::XetReadToken
        );
        assert_eq!(
            hub("/api/models/org/m/xet-write-token/None"),
            Endpoint::XetWriteToken
        );
        assert_eq!(hub("/api/repos/create"), Endpoint::RepoCreate);
        let cas = |m: &Method, p| Endpoint::classify(Origin::Cas, m, p);
        assert_eq!(
            cas(&get, "/v2/reconstructions/ab"),
            Endpoint::ReconstructionV2
        );
        assert_eq!(cas(&get, "/xorbs/default/ab"), Endpoint::XorbGet);
        assert_eq!(
            cas(&Method::POST, "/v1/xorbs/default/ab"),
            Endpoint::XorbPost
        );
        assert_eq!(
            cas(&get, "/v1/xorbs/default/ab/chunk-hashes"),
            Endpoint::ChunkHashes
        );
        assert_eq!(cas(&Method::POST, "/v2/shards"), Endpoint::ShardPost);
        assert_eq!(cas(&get, "/v1/chunks/default/ab"), Endpoint::DedupQuery);
        for e in Endpoint::ALL {
            assert_eq!(Endpoint::from_name(e.as_str()), Some(*e));
        }
    }

    #[test]
    fn snapshot_reports_only_used_classes() {
        let m = Metrics::default();
        m.request(Endpoint::XorbGet);
        m.status(Endpoint::XorbGet, 206);
        m.sent(Endpoint::XorbGet, 100);
        m.add("xorbs_accepted", 2);
        let s = m.snapshot();
        assert_eq!(s.endpoints.len(), 1);
        let x = s.endpoint("xorb_get");
        assert_eq!((x.requests, x.bytes_sent, x.status_count(206)), (1, 100, 1));
        assert_eq!(s.counter("xorbs_accepted"), 2);
        assert_eq!(s.endpoint("resolve"), EndpointStats::default());
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<MetricsSnapshot>(&json).unwrap(), s);
    }
}
