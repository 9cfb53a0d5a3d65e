//! Writes to the disk cache off the read path, in order.
//!
//! Puts are best effort: queued puts are bounded in bytes (a share of the memory budget), and a
//! put over the bound is dropped (counted) rather than slowing readers. Queued puts are merged
//! per xorb before they are written: a block file holds 64 chunks, and a sequential reader
//! delivers them a few at a time, so writing each delivery would rewrite the same block many
//! times over (and fall behind the network). Purges go through the same queue and are never
//! dropped, so a purge can never be overtaken by a queued put of the bytes it removes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::stats::EngineStats;
use crate::cache::disk::{DiskCache, DiskChunk};
use crate::cache::ChunkKey;
use crate::xet::MerkleHash;

/// How long the writer waits for more puts to merge into a batch before writing it.
const LINGER: Duration = Duration::from_millis(50);

enum Job {
    Put(MerkleHash, Vec<(u32, DiskChunk)>, u64),
    MarkProven(MerkleHash, Vec<u32>),
    Remove(Vec<ChunkKey>),
    /// Answered once every earlier job is done (jobs run one at a time, in order).
    Barrier(tokio::sync::oneshot::Sender<()>),
}

#[derive(Clone)]
pub struct DiskWriter {
    tx: mpsc::UnboundedSender<Job>,
    queued: Arc<AtomicU64>,
    max_queued: u64,
    stats: Arc<EngineStats>,
}

/// Puts (and proofs) gathered from consecutive jobs, per xorb and chunk index.
#[derive(Default)]
struct Batch {
    chunks: BTreeMap<MerkleHash, BTreeMap<u32, DiskChunk>>,
    /// Proofs for chunks not in `chunks` (already on disk, or dropped from the queue).
    proofs: BTreeMap<MerkleHash, Vec<u32>>,
    bytes: u64,
}

impl Batch {
    fn add(&mut self, job: Job) -> Option<Job> {
        match job {
            Job::Put(xorb, chunks, bytes) => {
                let entry = self.chunks.entry(xorb).or_default();
                for (index, chunk) in chunks {
                    let proven = chunk.proven || entry.get(&index).is_some_and(|c| c.proven);
                    entry.insert(index, DiskChunk { proven, ..chunk });
                }
                self.bytes += bytes;
                None
            }
            Job::MarkProven(xorb, indices) => {
                let pending = self.chunks.get_mut(&xorb);
                let mut rest = Vec::new();
                match pending {
                    Some(pending) => {
                        for i in indices {
                            match pending.get_mut(&i) {
                                Some(c) => c.proven = true,
                                None => rest.push(i),
                            }
                        }
                    }
                    None => rest = indices,
                }
                if !rest.is_empty() {
                    self.proofs.entry(xorb).or_default().extend(rest);
                }
                None
            }
            other => Some(other),
        }
    }

    fn is_empty(&self) -> bool {
        self.chunks.is_empty() && self.proofs.is_empty()
    }

    /// Writes the batch (blocking).
    fn write(self, disk: &DiskCache, stats: &EngineStats) {
        for (xorb, chunks) in self.chunks {
            let chunks: Vec<(u32, DiskChunk)> = chunks.into_iter().collect();
            if let Err(e) = disk.put(&xorb, &chunks) {
                EngineStats::inc(&stats.disk_write_dropped);
                tracing::debug!(%xorb, error = %e, "disk cache write skipped");
            }
        }
        for (xorb, indices) in self.proofs {
            if let Err(e) = disk.mark_proven(&xorb, &indices) {
                tracing::debug!(%xorb, error = %e, "could not mark chunks proven on disk");
            }
        }
    }
}

impl DiskWriter {
    /// Starts the writer task (inside a tokio runtime). `max_queued` bounds the bytes of queued
    /// puts.
    pub fn spawn(disk: Arc<DiskCache>, stats: Arc<EngineStats>, max_queued: u64) -> Self {
        let (tx, rx) = mpsc::unbounded_channel::<Job>();
        let queued = Arc::new(AtomicU64::new(0));
        tokio::spawn(run(disk, stats.clone(), queued.clone(), max_queued, rx));
        DiskWriter {
            tx,
            queued,
            max_queued: max_queued.max(1),
            stats,
        }
    }

    /// Queues chunks for storage; dropped (and counted) when the queue is full.
    pub fn put(&self, xorb: MerkleHash, chunks: Vec<(u32, DiskChunk)>) {
        if chunks.is_empty() {
            return;
        }
        let bytes: u64 = chunks.iter().map(|(_, c)| c.record.len() as u64).sum();
        let before = self.queued.fetch_add(bytes, Ordering::Relaxed);
        if before + bytes > self.max_queued {
            self.queued.fetch_sub(bytes, Ordering::Relaxed);
            EngineStats::inc(&self.stats.disk_write_dropped);
            return;
        }
        if self.tx.send(Job::Put(xorb, chunks, bytes)).is_err() {
            self.queued.fetch_sub(bytes, Ordering::Relaxed);
        }
    }

    pub fn mark_proven(&self, xorb: MerkleHash, indices: Vec<u32>) {
        let _ = self.tx.send(Job::MarkProven(xorb, indices));
    }

    /// Purges chunks and waits until they are gone from disk (including any queued put of them),
    /// so no reader can find them afterwards.
    pub async fn remove(&self, keys: Vec<ChunkKey>) {
        if self.tx.send(Job::Remove(keys)).is_ok() {
            self.flush().await;
        }
    }

    /// Waits until every job queued so far has been carried out.
    pub async fn flush(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.tx.send(Job::Barrier(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

/// The writer task: gathers puts into a batch until the queue is quiet for [`LINGER`], the
/// batch reaches half the queue bound, or a purge or barrier arrives; then writes the batch, then
/// carries out that purge or barrier.
async fn run(
    disk: Arc<DiskCache>,
    stats: Arc<EngineStats>,
    queued: Arc<AtomicU64>,
    max_queued: u64,
    mut rx: mpsc::UnboundedReceiver<Job>,
) {
    let mut open = true;
    while open {
        let mut batch = Batch::default();
        let mut after = None;
        loop {
            let next = if batch.is_empty() {
                rx.recv().await
            } else if batch.bytes >= max_queued / 2 {
                break;
            } else {
                match tokio::time::timeout(LINGER, rx.recv()).await {
                    Ok(job) => job,
                    Err(_) => break,
                }
            };
            let Some(job) = next else {
                open = false;
                break;
            };
            if let Some(other) = batch.add(job) {
                after = Some(other);
                break;
            }
        }
        let bytes = batch.bytes;
        if !batch.is_empty() {
            let (disk, stats) = (disk.clone(), stats.clone());
            let done = tokio::task::spawn_blocking(move || batch.write(&disk, &stats)).await;
            if let Err(e) = done {
                tracing::error!(error = %e, "disk cache writer task failed");
            }
        }
        queued.fetch_sub(bytes, Ordering::Relaxed);
        match after {
            Some(Job::Remove(keys)) => {
                let disk = disk.clone();
                let done =
                    tokio::task::spawn_blocking(move || keys.iter().for_each(|k| disk.remove(k)))
                        .await;
                if let Err(e) = done {
                    tracing::error!(error = %e, "disk cache purge task failed");
                }
            }
            Some(Job::Barrier(done)) => {
                let _ = done.send(());
            }
            Some(Job::Put(..) | Job::MarkProven(..)) => unreachable!("merged into the batch"),
            None => {}
        }
    }
}
