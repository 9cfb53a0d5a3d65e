//! Errors of the pure format code. Every malformed input maps to one of these, never to a panic.

use super::hash::MerkleHash;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XetFormatError {
    #[error("truncated {what}: need {need} bytes, have {have}")]
    Truncated {
        what: &'static str,
        need: u64,
        have: u64,
    },
    #[error("unsupported chunk header version {0}")]
    BadVersion(u8),
    #[error("unknown compression scheme {0}")]
    UnknownScheme(u8),
    #[error("chunk declares {declared} bytes, over the limit of {limit}")]
    TooLarge { declared: u64, limit: u64 },
    #[error("LZ4 frame is invalid: {0}")]
    Lz4(String),
    #[error("{what}: expected {expected} bytes, got {got}")]
    LengthMismatch {
        what: &'static str,
        expected: u64,
        got: u64,
    },
    #[error("{0} unexpected bytes after the last record")]
    TrailingBytes(u64),
    #[error("{what}: expected {expected} records, found {found}")]
    RecordCount {
        what: &'static str,
        expected: u64,
        found: u64,
    },
    #[error("hash mismatch for {what}: expected {expected}, computed {computed}")]
    HashMismatch {
        what: &'static str,
        expected: MerkleHash,
        computed: MerkleHash,
    },
    #[error("invalid xorb footer: {0}")]
    Footer(String),
    #[error("invalid shard: {0}")]
    Shard(String),
}
