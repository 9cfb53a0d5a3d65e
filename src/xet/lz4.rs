//! LZ4 *frames* (not raw blocks) as used by chunk records (§3.3).
//!
//! Encoding uses `lz4_flex`'s `FrameEncoder` with its defaults, exactly like the reference, so the
//! frames are byte-identical. Decoding walks the frame format itself and decompresses every block
//! with `lz4_flex`'s safe block decoder straight into the caller's output slice: no intermediate
//! buffer, no copy, and no allocation sized by anything the frame declares. Output that would not
//! fit the expected chunk length is an error, so a decompression bomb costs nothing.

use std::io::Write;

use lz4_flex::block::{decompress_into, decompress_into_with_dict};
use twox_hash::XxHash32;

use super::error::XetFormatError;

const MAGIC: u32 = 0x184D_2204;
const LEGACY_MAGIC: u32 = 0x184C_2102;
const SKIPPABLE_MAGIC: std::ops::RangeInclusive<u32> = 0x184D_2A50..=0x184D_2A5F;
/// Linked blocks may refer back this far into earlier output.
const WINDOW: usize = 64 * 1024;
const LEGACY_BLOCK: usize = 8 * 1024 * 1024;

/// Appends `data` compressed as one LZ4 frame (lz4_flex defaults, as the reference writes it).
pub fn encode_frame(data: &[u8], out: &mut Vec<u8>) {
    let mut encoder = lz4_flex::frame::FrameEncoder::new(out);
    // Writing into a Vec cannot fail, and neither can finishing the frame.
    let _ = encoder.write_all(data);
    let _ = encoder.finish();
}

fn lz4_err(msg: impl Into<String>) -> XetFormatError {
    XetFormatError::Lz4(msg.into())
}

/// Reads little-endian integers from the frame, failing cleanly on truncation.
struct Input<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Input<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], XetFormatError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| lz4_err(format!("truncated {what}")))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u32(&mut self, what: &str) -> Result<u32, XetFormatError> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().unwrap()))
    }
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }
}

/// Decodes the LZ4 frame(s) in `input` into exactly `out.len()` bytes.
///
/// Accepts everything a reader of the frame format must: independent or linked blocks, stored
/// (uncompressed) blocks, any block size, optional content size, block and content checksums
/// (verified), several frames back to back, and the legacy frame format. Rejects dictionaries and
/// skippable frames (as the reference's decoder does), bad checksums, and any output that is
/// shorter or longer than `out`.
pub fn decode_frames_into(input: &[u8], out: &mut [u8]) -> Result<(), XetFormatError> {
    let mut inp = Input {
        bytes: input,
        pos: 0,
    };
    // An empty payload is zero frames, i.e. zero bytes (the reference's decoder agrees).
    let mut written = 0;
    while inp.remaining() > 0 {
        let magic = inp.u32("frame magic")?;
        written = match magic {
            MAGIC => decode_frame(&mut inp, out, written)?,
            LEGACY_MAGIC => decode_legacy_frame(&mut inp, out, written)?,
            m if SKIPPABLE_MAGIC.contains(&m) => return Err(lz4_err("skippable frame")),
            m => return Err(lz4_err(format!("bad frame magic {m:#010x}"))),
        };
    }
    if written != out.len() {
        return Err(XetFormatError::LengthMismatch {
            what: "decompressed chunk",
            expected: out.len() as u64,
            got: written as u64,
        });
    }
    Ok(())
}

/// One modern frame, after its magic. Returns the new output position.
fn decode_frame(inp: &mut Input, out: &mut [u8], start: usize) -> Result<usize, XetFormatError> {
    let desc_start = inp.pos;
    let [flg, bd] = inp.take(2, "frame descriptor")?.try_into().unwrap();
    if flg >> 6 != 0b01 {
        return Err(lz4_err(format!("unsupported frame version {}", flg >> 6)));
    }
    if flg & 0b10 != 0 || bd & 0b1000_1111 != 0 {
        return Err(lz4_err("reserved descriptor bits set"));
    }
    let linked = flg & 0x20 == 0;
    let block_checksums = flg & 0x10 != 0;
    let content_size = if flg & 0x08 != 0 {
        Some(u64::from_le_bytes(
            inp.take(8, "content size")?.try_into().unwrap(),
        ))
    } else {
        None
    };
    let content_checksum = flg & 0x04 != 0;
    if flg & 0x01 != 0 {
        return Err(lz4_err("dictionary frames are not supported"));
    }
    let max_block = match (bd >> 4) & 0x7 {
        4 => 64 * 1024,
        5 => 256 * 1024,
        6 => 1024 * 1024,
        7 => 4 * 1024 * 1024,
        n => return Err(lz4_err(format!("unsupported block size id {n}"))),
    };
    let descriptor = &inp.bytes[desc_start..inp.pos];
    let header_checksum = inp.take(1, "header checksum")?[0];
    if (XxHash32::oneshot(0, descriptor) >> 8) as u8 != header_checksum {
        return Err(lz4_err("header checksum mismatch"));
    }

    let mut pos = start;
    loop {
        // A frame that simply ends after a block is accepted, as lz4_flex does.
        if inp.remaining() == 0 {
            break;
        }
        let word = inp.u32("block size")?;
        if word == 0 {
            if content_checksum {
                let expected = inp.u32("content checksum")?;
                if XxHash32::oneshot(0, &out[start..pos]) != expected {
                    return Err(lz4_err("content checksum mismatch"));
                }
            }
            break;
        }
        let stored = word & 0x8000_0000 != 0;
        let len = (word & 0x7FFF_FFFF) as usize;
        if len > max_block {
            return Err(lz4_err(format!(
                "block of {len} bytes over the frame's {max_block}"
            )));
        }
        let block = inp.take(len, "block")?;
        if block_checksums && XxHash32::oneshot(0, block) != inp.u32("block checksum")? {
            return Err(lz4_err("block checksum mismatch"));
        }
        // Never let one block write more than the frame's block size or the chunk's length.
        let room = (out.len() - pos).min(max_block);
        let n = if stored {
            if len > room {
                return Err(too_long(out.len()));
            }
            out[pos..pos + len].copy_from_slice(block);
            len
        } else {
            let (before, after) = out.split_at_mut(pos);
            let dst = &mut after[..room];
            let dict = &before[start.max(pos.saturating_sub(WINDOW))..];
            if linked && !dict.is_empty() {
                decompress_into_with_dict(block, dst, dict)
            } else {
                decompress_into(block, dst)
            }
            .map_err(|e| block_error(e, out.len()))?
        };
        pos += n;
    }
    if let Some(size) = content_size {
        if size != (pos - start) as u64 {
            return Err(lz4_err(format!(
                "frame declares {size} bytes, decoded {}",
                pos - start
            )));
        }
    }
    Ok(pos)
}

