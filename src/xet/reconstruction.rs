//! Reconstruction API response types (protocol §4.3, §4.4), shared by the reader and `xetfs serve`.
//!
//! Chunk ranges are half-open `[start, end)`; byte ranges are inclusive `[start, end]`, exactly as on
//! the wire. v1 responses are converted to the v2 shape (a v1 entry is a v2 entry with one range).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::hash::MerkleHash;

/// Chunk indices `[start, end)` inside one xorb.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChunkRange {
    pub start: u32,
    pub end: u32,
}

impl ChunkRange {
    pub fn new(start: u32, end: u32) -> Self {
        ChunkRange { start, end }
    }
    pub fn len(&self) -> u32 {
        self.end.saturating_sub(self.start)
    }
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }
    pub fn contains_range(&self, other: &ChunkRange) -> bool {
        self.start <= other.start && other.end <= self.end
    }
}

/// Inclusive byte range `[start, end]` (HTTP `Range` semantics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

impl ByteRange {
    /// Number of bytes; 0 for a malformed range with `end < start`.
    pub fn len(&self) -> u64 {
        if self.end < self.start {
            0
        } else {
            self.end - self.start + 1
        }
    }
    pub fn is_empty(&self) -> bool {
        self.end < self.start
    }
    /// `start-end`, as used inside a `Range: bytes=` header.
    pub fn http_spec(&self) -> String {
        format!("{}-{}", self.start, self.end)
    }
}

/// One term: chunks `range` of xorb `hash`, decoding to exactly `unpacked_length` bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Term {
    pub hash: MerkleHash,
    pub unpacked_length: u32,
    pub range: ChunkRange,
}

/// One byte range of a v2 fetch entry: records of `chunks`, at inclusive `bytes` of the xorb.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct XorbRangeDescriptor {
    pub chunks: ChunkRange,
    pub bytes: ByteRange,
}

/// A presigned URL and the byte ranges it is signed for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct XorbFetch {
    pub url: String,
    pub ranges: Vec<XorbRangeDescriptor>,
}

/// `QueryReconstructionResponseV2`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconstructionV2 {
    pub offset_into_first_range: u64,
    pub terms: Vec<Term>,
    #[serde(default)]
    pub xorbs: HashMap<MerkleHash, Vec<XorbFetch>>,
}

/// A v1 `fetch_info` entry: one URL signed for one byte range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchInfoV1 {
    pub range: ChunkRange,
    pub url: String,
    pub url_range: ByteRange,
}

/// `QueryReconstructionResponse` (v1, deprecated but still served).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconstructionV1 {
    pub offset_into_first_range: u64,
    pub terms: Vec<Term>,
    #[serde(default)]
    pub fetch_info: HashMap<MerkleHash, Vec<FetchInfoV1>>,
}

impl From<ReconstructionV1> for ReconstructionV2 {
    fn from(v1: ReconstructionV1) -> Self {
        let xorbs = v1
            .fetch_info
            .into_iter()
            .map(|(hash, entries)| {
                let fetches = entries
                    .into_iter()
                    .map(|e| XorbFetch {
                        url: e.url,
                        ranges: vec![XorbRangeDescriptor {
                            chunks: e.range,
                            bytes: e.url_range,
                        }],
                    })
                    .collect();
                (hash, fetches)
            })
            .collect();
        ReconstructionV2 {
            offset_into_first_range: v1.offset_into_first_range,
            terms: v1.terms,
            xorbs,
        }
    }
}

/// Why a reconstruction response cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReconstructionError {
    #[error("term {index} has an empty or inverted chunk range {start}..{end}")]
    EmptyTerm { index: usize, start: u32, end: u32 },
    #[error("term {index} (xorb {hash}, chunks {start}..{end}) is not inside any fetch range")]
    Uncovered {
        index: usize,
        hash: MerkleHash,
        start: u32,
        end: u32,
    },
    #[error("fetch range for xorb {hash} has inverted bytes or chunks")]
    BadDescriptor { hash: MerkleHash },
    #[error("term {index} declares {unpacked_length} bytes for {chunks} chunks, over the 128 KiB chunk limit")]
    ImpossibleLength {
        index: usize,
        unpacked_length: u32,
        chunks: u32,
    },
}

