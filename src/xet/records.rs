//! Splitting and decoding the record runs a CAS serves for a chunk range (§4.5).

use bytes::{Bytes, BytesMut};

use super::chunk::{decode_payload, ChunkHeader};
use super::error::XetFormatError;
use super::reconstruction::ChunkRange;

/// One record split out of a served byte range, not yet decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    pub index: u32,
    pub header: ChunkHeader,
    /// Header and payload bytes.
    pub bytes: Bytes,
}

impl RawRecord {
    /// Decodes the payload into the raw chunk (exactly `header.uncompressed_len` bytes).
    pub fn decode(&self) -> Result<Vec<u8>, XetFormatError> {
        let mut out = Vec::with_capacity(self.header.uncompressed_len as usize);
        decode_payload(&self.header, &self.bytes[ChunkHeader::LEN..], &mut out)?;
        Ok(out)
    }
}

/// Splits a streamed body holding the records of `chunks` (exactly `expected_bytes` long) into
/// records as bytes arrive. Checks every declared length and the record count.
#[derive(Debug)]
pub struct RecordSplitter {
    start_index: u32,
    next_index: u32,
    end_index: u32,
    expected_bytes: u64,
    /// Bytes accepted so far (complete records plus `partial`).
    seen: u64,
    /// Bytes of the records emitted so far.
    done: u64,
    /// The start of a record whose bytes have not all arrived.
    partial: BytesMut,
    /// The first error; the body is rejected for good after it.
    failed: Option<XetFormatError>,
}

impl RecordSplitter {
    pub fn new(chunks: ChunkRange, expected_bytes: u64) -> Self {
        RecordSplitter {
            start_index: chunks.start,
            next_index: chunks.start,
            end_index: chunks.end.max(chunks.start),
            expected_bytes,
            seen: 0,
            done: 0,
            partial: BytesMut::new(),
            failed: None,
        }
    }

    /// Feeds the next piece of the body; returns the records completed by it. After an error,
    /// every later call returns that error again.
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<RawRecord>, XetFormatError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = self.push_inner(data);
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }

    fn push_inner(&mut self, data: &[u8]) -> Result<Vec<RawRecord>, XetFormatError> {
        let mut out = Vec::new();
        if self.seen + data.len() as u64 > self.expected_bytes {
            return Err(XetFormatError::TrailingBytes(
                self.seen + data.len() as u64 - self.expected_bytes,
            ));
        }
        self.seen += data.len() as u64;
        let mut rest = data;
        // Complete a record started by an earlier piece (its header first, then its payload).
        while !self.partial.is_empty() {
            let need = self.missing_bytes()?;
            if need == 0 {
                let bytes = std::mem::take(&mut self.partial).freeze();
                out.push(self.record(bytes)?);
                break;
            }
            if rest.is_empty() {
                return Ok(out);
            }
            let take = need.min(rest.len());
            self.partial.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
        }
        // Whole records inside this piece, then keep the tail.
        while !rest.is_empty() {
            if rest.len() < ChunkHeader::LEN {
                break;
            }
            let header = self.check_header(rest)?;
            let len = header.record_len();
            if rest.len() < len {
                break;
            }
            out.push(self.record(Bytes::copy_from_slice(&rest[..len]))?);
            rest = &rest[len..];
        }
        if !rest.is_empty() {
            self.partial.extend_from_slice(rest);
            // Validate the header as soon as it is complete, not when the payload arrives.
            self.missing_bytes()?;
        }
        Ok(out)
    }

    /// Bytes still missing from the partial record (its header is validated once complete).
    fn missing_bytes(&self) -> Result<usize, XetFormatError> {
        if self.partial.len() < ChunkHeader::LEN {
            return Ok(ChunkHeader::LEN - self.partial.len());
        }
        let header = self.check_header(&self.partial)?;
        Ok(header.record_len() - self.partial.len())
    }

    /// Parses the header of the next record and checks the record fits the expected count and
    /// body length.
    fn check_header(&self, bytes: &[u8]) -> Result<ChunkHeader, XetFormatError> {
        if self.next_index >= self.end_index {
            return Err(XetFormatError::RecordCount {
                what: "served range",
                expected: u64::from(self.end_index - self.start_index),
                found: u64::from(self.next_index - self.start_index) + 1,
            });
        }
        let header = ChunkHeader::parse(bytes)?;
        let end = self.done + header.record_len() as u64;
        if end > self.expected_bytes {
            return Err(XetFormatError::LengthMismatch {
                what: "served range body (a record runs past its end)",
                expected: self.expected_bytes,
                got: end,
            });
        }
        Ok(header)
    }

    fn record(&mut self, bytes: Bytes) -> Result<RawRecord, XetFormatError> {
        let header = ChunkHeader::parse(&bytes)?;
        debug_assert_eq!(bytes.len(), header.record_len());
        let index = self.next_index;
        self.next_index += 1;
        self.done += bytes.len() as u64;
        Ok(RawRecord {
            index,
            header,
            bytes,
        })
    }

    /// End of body: errors unless exactly the expected bytes and records were seen.
    pub fn finish(self) -> Result<(), XetFormatError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        if self.seen != self.expected_bytes || !self.partial.is_empty() {
            return Err(XetFormatError::LengthMismatch {
                what: "served range body",
                expected: self.expected_bytes,
                got: self.seen - self.partial.len() as u64,
            });
        }
        if self.next_index != self.end_index {
            return Err(XetFormatError::RecordCount {
                what: "served range",
                expected: u64::from(self.end_index - self.start_index),
                found: u64::from(self.next_index - self.start_index),
            });
        }
        Ok(())
    }
}

