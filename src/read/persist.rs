//! Compact binary form of a file's chunk map, persisted so cached bytes stay readable offline.
//!
//! Layout (little-endian): magic `XFSCMAP2`, file size u64, verified u8, extent count u32, then
//! per extent: start u64, len u64, xorb (32 raw bytes), chunk start u32, chunk end u32, known
//! count u32, and per known chunk its length u32 and hash (32 raw bytes). Only extents with known
//! chunks are stored. The metadata store adds a checksum around it; the decoder still bounds
//! every count by the input so a damaged file cannot cause a huge allocation.

use std::sync::Arc;

use super::chunk_map::{ChunkInfo, ChunkMap, Extent};
use crate::xet::reconstruction::ChunkRange;
use crate::xet::MerkleHash;

const MAGIC: &[u8; 8] = b"XFSCMAP2";

pub fn encode(map: &ChunkMap, verified: bool) -> Vec<u8> {
    let extents: Vec<&Extent> = map.known_extents().collect();
    let mut out = Vec::with_capacity(
        32 + extents
            .iter()
            .map(|e| 64 + e.known.len() * 36)
            .sum::<usize>(),
    );
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&map.size().to_le_bytes());
    out.push(u8::from(verified));
    out.extend_from_slice(&(extents.len() as u32).to_le_bytes());
    for e in extents {
        out.extend_from_slice(&e.start.to_le_bytes());
        out.extend_from_slice(&e.len.to_le_bytes());
        out.extend_from_slice(e.xorb.as_bytes());
        out.extend_from_slice(&e.chunks.start.to_le_bytes());
        out.extend_from_slice(&e.chunks.end.to_le_bytes());
        out.extend_from_slice(&(e.known.len() as u32).to_le_bytes());
        for c in e.known.iter() {
            out.extend_from_slice(&c.len.to_le_bytes());
            out.extend_from_slice(c.hash.as_bytes());
        }
    }
    out
}

/// Decodes a persisted map for a file of `size` bytes; `None` when it is damaged or belongs to
/// a file of another size.
pub fn decode(bytes: &[u8], size: u64) -> Option<(ChunkMap, bool)> {
    let mut r = Reader(bytes);
    if r.take(8)? != MAGIC || r.u64()? != size {
        return None;
    }
    let verified = r.u8()? == 1;
    let count = r.u32()?;
    let mut map = ChunkMap::new(size);
    for _ in 0..count {
        let start = r.u64()?;
        let len = r.u64()?;
        let xorb = MerkleHash::from_slice(r.take(32)?)?;
        let chunks = ChunkRange::new(r.u32()?, r.u32()?);
        let n = r.u32()? as usize;
        if n > r.0.len() / 36 {
            return None;
        }
        let known: Vec<ChunkInfo> = (0..n)
            .map(|_| {
                Some(ChunkInfo {
                    len: r.u32()?,
                    hash: MerkleHash::from_slice(r.take(32)?)?,
                })
            })
            .collect::<Option<_>>()?;
        map.insert(Extent {
            known: Arc::from(known),
            ..Extent::new(start, len, xorb, chunks)
        })
        .ok()?;
    }
    r.0.is_empty().then_some((map, verified))
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(len: u32, h: u8) -> ChunkInfo {
        ChunkInfo {
            len,
            hash: MerkleHash::from_bytes([h; 32]),
        }
    }

    fn sample() -> ChunkMap {
        let mut m = ChunkMap::new(1000);
        let x = MerkleHash::from_bytes([7; 32]);
        m.insert(Extent {
            known: Arc::from(vec![info(100, 1), info(200, 2)]),
            ..Extent::new(0, 300, x, ChunkRange::new(2, 4))
        })
        .unwrap();
        // A partly known extent keeps its term length.
        m.insert(Extent {
            known: Arc::from(vec![info(50, 3)]),
            ..Extent::new(300, 500, x, ChunkRange::new(4, 9))
        })
        .unwrap();
        // Nothing known: not persisted.
        m.insert(Extent::new(
            800,
            200,
            MerkleHash::from_bytes([8; 32]),
            ChunkRange::new(0, 3),
        ))
        .unwrap();
        m
    }

    #[test]
    fn round_trip() {
        let bytes = encode(&sample(), true);
        let (back, verified) = decode(&bytes, 1000).unwrap();
        assert!(verified);
        assert_eq!(back.extent_count(), 2);
        let c = back.chunk_at(150).unwrap();
        assert_eq!((c.key.index, c.offset, c.info.len), (3, 100, 200));
        assert_eq!(c.info.hash, MerkleHash::from_bytes([2; 32]));
        assert_eq!(back.chunk_at(320).unwrap().key.index, 4);
        assert!(back.chunk_at(360).is_none());
        assert_eq!(back.gaps(0..1000), vec![800..1000]);
    }

    #[test]
    fn damaged_or_foreign_maps_are_rejected() {
        let bytes = encode(&sample(), false);
        assert!(decode(&bytes, 999).is_none());
        for cut in [0, 7, 20, bytes.len() - 1] {
            assert!(decode(&bytes[..cut], 1000).is_none(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer, 1000).is_none());
        // A lying known count must not allocate or panic.
        let mut lying = bytes.clone();
        let at = 8 + 8 + 1 + 4 + 8 + 8 + 32 + 4 + 4;
        lying[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(&lying, 1000).is_none());
    }
}
