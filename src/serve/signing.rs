//! CAS access tokens and presigned URLs, both signed with a per-process key (keyed BLAKE3), with
//! an expiry. Presigned URLs carry no credentials of their own: the signature is the authority.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::time::now_secs;

/// What a CAS token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Read,
    Write,
}

/// A verified CAS token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    pub scope: Scope,
    /// The repo the token was issued for, in `RepoId` display form (`org/name`, `datasets/…`).
    pub repo: String,
    pub exp: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("invalid signature")]
    Invalid,
    #[error("expired")]
    Expired,
}

pub struct Signer {
    key: [u8; 32],
}

impl Signer {
    pub fn random() -> Self {
        Signer {
            key: rand::random(),
        }
    }

    fn mac(&self, parts: &[&str]) -> blake3::Hash {
        let mut h = blake3::Hasher::new_keyed(&self.key);
        for p in parts {
            h.update(p.as_bytes());
            h.update(&[0]);
        }
        h.finalize()
    }

    fn check(&self, parts: &[&str], sig: &str) -> bool {
        // blake3::Hash compares in constant time.
        blake3::Hash::from_hex(sig).is_ok_and(|s| s == self.mac(parts))
    }

    pub fn token(&self, scope: Scope, repo: &str, exp: u64) -> String {
        let s = match scope {
            Scope::Read => "r",
            Scope::Write => "w",
        };
        let exp = exp.to_string();
        let repo64 = URL_SAFE_NO_PAD.encode(repo);
        let mac = self.mac(&["token", s, &exp, repo]);
        format!("xetfs.{s}.{exp}.{repo64}.{}", mac.to_hex())
    }

    pub fn verify_token(&self, token: &str) -> Result<TokenClaims, SignError> {
        let mut it = token.split('.');
        let (Some("xetfs"), Some(s), Some(exp), Some(repo64), Some(sig), None) = (
            it.next(),
            it.next(),
            it.next(),
            it.next(),
            it.next(),
            it.next(),
        ) else {
            return Err(SignError::Invalid);
        };
        let repo = URL_SAFE_NO_PAD
            .decode(repo64)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or(SignError::Invalid)?;
        if !self.check(&["token", s, exp, &repo], sig) {
            return Err(SignError::Invalid);
        }
        let scope = if s == "w" { Scope::Write } else { Scope::Read };
        let exp: u64 = exp.parse().map_err(|_| SignError::Invalid)?;
        if exp <= now_secs() {
            return Err(SignError::Expired);
        }
        Ok(TokenClaims { scope, repo, exp })
    }

    /// Signature for a URL giving access to `object` (with an optional signed `range`) until `exp`.
    pub fn sign_url(&self, kind: &str, object: &str, range: &str, exp: u64) -> String {
        self.mac(&["url", kind, object, range, &exp.to_string()])
            .to_hex()
            .to_string()
    }

    pub fn verify_url(
        &self,
        kind: &str,
        object: &str,
        range: &str,
        exp: u64,
        sig: &str,
    ) -> Result<(), SignError> {
        if !self.check(&["url", kind, object, range, &exp.to_string()], sig) {
            return Err(SignError::Invalid);
        }
        if exp <= now_secs() {
            return Err(SignError::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_and_expire() {
        let s = Signer::random();
        let t = s.token(Scope::Write, "datasets/o/n", now_secs() + 60);
        let c = s.verify_token(&t).unwrap();
        assert_eq!((c.scope, c.repo.as_str()), (Scope::Write, "datasets/o/n"));
        let tampered = t.replacen(".w.", ".r.", 1);
        assert_eq!(s.verify_token(&tampered), Err(SignError::Invalid));
        assert_eq!(Signer::random().verify_token(&t), Err(SignError::Invalid));
        let old = s.token(Scope::Read, "o/n", now_secs() - 1);
        assert_eq!(s.verify_token(&old), Err(SignError::Expired));
        assert_eq!(s.verify_token("garbage"), Err(SignError::Invalid));
    }

    #[test]
    fn urls_verify_and_expire() {
        let s = Signer::random();
        let exp = now_secs() + 60;
        let sig = s.sign_url("xorb", "abc", "bytes=0-9", exp);
        assert!(s.verify_url("xorb", "abc", "bytes=0-9", exp, &sig).is_ok());
        assert_eq!(
            s.verify_url("xorb", "abc", "bytes=0-99", exp, &sig),
            Err(SignError::Invalid)
        );
        assert_eq!(
            s.verify_url("xorb", "abc", "bytes=0-9", exp + 1, &sig),
            Err(SignError::Invalid)
        );
        let past = now_secs() - 1;
        let sig = s.sign_url("xorb", "abc", "", past);
        assert_eq!(
            s.verify_url("xorb", "abc", "", past, &sig),
            Err(SignError::Expired)
        );
    }
}
