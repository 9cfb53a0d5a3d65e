//! File attributes and cache lifetimes handed to the kernel.

use std::time::{Duration, SystemTime};

use fuser::{FileAttr, FileType, INodeNo};

use super::inode::Ino;

/// `stat` block size: tools such as `cp` size their buffers from it.
pub const BLKSIZE: u32 = 1 << 20;
/// Lifetime of attributes and names that cannot change (file contents per inode, pinned
/// commits, the fixed top-level directories).
pub const LONG_TTL: Duration = Duration::from_secs(24 * 3600);

/// Owner and the fallback timestamp of synthetic directories.
#[derive(Debug, Clone, Copy)]
pub struct Attrs {
    pub uid: u32,
    pub gid: u32,
    /// mtime of the root, `datasets/` and org directories.
    pub mount_time: SystemTime,
}

impl Attrs {
    pub fn dir(&self, ino: Ino, mtime: SystemTime) -> FileAttr {
        self.attr(ino, FileType::Directory, 0o555, 0, 2, mtime)
    }

    pub fn file(&self, ino: Ino, size: u64, mtime: SystemTime) -> FileAttr {
        self.attr(ino, FileType::RegularFile, 0o444, size, 1, mtime)
    }

    fn attr(
        &self,
        ino: Ino,
        kind: FileType,
        perm: u16,
        size: u64,
        nlink: u32,
        mtime: SystemTime,
    ) -> FileAttr {
        FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: size.div_ceil(512),
            atime: mtime,
            mtime,
            ctime: mtime,
            crtime: mtime,
            kind,
            perm,
            nlink,
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            blksize: BLKSIZE,
            flags: 0,
        }
    }
}
