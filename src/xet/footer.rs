//! The xorb footer ("xorb info", v1; legacy v0 parse) (§3.5). Servers and whole-xorb tools only.
// SKELETON: bodies to be written (issue 2).

use super::error::XetFormatError;
use super::hash::MerkleHash;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XorbFooter {
    pub hash: MerkleHash,
    pub chunk_hashes: Vec<MerkleHash>,
    /// End offset (exclusive) of record `i` in the record area.
    pub chunk_boundary_offsets: Vec<u32>,
    /// Cumulative raw bytes through chunk `i` (absent in v0 footers: derived when possible).
    pub unpacked_chunk_offsets: Vec<u32>,
}

impl XorbFooter {
    /// Footer bytes followed by the trailing u32 footer length.
    pub fn serialize(&self) -> Vec<u8> {
        todo!()
    }

    /// Finds and parses the footer at the end of a stored object; returns it and the offset where
    /// it starts (= length of the record area).
    pub fn parse_from_end(object: &[u8]) -> Result<(Self, usize), XetFormatError> {
        let _ = object;
        todo!()
    }
}
