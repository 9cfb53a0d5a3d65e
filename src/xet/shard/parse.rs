//! Sequential shard parser. Every declared count is checked against the bytes actually left
//! before anything is allocated for it, so a lying count costs an error, not memory.

use super::{
    sha256_stored_form, Shard, ShardFile, ShardFooterInfo, ShardTerm, ShardXorb, ShardXorbChunk,
    ENTRY_LEN, FILE_FLAG_METADATA_EXT, FILE_FLAG_VERIFICATION, FOOTER_LEN, FOOTER_VERSION,
    HEADER_LEN, HEADER_VERSION, SHARD_TAG,
};
use crate::xet::error::XetFormatError;
use crate::xet::hash::MerkleHash;

fn err(msg: impl Into<String>) -> XetFormatError {
    XetFormatError::Shard(msg.into())
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], XetFormatError> {
        if self.remaining() < n {
            return Err(XetFormatError::Truncated {
                what,
                need: n as u64,
                have: self.remaining() as u64,
            });
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    /// Takes one 48-byte entry.
    fn entry(&mut self, what: &'static str) -> Result<Entry<'a>, XetFormatError> {
        Ok(Entry(self.take(ENTRY_LEN, what)?))
    }
    /// Checks that `count` more entries can follow before any is read.
    fn expect_entries(&self, count: u64, what: &str) -> Result<usize, XetFormatError> {
        let need = count.saturating_mul(ENTRY_LEN as u64);
        if need > self.remaining() as u64 {
            return Err(err(format!(
                "{what} declares {count} entries but only {} bytes remain",
                self.remaining()
            )));
        }
        Ok(count as usize)
    }
}

/// A 48-byte entry: a hash followed by 16 bytes of small fields.
struct Entry<'a>(&'a [u8]);

impl Entry<'_> {
    fn hash(&self) -> MerkleHash {
        MerkleHash::from_slice(&self.0[..32]).unwrap()
    }
    fn raw32(&self) -> [u8; 32] {
        self.0[..32].try_into().unwrap()
    }
    fn u32(&self, i: usize) -> u32 {
        let at = 32 + 4 * i;
        u32::from_le_bytes(self.0[at..at + 4].try_into().unwrap())
    }
    fn is_bookend(&self) -> bool {
        self.0[..32].iter().all(|&b| b == 0xFF)
    }
}

pub(super) fn parse(bytes: &[u8]) -> Result<Shard, XetFormatError> {
    let mut r = Reader { bytes, pos: 0 };
    let header = r.take(HEADER_LEN, "shard header")?;
    if header[..32] != SHARD_TAG {
        return Err(err("not a shard (wrong tag)"));
    }
    let version = u64::from_le_bytes(header[32..40].try_into().unwrap());
    if version != HEADER_VERSION {
        return Err(err(format!("unsupported shard version {version}")));
    }
    let footer_size = u64::from_le_bytes(header[40..48].try_into().unwrap());
    let body_end = match footer_size {
        0 => bytes.len(),
        s if s == FOOTER_LEN as u64 => bytes
            .len()
            .checked_sub(FOOTER_LEN)
            .filter(|&e| e >= HEADER_LEN)
            .ok_or_else(|| err("shard too short for its footer"))?,
        s => return Err(err(format!("unsupported footer size {s}"))),
    };
    r.bytes = &bytes[..body_end];

    let files = parse_files(&mut r)?;
    let xorb_info_offset = r.pos;
    let xorbs = parse_xorbs(&mut r)?;
    let sections_end = r.pos;

    let footer = if footer_size == 0 {
        if sections_end != bytes.len() {
            return Err(XetFormatError::TrailingBytes(
                (bytes.len() - sections_end) as u64,
            ));
        }
        None
    } else {
        Some(parse_footer(
            &bytes[body_end..],
            body_end,
            xorb_info_offset,
            sections_end,
        )?)
    };
    Ok(Shard {
        files,
        xorbs,
        footer,
    })
}

