//! Reading a byte range of a Xet file: walk the chunk map; take each needed chunk from the memory
//! cache, the disk cache, a fetch under way, or a new fetch; check it; copy it out.

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::chunk_map::Extent;
use super::engine::Core;
use super::fetch::FetchError;
use super::plan::{ensure_planned, plan_window};
use super::stats::EngineStats;
use super::url_book::Descriptor;
use super::verify::proves_file;
use super::xet_file::XetFileState;
use super::{FileDesc, ReadError};
use crate::cache::disk::DiskCache;
use crate::cache::{CachedChunk, ChunkKey};
use crate::remote::RemoteError;
use crate::xet::chunk::decode_record;
use crate::xet::MerkleHash;

/// An extent with unknown chunk lengths this much larger than the read is not fetched whole for
/// it: the read gets a narrow reconstruction of its own (no whole-xorb fetch for a small read).
const WIDE_EXTENT: u64 = 16 << 20;
/// A signed range this much larger than the chunks needed from it is re-planned narrowly.
const WIDE_FETCH: u64 = 16 << 20;

/// Why one attempt at a read failed, and whether another attempt can help.
enum Failure {
    /// A signed URL expired or a produced chunk was evicted: re-plan / re-fetch.
    Again(Option<(MerkleHash, String)>),
    /// A check failed on chunks the reader holds: purge them and read once more from the network.
    Integrity {
        msg: String,
        purge: Vec<ChunkKey>,
    },
    Read(ReadError),
}

impl From<ReadError> for Failure {
    fn from(e: ReadError) -> Self {
        Failure::Read(e)
    }
}

impl From<FetchError> for Failure {
    fn from(e: FetchError) -> Self {
        match e {
            FetchError::Expired { xorb, url } => Failure::Again(Some((xorb, url))),
            FetchError::Evicted => Failure::Again(None),
            FetchError::Integrity(msg) => Failure::Read(ReadError::Integrity(msg)),
            FetchError::Remote(r) => Failure::Read(ReadError::Remote(r)),
            FetchError::Deadline => Failure::Read(ReadError::Remote(RemoteError::Timeout(
                "xorb range fetch".into(),
            ))),
        }
    }
}

fn protocol(msg: String) -> Failure {
    Failure::Read(ReadError::Remote(RemoteError::Protocol(msg)))
}

/// Bytes `[start, end)` of a Xet file (`end` ≤ size, `start` < `end`).
pub async fn read(
    core: &Arc<Core>,
    file: &Arc<FileDesc>,
    st: &Arc<XetFileState>,
    start: u64,
    end: u64,
) -> Result<Bytes, ReadError> {
    let mut retried_integrity = false;
    let mut again = 0;
    loop {
        match read_once(core, file, st, start, end).await {
            Ok(bytes) => {
                check_whole_file(core, file, st).await?;
                return Ok(bytes);
            }
            Err(Failure::Again(expired)) if again < 3 => {
                again += 1;
                if let Some((xorb, url)) = expired {
                    core.url_book.forget_url(&xorb, &url);
                }
            }
            Err(Failure::Again(_)) => {
                return Err(ReadError::Remote(RemoteError::Transient(
                    "signed URLs kept expiring or chunks kept being evicted".into(),
                )))
            }
            Err(Failure::Integrity { msg, purge }) => {
                EngineStats::inc(&core.stats.integrity_failures);
                purge_chunks(core, purge).await;
                if retried_integrity {
                    tracing::error!(path = %file.path, "{msg}; giving up");
                    return Err(ReadError::Integrity(msg));
                }
                tracing::warn!(path = %file.path, "{msg}; purged, reading again from the network");
                retried_integrity = true;
            }
            Err(Failure::Read(e)) => return Err(e),
        }
    }
}

async fn read_once(
    core: &Arc<Core>,
    file: &Arc<FileDesc>,
    st: &Arc<XetFileState>,
    start: u64,
    end: u64,
) -> Result<Bytes, Failure> {
    ensure_planned(core, file, st, start..end).await?;
    let mut out = BytesMut::with_capacity((end - start) as usize);
    let mut pos = start;
    let mut narrowed = false;
    while pos < end {
        let extent = st
            .map
            .read()
            .extent_at(pos)
            .cloned()
            .ok_or_else(|| protocol(format!("no chunk holds byte {pos} of {}", file.path)))?;
        let seg_end = end.min(extent.end());
        if extent.chunk_lens.is_some() {
            copy_known(core, file, st, &extent, pos, seg_end, &mut out).await?;
        } else if !narrowed && extent.len > WIDE_EXTENT.max(4 * (seg_end - pos)) {
            narrowed = true;
            plan_window(core, file, st, pos..seg_end).await?;
            continue;
        } else {
            copy_learning(core, file, st, &extent, pos, seg_end, &mut out).await?;
        }
        pos = seg_end;
    }
    Ok(out.freeze())
}