/// A legacy frame: independent blocks of at most 8 MiB output each, up to the end of input or the
/// next frame magic.
fn decode_legacy_frame(
    inp: &mut Input,
    out: &mut [u8],
    start: usize,
) -> Result<usize, XetFormatError> {
    let mut pos = start;
    while inp.remaining() > 0 {
        let peek = u32::from_le_bytes(
            inp.bytes[inp.pos..]
                .get(..4)
                .ok_or_else(|| lz4_err("truncated block size"))?
                .try_into()
                .unwrap(),
        );
        if peek == MAGIC || peek == LEGACY_MAGIC || SKIPPABLE_MAGIC.contains(&peek) {
            break;
        }
        let len = inp.u32("block size")? as usize;
        let block = inp.take(len, "block")?;
        let room = (out.len() - pos).min(LEGACY_BLOCK);
        pos += decompress_into(block, &mut out[pos..pos + room])
            .map_err(|e| block_error(e, out.len()))?;
    }
    Ok(pos)
}

fn too_long(limit: usize) -> XetFormatError {
    lz4_err(format!("decompressed data exceeds {limit} bytes"))
}

fn block_error(e: lz4_flex::block::DecompressError, limit: usize) -> XetFormatError {
    match e {
        lz4_flex::block::DecompressError::OutputTooSmall { .. } => too_long(limit),
        e => lz4_err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| ((i / 7) % 251) as u8 ^ (i % 3) as u8)
            .collect()
    }

    fn flex_frame(data: &[u8], info: lz4_flex::frame::FrameInfo) -> Vec<u8> {
        let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn decodes_every_frame_flavour() {
        use lz4_flex::frame::{BlockMode, BlockSize, FrameInfo};
        let data = sample(300_000);
        for mode in [BlockMode::Independent, BlockMode::Linked] {
            for checks in [false, true] {
                let info = FrameInfo::new()
                    .block_size(BlockSize::Max64KB)
                    .block_mode(mode)
                    .block_checksums(checks)
                    .content_checksum(checks)
                    .content_size(checks.then_some(data.len() as u64));
                let frame = flex_frame(&data, info);
                let mut out = vec![0; data.len()];
                decode_frames_into(&frame, &mut out).unwrap();
                assert_eq!(out, data, "{mode:?} {checks}");
            }
        }
        // Two frames back to back decode to the concatenation.
        let mut two = Vec::new();
        encode_frame(&data[..1000], &mut two);
        encode_frame(&data[1000..5000], &mut two);
        let mut out = vec![0; 5000];
        decode_frames_into(&two, &mut out).unwrap();
        assert_eq!(out, data[..5000]);
    }

    #[test]
    fn wrong_lengths_and_corruption_are_errors() {
        let data = sample(100_000);
        let mut frame = Vec::new();
        encode_frame(&data, &mut frame);
        // Bomb: more output than the record declares.
        let mut small = vec![0; 1000];
        assert!(decode_frames_into(&frame, &mut small).is_err());
        let mut big = vec![0; data.len() + 1];
        assert!(matches!(
            decode_frames_into(&frame, &mut big),
            Err(XetFormatError::LengthMismatch { .. })
        ));
        for cut in [3, 4, 6, 7, 11, frame.len() / 2] {
            let mut out = vec![0; data.len()];
            assert!(
                decode_frames_into(&frame[..cut], &mut out).is_err(),
                "cut {cut}"
            );
        }
        let mut bad = frame.clone();
        bad[5] ^= 1; // header checksum no longer matches
        let mut out = vec![0; data.len()];
        assert!(decode_frames_into(&bad, &mut out).is_err());
        let mut trailing = frame.clone();
        trailing.extend_from_slice(&[1, 2, 3]);
        assert!(decode_frames_into(&trailing, &mut out).is_err());
    }
}
