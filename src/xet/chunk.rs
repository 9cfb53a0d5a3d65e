//! One chunk record: 8-byte header + payload (§3.2), and the three compression schemes (§3.3).

use super::error::XetFormatError;
use super::lz4;
use super::{MAX_CHUNK_SIZE, MAX_COMPRESSED_CHUNK_SIZE};

pub use super::bg4::{bg4_join, bg4_split};

/// Per-chunk compression scheme as it appears on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CompressionScheme {
    None = 0,
    Lz4 = 1,
    ByteGrouping4Lz4 = 2,
}

impl CompressionScheme {
    /// The scheme for a header byte (never 99, the reference's in-memory "Auto").
    pub fn from_byte(b: u8) -> Result<Self, XetFormatError> {
        match b {
            0 => Ok(Self::None),
            1 => Ok(Self::Lz4),
            2 => Ok(Self::ByteGrouping4Lz4),
            other => Err(XetFormatError::UnknownScheme(other)),
        }
    }
}

/// What a writer asks for; `Auto` picks LZ4 or BG4 per run of chunks like the reference (§3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CompressionPolicy {
    None,
    Lz4,
    ByteGrouping4Lz4,
    #[default]
    Auto,
}

/// The 8-byte chunk header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkHeader {
    pub scheme: CompressionScheme,
    pub compressed_len: u32,
    pub uncompressed_len: u32,
}

fn u24(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], 0])
}

impl ChunkHeader {
    pub const LEN: usize = 8;

    /// Parses and validates (version 0, known scheme, sizes within limits; §3.2).
    pub fn parse(bytes: &[u8]) -> Result<Self, XetFormatError> {
        let Some(b) = bytes.get(..Self::LEN) else {
            return Err(XetFormatError::Truncated {
                what: "chunk header",
                need: Self::LEN as u64,
                have: bytes.len() as u64,
            });
        };
        if b[0] != 0 {
            return Err(XetFormatError::BadVersion(b[0]));
        }
        let scheme = CompressionScheme::from_byte(b[4])?;
        let compressed_len = u24(&b[1..4]);
        let uncompressed_len = u24(&b[5..8]);
        for (declared, limit) in [
            (compressed_len, MAX_COMPRESSED_CHUNK_SIZE),
            (uncompressed_len, MAX_CHUNK_SIZE),
        ] {
            if declared as usize > limit {
                return Err(XetFormatError::TooLarge {
                    declared: declared.into(),
                    limit: limit as u64,
                });
            }
        }
        Ok(ChunkHeader {
            scheme,
            compressed_len,
            uncompressed_len,
        })
    }

    pub fn to_bytes(&self) -> [u8; 8] {
        let c = self.compressed_len.to_le_bytes();
        let u = self.uncompressed_len.to_le_bytes();
        [0, c[0], c[1], c[2], self.scheme as u8, u[0], u[1], u[2]]
    }

    /// Header plus payload length.
    pub fn record_len(&self) -> usize {
        Self::LEN + self.compressed_len as usize
    }
}

/// Appends the record for `raw` compressed with `scheme` to `out`, falling back to `None` when
/// compression does not make it strictly shorter. Returns the header written.
pub fn encode_chunk(raw: &[u8], scheme: CompressionScheme, out: &mut Vec<u8>) -> ChunkHeader {
    let header_at = out.len();
    out.extend_from_slice(&[0; ChunkHeader::LEN]);
    let payload_at = out.len();
    match scheme {
        CompressionScheme::None => {}
        CompressionScheme::Lz4 => lz4::encode_frame(raw, out),
        CompressionScheme::ByteGrouping4Lz4 => {
            let mut grouped = Vec::with_capacity(raw.len());
            bg4_split(raw, &mut grouped);
            lz4::encode_frame(&grouped, out);
        }
    }
    let compressed = out.len() - payload_at;
    let header = if scheme != CompressionScheme::None && compressed < raw.len() {
        ChunkHeader {
            scheme,
            compressed_len: compressed as u32,
            uncompressed_len: raw.len() as u32,
        }
    } else {
        out.truncate(payload_at);
        out.extend_from_slice(raw);
        ChunkHeader {
            scheme: CompressionScheme::None,
            compressed_len: raw.len() as u32,
            uncompressed_len: raw.len() as u32,
        }
    };
    out[header_at..payload_at].copy_from_slice(&header.to_bytes());
    header
}

/// Decodes `payload` (exactly `header.compressed_len` bytes) and appends exactly
/// `header.uncompressed_len` bytes to `out`.
pub fn decode_payload(
    header: &ChunkHeader,
    payload: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), XetFormatError> {
    if payload.len() != header.compressed_len as usize {
        return Err(XetFormatError::LengthMismatch {
            what: "chunk payload",
            expected: header.compressed_len.into(),
            got: payload.len() as u64,
        });
    }
    // Bounded by the header check: never more than 128 KiB.
    let n = (header.uncompressed_len as usize).min(MAX_CHUNK_SIZE);
    let base = out.len();
    let result = match header.scheme {
        CompressionScheme::None => {
            if payload.len() != n {
                Err(XetFormatError::LengthMismatch {
                    what: "uncompressed chunk",
                    expected: n as u64,
                    got: payload.len() as u64,
                })
            } else {
                out.extend_from_slice(payload);
                Ok(())
            }
        }
        CompressionScheme::Lz4 => {
            out.resize(base + n, 0);
            lz4::decode_frames_into(payload, &mut out[base..])
        }
        CompressionScheme::ByteGrouping4Lz4 => {
            out.resize(base + n, 0);
            GROUPED.with(|g| {
                let mut grouped = g.borrow_mut();
                // Grown once, never cleared: the decoder writes all `n` bytes or fails.
                if grouped.len() < n {
                    grouped.resize(n, 0);
                }
                let grouped = &mut grouped[..n];
                lz4::decode_frames_into(payload, grouped)?;
                super::bg4::bg4_join_into(grouped, &mut out[base..]);
                Ok(())
            })
        }
    };
    if result.is_err() {
        out.truncate(base);
    }
    result
}

