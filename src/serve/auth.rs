//! Who may read and write what. By default the server is open: any token or none is accepted
//! and anyone may create repos anywhere. A config file can list tokens (then unknown tokens get
//! 401) and private or gated repos. Tokens are never logged.

use std::collections::BTreeMap;

use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};

use super::catalog::CreatedRepo;
use super::errors::{HubError, HubResult};
use crate::hub::RepoId;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Hub token → grant. Empty: open server, every token (or none) is accepted.
    pub tokens: BTreeMap<String, TokenGrant>,
    /// `org/name` (models) or `datasets/org/name`, `spaces/org/name` → policy.
    pub repos: BTreeMap<String, RepoPolicy>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenGrant {
    pub user: String,
    /// May create repos and push (default true).
    #[serde(default = "yes")]
    pub write: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RepoPolicy {
    /// Hidden from everyone but `readers` and `writers` (401 `RepoNotFound`, like the Hub).
    pub private: bool,
    /// Visible, but files need a user in `readers` (403 `GatedRepo`).
    pub gated: bool,
    pub readers: Vec<String>,
    /// Who may push; empty: every user with a write token.
    pub writers: Vec<String>,
}

/// The identity behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Anonymous,
    User { name: String, write: bool },
}

impl Caller {
    pub fn name(&self) -> Option<&str> {
        match self {
            Caller::User { name, .. } => Some(name),
            Caller::Anonymous => None,
        }
    }
}

/// The bearer token of a request, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

impl AuthConfig {
    pub fn is_open(&self) -> bool {
        self.tokens.is_empty()
    }

    pub fn caller(&self, headers: &HeaderMap) -> HubResult<Caller> {
        let Some(token) = bearer(headers) else {
            return Ok(Caller::Anonymous);
        };
        if self.is_open() {
            return Ok(Caller::User {
                name: "user".into(),
                write: true,
            });
        }
        match self.tokens.get(token) {
            Some(g) => Ok(Caller::User {
                name: g.user.clone(),
                write: g.write,
            }),
            None => Err(HubError::unauthorized(
                "Invalid credentials in Authorization header",
            )),
        }
    }

    pub fn policy(&self, id: &RepoId) -> Option<&RepoPolicy> {
        self.repos.get(&id.to_string())
    }

    /// Whether anyone may read `id` (for file-hash visibility across repos).
    pub fn is_public(&self, id: &RepoId, created: Option<&CreatedRepo>) -> bool {
        !self.policy(id).is_some_and(|p| p.private || p.gated) && created.is_none_or(|c| !c.private)
    }

    pub fn check_read(
        &self,
        caller: &Caller,
        id: &RepoId,
        created: Option<&CreatedRepo>,
    ) -> HubResult<()> {
        let policy = self.policy(id);
        let user = caller.name();
        let listed = |p: &RepoPolicy| {
            user.is_some_and(|u| p.readers.iter().chain(&p.writers).any(|r| r == u))
        };
        let owner = created.and_then(|c| c.owner.as_deref());
        let private_created = created.is_some_and(|c| c.private);
        if policy.is_some_and(|p| p.private) || private_created {
            let ok = policy.is_some_and(listed) || (owner.is_some() && owner == user);
            // Private and open mode (no tokens): the creator is "user", any token will do.
            let open_owner = self.is_open() && private_created && user.is_some();
            if !ok && !open_owner {
                return Err(HubError::repo_hidden(id));
            }
        }
        if let Some(p) = policy.filter(|p| p.gated) {
            if !listed(p) {
                let status = if user.is_some() {
                    StatusCode::FORBIDDEN
                } else {
                    StatusCode::UNAUTHORIZED
                };
                return Err(HubError::new(
                    status,
                    Some("GatedRepo"),
                    format!("Access to {id} is restricted. You must have access to it and be authenticated to access it."),
                ));
            }
        }
        Ok(())
    }

    pub fn check_write(
        &self,
        caller: &Caller,
        id: &RepoId,
        created: Option<&CreatedRepo>,
    ) -> HubResult<()> {
        if self.is_open() {
            return Ok(());
        }
        let (name, write) = match caller {
            Caller::Anonymous => {
                return Err(HubError::unauthorized(
                    "You must be authenticated to write to a repo",
                ))
            }
            Caller::User { name, write } => (name, *write),
        };
        self.check_read(caller, id, created)?;
        let allowed = write
            && self
                .policy(id)
                .is_none_or(|p| p.writers.is_empty() || p.writers.contains(name));
        if allowed {
            Ok(())
        } else {
            Err(HubError::forbidden(format!(
                "You don't have the rights to write to {id}"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(token: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(t) = token {
            h.insert("authorization", format!("Bearer {t}").parse().unwrap());
        }
        h
    }

    fn config() -> AuthConfig {
        serde_json::from_str(
            r#"{"tokens": {"tok-a": {"user": "alice"}, "tok-r": {"user": "rob", "write": false}},
                "repos": {"org/secret": {"private": true, "readers": ["alice"]},
                          "datasets/org/gated": {"gated": true, "readers": ["alice"]}}}"#,
        )
        .unwrap()
    }

    #[test]
    fn open_server_accepts_anything() {
        let a = AuthConfig::default();
        let anyone = a.caller(&headers(Some("whatever"))).unwrap();
        let id = RepoId::model("any/repo");
        assert!(a.check_read(&Caller::Anonymous, &id, None).is_ok());
        assert!(a.check_write(&anyone, &id, None).is_ok());
        assert!(a.check_write(&Caller::Anonymous, &id, None).is_ok());
    }

    #[test]
    fn tokens_private_and_gated_repos() {
        let a = config();
        let err = a.caller(&headers(Some("wrong"))).unwrap_err();
        assert_eq!(err.status, StatusCode::UNAUTHORIZED);
        let alice = a.caller(&headers(Some("tok-a"))).unwrap();
        let rob = a.caller(&headers(Some("tok-r"))).unwrap();
        let secret = RepoId::model("org/secret");
        let e = a.check_read(&Caller::Anonymous, &secret, None).unwrap_err();
        assert_eq!(
            (e.status, e.code),
            (StatusCode::UNAUTHORIZED, Some("RepoNotFound"))
        );
        assert_eq!(
            a.check_read(&rob, &secret, None).unwrap_err().status,
            StatusCode::UNAUTHORIZED
        );
        assert!(a.check_read(&alice, &secret, None).is_ok());
        let gated = RepoId::dataset("org/gated");
        let e = a.check_read(&rob, &gated, None).unwrap_err();
        assert_eq!(
            (e.status, e.code),
            (StatusCode::FORBIDDEN, Some("GatedRepo"))
        );
        assert!(a.check_read(&alice, &gated, None).is_ok());
        let public = RepoId::model("org/public");
        assert!(a.check_read(&Caller::Anonymous, &public, None).is_ok());
        assert_eq!(
            a.check_write(&rob, &public, None).unwrap_err().status,
            StatusCode::FORBIDDEN
        );
        assert!(a.check_write(&alice, &public, None).is_ok());
        assert!(!a.is_public(&secret, None) && a.is_public(&public, None));
    }
}
