//! Fetching signed xorb ranges: single-flight, streamed, decoded and checked chunk by chunk.
//!
//! One network fetch per descriptor (xorb + byte range, exactly as signed) no matter how many
//! readers want its chunks. The body is split into records as it arrives; each batch of records
//! is decoded and hashed on the blocking pool, checked, put in the memory cache, queued for the
//! disk cache, and handed to the readers waiting for those chunks — a reader waiting for the
//! first chunk of a 64 MiB range does not wait for the whole range.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use parking_lot::Mutex;
use tokio::sync::{oneshot, Semaphore};

use super::disk_writer::DiskWriter;
use super::stats::{Busy, EngineStats};
use super::url_book::Descriptor;
use super::verify::{proves_whole_xorb, ChunkList, XorbProofs};
use crate::cache::disk::DiskChunk;
use crate::cache::memory::MemoryCache;
use crate::cache::{CachedChunk, ChunkKey};
use crate::hub::RepoScope;
use crate::remote::{Remote, RemoteError};
use crate::xet::chunk::decode_record;
use crate::xet::xorb::{RawRecord, RecordSplitter};
use crate::xet::MerkleHash;

/// Why a fetch failed, as told to every waiter.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    /// The signed URL expired: the caller re-plans and tries again.
    #[error("signed URL expired")]
    Expired { xorb: MerkleHash, url: String },
    #[error(transparent)]
    Remote(RemoteError),
    #[error("integrity: {0}")]
    Integrity(String),
    #[error("fetch did not finish within its deadline")]
    Deadline,
    /// The chunk was produced but evicted before this waiter could take it: ask again.
    #[error("chunk evicted before it could be read")]
    Evicted,
}

type ChunkResult = Result<CachedChunk, FetchError>;

#[derive(Debug, Clone, Copy)]
pub struct FetchConfig {
    /// Attempts per descriptor for transient failures and failed checks.
    pub max_attempts: u32,
    /// Whole-fetch deadline (all attempts), so a stalled transfer cannot hold waiters forever.
    pub deadline: Duration,
    /// Bound on bytes of descriptors being fetched at once.
    pub max_bytes_in_flight: u64,
    pub retry_backoff: Duration,
}

/// One descriptor being fetched.
struct Inflight {
    descriptor: Descriptor,
    scope: RepoScope,
    state: Mutex<InflightState>,
}

#[derive(Default)]
struct InflightState {
    /// Chunks below this index were already produced (and put in the memory cache).
    next: u32,
    waiters: HashMap<u32, Vec<oneshot::Sender<ChunkResult>>>,
    done: bool,
}

impl Inflight {
    /// Registers a waiter for chunk `index`, unless it was already produced or the fetch ended.
    fn wait_for(&self, index: u32) -> Option<oneshot::Receiver<ChunkResult>> {
        let mut st = self.state.lock();
        if st.done || index < st.next || !self.covers(index) {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        st.waiters.entry(index).or_default().push(tx);
        Some(rx)
    }

    fn covers(&self, index: u32) -> bool {
        self.descriptor.chunks.start <= index && index < self.descriptor.chunks.end
    }

    fn deliver(&self, index: u32, chunk: &CachedChunk) {
        let waiters = {
            let mut st = self.state.lock();
            st.next = st.next.max(index + 1);
            st.waiters.remove(&index)
        };
        for w in waiters.into_iter().flatten() {
            let _ = w.send(Ok(chunk.clone()));
        }
    }

    fn finish(&self, error: Option<FetchError>) {
        let waiters = {
            let mut st = self.state.lock();
            st.done = true;
            std::mem::take(&mut st.waiters)
        };
        let err = error.unwrap_or_else(|| {
            FetchError::Integrity("range ended without producing the chunk".into())
        });
        for w in waiters.into_values().flatten() {
            let _ = w.send(Err(err.clone()));
        }
    }
}

/// Single-flight fetcher shared by all reads.
pub struct Fetcher {
    remote: Arc<dyn Remote>,
    mem: Arc<MemoryCache>,
    disk: Option<DiskWriter>,
    proofs: Arc<XorbProofs>,
    stats: Arc<EngineStats>,
    cfg: FetchConfig,
    inflight: Mutex<HashMap<MerkleHash, Vec<Arc<Inflight>>>>,
    /// Permits are KiB of descriptor bytes.
    budget: Arc<Semaphore>,
}

impl Fetcher {
    pub fn new(
        remote: Arc<dyn Remote>,
        mem: Arc<MemoryCache>,
        disk: Option<DiskWriter>,
        proofs: Arc<XorbProofs>,
        stats: Arc<EngineStats>,
        cfg: FetchConfig,
    ) -> Arc<Self> {
        let permits = (cfg.max_bytes_in_flight / 1024).clamp(1, Semaphore::MAX_PERMITS as u64);
        Arc::new(Fetcher {
            remote,
            mem,
            disk,
            proofs,
            stats,
            cfg,
            inflight: Mutex::new(HashMap::new()),
            budget: Arc::new(Semaphore::new(permits as usize)),
        })
    }

