//! What ingest learned about each ROOT file, keyed by its path and validated by size, mtime and
//! inode, so that a restart does not re-chunk unchanged files.

use std::io;
use std::os::unix::ffi::OsStrExt;

use serde::{Deserialize, Serialize};

use super::Store;
use crate::serve::layout::SourceFile;
use crate::xet::MerkleHash;

/// How a file was stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IngestedContent {
    Xet {
        file_hash: MerkleHash,
        sha256: String,
    },
    Regular {
        oid: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct IngestEntry {
    size: u64,
    mtime_ns: i64,
    ino: u64,
    dev: u64,
    content: IngestedContent,
}

impl Store {
    fn ingest_entry_path(&self, file: &SourceFile) -> std::path::PathBuf {
        let key = blake3::hash(file.fs_path.as_os_str().as_bytes()).to_hex();
        self.dir()
            .join("ingest")
            .join(format!("{}.json", &key[..32]))
    }

    /// The stored content of `file` if it is unchanged since it was ingested and its objects
    /// are still in the store.
    pub fn ingest_lookup(&self, file: &SourceFile) -> Option<IngestedContent> {
        let bytes = std::fs::read(self.ingest_entry_path(file)).ok()?;
        let e: IngestEntry = serde_json::from_slice(&bytes).ok()?;
        let same = e.size == file.size
            && e.mtime_ns == file.mtime_ns
            && e.ino == file.ino
            && e.dev == file.dev;
        let present = match &e.content {
            IngestedContent::Xet { file_hash, .. } => self.file(file_hash).is_some_and(|r| {
                r.terms.iter().all(|t| self.has_xorb(&t.hash)) && r.size == file.size
            }),
            IngestedContent::Regular { oid } => self.has_blob(oid),
        };
        (same && present).then_some(e.content)
    }

    pub fn ingest_remember(&self, file: &SourceFile, content: IngestedContent) -> io::Result<()> {
        let e = IngestEntry {
            size: file.size,
            mtime_ns: file.mtime_ns,
            ino: file.ino,
            dev: file.dev,
            content,
        };
        self.write_atomic(&self.ingest_entry_path(file), &serde_json::to_vec(&e)?)
    }
}