thread_local! {
    /// Scratch space for BG4 decoding (one chunk, ≤ 128 KiB), reused across calls.
    static GROUPED: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Decodes the record at the start of `bytes`: returns the header, the raw chunk and the number
/// of bytes the record occupies.
pub fn decode_record(bytes: &[u8]) -> Result<(ChunkHeader, Vec<u8>, usize), XetFormatError> {
    let header = ChunkHeader::parse(bytes)?;
    let len = header.record_len();
    let record = bytes.get(..len).ok_or(XetFormatError::Truncated {
        what: "chunk payload",
        need: len as u64,
        have: bytes.len() as u64,
    })?;
    let mut raw = Vec::with_capacity(header.uncompressed_len as usize);
    decode_payload(&header, &record[ChunkHeader::LEN..], &mut raw)?;
    Ok((header, raw, len))
}

/// The reference's `Auto` choice for a run of chunks: BG4 or LZ4, predicted from `sample`.
pub fn predict_scheme(sample: &[u8]) -> CompressionScheme {
    if super::bg4::predict_bg4(sample) {
        CompressionScheme::ByteGrouping4Lz4
    } else {
        CompressionScheme::Lz4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(scheme: u8, c: u32, u: u32) -> [u8; 8] {
        let (c, u) = (c.to_le_bytes(), u.to_le_bytes());
        [0, c[0], c[1], c[2], scheme, u[0], u[1], u[2]]
    }

    #[test]
    fn header_validation_rejects_bad_input() {
        assert!(matches!(
            ChunkHeader::parse(&[0, 1, 2]),
            Err(XetFormatError::Truncated { .. })
        ));
        let mut h = header(0, 5, 5);
        h[0] = 1;
        assert_eq!(ChunkHeader::parse(&h), Err(XetFormatError::BadVersion(1)));
        assert_eq!(
            ChunkHeader::parse(b"XETBLOB\x01"),
            Err(XetFormatError::BadVersion(b'X'))
        );
        for s in [3, 99, 255] {
            assert_eq!(
                ChunkHeader::parse(&header(s, 5, 5)),
                Err(XetFormatError::UnknownScheme(s))
            );
        }
        assert!(matches!(
            ChunkHeader::parse(&header(1, 5, 131_073)),
            Err(XetFormatError::TooLarge { .. })
        ));
        assert!(matches!(
            ChunkHeader::parse(&header(1, 262_145, 10)),
            Err(XetFormatError::TooLarge { .. })
        ));
        assert!(ChunkHeader::parse(&header(1, 262_144, 131_072)).is_ok());
    }

    #[test]
    fn records_round_trip_with_fallback() {
        let text = "0001 the quick brown fox\n".repeat(2000);
        let random: Vec<u8> = (0..5000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        for data in [text.as_bytes(), &random[..], b"", b"x"] {
            for scheme in [
                CompressionScheme::None,
                CompressionScheme::Lz4,
                CompressionScheme::ByteGrouping4Lz4,
            ] {
                let mut rec = vec![7];
                let h = encode_chunk(data, scheme, &mut rec);
                assert!(h.compressed_len as usize <= data.len());
                if h.scheme != CompressionScheme::None {
                    assert!((h.compressed_len as usize) < data.len());
                }
                let (h2, raw, used) = decode_record(&rec[1..]).unwrap();
                assert_eq!((h2, used), (h, rec.len() - 1));
                assert_eq!(raw, data);
            }
        }
    }

    #[test]
    fn bad_payloads_are_errors_not_panics() {
        // Declared sizes that disagree with the payload.
        let mut rec = header(0, 4, 5).to_vec();
        rec.extend_from_slice(b"abcd");
        assert!(decode_record(&rec).is_err());
        assert!(decode_record(&header(0, 10, 10)).is_err());
        // Garbage LZ4.
        let mut rec = header(1, 6, 100).to_vec();
        rec.extend_from_slice(&[4, 0x22, 0x4d, 0x18, 0xff, 0xff]);
        assert!(decode_record(&rec).is_err());
        let mut rec = header(2, 3, 100).to_vec();
        rec.extend_from_slice(&[1, 2, 3]);
        assert!(decode_record(&rec).is_err());
        // A bomb: 128 KiB of zeros compresses to a few hundred bytes; declare less output.
        let mut frame = Vec::new();
        lz4::encode_frame(&vec![0; MAX_CHUNK_SIZE], &mut frame);
        let mut rec = header(1, frame.len() as u32, 4096).to_vec();
        rec.extend_from_slice(&frame);
        let mut out = Vec::new();
        assert!(decode_payload(&ChunkHeader::parse(&rec).unwrap(), &rec[8..], &mut out).is_err());
        assert!(out.is_empty());
    }
}
