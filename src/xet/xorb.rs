//! Xorbs: building them (≤ 64 MiB raw, ≤ 8192 chunks), parsing whole objects, and decoding the
//! byte ranges a CAS serves (§3).

use super::chunk::{decode_payload, encode_chunk, predict_scheme};
use super::chunk::{ChunkHeader, CompressionPolicy, CompressionScheme};
use super::error::XetFormatError;
use super::footer::XorbFooter;
use super::hash::{chunk_hash, MerkleHash};
use super::merkle::xorb_hash;
use super::reconstruction::{ByteRange, ChunkRange};
use super::{MAX_XORB_BYTES, MAX_XORB_CHUNKS};

pub use super::records::{decode_range, DecodedChunk, RawRecord, RecordSplitter};

/// The reference's `Auto` policy re-predicts the scheme every this many chunks of a file section
/// (xet-core `compression_scheme_retest_interval`).
pub const AUTO_RETEST_INTERVAL: usize = 32;

/// Where one chunk sits in a serialized xorb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XorbChunk {
    pub hash: MerkleHash,
    pub raw_len: u32,
    /// Offset of the chunk's record in the record area (headers included).
    pub record_start: u64,
    pub record_len: u32,
}

/// A complete xorb: its records (as uploaded, no footer) and the chunk table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerializedXorb {
    pub hash: MerkleHash,
    pub records: Vec<u8>,
    pub chunks: Vec<XorbChunk>,
}

impl SerializedXorb {
    /// A xorb from its records and chunk table; the hash is computed from the table.
    fn new(records: Vec<u8>, chunks: Vec<XorbChunk>) -> Self {
        let mut x = SerializedXorb {
            hash: MerkleHash::ZERO,
            records,
            chunks,
        };
        x.hash = xorb_hash(&x.leaves());
        x
    }

    /// The v1 footer ("xorb info") for this xorb.
    pub fn footer(&self) -> XorbFooter {
        let mut raw_end = 0u32;
        XorbFooter {
            hash: self.hash,
            chunk_hashes: self.chunks.iter().map(|c| c.hash).collect(),
            chunk_boundary_offsets: self
                .chunks
                .iter()
                .map(|c| (c.record_start + u64::from(c.record_len)) as u32)
                .collect(),
            unpacked_chunk_offsets: self
                .chunks
                .iter()
                .map(|c| {
                    raw_end += c.raw_len;
                    raw_end
                })
                .collect(),
        }
    }

    /// Records + footer + trailing u32 footer length: the object a CAS stores.
    pub fn to_stored_bytes(&self) -> Vec<u8> {
        let footer = self.footer().serialize();
        let mut out = Vec::with_capacity(self.records.len() + footer.len());
        out.extend_from_slice(&self.records);
        out.extend_from_slice(&footer);
        out
    }

    /// Inclusive byte range of the records of `chunks` (§3.5).
    pub fn byte_range(&self, chunks: ChunkRange) -> Option<ByteRange> {
        if chunks.is_empty() || chunks.end as usize > self.chunks.len() {
            return None;
        }
        let first = &self.chunks[chunks.start as usize];
        let last = &self.chunks[chunks.end as usize - 1];
        Some(ByteRange {
            start: first.record_start,
            end: last.record_start + u64::from(last.record_len) - 1,
        })
    }

    /// Sum of the raw chunk lengths.
    pub fn raw_len(&self) -> u64 {
        self.chunks.iter().map(|c| u64::from(c.raw_len)).sum()
    }

    /// `(chunk hash, raw length)` pairs in xorb order: the leaves of the xorb hash.
    pub fn leaves(&self) -> Vec<(MerkleHash, u64)> {
        self.chunks
            .iter()
            .map(|c| (c.hash, u64::from(c.raw_len)))
            .collect()
    }
}

