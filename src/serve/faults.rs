//! Fault injection: rules that make chosen endpoint classes slow, failing, truncated, corrupted,
//! stalled, or hand out short-lived URLs and tokens. Off by default; set from the command line,
//! a JSON file, `POST /_xetfs/faults` or [`RunningServer::set_faults`](super::RunningServer).
//!
//! ```json
//! {"seed": 7, "rules": [
//!   {"target": "xorb_get", "kind": "status", "status": 503, "count": 3},
//!   {"target": "xorb_get", "kind": "truncate", "probability": 0.5},
//!   {"target": "all", "kind": "latency", "ms": 20}]}
//! ```
//! Decisions come from one RNG seeded by `seed`, so a sequential test is reproducible.

use std::time::Duration;

use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::metrics::Endpoint;

/// How long a stall without an explicit duration holds the connection (until shutdown, really).
const DEFAULT_STALL: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultConfig {
    pub seed: u64,
    pub rules: Vec<FaultRule>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    /// An endpoint class (`xorb_get`, `reconstruction_v2`, `resolve`, …) or `all`.
    #[serde(default = "all")]
    pub target: String,
    #[serde(flatten)]
    pub kind: FaultKind,
    /// Chance that a matching request is hit (default 1).
    #[serde(default = "one")]
    pub probability: f64,
    /// Hit at most this many requests, then stop (default: no limit).
    #[serde(default)]
    pub count: Option<u64>,
}

fn all() -> String {
    "all".into()
}

fn one() -> f64 {
    1.0
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Wait before answering.
    Latency { ms: u64 },
    /// Send the body at most this fast.
    Bandwidth { bytes_per_sec: u64 },
    /// Answer with this status (and a Hub error body) instead of the real answer.
    Status { status: u16 },
    /// Close the connection (RST) without answering.
    Reset,
    /// Announce the full `Content-Length`, send `at` bytes (default half), close.
    Truncate {
        #[serde(default)]
        at: Option<u64>,
    },
    /// Flip one byte of the body at offset `at` (default the middle).
    Corrupt {
        #[serde(default)]
        at: Option<u64>,
    },
    /// Stop sending: before the response head (`after` absent) or after `after` body bytes;
    /// hold the connection for `ms` (default: an hour, i.e. until shutdown), then continue.
    Stall {
        #[serde(default)]
        after: Option<u64>,
        #[serde(default)]
        ms: Option<u64>,
    },
    /// Presigned URLs handed out by the target (reconstructions, resolve) expire this soon.
    UrlExpiry { secs: u64 },
    /// CAS tokens handed out by the target (`xet_read_token`, …) expire this soon.
    TokenExpiry { secs: u64 },
}

impl FaultKind {
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::Latency { .. } => "latency",
            FaultKind::Bandwidth { .. } => "bandwidth",
            FaultKind::Status { .. } => "status",
            FaultKind::Reset => "reset",
            FaultKind::Truncate { .. } => "truncate",
            FaultKind::Corrupt { .. } => "corrupt",
            FaultKind::Stall { .. } => "stall",
            FaultKind::UrlExpiry { .. } => "url_expiry",
            FaultKind::TokenExpiry { .. } => "token_expiry",
        }
    }
}

