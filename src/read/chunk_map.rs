//! Which chunks make up which bytes of one file, as far as the engine has learned it.
//!
//! A reconstruction answer tells where each *term* (a run of chunks of one xorb) starts in the
//! file and how long it is, but not where the chunks inside it start: that is only known once the
//! chunks were decoded. So an [`Extent`] is a term anchored at a file offset, with the per-chunk
//! lengths filled in when known. Answers for different windows overlap at their edges (the server
//! returns whole chunks), so extents may overlap; they always describe the same underlying chunk
//! sequence, and lookups prefer extents whose chunk lengths are known.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use crate::cache::ChunkKey;
use crate::xet::reconstruction::ChunkRange;
use crate::xet::MerkleHash;

/// A run of chunks `chunks` of `xorb`, occupying file bytes `[start, start + len)`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Extent {
    pub start: u64,
    pub len: u64,
    pub xorb: MerkleHash,
    pub chunks: ChunkRange,
    /// Raw length of every chunk, once all are known (their sum is `len`).
    pub chunk_lens: Option<Arc<[u32]>>,
    /// Chunk hash of every chunk, learned with the lengths (needed for the file-hash proof).
    #[serde(default)]
    pub chunk_hashes: Option<Arc<[MerkleHash]>>,
}

impl Extent {
    pub fn end(&self) -> u64 {
        self.start + self.len
    }

    pub fn key(&self, index: u32) -> ChunkKey {
        ChunkKey {
            xorb: self.xorb,
            index,
        }
    }

    /// The chunk holding file offset `pos` and that chunk's file offset, when lengths are known.
    pub fn chunk_at(&self, pos: u64) -> Option<(u32, u64)> {
        let lens = self.chunk_lens.as_ref()?;
        if pos < self.start || pos >= self.end() {
            return None;
        }
        let mut at = self.start;
        for (i, &l) in lens.iter().enumerate() {
            if pos < at + u64::from(l) {
                return Some((self.chunks.start + i as u32, at));
            }
            at += u64::from(l);
        }
        None
    }

    /// Every chunk with its file offset and length (lengths must be known).
    pub fn chunks_with_offsets(&self) -> Option<impl Iterator<Item = (u32, u64, u32)> + '_> {
        let lens = self.chunk_lens.as_ref()?;
        let mut at = self.start;
        Some(lens.iter().enumerate().map(move |(i, &l)| {
            let item = (self.chunks.start + i as u32, at, l);
            at += u64::from(l);
            item
        }))
    }
}

/// One chunk of a file: where it lives and which file bytes it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlacedChunk {
    pub key: ChunkKey,
    pub offset: u64,
    pub len: u32,
    pub hash: Option<MerkleHash>,
}

/// Why an extent could not be recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkMapError {
    #[error(
        "chunk lengths of xorb {xorb} chunks {start}..{end} sum to {sum}, the term says {len}"
    )]
    LengthMismatch {
        xorb: MerkleHash,
        start: u32,
        end: u32,
        sum: u64,
        len: u64,
    },
    #[error("extent at {start}+{len} runs past the end of the file ({size})")]
    PastEof { start: u64, len: u64, size: u64 },
}

/// The learned layout of one file.
#[derive(Debug, Clone, Default)]
pub struct ChunkMap {
    size: u64,
    /// Keyed by (start, end, chunk start) so distinct overlapping extents coexist.
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

    /// Records an extent (or fills in the chunk lengths of an equal one).
    pub fn insert(&mut self, extent: Extent) -> Result<(), ChunkMapError> {
        if extent.end() > self.size || extent.len == 0 {
            return Err(ChunkMapError::PastEof {
                start: extent.start,
                len: extent.len,
                size: self.size,
            });
        }
        if let Some(lens) = &extent.chunk_lens {
            check_lens(&extent, lens)?;
        }
        let key = (extent.start, extent.end(), extent.chunks.start);
        match self.extents.get_mut(&key) {
            Some(existing) if existing.xorb == extent.xorb && existing.chunks == extent.chunks => {
                if existing.chunk_lens.is_none() {
                    existing.chunk_lens = extent.chunk_lens;
                }
                if existing.chunk_hashes.is_none() {
                    existing.chunk_hashes = extent.chunk_hashes;
                }
            }
            _ => {
                self.max_len = self.max_len.max(extent.len);
                self.extents.insert(key, extent);
            }
        }
        Ok(())
    }

