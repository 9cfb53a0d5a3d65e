//! Reading a byte range of a Xet file: walk the chunk map; take each needed chunk from the memory
//! cache, the disk cache, a fetch under way, or a new fetch; check it; copy it out.

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::chunk_map::{ChunkInfo, Extent};
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

/// A signed range this much larger than the bytes still needed is not fetched for them: the read
/// gets a narrow reconstruction of its own (no whole-xorb fetch for a small random read).
const WIDE_FETCH: u64 = 16 << 20;
/// Chunks asked for at once while walking chunks whose lengths are not known yet.
const BATCH: usize = 32;

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
    let mut may_narrow = true;
    while pos < end {
        let extent = st
            .map
            .read()
            .extent_at(pos)
            .cloned()
            .ok_or_else(|| protocol(format!("no chunk holds byte {pos} of {}", file.path)))?;
        let seg_end = end.min(extent.end());
        let reached = copy_segment(
            core,
            file,
            st,
            &extent,
            pos,
            seg_end,
            &mut out,
            &mut may_narrow,
        )
        .await?;
        debug_assert_eq!(out.len() as u64, reached - start);
        pos = reached;
    }
    Ok(out.freeze())
}

/// Copies bytes `[pos, seg_end)` from one extent, walking its chunks front to back from the
/// first one needed (or the first whose length is not known yet). Returns how far `out` got:
/// `seg_end`, or less when a narrower window was planned instead and the caller must look again.
#[allow(clippy::too_many_arguments)]
async fn copy_segment(
    core: &Arc<Core>,
    file: &Arc<FileDesc>,
    st: &Arc<XetFileState>,
    extent: &Extent,
    pos: u64,
    seg_end: u64,
    out: &mut BytesMut,
    may_narrow: &mut bool,
) -> Result<u64, Failure> {
    let (mut index, mut off) = extent.resume_point(pos);
    let first_new = extent.chunks.start + extent.known.len() as u32;
    let mut learned: Vec<ChunkInfo> = Vec::new();
    while off < seg_end {
        if index >= extent.chunks.end {
            return Err(Failure::Integrity {
                msg: format!(
                    "chunks {}..{} of xorb {} end at byte {off} of {}, before the term's end {}",
                    extent.chunks.start,
                    extent.chunks.end,
                    extent.xorb,
                    file.path,
                    extent.end()
                ),
                purge: (first_new..index).map(|i| extent.key(i)).collect(),
            });
        }
        let n = known_count(extent, index, seg_end)
            .unwrap_or(BATCH)
            .min((extent.chunks.end - index) as usize);
        let keys: Vec<ChunkKey> = (index..index + n as u32).map(|i| extent.key(i)).collect();
        let Some(slots) = slots(
            core,
            file,
            st,
            &keys,
            seg_end - off,
            off..seg_end,
            may_narrow,
        )
        .await?
        else {
            learn(st, file, extent, first_new, &learned)?;
            return Ok(off.max(pos));
        };
        // Once the file is proven, every chunk hash in its map is too: a chunk fetched again
        // (evicted meanwhile) must match it.
        let proven_map = st.verified.load(Ordering::Relaxed);
        for (key, slot) in keys.iter().zip(slots) {
            let chunk = slot.take().await?;
            let len = chunk.data.len() as u64;
            match extent.info(key.index) {
                Some(info) if u64::from(info.len) != len => {
                    return Err(Failure::Integrity {
                        msg: format!(
                            "chunk {} of xorb {} has {len} bytes, {} were learned before",
                            key.index, key.xorb, info.len
                        ),
                        purge: vec![*key],
                    })
                }
                Some(info) if proven_map && info.hash != chunk.hash => {
                    return Err(Failure::Integrity {
                        msg: format!(
                            "chunk {} of xorb {} hashes to {}, the proven file has {}",
                            key.index, key.xorb, chunk.hash, info.hash
                        ),
                        purge: vec![*key],
                    })
                }
                Some(_) => {}
                None => learned.push(ChunkInfo {
                    len: len as u32,
                    hash: chunk.hash,
                }),
            }
            copy_overlap(out, &chunk.data, off, pos, seg_end);
            off += len;
            index += 1;
            if off > extent.end() {
                return Err(Failure::Integrity {
                    msg: format!(
                        "chunks of xorb {} run past the end of their term in {}",
                        extent.xorb, file.path
                    ),
                    purge: (first_new..index).map(|i| extent.key(i)).collect(),
                });
            }
            if off >= seg_end {
                break;
            }
        }
    }
    learn(st, file, extent, first_new, &learned)?;
    Ok(seg_end)
}

