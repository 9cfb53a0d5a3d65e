//! The `fuser::Filesystem` implementation: unpacks requests and hands them to [`ops`](super::ops).
//! Everything that could change the tree answers EROFS.

use std::ffi::OsStr;
use std::io;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use fuser::{
    Errno, FileHandle, Filesystem, INodeNo, InitFlags, KernelConfig, LockOwner, Notifier,
    OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty,
    ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};

use super::attr::{Attrs, BLKSIZE};
use super::ops::FsInner;
use super::stats::StatsReport;
use crate::catalog::RepoCatalog;
use crate::read::FileReader;

/// Kernel requests that may be queued in the background (readahead); measured best in
/// `fuse-notes.md` §3.5.
const MAX_BACKGROUND: u16 = 64;
const CONGESTION_THRESHOLD: u16 = 48;
/// How long unmounting waits for the engine to write its queued cache entries.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

/// Filesystem settings.
#[derive(Debug, Clone)]
pub struct FsConfig {
    /// Every read is answered (data or EIO) within this time, whatever the engine does.
    pub read_timeout: Duration,
    /// Deadline of a lookup, listing or open that waits for the Hub.
    pub lookup_timeout: Duration,
    /// Owner of every file (the mounting user by default).
    pub uid: u32,
    pub gid: u32,
}

impl Default for FsConfig {
    fn default() -> Self {
        FsConfig {
            read_timeout: Duration::from_secs(60),
            lookup_timeout: Duration::from_secs(120),
            uid: nix_uid(),
            gid: nix_gid(),
        }
    }
}

fn nix_uid() -> u32 {
    // SAFETY: getuid/getgid cannot fail and have no preconditions.
    unsafe { libc::getuid() }
}

fn nix_gid() -> u32 {
    // SAFETY: as above.
    unsafe { libc::getgid() }
}

/// The xetfs filesystem, ready to be mounted (see [`super::mount`]).
pub struct XetFs {
    inner: Arc<FsInner>,
}

/// A handle on a mounted [`XetFs`] for its owner: notifier wiring and counters.
#[derive(Clone)]
pub struct FsControl {
    inner: Arc<FsInner>,
}

impl XetFs {
    /// Builds the filesystem. `runtime` runs reads and Hub lookups; the engine's invalidation
    /// hook is registered here.
    pub fn new(
        catalog: Arc<dyn RepoCatalog>,
        reader: Arc<dyn FileReader>,
        runtime: tokio::runtime::Handle,
        config: FsConfig,
    ) -> Self {
        let inner = Arc::new(FsInner {
            catalog,
            reader: reader.clone(),
            rt: runtime,
            inodes: Default::default(),
            handles: Default::default(),
            used: Default::default(),
            attrs: Attrs {
                uid: config.uid,
                gid: config.gid,
                mount_time: SystemTime::now(),
            },
            read_timeout: config.read_timeout,
            lookup_timeout: config.lookup_timeout,
            notifier: OnceLock::new(),
            stats: Default::default(),
        });
        // Weak: the reader must not keep the filesystem alive.
        let weak = Arc::downgrade(&inner);
        reader.set_invalidation_hook(Arc::new(move |desc| {
            if let Some(fs) = weak.upgrade() {
                fs.invalidate(desc);
            }
        }));
        XetFs { inner }
    }

    pub fn control(&self) -> FsControl {
        FsControl {
            inner: self.inner.clone(),
        }
    }
}

impl FsControl {
    /// Lets the filesystem drop the kernel's page cache of files the engine found corrupt.
    pub fn set_notifier(&self, notifier: Notifier) {
        let _ = self.inner.notifier.set(notifier);
    }

    /// What `.xetfs-stats` shows.
    pub fn stats(&self) -> StatsReport {
        self.inner.stats()
    }
}

fn name_str(name: &OsStr) -> Option<&str> {
    name.to_str()
}

