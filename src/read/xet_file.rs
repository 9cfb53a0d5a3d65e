//! Per-file state of Xet files, shared by every path and revision with the same file hash.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use futures::future::{BoxFuture, Shared};
use parking_lot::{Mutex, RwLock};

use super::chunk_map::ChunkMap;
use super::persist;
use super::prefetch::AccessTracker;
use super::ReadError;
use crate::cache::metadata::MetadataStore;
use crate::xet::MerkleHash;

/// A reconstruction window being planned; later readers of the same bytes wait for it.
pub type PlanFuture = Shared<BoxFuture<'static, Result<(), ReadError>>>;

pub struct XetFileState {
    pub hash: MerkleHash,
    pub size: u64,
    pub map: RwLock<ChunkMap>,
    pub access: Mutex<AccessTracker>,
    pub planning: Mutex<Vec<(Range<u64>, PlanFuture)>>,
    /// The whole file matched its Xet file ID.
    pub verified: AtomicBool,
    /// Serializes file-hash checks and purges of this file.
    pub check: tokio::sync::Mutex<()>,
    version: AtomicU64,
    checked_version: AtomicU64,
    dirty: AtomicBool,
}

impl XetFileState {
    fn new(hash: MerkleHash, size: u64, map: ChunkMap, verified: bool) -> Self {
        XetFileState {
            hash,
            size,
            map: RwLock::new(map),
            access: Mutex::new(AccessTracker::default()),
            planning: Mutex::new(Vec::new()),
            verified: AtomicBool::new(verified),
            check: tokio::sync::Mutex::new(()),
            version: AtomicU64::new(1),
            checked_version: AtomicU64::new(0),
            dirty: AtomicBool::new(false),
        }
    }

    /// Call after every change of the map (or of `verified`).
    pub fn changed(&self) {
        self.version.fetch_add(1, Ordering::Relaxed);
        self.dirty.store(true, Ordering::Relaxed);
    }

    /// Whether the map changed since the last file check; marks the current version checked.
    pub fn take_check_due(&self) -> bool {
        let v = self.version.load(Ordering::Relaxed);
        self.checked_version.swap(v, Ordering::Relaxed) != v
    }

    fn persist(&self, meta: &MetadataStore) {
        if !self.dirty.swap(false, Ordering::Relaxed) {
            return;
        }
        let bytes = persist::encode(&self.map.read(), self.verified.load(Ordering::Relaxed));
        if let Err(e) = meta.put_bytes(KIND, &self.hash.to_hex(), &bytes) {
            self.dirty.store(true, Ordering::Relaxed);
            tracing::debug!(file = %self.hash, error = %e, "could not persist chunk map");
        }
    }
}

const KIND: &str = "chunkmap";

/// All file states the engine knows, bounded, persisted through the metadata store.
pub struct FileStates {
    states: moka::sync::Cache<MerkleHash, Arc<XetFileState>>,
    meta: Option<MetadataStore>,
}

impl FileStates {
    pub fn new(meta: Option<MetadataStore>, max_files: u64) -> Self {
        let listener_meta = meta.clone();
        let states = moka::sync::Cache::builder()
            .max_capacity(max_files)
            .eviction_listener(move |_, state: Arc<XetFileState>, _| {
                if let Some(meta) = &listener_meta {
                    state.persist(meta);
                }
            })
            .build();
        FileStates { states, meta }
    }

    /// The state of file `hash`, loading a persisted chunk map on first use.
    pub fn get(&self, hash: &MerkleHash, size: u64) -> Arc<XetFileState> {
        let state = self.states.get_with(*hash, || {
            let loaded = self
                .meta
                .as_ref()
                .and_then(|m| m.get_bytes(KIND, &hash.to_hex()))
                .and_then(|bytes| persist::decode(&bytes, size));
            let (map, verified) = loaded.unwrap_or_else(|| (ChunkMap::new(size), false));
            Arc::new(XetFileState::new(*hash, size, map, verified))
        });
        if state.size == size {
            state
        } else {
            // Same hash, other size: a listing lies. Keep the states apart rather than mixing.
            Arc::new(XetFileState::new(*hash, size, ChunkMap::new(size), false))
        }
    }

    /// Writes every changed map (blocking file I/O).
    pub fn persist_dirty(&self) {
        if let Some(meta) = &self.meta {
            for (_, state) in self.states.iter() {
                state.persist(meta);
            }
        }
    }
}
