//! Pure Xet protocol code: hashes, chunking, chunk records, xorbs, shards and the reconstruction
//! JSON. No I/O, no async: everything here is deterministic and fuzzable.
//!
//! Byte-level reference: `../shared/docs/xet-protocol.md` (section numbers in comments refer to it).

mod bg4;
pub mod chunk;
pub mod chunker;
pub mod error;
pub mod file_hash;
pub mod footer;
pub mod hash;
mod lz4;
pub mod merkle;
pub mod plan;
pub mod reconstruction;
mod records;
pub mod shard;
pub mod xorb;

pub use error::XetFormatError;
pub use file_hash::file_hash_of_reader;
pub use hash::{chunk_hash, MerkleHash};

/// Target chunk size of the content-defined chunker (§1.1).
pub const TARGET_CHUNK_SIZE: usize = 64 * 1024;
/// No chunk except a file's last is shorter (§1.1).
pub const MIN_CHUNK_SIZE: usize = TARGET_CHUNK_SIZE / 8;
/// No chunk is longer; also the reader's limit on a record's `uncompressed_len` (§3.2).
pub const MAX_CHUNK_SIZE: usize = TARGET_CHUNK_SIZE * 2;
/// Largest `compressed_len` a reader accepts (§3.2, §9.9).
pub const MAX_COMPRESSED_CHUNK_SIZE: usize = 2 * MAX_CHUNK_SIZE;
/// Writer limit on raw bytes per xorb (§3.4).
pub const MAX_XORB_BYTES: usize = 64 * 1024 * 1024;
/// Writer limit on chunks per xorb (§3.4).
pub const MAX_XORB_CHUNKS: usize = 8192;