    /// Whether a fetch under way will still produce chunk `key`.
    pub fn is_inflight(&self, key: &ChunkKey) -> bool {
        let map = self.inflight.lock();
        map.get(&key.xorb).is_some_and(|list| {
            list.iter().any(|f| {
                let st = f.state.lock();
                !st.done && f.covers(key.index) && key.index >= st.next
            })
        })
    }

    /// Joins a fetch under way that will still produce chunk `key`.
    pub fn join(&self, key: &ChunkKey) -> Option<oneshot::Receiver<ChunkResult>> {
        let map = self.inflight.lock();
        map.get(&key.xorb)?
            .iter()
            .find_map(|f| f.wait_for(key.index))
    }

    /// Fetches `descriptor` (or joins the fetch of the same byte range) and returns one receiver
    /// per wanted chunk index, in the order given. A wanted chunk the fetch has already passed is
    /// answered from the memory cache, or with an error when it was evicted meanwhile.
    pub fn fetch(
        self: &Arc<Self>,
        scope: &RepoScope,
        descriptor: Descriptor,
        want: &[u32],
    ) -> Vec<oneshot::Receiver<ChunkResult>> {
        let flight = {
            let mut map = self.inflight.lock();
            let list = map.entry(descriptor.xorb).or_default();
            let existing = list
                .iter()
                .find(|f| f.descriptor.bytes == descriptor.bytes && !f.state.lock().done);
            match existing {
                Some(f) => f.clone(),
                None => {
                    let f = Arc::new(Inflight {
                        descriptor: descriptor.clone(),
                        scope: scope.clone(),
                        state: Mutex::new(InflightState {
                            next: descriptor.chunks.start,
                            ..Default::default()
                        }),
                    });
                    list.push(f.clone());
                    let this = self.clone();
                    let task = f.clone();
                    let busy = Busy::new(&self.stats);
                    tokio::spawn(async move {
                        this.run(task).await;
                        drop(busy);
                    });
                    f
                }
            }
        };
        want.iter()
            .map(|&index| match flight.wait_for(index) {
                Some(rx) => rx,
                None => {
                    let (tx, rx) = oneshot::channel();
                    let key = ChunkKey {
                        xorb: descriptor.xorb,
                        index,
                    };
                    let _ = tx.send(self.mem.get(&key).ok_or(FetchError::Evicted));
                    rx
                }
            })
            .collect()
    }

    async fn run(self: Arc<Self>, flight: Arc<Inflight>) {
        let d = &flight.descriptor;
        let kib = (d.bytes.len() / 1024 + 1).min(self.budget_permits()) as u32;
        let result = match self.budget.clone().acquire_many_owned(kib).await {
            Ok(_permit) => tokio::time::timeout(self.cfg.deadline, self.attempts(&flight))
                .await
                .unwrap_or(Err(FetchError::Deadline)),
            Err(_) => Err(FetchError::Deadline),
        };
        if let Err(e) = &result {
            tracing::warn!(xorb = %d.xorb, bytes = ?d.bytes, error = %e, "xorb range fetch failed");
        }
        {
            let mut map = self.inflight.lock();
            if let Some(list) = map.get_mut(&d.xorb) {
                list.retain(|f| !Arc::ptr_eq(f, &flight));
                if list.is_empty() {
                    map.remove(&d.xorb);
                }
            }
        }
        flight.finish(result.err());
    }

    fn budget_permits(&self) -> u64 {
        (self.cfg.max_bytes_in_flight / 1024).max(1)
    }

    async fn attempts(&self, flight: &Inflight) -> Result<(), FetchError> {
        let list = self
            .proofs
            .list(&flight.scope, &flight.descriptor.xorb)
            .await;
        let mut attempt = 0;
        loop {
            attempt += 1;
            EngineStats::inc(&self.stats.fetches);
            if attempt > 1 {
                EngineStats::inc(&self.stats.fetch_retries);
            }
            match self.fetch_once(flight, list.as_ref()).await {
                Ok(()) => return Ok(()),
                Err(e) => {
                    let retryable = match &e {
                        FetchError::Remote(r) => r.is_retryable(),
                        FetchError::Integrity(_) => true,
                        FetchError::Expired { .. } | FetchError::Deadline | FetchError::Evicted => {
                            false
                        }
                    };
                    if let FetchError::Integrity(msg) = &e {
                        EngineStats::inc(&self.stats.integrity_failures);
                        tracing::warn!(xorb = %flight.descriptor.xorb, "{msg}; refetching");
                    }
                    if !retryable || attempt >= self.cfg.max_attempts {
                        return Err(e);
                    }
                    let jitter = rand::random::<f64>() + 0.5;
                    tokio::time::sleep(self.cfg.retry_backoff.mul_f64(jitter * attempt as f64))
                        .await;
                }
            }
        }
    }

