//! Blob files: one small whole object (a plain git file) by content address.
//!
//! ```text
//! magic "XFSBLOB1" | key length u32 | data length u64 | data CRC32 u32 |
//! header CRC32 u32 (of the fields above and the key) | key | data
//! ```
//!
//! The file name is BLAKE3 of the key (any key is safe as a name); the key stored inside is
//! compared on read, so a misplaced file never answers for another key.

use std::fs::File;
use std::io::{self, Read, Write};

use bytes::Bytes;

use super::block::Corrupt;
use super::index::EntryId;
use super::layout::FileId;
use super::{Counters, Inner};

const MAGIC: &[u8; 8] = b"XFSBLOB1";
pub const FIXED_LEN: usize = 8 + 4 + 8 + 4 + 4;
const MAX_KEY_LEN: usize = 1024;

pub fn name_of(key: &str) -> [u8; 32] {
    *blake3::hash(key.as_bytes()).as_bytes()
}

pub fn file_len(key: &str, data: &[u8]) -> u64 {
    (FIXED_LEN + key.len() + data.len()) as u64
}

fn encode_header(key: &str, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(FIXED_LEN + key.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(&(data.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(&out);
    crc.update(key.as_bytes());
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(key.as_bytes());
    out
}

/// Lengths from the fixed header, when it is plausible for a file of `file_len` bytes: enough
/// for the startup scan, which reads no payloads.
pub fn plausible(head: &[u8], file_len: u64) -> bool {
    if head.len() < FIXED_LEN || &head[..8] != MAGIC {
        return false;
    }
    let key_len = u32::from_le_bytes(head[8..12].try_into().expect("4 bytes")) as u64;
    let data_len = u64::from_le_bytes(head[12..20].try_into().expect("8 bytes"));
    key_len <= MAX_KEY_LEN as u64
        && (FIXED_LEN as u64 + key_len).checked_add(data_len) == Some(file_len)
}

/// The payload of a blob file for `key`, after every check passed.
fn decode(file: Bytes, key: &str) -> Result<Bytes, Corrupt> {
    if !plausible(&file, file.len() as u64) {
        return Err(Corrupt("bad blob header"));
    }
    let key_len = u32::from_le_bytes(file[8..12].try_into().expect("4 bytes")) as usize;
    let data_crc = u32::from_le_bytes(file[20..24].try_into().expect("4 bytes"));
    let header_crc = u32::from_le_bytes(file[24..28].try_into().expect("4 bytes"));
    let key_end = FIXED_LEN + key_len;
    let mut crc = crc32fast::Hasher::new();
    crc.update(&file[..24]);
    crc.update(&file[FIXED_LEN..key_end]);
    if crc.finalize() != header_crc {
        return Err(Corrupt("blob header checksum mismatch"));
    }
    if &file[FIXED_LEN..key_end] != key.as_bytes() {
        return Err(Corrupt("blob of another key"));
    }
    let data = file.slice(key_end..);
    if crc32fast::hash(&data) != data_crc {
        return Err(Corrupt("blob checksum mismatch"));
    }
    Ok(data)
}

impl Inner {
    pub(super) fn get_blob(&self, key: &str) -> Option<Bytes> {
        let entry = EntryId::Blob(name_of(key));
        let path = self.path_of(&entry);
        let read = File::open(&path).and_then(|mut f| {
            let meta = f.metadata()?;
            let mut buf = Vec::with_capacity(meta.len() as usize);
            f.read_to_end(&mut buf)?;
            Ok((f, FileId::of(&meta), Bytes::from(buf)))
        });
        match read {
            Ok((file, file_id, bytes)) => match decode(bytes, key) {
                Ok(data) => {
                    Counters::add(&self.counters.hits, 1);
                    self.note_access(&entry, &file);
                    return Some(data);
                }
                Err(why) => {
                    tracing::warn!(path = %path.display(), %why, "dropping corrupt cached blob");
                    let _guard = self.lock(&entry);
                    if file_id.is_at(&path) {
                        Counters::add(&self.counters.corrupt_dropped, 1);
                        self.index.lock().remove(&entry);
                        let _ = self.layout.delete(&path);
                    }
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => self.forget_if_gone(&entry, &path),
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "disk cache read failed"),
        }
        Counters::add(&self.counters.misses, 1);
        None
    }

    pub(super) fn put_blob(&self, key: &str, data: &[u8]) -> io::Result<()> {
        if key.len() > MAX_KEY_LEN {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "blob key longer than 1024 bytes",
            ));
        }
        self.wait_indexed();
        let entry = EntryId::Blob(name_of(key));
        let _guard = self.lock(&entry);
        let mut index = self.index.lock();
        if index.get(&entry).is_some() {
            // Content-addressed: what is there is the same object (checked when read).
            index.touch(&entry);
            return Ok(());
        }
        drop(index);
        let header = encode_header(key, data);
        let path = self.path_of(&entry);
        self.write_entry(entry, &path, file_len(key, data), 0, |f| {
            f.write_all(&header)?;
            f.write_all(data)
        })
    }

    pub(super) fn remove_blob(&self, key: &str) {
        self.wait_indexed();
        let entry = EntryId::Blob(name_of(key));
        let path = self.path_of(&entry);
        let _guard = self.lock(&entry);
        self.index.lock().remove(&entry);
        if let Err(e) = self.layout.delete(&path) {
            tracing::warn!(path = %path.display(), error = %e, "could not remove cached blob");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(key: &str, data: &[u8]) -> Bytes {
        let mut f = encode_header(key, data);
        f.extend_from_slice(data);
        Bytes::from(f)
    }

    #[test]
    fn round_trip_and_every_flip_detected() {
        let key = "sha256:0123abcd";
        let data = b"hello, plain git file\n";
        let file = encode(key, data);
        assert_eq!(file.len() as u64, file_len(key, data));
        assert_eq!(decode(file.clone(), key).unwrap(), &data[..]);
        assert!(decode(file.clone(), "sha256:other").is_err());
        for at in 0..file.len() {
            let mut bad = file.to_vec();
            bad[at] ^= 0x04;
            assert!(decode(Bytes::from(bad), key).is_err(), "flip at {at}");
        }
        for len in [0, 10, FIXED_LEN, file.len() - 1] {
            assert!(
                decode(file.slice(..len), key).is_err(),
                "truncated to {len}"
            );
        }
    }

    #[test]
    fn empty_blob_is_valid() {
        let file = encode("k", b"");
        assert_eq!(decode(file, "k").unwrap().len(), 0);
    }
}
