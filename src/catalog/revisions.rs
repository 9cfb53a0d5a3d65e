//! What this process knows about each revision name: the commit it resolved to and when, or a
//! definite "no" from the Hub (remembered briefly).

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;

use super::records::RevRecord;
use crate::hub::{is_commit_id, RepoId};
use crate::remote::RemoteError;

/// A revision's last resolution.
#[derive(Clone)]
pub(super) struct KnownRev {
    pub commit: String,
    /// When the revision was last checked (or fell back to this commit); `None`: long ago.
    pub checked: Option<Instant>,
    /// Wall-clock time of the last successful resolution (persisted).
    pub fetched_at: u64,
}

impl KnownRev {
    /// Just resolved to `commit`.
    pub fn now(commit: String) -> Self {
        KnownRev {
            commit,
            checked: Some(Instant::now()),
            fetched_at: unix_now(),
        }
    }

    /// A persisted resolution, its age carried over so that the TTL counts from the original
    /// resolution. `None` if the record does not name a commit.
    pub fn from_record(r: RevRecord) -> Option<Self> {
        if !is_commit_id(&r.commit) {
            return None;
        }
        let age = Duration::from_secs(unix_now().saturating_sub(r.fetched_at));
        Some(KnownRev {
            commit: r.commit,
            // An age beyond what Instant can represent is simply "long ago".
            checked: Instant::now().checked_sub(age),
            fetched_at: r.fetched_at,
        })
    }

    pub fn record(&self) -> RevRecord {
        RevRecord {
            commit: self.commit.clone(),
            fetched_at: self.fetched_at,
        }
    }
}

#[derive(Default)]
struct RevState {
    known: Option<KnownRev>,
    /// A definite failure and when it happened.
    missing: Option<(RemoteError, Instant)>,
}

/// Revision name → state, with the freshness rules.
pub(super) struct Revisions {
    map: Mutex<HashMap<(RepoId, String), RevState>>,
    ttl: Duration,
    negative_ttl: Duration,
}

impl Revisions {
    pub fn new(ttl: Duration, negative_ttl: Duration) -> Self {
        Revisions {
            map: Mutex::new(HashMap::new()),
            ttl,
            negative_ttl: negative_ttl.min(ttl),
        }
    }

    pub fn known(&self, repo: &RepoId, rev: &str) -> Option<KnownRev> {
        self.map.lock().get(&key(repo, rev))?.known.clone()
    }

    /// The commit of `rev` if it was checked within the TTL.
    pub fn fresh_commit(&self, repo: &RepoId, rev: &str) -> Option<String> {
        self.known(repo, rev)
            .filter(|k| self.is_fresh(k))
            .map(|k| k.commit)
    }

    pub fn is_fresh(&self, known: &KnownRev) -> bool {
        known.checked.is_some_and(|c| c.elapsed() < self.ttl)
    }

    /// Records a resolution (clearing any failure); whether the persisted form changed.
    pub fn remember(&self, repo: &RepoId, rev: &str, known: KnownRev) -> bool {
        let mut map = self.map.lock();
        let state = map.entry(key(repo, rev)).or_default();
        state.missing = None;
        let previous = state.known.replace(known.clone());
        previous.is_none_or(|p| p.commit != known.commit || p.fetched_at != known.fetched_at)
    }

    pub fn set_missing(&self, repo: &RepoId, rev: &str, error: RemoteError) {
        if self.negative_ttl.is_zero() {
            return;
        }
        let mut map = self.map.lock();
        map.entry(key(repo, rev)).or_default().missing = Some((error, Instant::now()));
    }

    /// The definite failure of `rev`, if it happened within the negative TTL.
    pub fn negative(&self, repo: &RepoId, rev: &str) -> Option<RemoteError> {
        let map = self.map.lock();
        let (error, at) = map.get(&key(repo, rev))?.missing.as_ref()?;
        (at.elapsed() < self.negative_ttl).then(|| error.clone())
    }
}

fn key(repo: &RepoId, rev: &str) -> (RepoId, String) {
    (repo.clone(), rev.to_string())
}

pub(super) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