    /// Fills in the chunk lengths (and hashes) of the extent that starts at `start` with these
    /// chunks; errors when they do not add up to the length the term declared.
    pub fn set_lens(
        &mut self,
        start: u64,
        xorb: &MerkleHash,
        chunks: ChunkRange,
        lens: Arc<[u32]>,
        hashes: Option<Arc<[MerkleHash]>>,
    ) -> Result<(), ChunkMapError> {
        let len: u64 = lens.iter().map(|&l| u64::from(l)).sum();
        let extent = Extent {
            start,
            len,
            xorb: *xorb,
            chunks,
            chunk_lens: Some(lens),
            chunk_hashes: hashes.filter(|h| h.len() == chunks.len() as usize),
        };
        match self.extents.get(&(start, start + len, chunks.start)) {
            Some(e) if e.xorb == *xorb && e.chunks == chunks => self.insert(extent),
            // The term said another total length than the chunks add up to.
            _ => {
                let declared = self
                    .extents
                    .range((start, 0, 0)..(start + 1, 0, 0))
                    .find(|(_, e)| e.xorb == *xorb && e.chunks == chunks)
                    .map(|(_, e)| e.len);
                match declared {
                    Some(d) => Err(ChunkMapError::LengthMismatch {
                        xorb: *xorb,
                        start: chunks.start,
                        end: chunks.end,
                        sum: len,
                        len: d,
                    }),
                    None => self.insert(extent),
                }
            }
        }
    }

    /// Extents overlapping `range`, in start order.
    fn overlapping(&self, range: Range<u64>) -> impl Iterator<Item = &Extent> {
        let from = range.start.saturating_sub(self.max_len);
        self.extents
            .range((from, 0, 0)..(range.end, 0, 0))
            .map(|(_, e)| e)
            .filter(move |e| e.end() > range.start && e.start < range.end)
    }

    /// The extent to use for file offset `pos`: one with known chunk lengths if any covers it,
    /// else the one starting closest before `pos` (the narrowest answer for that spot).
    pub fn extent_at(&self, pos: u64) -> Option<&Extent> {
        let mut fallback: Option<&Extent> = None;
        for e in self.overlapping(pos..pos + 1) {
            if e.chunk_lens.is_some() {
                return Some(e);
            }
            let better =
                fallback.is_none_or(|f| (e.start, u64::MAX - e.len) > (f.start, u64::MAX - f.len));
            if better {
                fallback = Some(e);
            }
        }
        fallback
    }

    /// The chunk holding `pos`, when an extent with known lengths covers it.
    pub fn chunk_at(&self, pos: u64) -> Option<PlacedChunk> {
        self.overlapping(pos..pos + 1).find_map(|e| {
            let (index, offset) = e.chunk_at(pos)?;
            let i = (index - e.chunks.start) as usize;
            Some(PlacedChunk {
                key: e.key(index),
                offset,
                len: e.chunk_lens.as_ref()?[i],
                hash: e.chunk_hashes.as_ref().map(|h| h[i]),
            })
        })
    }

