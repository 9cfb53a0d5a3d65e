//! Open file and directory handles (the `fh` the kernel passes back).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use fuser::FileType;
use parking_lot::Mutex;

use super::inode::Ino;
use crate::read::FileDesc;

pub enum Handle {
    /// A repo file: every read of this handle sees the same content, whatever the branch does.
    File { desc: Arc<FileDesc> },
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
}
