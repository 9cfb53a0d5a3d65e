//! What each FUSE operation does. Answers come inline when everything needed is in memory;
//! anything that waits for the Hub or the engine runs in a tokio task that owns the reply, so a
//! FUSE thread never blocks on the network. Every such task has a deadline.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use fuser::{
    Errno, FileHandle, FileType, FopenFlags, Generation, INodeNo, Notifier, OpenAccMode, OpenFlags,
};
use fuser::{ReplyAttr, ReplyData, ReplyDirectory, ReplyEntry, ReplyOpen};

use super::attr::{errno_for, Attrs, LONG_TTL};
use super::handles::{DirEntry, Handle, Handles};
use super::inode::{Ino, InodeTable, Key, Node, RepoMount, DATASETS_INO, ROOT_INO, STATS_INO};
use super::namespace::{self, RootName, UsedRepos, DATASETS_DIR};
use super::stats::{add, bump, FsStats};
use crate::read::catalog::Catalog;
use crate::read::snapshot::{RepoSnapshot, SnapshotEntry, SnapshotFile};
use crate::read::{FileDesc, FileReader};
use crate::remote::{RemoteError, RepoType};

pub(super) struct FsInner {
    pub catalog: Arc<Catalog>,
    pub reader: Arc<dyn FileReader>,
    pub rt: tokio::runtime::Handle,
    pub inodes: InodeTable,
    pub handles: Handles,
    pub used: UsedRepos,
    pub attrs: Attrs,
    pub read_timeout: Duration,
    pub lookup_timeout: Duration,
    pub notifier: OnceLock<Notifier>,
    pub stats: FsStats,
}

type SnapResult = Result<Arc<RepoSnapshot>, RemoteError>;

impl FsInner {
    pub fn lookup(self: &Arc<Self>, parent: Ino, name: &str, reply: ReplyEntry) {
        bump(&self.stats.lookups);
        let Some(node) = self.inodes.get(parent) else {
            return reply.error(Errno::ENOENT);
        };
        match node {
            Node::Root => match namespace::parse_root(name) {
                Some(RootName::Stats) => {
                    let attr = self.attrs.file(STATS_INO, 0, self.attrs.mount_time);
                    reply.entry(&Duration::ZERO, &attr, Generation(0));
                }
                Some(RootName::Datasets) => {
                    let attr = self.attrs.dir(DATASETS_INO, self.attrs.mount_time);
                    reply.entry(&LONG_TTL, &attr, Generation(0));
                }
                Some(RootName::Org(org)) => self.org_entry(RepoType::Model, org, reply),
                None => self.fast_enoent(reply),
            },
            Node::Datasets if namespace::is_org_name(name) => {
                self.org_entry(RepoType::Dataset, name.to_string(), reply)
            }
            Node::Datasets => self.fast_enoent(reply),
            Node::Org { kind, org } => self.lookup_repo(kind, &org, name, reply),
            Node::Repo(repo) => self.lookup_in_repo(repo, "".into(), name, reply),
            Node::Dir { repo, path } => self.lookup_in_repo(repo, path, name, reply),
            Node::File(_) | Node::Stats => reply.error(Errno::ENOTDIR),
        }
    }

    fn fast_enoent(&self, reply: ReplyEntry) {
        bump(&self.stats.fast_enoent);
        reply.error(Errno::ENOENT);
    }

    /// Org directories are virtual: they exist for any plausible name, without a Hub call.
    fn org_entry(&self, kind: RepoType, org: String, reply: ReplyEntry) {
        let key = Key::Org(kind, org.clone());
        let (ino, _) = self.inodes.lookup(key, |_| Node::Org {
            kind,
            org: org.into(),
        });
        let attr = self.attrs.dir(ino, self.attrs.mount_time);
        reply.entry(&LONG_TTL, &attr, Generation(0));
    }