    /// Sub-ranges of `range` (clamped to the file) that no extent covers.
    pub fn gaps(&self, range: Range<u64>) -> Vec<Range<u64>> {
        let range = range.start.min(self.size)..range.end.min(self.size);
        let mut gaps = Vec::new();
        let mut cursor = range.start;
        let mut covered: Vec<(u64, u64)> = self
            .overlapping(range.clone())
            .map(|e| (e.start, e.end()))
            .collect();
        covered.sort_unstable();
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

    /// The whole file as a chunk sequence, when every byte is covered by extents with known
    /// lengths that meet at chunk boundaries. This is what the file hash is computed over.
    pub fn chunk_sequence(&self) -> Option<Vec<PlacedChunk>> {
        let mut out = Vec::new();
        let mut pos = 0u64;
        while pos < self.size {
            // An extent with known lengths that has a chunk starting exactly at `pos`.
            let extent = self.overlapping(pos..pos + 1).find(|e| {
                e.chunk_at(pos)
                    .is_some_and(|(_, chunk_start)| chunk_start == pos)
            })?;
            for (index, offset, len) in extent.chunks_with_offsets()? {
                if offset >= pos {
                    out.push(PlacedChunk {
                        key: extent.key(index),
                        offset,
                        len,
                        hash: extent
                            .chunk_hashes
                            .as_ref()
                            .map(|h| h[(index - extent.chunks.start) as usize]),
                    });
                }
            }
            pos = extent.end();
        }
        Some(out)
    }

    /// Chunks holding bytes of `range`: exact for extents with known lengths, every chunk of the
    /// extent otherwise.
    pub fn keys_in(&self, range: Range<u64>) -> std::collections::BTreeSet<ChunkKey> {
        let mut keys = std::collections::BTreeSet::new();
        for e in self.overlapping(range.clone()) {
            match e.chunks_with_offsets() {
                Some(chunks) => keys.extend(
                    chunks
                        .filter(|&(_, off, len)| {
                            off + u64::from(len) > range.start && off < range.end
                        })
                        .map(|(i, _, _)| e.key(i)),
                ),
                None => keys.extend((e.chunks.start..e.chunks.end).map(|i| e.key(i))),
            }
        }
        keys
    }

    /// Extents whose chunk lengths are known (what is worth persisting).
    pub fn known_extents(&self) -> impl Iterator<Item = &Extent> {
        self.extents.values().filter(|e| e.chunk_lens.is_some())
    }

    /// Forgets everything learned (after a failed file check).
    pub fn clear(&mut self) {
        self.extents.clear();
        self.max_len = 0;
    }
}

fn check_lens(extent: &Extent, lens: &[u32]) -> Result<(), ChunkMapError> {
    let sum: u64 = lens.iter().map(|&l| u64::from(l)).sum();
    if sum != extent.len || lens.len() != extent.chunks.len() as usize {
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

    fn ext(start: u64, xorb: u8, chunks: (u32, u32), lens: Option<&[u32]>, len: u64) -> Extent {
        Extent {
            start,
            len,
            xorb: x(xorb),
            chunks: ChunkRange::new(chunks.0, chunks.1),
            chunk_lens: lens.map(Arc::from),
            chunk_hashes: None,
        }
    }

    #[test]
    fn gaps_and_lookup() {
        let mut m = ChunkMap::new(1000);
        m.insert(ext(100, 1, (0, 3), Some(&[50, 50, 100]), 200))
            .unwrap();
        assert_eq!(m.gaps(0..1000), vec![0..100, 300..1000]);
        assert_eq!(m.gaps(150..250), Vec::<Range<u64>>::new());
        assert_eq!(m.gaps(950..2000), vec![950..1000]);
        let c = m.chunk_at(160).unwrap();
        assert_eq!((c.key.index, c.offset, c.len), (1, 150, 50));
        assert!(m.chunk_at(99).is_none());
        assert!(m.chunk_at(300).is_none());
    }

    #[test]
    fn unknown_lengths_cover_but_do_not_place() {
        let mut m = ChunkMap::new(500);
        m.insert(ext(0, 1, (4, 8), None, 500)).unwrap();
        assert!(m.gaps(0..500).is_empty());
        assert!(m.chunk_at(10).is_none());
        assert!(m.extent_at(10).is_some());
        m.set_lens(
            0,
            &x(1),
            ChunkRange::new(4, 8),
            Arc::from(&[100u32, 100, 100, 200][..]),
            None,
        )
        .unwrap();
        assert_eq!(m.chunk_at(450).unwrap().key.index, 7);
        assert_eq!(m.extent_count(), 1);
    }

    #[test]
    fn lying_lengths_are_rejected() {
        let mut m = ChunkMap::new(500);
        m.insert(ext(0, 1, (0, 2), None, 300)).unwrap();
        let err = m
            .set_lens(
                0,
                &x(1),
                ChunkRange::new(0, 2),
                Arc::from(&[100u32, 100][..]),
                None,
            )
            .unwrap_err();
        assert!(matches!(err, ChunkMapError::LengthMismatch { .. }));
        assert!(m.insert(ext(0, 1, (0, 2), Some(&[100, 100]), 300)).is_err());
        assert!(m.insert(ext(400, 1, (0, 2), None, 300)).is_err());
    }

    #[test]
    fn overlapping_windows_make_one_sequence() {
        // File: xorb 1 chunks 0..4 (100 each) then xorb 2 chunks 0..2 (50 each) = 500 bytes.
        let mut m = ChunkMap::new(500);
        // Window A: [0, 250) → term 1[0,3) (the last chunk runs past the window).
        m.insert(ext(0, 1, (0, 3), Some(&[100, 100, 100]), 300))
            .unwrap();
        assert!(m.chunk_sequence().is_none());
        // Window B: [250, 500) → trimmed term 1[2,4) starting at 200, then 2[0,2).
        m.insert(ext(200, 1, (2, 4), Some(&[100, 100]), 200))
            .unwrap();
        m.insert(ext(400, 2, (0, 2), Some(&[50, 50]), 100)).unwrap();
        let seq = m.chunk_sequence().unwrap();
        let got: Vec<(u8, u32, u64)> = seq
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
        m.insert(ext(0, 1, (0, 2), Some(&[100, 100]), 200)).unwrap();
        m.insert(ext(200, 1, (2, 3), None, 100)).unwrap();
        assert!(m.chunk_sequence().is_none());
        m.set_lens(
            200,
            &x(1),
            ChunkRange::new(2, 3),
            Arc::from(&[100u32][..]),
            None,
        )
        .unwrap();
        assert_eq!(m.chunk_sequence().unwrap().len(), 3);
    }
}
