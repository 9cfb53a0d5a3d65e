//! Merkle aggregation with variable fan-out (§2.2), xorb hash (§2.3) and file hash (§2.4).
// SKELETON: bodies to be written (issue 2).

use super::hash::MerkleHash;

/// Hash of an internal node over `children` and its size (sum of the children's sizes).
pub fn node_hash(children: &[(MerkleHash, u64)]) -> (MerkleHash, u64) {
    let _ = children;
    todo!("§2.2 node text + keyed BLAKE3")
}

/// How many items of `level` (starting at its first item) form the next group (§2.2).
pub fn group_len(level: &[(MerkleHash, u64)]) -> usize {
    let _ = level;
    todo!()
}

/// Root of the tree over `leaves`; 32 zero bytes for an empty list.
pub fn merkle_root(leaves: &[(MerkleHash, u64)]) -> MerkleHash {
    let _ = leaves;
    todo!()
}

/// Xorb hash: the root over the xorb's `(chunk hash, raw length)` pairs in xorb order.
pub fn xorb_hash(chunks: &[(MerkleHash, u64)]) -> MerkleHash {
    merkle_root(chunks)
}

/// File hash (the Xet file ID) over all of a file's chunks in file order; zero for no chunks.
pub fn file_hash(chunks: &[(MerkleHash, u64)]) -> MerkleHash {
    let _ = chunks;
    todo!()
}

/// The last step of the file hash: keyed BLAKE3 (32 zero bytes) of the root's raw bytes.
pub fn file_hash_from_root(root: &MerkleHash) -> MerkleHash {
    let _ = root;
    todo!()
}