/// How many chunks from `index` on are needed to reach `seg_end`, when all of them are known.
fn known_count(extent: &Extent, index: u32, seg_end: u64) -> Option<usize> {
    let mut n = 0;
    for (i, off, info) in extent.known_chunks() {
        if i < index {
            continue;
        }
        n += 1;
        if off + u64::from(info.len) >= seg_end {
            return Some(n);
        }
    }
    None
}

/// Records chunks learned from `first` on; a contradiction with the term is an integrity error.
fn learn(
    st: &Arc<XetFileState>,
    file: &Arc<FileDesc>,
    extent: &Extent,
    first: u32,
    learned: &[ChunkInfo],
) -> Result<(), Failure> {
    if learned.is_empty() {
        return Ok(());
    }
    if let Err(e) = st.map.write().learn(extent, first, learned) {
        return Err(Failure::Integrity {
            msg: format!("{}: {e}", file.path),
            purge: (first..first + learned.len() as u32)
                .map(|i| extent.key(i))
                .collect(),
        });
    }
    st.changed();
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

/// A chunk that is here, or on its way.
enum Slot {
    Ready(CachedChunk),
    Pending(tokio::sync::oneshot::Receiver<Result<CachedChunk, FetchError>>),
}

impl Slot {
    async fn take(self) -> Result<CachedChunk, Failure> {
        match self {
            Slot::Ready(c) => Ok(c),
            Slot::Pending(rx) => Ok(rx.await.map_err(|_| {
                Failure::Read(ReadError::Internal("fetch ended without an answer".into()))
            })??),
        }
    }
}

/// Finds each chunk in the memory cache, the disk cache or a fetch under way, and starts fetches
/// for the rest. When a chunk has no signed range, or only one far wider than the `need` bytes
/// still wanted, it plans the narrower window `replan` instead (once per read) and returns
/// `None`. The answer may be shorter than `keys` when the chunks after some point have no signed
/// range: they were not needed by the window that was planned.
async fn slots(
    core: &Arc<Core>,
    file: &Arc<FileDesc>,
    st: &Arc<XetFileState>,
    keys: &[ChunkKey],
    need: u64,
    replan: Range<u64>,
    may_narrow: &mut bool,
) -> Result<Option<Vec<Slot>>, Failure> {
    let mut slots: Vec<Option<Slot>> = keys
        .iter()
        .map(|k| core.mem.get(k).map(Slot::Ready))
        .collect();
    EngineStats::add(
        &core.stats.mem_hits,
        slots.iter().filter(|s| s.is_some()).count() as u64,
    );
    if let Some(disk) = &core.disk {
        let wanted: Vec<(usize, ChunkKey)> = empty(&slots)
            .filter(|&i| disk.may_contain(&keys[i]))
            .map(|i| (i, keys[i]))
            .collect();
        if !wanted.is_empty() {
            for (i, chunk) in read_from_disk(core, disk.clone(), wanted).await {
                slots[i] = Some(Slot::Ready(chunk));
            }
        }
    }
    let mut need_net = Vec::new();
    for i in empty(&slots).collect::<Vec<_>>() {
        match core.fetcher.join(&keys[i]) {
            Some(rx) => {
                EngineStats::inc(&core.stats.inflight_joins);
                slots[i] = Some(Slot::Pending(rx));
            }
            None => need_net.push(i),
        }
    }
    if !need_net.is_empty() {
        let mut groups: HashMap<(MerkleHash, u64, u64), (Descriptor, Vec<usize>)> = HashMap::new();
        let mut first_unplanned = None;
        for &i in &need_net {
            match core.url_book.find(&keys[i].xorb, keys[i].index) {
                Some(d) => {
                    groups
                        .entry((d.xorb, d.bytes.start, d.bytes.end))
                        .or_insert_with(|| (d, Vec::new()))
                        .1
                        .push(i);
                }
                None => {
                    first_unplanned.get_or_insert(i);
                }
            }
        }
        let too_wide = groups
            .values()
            .any(|(d, _)| d.bytes.len() > WIDE_FETCH.max(4 * need));
        if (first_unplanned.is_some() || too_wide) && *may_narrow {
            *may_narrow = false;
            plan_window(core, file, st, replan).await?;
            return Ok(None);
        }
        for (descriptor, idxs) in groups.into_values() {
            let idxs: Vec<usize> = idxs
                .into_iter()
                .filter(|&i| first_unplanned.is_none_or(|u| i < u))
                .collect();
            let want: Vec<u32> = idxs.iter().map(|&i| keys[i].index).collect();
            let rxs = core.fetcher.fetch(&file.scope, descriptor, &want);
            for (i, rx) in idxs.into_iter().zip(rxs) {
                slots[i] = Some(Slot::Pending(rx));
            }
        }
        if first_unplanned == Some(0) {
            return Err(protocol(format!(
                "no signed URL covers chunk {} of xorb {} for {}",
                keys[0].index, keys[0].xorb, file.path
            )));
        }
    }
    // Everything before the first chunk without a signed range is resolved.
    Ok(Some(slots.into_iter().map_while(|s| s).collect()))
}

fn empty(slots: &[Option<Slot>]) -> impl Iterator<Item = usize> + '_ {
    slots
        .iter()
        .enumerate()
        .filter(|(_, s)| s.is_none())
        .map(|(i, _)| i)
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
        use rayon::prelude::*;
        let keys: Vec<ChunkKey> = wanted.iter().map(|(_, k)| *k).collect();
        let stored = disk.get_many(&keys);
        // Decoding (LZ4) is the CPU cost of a warm read: spread it over the cores.
        let decoded: Vec<_> = wanted
            .into_par_iter()
            .zip(stored.into_par_iter())
            .filter_map(|((i, key), stored)| {
                let stored = stored?;
                match decode_record(&stored.record) {
                    Ok((_, data, used)) if used == stored.record.len() => Some(Ok((
                        i,
                        key,
                        CachedChunk {
                            data: Bytes::from(data),
                            hash: stored.hash,
                            proven: stored.proven,
                        },
                    ))),
                    _ => Some(Err(key)),
                }
            })
            .collect();
        let mut found = Vec::with_capacity(decoded.len());
        for d in decoded {
            match d {
                Ok(hit) => found.push(hit),
                Err(key) => {
                    EngineStats::inc(&stats.integrity_failures);
                    tracing::warn!(xorb = %key.xorb, index = key.index, "undecodable disk cache entry dropped");
                    disk.remove(&key);
                }
            }
        }
        found
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
            Some(seq) => seq,
            None => return Ok(()),
        }
    };
    let _one_at_a_time = st.check.lock().await;
    if st.verified.load(Ordering::Relaxed) {
        return Ok(());
    }
    let pairs: Vec<(MerkleHash, u64)> = seq
        .iter()
        .map(|c| (c.info.hash, u64::from(c.info.len)))
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
        if core.disk.as_ref().is_some_and(|d| d.may_contain(&key)) {
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
