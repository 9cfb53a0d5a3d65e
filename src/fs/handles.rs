//! Open file and directory handles (the `fh` the kernel passes back).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use fuser::FileType;
use parking_lot::{Mutex, RwLock};

use super::inode::Ino;
use crate::hub::{FileContent, FileDesc};

pub enum Handle {
    /// A repo file: every read of this handle sees the same content, whatever the branch does.
    /// `poisoned` is set when the engine finds that bytes it served for this content were wrong:
    /// the process reading through this handle may hold them, so all its further reads fail
    /// (EIO) rather than let it finish with a mix. A new `open` reads normally. Replies are sent
    /// under the read lock, so none lands in the page cache after the poisoning.
    File {
        desc: Arc<FileDesc>,
        poisoned: RwLock<bool>,
    },
    /// `.xetfs-stats`, rendered at open.
    Stats(Bytes),
    /// A directory listing, taken at opendir so that paging through it is consistent.
    Dir(Vec<DirEntry>),
}

pub struct DirEntry {
    pub ino: Ino,
    pub kind: FileType,
    pub name: String,
}

pub struct Handles {
    map: Mutex<HashMap<u64, Arc<Handle>>>,
    next: AtomicU64,
}

impl Default for Handles {
    fn default() -> Self {
        Handles {
            map: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
        }
    }
}

impl Handles {
    pub fn insert(&self, handle: Handle) -> u64 {
        let fh = self.next.fetch_add(1, Ordering::Relaxed);
        self.map.lock().insert(fh, Arc::new(handle));
        fh
    }

    pub fn get(&self, fh: u64) -> Option<Arc<Handle>> {
        self.map.lock().get(&fh).cloned()
    }

    pub fn remove(&self, fh: u64) -> Option<Arc<Handle>> {
        self.map.lock().remove(&fh)
    }

    pub fn len(&self) -> usize {
        self.map.lock().len()
    }

    /// Poisons every open handle of a file with `content`; returns how many.
    pub fn poison(&self, content: &FileContent) -> usize {
        let open: Vec<Arc<Handle>> = self.map.lock().values().cloned().collect();
        let mut n = 0;
        for h in open {
            if let Handle::File { desc, poisoned } = &*h {
                if desc.content == *content {
                    *poisoned.write() = true;
                    n += 1;
                }
            }
        }
        n
    }
}
