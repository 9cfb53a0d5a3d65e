//! Inode numbers and what they stand for.
//!
//! Numbers are never reused. A name keeps its number while the kernel remembers it:
//! - a repo directory is keyed by its directory name (`org/name@rev`), so it is stable;
//! - a directory inside a repo by (repo directory, path);
//! - a file by (repo, path, git oid): the oid changes exactly when the content changes, so a
//!   branch that moves gives changed files new inodes (with an empty page cache) while unchanged
//!   files keep theirs, and the same file seen through `name`, `name@main` or `name@<commit>` is
//!   one inode (one page cache).

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::catalog::{RepoSnapshot, SnapshotFile};
use crate::hub::{FileContent, RepoId, RepoType};

pub type Ino = u64;
pub const ROOT_INO: Ino = 1;
pub const STATS_INO: Ino = 2;
pub const DATASETS_INO: Ino = 3;
const FIRST_DYNAMIC_INO: Ino = 16;

/// What an inode is.
#[derive(Debug, Clone)]
pub enum Node {
    Root,
    Datasets,
    Stats,
    /// A user or org directory (virtual: it lists the repos used in it).
    Org {
        kind: RepoType,
        org: Arc<str>,
    },
    /// The root directory of a repo at a revision.
    Repo(Arc<RepoMount>),
    /// A directory inside a repo.
    Dir {
        repo: Arc<RepoMount>,
        path: Arc<str>,
    },
    File(Arc<SnapshotFile>),
}

/// A repo at a revision, as mounted under one directory name.
#[derive(Debug)]
pub struct RepoMount {
    /// Inode of the repo's root directory.
    pub ino: Ino,
    pub repo: RepoId,
    pub rev: String,
    /// The revision is a commit: nothing under it can change.
    pub pinned: bool,
    /// Most recent snapshot seen (directory attributes come from it).
    latest: RwLock<Arc<RepoSnapshot>>,
}

impl RepoMount {
    pub fn new(ino: Ino, repo: RepoId, rev: String, pinned: bool, snap: Arc<RepoSnapshot>) -> Self {
        RepoMount {
            ino,
            repo,
            rev,
            pinned,
            latest: RwLock::new(snap),
        }
    }

    pub fn latest(&self) -> Arc<RepoSnapshot> {
        self.latest.read().clone()
    }

    pub fn set_latest(&self, snap: &Arc<RepoSnapshot>) {
        if !Arc::ptr_eq(&self.latest.read(), snap) {
            *self.latest.write() = snap.clone();
        }
    }
}

/// Identity of a dynamic inode.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    Org(RepoType, String),
    /// (kind, org, directory name as written).
    Repo(RepoType, String, String),
    /// (repo root inode, path).
    Dir(Ino, String),
    /// (repo, path, git oid).
    File(RepoId, String, String),
}

impl Key {
    /// Org and repo directories live as long as the mount: `ls` must keep listing them with
    /// the same numbers.
    fn is_permanent(&self) -> bool {
        matches!(self, Key::Org(..) | Key::Repo(..))
    }
}

struct Slot {
    node: Node,
    key: Option<Key>,
    /// Lookups the kernel has not forgotten yet.
    lookups: u64,
}

struct Inner {
    slots: HashMap<Ino, Slot>,
    keys: HashMap<Key, Ino>,
    next: Ino,
}

/// The inode table: number → node, identity → number.
pub struct InodeTable {
    inner: Mutex<Inner>,
}

impl Default for InodeTable {
    fn default() -> Self {
        let mut slots = HashMap::new();
        for (ino, node) in [
            (ROOT_INO, Node::Root),
            (STATS_INO, Node::Stats),
            (DATASETS_INO, Node::Datasets),
        ] {
            slots.insert(
                ino,
                Slot {
                    node,
                    key: None,
                    lookups: 0,
                },
            );
        }
        InodeTable {
            inner: Mutex::new(Inner {
                slots,
                keys: HashMap::new(),
                next: FIRST_DYNAMIC_INO,
            }),
        }
    }
}

impl InodeTable {
    pub fn get(&self, ino: Ino) -> Option<Node> {
        self.inner.lock().slots.get(&ino).map(|s| s.node.clone())
    }

    /// The inode for `key`, created with `make(ino)` if new, counting one kernel lookup (call
    /// exactly when replying to LOOKUP with it).
    pub fn lookup(&self, key: Key, make: impl FnOnce(Ino) -> Node) -> (Ino, Node) {
        self.get_or_insert(key, make, 1)
    }

    /// Like [`lookup`](Self::lookup) without counting (directory listings).
    pub fn peek(&self, key: Key, make: impl FnOnce(Ino) -> Node) -> Ino {
        self.get_or_insert(key, make, 0).0
    }

    /// The existing inode for `key`, counting one kernel lookup; `None` if there is none.
    pub fn lookup_existing(&self, key: &Key) -> Option<(Ino, Node)> {
        let mut inner = self.inner.lock();
        let ino = *inner.keys.get(key)?;
        let slot = inner.slots.get_mut(&ino)?;
        slot.lookups += 1;
        Some((ino, slot.node.clone()))
    }

    /// The existing inode for `key`, without creating one.
    pub fn find(&self, key: &Key) -> Option<(Ino, Node)> {
        let inner = self.inner.lock();
        let ino = *inner.keys.get(key)?;
        Some((ino, inner.slots.get(&ino)?.node.clone()))
    }

