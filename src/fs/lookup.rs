//! LOOKUP and GETATTR: names → inodes, inodes → attributes.

use std::sync::Arc;
use std::time::Duration;

use fuser::{Errno, Generation, ReplyAttr, ReplyEntry};

use super::attr::LONG_TTL;
use super::errno::for_lookup;
use super::inode::{Ino, Key, Node, RepoMount, DATASETS_INO, STATS_INO};
use super::namespace::{self, RootName};
use super::ops::{file_key, FsInner};
use crate::catalog::SnapshotEntry;
use crate::hub::{is_commit_id, RepoType};
use crate::metrics::inc;

impl FsInner {
    pub fn lookup(self: &Arc<Self>, parent: Ino, name: &str, reply: ReplyEntry) {
        inc(&self.stats.lookups);
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
        inc(&self.stats.fast_enoent);
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
        inc(&self.stats.hub_lookups);
        let fs = self.clone();
        let (org, name) = (org.to_string(), name.to_string());
        self.rt.spawn(async move {
            match fs
                .deadline(fs.catalog.snapshot(&parsed.repo, &parsed.rev))
                .await
            {
                Ok(snap) => {
                    let pinned = is_commit_id(&parsed.rev);
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
                    reply.error(for_lookup(&e));
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
                    return reply.error(for_lookup(&e));
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
}
