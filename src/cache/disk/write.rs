//! Changing blocks: every change reads the current block (verifying each record), applies the
//! change, and writes the whole new block through `tmp/` + rename, holding the block's lock so
//! concurrent changes merge instead of losing chunks. Room is made (LRU eviction) before the
//! write, so the directory never grows past the budget.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use bytes::Bytes;
use parking_lot::MutexGuard;

use super::block::{self, slot_bit, BlockId, CHUNKS_PER_BLOCK};
use super::index::{EntryId, Index, Meta};
use super::{Counters, DiskChunk, Inner, LOCK_STRIPES};
use crate::cache::ChunkKey;
use crate::xet::MerkleHash;

/// A block as read back: its verified chunks, and whether the file had parts that failed.
pub(super) struct Loaded {
    pub chunks: BTreeMap<u32, DiskChunk>,
    pub dirty: bool,
}

impl Inner {
    pub(super) fn put(&self, xorb: &MerkleHash, chunks: &[(u32, DiskChunk)]) -> io::Result<()> {
        let mut by_block: BTreeMap<u32, BTreeMap<u32, &DiskChunk>> = BTreeMap::new();
        for (index, chunk) in chunks {
            if !block::record_is_sane(&chunk.record) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("chunk {index} of xorb {xorb} is not a valid chunk record"),
                ));
            }
            by_block
                .entry(index / CHUNKS_PER_BLOCK)
                .or_default()
                .insert(*index, chunk);
        }
        self.wait_indexed();
        // Blocks are independent files with their own locks: write them side by side (a
        // sequential reader's batch spans several blocks, and one writer thread would fall
        // behind a fast network).
        use rayon::prelude::*;
        let by_block: Vec<_> = by_block.into_iter().collect();
        by_block
            .par_iter()
            .map(|(block, new)| {
                let id = BlockId {
                    xorb: *xorb,
                    block: *block,
                };
                self.put_block(&id, new)
            })
            .collect::<Vec<_>>()
            .into_iter()
            .collect::<io::Result<Vec<()>>>()
            .map(|_| ())
    }

    fn put_block(&self, id: &BlockId, new: &BTreeMap<u32, &DiskChunk>) -> io::Result<()> {
        let entry = EntryId::Block(*id);
        let path = self.layout.block_path(id);
        let _guard = self.lock(&entry);
        let wanted = new.keys().fold(0, |m, &i| m | slot_bit(i));
        let present = self.index.lock().get(&entry).map_or(0, |m| m.mask);
        if present & wanted == wanted && new.values().all(|c| !c.proven) {
            // Content-addressed: the same chunks are already there; skip reading the block.
            self.index.lock().touch(&entry);
            return Ok(());
        }
        let loaded = self.load_block(id, &path)?;
        let mut chunks = loaded.chunks;
        let changed = merge(&mut chunks, new);
        if !changed && !loaded.dirty {
            self.index.lock().touch(&entry);
            return Ok(());
        }
        if block::file_len(&chunks) > self.budget {
            // The merged block alone would overflow the cache: keep the newest chunks only.
            chunks = BTreeMap::new();
            merge(&mut chunks, new);
            if block::file_len(&chunks) > self.budget {
                tracing::debug!(block = ?id, "block larger than the disk cache budget: not stored");
                return Ok(());
            }
        }
        self.store_block(id, &path, &chunks)
    }

    pub(super) fn remove(&self, key: &ChunkKey) {
        self.wait_indexed();
        let id = BlockId::of(key);
        if !self.index.lock().has_chunk(&id, key.index) {
            return;
        }
        let path = self.layout.block_path(&id);
        let _guard = self.lock(&EntryId::Block(id));
        let result = self.load_block(&id, &path).and_then(|mut loaded| {
            let removed = loaded.chunks.remove(&key.index).is_some();
            match removed || loaded.dirty {
                true => self.store_block(&id, &path, &loaded.chunks),
                false => Ok(()),
            }
        });
        if let Err(e) = result {
            // A purge must not leave the chunk behind: drop the whole block instead.
            tracing::warn!(path = %path.display(), error = %e, "rewriting block failed; deleting it");
            self.index.lock().remove(&EntryId::Block(id));
            let _ = self.layout.delete(&path);
        }
    }

    pub(super) fn mark_proven(&self, xorb: &MerkleHash, indices: &[u32]) -> io::Result<()> {
        let mut by_block: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        for &i in indices {
            by_block.entry(i / CHUNKS_PER_BLOCK).or_default().push(i);
        }
        self.wait_indexed();
        let mut result = Ok(());
        for (block, wanted) in by_block {
            let id = BlockId { xorb: *xorb, block };
            let mask = wanted.iter().fold(0, |m, &i| m | slot_bit(i));
            let present = self
                .index
                .lock()
                .get(&EntryId::Block(id))
                .map_or(0, |m| m.mask);
            if present & mask == 0 {
                continue;
            }
            let path = self.layout.block_path(&id);
            let _guard = self.lock(&EntryId::Block(id));
            let step = self.load_block(&id, &path).and_then(|mut loaded| {
                let mut changed = loaded.dirty;
                for i in &wanted {
                    if let Some(c) = loaded.chunks.get_mut(i).filter(|c| !c.proven) {
                        c.proven = true;
                        changed = true;
                    }
                }
                match changed {
                    true => self.store_block(&id, &path, &loaded.chunks),
                    false => Ok(()),
                }
            });
            if let Err(e) = step {
                result = result.and(Err(e));
            }
        }
        result
    }

    /// Reads a whole block file and keeps the records that pass their checks. A missing file is
    /// an empty block; an unreadable header makes the whole file count as dropped.
    /// The caller holds the block's lock.
    pub(super) fn load_block(&self, id: &BlockId, path: &Path) -> io::Result<Loaded> {
        let mut loaded = Loaded {
            chunks: BTreeMap::new(),
            dirty: false,
        };
        let mut file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(loaded),
            Err(e) => return Err(self.write_error(e)),
        };
        let len = file.metadata().map_err(|e| self.write_error(e))?.len();
        let data = if len <= block::MAX_FILE_LEN {
            let mut buf = Vec::with_capacity(len as usize);
            file.read_to_end(&mut buf)
                .map_err(|e| self.write_error(e))?;
            Bytes::from(buf)
        } else {
            Bytes::new()
        };
        let header = match block::parse_header(&data, len, id) {
            Ok(h) => h,
            Err(why) => {
                tracing::warn!(path = %path.display(), %why, "dropping corrupt disk cache block");
                let known = self
                    .index
                    .lock()
                    .get(&EntryId::Block(*id))
                    .map_or(0, |m| m.mask.count_ones());
                Counters::add(&self.counters.corrupt_dropped, known.max(1) as u64);
                loaded.dirty = true;
                return Ok(loaded);
            }
        };
        for e in &header.entries {
            let record = data.slice(e.offset as usize..(e.offset + e.len as u64) as usize);
            if block::record_matches(e, &record) {
                let chunk = DiskChunk {
                    record,
                    hash: e.hash,
                    proven: e.proven,
                };
                loaded.chunks.insert(e.index, chunk);
            } else {
                tracing::warn!(path = %path.display(), chunk = e.index, "dropping corrupt cached chunk");
                Counters::add(&self.counters.corrupt_dropped, 1);
                loaded.dirty = true;
            }
        }
        Ok(loaded)
    }

    /// Makes `chunks` the content of block `id` (deleting the file when empty). The caller holds
    /// the block's lock.
    pub(super) fn store_block(
        &self,
        id: &BlockId,
        path: &Path,
        chunks: &BTreeMap<u32, DiskChunk>,
    ) -> io::Result<()> {
        let entry = EntryId::Block(*id);
        if chunks.is_empty() {
            self.index.lock().remove(&entry);
            return self.layout.delete(path).map_err(|e| self.write_error(e));
        }
        let header = block::encode_header(id, chunks);
        let mask = chunks.keys().fold(0, |m, &i| m | slot_bit(i));
        self.write_entry(entry, path, block::file_len(chunks), mask, |f| {
            f.write_all(&header)?;
            for c in chunks.values() {
                f.write_all(&c.record)?;
            }
            Ok(())
        })
    }

    /// Reserves room for a new version of `entry` of `size` bytes, writes it atomically and
    /// records it. Not stored (but `Ok`) when no room can be made. The caller holds its lock.
    pub(super) fn write_entry(
        &self,
        entry: EntryId,
        path: &Path,
        size: u64,
        mask: u64,
        write: impl FnOnce(&mut File) -> io::Result<()>,
    ) -> io::Result<()> {
        let Some(previous) = self.reserve(entry, size) else {
            tracing::debug!(path = %path.display(), size, "no room in the disk cache: not stored");
            return Ok(());
        };
        match self.layout.write_atomically(path, write) {
            Ok(written) => {
                debug_assert_eq!(written, size);
                Counters::add(&self.counters.written_bytes, written);
                self.index.lock().commit(entry, written, mask);
                Ok(())
            }
            Err(e) => {
                self.index.lock().restore(entry, previous);
                Err(self.write_error(e))
            }
        }
    }

    /// Accounts `size` bytes for `entry`, first evicting least recently used files until that
    /// fits the budget. Returns what to restore if the write fails; `None` when it cannot fit.
    /// The caller holds `entry`'s lock.
    fn reserve(&self, entry: EntryId, size: u64) -> Option<Option<Meta>> {
        if size > self.budget {
            return None;
        }
        loop {
            let mut index = self.index.lock();
            if index.fits(&entry, size, self.budget) {
                return Some(index.reserve(entry, size));
            }
            if !self.evict_oldest(index, Some(entry)) {
                return None;
            }
        }
    }

    /// Evicts until usage is within the budget (after opening with a smaller budget).
    pub(super) fn shrink_to_budget(&self) {
        loop {
            let index = self.index.lock();
            if index.usage() <= self.budget || !self.evict_oldest(index, None) {
                return;
            }
        }
    }

    /// Deletes the least recently used file other than `held` (whose lock the caller holds).
    /// Victims are taken only when their lock is free (or is `held`'s stripe), so eviction never
    /// deletes a file someone is rewriting. False when nothing can be evicted.
    fn evict_oldest(&self, mut index: MutexGuard<'_, Index>, held: Option<EntryId>) -> bool {
        let own_stripe = held.map(|e| e.stripe(LOCK_STRIPES));
        let victim = index.oldest_first().find_map(|v| {
            let stripe = v.stripe(LOCK_STRIPES);
            if Some(*v) == held {
                None
            } else if Some(stripe) == own_stripe {
                Some((*v, None))
            } else {
                self.stripes[stripe].try_lock().map(|g| (*v, Some(g)))
            }
        });
        let Some((victim, guard)) = victim else {
            return false;
        };
        let meta = index.remove(&victim).expect("victim comes from the index");
        drop(index);
        let path = self.path_of(&victim);
        if let Err(e) = self.layout.delete(&path) {
            tracing::warn!(path = %path.display(), error = %e, "could not evict cache file");
        }
        Counters::add(&self.counters.evicted_bytes, meta.size);
        drop(guard);
        true
    }

    pub(super) fn write_error(&self, e: io::Error) -> io::Error {
        Counters::add(&self.counters.write_errors, 1);
        e
    }
}

/// Adds `new` chunks to `chunks`; a proven flag survives when the hash is unchanged. Returns
/// whether anything changed.
fn merge(chunks: &mut BTreeMap<u32, DiskChunk>, new: &BTreeMap<u32, &DiskChunk>) -> bool {
    let mut changed = false;
    for (&index, &chunk) in new {
        let old = chunks.get(&index);
        let proven = chunk.proven || old.is_some_and(|o| o.proven && o.hash == chunk.hash);
        let same = old.is_some_and(|o| {
            o.proven == proven && o.hash == chunk.hash && o.record == chunk.record
        });
        if !same {
            let merged = DiskChunk {
                record: chunk.record.clone(),
                hash: chunk.hash,
                proven,
            };
            chunks.insert(index, merged);
            changed = true;
        }
    }
    changed
}