/// Where the records of one term can be fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TermSource<'a> {
    pub url: &'a str,
    pub descriptor: &'a XorbRangeDescriptor,
}

impl ReconstructionV2 {
    /// Checks the invariants a reader relies on: non-empty terms, every term inside exactly one
    /// descriptor, sane descriptors, and lengths a chunk list could actually have.
    pub fn validate(&self) -> Result<(), ReconstructionError> {
        for (hash, fetches) in &self.xorbs {
            for d in fetches.iter().flat_map(|f| &f.ranges) {
                if d.chunks.is_empty() || d.bytes.is_empty() {
                    return Err(ReconstructionError::BadDescriptor { hash: *hash });
                }
            }
        }
        for (index, t) in self.terms.iter().enumerate() {
            if t.range.is_empty() {
                return Err(ReconstructionError::EmptyTerm {
                    index,
                    start: t.range.start,
                    end: t.range.end,
                });
            }
            let max = u64::from(t.range.len()) * crate::xet::MAX_CHUNK_SIZE as u64;
            if u64::from(t.unpacked_length) > max || t.unpacked_length < t.range.len() {
                return Err(ReconstructionError::ImpossibleLength {
                    index,
                    unpacked_length: t.unpacked_length,
                    chunks: t.range.len(),
                });
            }
            if self.source_for(t).is_none() {
                return Err(ReconstructionError::Uncovered {
                    index,
                    hash: t.hash,
                    start: t.range.start,
                    end: t.range.end,
                });
            }
        }
        Ok(())
    }

    /// The descriptor (and its URL) whose chunk range contains the term's chunks.
    pub fn source_for(&self, term: &Term) -> Option<TermSource<'_>> {
        self.xorbs.get(&term.hash)?.iter().find_map(|f| {
            f.ranges
                .iter()
                .find(|d| d.chunks.contains_range(&term.range))
                .map(|descriptor| TermSource {
                    url: &f.url,
                    descriptor,
                })
        })
    }

    /// Total decoded bytes of all terms (before `offset_into_first_range` is skipped).
    pub fn unpacked_total(&self) -> u64 {
        self.terms
            .iter()
            .map(|t| u64::from(t.unpacked_length))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(n: u8) -> MerkleHash {
        MerkleHash::from_bytes([n; 32])
    }

    #[test]
    fn v1_converts_to_single_range_v2_entries() {
        let v1 = ReconstructionV1 {
            offset_into_first_range: 7,
            terms: vec![Term {
                hash: h(1),
                unpacked_length: 100,
                range: ChunkRange::new(0, 2),
            }],
            fetch_info: HashMap::from([(
                h(1),
                vec![FetchInfoV1 {
                    range: ChunkRange::new(0, 3),
                    url: "u".into(),
                    url_range: ByteRange { start: 0, end: 99 },
                }],
            )]),
        };
        let v2: ReconstructionV2 = v1.into();
        assert_eq!(v2.offset_into_first_range, 7);
        assert!(v2.validate().is_ok());
        let src = v2.source_for(&v2.terms[0]).unwrap();
        assert_eq!(src.url, "u");
        assert_eq!(src.descriptor.bytes.len(), 100);
    }

    #[test]
    fn uncovered_term_is_rejected() {
        let r = ReconstructionV2 {
            offset_into_first_range: 0,
            terms: vec![Term {
                hash: h(2),
                unpacked_length: 10,
                range: ChunkRange::new(0, 1),
            }],
            xorbs: HashMap::new(),
        };
        assert!(matches!(
            r.validate(),
            Err(ReconstructionError::Uncovered { .. })
        ));
    }

    #[test]
    fn parses_wire_json() {
        let json = r#"{"offset_into_first_range":0,"terms":[{"hash":"0706050403020100000000000000000000000000000000000000000000000000","unpacked_length":5,"range":{"start":0,"end":1}}],
          "xorbs":{"0706050403020100000000000000000000000000000000000000000000000000":[{"url":"http://x","ranges":[{"chunks":{"start":0,"end":1},"bytes":{"start":0,"end":12}}]}]}}"#;
        let r: ReconstructionV2 = serde_json::from_str(json).unwrap();
        r.validate().unwrap();
        assert_eq!(r.terms[0].hash.as_bytes()[0], 0);
        assert_eq!(r.terms[0].hash.as_bytes()[7], 7);
    }
}
