//! The xorb footer ("xorb info", v1; legacy v0 parse) (§3.5). Servers and whole-xorb tools only.

use super::error::XetFormatError;
use super::hash::MerkleHash;

const IDENT: &[u8; 7] = b"XETBLOB";
const IDENT_HASHES: &[u8; 7] = b"XBLBHSH";
const IDENT_BOUNDARIES: &[u8; 7] = b"XBLBBND";
/// Footer bytes that do not depend on the chunk count (v1).
const V1_FIXED: usize = 92;
/// Bytes per chunk in a v1 footer: hash, boundary offset, unpacked offset.
const V1_PER_CHUNK: usize = 40;
/// v0: ident+version, hash, count, 16 reserved bytes; then 36 bytes per chunk.
const V0_FIXED: usize = 8 + 32 + 4 + 16;
const V0_PER_CHUNK: usize = 36;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XorbFooter {
    pub hash: MerkleHash,
    pub chunk_hashes: Vec<MerkleHash>,
    /// End offset (exclusive) of record `i` in the record area.
    pub chunk_boundary_offsets: Vec<u32>,
    /// Cumulative raw bytes through chunk `i` (absent in v0 footers: derived when possible).
    pub unpacked_chunk_offsets: Vec<u32>,
}

fn footer_err(msg: impl Into<String>) -> XetFormatError {
    XetFormatError::Footer(msg.into())
}

