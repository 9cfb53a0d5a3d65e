//! One chunk record: 8-byte header + payload (§3.2), and the three compression schemes (§3.3).
// SKELETON: bodies to be written (issue 2).

use super::error::XetFormatError;

/// Per-chunk compression scheme as it appears on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CompressionScheme {
    None = 0,
    Lz4 = 1,
    ByteGrouping4Lz4 = 2,
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

impl ChunkHeader {
    pub const LEN: usize = 8;

    /// Parses and validates (version 0, known scheme, sizes within limits; §3.2).
    pub fn parse(bytes: &[u8]) -> Result<Self, XetFormatError> {
        let _ = bytes;
        todo!()
    }

    pub fn to_bytes(&self) -> [u8; 8] {
        todo!()
    }

    /// Header plus payload length.
    pub fn record_len(&self) -> usize {
        Self::LEN + self.compressed_len as usize
    }
}

/// Appends the record for `raw` compressed with `scheme` to `out`, falling back to `None` when
/// compression does not make it strictly shorter. Returns the header written.
pub fn encode_chunk(raw: &[u8], scheme: CompressionScheme, out: &mut Vec<u8>) -> ChunkHeader {
    let _ = (raw, scheme, out);
    todo!()
}

/// Decodes `payload` (exactly `header.compressed_len` bytes) and appends exactly
/// `header.uncompressed_len` bytes to `out`.
pub fn decode_payload(
    header: &ChunkHeader,
    payload: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), XetFormatError> {
    let _ = (header, payload, out);
    todo!()
}

/// Decodes the record at the start of `bytes`: returns the header, the raw chunk and the number
/// of bytes the record occupies.
pub fn decode_record(bytes: &[u8]) -> Result<(ChunkHeader, Vec<u8>, usize), XetFormatError> {
    let _ = bytes;
    todo!()
}

/// Byte grouping: byte `k` goes to group `k % 4` (§3.3). Fast, not a byte loop.
pub fn bg4_split(data: &[u8], out: &mut Vec<u8>) {
    let _ = (data, out);
    todo!()
}

/// Inverse of [`bg4_split`].
pub fn bg4_join(grouped: &[u8], out: &mut Vec<u8>) {
    let _ = (grouped, out);
    todo!()
}

/// The reference's `Auto` choice for a run of chunks: BG4 or LZ4, predicted from `sample`.
pub fn predict_scheme(sample: &[u8]) -> CompressionScheme {
    let _ = sample;
    todo!()
}
