//! Reading Xet files back out of the store: decode the records of the planned terms and hand
//! out exactly the requested bytes. Used by the bridge and by shard verification (SHA-256).

use std::io;
use std::os::unix::fs::FileExt;

use bytes::Bytes;

use super::store::{FileRecord, Layouts, Store};
use crate::xet::plan::{plan_range, PlanError};
use crate::xet::reconstruction::Term;

/// Decodes file bytes `range` from the stored xorbs, handing them to `emit` in pieces until it
/// returns `false`. Exactly `range` bytes are emitted, or an error is returned.
pub fn decode_file_range(
    store: &Store,
    record: &FileRecord,
    range: std::ops::Range<u64>,
    emit: &mut dyn FnMut(Bytes) -> bool,
) -> io::Result<()> {
    let invalid = |e: String| io::Error::new(io::ErrorKind::InvalidData, e);
    let layouts: Layouts = store
        .layouts_for(&record.terms)?
        .map_err(|x| invalid(format!("xorb {x} is missing")))?;
    let plan = plan_range(&record.terms, &layouts, range.clone()).map_err(|e| match e {
        PlanError::RangeNotSatisfiable => invalid("range not satisfiable".into()),
        e => invalid(e.to_string()),
    })?;
    let mut skip = plan.offset_into_first_range;
    let mut left = range.end.min(record.size) - range.start;
    for term in &plan.terms {
        let data = read_term(store, &layouts, term)?;
        let from = (skip as usize).min(data.len());
        skip -= from as u64;
        let take = ((data.len() - from) as u64).min(left) as usize;
        left -= take as u64;
        if take > 0 && !emit(Bytes::copy_from_slice(&data[from..from + take])) {
            return Ok(());
        }
        if left == 0 {
            break;
        }
    }
    if left != 0 {
        return Err(invalid(format!(
            "{left} bytes short of the requested range"
        )));
    }
    Ok(())
}

/// The decoded bytes of one term, checked against its declared length.
fn read_term(store: &Store, layouts: &Layouts, term: &Term) -> io::Result<Vec<u8>> {
    let invalid = |e: String| io::Error::new(io::ErrorKind::InvalidData, e);
    let index = &layouts.0[&term.hash];
    let (start, end) = index
        .record_range(term.range)
        .ok_or_else(|| invalid(format!("term outside xorb {}", term.hash)))?;
    let file = std::fs::File::open(store.xorb_path(&term.hash))?;
    let mut records = vec![0u8; (end - start) as usize];
    file.read_exact_at(&mut records, start)?;
    let mut out = Vec::with_capacity(term.unpacked_length as usize);
    let mut at = 0;
    while at < records.len() {
        let (_, raw, used) =
            crate::xet::chunk::decode_record(&records[at..]).map_err(|e| invalid(e.to_string()))?;
        out.extend_from_slice(&raw);
        at += used;
    }
    if out.len() != term.unpacked_length as usize {
        return Err(invalid(format!(
            "term of xorb {} decoded to {} bytes, expected {}",
            term.hash,
            out.len(),
            term.unpacked_length
        )));
    }
    Ok(out)
}