    fn lookup_repo(self: &Arc<Self>, kind: RepoType, org: &str, name: &str, reply: ReplyEntry) {
        let Some(parsed) = namespace::parse_repo_dir(kind, org, name) else {
            return self.fast_enoent(reply);
        };
        let key = Key::Repo(kind, org.to_string(), name.to_string());
        if let Some((ino, Node::Repo(repo))) = self.inodes.lookup_existing(&key) {
            return self.reply_repo(ino, &repo, reply);
        }
        bump(&self.stats.hub_lookups);
        let fs = self.clone();
        let (org, name) = (org.to_string(), name.to_string());
        self.rt.spawn(async move {
            match fs
                .deadline(fs.catalog.snapshot(&parsed.repo, &parsed.rev))
                .await
            {
                Ok(snap) => {
                    let pinned = Catalog::is_commit(&parsed.rev);
                    let (ino, node) = fs.inodes.lookup(key, |ino| {
                        Node::Repo(Arc::new(RepoMount::new(
                            ino,
                            parsed.repo,
                            parsed.rev,
                            pinned,
                            snap,
                        )))
                    });
                    fs.used.add(kind, &org, &name);
                    let Node::Repo(repo) = node else {
                        unreachable!("repo keys hold repo nodes")
                    };
                    fs.reply_repo(ino, &repo, reply);
                }
                Err(e) => {
                    fs.hub_error(&format!("{org}/{name}"), &e);
                    reply.error(errno_for(&e));
                }
            }
        });
    }

    fn reply_repo(&self, ino: Ino, repo: &RepoMount, reply: ReplyEntry) {
        let attr = self.attrs.dir(ino, repo.latest().first_seen);
        reply.entry_with_ttls(&self.repo_ttl(repo), &LONG_TTL, &attr, Generation(0));
    }

    fn lookup_in_repo(
        self: &Arc<Self>,
        repo: Arc<RepoMount>,
        dir: Arc<str>,
        name: &str,
        reply: ReplyEntry,
    ) {
        let name = name.to_string();
        self.with_snapshot(repo.clone(), reply, move |fs, snap, reply| {
            let snap = match snap {
                Ok(s) => s,
                Err(e) => {
                    fs.hub_error(&format!("{}@{}", repo.repo, repo.rev), &e);
                    return reply.error(errno_for(&e));
                }
            };
            let ttl = fs.repo_ttl(&repo);
            match snap.child(&dir, &name) {
                None => reply.error(Errno::ENOENT),
                Some(SnapshotEntry::Dir(path)) => {
                    let key = Key::Dir(repo.ino, path.to_string());
                    let path = path.clone();
                    let (ino, _) = fs.inodes.lookup(key, |_| Node::Dir {
                        repo: repo.clone(),
                        path,
                    });
                    let attr = fs.attrs.dir(ino, snap.first_seen);
                    reply.entry(&ttl, &attr, Generation(0));
                }
                Some(SnapshotEntry::File(file)) => {
                    let (ino, node) = fs
                        .inodes
                        .lookup(file_key(file), |_| Node::File(file.clone()));
                    let Node::File(known) = node else {
                        unreachable!("file keys hold file nodes")
                    };
                    let attr = fs.attrs.file(ino, known.size, known.first_seen);
                    // The name may point elsewhere after the branch moves; the inode's content
                    // never changes.
                    reply.entry_with_ttls(&LONG_TTL, &ttl, &attr, Generation(0));
                }
            }
        });
    }

