//! OPEN, READ and RELEASE of files (and of `.xetfs-stats`).

use std::sync::Arc;

use fuser::{Errno, FileHandle, FopenFlags, OpenAccMode, OpenFlags, ReplyData, ReplyOpen};

use super::errno::{for_lookup, for_read};
use super::handles::Handle;
use super::inode::{Ino, Node};
use super::ops::FsInner;
use crate::catalog::SnapshotFile;
use crate::hub::FileDesc;
use crate::metrics::{add, inc};

impl FsInner {
    pub fn open(self: &Arc<Self>, ino: Ino, flags: OpenFlags, reply: ReplyOpen) {
        if flags.acc_mode() != OpenAccMode::O_RDONLY || flags.0 & libc::O_TRUNC != 0 {
            return reply.error(Errno::EROFS);
        }
        match self.inodes.get(ino) {
            None => reply.error(Errno::ENOENT),
            Some(Node::File(file)) => match file.desc_if_known() {
                Some(desc) => self.open_file(desc, reply),
                None => self.open_redacted(file, reply),
            },
            Some(Node::Stats) => {
                let fh = self
                    .handles
                    .insert(Handle::Stats(self.stats().to_json().into()));
                reply.opened(FileHandle(fh), FopenFlags::FOPEN_DIRECT_IO);
            }
            Some(_) => reply.error(Errno::EISDIR),
        }
    }

    fn open_file(&self, desc: Arc<FileDesc>, reply: ReplyOpen) {
        inc(&self.stats.opens);
        let fh = self.handles.insert(Handle::File {
            desc,
            poisoned: Default::default(),
        });
        // Content per inode is immutable: keep the page cache across opens.
        reply.opened(FileHandle(fh), FopenFlags::FOPEN_KEEP_CACHE);
    }

    /// The listing hid the Xet hash: one resolve HEAD, in a task.
    fn open_redacted(self: &Arc<Self>, file: Arc<SnapshotFile>, reply: ReplyOpen) {
        inc(&self.stats.hub_lookups);
        let fs = self.clone();
        self.rt.spawn(async move {
            match fs.deadline(fs.catalog.file_desc(&file)).await {
                Ok(desc) => fs.open_file(desc, reply),
                Err(e) => {
                    fs.hub_error(&format!("{}/{}", file.scope.repo, file.path), &e);
                    reply.error(for_lookup(&e));
                }
            }
        });
    }

    pub fn read(self: &Arc<Self>, fh: u64, offset: u64, size: u32, reply: ReplyData) {
        let Some(handle) = self.handles.get(fh) else {
            return reply.error(Errno::EBADF);
        };
        let desc = match &*handle {
            Handle::File { poisoned, .. } if *poisoned.read() => {
                inc(&self.stats.poisoned_reads);
                return reply.error(Errno::EIO);
            }
            Handle::File { desc, .. } => desc.clone(),
            Handle::Stats(bytes) => {
                let start = (offset as usize).min(bytes.len());
                let end = start.saturating_add(size as usize).min(bytes.len());
                return reply.data(&bytes[start..end]);
            }
            Handle::Dir(_) => return reply.error(Errno::EISDIR),
        };
        if offset >= desc.size || size == 0 {
            return reply.data(&[]);
        }
        let len = (desc.size - offset).min(u64::from(size)) as u32;
        inc(&self.stats.reads);
        let fs = self.clone();
        self.rt.spawn(async move {
            // The engine has its own deadline; this one is the last line, so that a reply is
            // always sent.
            let result = tokio::time::timeout(fs.read_timeout, fs.reader.read(&desc, offset, len, fh)).await;
            let Handle::File { poisoned, .. } = &*handle else {
                unreachable!("only file handles get here")
            };
            let poisoned = poisoned.read();
            match result {
                _ if *poisoned => {
                    inc(&fs.stats.poisoned_reads);
                    reply.error(Errno::EIO);
                }
                Ok(Ok(bytes)) if bytes.len() == len as usize => {
                    add(&fs.stats.read_bytes, u64::from(len));
                    reply.data(&bytes);
                }
                Ok(Ok(bytes)) => {
                    // Short data would be zero-filled by the kernel: never serve it.
                    inc(&fs.stats.short_reads);
                    tracing::error!(path = %desc.path, offset, len, got = bytes.len(), "engine returned a wrong length");
                    reply.error(Errno::EIO);
                }
                Ok(Err(e)) => {
                    inc(&fs.stats.read_errors);
                    tracing::warn!(repo = %desc.scope.repo, path = %desc.path, offset, len, error = %e, "read failed");
                    reply.error(for_read(&e));
                }
                Err(_) => {
                    inc(&fs.stats.read_timeouts);
                    tracing::warn!(repo = %desc.scope.repo, path = %desc.path, offset, len, timeout = ?fs.read_timeout, "read timed out");
                    reply.error(Errno::EIO);
                }
            }
        });
    }

    pub fn release(&self, fh: u64) {
        if let Some(handle) = self.handles.remove(fh) {
            if matches!(*handle, Handle::File { .. }) {
                self.reader.release(fh);
            }
        }
    }
}
