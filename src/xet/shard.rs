//! Shards (§6.3): the minimal upload form (header, file-info, xorb-info, bookends) and the full
//! stored form (lookup tables + 200-byte footer) that the global-dedup query must return.
//!
//! Serializers write files and xorbs in the reference's order (ascending hash compared as four
//! little-endian u64 words, i.e. by the string form; a repeated hash keeps its last entry, as the
//! reference's map does), so the same content gives byte-identical shards.

use super::error::XetFormatError;
use super::hash::MerkleHash;

mod parse;
mod write;

/// `file_flags` bit: verification entries follow.
pub const FILE_FLAG_VERIFICATION: u32 = 0x8000_0000;
/// `file_flags` bit: a metadata extension (SHA-256) follows.
pub const FILE_FLAG_METADATA_EXT: u32 = 0x4000_0000;
/// Chunk entry flag: eligible for global dedup queries.
pub const CHUNK_FLAG_GLOBAL_DEDUP: u32 = 0x8000_0000;

/// Tag at the start of every shard: "HFRepoMetaData", 0, then 17 magic bytes.
pub const SHARD_TAG: [u8; 32] = [
    b'H', b'F', b'R', b'e', b'p', b'o', b'M', b'e', b't', b'a', b'D', b'a', b't', b'a', 0, 85, 105,
    103, 69, 106, 123, 129, 87, 131, 165, 189, 217, 92, 205, 209, 74, 169,
];
pub(crate) const HEADER_VERSION: u64 = 2;
pub(crate) const FOOTER_VERSION: u64 = 1;
pub const HEADER_LEN: usize = 48;
/// Every entry of the two sections is 48 bytes.
pub const ENTRY_LEN: usize = 48;
pub const FOOTER_LEN: usize = 200;

