//! Writes to the disk cache off the read path, in order.
//!
//! Puts are best effort: when the queue is full they are dropped (counted) rather than slowing
//! readers. Purges go through the same queue and are never dropped, so a purge can never be
//! overtaken by a queued put of the bytes it removes.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::stats::EngineStats;
use crate::cache::disk::{DiskCache, DiskChunk};
use crate::cache::ChunkKey;
use crate::xet::MerkleHash;

enum Job {
    Put(MerkleHash, Vec<(u32, DiskChunk)>),
    MarkProven(MerkleHash, Vec<u32>),
    Remove(Vec<ChunkKey>),
    /// Answered once every earlier job is done (jobs run one at a time, in order).
    Barrier(tokio::sync::oneshot::Sender<()>),
}

#[derive(Clone)]
pub struct DiskWriter {
    tx: mpsc::Sender<Job>,
    stats: Arc<EngineStats>,
}

impl DiskWriter {
    /// Starts the writer task (inside a tokio runtime). `depth` bounds queued jobs.
    pub fn spawn(disk: Arc<DiskCache>, stats: Arc<EngineStats>, depth: usize) -> Self {
        let (tx, mut rx) = mpsc::channel::<Job>(depth.max(1));
        let task_stats = stats.clone();
        tokio::spawn(async move {
            while let Some(job) = rx.recv().await {
                if let Job::Barrier(done) = job {
                    let _ = done.send(());
                    continue;
                }
                let disk = disk.clone();
                let stats = task_stats.clone();
                let done = tokio::task::spawn_blocking(move || match job {
                    Job::Put(xorb, chunks) => {
                        if let Err(e) = disk.put(&xorb, &chunks) {
                            EngineStats::inc(&stats.disk_write_dropped);
                            tracing::debug!(%xorb, error = %e, "disk cache write skipped");
                        }
                    }
                    Job::MarkProven(xorb, indices) => {
                        if let Err(e) = disk.mark_proven(&xorb, &indices) {
                            tracing::debug!(%xorb, error = %e, "could not mark chunks proven on disk");
                        }
                    }
                    Job::Remove(keys) => keys.iter().for_each(|k| disk.remove(k)),
                    Job::Barrier(_) => unreachable!("handled above"),
                })
                .await;
                if let Err(e) = done {
                    tracing::error!(error = %e, "disk cache writer task failed");
                }
            }
        });
        DiskWriter { tx, stats }
    }

    /// Queues chunks for storage; dropped (and counted) when the queue is full.
    pub fn put(&self, xorb: MerkleHash, chunks: Vec<(u32, DiskChunk)>) {
        if chunks.is_empty() {
            return;
        }
        if self.tx.try_send(Job::Put(xorb, chunks)).is_err() {
            EngineStats::inc(&self.stats.disk_write_dropped);
        }
    }

    pub fn mark_proven(&self, xorb: MerkleHash, indices: Vec<u32>) {
        let _ = self.tx.try_send(Job::MarkProven(xorb, indices));
    }

    /// Purges chunks and waits until they are gone from disk (including any queued put of them),
    /// so no reader can find them afterwards.
    pub async fn remove(&self, keys: Vec<ChunkKey>) {
        if self.tx.send(Job::Remove(keys)).await.is_ok() {
            self.flush().await;
        }
    }

    /// Waits until every job queued so far has been carried out.
    pub async fn flush(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.tx.send(Job::Barrier(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}
