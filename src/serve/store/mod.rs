//! The content-addressed state directory of `xetfs serve`:
//!
//! ```text
//! STATE/xorbs/<h2>/<hash>       xorb records exactly as served (no footer)
//! STATE/xorbs/<h2>/<hash>.idx   chunk table (hashes, raw lengths, record ends), checksummed
//! STATE/files/<h2>/<hash>.json  a Xet file: size, sha256, terms
//! STATE/blobs/<h2>/<sha1>       content of a regular (non-Xet) file, by git blob id
//! STATE/shards/<sha256>.shard   shards accepted from uploads
//! STATE/ingest/<key>.json       what ingest learned about a ROOT file (so restarts skip it)
//! STATE/repos/…                 repos created and commits pushed through the API
//! STATE/tmp/                    write-then-rename staging, emptied at start
//! ```
//! Every write goes to `tmp/` then is renamed into place, so readers never see partial objects.

pub mod ingest_cache;
pub mod xorb_index;

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::xet::reconstruction::Term;
use crate::xet::xorb::SerializedXorb;
use crate::xet::MerkleHash;
pub use xorb_index::{IndexedChunk, Layouts, XorbIndex};

/// A Xet file: what its reconstruction is made of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    pub size: u64,
    /// SHA-256 of the content, lowercase hex.
    pub sha256: String,
    pub terms: Vec<Term>,
}

pub struct Store {
    dir: PathBuf,
    xorbs: RwLock<HashMap<MerkleHash, Arc<XorbIndex>>>,
    files: RwLock<HashMap<MerkleHash, Arc<FileRecord>>>,
    by_sha256: RwLock<HashMap<String, MerkleHash>>,
    tmp_counter: AtomicU64,
}

fn shard_dir(base: &Path, hex: &str) -> PathBuf {
    base.join(&hex[..2])
}

