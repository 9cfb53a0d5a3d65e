//! Compact binary form of a file's chunk map, persisted so cached bytes stay readable offline.
//!
//! Layout (little-endian): magic `XFSCMAP1`, file size u64, verified u8, extent count u32, then
//! per extent: start u64, xorb (32 raw bytes), chunk start u32, chunk end u32, has-hashes u8,
//! one u32 length per chunk, and one 32-byte hash per chunk when has-hashes is 1. Only extents
//! with known chunk lengths are stored. The metadata store adds a checksum around it; the decoder
//! still bounds every count by the input so a damaged file cannot cause a huge allocation.

use std::sync::Arc;

use super::chunk_map::{ChunkMap, Extent};
use crate::xet::reconstruction::ChunkRange;
use crate::xet::MerkleHash;

const MAGIC: &[u8; 8] = b"XFSCMAP1";

pub fn encode(map: &ChunkMap, verified: bool) -> Vec<u8> {
    let extents: Vec<&Extent> = map.known_extents().collect();
    let mut out = Vec::with_capacity(32 + extents.len() * 64);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&map.size().to_le_bytes());
    out.push(u8::from(verified));
    out.extend_from_slice(&(extents.len() as u32).to_le_bytes());
    for e in extents {
        let lens = e.chunk_lens.as_ref().expect("known extents have lengths");
        out.extend_from_slice(&e.start.to_le_bytes());
        out.extend_from_slice(e.xorb.as_bytes());
        out.extend_from_slice(&e.chunks.start.to_le_bytes());
        out.extend_from_slice(&e.chunks.end.to_le_bytes());
        out.push(u8::from(e.chunk_hashes.is_some()));
        for l in lens.iter() {
            out.extend_from_slice(&l.to_le_bytes());
        }
        for h in e.chunk_hashes.iter().flat_map(|h| h.iter()) {
            out.extend_from_slice(h.as_bytes());
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
        let xorb = MerkleHash::from_slice(r.take(32)?)?;
        let chunks = ChunkRange::new(r.u32()?, r.u32()?);
        let has_hashes = r.u8()? == 1;
        let n = chunks.len() as usize;
        if chunks.is_empty() || r.0.len() < n * 4 {
            return None;
        }
        let lens: Vec<u32> = (0..n).map(|_| r.u32()).collect::<Option<_>>()?;
        let hashes = if has_hashes {
            if r.0.len() < n * 32 {
                return None;
            }
            let v: Vec<MerkleHash> = (0..n)
                .map(|_| r.take(32).and_then(MerkleHash::from_slice))
                .collect::<Option<_>>()?;
            Some(Arc::from(v))
        } else {
            None
        };
        let len = lens.iter().map(|&l| u64::from(l)).sum();
        map.insert(Extent {
            start,
            len,
            xorb,
            chunks,
            chunk_lens: Some(Arc::from(lens)),
            chunk_hashes: hashes,
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

    fn sample() -> ChunkMap {
        let mut m = ChunkMap::new(1000);
        m.insert(Extent {
            start: 0,
            len: 300,
            xorb: MerkleHash::from_bytes([7; 32]),
            chunks: ChunkRange::new(2, 4),
            chunk_lens: Some(Arc::from(vec![100u32, 200])),
            chunk_hashes: Some(Arc::from(vec![
                MerkleHash::from_bytes([1; 32]),
                MerkleHash::from_bytes([2; 32]),
            ])),
        })
        .unwrap();
        // Unknown lengths are not persisted.
        m.insert(Extent {
            start: 300,
            len: 700,
            xorb: MerkleHash::from_bytes([8; 32]),
            chunks: ChunkRange::new(0, 9),
            chunk_lens: None,
            chunk_hashes: None,
        })
        .unwrap();
        m
    }

    #[test]
    fn round_trip() {
        let bytes = encode(&sample(), true);
        let (back, verified) = decode(&bytes, 1000).unwrap();
        assert!(verified);
        assert_eq!(back.extent_count(), 1);
        let c = back.chunk_at(150).unwrap();
        assert_eq!((c.key.index, c.offset, c.len), (3, 100, 200));
        assert_eq!(c.hash, Some(MerkleHash::from_bytes([2; 32])));
        assert_eq!(back.gaps(0..1000), vec![300..1000]);
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
        // A lying chunk count must not allocate or panic.
        let mut lying = bytes.clone();
        let at = 8 + 8 + 1 + 4 + 8 + 32 + 4;
        lying[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(&lying, 1000).is_none());
    }
}