/// Copies `[pos, seg_end)` from an extent whose chunk layout is known: only the chunks needed.
async fn copy_known(
    core: &Arc<Core>,
    file: &Arc<FileDesc>,
    st: &Arc<XetFileState>,
    extent: &Extent,
    pos: u64,
    seg_end: u64,
    out: &mut BytesMut,
) -> Result<(), Failure> {
    let placed: Vec<(u32, u64, u32)> = extent
        .chunks_with_offsets()
        .expect("lengths are known")
        .filter(|&(_, off, len)| off + u64::from(len) > pos && off < seg_end)
        .collect();
    let (Some(first), Some(last)) = (placed.first(), placed.last()) else {
        return Err(protocol(format!(
            "extent of {} has no chunk at {pos}",
            file.path
        )));
    };
    let replan = first.1..last.1 + u64::from(last.2);
    let keys: Vec<ChunkKey> = placed.iter().map(|p| extent.key(p.0)).collect();
    let chunks = get_chunks(core, file, st, &keys, replan).await?;
    for ((index, off, len), chunk) in placed.iter().zip(&chunks) {
        if chunk.data.len() != *len as usize {
            return Err(Failure::Integrity {
                msg: format!(
                    "chunk {index} of xorb {} has {} bytes, the file layout says {len}",
                    extent.xorb,
                    chunk.data.len()
                ),
                purge: vec![extent.key(*index)],
            });
        }
        copy_overlap(out, &chunk.data, *off, pos, seg_end);
    }
    Ok(())
}

/// Copies from an extent whose chunk lengths are not known yet: gets all its chunks, checks they
/// add up to the term's length, and records the layout.
async fn copy_learning(
    core: &Arc<Core>,
    file: &Arc<FileDesc>,
    st: &Arc<XetFileState>,
    extent: &Extent,
    pos: u64,
    seg_end: u64,
    out: &mut BytesMut,
) -> Result<(), Failure> {
    let keys: Vec<ChunkKey> = (extent.chunks.start..extent.chunks.end)
        .map(|i| extent.key(i))
        .collect();
    let chunks = get_chunks(core, file, st, &keys, extent.start..extent.end()).await?;
    let lens: Vec<u32> = chunks.iter().map(|c| c.data.len() as u32).collect();
    let hashes: Vec<MerkleHash> = chunks.iter().map(|c| c.hash).collect();
    let learned = st.map.write().set_lens(
        extent.start,
        &extent.xorb,
        extent.chunks,
        lens.into(),
        Some(hashes.into()),
    );
    if let Err(e) = learned {
        return Err(Failure::Integrity {
            msg: format!("{}: {e}", file.path),
            purge: keys,
        });
    }
    st.changed();
    let mut off = extent.start;
    for chunk in &chunks {
        copy_overlap(out, &chunk.data, off, pos, seg_end);
        off += chunk.data.len() as u64;
    }
    Ok(())
}

/// Appends the part of `data` (at file offset `off`) that falls in `[pos, end)`.
fn copy_overlap(out: &mut BytesMut, data: &[u8], off: u64, pos: u64, end: u64) {
    let from = pos.max(off);
    let to = end.min(off + data.len() as u64);
    if from < to {
        out.extend_from_slice(&data[(from - off) as usize..(to - off) as usize]);
    }
}

