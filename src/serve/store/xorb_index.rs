//! The per-xorb chunk table kept next to each stored xorb: chunk hashes, raw lengths and record
//! end offsets. It is what reconstruction planning and the chunk-hashes extension read, so a
//! request never parses a xorb.

use std::collections::HashMap;
use std::sync::Arc;

use crate::xet::plan::XorbLayout;
use crate::xet::reconstruction::ChunkRange;
use crate::xet::xorb::SerializedXorb;
use crate::xet::MerkleHash;

const MAGIC: &[u8; 8] = b"XETFSIX1";
const ENTRY: usize = 32 + 4 + 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexedChunk {
    pub hash: MerkleHash,
    pub raw_len: u32,
    /// Exclusive end offset of the chunk's record in the xorb.
    pub end: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XorbIndex {
    pub hash: MerkleHash,
    pub chunks: Vec<IndexedChunk>,
}

impl XorbIndex {
    pub fn from_serialized(x: &SerializedXorb) -> Self {
        XorbIndex {
            hash: x.hash,
            chunks: x
                .chunks
                .iter()
                .map(|c| IndexedChunk {
                    hash: c.hash,
                    raw_len: c.raw_len,
                    end: c.record_start + u64::from(c.record_len),
                })
                .collect(),
        }
    }

    /// Length of the stored records.
    pub fn records_len(&self) -> u64 {
        self.chunks.last().map_or(0, |c| c.end)
    }

    /// Byte range `[start, end)` of the records of `chunks`, if they exist.
    pub fn record_range(&self, chunks: ChunkRange) -> Option<(u64, u64)> {
        if chunks.is_empty() || chunks.end as usize > self.chunks.len() {
            return None;
        }
        let start = match chunks.start {
            0 => 0,
            s => self.chunks[s as usize - 1].end,
        };
        Some((start, self.chunks[chunks.end as usize - 1].end))
    }

    /// Binary form with a trailing BLAKE3 checksum.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 32 + 4 + self.chunks.len() * ENTRY + 32);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(self.hash.as_bytes());
        out.extend_from_slice(&(self.chunks.len() as u32).to_le_bytes());
        for c in &self.chunks {
            out.extend_from_slice(c.hash.as_bytes());
            out.extend_from_slice(&c.raw_len.to_le_bytes());
            out.extend_from_slice(&c.end.to_le_bytes());
        }
        let sum = blake3::hash(&out);
        out.extend_from_slice(sum.as_bytes());
        out
    }

    /// Parses [`encode`](Self::encode) output; `None` when damaged in any way.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let body_len = bytes.len().checked_sub(32)?;
        let (body, sum) = bytes.split_at(body_len);
        if blake3::hash(body).as_bytes() != sum || body.len() < 44 || &body[..8] != MAGIC {
            return None;
        }
        let hash = MerkleHash::from_slice(&body[8..40])?;
        let n = u32::from_le_bytes(body[40..44].try_into().ok()?) as usize;
        let entries = &body[44..];
        if entries.len() != n.checked_mul(ENTRY)? {
            return None;
        }
        let mut chunks = Vec::with_capacity(n);
        let mut prev_end = 0;
        for e in entries.chunks_exact(ENTRY) {
            let end = u64::from_le_bytes(e[36..44].try_into().ok()?);
            if end <= prev_end {
                return None;
            }
            prev_end = end;
            chunks.push(IndexedChunk {
                hash: MerkleHash::from_slice(&e[..32])?,
                raw_len: u32::from_le_bytes(e[32..36].try_into().ok()?),
                end,
            });
        }
        Some(XorbIndex { hash, chunks })
    }
}

/// The layouts of a set of loaded xorbs, as the planner wants them.
pub struct Layouts(pub HashMap<MerkleHash, Arc<XorbIndex>>);

impl XorbLayout for Layouts {
    fn chunk(&self, xorb: &MerkleHash, index: u32) -> Option<(u64, u32)> {
        let c = self.0.get(xorb)?.chunks.get(index as usize)?;
        Some((c.end, c.raw_len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage_detection() {
        let idx = XorbIndex {
            hash: MerkleHash::from_bytes([7; 32]),
            chunks: (1..=3)
                .map(|i| IndexedChunk {
                    hash: MerkleHash::from_bytes([i as u8; 32]),
                    raw_len: 100 * i,
                    end: u64::from(60 * i),
                })
                .collect(),
        };
        let bytes = idx.encode();
        assert_eq!(XorbIndex::decode(&bytes), Some(idx.clone()));
        for at in [0, 9, 50, bytes.len() - 1] {
            let mut bad = bytes.clone();
            bad[at] ^= 1;
            assert_eq!(XorbIndex::decode(&bad), None, "flip at {at}");
        }
        assert_eq!(XorbIndex::decode(&bytes[..20]), None);
        assert_eq!(idx.record_range(ChunkRange::new(1, 3)), Some((60, 180)));
        assert_eq!(idx.record_range(ChunkRange::new(0, 1)), Some((0, 60)));
        assert_eq!(idx.record_range(ChunkRange::new(2, 4)), None);
        assert_eq!(idx.records_len(), 180);
    }
}