/// One term of a file in a shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardTerm {
    pub xorb_hash: MerkleHash,
    pub xorb_flags: u32,
    pub unpacked_bytes: u32,
    pub chunk_start: u32,
    pub chunk_end: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardFile {
    pub file_hash: MerkleHash,
    pub terms: Vec<ShardTerm>,
    /// One verification hash per term, when present.
    pub verification: Option<Vec<MerkleHash>>,
    /// The file's SHA-256 as the normal digest bytes (the stored byte-swapped form is handled by
    /// the parser/serializer, §6.3 quirk).
    pub sha256: Option<[u8; 32]>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardXorbChunk {
    pub hash: MerkleHash,
    /// Raw offset of the chunk inside the xorb.
    pub byte_start: u32,
    pub raw_len: u32,
    pub flags: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardXorb {
    pub xorb_hash: MerkleHash,
    pub flags: u32,
    pub num_bytes_in_xorb: u32,
    pub num_bytes_on_disk: u32,
    pub chunks: Vec<ShardXorbChunk>,
}

/// Footer fields of a full shard that a reader of dedup answers needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShardFooterInfo {
    pub chunk_hash_hmac_key: MerkleHash,
    pub creation_timestamp: u64,
    pub key_expiry: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Shard {
    pub files: Vec<ShardFile>,
    pub xorbs: Vec<ShardXorb>,
    /// Present when the parsed shard had a footer.
    pub footer: Option<ShardFooterInfo>,
}

/// The stored SHA-256: each 8-byte group of the digest reversed, so that the Xet string form of
/// the stored bytes is the usual hex digest (§6.3). The transform is its own inverse.
pub fn sha256_stored_form(digest: &[u8; 32]) -> [u8; 32] {
    let mut out = *digest;
    for word in out.chunks_exact_mut(8) {
        word.reverse();
    }
    out
}

/// A chunk hash as a dedup shard with HMAC key `key` stores it (§6.5); unchanged for a zero key.
pub fn keyed_chunk_hash(key: &MerkleHash, hash: &MerkleHash) -> MerkleHash {
    if key.is_zero() {
        *hash
    } else {
        MerkleHash::keyed(key.as_bytes(), hash.as_bytes())
    }
}

impl Shard {
    /// Parses an upload body or a full shard, sequentially, with every count bounded by the input.
    pub fn parse(bytes: &[u8]) -> Result<Self, XetFormatError> {
        parse::parse(bytes)
    }

    /// The minimal upload form: header (`footer_size = 0`), both sections, no lookup tables.
    pub fn serialize_upload(&self) -> Vec<u8> {
        write::upload(self)
    }

    /// The full form with lookup tables and a version-1 footer (what a dedup query returns).
    ///
    /// When `footer.chunk_hash_hmac_key` is non-zero, chunk hashes (and the chunk lookup table)
    /// are written keyed with it, as a dedup answer must be; `self` holds the plain hashes.
    pub fn serialize_full(&self, footer: &ShardFooterInfo) -> Vec<u8> {
        write::full(self, footer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xet::chunk_hash;

    fn h(s: &str) -> MerkleHash {
        chunk_hash(s.as_bytes())
    }

    fn sample() -> Shard {
        let xorb = ShardXorb {
            xorb_hash: h("x"),
            flags: 0,
            num_bytes_in_xorb: 30,
            num_bytes_on_disk: 0,
            chunks: (0..3)
                .map(|i| ShardXorbChunk {
                    hash: h(&format!("c{i}")),
                    byte_start: 10 * i,
                    raw_len: 10,
                    flags: 0,
                })
                .collect(),
        };
        let file = |name: &str, verification: bool, sha: bool| ShardFile {
            file_hash: h(name),
            terms: vec![ShardTerm {
                xorb_hash: h("x"),
                xorb_flags: 0,
                unpacked_bytes: 30,
                chunk_start: 0,
                chunk_end: 3,
            }],
            verification: verification.then(|| vec![h("v")]),
            sha256: sha.then_some([7; 32]),
        };
        Shard {
            files: vec![
                file("a", true, true),
                file("b", false, true),
                file("c", false, false),
            ],
            xorbs: vec![xorb],
            footer: None,
        }
    }

    /// The same shard with files in the reference's order.
    fn sorted(mut s: Shard) -> Shard {
        s.files.sort_by_key(|f| f.file_hash.to_hex());
        s
    }

    #[test]
    fn upload_and_full_forms_round_trip() {
        let s = sample();
        let upload = s.serialize_upload();
        assert_eq!(Shard::parse(&upload).unwrap(), sorted(s.clone()));
        let info = ShardFooterInfo {
            chunk_hash_hmac_key: MerkleHash::ZERO,
            creation_timestamp: 5,
            key_expiry: u64::MAX,
        };
        let full = s.serialize_full(&info);
        // The full form is the upload form (with footer_size = 200) plus tables and footer.
        let mut prefix = upload.clone();
        prefix[40..48].copy_from_slice(&200u64.to_le_bytes());
        assert_eq!(full[..upload.len()], prefix[..]);
        let parsed = Shard::parse(&full).unwrap();
        assert_eq!(parsed.footer, Some(info));
        assert_eq!(
            Shard {
                footer: None,
                ..parsed
            },
            sorted(s)
        );
    }

    #[test]
    fn repeated_hashes_keep_the_last_entry() {
        let mut s = sample();
        let mut again = s.files[0].clone();
        again.sha256 = None;
        s.files.push(again.clone());
        let parsed = Shard::parse(&s.serialize_upload()).unwrap();
        assert_eq!(parsed.files.len(), 3);
        assert!(parsed.files.contains(&again));
    }

    #[test]
    fn keyed_dedup_shard_stores_keyed_chunk_hashes() {
        let s = Shard {
            files: vec![],
            ..sample()
        };
        let key = h("key");
        let full = s.serialize_full(&ShardFooterInfo {
            chunk_hash_hmac_key: key,
            ..Default::default()
        });
        let parsed = Shard::parse(&full).unwrap();
        assert_eq!(
            parsed.xorbs[0].chunks[1].hash,
            MerkleHash::keyed(key.as_bytes(), s.xorbs[0].chunks[1].hash.as_bytes())
        );
    }

    #[test]
    fn lying_or_truncated_shards_are_errors() {
        let upload = sample().serialize_upload();
        for cut in 0..upload.len() {
            assert!(Shard::parse(&upload[..cut]).is_err(), "cut {cut}");
        }
        // First file header claims u32::MAX terms.
        let mut bad = upload.clone();
        bad[48 + 36..48 + 40].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(Shard::parse(&bad), Err(XetFormatError::Shard(_))));
        let mut bad = upload.clone();
        bad[0] ^= 1;
        assert!(Shard::parse(&bad).is_err());
        let mut bad = upload.clone();
        bad.push(0);
        assert!(matches!(
            Shard::parse(&bad),
            Err(XetFormatError::TrailingBytes(1))
        ));
        // A full shard whose footer offsets lie.
        let mut full = sample().serialize_full(&ShardFooterInfo::default());
        let n = full.len();
        full[n - 8..].copy_from_slice(&1u64.to_le_bytes());
        assert!(Shard::parse(&full).is_err());
    }

    #[test]
    fn sha256_is_stored_word_reversed() {
        let digest: [u8; 32] = std::array::from_fn(|i| i as u8);
        let stored = sha256_stored_form(&digest);
        assert_eq!(MerkleHash::from_bytes(stored).to_hex(), hex::encode(digest));
    }
}
