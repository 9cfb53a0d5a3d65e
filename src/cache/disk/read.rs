//! Reading one chunk: open the block file once, read its header and the one record through the
//! same fd (so a concurrent replace cannot tear the view), check both, note the access.

use std::collections::BTreeMap;
use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use super::block::{self, BlockHeader, BlockId, Corrupt};
use super::index::EntryId;
use super::layout::FileId;
use super::{Counters, DiskChunk, Inner};
use crate::cache::ChunkKey;

/// Refresh a file's mtime (its recency after a restart) at most this often.
const MTIME_REFRESH_SECS: u64 = 600;

/// Why nothing could be read from a block file.
enum Miss {
    NoFile,
    /// An I/O error (logged).
    Unreadable,
    Corrupt(FileId, Corrupt),
}

impl Inner {
    pub(super) fn get(&self, key: &ChunkKey) -> Option<DiskChunk> {
        self.get_many(std::slice::from_ref(key)).pop().flatten()
    }

    /// Like [`get`](Self::get) for many chunks: each block file is opened, and its header read
    /// and checked, once for all the chunks wanted from it.
    pub(super) fn get_many(&self, keys: &[ChunkKey]) -> Vec<Option<DiskChunk>> {
        let mut out: Vec<Option<DiskChunk>> = keys.iter().map(|_| None).collect();
        let mut by_block: BTreeMap<BlockId, Vec<usize>> = BTreeMap::new();
        for (i, key) in keys.iter().enumerate() {
            by_block.entry(BlockId::of(key)).or_default().push(i);
        }
        for (id, wanted) in by_block {
            let entry = EntryId::Block(id);
            let path = self.layout.block_path(&id);
            let indices: Vec<u32> = wanted.iter().map(|&i| keys[i].index).collect();
            match self.lookup_many(&id, &indices, &path) {
                Ok((found, file, corrupt)) => {
                    let hits = found.iter().filter(|c| c.is_some()).count() as u64;
                    Counters::add(&self.counters.hits, hits);
                    Counters::add(&self.counters.misses, found.len() as u64 - hits);
                    if hits > 0 {
                        self.note_access(&entry, &file);
                    }
                    for (slot, chunk) in wanted.iter().zip(found) {
                        out[*slot] = chunk;
                    }
                    if let Some((file_id, why)) = corrupt {
                        tracing::warn!(path = %path.display(), %why, "corrupt disk cache block");
                        self.drop_corrupt_block(&id, &path, file_id);
                    }
                }
                Err(miss) => {
                    Counters::add(&self.counters.misses, wanted.len() as u64);
                    match miss {
                        Miss::NoFile => self.forget_if_gone(&entry, &path),
                        Miss::Corrupt(file_id, why) => {
                            tracing::warn!(path = %path.display(), %why, "corrupt disk cache block");
                            self.drop_corrupt_block(&id, &path, file_id);
                        }
                        Miss::Unreadable => {}
                    }
                }
            }
        }
        out
    }

    /// The chunks `indices` of one block (`None` where absent or failing its checksum), the open
    /// file, and the reason to drop the block if a record failed. `Err` when nothing could be
    /// read at all (no file, a bad header, an I/O error — logged).
    #[allow(clippy::type_complexity)]
    fn lookup_many(
        &self,
        id: &BlockId,
        indices: &[u32],
        path: &Path,
    ) -> Result<(Vec<Option<DiskChunk>>, File, Option<(FileId, Corrupt)>), Miss> {
        let io_error = |e: io::Error| {
            tracing::warn!(path = %path.display(), error = %e, "disk cache read failed");
            Miss::Unreadable
        };
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Miss::NoFile),
            Err(e) => return Err(io_error(e)),
        };
        let meta = file.metadata().map_err(io_error)?;
        let header = match read_header(&file, &meta, id).map_err(io_error)? {
            Ok(h) => h,
            Err(why) => return Err(Miss::Corrupt(FileId::of(&meta), why)),
        };
        let mut corrupt = None;
        let mut found = Vec::with_capacity(indices.len());
        for &index in indices {
            let Some(entry) = header.find(index) else {
                found.push(None);
                continue;
            };
            let mut record = vec![0; entry.len as usize];
            file.read_exact_at(&mut record, entry.offset)
                .map_err(io_error)?;
            if !block::record_matches(entry, &record) {
                corrupt = Some((FileId::of(&meta), Corrupt("record checksum mismatch")));
                found.push(None);
                continue;
            }
            found.push(Some(DiskChunk {
                record: record.into(),
                hash: entry.hash,
                proven: entry.proven,
            }));
        }
        Ok((found, file, corrupt))
    }

    /// Moves the entry to most-recently-used; now and then also stamps the file's mtime so the
    /// order survives a restart. Files the startup scan has not reached yet only get the stamp.
    pub(super) fn note_access(&self, entry: &EntryId, file: &File) {
        let now = now_secs();
        let mut index = self.index.lock();
        let stamp = match index.get(entry) {
            Some(meta) => {
                let stale = now.saturating_sub(meta.mtime_secs) >= MTIME_REFRESH_SECS;
                index.touch(entry);
                if stale {
                    index.set_mtime(entry, now);
                }
                stale
            }
            None => !self.is_indexed(),
        };
        drop(index);
        if stamp {
            // Best effort: only eviction order depends on it.
            let _ = file.set_modified(SystemTime::now());
        }
    }

    /// Drops the index entry of a file someone removed behind our back.
    pub(super) fn forget_if_gone(&self, entry: &EntryId, path: &Path) {
        // Skip when a writer holds the lock: it is about to create the file.
        let Some(_guard) = self.try_lock(entry) else {
            return;
        };
        if std::fs::symlink_metadata(path).is_err() {
            self.index.lock().remove(entry);
        }
    }

    /// Rewrites a block without its bad parts, or deletes it, unless it was replaced meanwhile.
    fn drop_corrupt_block(&self, id: &BlockId, path: &Path, file_id: FileId) {
        let _guard = self.lock(&EntryId::Block(*id));
        if !file_id.is_at(path) {
            return;
        }
        let result = self
            .load_block(id, path)
            .and_then(|loaded| match loaded.dirty {
                true => self.store_block(id, path, &loaded.chunks),
                false => Ok(()),
            });
        if let Err(e) = result {
            // Deleting needs no space: never keep a file that failed a check.
            tracing::warn!(path = %path.display(), error = %e, "rewriting a corrupt block failed; deleting it");
            self.index.lock().remove(&EntryId::Block(*id));
            let _ = self.layout.delete(path);
        }
    }
}

/// Reads and validates the header of an open block file (one read: headers are small).
/// Outer error: I/O; inner error: the file is not a valid block `id`.
pub(super) fn read_header(
    file: &File,
    meta: &Metadata,
    id: &BlockId,
) -> io::Result<Result<BlockHeader, Corrupt>> {
    let len = meta.len();
    if len > block::MAX_FILE_LEN {
        return Ok(Err(Corrupt("file too large")));
    }
    let mut head = [0u8; block::MAX_HEADER_LEN];
    let n = (len as usize).min(head.len());
    file.read_exact_at(&mut head[..n], 0)?;
    Ok(block::parse_header(&head[..n], len, id))
}

pub(super) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub(super) fn mtime_micros(meta: &Metadata) -> u64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_micros() as u64)
}
