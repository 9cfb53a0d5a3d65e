//! Which chunks make up which bytes of one file, as far as the engine has learned it.
//!
//! A reconstruction answer tells where each *term* (a run of chunks of one xorb) starts in the
//! file and how long it is, but not where the chunks inside it start: that is learned as the
//! chunks are decoded, front to back. So an [`Extent`] is a term anchored at a file offset plus
//! the known prefix of its chunks (length and hash of each). Answers for different windows overlap
//! at their edges (the server returns whole chunks), so extents may overlap; they always describe
//! the same underlying chunk sequence, and lookups prefer extents that know the chunk at hand.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::sync::Arc;

use crate::cache::ChunkKey;
use crate::xet::reconstruction::ChunkRange;
use crate::xet::MerkleHash;

/// Length and hash of one chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkInfo {
    pub len: u32,
    pub hash: MerkleHash,
}

/// A run of chunks `chunks` of `xorb`, occupying file bytes `[start, start + len)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extent {
    pub start: u64,
    pub len: u64,
    pub xorb: MerkleHash,
    pub chunks: ChunkRange,
    /// The chunks learned so far, from the first one on (complete when it has `chunks.len()`).
    pub known: Arc<[ChunkInfo]>,
}

impl Extent {
    /// A term as the server described it: nothing known about its chunks yet.
    pub fn new(start: u64, len: u64, xorb: MerkleHash, chunks: ChunkRange) -> Self {
        Extent {
            start,
            len,
            xorb,
            chunks,
            known: Arc::from(Vec::new()),
        }
    }

    pub fn end(&self) -> u64 {
        self.start + self.len
    }

    pub fn is_complete(&self) -> bool {
        self.known.len() == self.chunks.len() as usize
    }

    pub fn key(&self, index: u32) -> ChunkKey {
        ChunkKey {
            xorb: self.xorb,
            index,
        }
    }

    /// Known chunks with their index and file offset.
    pub fn known_chunks(&self) -> impl Iterator<Item = (u32, u64, ChunkInfo)> + '_ {
        let mut at = self.start;
        self.known.iter().enumerate().map(move |(i, c)| {
            let item = (self.chunks.start + i as u32, at, *c);
            at += u64::from(c.len);
            item
        })
    }

    /// Where a reader of byte `pos` must start: the known chunk holding `pos`, or else the first
    /// chunk not known yet. Returns `(chunk index, file offset of that chunk)`.
    pub fn resume_point(&self, pos: u64) -> (u32, u64) {
        let mut at = self.start;
        for (i, c) in self.known.iter().enumerate() {
            if pos < at + u64::from(c.len) {
                return (self.chunks.start + i as u32, at);
            }
            at += u64::from(c.len);
        }
        (self.chunks.start + self.known.len() as u32, at)
    }

    /// The known info of chunk `index`.
    pub fn info(&self, index: u32) -> Option<ChunkInfo> {
        let i = index.checked_sub(self.chunks.start)? as usize;
        self.known.get(i).copied()
    }
}

/// One chunk of a file: where it lives and which file bytes it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlacedChunk {
    pub key: ChunkKey,
    pub offset: u64,
    pub info: ChunkInfo,
}

/// Why an extent or what was learned about it does not fit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkMapError {
    #[error("chunks {start}..{end} of xorb {xorb} decode to {sum} bytes, the term says {len}")]
    LengthMismatch {
        xorb: MerkleHash,
        start: u32,
        end: u32,
        sum: u64,
        len: u64,
    },
    #[error("extent at {start}+{len} runs past the end of the file ({size})")]
    PastEof { start: u64, len: u64, size: u64 },
    #[error("no extent of xorb {0} chunks starts at {1}")]
    UnknownExtent(MerkleHash, u64),
}

/// The learned layout of one file.
#[derive(Debug, Clone, Default)]
pub struct ChunkMap {
    size: u64,
    /// Keyed by (start, end, first chunk) so distinct overlapping extents coexist.
    extents: BTreeMap<(u64, u64, u32), Extent>,
    /// Longest extent: bounds the backward scan for extents covering an offset.
    max_len: u64,
}

