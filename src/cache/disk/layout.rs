//! Where things live under the cache directory, and the only way files get there.
//!
//! ```text
//! <dir>/lock                              flock: one process per cache directory
//! <dir>/tmp/<random>                      files being written (emptied at open)
//! <dir>/chunks/<2 hex>/<xorb hex>/<block> block files (see block.rs)
//! <dir>/blobs/<2 hex>/<blake3(key) hex>   blob files (see blob.rs)
//! ```

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use super::block::BlockId;

/// Persist attempts when an eviction removed the (empty) parent directory in between.
const PERSIST_ATTEMPTS: usize = 4;

#[derive(Debug)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    pub fn new(root: &Path) -> Self {
        Layout {
            root: root.to_path_buf(),
        }
    }

    pub fn chunks_dir(&self) -> PathBuf {
        self.root.join("chunks")
    }

    pub fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs")
    }

    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub fn block_path(&self, id: &BlockId) -> PathBuf {
        let hex = id.xorb.to_hex();
        self.chunks_dir()
            .join(&hex[..2])
            .join(&hex)
            .join(id.block.to_string())
    }

    pub fn blob_path(&self, name: &[u8; 32]) -> PathBuf {
        let hex = hex::encode(name);
        self.blobs_dir().join(&hex[..2]).join(hex)
    }

    /// Creates the directories and takes the directory lock (held as long as the returned file).
    pub fn prepare(&self) -> io::Result<File> {
        fs::create_dir_all(&self.root)?;
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.root.join("lock"))?;
        // SAFETY: flock on a file descriptor we own; no memory is involved.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let err = io::Error::last_os_error();
            return Err(if err.kind() == io::ErrorKind::WouldBlock {
                io::Error::new(
                    io::ErrorKind::WouldBlock,
                    format!(
                        "cache directory {} is in use by another process",
                        self.root.display()
                    ),
                )
            } else {
                err
            });
        }
        for dir in [self.chunks_dir(), self.blobs_dir(), self.tmp_dir()] {
            fs::create_dir_all(dir)?;
        }
        Ok(lock)
    }

    /// Removes what a crash left in `tmp/`. Only called with the lock held, before any write.
    pub fn clear_tmp(&self) -> io::Result<()> {
        for entry in fs::read_dir(self.tmp_dir())? {
            let path = entry?.path();
            if fs::symlink_metadata(&path)?.is_dir() {
                fs::remove_dir_all(&path)?;
            } else {
                fs::remove_file(&path)?;
            }
        }
        Ok(())
    }

    /// Writes a whole new file at `path` through `tmp/` + rename, so readers see the old file or
    /// the new one, never a mix. Returns the bytes written.
    pub fn write_atomically(
        &self,
        path: &Path,
        write: impl FnOnce(&mut File) -> io::Result<()>,
    ) -> io::Result<u64> {
        let mut tmp = tempfile::NamedTempFile::new_in(self.tmp_dir())?;
        write(tmp.as_file_mut())?;
        tmp.as_file_mut().flush()?;
        let len = tmp.as_file().metadata()?.len();
        let parent = path.parent().expect("cache file paths have a parent");
        for _ in 0..PERSIST_ATTEMPTS {
            match tmp.persist(path) {
                Ok(_) => return Ok(len),
                Err(e) if e.error.kind() == io::ErrorKind::NotFound => {
                    tmp = e.file;
                    fs::create_dir_all(parent)?;
                }
                Err(e) => return Err(e.error),
            }
        }
        Err(io::Error::other(format!(
            "directory {} kept disappearing",
            parent.display()
        )))
    }

    /// Deletes a cache file and its directory when that became empty.
    pub fn delete(&self, path: &Path) -> io::Result<()> {
        match fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        if let Some(parent) = path.parent() {
            // Fails harmlessly while other files remain; a concurrent writer recreates it.
            let _ = fs::remove_dir(parent);
        }
        Ok(())
    }
}

/// Identity of an open file, to tell whether a path still names the file we read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    pub fn of(meta: &fs::Metadata) -> Self {
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }

    /// Whether `path` names this very file now.
    pub fn is_at(&self, path: &Path) -> bool {
        fs::symlink_metadata(path).is_ok_and(|m| FileId::of(&m) == *self)
    }
}
