//! The mock's CAS: content-addressed xorbs built with the real chunker and xorb builder, and the
//! terms of every Xet file. Chunks already stored (by any file of any repo) are reused, so dedup
//! across files and revisions behaves as on the Hub.

use std::collections::HashMap;

use bytes::Bytes;

use crate::xet::chunk::CompressionPolicy;
use crate::xet::chunker::chunk_lengths;
use crate::xet::merkle::file_hash;
use crate::xet::plan::XorbLayout;
use crate::xet::reconstruction::{ChunkRange, Term};
use crate::xet::xorb::{XorbBuilder, XorbChunk};
use crate::xet::{chunk_hash, MerkleHash};

/// A xorb as the transfer host serves it: its records (no footer) and chunk table.
pub(super) struct StoredXorb {
    pub records: Bytes,
    pub chunks: Vec<XorbChunk>,
}

#[derive(Default)]
pub(super) struct XetStore {
    pub xorbs: HashMap<MerkleHash, StoredXorb>,
    /// Chunk hash → where it is stored (first occurrence).
    chunk_index: HashMap<MerkleHash, (MerkleHash, u32)>,
    /// File hash → terms.
    pub files: HashMap<MerkleHash, Vec<Term>>,
}

/// Where a chunk of the file being added lives.
#[derive(Clone, Copy)]
enum Loc {
    Stored(MerkleHash, u32),
    /// In the `n`-th xorb built for this file.
    New(usize, u32),
}

impl XetStore {
    /// Chunks `data`, stores its new chunks in new xorbs, records its terms; returns the file hash.
    pub fn add_file(&mut self, data: &[u8]) -> MerkleHash {
        let mut hashes = Vec::new();
        let mut locs = Vec::new();
        let mut built = Vec::new();
        let mut current: Option<XorbBuilder> = None;
        let mut new_index: HashMap<MerkleHash, (usize, u32)> = HashMap::new();
        let mut offset = 0;
        for len in chunk_lengths(data) {
            let raw = &data[offset..offset + len];
            offset += len;
            let h = chunk_hash(raw);
            hashes.push((h, len as u64));
            let loc = if let Some(&(x, i)) = self.chunk_index.get(&h) {
                Loc::Stored(x, i)
            } else if let Some(&(n, i)) = new_index.get(&h) {
                Loc::New(n, i)
            } else {
                if current.as_ref().is_some_and(|b| !b.fits(len)) {
                    built.push(current.take().expect("checked above").finish());
                }
                let builder =
                    current.get_or_insert_with(|| XorbBuilder::new(CompressionPolicy::default()));
                let i = builder.add_chunk_with_hash(h, raw);
                new_index.insert(h, (built.len(), i));
                Loc::New(built.len(), i)
            };
            locs.push((loc, len as u32));
        }
        if let Some(b) = current.filter(|b| !b.is_empty()) {
            built.push(b.finish());
        }
        let built_hashes: Vec<MerkleHash> = built.iter().map(|x| x.hash).collect();
        for x in built {
            for (i, c) in x.chunks.iter().enumerate() {
                self.chunk_index.entry(c.hash).or_insert((x.hash, i as u32));
            }
            self.xorbs.insert(
                x.hash,
                StoredXorb {
                    records: Bytes::from(x.records),
                    chunks: x.chunks,
                },
            );
        }
        let terms = merge_terms(locs.into_iter().map(|(loc, len)| {
            let (xorb, index) = match loc {
                Loc::Stored(x, i) => (x, i),
                Loc::New(n, i) => (built_hashes[n], i),
            };
            (xorb, index, len)
        }));
        let hash = file_hash(&hashes);
        self.files.insert(hash, terms);
        hash
    }
}

/// Runs of consecutive chunks of one xorb become one term.
fn merge_terms(chunks: impl Iterator<Item = (MerkleHash, u32, u32)>) -> Vec<Term> {
    let mut terms: Vec<Term> = Vec::new();
    for (xorb, index, len) in chunks {
        match terms.last_mut() {
            Some(t) if t.hash == xorb && t.range.end == index => {
                t.range.end += 1;
                t.unpacked_length += len;
            }
            _ => terms.push(Term {
                hash: xorb,
                unpacked_length: len,
                range: ChunkRange::new(index, index + 1),
            }),
        }
    }
    terms
}

impl XorbLayout for XetStore {
    fn chunk(&self, xorb: &MerkleHash, index: u32) -> Option<(u64, u32)> {
        let c = self.xorbs.get(xorb)?.chunks.get(index as usize)?;
        Some((c.record_start + u64::from(c.record_len), c.raw_len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_chunks_merge_into_terms() {
        let a = MerkleHash::from_bytes([1; 32]);
        let b = MerkleHash::from_bytes([2; 32]);
        let t = merge_terms([(a, 0, 10), (a, 1, 10), (b, 0, 5), (a, 2, 1), (a, 2, 1)].into_iter());
        assert_eq!(t.len(), 4);
        assert_eq!(
            (t[0].range, t[0].unpacked_length),
            (ChunkRange::new(0, 2), 20)
        );
        assert_eq!(t[2].range, ChunkRange::new(2, 3));
        assert_eq!(t[3].range, ChunkRange::new(2, 3));
    }
}
