//! The Xet file hash of a byte stream: chunk (§1), hash chunks (§2.1), merkle root + keyed step
//! (§2.4), with memory bounded by a few chunks whatever the stream's length.

use std::io::{self, Read};

use super::chunker::ReaderChunker;
use super::hash::{chunk_hash, MerkleHash};
use super::merkle::MerkleBuilder;

/// Xet file hash (the Hub's `xetHash`) of everything `reader` yields; zero for an empty stream.
pub fn file_hash_of_reader(reader: impl Read) -> io::Result<MerkleHash> {
    let mut tree = MerkleBuilder::new();
    for chunk in ReaderChunker::new(reader) {
        let chunk = chunk?;
        tree.push(chunk_hash(&chunk), chunk.len() as u64);
    }
    Ok(tree.file_hash())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xet::chunker::chunk_lengths;
    use crate::xet::merkle::file_hash;

    #[test]
    fn agrees_with_the_batch_computation() {
        let data: Vec<u8> = (0..600_000u32)
            .map(|i| (i.wrapping_mul(40503) >> 7) as u8)
            .collect();
        let mut leaves = Vec::new();
        let mut at = 0;
        for n in chunk_lengths(&data) {
            leaves.push((chunk_hash(&data[at..at + n]), n as u64));
            at += n;
        }
        assert_eq!(file_hash_of_reader(&data[..]).unwrap(), file_hash(&leaves));
        assert_eq!(file_hash_of_reader(&[][..]).unwrap(), MerkleHash::ZERO);
    }
}
