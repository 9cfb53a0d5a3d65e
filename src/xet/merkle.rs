//! Merkle aggregation with variable fan-out (§2.2), xorb hash (§2.3) and file hash (§2.4).
//!
//! [`merkle_root`] works on a complete list; [`MerkleBuilder`] computes the same root while the
//! leaves stream in, keeping only a handful of pending nodes per tree level (so hashing a huge file
//! needs bounded memory).

use std::io::Write;

use super::hash::{MerkleHash, INTERNAL_NODE_KEY};

/// Key of the final file-hash step: 32 zero bytes (§2.4).
const FILE_HASH_KEY: [u8; 32] = [0; 32];

/// A group never has more members than this (§2.2).
const MAX_GROUP: usize = 9;

/// Hash of an internal node over `children` and its size (sum of the children's sizes).
pub fn node_hash(children: &[(MerkleHash, u64)]) -> (MerkleHash, u64) {
    // Node text: "<hash string form> : <size>\n" per child (§2.2).
    let mut hasher = blake3::Hasher::new_keyed(&INTERNAL_NODE_KEY);
    let mut line = Vec::with_capacity(96);
    let mut total = 0u64;
    for (hash, size) in children {
        line.clear();
        // Writing into a Vec cannot fail.
        let _ = writeln!(line, "{hash} : {size}");
        hasher.update(&line);
        total = total.wrapping_add(*size);
    }
    (MerkleHash::from_bytes(*hasher.finalize().as_bytes()), total)
}

/// How many items of `level` (starting at its first item) form the next group (§2.2).
pub fn group_len(level: &[(MerkleHash, u64)]) -> usize {
    if level.len() <= 2 {
        return level.len();
    }
    let end = level.len().min(MAX_GROUP);
    (2..end)
        .find(|&i| level[i].0.last_u64() % 4 == 0)
        .map_or(end, |i| i + 1)
}

/// Root of the tree over `leaves`; 32 zero bytes for an empty list.
pub fn merkle_root(leaves: &[(MerkleHash, u64)]) -> MerkleHash {
    match leaves {
        [] => MerkleHash::ZERO,
        [(only, _)] => *only,
        _ => {
            let mut level = collapse_level(leaves);
            while level.len() > 1 {
                level = collapse_level(&level);
            }
            level[0].0
        }
    }
}

/// One level of the tree turned into the next.
fn collapse_level(level: &[(MerkleHash, u64)]) -> Vec<(MerkleHash, u64)> {
    let mut next = Vec::with_capacity(level.len() / 4 + 1);
    let mut rest = level;
    while !rest.is_empty() {
        let n = group_len(rest);
        next.push(node_hash(&rest[..n]));
        rest = &rest[n..];
    }
    next
}

/// Xorb hash: the root over the xorb's `(chunk hash, raw length)` pairs in xorb order.
pub fn xorb_hash(chunks: &[(MerkleHash, u64)]) -> MerkleHash {
    merkle_root(chunks)
}

/// File hash (the Xet file ID) over all of a file's chunks in file order; zero for no chunks.
pub fn file_hash(chunks: &[(MerkleHash, u64)]) -> MerkleHash {
    if chunks.is_empty() {
        return MerkleHash::ZERO;
    }
    file_hash_from_root(&merkle_root(chunks))
}

/// The last step of the file hash: keyed BLAKE3 (32 zero bytes) of the root's raw bytes.
pub fn file_hash_from_root(root: &MerkleHash) -> MerkleHash {
    MerkleHash::keyed(&FILE_HASH_KEY, root.as_bytes())
}

/// Streaming merkle root: push leaves one by one, get the same root as [`merkle_root`].
///
/// A level's first group is fixed as soon as the level holds [`MAX_GROUP`] pending items (the cut
/// rule only looks at the first nine), so each level keeps fewer than ten items.
#[derive(Debug, Clone, Default)]
pub struct MerkleBuilder {
    /// `levels[k]`: nodes of level `k` not yet grouped, and how many level-`k` items ever existed.
    levels: Vec<(Vec<(MerkleHash, u64)>, u64)>,
}

impl MerkleBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of leaves pushed so far.
    pub fn leaves(&self) -> u64 {
        self.levels.first().map_or(0, |(_, total)| *total)
    }

    pub fn push(&mut self, hash: MerkleHash, size: u64) {
        self.push_at(0, (hash, size));
    }

    fn push_at(&mut self, level: usize, item: (MerkleHash, u64)) {
        if self.levels.len() == level {
            self.levels.push((Vec::with_capacity(MAX_GROUP + 1), 0));
        }
        let (pending, total) = &mut self.levels[level];
        pending.push(item);
        *total += 1;
        if pending.len() > MAX_GROUP {
            // More than nine pending: the first group cannot change any more.
            let n = group_len(pending);
            let node = node_hash(&pending[..n]);
            pending.drain(..n);
            self.push_at(level + 1, node);
        }
    }

    /// The root over all leaves pushed (zero when none).
    pub fn root(mut self) -> MerkleHash {
        let mut level = 0;
        while level < self.levels.len() {
            let (pending, total) = std::mem::take(&mut self.levels[level]);
            if total == 1 && level + 1 == self.levels.len() {
                // The first level with a single item ever is the root.
                return pending[0].0;
            }
            let mut rest = &pending[..];
            while !rest.is_empty() {
                let n = group_len(rest);
                self.push_at(level + 1, node_hash(&rest[..n]));
                rest = &rest[n..];
            }
            level += 1;
        }
        MerkleHash::ZERO
    }

    /// The file hash over all leaves pushed (zero when none, §2.4).
    pub fn file_hash(self) -> MerkleHash {
        if self.leaves() == 0 {
            return MerkleHash::ZERO;
        }
        file_hash_from_root(&self.root())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xet::chunk_hash;

    fn leaves(n: usize) -> Vec<(MerkleHash, u64)> {
        (0..n)
            .map(|i| (chunk_hash(format!("x{i}").as_bytes()), i as u64 * 7))
            .collect()
    }

    #[test]
    fn streaming_root_equals_batch_root() {
        for n in [0, 1, 2, 3, 9, 10, 11, 80, 81, 82, 700, 2049] {
            let l = leaves(n);
            let mut b = MerkleBuilder::new();
            for (h, s) in &l {
                b.push(*h, *s);
            }
            let b2 = b.clone();
            assert_eq!(b.root(), merkle_root(&l), "n={n}");
            assert_eq!(b2.file_hash(), file_hash(&l), "n={n}");
        }
    }

    #[test]
    fn groups_have_three_to_nine_members_except_the_last() {
        let l = leaves(500);
        let mut rest = &l[..];
        while rest.len() > 2 {
            let n = group_len(rest);
            assert!((3..=9).contains(&n), "group of {n}");
            rest = &rest[n..];
        }
    }

    #[test]
    fn empty_file_hash_is_zero_without_keyed_step() {
        assert_eq!(file_hash(&[]), MerkleHash::ZERO);
        assert_eq!(MerkleBuilder::new().file_hash(), MerkleHash::ZERO);
    }
}