fn parse_files(r: &mut Reader) -> Result<Vec<ShardFile>, XetFormatError> {
    let mut files = Vec::new();
    loop {
        let head = r.entry("file info header")?;
        if head.is_bookend() {
            return Ok(files);
        }
        let flags = head.u32(0);
        let n = u64::from(head.u32(1));
        let verification = flags & FILE_FLAG_VERIFICATION != 0;
        let ext = flags & FILE_FLAG_METADATA_EXT != 0;
        let entries = n * (1 + u64::from(verification)) + u64::from(ext);
        r.expect_entries(entries, "file info")?;
        let n = n as usize;
        let mut terms = Vec::with_capacity(n);
        for _ in 0..n {
            let e = r.entry("file term")?;
            terms.push(ShardTerm {
                xorb_hash: e.hash(),
                xorb_flags: e.u32(0),
                unpacked_bytes: e.u32(1),
                chunk_start: e.u32(2),
                chunk_end: e.u32(3),
            });
        }
        let verification = if verification {
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(r.entry("verification entry")?.hash());
            }
            Some(v)
        } else {
            None
        };
        let sha256 = if ext {
            Some(sha256_stored_form(&r.entry("metadata extension")?.raw32()))
        } else {
            None
        };
        files.push(ShardFile {
            file_hash: head.hash(),
            terms,
            verification,
            sha256,
        });
    }
}

fn parse_xorbs(r: &mut Reader) -> Result<Vec<ShardXorb>, XetFormatError> {
    let mut xorbs = Vec::new();
    loop {
        let head = r.entry("xorb info header")?;
        if head.is_bookend() {
            return Ok(xorbs);
        }
        let n = r.expect_entries(u64::from(head.u32(1)), "xorb info")?;
        let mut chunks = Vec::with_capacity(n);
        for _ in 0..n {
            let e = r.entry("xorb chunk entry")?;
            chunks.push(ShardXorbChunk {
                hash: e.hash(),
                byte_start: e.u32(0),
                raw_len: e.u32(1),
                flags: e.u32(2),
            });
        }
        xorbs.push(ShardXorb {
            xorb_hash: head.hash(),
            flags: head.u32(0),
            num_bytes_in_xorb: head.u32(2),
            num_bytes_on_disk: head.u32(3),
            chunks,
        });
    }
}

/// Parses the 200-byte footer and checks it describes the layout the sections actually have.
fn parse_footer(
    f: &[u8],
    footer_at: usize,
    xorb_info_offset: usize,
    sections_end: usize,
) -> Result<ShardFooterInfo, XetFormatError> {
    let u64_at = |i: usize| u64::from_le_bytes(f[8 * i..8 * i + 8].try_into().unwrap());
    if u64_at(0) != FOOTER_VERSION {
        return Err(err(format!(
            "expected footer version {FOOTER_VERSION}, got {}",
            u64_at(0)
        )));
    }
    let [file_info, xorb_info, file_lookup, n_file, xorb_lookup, n_xorb, chunk_lookup, n_chunk] =
        std::array::from_fn(|i| u64_at(i + 1));
    let footer_offset = u64_at(24);
    let layout_ok = file_info == HEADER_LEN as u64
        && xorb_info == xorb_info_offset as u64
        && file_lookup == sections_end as u64
        && footer_offset == footer_at as u64
        && lookup_end(file_lookup, n_file, 12) == Some(xorb_lookup)
        && lookup_end(xorb_lookup, n_xorb, 12) == Some(chunk_lookup)
        && lookup_end(chunk_lookup, n_chunk, 16) == Some(footer_offset);
    if !layout_ok {
        return Err(err("footer offsets disagree with the shard's layout"));
    }
    Ok(ShardFooterInfo {
        chunk_hash_hmac_key: MerkleHash::from_slice(&f[72..104]).unwrap(),
        creation_timestamp: u64_at(13),
        key_expiry: u64_at(14),
    })
}

fn lookup_end(offset: u64, entries: u64, entry_len: u64) -> Option<u64> {
    entries.checked_mul(entry_len)?.checked_add(offset)
}
