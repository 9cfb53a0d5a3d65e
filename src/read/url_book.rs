//! Signed xorb descriptors from recent reconstruction answers, kept below their expiry.
//!
//! A presigned URL is only valid for the byte ranges it was signed for and only for a while, so
//! the engine remembers `(xorb, chunk range) → (url, byte range)` from every answer and forgets
//! it after `ttl` or when the transfer host says it expired.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::xet::reconstruction::{ByteRange, ChunkRange, ReconstructionV2};
use crate::xet::MerkleHash;

/// A signed range of one xorb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub xorb: MerkleHash,
    pub url: String,
    pub chunks: ChunkRange,
    pub bytes: ByteRange,
}

#[derive(Debug)]
struct Entry {
    descriptor: Descriptor,
    expires: Instant,
}

#[derive(Debug)]
pub struct UrlBook {
    ttl: Duration,
    entries: Mutex<HashMap<MerkleHash, Vec<Entry>>>,
}

impl UrlBook {
    pub fn new(ttl: Duration) -> Self {
        UrlBook {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Remembers every descriptor of an answer.
    pub fn record(&self, answer: &ReconstructionV2) {
        let expires = Instant::now() + self.ttl;
        let mut map = self.entries.lock();
        for (xorb, fetches) in &answer.xorbs {
            let list = map.entry(*xorb).or_default();
            list.retain(|e| e.expires > Instant::now());
            for f in fetches {
                for d in &f.ranges {
                    list.retain(|e| {
                        !(e.descriptor.url == f.url && e.descriptor.chunks == d.chunks)
                    });
                    list.push(Entry {
                        descriptor: Descriptor {
                            xorb: *xorb,
                            url: f.url.clone(),
                            chunks: d.chunks,
                            bytes: d.bytes,
                        },
                        expires,
                    });
                }
            }
        }
    }

    /// The smallest live descriptor holding chunk `index` of `xorb`.
    pub fn find(&self, xorb: &MerkleHash, index: u32) -> Option<Descriptor> {
        let now = Instant::now();
        let map = self.entries.lock();
        map.get(xorb)?
            .iter()
            .filter(|e| {
                e.expires > now
                    && e.descriptor.chunks.start <= index
                    && index < e.descriptor.chunks.end
            })
            .min_by_key(|e| e.descriptor.bytes.len())
            .map(|e| e.descriptor.clone())
    }

    /// Forgets every descriptor using `url` (the transfer host said it expired).
    pub fn forget_url(&self, xorb: &MerkleHash, url: &str) {
        if let Some(list) = self.entries.lock().get_mut(xorb) {
            list.retain(|e| e.descriptor.url != url);
        }
    }

    /// Drops expired entries (called now and then to bound memory).
    pub fn sweep(&self) {
        let now = Instant::now();
        self.entries.lock().retain(|_, list| {
            list.retain(|e| e.expires > now);
            !list.is_empty()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xet::reconstruction::{XorbFetch, XorbRangeDescriptor};

    type Span = ((u32, u32), (u64, u64));

    fn answer(xorb: MerkleHash, ranges: &[Span], url: &str) -> ReconstructionV2 {
        ReconstructionV2 {
            offset_into_first_range: 0,
            terms: vec![],
            xorbs: HashMap::from([(
                xorb,
                vec![XorbFetch {
                    url: url.into(),
                    ranges: ranges
                        .iter()
                        .map(|&((cs, ce), (bs, be))| XorbRangeDescriptor {
                            chunks: ChunkRange::new(cs, ce),
                            bytes: ByteRange { start: bs, end: be },
                        })
                        .collect(),
                }],
            )]),
        }
    }

    #[test]
    fn finds_the_smallest_live_descriptor() {
        let x = MerkleHash::from_bytes([1; 32]);
        let book = UrlBook::new(Duration::from_secs(60));
        book.record(&answer(x, &[((0, 100), (0, 999_999))], "wide"));
        book.record(&answer(x, &[((40, 45), (400_000, 449_999))], "narrow"));
        assert_eq!(book.find(&x, 42).unwrap().url, "narrow");
        assert_eq!(book.find(&x, 10).unwrap().url, "wide");
        assert!(book.find(&x, 100).is_none());
        book.forget_url(&x, "narrow");
        assert_eq!(book.find(&x, 42).unwrap().url, "wide");
    }

    #[test]
    fn entries_expire() {
        let x = MerkleHash::from_bytes([2; 32]);
        let book = UrlBook::new(Duration::from_millis(0));
        book.record(&answer(x, &[((0, 1), (0, 9))], "u"));
        assert!(book.find(&x, 0).is_none());
        book.sweep();
        assert!(book.entries.lock().is_empty());
    }
}