    pub fn getattr(&self, ino: Ino, reply: ReplyAttr) {
        let Some(node) = self.inodes.get(ino) else {
            return reply.error(Errno::ENOENT);
        };
        let mount_time = self.attrs.mount_time;
        match node {
            Node::Root | Node::Datasets | Node::Org { .. } => {
                reply.attr(&LONG_TTL, &self.attrs.dir(ino, mount_time))
            }
            Node::Stats => reply.attr(&Duration::ZERO, &self.attrs.file(ino, 0, mount_time)),
            Node::Repo(repo) | Node::Dir { repo, .. } => {
                let attr = self.attrs.dir(ino, repo.latest().first_seen);
                reply.attr(&self.repo_ttl(&repo), &attr)
            }
            Node::File(f) => reply.attr(&LONG_TTL, &self.attrs.file(ino, f.size, f.first_seen)),
        }
    }

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
                let fh = self.handles.insert(Handle::Stats(self.stats_json().into()));
                reply.opened(FileHandle(fh), FopenFlags::FOPEN_DIRECT_IO);
            }
            Some(_) => reply.error(Errno::EISDIR),
        }
    }

    fn open_file(&self, desc: Arc<FileDesc>, reply: ReplyOpen) {
        bump(&self.stats.opens);
        let fh = self.handles.insert(Handle::File { desc });
        // Content per inode is immutable: keep the page cache across opens.
        reply.opened(FileHandle(fh), FopenFlags::FOPEN_KEEP_CACHE);
    }

    /// The listing hid the Xet hash: one resolve HEAD, in a task.
    fn open_redacted(self: &Arc<Self>, file: Arc<SnapshotFile>, reply: ReplyOpen) {
        bump(&self.stats.hub_lookups);
        let fs = self.clone();
        self.rt.spawn(async move {
            match fs.deadline(fs.catalog.file_desc(&file)).await {
                Ok(desc) => fs.open_file(desc, reply),
                Err(e) => {
                    fs.hub_error(&format!("{}/{}", file.scope.repo, file.path), &e);
                    reply.error(errno_for(&e));
                }
            }
        });
    }

    pub fn read(self: &Arc<Self>, fh: u64, offset: u64, size: u32, reply: ReplyData) {
        let Some(handle) = self.handles.get(fh) else {
            return reply.error(Errno::EBADF);
        };
        let desc = match &*handle {
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
        bump(&self.stats.reads);
        let fs = self.clone();
        self.rt.spawn(async move {
            // The engine has its own deadline; this one is the last line, so that a reply is
            // always sent.
            let result = tokio::time::timeout(fs.read_timeout, fs.reader.read(&desc, offset, len, fh)).await;
            match result {
                Ok(Ok(bytes)) if bytes.len() == len as usize => {
                    add(&fs.stats.read_bytes, u64::from(len));
                    reply.data(&bytes);
                }
                Ok(Ok(bytes)) => {
                    // Short data would be zero-filled by the kernel: never serve it.
                    bump(&fs.stats.short_reads);
                    tracing::error!(path = %desc.path, offset, len, got = bytes.len(), "engine returned a wrong length");
                    reply.error(Errno::EIO);
                }
                Ok(Err(e)) => {
                    bump(&fs.stats.read_errors);
                    tracing::warn!(repo = %desc.scope.repo, path = %desc.path, offset, len, error = %e, "read failed");
                    reply.error(Errno::EIO);
                }
                Err(_) => {
                    bump(&fs.stats.read_timeouts);
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

    pub fn opendir(self: &Arc<Self>, ino: Ino, reply: ReplyOpen) {
        let Some(node) = self.inodes.get(ino) else {
            return reply.error(Errno::ENOENT);
        };
        let mut entries = vec![
            dir_entry(ino, FileType::Directory, "."),
            dir_entry(ROOT_INO, FileType::Directory, ".."),
        ];
        match node {
            Node::Root => {
                if !self.used.orgs(RepoType::Dataset).is_empty() {
                    entries.push(dir_entry(DATASETS_INO, FileType::Directory, DATASETS_DIR));
                }
                self.push_orgs(RepoType::Model, &mut entries);
            }
            Node::Datasets => self.push_orgs(RepoType::Dataset, &mut entries),
            Node::Org { kind, org } => {
                for name in self.used.repos(kind, &org) {
                    let key = Key::Repo(kind, org.to_string(), name.clone());
                    if let Some((ino, _)) = self.inodes.find(&key) {
                        entries.push(dir_entry(ino, FileType::Directory, &name));
                    }
                }
            }
            Node::Repo(repo) => return self.opendir_in_repo(repo, "".into(), entries, reply),
            Node::Dir { repo, path } => return self.opendir_in_repo(repo, path, entries, reply),
            Node::File(_) | Node::Stats => return reply.error(Errno::ENOTDIR),
        }
        self.reply_dir(entries, reply);
    }

    fn push_orgs(&self, kind: RepoType, entries: &mut Vec<DirEntry>) {
        for org in self.used.orgs(kind) {
            let ino = self
                .inodes
                .peek(Key::Org(kind, org.clone()), |_| Node::Org {
                    kind,
                    org: org.as_str().into(),
                });
            entries.push(dir_entry(ino, FileType::Directory, &org));
        }
    }

    fn opendir_in_repo(
        self: &Arc<Self>,
        repo: Arc<RepoMount>,
        dir: Arc<str>,
        mut entries: Vec<DirEntry>,
        reply: ReplyOpen,
    ) {
        self.with_snapshot(repo.clone(), reply, move |fs, snap, reply| {
            let snap = match snap {
                Ok(s) => s,
                Err(e) => {
                    fs.hub_error(&format!("{}@{}", repo.repo, repo.rev), &e);
                    return reply.error(errno_for(&e));
                }
            };
            let Some(children) = snap.dir(&dir) else {
                return reply.error(Errno::ENOENT);
            };
            for (name, child) in children {
                let (ino, kind) = match child {
                    SnapshotEntry::Dir(path) => {
                        let key = Key::Dir(repo.ino, path.to_string());
                        let ino = fs.inodes.peek(key, |_| Node::Dir {
                            repo: repo.clone(),
                            path: path.clone(),
                        });
                        (ino, FileType::Directory)
                    }
                    SnapshotEntry::File(file) => {
                        let ino = fs.inodes.peek(file_key(file), |_| Node::File(file.clone()));
                        (ino, FileType::RegularFile)
                    }
                };
                entries.push(dir_entry(ino, kind, name));
            }
            fs.reply_dir(entries, reply);
        });
    }

    fn reply_dir(&self, entries: Vec<DirEntry>, reply: ReplyOpen) {
        let fh = self.handles.insert(Handle::Dir(entries));
        reply.opened(FileHandle(fh), FopenFlags::empty());
    }

    pub fn readdir(&self, fh: u64, offset: u64, mut reply: ReplyDirectory) {
        let Some(handle) = self.handles.get(fh) else {
            return reply.error(Errno::EBADF);
        };
        let Handle::Dir(entries) = &*handle else {
            return reply.error(Errno::ENOTDIR);
        };
        for (i, e) in entries.iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(e.ino), i as u64 + 1, e.kind, &e.name) {
                break;
            }
        }
        reply.ok();
    }

    /// Runs `then` with the current snapshot of `repo`: inline when the catalog has it fresh,
    /// else in a task after asking the Hub (with a deadline).
    fn with_snapshot<R: Send + 'static>(
        self: &Arc<Self>,
        repo: Arc<RepoMount>,
        reply: R,
        then: impl FnOnce(&Arc<Self>, SnapResult, R) + Send + 'static,
    ) {
        if let Some(snap) = self.catalog.fresh_snapshot(&repo.repo, &repo.rev) {
            repo.set_latest(&snap);
            return then(self, Ok(snap), reply);
        }
        bump(&self.stats.hub_lookups);
        let fs = self.clone();
        self.rt.spawn(async move {
            let result = fs
                .deadline(fs.catalog.snapshot(&repo.repo, &repo.rev))
                .await;
            if let Ok(snap) = &result {
                repo.set_latest(snap);
            }
            then(&fs, result, reply);
        });
    }

    async fn deadline<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, RemoteError>>,
    ) -> Result<T, RemoteError> {
        tokio::time::timeout(self.lookup_timeout, f)
            .await
            .unwrap_or_else(|_| {
                Err(RemoteError::Timeout(format!(
                    "Hub lookup took over {:?}",
                    self.lookup_timeout
                )))
            })
    }

    fn repo_ttl(&self, repo: &RepoMount) -> Duration {
        if repo.pinned {
            LONG_TTL
        } else {
            self.catalog.metadata_ttl()
        }
    }

    fn hub_error(&self, what: &str, e: &RemoteError) {
        if !matches!(e, RemoteError::NotFound(_)) {
            bump(&self.stats.lookup_errors);
            tracing::warn!(what, error = %e, "Hub lookup failed");
        }
    }

    /// Drops the kernel's cached pages of every inode with `desc`'s content.
    pub fn invalidate(&self, desc: &FileDesc) {
        let inos = self.inodes.files_with_content(&desc.content);
        add(&self.stats.invalidations, inos.len() as u64);
        tracing::warn!(path = %desc.path, inodes = inos.len(), "dropping cached pages of a file that failed verification");
        let Some(notifier) = self.notifier.get().cloned() else {
            return;
        };
        // Off the FUSE and tokio threads: the kernel may wait for pages locked by a read that
        // one of them is about to answer.
        std::thread::spawn(move || {
            for ino in inos {
                if let Err(e) = notifier.inval_inode(INodeNo(ino), 0, 0) {
                    tracing::debug!(ino, error = %e, "inval_inode failed");
                }
            }
        });
    }

    pub fn stats_json(&self) -> String {
        let mut fs = self.stats.json();
        fs.insert("inodes".into(), self.inodes.len().into());
        fs.insert("open_handles".into(), self.handles.len().into());
        let reader = self.reader.stats_json();
        let reader = serde_json::from_str(&reader).unwrap_or(serde_json::Value::String(reader));
        let all = serde_json::json!({
            "pid": std::process::id(),
            "fs": fs,
            "catalog": self.catalog.stats_json(),
            "reader": reader,
        });
        format!("{all:#}\n")
    }
}

fn file_key(file: &SnapshotFile) -> Key {
    Key::File(file.scope.repo.clone(), file.path.clone(), file.oid.clone())
}

fn dir_entry(ino: Ino, kind: FileType, name: &str) -> DirEntry {
    DirEntry {
        ino,
        kind,
        name: name.to_string(),
    }
}