impl ChunkMap {
    pub fn new(size: u64) -> Self {
        ChunkMap {
            size,
            ..Default::default()
        }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn extent_count(&self) -> usize {
        self.extents.len()
    }

    /// Records a term (keeping what is already known about an equal one).
    pub fn insert(&mut self, extent: Extent) -> Result<(), ChunkMapError> {
        if extent.len == 0 || extent.chunks.is_empty() || extent.end() > self.size {
            return Err(ChunkMapError::PastEof {
                start: extent.start,
                len: extent.len,
                size: self.size,
            });
        }
        check_known(&extent, &extent.known)?;
        let key = (extent.start, extent.end(), extent.chunks.start);
        match self.extents.get_mut(&key) {
            Some(e) if e.xorb == extent.xorb && e.chunks == extent.chunks => {
                if extent.known.len() > e.known.len() {
                    e.known = extent.known;
                }
            }
            _ => {
                self.max_len = self.max_len.max(extent.len);
                self.extents.insert(key, extent);
            }
        }
        Ok(())
    }

    /// Appends chunks learned right after the known prefix of the extent `(start, len, xorb,
    /// chunks)`. Learning that does not continue the prefix is ignored; learning that contradicts
    /// the term (too many bytes, or a complete prefix of the wrong total) is an error.
    pub fn learn(
        &mut self,
        extent: &Extent,
        first: u32,
        learned: &[ChunkInfo],
    ) -> Result<(), ChunkMapError> {
        let key = (extent.start, extent.end(), extent.chunks.start);
        let Some(e) = self
            .extents
            .get_mut(&key)
            .filter(|e| e.xorb == extent.xorb && e.chunks == extent.chunks)
        else {
            return Err(ChunkMapError::UnknownExtent(extent.xorb, extent.start));
        };
        let have = e.chunks.start + e.known.len() as u32;
        if first > have || first + learned.len() as u32 <= have {
            return Ok(());
        }
        let skip = (have - first) as usize;
        let mut known: Vec<ChunkInfo> = e.known.to_vec();
        known.extend_from_slice(&learned[skip..]);
        let tmp = Extent {
            known: Arc::from(known),
            ..e.clone()
        };
        check_known(&tmp, &tmp.known)?;
        e.known = tmp.known;
        Ok(())
    }

    /// Extents overlapping `range`, in start order.
    fn overlapping(&self, range: Range<u64>) -> impl Iterator<Item = &Extent> {
        let from = range.start.saturating_sub(self.max_len);
        self.extents
            .range((from, 0, 0)..(range.end, 0, 0))
            .map(|(_, e)| e)
            .filter(move |e| e.end() > range.start && e.start < range.end)
    }

    /// The extent to read byte `pos` from: one that already knows the chunk holding it if any,
    /// else the one starting closest before `pos` (the narrowest answer for that spot).
    pub fn extent_at(&self, pos: u64) -> Option<&Extent> {
        let mut best: Option<&Extent> = None;
        for e in self.overlapping(pos..pos + 1) {
            let (index, _) = e.resume_point(pos);
            if e.info(index).is_some() {
                return Some(e);
            }
            // Prefer the extent whose resume point is closest to `pos`, then the shorter one.
            let rank = |x: &Extent| (x.resume_point(pos).1, u64::MAX - x.len);
            if best.is_none_or(|b| rank(e) > rank(b)) {
                best = Some(e);
            }
        }
        best
    }

    /// The known chunk holding `pos`.
    pub fn chunk_at(&self, pos: u64) -> Option<PlacedChunk> {
        self.overlapping(pos..pos + 1).find_map(|e| {
            let (index, offset) = e.resume_point(pos);
            let info = e.info(index)?;
            Some(PlacedChunk {
                key: e.key(index),
                offset,
                info,
            })
        })
    }

    /// Sub-ranges of `range` (clamped to the file) that no extent covers.
    pub fn gaps(&self, range: Range<u64>) -> Vec<Range<u64>> {
        let range = range.start.min(self.size)..range.end.min(self.size);
        let mut covered: Vec<(u64, u64)> = self
            .overlapping(range.clone())
            .map(|e| (e.start, e.end()))
            .collect();
        covered.sort_unstable();
        let mut gaps = Vec::new();
        let mut cursor = range.start;
        for (s, e) in covered {
            if s > cursor {
                gaps.push(cursor..s.min(range.end));
            }
            cursor = cursor.max(e);
            if cursor >= range.end {
                break;
            }
        }
        if cursor < range.end {
            gaps.push(cursor..range.end);
        }
        gaps
    }

    /// The whole file as a chunk sequence, when known chunks cover every byte and meet at chunk
    /// boundaries. This is what the file hash is computed over.
    pub fn chunk_sequence(&self) -> Option<Vec<PlacedChunk>> {
        let mut out = Vec::new();
        let mut pos = 0u64;
        while pos < self.size {
            let extent = self.overlapping(pos..pos + 1).find(|e| {
                e.info(e.resume_point(pos).0).is_some() && e.resume_point(pos).1 == pos
            })?;
            for (index, offset, info) in extent.known_chunks() {
                if offset >= pos {
                    out.push(PlacedChunk {
                        key: extent.key(index),
                        offset,
                        info,
                    });
                    pos = offset + u64::from(info.len);
                }
            }
        }
        Some(out)
    }

    /// Chunks holding bytes of `range`: the known ones that overlap it, and every not-yet-known
    /// chunk of an extent that reaches into it.
    pub fn keys_in(&self, range: Range<u64>) -> BTreeSet<ChunkKey> {
        let mut keys = BTreeSet::new();
        for e in self.overlapping(range.clone()) {
            let mut end_of_known = e.start;
            for (i, off, c) in e.known_chunks() {
                end_of_known = off + u64::from(c.len);
                if end_of_known > range.start && off < range.end {
                    keys.insert(e.key(i));
                }
            }
            if end_of_known < range.end {
                let first_unknown = e.chunks.start + e.known.len() as u32;
                keys.extend((first_unknown..e.chunks.end).map(|i| e.key(i)));
            }
        }
        keys
    }

    /// Extents with at least one known chunk (what is worth persisting).
    pub fn known_extents(&self) -> impl Iterator<Item = &Extent> {
        self.extents.values().filter(|e| !e.known.is_empty())
    }

    /// Forgets everything learned (after a failed file check).
    pub fn clear(&mut self) {
        self.extents.clear();
        self.max_len = 0;
    }
}

/// A known prefix must never hold more chunks or bytes than the term, and a complete one must
/// add up exactly.
fn check_known(extent: &Extent, known: &[ChunkInfo]) -> Result<(), ChunkMapError> {
    let sum: u64 = known.iter().map(|c| u64::from(c.len)).sum();
    let n = extent.chunks.len() as usize;
    let complete = known.len() == n;
    if known.len() > n || sum > extent.len || (complete && sum != extent.len) {
        return Err(ChunkMapError::LengthMismatch {
            xorb: extent.xorb,
            start: extent.chunks.start,
            end: extent.chunks.end,
            sum,
            len: extent.len,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x(n: u8) -> MerkleHash {
        MerkleHash::from_bytes([n; 32])
    }

    fn infos(lens: &[u32]) -> Vec<ChunkInfo> {
        lens.iter()
            .map(|&len| ChunkInfo {
                len,
                hash: MerkleHash::from_bytes([len as u8; 32]),
            })
            .collect()
    }

    fn ext(start: u64, xorb: u8, chunks: (u32, u32), known: &[u32], len: u64) -> Extent {
        Extent {
            known: Arc::from(infos(known)),
            ..Extent::new(start, len, x(xorb), ChunkRange::new(chunks.0, chunks.1))
        }
    }

    #[test]
    fn gaps_and_lookup() {
        let mut m = ChunkMap::new(1000);
        m.insert(ext(100, 1, (0, 3), &[50, 50, 100], 200)).unwrap();
        assert_eq!(m.gaps(0..1000), vec![0..100, 300..1000]);
        assert!(m.gaps(150..250).is_empty());
        assert_eq!(m.gaps(950..2000), vec![950..1000]);
        let c = m.chunk_at(160).unwrap();
        assert_eq!((c.key.index, c.offset, c.info.len), (1, 150, 50));
        assert!(m.chunk_at(99).is_none());
        assert!(m.chunk_at(300).is_none());
    }

    #[test]
    fn prefix_is_learned_front_to_back() {
        let mut m = ChunkMap::new(500);
        let e = ext(0, 1, (4, 8), &[], 500);
        m.insert(e.clone()).unwrap();
        assert!(m.gaps(0..500).is_empty());
        assert!(m.chunk_at(10).is_none());
        assert_eq!(m.extent_at(450).unwrap().resume_point(450), (4, 0));
        // Learning that does not continue the prefix is ignored.
        m.learn(&e, 6, &infos(&[100])).unwrap();
        assert!(m.chunk_at(10).is_none());
        m.learn(&e, 4, &infos(&[100, 100])).unwrap();
        assert_eq!(m.chunk_at(150).unwrap().key.index, 5);
        assert_eq!(m.extent_at(450).unwrap().resume_point(450), (6, 200));
        // Overlapping learning is merged.
        m.learn(&e, 5, &infos(&[100, 100, 200])).unwrap();
        assert_eq!(m.chunk_at(450).unwrap().key.index, 7);
        assert!(m.extent_at(0).unwrap().is_complete());
        assert_eq!(m.extent_count(), 1);
    }

    #[test]
    fn lying_lengths_are_rejected() {
        let mut m = ChunkMap::new(500);
        let e = ext(0, 1, (0, 2), &[], 300);
        m.insert(e.clone()).unwrap();
        // Complete but short.
        assert!(matches!(
            m.learn(&e, 0, &infos(&[100, 100])),
            Err(ChunkMapError::LengthMismatch { .. })
        ));
        // More bytes than the term.
        assert!(m.learn(&e, 0, &infos(&[301])).is_err());
        assert!(m.insert(ext(0, 1, (0, 2), &[100, 100], 300)).is_err());
        assert!(m.insert(ext(400, 1, (0, 2), &[], 300)).is_err());
        // Nothing wrong was kept.
        assert!(m.extent_at(0).unwrap().known.is_empty());
    }

    #[test]
    fn overlapping_windows_make_one_sequence() {
        // File: xorb 1 chunks 0..4 (100 each) then xorb 2 chunks 0..2 (50 each) = 500 bytes.
        let mut m = ChunkMap::new(500);
        // Window A: [0, 250) → term 1[0,3) (its last chunk runs past the window).
        m.insert(ext(0, 1, (0, 3), &[100, 100, 100], 300)).unwrap();
        assert!(m.chunk_sequence().is_none());
        // Window B: [250, 500) → trimmed term 1[2,4) starting at 200, then 2[0,2).
        m.insert(ext(200, 1, (2, 4), &[100, 100], 200)).unwrap();
        m.insert(ext(400, 2, (0, 2), &[50, 50], 100)).unwrap();
        let got: Vec<(u8, u32, u64)> = m
            .chunk_sequence()
            .unwrap()
            .iter()
            .map(|c| (c.key.xorb.as_bytes()[0], c.key.index, c.offset))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, 0, 0),
                (1, 1, 100),
                (1, 2, 200),
                (1, 3, 300),
                (2, 0, 400),
                (2, 1, 450)
            ]
        );
    }

    #[test]
    fn sequence_needs_every_byte() {
        let mut m = ChunkMap::new(300);
        m.insert(ext(0, 1, (0, 2), &[100, 100], 200)).unwrap();
        let tail = ext(200, 1, (2, 3), &[], 100);
        m.insert(tail.clone()).unwrap();
        assert!(m.chunk_sequence().is_none());
        m.learn(&tail, 2, &infos(&[100])).unwrap();
        assert_eq!(m.chunk_sequence().unwrap().len(), 3);
    }

    #[test]
    fn keys_for_prefetch() {
        let mut m = ChunkMap::new(1000);
        m.insert(ext(0, 1, (0, 5), &[100, 100], 1000)).unwrap();
        let keys: Vec<u32> = m.keys_in(150..160).iter().map(|k| k.index).collect();
        assert_eq!(keys, vec![1]);
        let keys: Vec<u32> = m.keys_in(150..900).iter().map(|k| k.index).collect();
        assert_eq!(keys, vec![1, 2, 3, 4]);
    }
}
