//! Repository identity: type, `namespace/name`, and a repo at one commit.

use std::fmt;
use std::str::FromStr;

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

/// `model`/`models`, `dataset`/`datasets`, `space`/`spaces` (the singular is what
/// `huggingface_hub`'s `repo_type` takes, the plural is the URL segment).
impl FromStr for RepoType {
    type Err = UnknownRepoType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "model" | "models" => Ok(RepoType::Model),
            "dataset" | "datasets" => Ok(RepoType::Dataset),
            "space" | "spaces" => Ok(RepoType::Space),
            _ => Err(UnknownRepoType(s.to_string())),
        }
    }
}

/// A repo type name that is none of model, dataset, space.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown repo type {0:?} (expected model, dataset or space)")]
pub struct UnknownRepoType(pub String);

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

/// Whether `rev` names a commit (40 lowercase hex digits): such snapshots never change.
pub fn is_commit_id(rev: &str) -> bool {
    rev.len() == 40 && rev.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

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
        assert_eq!(d.to_string(), "datasets/org/data");
    }

    #[test]
    fn repo_types_parse_singular_and_plural() {
        for (s, t) in [
            ("model", RepoType::Model),
            ("models", RepoType::Model),
            ("dataset", RepoType::Dataset),
            ("datasets", RepoType::Dataset),
            ("space", RepoType::Space),
            ("spaces", RepoType::Space),
        ] {
            assert_eq!(s.parse::<RepoType>(), Ok(t), "{s}");
        }
        assert!("Model".parse::<RepoType>().is_err());
        assert!("".parse::<RepoType>().is_err());
    }

    #[test]
    fn commit_ids() {
        assert!(is_commit_id(&"0123456789abcdef".repeat(3)[..40]));
        assert!(!is_commit_id("main"));
        assert!(
            !is_commit_id(&"A".repeat(40)),
            "upper case is a branch name"
        );
        assert!(!is_commit_id(&"a".repeat(39)));
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