    fn get_or_insert(&self, key: Key, make: impl FnOnce(Ino) -> Node, count: u64) -> (Ino, Node) {
        let mut inner = self.inner.lock();
        if let Some(&ino) = inner.keys.get(&key) {
            let slot = inner.slots.get_mut(&ino).expect("keys and slots agree");
            slot.lookups += count;
            return (ino, slot.node.clone());
        }
        let ino = inner.next;
        inner.next += 1;
        let node = make(ino);
        inner.keys.insert(key.clone(), ino);
        inner.slots.insert(
            ino,
            Slot {
                node: node.clone(),
                key: Some(key),
                lookups: count,
            },
        );
        (ino, node)
    }

    /// The kernel dropped `n` lookups of `ino`; the inode goes when none are left.
    pub fn forget(&self, ino: Ino, n: u64) {
        let mut inner = self.inner.lock();
        let Some(slot) = inner.slots.get_mut(&ino) else {
            return;
        };
        slot.lookups = slot.lookups.saturating_sub(n);
        let removable = slot.lookups == 0 && slot.key.as_ref().is_some_and(|k| !k.is_permanent());
        if removable {
            let slot = inner.slots.remove(&ino).expect("just seen");
            if let Some(key) = slot.key {
                inner.keys.remove(&key);
            }
        }
    }

    /// File inodes whose content is `content` (whatever their path or revision).
    pub fn files_with_content(&self, content: &FileContent) -> Vec<Ino> {
        self.inner
            .lock()
            .slots
            .iter()
            .filter_map(|(ino, slot)| match &slot.node {
                Node::File(f) if f.desc_if_known().is_some_and(|d| &d.content == content) => {
                    Some(*ino)
                }
                _ => None,
            })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.inner.lock().slots.len()
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::catalog::SnapshotEntry;
    use crate::hub::{EntryKind, RepoScope, TreeEntry};

    fn snapshot(commit: char, oid: &str) -> Arc<RepoSnapshot> {
        let entry = TreeEntry {
            path: "f.bin".into(),
            kind: EntryKind::File,
            size: 1,
            oid: oid.into(),
            xet_hash: None,
            xet_redacted: false,
            lfs_sha256: None,
        };
        let scope = RepoScope {
            repo: RepoId::model("o/n"),
            commit: commit.to_string().repeat(40),
        };
        Arc::new(RepoSnapshot::build(scope, SystemTime::UNIX_EPOCH, &[entry]))
    }

    fn file_of(snap: &RepoSnapshot) -> Arc<SnapshotFile> {
        match snap.child("", "f.bin") {
            Some(SnapshotEntry::File(f)) => f.clone(),
            _ => panic!(),
        }
    }

    fn file_key(f: &SnapshotFile) -> Key {
        Key::File(f.scope.repo.clone(), f.path.clone(), f.oid.clone())
    }

    #[test]
    fn same_identity_same_inode_and_branch_move_gives_new_one() {
        let table = InodeTable::default();
        let (v1, v1b, v2) = (
            snapshot('a', "oid1"),
            snapshot('b', "oid1"),
            snapshot('c', "oid2"),
        );
        let lookup = |s: &Arc<RepoSnapshot>| {
            let f = file_of(s);
            table.lookup(file_key(&f), |_| Node::File(f)).0
        };
        let first = lookup(&v1);
        // Another commit with the same content: same inode.
        assert_eq!(lookup(&v1b), first);
        // The branch moved and the file changed: new inode, the old one still valid.
        let changed = lookup(&v2);
        assert_ne!(changed, first);
        assert!(matches!(table.get(first), Some(Node::File(f)) if f.oid == "oid1"));
        assert!(first >= FIRST_DYNAMIC_INO && changed > first);
    }

    #[test]
    fn forget_removes_only_when_all_lookups_are_forgotten() {
        let table = InodeTable::default();
        let f = file_of(&snapshot('a', "oid1"));
        let key = file_key(&f);
        let (ino, _) = table.lookup(key.clone(), |_| Node::File(f.clone()));
        table.lookup(key.clone(), |_| unreachable!("exists"));
        table.forget(ino, 1);
        assert!(table.get(ino).is_some());
        table.forget(ino, 1);
        assert!(table.get(ino).is_none());
        // Numbers are never reused.
        let (again, _) = table.lookup(key, |_| Node::File(f));
        assert_ne!(again, ino);
        // Fixed and permanent inodes survive forget.
        table.forget(ROOT_INO, 5);
        assert!(matches!(table.get(ROOT_INO), Some(Node::Root)));
        let (org, _) = table.lookup(Key::Org(RepoType::Model, "o".into()), |_| Node::Org {
            kind: RepoType::Model,
            org: "o".into(),
        });
        table.forget(org, 1);
        assert!(table.get(org).is_some());
    }

    #[test]
    fn finds_files_by_content() {
        let table = InodeTable::default();
        let f = file_of(&snapshot('a', "oid1"));
        let (ino, _) = table.lookup(file_key(&f), |_| Node::File(f.clone()));
        let content = f.desc_if_known().unwrap().content.clone();
        assert_eq!(table.files_with_content(&content), [ino]);
        let other = FileContent::Plain {
            oid: "nope".into(),
            sha256: None,
        };
        assert!(table.files_with_content(&other).is_empty());
    }
}