/// Gets chunks from the memory cache, the disk cache, fetches under way, or new fetches.
/// `replan` is the file range holding them, re-planned when no signed URL covers them.
async fn get_chunks(
    core: &Arc<Core>,
    file: &Arc<FileDesc>,
    st: &Arc<XetFileState>,
    keys: &[ChunkKey],
    replan: Range<u64>,
) -> Result<Vec<CachedChunk>, Failure> {
    let mut got: Vec<Option<CachedChunk>> = keys.iter().map(|k| core.mem.get(k)).collect();
    EngineStats::add(
        &core.stats.mem_hits,
        got.iter().filter(|c| c.is_some()).count() as u64,
    );
    if let Some(disk) = &core.disk {
        let wanted: Vec<(usize, ChunkKey)> = missing(&got)
            .filter(|&i| disk.contains(&keys[i]))
            .map(|i| (i, keys[i]))
            .collect();
        if !wanted.is_empty() {
            for (i, chunk) in read_from_disk(core, disk.clone(), wanted).await {
                got[i] = Some(chunk);
            }
        }
    }
    let mut waits = Vec::new();
    let mut need = Vec::new();
    for i in missing(&got).collect::<Vec<_>>() {
        match core.fetcher.join(&keys[i]) {
            Some(rx) => {
                EngineStats::inc(&core.stats.inflight_joins);
                waits.push((i, rx));
            }
            None => need.push(i),
        }
    }
    if !need.is_empty() {
        for (descriptor, idxs) in descriptors_for(core, file, st, keys, &need, replan).await? {
            let want: Vec<u32> = idxs.iter().map(|&i| keys[i].index).collect();
            let rxs = core.fetcher.fetch(&file.scope, descriptor, &want);
            waits.extend(idxs.into_iter().zip(rxs));
        }
    }
    for (i, rx) in waits {
        let chunk = rx.await.map_err(|_| {
            Failure::Read(ReadError::Internal("fetch ended without an answer".into()))
        })??;
        got[i] = Some(chunk);
    }
    Ok(got
        .into_iter()
        .map(|c| c.expect("every chunk was resolved above"))
        .collect())
}

fn missing(got: &[Option<CachedChunk>]) -> impl Iterator<Item = usize> + '_ {
    got.iter()
        .enumerate()
        .filter(|(_, c)| c.is_none())
        .map(|(i, _)| i)
}

/// Groups the needed chunks by the signed range to fetch them with, re-planning (once) when a
/// chunk has no live signed range or the only one is far wider than what is needed.
async fn descriptors_for(
    core: &Arc<Core>,
    file: &Arc<FileDesc>,
    st: &Arc<XetFileState>,
    keys: &[ChunkKey],
    need: &[usize],
    replan: Range<u64>,
) -> Result<Vec<(Descriptor, Vec<usize>)>, Failure> {
    let mut replanned = false;
    loop {
        let mut groups: HashMap<(MerkleHash, u64, u64), (Descriptor, Vec<usize>)> = HashMap::new();
        let mut unplanned = false;
        for &i in need {
            match core.url_book.find(&keys[i].xorb, keys[i].index) {
                Some(d) => groups
                    .entry((d.xorb, d.bytes.start, d.bytes.end))
                    .or_insert_with(|| (d, Vec::new()))
                    .1
                    .push(i),
                None => unplanned = true,
            }
        }
        let too_wide = groups.values().any(|(d, idxs)| {
            d.bytes.len()
                > WIDE_FETCH.max(idxs.len() as u64 * 4 * crate::xet::MAX_CHUNK_SIZE as u64)
        });
        if (unplanned || too_wide) && !replanned {
            replanned = true;
            plan_window(core, file, st, replan.clone()).await?;
            continue;
        }
        if unplanned {
            return Err(protocol(format!(
                "no signed URL covers the chunks of {} bytes {replan:?}",
                file.path
            )));
        }
        return Ok(groups.into_values().collect());
    }
}