    async fn fetch_once(
        &self,
        flight: &Inflight,
        list: Option<&ChunkList>,
    ) -> Result<(), FetchError> {
        let d = &flight.descriptor;
        let mut body = self
            .remote
            .fetch_xorb_range(&d.url, d.bytes)
            .await
            .map_err(|e| classify(e, d))?;
        let mut splitter = RecordSplitter::new(d.chunks, d.bytes.len());
        let mut seen: Vec<(MerkleHash, u64)> = Vec::with_capacity(d.chunks.len() as usize);
        while let Some(piece) = body.next().await {
            let piece = piece.map_err(|e| classify(e, d))?;
            EngineStats::add(&self.stats.fetched_bytes, piece.len() as u64);
            let records = splitter
                .push(&piece)
                .map_err(|e| FetchError::Integrity(format!("xorb {}: {e}", d.xorb)))?;
            if !records.is_empty() {
                let chunks = decode_batch(records, list, &d.xorb).await?;
                self.accept(flight, chunks, &mut seen);
            }
        }
        splitter
            .finish()
            .map_err(|e| FetchError::Integrity(format!("xorb {}: {e}", d.xorb)))?;
        // A range from chunk 0 whose root is the xorb hash is the whole xorb, proven.
        if list.is_none() && d.chunks.start == 0 && proves_whole_xorb(&d.xorb, &seen) {
            let indices: Vec<u32> = (0..seen.len() as u32).collect();
            for &i in &indices {
                self.mem.mark_proven(&ChunkKey {
                    xorb: d.xorb,
                    index: i,
                });
            }
            if let Some(disk) = &self.disk {
                disk.mark_proven(d.xorb, indices);
            }
            EngineStats::add(&self.stats.chunks_proven, seen.len() as u64);
        }
        Ok(())
    }

    /// Caches decoded chunks and wakes their waiters.
    fn accept(&self, flight: &Inflight, chunks: Vec<Decoded>, seen: &mut Vec<(MerkleHash, u64)>) {
        let xorb = flight.descriptor.xorb;
        let mut to_disk = Vec::with_capacity(chunks.len());
        for c in chunks {
            seen.push((c.chunk.hash, c.chunk.data.len() as u64));
            if c.chunk.proven {
                EngineStats::inc(&self.stats.chunks_proven);
            }
            EngineStats::inc(&self.stats.fetched_chunks);
            let key = ChunkKey {
                xorb,
                index: c.index,
            };
            self.mem.insert(key, c.chunk.clone());
            flight.deliver(c.index, &c.chunk);
            to_disk.push((
                c.index,
                DiskChunk {
                    record: c.record,
                    hash: c.chunk.hash,
                    proven: c.chunk.proven,
                },
            ));
        }
        if let Some(disk) = &self.disk {
            disk.put(xorb, to_disk);
        }
    }
}

pub(crate) struct Decoded {
    pub index: u32,
    pub record: Bytes,
    pub chunk: CachedChunk,
}

/// Decodes and hashes records off the async workers; checks each against the xorb's list.
async fn decode_batch(
    records: Vec<RawRecord>,
    list: Option<&ChunkList>,
    xorb: &MerkleHash,
) -> Result<Vec<Decoded>, FetchError> {
    let list = list.cloned();
    let xorb = *xorb;
    tokio::task::spawn_blocking(move || {
        use rayon::prelude::*;
        records
            .into_par_iter()
            .map(|r| decode_one(r, list.as_deref(), &xorb))
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|e| FetchError::Integrity(format!("decoder task failed: {e}")))?
}

/// Decodes one record and checks it; public for the disk-cache read path.
pub(crate) fn decode_one(
    r: RawRecord,
    list: Option<&[(MerkleHash, u32)]>,
    xorb: &MerkleHash,
) -> Result<Decoded, FetchError> {
    let (_, data, _) = decode_record(&r.bytes)
        .map_err(|e| FetchError::Integrity(format!("xorb {xorb} chunk {}: {e}", r.index)))?;
    let hash = crate::xet::chunk_hash(&data);
    let proven = match list {
        Some(list) => {
            let Some(&(want, len)) = list.get(r.index as usize) else {
                return Err(FetchError::Integrity(format!(
                    "xorb {xorb} has no chunk {} in its chunk list",
                    r.index
                )));
            };
            if want != hash || len as usize != data.len() {
                return Err(FetchError::Integrity(format!(
                    "xorb {xorb} chunk {}: hash {hash} does not match the xorb's list ({want})",
                    r.index
                )));
            }
            true
        }
        None => false,
    };
    Ok(Decoded {
        index: r.index,
        record: r.bytes,
        chunk: CachedChunk {
            data: Bytes::from(data),
            hash,
            proven,
        },
    })
}

fn classify(e: RemoteError, d: &Descriptor) -> FetchError {
    match e {
        RemoteError::UrlExpired => FetchError::Expired {
            xorb: d.xorb,
            url: d.url.clone(),
        },
        other => FetchError::Remote(other),
    }
}