/// One decoded chunk of a served range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedChunk {
    pub index: u32,
    pub data: Vec<u8>,
}

/// Decodes a complete served byte range holding the records of `chunks`.
pub fn decode_range(body: &[u8], chunks: ChunkRange) -> Result<Vec<DecodedChunk>, XetFormatError> {
    let mut out = Vec::with_capacity(chunks.len().min(body.len() as u32 / 8 + 1) as usize);
    let mut rest = body;
    let mut index = chunks.start;
    while !rest.is_empty() {
        if index >= chunks.end {
            return Err(XetFormatError::TrailingBytes(rest.len() as u64));
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
        let mut data = Vec::with_capacity(header.uncompressed_len as usize);
        decode_payload(&header, payload, &mut data)?;
        out.push(DecodedChunk { index, data });
        rest = &rest[len..];
        index += 1;
    }
    if index != chunks.end.max(chunks.start) {
        return Err(XetFormatError::RecordCount {
            what: "served range",
            expected: u64::from(chunks.len()),
            found: u64::from(index - chunks.start),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xet::chunk::{encode_chunk, CompressionScheme};

    fn body() -> (Vec<u8>, Vec<Vec<u8>>) {
        let chunks: Vec<Vec<u8>> = (0..5)
            .map(|i| format!("chunk {i} ").repeat(100 + i * 50).into_bytes())
            .collect();
        let mut body = Vec::new();
        for c in &chunks {
            encode_chunk(c, CompressionScheme::Lz4, &mut body);
        }
        (body, chunks)
    }

    #[test]
    fn any_piece_size_gives_the_same_records() {
        let (body, chunks) = body();
        let range = ChunkRange::new(10, 15);
        let whole = decode_range(&body, range).unwrap();
        assert_eq!(
            whole.iter().map(|c| c.index).collect::<Vec<_>>(),
            [10, 11, 12, 13, 14]
        );
        for piece in [1, 3, 8, 9, 100, body.len()] {
            let mut s = RecordSplitter::new(range, body.len() as u64);
            let mut got = Vec::new();
            for p in body.chunks(piece) {
                got.extend(s.push(p).unwrap());
            }
            s.finish().unwrap();
            let decoded: Vec<Vec<u8>> = got.iter().map(|r| r.decode().unwrap()).collect();
            assert_eq!(decoded, chunks, "piece {piece}");
            assert_eq!(got[4].index, 14);
        }
    }

    #[test]
    fn wrong_bodies_are_typed_errors() {
        let (body, _) = body();
        let n = body.len() as u64;
        // Too short: finish reports it.
        let mut s = RecordSplitter::new(ChunkRange::new(0, 5), n);
        s.push(&body[..body.len() - 1]).unwrap();
        assert!(s.finish().is_err());
        // Too long for the declared size.
        let mut s = RecordSplitter::new(ChunkRange::new(0, 5), n - 1);
        assert!(s.push(&body).is_err());
        // More records than chunks.
        let mut s = RecordSplitter::new(ChunkRange::new(0, 4), n);
        assert!(s.push(&body).is_err());
        // Fewer records than chunks.
        let mut s = RecordSplitter::new(ChunkRange::new(0, 6), n);
        s.push(&body).unwrap();
        assert!(matches!(
            s.finish(),
            Err(XetFormatError::RecordCount { .. })
        ));
        // A bad header is reported as soon as its 8 bytes are in.
        let mut bad = body.clone();
        bad[0] = 7;
        let mut s = RecordSplitter::new(ChunkRange::new(0, 5), n);
        assert!(s.push(&bad[..3]).is_ok());
        assert!(s.push(&bad[3..8]).is_err());
        assert!(decode_range(&body, ChunkRange::new(0, 4)).is_err());
        assert!(decode_range(&body, ChunkRange::new(0, 6)).is_err());
        assert!(decode_range(&body[..body.len() - 2], ChunkRange::new(0, 5)).is_err());
    }
}