/// Packs chunks into one xorb.
pub struct XorbBuilder {
    policy: CompressionPolicy,
    records: Vec<u8>,
    chunks: Vec<XorbChunk>,
    raw_bytes: usize,
    /// Index of the first chunk of the current file section (the `Auto` policy's runs start
    /// there).
    section_start: usize,
    /// Scheme chosen for the current run under `Auto`.
    run_scheme: CompressionScheme,
}

impl XorbBuilder {
    pub fn new(policy: CompressionPolicy) -> Self {
        XorbBuilder {
            policy,
            records: Vec::new(),
            chunks: Vec::new(),
            raw_bytes: 0,
            section_start: 0,
            run_scheme: CompressionScheme::Lz4,
        }
    }

    /// Whether a chunk of `raw_len` bytes still fits under both limits.
    pub fn fits(&self, raw_len: usize) -> bool {
        self.chunks.len() < MAX_XORB_CHUNKS && self.raw_bytes + raw_len <= MAX_XORB_BYTES
    }

    /// Marks that the next chunk starts a new file's section of this xorb. Under `Auto` the
    /// reference predicts a scheme per run of up to 32 chunks *of one file*, so uploaders that
    /// pack several files into a xorb call this between files to produce identical bytes.
    pub fn start_file(&mut self) {
        self.section_start = self.chunks.len();
    }

    /// Adds a chunk (its hash is computed); returns its index in the xorb.
    pub fn add_chunk(&mut self, raw: &[u8]) -> u32 {
        self.add_chunk_with_hash(chunk_hash(raw), raw)
    }

    /// Adds a chunk whose hash the caller already computed.
    ///
    /// Callers check [`fits`](Self::fits) first; chunks beyond the limits are still stored but the
    /// result is a xorb the reference would never write.
    pub fn add_chunk_with_hash(&mut self, hash: MerkleHash, raw: &[u8]) -> u32 {
        debug_assert!(self.fits(raw.len()), "xorb limits exceeded");
        let index = self.chunks.len();
        let scheme = match self.policy {
            CompressionPolicy::None => CompressionScheme::None,
            CompressionPolicy::Lz4 => CompressionScheme::Lz4,
            CompressionPolicy::ByteGrouping4Lz4 => CompressionScheme::ByteGrouping4Lz4,
            CompressionPolicy::Auto => {
                if (index - self.section_start) % AUTO_RETEST_INTERVAL == 0 {
                    self.run_scheme = predict_scheme(raw);
                }
                self.run_scheme
            }
        };
        let record_start = self.records.len();
        let header = encode_chunk(raw, scheme, &mut self.records);
        self.chunks.push(XorbChunk {
            hash,
            raw_len: raw.len() as u32,
            record_start: record_start as u64,
            record_len: header.record_len() as u32,
        });
        self.raw_bytes += raw.len();
        index as u32
    }

    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Number of chunks added so far.
    pub fn len(&self) -> usize {
        self.chunks.len()
    }

    /// Raw bytes added so far.
    pub fn raw_bytes(&self) -> usize {
        self.raw_bytes
    }

    pub fn finish(self) -> SerializedXorb {
        SerializedXorb::new(self.records, self.chunks)
    }
}

/// Parses a whole xorb object as uploaded (records only) or stored (records + footer): decodes
/// every chunk, hashes it and computes the xorb hash. A present footer must agree.
pub fn parse_xorb_object(bytes: &[u8]) -> Result<SerializedXorb, XetFormatError> {
    let mut chunks = Vec::new();
    let mut pos = 0;
    let mut raw = Vec::with_capacity(super::MAX_CHUNK_SIZE);
    let mut footer_at = None;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        // A record header never starts with "XETBLOB" (its version byte would be 'X').
        if rest.starts_with(b"XETBLOB") {
            footer_at = Some(pos);
            break;
        }
        let header = ChunkHeader::parse(rest)?;
        let len = header.record_len();
        let payload = rest
            .get(ChunkHeader::LEN..len)
            .ok_or(XetFormatError::Truncated {
                what: "chunk record",
                need: len as u64,
                have: rest.len() as u64,
            })?;
        raw.clear();
        decode_payload(&header, payload, &mut raw)?;
        chunks.push(XorbChunk {
            hash: chunk_hash(&raw),
            raw_len: header.uncompressed_len,
            record_start: pos as u64,
            record_len: len as u32,
        });
        pos += len;
    }
    let xorb = SerializedXorb::new(bytes[..pos].to_vec(), chunks);
    if let Some(at) = footer_at {
        let (footer, start) = XorbFooter::parse_from_end(bytes)?;
        if start != at {
            return Err(XetFormatError::Footer(format!(
                "footer starts at {start}, records end at {at}"
            )));
        }
        check_footer(&xorb, footer)?;
    }
    Ok(xorb)
}