/// Whether `s` is lowercase hex of the given length (safe to use as a file name).
pub fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Store {
    /// Opens (creating) the state directory and loads the Xet file records.
    pub fn open(dir: &Path) -> io::Result<Self> {
        for sub in [
            "xorbs", "files", "blobs", "shards", "ingest", "repos", "tmp",
        ] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        // Leftovers of writes interrupted by a crash.
        for e in std::fs::read_dir(dir.join("tmp"))? {
            let _ = std::fs::remove_file(e?.path());
        }
        let store = Store {
            dir: dir.to_path_buf(),
            xorbs: RwLock::default(),
            files: RwLock::default(),
            by_sha256: RwLock::default(),
            tmp_counter: AtomicU64::new(0),
        };
        store.load_files()?;
        Ok(store)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn load_files(&self) -> io::Result<()> {
        let mut n = 0;
        for sub in std::fs::read_dir(self.dir.join("files"))? {
            for e in std::fs::read_dir(sub?.path())? {
                let path = e?.path();
                let hash = path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .and_then(|s| MerkleHash::from_hex(s).ok());
                let record = std::fs::read(&path)
                    .ok()
                    .and_then(|b| serde_json::from_slice::<FileRecord>(&b).ok());
                match (hash, record) {
                    (Some(hash), Some(record)) => {
                        self.remember_file(hash, Arc::new(record));
                        n += 1;
                    }
                    _ => tracing::warn!("ignoring damaged file record {}", path.display()),
                }
            }
        }
        tracing::debug!("loaded {n} Xet file records");
        Ok(())
    }

    /// Writes `data` to `path` atomically (temp file, fsync, rename).
    pub fn write_atomic(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
        let tmp = self
            .dir
            .join("tmp")
            .join(format!("{}-{n}", std::process::id()));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_data()?;
        drop(f);
        std::fs::rename(&tmp, path).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
    }

    // ---- xorbs -------------------------------------------------------------------------

    pub fn xorb_path(&self, hash: &MerkleHash) -> PathBuf {
        let hex = hash.to_hex();
        shard_dir(&self.dir.join("xorbs"), &hex).join(hex)
    }

    fn xorb_index_path(&self, hash: &MerkleHash) -> PathBuf {
        self.xorb_path(hash).with_extension("idx")
    }

    pub fn has_xorb(&self, hash: &MerkleHash) -> bool {
        self.xorbs.read().contains_key(hash) || self.xorb_index_path(hash).exists()
    }

    /// Stores a verified xorb; `false` when it was already present.
    pub fn put_xorb(&self, x: &SerializedXorb) -> io::Result<bool> {
        if self.xorb_index(&x.hash)?.is_some() {
            return Ok(false);
        }
        let index = XorbIndex::from_serialized(x);
        // Records first: an index never points at missing records.
        self.write_atomic(&self.xorb_path(&x.hash), &x.records)?;
        self.write_atomic(&self.xorb_index_path(&x.hash), &index.encode())?;
        self.xorbs.write().insert(x.hash, Arc::new(index));
        Ok(true)
    }

    /// The chunk table of a stored xorb (loaded from disk once, then kept in memory).
    pub fn xorb_index(&self, hash: &MerkleHash) -> io::Result<Option<Arc<XorbIndex>>> {
        if let Some(i) = self.xorbs.read().get(hash) {
            return Ok(Some(i.clone()));
        }
        let bytes = match std::fs::read(self.xorb_index_path(hash)) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let records_len = std::fs::metadata(self.xorb_path(hash)).map(|m| m.len());
        let index = match XorbIndex::decode(&bytes) {
            Some(i) if i.hash == *hash && records_len.as_ref().ok() == Some(&i.records_len()) => i,
            _ => self.rebuild_index(hash)?,
        };
        let index = Arc::new(index);
        self.xorbs.write().insert(*hash, index.clone());
        Ok(Some(index))
    }

    /// Re-derives a damaged index from the records, which must still hash to `hash`.
    fn rebuild_index(&self, hash: &MerkleHash) -> io::Result<XorbIndex> {
        tracing::warn!("xorb {hash}: index damaged, rebuilding it from the records");
        let records = std::fs::read(self.xorb_path(hash))?;
        let parsed = crate::xet::xorb::parse_xorb_object(&records)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        if parsed.hash != *hash {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("stored xorb {hash} hashes to {}", parsed.hash),
            ));
        }
        let index = XorbIndex::from_serialized(&parsed);
        self.write_atomic(&self.xorb_index_path(hash), &index.encode())?;
        Ok(index)
    }

    /// Loads the indexes of every xorb `terms` use; `Err(hash)` names the first one missing.
    pub fn layouts_for(&self, terms: &[Term]) -> io::Result<Result<Layouts, MerkleHash>> {
        let mut map = HashMap::new();
        for t in terms {
            if map.contains_key(&t.hash) {
                continue;
            }
            match self.xorb_index(&t.hash)? {
                Some(i) => {
                    map.insert(t.hash, i);
                }
                None => return Ok(Err(t.hash)),
            }
        }
        Ok(Ok(Layouts(map)))
    }

    // ---- Xet files ---------------------------------------------------------------------

    fn file_path(&self, hash: &MerkleHash) -> PathBuf {
        let hex = hash.to_hex();
        shard_dir(&self.dir.join("files"), &hex).join(format!("{hex}.json"))
    }

    fn remember_file(&self, hash: MerkleHash, record: Arc<FileRecord>) {
        if !record.sha256.is_empty() {
            self.by_sha256.write().insert(record.sha256.clone(), hash);
        }
        self.files.write().insert(hash, record);
    }

    /// Registers a Xet file whose xorbs are stored.
    pub fn put_file(&self, hash: MerkleHash, record: FileRecord) -> io::Result<()> {
        if self.files.read().get(&hash).is_some_and(|r| **r == record) {
            return Ok(());
        }
        self.write_atomic(&self.file_path(&hash), &serde_json::to_vec(&record)?)?;
        self.remember_file(hash, Arc::new(record));
        Ok(())
    }

    pub fn file(&self, hash: &MerkleHash) -> Option<Arc<FileRecord>> {
        self.files.read().get(hash).cloned()
    }

    /// The Xet file with this content SHA-256 (hex), as commits name LFS files.
    pub fn file_by_sha256(&self, sha256: &str) -> Option<(MerkleHash, Arc<FileRecord>)> {
        let hash = *self.by_sha256.read().get(sha256)?;
        Some((hash, self.file(&hash)?))
    }

    // ---- regular files -----------------------------------------------------------------

    pub fn blob_path(&self, oid: &str) -> Option<PathBuf> {
        is_hex(oid, 40).then(|| shard_dir(&self.dir.join("blobs"), oid).join(oid))
    }

    pub fn has_blob(&self, oid: &str) -> bool {
        self.blob_path(oid).is_some_and(|p| p.exists())
    }

    /// Stores a regular file's content; returns its git blob id.
    pub fn put_blob(&self, data: &[u8]) -> io::Result<String> {
        let oid = super::git::blob_oid(data);
        let path = self.blob_path(&oid).expect("blob ids are hex");
        if !path.exists() {
            self.write_atomic(&path, data)?;
        }
        Ok(oid)
    }

    // ---- shards ------------------------------------------------------------------------

    /// Keeps an accepted shard; `false` when the same bytes were already stored.
    pub fn put_shard(&self, bytes: &[u8]) -> io::Result<bool> {
        use sha2::Digest;
        let name = hex::encode(sha2::Sha256::digest(bytes));
        let path = self.dir.join("shards").join(format!("{name}.shard"));
        if path.exists() {
            return Ok(false);
        }
        self.write_atomic(&path, bytes)?;
        Ok(true)
    }

    pub fn repos_dir(&self) -> PathBuf {
        self.dir.join("repos")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xet::reconstruction::ChunkRange;

    #[test]
    fn files_blobs_and_shards_persist() {
        let tmp = tempfile::tempdir().unwrap();
        let h = MerkleHash::from_bytes([3; 32]);
        let rec = FileRecord {
            size: 5,
            sha256: "ab".repeat(32),
            terms: vec![Term {
                hash: MerkleHash::from_bytes([4; 32]),
                unpacked_length: 5,
                range: ChunkRange::new(0, 1),
            }],
        };
        {
            let s = Store::open(tmp.path()).unwrap();
            s.put_file(h, rec.clone()).unwrap();
            let oid = s.put_blob(b"hello\n").unwrap();
            assert!(s.has_blob(&oid));
            assert!(s.put_shard(b"shard").unwrap());
            assert!(!s.put_shard(b"shard").unwrap());
            std::fs::write(tmp.path().join("tmp/leftover"), b"x").unwrap();
        }
        let s = Store::open(tmp.path()).unwrap();
        assert_eq!(s.file(&h).as_deref(), Some(&rec));
        assert_eq!(s.file_by_sha256(&"ab".repeat(32)).map(|x| x.0), Some(h));
        assert!(std::fs::read_dir(tmp.path().join("tmp"))
            .unwrap()
            .next()
            .is_none());
        assert_eq!(s.blob_path("../../etc/passwd"), None);
        assert_eq!(
            s.layouts_for(&rec.terms).unwrap().err(),
            Some(rec.terms[0].hash)
        );
    }
}