/// Sequential little-endian reader over a footer whose length is already known to fit.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], XetFormatError> {
        if self.0.len() < n {
            return Err(footer_err("footer ends early"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, XetFormatError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, XetFormatError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn hash(&mut self) -> Result<MerkleHash, XetFormatError> {
        Ok(MerkleHash::from_slice(self.take(32)?).unwrap())
    }
    fn hashes(&mut self, n: usize) -> Result<Vec<MerkleHash>, XetFormatError> {
        Ok(self
            .take(
                n.checked_mul(32)
                    .ok_or_else(|| footer_err("count overflow"))?,
            )?
            .chunks_exact(32)
            .map(|h| MerkleHash::from_slice(h).unwrap())
            .collect())
    }
    fn u32s(&mut self, n: usize) -> Result<Vec<u32>, XetFormatError> {
        Ok(self
            .take(
                n.checked_mul(4)
                    .ok_or_else(|| footer_err("count overflow"))?,
            )?
            .chunks_exact(4)
            .map(|w| u32::from_le_bytes(w.try_into().unwrap()))
            .collect())
    }
    fn ident(&mut self, want: &[u8; 7], section: &str) -> Result<(), XetFormatError> {
        if self.take(7)? != want {
            return Err(footer_err(format!("bad {section} ident")));
        }
        Ok(())
    }
}

impl XorbFooter {
    /// Footer bytes followed by the trailing u32 footer length.
    pub fn serialize(&self) -> Vec<u8> {
        let n = self.chunk_hashes.len();
        debug_assert_eq!(n, self.chunk_boundary_offsets.len());
        debug_assert_eq!(n, self.unpacked_chunk_offsets.len());
        let len = V1_FIXED + V1_PER_CHUNK * n;
        let mut out = Vec::with_capacity(len + 4);
        out.extend_from_slice(IDENT);
        out.push(1);
        out.extend_from_slice(self.hash.as_bytes());
        out.extend_from_slice(IDENT_HASHES);
        out.push(0);
        out.extend_from_slice(&(n as u32).to_le_bytes());
        for h in &self.chunk_hashes {
            out.extend_from_slice(h.as_bytes());
        }
        out.extend_from_slice(IDENT_BOUNDARIES);
        out.push(1);
        out.extend_from_slice(&(n as u32).to_le_bytes());
        for v in self
            .chunk_boundary_offsets
            .iter()
            .chain(&self.unpacked_chunk_offsets)
        {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&(n as u32).to_le_bytes());
        let boundary_section = 7 + 1 + 4 + 8 * n + 4 + 4 + 4 + 16;
        let hashes_section = 7 + 1 + 4 + 32 * n + boundary_section;
        out.extend_from_slice(&(hashes_section as u32).to_le_bytes());
        out.extend_from_slice(&(boundary_section as u32).to_le_bytes());
        out.extend_from_slice(&[0; 16]);
        debug_assert_eq!(out.len(), len);
        out.extend_from_slice(&(len as u32).to_le_bytes());
        out
    }

    /// Finds and parses the footer at the end of a stored object; returns it and the offset where
    /// it starts (= length of the record area).
    pub fn parse_from_end(object: &[u8]) -> Result<(Self, usize), XetFormatError> {
        let body_len = object
            .len()
            .checked_sub(4)
            .ok_or_else(|| footer_err("object shorter than the footer length field"))?;
        let info_len = u32::from_le_bytes(object[body_len..].try_into().unwrap()) as usize;
        let start = body_len
            .checked_sub(info_len)
            .ok_or_else(|| footer_err(format!("footer length {info_len} exceeds the object")))?;
        let footer = Self::parse(&object[start..body_len])?;
        Ok((footer, start))
    }

    /// Parses exactly one footer (without the trailing length).
    fn parse(bytes: &[u8]) -> Result<Self, XetFormatError> {
        let mut c = Cursor(bytes);
        c.ident(IDENT, "xorb")?;
        let footer = match c.u8()? {
            0 => Self::parse_v0(&mut c, bytes.len())?,
            1 => Self::parse_v1(&mut c, bytes.len())?,
            v => return Err(footer_err(format!("unsupported footer version {v}"))),
        };
        if !c.0.is_empty() {
            return Err(footer_err("footer length disagrees with its contents"));
        }
        footer.check_offsets()?;
        Ok(footer)
    }

    fn parse_v1(c: &mut Cursor, total: usize) -> Result<Self, XetFormatError> {
        let hash = c.hash()?;
        c.ident(IDENT_HASHES, "hashes section")?;
        if c.u8()? != 0 {
            return Err(footer_err("unsupported hashes section version"));
        }
        let n = c.u32()? as usize;
        // The count must match the footer size before anything is allocated for it.
        if Some(total) != n.checked_mul(V1_PER_CHUNK).map(|v| v + V1_FIXED) {
            return Err(footer_err(format!(
                "{n} chunks do not fit a {total}-byte footer"
            )));
        }
        let chunk_hashes = c.hashes(n)?;
        c.ident(IDENT_BOUNDARIES, "boundaries section")?;
        if c.u8()? != 1 {
            return Err(footer_err("unsupported boundaries section version"));
        }
        if c.u32()? as usize != n {
            return Err(footer_err("chunk counts of the sections disagree"));
        }
        let chunk_boundary_offsets = c.u32s(n)?;
        let unpacked_chunk_offsets = c.u32s(n)?;
        if c.u32()? as usize != n {
            return Err(footer_err("chunk counts of the sections disagree"));
        }
        let hashes_from_end = c.u32()? as usize;
        let boundaries_from_end = c.u32()? as usize;
        if hashes_from_end != 52 + 40 * n || boundaries_from_end != 40 + 8 * n {
            return Err(footer_err("section offsets disagree with the chunk count"));
        }
        c.take(16)?; // reserved; may hold an upload nonce
        Ok(XorbFooter {
            hash,
            chunk_hashes,
            chunk_boundary_offsets,
            unpacked_chunk_offsets,
        })
    }

    fn parse_v0(c: &mut Cursor, total: usize) -> Result<Self, XetFormatError> {
        let hash = c.hash()?;
        let n = c.u32()? as usize;
        if Some(total) != n.checked_mul(V0_PER_CHUNK).map(|v| v + V0_FIXED) {
            return Err(footer_err(format!(
                "{n} chunks do not fit a {total}-byte v0 footer"
            )));
        }
        let chunk_boundary_offsets = c.u32s(n)?;
        let chunk_hashes = c.hashes(n)?;
        c.take(16)?;
        Ok(XorbFooter {
            hash,
            chunk_hashes,
            chunk_boundary_offsets,
            // Not stored in v0 (whole-object parsing recomputes them from the records).
            unpacked_chunk_offsets: Vec::new(),
        })
    }

    /// Offsets must grow: a record is at least a header, a chunk at most 128 KiB.
    fn check_offsets(&self) -> Result<(), XetFormatError> {
        let mut prev = 0u32;
        for &end in &self.chunk_boundary_offsets {
            if end < prev.saturating_add(super::chunk::ChunkHeader::LEN as u32) {
                return Err(footer_err("chunk boundary offsets do not increase"));
            }
            prev = end;
        }
        let mut prev = 0u32;
        for &end in &self.unpacked_chunk_offsets {
            if end < prev || end - prev > super::MAX_CHUNK_SIZE as u32 {
                return Err(footer_err(
                    "unpacked chunk offsets are not valid chunk sizes",
                ));
            }
            prev = end;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: usize) -> XorbFooter {
        XorbFooter {
            hash: crate::xet::chunk_hash(b"x"),
            chunk_hashes: (0..n).map(|i| crate::xet::chunk_hash(&[i as u8])).collect(),
            chunk_boundary_offsets: (1..=n as u32).map(|i| i * 100).collect(),
            unpacked_chunk_offsets: (1..=n as u32).map(|i| i * 1000).collect(),
        }
    }

    #[test]
    fn v1_round_trips_after_a_record_area() {
        for n in [0, 1, 5] {
            let f = sample(n);
            let mut object = vec![0xAB; 77];
            object.extend(f.serialize());
            assert_eq!(XorbFooter::parse_from_end(&object).unwrap(), (f, 77));
        }
    }

    #[test]
    fn lying_footers_are_errors() {
        let good = sample(3).serialize();
        // Count field claims a huge number of chunks: rejected before any allocation.
        let mut bad = good.clone();
        bad[40 + 8..40 + 12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(XorbFooter::parse_from_end(&bad).is_err());
        // Length field larger than the object.
        let mut bad = good.clone();
        let l = bad.len();
        bad[l - 4..].copy_from_slice(&1_000_000u32.to_le_bytes());
        assert!(XorbFooter::parse_from_end(&bad).is_err());
        assert!(XorbFooter::parse_from_end(&[1, 2]).is_err());
        // Every truncation of a footer is an error, never a panic.
        for cut in 0..good.len() {
            assert!(XorbFooter::parse_from_end(&good[cut..]).is_err() || cut == 0);
        }
    }

    #[test]
    fn v0_footers_parse() {
        let f = sample(2);
        let mut v0 = Vec::new();
        v0.extend_from_slice(IDENT);
        v0.push(0);
        v0.extend_from_slice(f.hash.as_bytes());
        v0.extend_from_slice(&2u32.to_le_bytes());
        for o in &f.chunk_boundary_offsets {
            v0.extend_from_slice(&o.to_le_bytes());
        }
        for h in &f.chunk_hashes {
            v0.extend_from_slice(h.as_bytes());
        }
        v0.extend_from_slice(&[0; 16]);
        let len = v0.len() as u32;
        v0.extend_from_slice(&len.to_le_bytes());
        let (parsed, start) = XorbFooter::parse_from_end(&v0).unwrap();
        assert_eq!(start, 0);
        assert_eq!(parsed.chunk_hashes, f.chunk_hashes);
        assert_eq!(parsed.chunk_boundary_offsets, f.chunk_boundary_offsets);
        assert!(parsed.unpacked_chunk_offsets.is_empty());
    }
}
