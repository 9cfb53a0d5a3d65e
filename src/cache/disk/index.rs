//! The in-memory index of cache files: size, which chunks a block holds, and access recency.
//! It is the source of truth for `contains`, `usage_bytes` and eviction order; the files are
//! the source of truth for data.

use std::collections::{BTreeSet, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use super::block::{slot_bit, BlockId};

/// One cache file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntryId {
    Block(BlockId),
    /// BLAKE3 of the blob key.
    Blob([u8; 32]),
}

impl EntryId {
    /// Which lock stripe guards writes to this file.
    pub fn stripe(&self, stripes: usize) -> usize {
        let h = match self {
            EntryId::Block(b) => {
                b.xorb.first_u64() ^ (b.block as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            }
            EntryId::Blob(name) => u64::from_le_bytes(name[..8].try_into().expect("8 bytes")),
        };
        (h % stripes as u64) as usize
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub size: u64,
    /// Chunks present (blocks only).
    pub mask: u64,
    /// Last access, µs since the epoch; orders eviction.
    tick: u64,
    /// The file's mtime as last set (seconds): persists recency across restarts cheaply.
    pub mtime_secs: u64,
}

#[derive(Debug, Default)]
pub struct Index {
    entries: HashMap<EntryId, Meta>,
    by_age: BTreeSet<(u64, EntryId)>,
    usage: u64,
    last_tick: u64,
}

impl Index {
    pub fn usage(&self) -> u64 {
        self.usage
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn get(&self, id: &EntryId) -> Option<&Meta> {
        self.entries.get(id)
    }

    pub fn has_chunk(&self, block: &BlockId, index: u32) -> bool {
        self.entries
            .get(&EntryId::Block(*block))
            .is_some_and(|m| m.mask & slot_bit(index) != 0)
    }

    /// Adds a file found on disk, aged by its mtime (µs); keeps what is already known.
    pub fn insert_found(&mut self, id: EntryId, size: u64, mask: u64, mtime_micros: u64) {
        if self.entries.contains_key(&id) {
            return;
        }
        let meta = Meta {
            size,
            mask,
            tick: mtime_micros,
            mtime_secs: mtime_micros / 1_000_000,
        };
        self.put(id, meta);
    }

    /// Marks an access: the entry becomes the most recently used.
    pub fn touch(&mut self, id: &EntryId) {
        let tick = self.next_tick();
        if let Some(mut meta) = self.take(id) {
            meta.tick = tick;
            self.put(*id, meta);
        }
    }

    pub fn set_mtime(&mut self, id: &EntryId, mtime_secs: u64) {
        if let Some(meta) = self.entries.get_mut(id) {
            meta.mtime_secs = mtime_secs;
        }
    }

    /// Whether `id` can take `size` bytes without passing `budget`.
    pub fn fits(&self, id: &EntryId, size: u64, budget: u64) -> bool {
        let current = self.entries.get(id).map_or(0, |m| m.size);
        self.usage - current + size <= budget
    }

    /// Accounts `size` bytes for `id` ahead of writing it; returns what to restore on failure.
    /// A new entry holds no chunks until [`Index::commit`].
    pub fn reserve(&mut self, id: EntryId, size: u64) -> Option<Meta> {
        let previous = self.entries.get(&id).copied();
        let tick = self.next_tick();
        let meta = match previous {
            Some(m) => Meta { size, ..m },
            None => Meta {
                size,
                mask: 0,
                tick,
                mtime_secs: 0,
            },
        };
        self.take(&id);
        self.put(id, meta);
        previous
    }

    /// Undoes [`Index::reserve`].
    pub fn restore(&mut self, id: EntryId, previous: Option<Meta>) {
        self.take(&id);
        if let Some(meta) = previous {
            self.put(id, meta);
        }
    }

    /// Records a file just written: most recently used.
    pub fn commit(&mut self, id: EntryId, size: u64, mask: u64) {
        let tick = self.next_tick();
        self.take(&id);
        self.put(
            id,
            Meta {
                size,
                mask,
                tick,
                mtime_secs: tick / 1_000_000,
            },
        );
    }

    pub fn remove(&mut self, id: &EntryId) -> Option<Meta> {
        self.take(id)
    }

    /// Entries from least to most recently used.
    pub fn oldest_first(&self) -> impl Iterator<Item = &EntryId> + '_ {
        self.by_age.iter().map(|(_, id)| id)
    }

    fn take(&mut self, id: &EntryId) -> Option<Meta> {
        let meta = self.entries.remove(id)?;
        self.by_age.remove(&(meta.tick, *id));
        self.usage -= meta.size;
        Some(meta)
    }

    fn put(&mut self, id: EntryId, meta: Meta) {
        self.by_age.insert((meta.tick, id));
        self.usage += meta.size;
        self.entries.insert(id, meta);
    }

    /// Wall-clock µs, strictly increasing, so this session's accesses sort after files aged by
    /// their mtime at startup.
    fn next_tick(&mut self) -> u64 {
        let now = now_micros();
        self.last_tick = now.max(self.last_tick + 1);
        self.last_tick
    }
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xet::MerkleHash;

    fn block(n: u8, b: u32) -> EntryId {
        EntryId::Block(BlockId {
            xorb: MerkleHash::from_bytes([n; 32]),
            block: b,
        })
    }

    #[test]
    fn usage_follows_reserve_commit_restore_remove() {
        let mut idx = Index::default();
        let a = block(1, 0);
        let prev = idx.reserve(a, 100);
        assert_eq!(prev, None);
        assert_eq!(idx.usage(), 100);
        idx.commit(a, 90, 0b101);
        assert_eq!(idx.usage(), 90);
        let EntryId::Block(ab) = a else {
            unreachable!()
        };
        assert!(idx.has_chunk(&ab, 2) && !idx.has_chunk(&ab, 1));

        let prev = idx.reserve(a, 300);
        assert_eq!(idx.usage(), 300);
        assert!(
            idx.has_chunk(&ab, 0),
            "a reservation keeps the old chunks visible"
        );
        idx.restore(a, prev);
        assert_eq!(idx.usage(), 90);

        let b = block(2, 0);
        let prev = idx.reserve(b, 50);
        idx.restore(b, prev);
        assert!(idx.get(&b).is_none());
        assert_eq!(idx.usage(), 90);
        assert!(idx.fits(&a, 100, 100) && !idx.fits(&b, 11, 100));
        assert_eq!(idx.remove(&a).map(|m| m.size), Some(90));
        assert_eq!((idx.usage(), idx.len()), (0, 0));
    }

    #[test]
    fn order_is_least_recently_used_first_and_found_files_are_oldest() {
        let mut idx = Index::default();
        let (a, b, c, old) = (block(1, 0), block(2, 0), block(3, 0), block(4, 0));
        for id in [a, b, c] {
            idx.commit(id, 10, 1);
        }
        idx.insert_found(old, 10, 1, 1_000_000_000);
        idx.touch(&a);
        let order: Vec<_> = idx.oldest_first().copied().collect();
        assert_eq!(order, vec![old, b, c, a]);
        idx.insert_found(a, 999, 1, 0);
        assert_eq!(idx.usage(), 40, "a found file never overrides a known one");
    }
}