/// Reads chunks from the disk cache and decodes them; what fails is dropped from disk and left
/// for the network.
async fn read_from_disk(
    core: &Arc<Core>,
    disk: Arc<DiskCache>,
    wanted: Vec<(usize, ChunkKey)>,
) -> Vec<(usize, CachedChunk)> {
    let stats = core.stats.clone();
    let found = tokio::task::spawn_blocking(move || {
        wanted
            .into_iter()
            .filter_map(|(i, key)| {
                let stored = disk.get(&key)?;
                match decode_record(&stored.record) {
                    Ok((_, data, used)) if used == stored.record.len() => Some((
                        i,
                        key,
                        CachedChunk {
                            data: Bytes::from(data),
                            hash: stored.hash,
                            proven: stored.proven,
                        },
                    )),
                    _ => {
                        EngineStats::inc(&stats.integrity_failures);
                        tracing::warn!(xorb = %key.xorb, index = key.index, "undecodable disk cache entry dropped");
                        disk.remove(&key);
                        None
                    }
                }
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    EngineStats::add(&core.stats.disk_hits, found.len() as u64);
    found
        .into_iter()
        .map(|(i, key, chunk)| {
            core.mem.insert(key, chunk.clone());
            (i, chunk)
        })
        .collect()
}

async fn purge_chunks(core: &Arc<Core>, keys: Vec<ChunkKey>) {
    for k in &keys {
        core.mem.remove(k);
    }
    if let Some(w) = &core.disk_writer {
        w.remove(keys).await;
    }
}

/// Once every chunk of the file has been seen, checks the file hash (once per change of the
/// chunk map). A mismatch purges the file's unproven chunks, forgets its layout, tells the front
/// end to drop what it served, and fails the read.
async fn check_whole_file(
    core: &Arc<Core>,
    file: &Arc<FileDesc>,
    st: &Arc<XetFileState>,
) -> Result<(), ReadError> {
    use std::sync::atomic::Ordering;
    if st.verified.load(Ordering::Relaxed) {
        return Ok(());
    }
    let seq = {
        let map = st.map.read();
        if !map.gaps(0..st.size).is_empty() {
            return Ok(());
        }
        if !st.take_check_due() {
            return Ok(());
        }
        match map.chunk_sequence() {
            Some(seq) if seq.iter().all(|c| c.hash.is_some()) => seq,
            _ => return Ok(()),
        }
    };
    let _one_at_a_time = st.check.lock().await;
    if st.verified.load(Ordering::Relaxed) {
        return Ok(());
    }
    let pairs: Vec<(MerkleHash, u64)> = seq
        .iter()
        .map(|c| (c.hash.expect("checked above"), u64::from(c.len)))
        .collect();
    let id = st.hash;
    let ok = tokio::task::spawn_blocking(move || proves_file(&id, &pairs))
        .await
        .unwrap_or(false);
    if ok {
        st.verified.store(true, Ordering::Relaxed);
        st.changed();
        EngineStats::inc(&core.stats.files_verified);
        let mut by_xorb: HashMap<MerkleHash, BTreeSet<u32>> = HashMap::new();
        for c in &seq {
            core.mem.mark_proven(&c.key);
            by_xorb.entry(c.key.xorb).or_default().insert(c.key.index);
        }
        EngineStats::add(&core.stats.chunks_proven, seq.len() as u64);
        if let Some(w) = &core.disk_writer {
            for (xorb, idx) in by_xorb {
                w.mark_proven(xorb, idx.into_iter().collect());
            }
        }
        return Ok(());
    }
    EngineStats::inc(&core.stats.integrity_failures);
    let purge: Vec<ChunkKey> = seq
        .iter()
        .map(|c| c.key)
        .filter(|k| !core.mem.get(k).is_some_and(|c| c.proven))
        .collect();
    purge_chunks(core, purge).await;
    st.map.write().clear();
    st.changed();
    core.invalidate(file);
    let msg = format!(
        "{} does not hash to its Xet file ID {id}: its cached chunks were purged",
        file.path
    );
    tracing::error!("{msg}");
    Err(ReadError::Integrity(msg))
}

/// Background warm-up of a prefetch window: plans it and starts fetches (or disk reads) for the
/// chunks not yet in memory. Nothing waits for the data; it lands in the memory cache.
pub async fn warm(core: Arc<Core>, file: Arc<FileDesc>, st: Arc<XetFileState>, window: Range<u64>) {
    EngineStats::inc(&core.stats.prefetch_windows);
    if let Err(e) = ensure_planned(&core, &file, &st, window.clone()).await {
        tracing::debug!(path = %file.path, error = %e, "prefetch planning failed");
        return;
    }
    let keys: BTreeSet<ChunkKey> = st.map.read().keys_in(window);
    let mut from_disk = Vec::new();
    let mut from_net: HashMap<(MerkleHash, u64, u64), Descriptor> = HashMap::new();
    for key in keys {
        if core.mem.get(&key).is_some() || core.fetcher.is_inflight(&key) {
            continue;
        }
        if core.disk.as_ref().is_some_and(|d| d.contains(&key)) {
            from_disk.push((0, key));
        } else if let Some(d) = core.url_book.find(&key.xorb, key.index) {
            from_net
                .entry((d.xorb, d.bytes.start, d.bytes.end))
                .or_insert(d);
        }
    }
    for d in from_net.into_values() {
        core.fetcher.fetch(&file.scope, d, &[]);
    }
    if let Some(disk) = &core.disk {
        for batch in from_disk.chunks(64) {
            read_from_disk(&core, disk.clone(), batch.to_vec()).await;
        }
    }
}
