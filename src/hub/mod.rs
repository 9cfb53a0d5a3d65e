//! Hub-level vocabulary shared by every layer above [`xet`](crate::xet): which repo, at which
//! commit, what its tree lists, how its names appear in URLs, and what a file to read is.
//! No I/O here.

mod file;
mod repo;
mod tree;
mod url;

pub use file::{FileContent, FileDesc};
pub use repo::{is_commit_id, RepoId, RepoScope, RepoType, UnknownRepoType};
pub use tree::{EntryKind, FileMetadata, TreeEntry};
pub use url::{encode_path, encode_revision};

/// The public Hub, when nothing else is configured (as in `huggingface_hub`).
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";