/// A stored footer must describe exactly the records it follows.
fn check_footer(xorb: &SerializedXorb, footer: XorbFooter) -> Result<(), XetFormatError> {
    if footer.hash != xorb.hash {
        return Err(XetFormatError::HashMismatch {
            what: "xorb footer",
            expected: footer.hash,
            computed: xorb.hash,
        });
    }
    let mut ours = xorb.footer();
    if footer.unpacked_chunk_offsets.is_empty() {
        // v0 footers do not store them.
        ours.unpacked_chunk_offsets.clear();
    }
    if ours != footer {
        return Err(XetFormatError::Footer(
            "chunk hashes or offsets disagree with the records".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks() -> Vec<Vec<u8>> {
        vec![
            b"hello".to_vec(),
            "abc ".repeat(3000).into_bytes(),
            (0..20_000u32).map(|i| (i * 31 % 251) as u8).collect(),
        ]
    }

    fn build(policy: CompressionPolicy) -> SerializedXorb {
        let mut b = XorbBuilder::new(policy);
        for c in chunks() {
            assert!(b.fits(c.len()));
            b.add_chunk(&c);
        }
        b.finish()
    }

    #[test]
    fn parse_round_trips_with_and_without_footer() {
        for policy in [
            CompressionPolicy::None,
            CompressionPolicy::Lz4,
            CompressionPolicy::ByteGrouping4Lz4,
            CompressionPolicy::Auto,
        ] {
            let x = build(policy);
            assert_eq!(parse_xorb_object(&x.records).unwrap(), x);
            assert_eq!(parse_xorb_object(&x.to_stored_bytes()).unwrap(), x);
            let r = x.byte_range(ChunkRange::new(1, 3)).unwrap();
            assert_eq!(r.start, x.chunks[1].record_start);
            assert_eq!(r.end + 1, x.records.len() as u64);
            assert_eq!(x.byte_range(ChunkRange::new(2, 4)), None);
        }
    }

    #[test]
    fn tampered_objects_are_rejected() {
        let x = build(CompressionPolicy::Lz4);
        let stored = x.to_stored_bytes();
        // Truncated records.
        assert!(parse_xorb_object(&x.records[..x.records.len() - 1]).is_err());
        // A footer naming another hash.
        let mut bad = stored.clone();
        let at = x.records.len() + 8;
        bad[at] ^= 1;
        assert!(matches!(
            parse_xorb_object(&bad),
            Err(XetFormatError::HashMismatch { .. })
        ));
        // A flipped byte in a stored (uncompressed) chunk changes a chunk hash → footer disagrees.
        let mut bad = stored.clone();
        bad[9] ^= 1;
        assert!(parse_xorb_object(&bad).is_err());
        // Trailing garbage after the footer.
        let mut bad = stored;
        bad.push(0);
        assert!(parse_xorb_object(&bad).is_err());
    }

    #[test]
    fn limits_are_enforced_by_fits() {
        let mut b = XorbBuilder::new(CompressionPolicy::None);
        assert!(b.fits(MAX_XORB_BYTES));
        assert!(!b.fits(MAX_XORB_BYTES + 1));
        b.add_chunk(&[1; 100]);
        assert!(!b.fits(MAX_XORB_BYTES - 99));
        assert!(b.fits(MAX_XORB_BYTES - 100));
    }
}
