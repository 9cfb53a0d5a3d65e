//! Asking the CAS which chunks hold a byte window, and recording the answer.
//!
//! The window is chosen by the caller: the read itself for random access (the server trims terms
//! to the chunks overlapping it, so a small read costs about one chunk of slack at each end), or
//! the prefetch window for sequential readers. Concurrent readers of the same bytes share one
//! call; the call runs in its own task so a reader that gives up does not cancel it for others.

use std::ops::Range;
use std::sync::Arc;

use futures::FutureExt;

use super::chunk_map::Extent;
use super::engine::Core;
use super::stats::EngineStats;
use super::xet_file::XetFileState;
use super::{FileDesc, ReadError};
use crate::remote::RemoteError;

/// Makes sure every byte of `range` is covered by a chunk-map extent.
pub async fn ensure_planned(
    core: &Arc<Core>,
    file: &Arc<FileDesc>,
    st: &Arc<XetFileState>,
    range: Range<u64>,
) -> Result<(), ReadError> {
    for _ in 0..2 {
        let gaps = st.map.read().gaps(range.clone());
        if gaps.is_empty() {
            return Ok(());
        }
        let waits: Vec<_> = gaps
            .into_iter()
            .map(|gap| join_or_start(core, file, st, gap))
            .collect();
        for w in futures::future::join_all(waits).await {
            w?;
        }
    }
    if st.map.read().gaps(range.clone()).is_empty() {
        Ok(())
    } else {
        Err(ReadError::Remote(RemoteError::Protocol(format!(
            "reconstruction of {} did not cover bytes {range:?}",
            st.hash
        ))))
    }
}

fn join_or_start(
    core: &Arc<Core>,
    file: &Arc<FileDesc>,
    st: &Arc<XetFileState>,
    gap: Range<u64>,
) -> super::xet_file::PlanFuture {
    let mut planning = st.planning.lock();
    if let Some((_, f)) = planning
        .iter()
        .find(|(r, _)| r.start <= gap.start && gap.end <= r.end)
    {
        return f.clone();
    }
    let (core2, file2, st2, gap2) = (core.clone(), file.clone(), st.clone(), gap.clone());
    let task = tokio::spawn(async move {
        let result = plan_window(&core2, &file2, &st2, gap2.clone()).await;
        st2.planning.lock().retain(|(r, _)| *r != gap2);
        result
    });
    let shared = async move {
        task.await
            .unwrap_or_else(|e| Err(ReadError::Internal(format!("planner task failed: {e}"))))
    }
    .boxed()
    .shared();
    planning.push((gap, shared.clone()));
    shared
}

/// One reconstruction call for `range`; its terms become extents, its URLs go to the URL book.
pub async fn plan_window(
    core: &Arc<Core>,
    file: &Arc<FileDesc>,
    st: &Arc<XetFileState>,
    range: Range<u64>,
) -> Result<(), ReadError> {
    let range = range.start..range.end.min(st.size);
    if range.is_empty() {
        return Ok(());
    }
    if core.cfg.offline {
        return Err(ReadError::NotCached(format!(
            "{} bytes {range:?} are not in the cache",
            file.path
        )));
    }
    EngineStats::inc(&core.stats.reconstructions);
    let answer = core
        .remote
        .reconstruction(&file.scope, &st.hash, range.clone())
        .await
        .map_err(|e| match e {
            RemoteError::RangeNotSatisfiable => ReadError::Remote(RemoteError::Protocol(format!(
                "server says bytes {range:?} are past the end of {} ({} bytes)",
                file.path, st.size
            ))),
            other => ReadError::Remote(other),
        })?;
    let protocol = |msg: String| ReadError::Remote(RemoteError::Protocol(msg));
    let mut pos = range
        .start
        .checked_sub(answer.offset_into_first_range)
        .ok_or_else(|| protocol("offset_into_first_range is past the window start".into()))?;
    {
        let mut map = st.map.write();
        for term in &answer.terms {
            let extent = Extent::new(pos, u64::from(term.unpacked_length), term.hash, term.range);
            pos += extent.len;
            map.insert(extent)
                .map_err(|e| protocol(format!("reconstruction of {}: {e}", st.hash)))?;
        }
    }
    if pos < range.end {
        return Err(protocol(format!(
            "reconstruction of {} for {range:?} ends at {pos}",
            st.hash
        )));
    }
    core.url_book.record(&answer);
    st.changed();
    Ok(())
}
