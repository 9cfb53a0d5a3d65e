//! What the API changed, persisted as operations so it can be replayed on top of ROOT:
//! repos created through the API and commits pushed to branches.
//!
//! A branch pushed to is `ROOT revision (or nothing) + pushes`; if ROOT changes between runs the
//! pushes are replayed on the new content (and get new commit ids).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::snapshot::FileEntry;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoHistory {
    /// Set when the repo was created through the API.
    #[serde(default)]
    pub created: Option<CreatedRepo>,
    #[serde(default)]
    pub branches: BTreeMap<String, BranchHistory>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedRepo {
    pub private: bool,
    /// The user who created it (token mode), who may read it when private.
    pub owner: Option<String>,
    pub time: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BranchHistory {
    pub base: BranchBase,
    pub pushes: Vec<Push>,
}

/// What a branch starts from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BranchBase {
    /// The ROOT revision of the same name, or an empty tree.
    Root,
    /// Another branch after its first `after_pushes` pushes (pull requests).
    Fork { branch: String, after_pushes: usize },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Push {
    pub summary: String,
    #[serde(default)]
    pub description: String,
    pub time: u64,
    pub ops: Vec<Op>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Put { path: String, entry: FileEntry },
    Delete { path: String },
    DeleteFolder { path: String },
}

impl Op {
    /// Applies the operation to a file map.
    pub fn apply(&self, files: &mut BTreeMap<String, FileEntry>) {
        match self {
            Op::Put { path, entry } => {
                files.insert(path.clone(), entry.clone());
            }
            Op::Delete { path } => {
                files.remove(path);
            }
            Op::DeleteFolder { path } => {
                let prefix = format!("{}/", path.trim_end_matches('/'));
                files.retain(|p, _| !p.starts_with(&prefix));
            }
        }
    }
}