impl Filesystem for XetFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> io::Result<()> {
        if let Err(nearest) = config.set_max_background(MAX_BACKGROUND) {
            tracing::warn!(nearest, "max_background {MAX_BACKGROUND} refused");
        }
        if let Err(nearest) = config.set_congestion_threshold(CONGESTION_THRESHOLD) {
            tracing::warn!(
                nearest,
                "congestion_threshold {CONGESTION_THRESHOLD} refused"
            );
        }
        // Directory operations may wait for the Hub: do not let the kernel serialize them per
        // directory (one slow repo must not hold up its neighbours).
        if config
            .add_capabilities(InitFlags::FUSE_PARALLEL_DIROPS)
            .is_err()
        {
            tracing::debug!("the kernel does not offer FUSE_PARALLEL_DIROPS");
        }
        Ok(())
    }

    /// The session ended (unmounted): let the engine write what it queued for the disk caches.
    fn destroy(&mut self) {
        let reader = self.inner.reader.clone();
        let flushed = self
            .inner
            .rt
            .block_on(async move { tokio::time::timeout(FLUSH_TIMEOUT, reader.flush()).await });
        if flushed.is_err() {
            tracing::warn!("the engine did not finish writing its caches within {FLUSH_TIMEOUT:?}");
        }
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        match name_str(name) {
            Some(name) => self.inner.lookup(parent.0, name, reply),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.inner.inodes.forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        self.inner.getattr(ino.0, reply);
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        self.inner.open(ino.0, flags, reply);
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        self.inner.read(fh.0, offset, size, reply);
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.inner.release(fh.0);
        reply.ok();
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lo: LockOwner,
        reply: ReplyEmpty,
    ) {
        // Nothing to flush; ENOSYS makes the kernel stop asking.
        reply.error(Errno::ENOSYS);
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        self.inner.opendir(ino.0, reply);
    }

    fn readdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        reply: ReplyDirectory,
    ) {
        self.inner.readdir(fh.0, offset, reply);
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.inner.release(fh.0);
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let files = self.inner.inodes.len() as u64;
        reply.statfs(0, 0, 0, files, 0, BLKSIZE, 255, BLKSIZE);
    }

    fn getxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _size: u32,
        reply: ReplyXattr,
    ) {
        // No extended attributes; ENOSYS makes the kernel stop asking.
        reply.error(Errno::ENOSYS);
    }

    fn listxattr(&self, _req: &Request, _ino: INodeNo, _size: u32, reply: ReplyXattr) {
        reply.error(Errno::ENOSYS);
    }

    // Everything below would modify the tree.

    fn setattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        _size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        reply.error(Errno::EROFS);
    }

    fn mknod(
        &self,
        _req: &Request,
        _p: INodeNo,
        _n: &OsStr,
        _m: u32,
        _u: u32,
        _r: u32,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EROFS);
    }

    fn mkdir(&self, _req: &Request, _p: INodeNo, _n: &OsStr, _m: u32, _u: u32, reply: ReplyEntry) {
        reply.error(Errno::EROFS);
    }

    fn unlink(&self, _req: &Request, _p: INodeNo, _n: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS);
    }

    fn rmdir(&self, _req: &Request, _p: INodeNo, _n: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS);
    }

    fn symlink(&self, _req: &Request, _p: INodeNo, _n: &OsStr, _t: &Path, reply: ReplyEntry) {
        reply.error(Errno::EROFS);
    }

    fn rename(
        &self,
        _req: &Request,
        _p: INodeNo,
        _n: &OsStr,
        _np: INodeNo,
        _nn: &OsStr,
        _f: RenameFlags,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::EROFS);
    }

    fn link(&self, _req: &Request, _i: INodeNo, _np: INodeNo, _nn: &OsStr, reply: ReplyEntry) {
        reply.error(Errno::EROFS);
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _offset: u64,
        _data: &[u8],
        _wf: WriteFlags,
        _flags: OpenFlags,
        _lo: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        reply.error(Errno::EROFS);
    }

    fn create(
        &self,
        _req: &Request,
        _p: INodeNo,
        _n: &OsStr,
        _m: u32,
        _u: u32,
        _f: i32,
        reply: ReplyCreate,
    ) {
        reply.error(Errno::EROFS);
    }

    fn setxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _n: &OsStr,
        _v: &[u8],
        _f: i32,
        _p: u32,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::EROFS);
    }

    fn removexattr(&self, _req: &Request, _ino: INodeNo, _n: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS);
    }
}
