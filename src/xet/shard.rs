//! Shards (§6.3): the minimal upload form (header, file-info, xorb-info, bookends) and the full
//! stored form (lookup tables + 200-byte footer) that the global-dedup query must return.
// SKELETON: bodies to be written (issue 2).

use super::error::XetFormatError;
use super::hash::MerkleHash;

/// `file_flags` bit: verification entries follow.
pub const FILE_FLAG_VERIFICATION: u32 = 0x8000_0000;
/// `file_flags` bit: a metadata extension (SHA-256) follows.
pub const FILE_FLAG_METADATA_EXT: u32 = 0x4000_0000;

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

impl Shard {
    /// Parses an upload body or a full shard, sequentially, with every count bounded by the input.
    pub fn parse(bytes: &[u8]) -> Result<Self, XetFormatError> {
        let _ = bytes;
        todo!()
    }

    /// The minimal upload form: header (`footer_size = 0`), both sections, no lookup tables.
    pub fn serialize_upload(&self) -> Vec<u8> {
        todo!()
    }

    /// The full form with lookup tables and a version-1 footer (what a dedup query returns).
    pub fn serialize_full(&self, footer: &ShardFooterInfo) -> Vec<u8> {
        let _ = footer;
        todo!()
    }
}
