//! OPENDIR and READDIR: a listing is taken at opendir and paged from the handle.

use std::sync::Arc;

use fuser::{Errno, FileHandle, FileType, FopenFlags, INodeNo, ReplyDirectory, ReplyOpen};

use super::errno::for_lookup;
use super::handles::{DirEntry, Handle};
use super::inode::{Ino, Key, Node, RepoMount, DATASETS_INO, ROOT_INO};
use super::namespace::DATASETS_DIR;
use super::ops::{file_key, FsInner};
use crate::catalog::SnapshotEntry;
use crate::hub::RepoType;

impl FsInner {
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
                    return reply.error(for_lookup(&e));
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
}

fn dir_entry(ino: Ino, kind: FileType, name: &str) -> DirEntry {
    DirEntry {
        ino,
        kind,
        name: name.to_string(),
    }
}
