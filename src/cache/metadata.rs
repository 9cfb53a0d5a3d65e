//! Persisted metadata for offline use (tree listings, branch → commit, file chunk maps):
//! one small file per item, written with write-temp + rename and checked on read.
//!
//! File format: `XFSMETA1` magic, CRC32 of the payload (u32 LE), payload length (u64 LE),
//! payload. A file that fails any check is deleted and reported as absent: metadata is always
//! re-obtainable from the Hub, so dropping it is safe.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

const MAGIC: &[u8; 8] = b"XFSMETA1";
const HEADER_LEN: usize = 8 + 4 + 8;

/// A directory of checksummed metadata items, addressed by `(kind, key)`.
#[derive(Debug, Clone)]
pub struct MetadataStore {
    dir: PathBuf,
}

impl MetadataStore {
    /// Opens (creating) the store under `dir` and removes temp files a crash left behind.
    pub fn open(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir.join("tmp"))?;
        for entry in fs::read_dir(dir.join("tmp"))? {
            let _ = fs::remove_file(entry?.path());
        }
        Ok(MetadataStore {
            dir: dir.to_path_buf(),
        })
    }

    /// The item as JSON-decoded `T`; `None` when missing, corrupt or of another shape.
    pub fn get<T: DeserializeOwned>(&self, kind: &str, key: &str) -> Option<T> {
        let bytes = self.get_bytes(kind, key)?;
        match serde_json::from_slice(&bytes) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(kind, key, error = %e, "dropping unreadable metadata");
                self.remove(kind, key);
                None
            }
        }
    }

    pub fn put<T: Serialize>(&self, kind: &str, key: &str, value: &T) -> io::Result<()> {
        let bytes = serde_json::to_vec(value).map_err(io::Error::other)?;
        self.put_bytes(kind, key, &bytes)
    }

    /// The raw payload of an item, after its checksum passed.
    pub fn get_bytes(&self, kind: &str, key: &str) -> Option<Vec<u8>> {
        let path = self.path(kind, key);
        let data = fs::read(&path).ok()?;
        match decode(&data) {
            Some(payload) => Some(payload.to_vec()),
            None => {
                tracing::warn!(path = %path.display(), "dropping corrupt metadata file");
                let _ = fs::remove_file(&path);
                None
            }
        }
    }

    pub fn put_bytes(&self, kind: &str, key: &str, payload: &[u8]) -> io::Result<()> {
        let path = self.path(kind, key);
        fs::create_dir_all(path.parent().expect("item paths have a parent"))?;
        let mut tmp = tempfile::NamedTempFile::new_in(self.dir.join("tmp"))?;
        tmp.write_all(MAGIC)?;
        tmp.write_all(&crc32fast::hash(payload).to_le_bytes())?;
        tmp.write_all(&(payload.len() as u64).to_le_bytes())?;
        tmp.write_all(payload)?;
        tmp.persist(&path).map_err(|e| e.error)?;
        Ok(())
    }

    pub fn remove(&self, kind: &str, key: &str) {
        let _ = fs::remove_file(self.path(kind, key));
    }

    /// Keys may contain any characters: they are hex-encoded into a file name, so a key can
    /// never escape the store directory.
    fn path(&self, kind: &str, key: &str) -> PathBuf {
        let safe_kind: String = kind
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        self.dir.join(safe_kind).join(hex::encode(key.as_bytes()))
    }
}

fn decode(data: &[u8]) -> Option<&[u8]> {
    if data.len() < HEADER_LEN || &data[..8] != MAGIC {
        return None;
    }
    let crc = u32::from_le_bytes(data[8..12].try_into().ok()?);
    let len = u64::from_le_bytes(data[12..20].try_into().ok()?);
    let payload = &data[HEADER_LEN..];
    (payload.len() as u64 == len && crc32fast::hash(payload) == crc).then_some(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let store = MetadataStore::open(dir.path()).unwrap();
        store
            .put("tree", "org/name@main", &vec![1u32, 2, 3])
            .unwrap();
        assert_eq!(
            store.get::<Vec<u32>>("tree", "org/name@main"),
            Some(vec![1, 2, 3])
        );
        assert_eq!(store.get::<Vec<u32>>("tree", "other"), None);

        // A flipped byte is detected, the item dropped, and the next put works again.
        let path = store.path("tree", "org/name@main");
        let mut raw = fs::read(&path).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        fs::write(&path, raw).unwrap();
        assert_eq!(store.get::<Vec<u32>>("tree", "org/name@main"), None);
        assert!(!path.exists());
        store.put("tree", "org/name@main", &vec![4u32]).unwrap();
        assert_eq!(
            store.get::<Vec<u32>>("tree", "org/name@main"),
            Some(vec![4])
        );
    }

    #[test]
    fn keys_cannot_escape() {
        let dir = tempfile::tempdir().unwrap();
        let store = MetadataStore::open(dir.path()).unwrap();
        let p = store.path("../x", "../../etc/passwd");
        assert!(p.starts_with(dir.path()));
        store.put("../x", "../../etc/passwd", &1u8).unwrap();
        assert_eq!(store.get::<u8>("../x", "../../etc/passwd"), Some(1));
    }

    #[test]
    fn leftover_temp_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("tmp")).unwrap();
        fs::write(dir.path().join("tmp/half-written"), b"x").unwrap();
        MetadataStore::open(dir.path()).unwrap();
        assert!(!dir.path().join("tmp/half-written").exists());
    }
}
