//! Repository identity and the URL forms the Hub uses for it (§5).

use std::fmt;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum RepoType {
    Model,
    Dataset,
    Space,
}

impl RepoType {
    /// `models`, `datasets`, `spaces`: the segment after `/api/`.
    pub fn api_segment(self) -> &'static str {
        match self {
            RepoType::Model => "models",
            RepoType::Dataset => "datasets",
            RepoType::Space => "spaces",
        }
    }

    /// Prefix of file URLs: empty for models, `datasets/` or `spaces/` otherwise.
    pub fn url_prefix(self) -> &'static str {
        match self {
            RepoType::Model => "",
            RepoType::Dataset => "datasets/",
            RepoType::Space => "spaces/",
        }
    }
}

/// A Hub repository: type plus `namespace/name`.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct RepoId {
    pub kind: RepoType,
    /// `namespace/name`.
    pub name: String,
}

impl RepoId {
    pub fn model(name: impl Into<String>) -> Self {
        RepoId {
            kind: RepoType::Model,
            name: name.into(),
        }
    }

    pub fn dataset(name: impl Into<String>) -> Self {
        RepoId {
            kind: RepoType::Dataset,
            name: name.into(),
        }
    }

    /// `/api/models/org/name`.
    pub fn api_path(&self) -> String {
        format!("/api/{}/{}", self.kind.api_segment(), self.name)
    }

    /// `/org/name` or `/datasets/org/name`.
    pub fn file_path(&self) -> String {
        format!("/{}{}", self.kind.url_prefix(), self.name)
    }

    /// Whether `name` is a plausible `namespace/name` (no empty parts, no `..`, no control chars).
    pub fn is_valid_name(name: &str) -> bool {
        let mut parts = name.split('/');
        let (Some(a), Some(b), None) = (parts.next(), parts.next(), parts.next()) else {
            return false;
        };
        [a, b].iter().all(|p| {
            !p.is_empty()
                && *p != "."
                && *p != ".."
                && p.len() <= 96
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
    }
}

impl fmt::Display for RepoId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.kind.url_prefix(), self.name)
    }
}

/// A repo at one commit: the scope of a CAS token and of every file read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RepoScope {
    pub repo: RepoId,
    /// 40-hex commit sha.
    pub commit: String,
}

/// Encodes a revision for a URL path segment: nothing is safe (`refs/pr/1` → `refs%2Fpr%2F1`).
pub fn encode_revision(rev: &str) -> String {
    utf8_percent_encode(rev, NON_ALPHANUMERIC_EXCEPT_UNRESERVED).to_string()
}

/// Encodes a file path for a URL, keeping `/`.
pub fn encode_path(path: &str) -> String {
    utf8_percent_encode(path, PATH_SET).to_string()
}

const NON_ALPHANUMERIC_EXCEPT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
const PATH_SET: &AsciiSet = &NON_ALPHANUMERIC_EXCEPT_UNRESERVED.remove(b'/');

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_forms() {
        let m = RepoId::model("org/name");
        assert_eq!(m.api_path(), "/api/models/org/name");
        assert_eq!(m.file_path(), "/org/name");
        let d = RepoId::dataset("org/data");
        assert_eq!(d.file_path(), "/datasets/org/data");
        assert_eq!(encode_revision("refs/pr/1"), "refs%2Fpr%2F1");
        assert_eq!(
            encode_path("dir with space/tiny #1.bin"),
            "dir%20with%20space/tiny%20%231.bin"
        );
    }

    #[test]
    fn repo_names() {
        assert!(RepoId::is_valid_name("gpt2-org/model_v1.5"));
        assert!(!RepoId::is_valid_name("org"));
        assert!(!RepoId::is_valid_name("org/.."));
        assert!(!RepoId::is_valid_name("org/a/b"));
        assert!(!RepoId::is_valid_name("org/a b"));
    }
}
