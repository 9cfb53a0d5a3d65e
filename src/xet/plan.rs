//! Server side of the reconstruction API: given a file's terms and the chunk layout of the xorbs
//! they use, answer a byte range (§4.2–4.4, §6.4). Shared by `xetfs serve` and the mock remote.

use std::ops::Range;

use super::hash::MerkleHash;
use super::reconstruction::{ByteRange, ChunkRange, Term};

/// Per-xorb chunk layout the planner needs: record end offsets and raw lengths.
pub trait XorbLayout {
    /// Exclusive end offset of record `index` in the record area, and its raw length.
    fn chunk(&self, xorb: &MerkleHash, index: u32) -> Option<(u64, u32)>;
}

/// A planned answer before URLs are attached: trimmed terms plus, per xorb, merged
/// `(chunk range, inclusive byte range)` descriptors sorted by chunk start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedReconstruction {
    pub offset_into_first_range: u64,
    pub terms: Vec<Term>,
    pub xorb_ranges: Vec<(
        MerkleHash,
        Vec<(ChunkRange, super::reconstruction::ByteRange)>,
    )>,
}

/// Why a range cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("range starts at or past the end of the file")]
    RangeNotSatisfiable,
    #[error("xorb {0} chunk {1} is unknown")]
    MissingChunk(MerkleHash, u32),
    /// The terms and the layout disagree (raw lengths do not add up, or record offsets do not
    /// grow): the stored metadata is corrupt, so no answer can be trusted.
    #[error("xorb {0} chunk {1} disagrees with the file's terms")]
    InconsistentLayout(MerkleHash, u32),
}

/// Plans the reconstruction of file bytes `range` (end exclusive, clamped to the file size):
/// trims leading/trailing chunks, computes `offset_into_first_range`, merges overlapping or
/// adjacent chunk ranges of one xorb into one descriptor.
///
/// Like the reference CAS, an empty file answers any range with an empty plan; otherwise a range
/// starting at or past EOF (or an empty one) is [`PlanError::RangeNotSatisfiable`].
pub fn plan_range(
    file_terms: &[Term],
    layout: &dyn XorbLayout,
    range: Range<u64>,
) -> Result<PlannedReconstruction, PlanError> {
    let size: u64 = file_terms
        .iter()
        .map(|t| u64::from(t.unpacked_length))
        .sum();
    if size == 0 {
        return Ok(PlannedReconstruction {
            offset_into_first_range: 0,
            terms: Vec::new(),
            xorb_ranges: Vec::new(),
        });
    }
    let (start, end) = (range.start, range.end.min(size));
    if start >= end {
        return Err(PlanError::RangeNotSatisfiable);
    }

    let mut terms = Vec::new();
    let mut offset_into_first_range = 0;
    let mut term_start = 0u64;
    for term in file_terms {
        let term_end = term_start + u64::from(term.unpacked_length);
        if term_end > start && term_start < end {
            if term.range.is_empty() {
                return Err(PlanError::InconsistentLayout(term.hash, term.range.start));
            }
            let kept = if term_start >= start && term_end <= end {
                KeptTerm {
                    term: term.clone(),
                    file_offset: term_start,
                }
            } else {
                trim_term(term, term_start, start..end, layout)?
            };
            if terms.is_empty() {
                offset_into_first_range = start - kept.file_offset;
            }
            terms.push(kept.term);
        }
        term_start = term_end;
        if term_start >= end {
            break;
        }
    }

    let xorb_ranges = merged_descriptors(&terms, layout)?;
    Ok(PlannedReconstruction {
        offset_into_first_range,
        terms,
        xorb_ranges,
    })
}

/// A term cut down to the chunks overlapping the request, and the file offset of its first byte.
struct KeptTerm {
    term: Term,
    file_offset: u64,
}

/// Keeps only the chunks of `term` (starting at file offset `term_start`) that overlap `want`.
fn trim_term(
    term: &Term,
    term_start: u64,
    want: Range<u64>,
    layout: &dyn XorbLayout,
) -> Result<KeptTerm, PlanError> {
    let mut offset = term_start;
    let mut first: Option<(u32, u64)> = None;
    let (mut last, mut kept_len) = (term.range.start, 0u64);
    for index in term.range.start..term.range.end {
        let (_, raw_len) = layout
            .chunk(&term.hash, index)
            .ok_or(PlanError::MissingChunk(term.hash, index))?;
        let chunk_end = offset + u64::from(raw_len);
        if chunk_end > want.start && offset < want.end {
            first.get_or_insert((index, offset));
            last = index;
            kept_len += u64::from(raw_len);
        }
        offset = chunk_end;
    }
    // Raw lengths must add up to the term's length, or every offset computed above is wrong.
    if offset - term_start != u64::from(term.unpacked_length) {
        return Err(PlanError::InconsistentLayout(term.hash, term.range.end - 1));
    }
    let (first_index, file_offset) =
        first.ok_or(PlanError::InconsistentLayout(term.hash, term.range.start))?;
    Ok(KeptTerm {
        term: Term {
            hash: term.hash,
            unpacked_length: kept_len as u32,
            range: ChunkRange::new(first_index, last + 1),
        },
        file_offset,
    })
}

/// Merged `(chunk range, inclusive byte range)` pairs of one xorb.
type Descriptors = Vec<(ChunkRange, ByteRange)>;

/// Per xorb (in order of first use), the union of the terms' chunk ranges, merged when they
/// overlap or touch, with the inclusive byte range of their records.
fn merged_descriptors(
    terms: &[Term],
    layout: &dyn XorbLayout,
) -> Result<Vec<(MerkleHash, Descriptors)>, PlanError> {
    let mut per_xorb: Vec<(MerkleHash, Vec<ChunkRange>)> = Vec::new();
    for t in terms {
        match per_xorb.iter_mut().find(|(h, _)| *h == t.hash) {
            Some((_, ranges)) => ranges.push(t.range),
            None => per_xorb.push((t.hash, vec![t.range])),
        }
    }
    per_xorb
        .into_iter()
        .map(|(hash, mut ranges)| {
            ranges.sort_by_key(|r| (r.start, r.end));
            let mut merged: Vec<ChunkRange> = Vec::with_capacity(ranges.len());
            for r in ranges {
                match merged.last_mut() {
                    Some(m) if r.start <= m.end => m.end = m.end.max(r.end),
                    _ => merged.push(r),
                }
            }
            let descriptors = merged
                .into_iter()
                .map(|chunks| Ok((chunks, record_bytes(&hash, chunks, layout)?)))
                .collect::<Result<Vec<_>, PlanError>>()?;
            Ok((hash, descriptors))
        })
        .collect()
}

/// Inclusive byte range of the records of `chunks` (non-empty) in the xorb's record area.
fn record_bytes(
    xorb: &MerkleHash,
    chunks: ChunkRange,
    layout: &dyn XorbLayout,
) -> Result<ByteRange, PlanError> {
    let end_of = |index: u32| {
        layout
            .chunk(xorb, index)
            .map(|(end, _)| end)
            .ok_or(PlanError::MissingChunk(*xorb, index))
    };
    let start = if chunks.start == 0 {
        0
    } else {
        end_of(chunks.start - 1)?
    };
    let end = end_of(chunks.end - 1)?;
    // Every record has an 8-byte header, so the records of a non-empty range are never empty.
    if end <= start {
        return Err(PlanError::InconsistentLayout(*xorb, chunks.end - 1));
    }
    Ok(ByteRange {
        start,
        end: end - 1,
    })
}

#[cfg(test)]
mod tests;
