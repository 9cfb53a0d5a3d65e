//! Server side of the reconstruction API: given a file's terms and the chunk layout of the xorbs
//! they use, answer a byte range (§4.2–4.4, §6.4). Shared by `xetfs serve` and the mock remote.
// SKELETON: bodies to be written (issue 3).

use std::ops::Range;

use super::hash::MerkleHash;
use super::reconstruction::{ChunkRange, Term};

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
}

/// Plans the reconstruction of file bytes `range` (end exclusive, clamped to the file size):
/// trims leading/trailing chunks, computes `offset_into_first_range`, merges overlapping or
/// adjacent chunk ranges of one xorb into one descriptor.
pub fn plan_range(
    file_terms: &[Term],
    layout: &dyn XorbLayout,
    range: Range<u64>,
) -> Result<PlannedReconstruction, PlanError> {
    let _ = (file_terms, layout, range);
    todo!()
}