impl FaultConfig {
    /// Rejects unknown targets and impossible values, so a typo does not silently disable a test.
    pub fn validate(&self) -> Result<(), String> {
        for r in &self.rules {
            if r.target != "all" && Endpoint::from_name(&r.target).is_none() {
                let known: Vec<&str> = Endpoint::ALL.iter().map(|e| e.as_str()).collect();
                return Err(format!(
                    "unknown fault target {:?} (use all or one of {})",
                    r.target,
                    known.join(", ")
                ));
            }
            if !(0.0..=1.0).contains(&r.probability) {
                return Err(format!(
                    "fault probability {} is not in [0, 1]",
                    r.probability
                ));
            }
            match r.kind {
                FaultKind::Status { status } if !(400..=599).contains(&status) => {
                    return Err(format!("fault status {status} is not an error status"))
                }
                FaultKind::Bandwidth { bytes_per_sec: 0 } => {
                    return Err("fault bandwidth must be positive".into())
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Faults that act on a response body, resolved per request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BodyFaults {
    pub bandwidth: Option<u64>,
    /// `Some(None)`: truncate at half the body.
    pub truncate: Option<Option<u64>>,
    /// `Some(None)`: corrupt the middle byte.
    pub corrupt: Option<Option<u64>>,
    pub stall: Option<(u64, Duration)>,
}

impl BodyFaults {
    pub fn is_empty(&self) -> bool {
        *self == BodyFaults::default()
    }
}

/// What happens to one request.
#[derive(Debug, Clone, Default)]
pub struct RequestFaults {
    pub latency: Option<Duration>,
    pub status: Option<u16>,
    pub reset: bool,
    pub stall_head: Option<Duration>,
    pub body: BodyFaults,
    /// Names of the faults that fired (for metrics).
    pub fired: Vec<&'static str>,
}

struct State {
    config: FaultConfig,
    rules: Vec<(FaultRule, Option<u64>)>,
    rng: StdRng,
}

/// The live rule set.
pub struct Faults {
    state: Mutex<State>,
}

impl Faults {
    pub fn new(config: FaultConfig) -> Self {
        Faults {
            state: Mutex::new(Self::state(config)),
        }
    }

    fn state(config: FaultConfig) -> State {
        State {
            rng: StdRng::seed_from_u64(config.seed),
            config: config.clone(),
            rules: config
                .rules
                .into_iter()
                .map(|r| {
                    let left = r.count;
                    (r, left)
                })
                .collect(),
        }
    }

    /// The rules as last set.
    pub fn config(&self) -> FaultConfig {
        self.state.lock().config.clone()
    }

    /// Replaces every rule (and reseeds).
    pub fn set(&self, config: FaultConfig) {
        *self.state.lock() = Self::state(config);
    }

    /// Rolls every rule that targets `class` and matches `pick`; returns the kinds that fire.
    fn fire(&self, class: Endpoint, pick: impl Fn(&FaultKind) -> bool) -> Vec<FaultKind> {
        let mut st = self.state.lock();
        let State { rules, rng, .. } = &mut *st;
        let mut out = Vec::new();
        for (rule, left) in rules.iter_mut() {
            let targeted = rule.target == "all" || rule.target == class.as_str();
            if !targeted || !pick(&rule.kind) || *left == Some(0) {
                continue;
            }
            if rule.probability < 1.0 && !rng.random_bool(rule.probability) {
                continue;
            }
            if let Some(n) = left {
                *n -= 1;
            }
            out.push(rule.kind.clone());
        }
        out
    }

    /// The faults for one request of `class`.
    pub fn for_request(&self, class: Endpoint) -> RequestFaults {
        // Never break the control endpoints themselves.
        if matches!(class, Endpoint::Faults | Endpoint::Metrics) {
            return RequestFaults::default();
        }
        let mut f = RequestFaults::default();
        let fired = self.fire(class, |k| {
            !matches!(
                k,
                FaultKind::UrlExpiry { .. } | FaultKind::TokenExpiry { .. }
            )
        });
        for kind in fired {
            f.fired.push(kind.name());
            match kind {
                FaultKind::Latency { ms } => {
                    *f.latency.get_or_insert(Duration::ZERO) += Duration::from_millis(ms)
                }
                FaultKind::Bandwidth { bytes_per_sec } => f.body.bandwidth = Some(bytes_per_sec),
                FaultKind::Status { status } => f.status = Some(status),
                FaultKind::Reset => f.reset = true,
                FaultKind::Truncate { at } => f.body.truncate = Some(at),
                FaultKind::Corrupt { at } => f.body.corrupt = Some(at),
                FaultKind::Stall { after, ms } => {
                    let hold = ms.map_or(DEFAULT_STALL, Duration::from_millis);
                    match after {
                        None => f.stall_head = Some(hold),
                        Some(at) => f.body.stall = Some((at, hold)),
                    }
                }
                FaultKind::UrlExpiry { .. } | FaultKind::TokenExpiry { .. } => {}
            }
        }
        f
    }

    /// A shortened lifetime for URLs (`url = true`) or tokens handed out by `class`, if a rule fires.
    pub fn ttl_override(&self, class: Endpoint, url: bool) -> Option<Duration> {
        self.fire(class, |k| match k {
            FaultKind::UrlExpiry { .. } => url,
            FaultKind::TokenExpiry { .. } => !url,
            _ => false,
        })
        .into_iter()
        .filter_map(|k| match k {
            FaultKind::UrlExpiry { secs } | FaultKind::TokenExpiry { secs } => {
                Some(Duration::from_secs(secs))
            }
            _ => None,
        })
        .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> FaultConfig {
        let c: FaultConfig = serde_json::from_str(json).unwrap();
        c.validate().unwrap();
        c
    }

    #[test]
    fn counted_rules_stop_after_count_and_only_hit_their_target() {
        let f = Faults::new(config(
            r#"{"rules":[{"target":"xorb_get","kind":"status","status":503,"count":2}]}"#,
        ));
        assert_eq!(f.for_request(Endpoint::Resolve).status, None);
        let hits: Vec<_> = (0..4)
            .map(|_| f.for_request(Endpoint::XorbGet).status)
            .collect();
        assert_eq!(hits, [Some(503), Some(503), None, None]);
    }

    #[test]
    fn probability_is_reproducible_from_the_seed() {
        let json = r#"{"seed":42,"rules":[{"kind":"reset","probability":0.5}]}"#;
        let run = || {
            let f = Faults::new(config(json));
            (0..64)
                .map(|_| f.for_request(Endpoint::XorbGet).reset)
                .collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        let hits = a.iter().filter(|&&x| x).count();
        assert!(hits > 0 && hits < 64, "{hits}");
    }

    #[test]
    fn body_and_ttl_faults() {
        let f = Faults::new(config(
            r#"{"rules":[
                {"target":"xorb_get","kind":"truncate"},
                {"target":"xorb_get","kind":"stall","after":10,"ms":5},
                {"target":"reconstruction_v2","kind":"url_expiry","secs":2},
                {"target":"xet_read_token","kind":"token_expiry","secs":3,"count":1}]}"#,
        ));
        let r = f.for_request(Endpoint::XorbGet);
        assert_eq!(r.body.truncate, Some(None));
        assert_eq!(r.body.stall, Some((10, Duration::from_millis(5))));
        assert_eq!(r.fired, ["truncate", "stall"]);
        // TTL rules do not fire on ordinary requests, only when URLs/tokens are issued.
        assert!(f.for_request(Endpoint::ReconstructionV2).fired.is_empty());
        assert_eq!(
            f.ttl_override(Endpoint::ReconstructionV2, true),
            Some(Duration::from_secs(2))
        );
        assert_eq!(f.ttl_override(Endpoint::ReconstructionV2, false), None);
        assert_eq!(
            f.ttl_override(Endpoint::XetReadToken, false),
            Some(Duration::from_secs(3))
        );
        assert_eq!(f.ttl_override(Endpoint::XetReadToken, false), None);
    }

    #[test]
    fn bad_configs_are_rejected() {
        for json in [
            r#"{"rules":[{"target":"xorbs","kind":"reset"}]}"#,
            r#"{"rules":[{"kind":"status","status":200}]}"#,
            r#"{"rules":[{"kind":"reset","probability":2}]}"#,
        ] {
            let c: FaultConfig = serde_json::from_str(json).unwrap();
            assert!(c.validate().is_err(), "{json}");
        }
        assert!(serde_json::from_str::<FaultConfig>(r#"{"rules":[{"kind":"explode"}]}"#).is_err());
    }
}
