//! Test doubles: a Hub that serves listings from memory (`TestHub`) and a `FileReader` that
//! serves bytes from memory (`MemReader`), both counting what they are asked.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use sha1::{Digest, Sha1};
use xetfs::hub::{EntryKind, FileContent, FileDesc, FileMetadata, RepoId, RepoScope, TreeEntry};
use xetfs::read::{FileReader, InvalidationHook, ReadError, StatsSnapshot};
use xetfs::remote::{ByteStream, RangeBody, Remote, RemoteError};
use xetfs::xet::reconstruction::{ByteRange, ReconstructionV2};
use xetfs::xet::{chunk_hash, MerkleHash};

/// A file to put in a test repo.
#[derive(Clone)]
pub struct TestFile {
    pub path: String,
    pub data: Bytes,
    /// Xet-backed (else a plain git/LFS file).
    pub xet: bool,
    /// The listing hides the Xet hash (the fs must ask `file_metadata`).
    pub redacted: bool,
}

impl TestFile {
    pub fn xet(path: &str, data: impl Into<Bytes>) -> Self {
        TestFile {
            path: path.into(),
            data: data.into(),
            xet: true,
            redacted: false,
        }
    }

    pub fn plain(path: &str, data: impl Into<Bytes>) -> Self {
        TestFile {
            xet: false,
            ..TestFile::xet(path, data)
        }
    }

    pub fn oid(&self) -> String {
        hex::encode(Sha1::digest(&self.data))
    }

    /// Stand-in for the Xet file hash: distinct per content, which is all the fs relies on.
    pub fn xet_hash(&self) -> MerkleHash {
        chunk_hash(&self.data)
    }

    /// What the engine is asked to read for this file.
    pub fn content(&self) -> FileContent {
        if self.xet {
            FileContent::Xet {
                hash: self.xet_hash(),
            }
        } else {
            FileContent::Plain {
                oid: self.oid(),
                sha256: None,
            }
        }
    }

    fn entry(&self) -> TreeEntry {
        TreeEntry {
            path: self.path.clone(),
            kind: EntryKind::File,
            size: self.data.len() as u64,
            oid: self.oid(),
            xet_hash: (self.xet && !self.redacted).then(|| self.xet_hash()),
            xet_redacted: self.redacted,
            lfs_sha256: None,
        }
    }
}

/// Deterministic pseudo-random bytes (SplitMix64), so that offsets are distinguishable.
pub fn pseudo_random(len: usize, seed: u64) -> Bytes {
    xetfs::util::splitmix::splitmix_bytes(seed, len).into()
}

/// Closed until [`open`](Gate::open)ed.
pub struct Gate(tokio::sync::Semaphore);

impl Default for Gate {
    fn default() -> Self {
        Gate(tokio::sync::Semaphore::new(0))
    }
}

impl Gate {
    pub fn open(&self) {
        self.0.add_permits(1 << 20);
    }
}

#[derive(Default)]
struct RepoState {
    refs: HashMap<String, String>,
    trees: HashMap<String, Vec<TreeEntry>>,
}

/// The Hub side: repos with refs and commits. Every method counts its calls.
#[derive(Default)]
pub struct TestHub {
    repos: Mutex<HashMap<RepoId, RepoState>>,
    files: Mutex<HashMap<(String, String), TestFile>>,
    /// Fail every call with this error (an unreachable Hub).
    pub fail: Mutex<Option<RemoteError>>,
    /// Resolving these repos waits for a permit of `gate` (a slow Hub).
    pub gated: Mutex<HashSet<RepoId>>,
    pub gate: Gate,
    pub resolves: AtomicU64,
    pub lists: AtomicU64,
    pub heads: AtomicU64,
    next_commit: AtomicU64,
}

impl TestHub {
    /// Creates a commit with `files` in `repo` and points `refs` at it; returns the commit.
    pub fn commit(&self, repo: &RepoId, refs: &[&str], files: &[TestFile]) -> String {
        let n = self.next_commit.fetch_add(1, Ordering::SeqCst) + 1;
        let commit = format!("{n:040x}");
        let mut entries: Vec<TreeEntry> = files.iter().map(TestFile::entry).collect();
        // The Hub lists directories too.
        let mut dirs: Vec<String> = files
            .iter()
            .flat_map(|f| {
                let parts: Vec<&str> = f.path.split('/').collect();
                (1..parts.len()).map(move |i| parts[..i].join("/"))
            })
            .collect();
        dirs.sort();
        dirs.dedup();
        entries.extend(dirs.into_iter().map(|path| TreeEntry {
            path,
            kind: EntryKind::Directory,
            size: 0,
            oid: "0".repeat(40),
            xet_hash: None,
            xet_redacted: false,
            lfs_sha256: None,
        }));
        let mut repos = self.repos.lock();
        let state = repos.entry(repo.clone()).or_default();
        state.trees.insert(commit.clone(), entries);
        for r in refs {
            state.refs.insert(r.to_string(), commit.clone());
        }
        let mut all = self.files.lock();
        for f in files {
            all.insert((commit.clone(), f.path.clone()), f.clone());
        }
        commit
    }

    pub fn resolves(&self) -> u64 {
        self.resolves.load(Ordering::SeqCst)
    }

    fn check(&self) -> Result<(), RemoteError> {
        self.fail.lock().clone().map_or(Ok(()), Err)
    }
}

#[async_trait::async_trait]
impl Remote for TestHub {
    async fn resolve_revision(&self, repo: &RepoId, rev: &str) -> Result<String, RemoteError> {
        self.resolves.fetch_add(1, Ordering::SeqCst);
        if self.gated.lock().contains(repo) {
            let _permit = self.gate.0.acquire().await;
        }
        self.check()?;
        let repos = self.repos.lock();
        let state = repos
            .get(repo)
            .ok_or_else(|| RemoteError::NotFound(format!("repo {repo}")))?;
        if state.trees.contains_key(rev) {
            return Ok(rev.to_string());
        }
        state
            .refs
            .get(rev)
            .cloned()
            .ok_or_else(|| RemoteError::NotFound(format!("revision {rev}")))
    }

    async fn list_tree(&self, repo: &RepoId, commit: &str) -> Result<Vec<TreeEntry>, RemoteError> {
        self.lists.fetch_add(1, Ordering::SeqCst);
        self.check()?;
        self.repos
            .lock()
            .get(repo)
            .and_then(|s| s.trees.get(commit).cloned())
            .ok_or_else(|| RemoteError::NotFound(format!("{repo} at {commit}")))
    }

    async fn file_metadata(
        &self,
        _repo: &RepoId,
        commit: &str,
        path: &str,
    ) -> Result<FileMetadata, RemoteError> {
        self.heads.fetch_add(1, Ordering::SeqCst);
        self.check()?;
        let files = self.files.lock();
        let f = files
            .get(&(commit.to_string(), path.to_string()))
            .ok_or_else(|| RemoteError::NotFound(path.into()))?;
        Ok(FileMetadata {
            commit: commit.into(),
            size: f.data.len() as u64,
            etag: f.oid(),
            xet_hash: f.xet.then(|| f.xet_hash()),
        })
    }

    async fn get_file(
        &self,
        _: &RepoId,
        _: &str,
        _: &str,
        _: Option<ByteRange>,
    ) -> Result<RangeBody, RemoteError> {
        Err(RemoteError::Protocol(
            "the fs never reads bytes itself".into(),
        ))
    }

    async fn reconstruction(
        &self,
        _: &RepoScope,
        _: &MerkleHash,
        _: Range<u64>,
    ) -> Result<ReconstructionV2, RemoteError> {
        Err(RemoteError::Protocol(
            "the fs never reads bytes itself".into(),
        ))
    }

    async fn fetch_xorb_range(&self, _: &str, _: ByteRange) -> Result<ByteStream, RemoteError> {
        Err(RemoteError::Protocol(
            "the fs never reads bytes itself".into(),
        ))
    }
}

/// How the reader misbehaves for one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Never answers.
    Hang,
    /// Answers one byte short.
    Short,
    /// Answers an integrity error.
    Fail,
}

/// The engine side: bytes by content, with per-path faults and counters.
#[derive(Default)]
pub struct MemReader {
    contents: Mutex<HashMap<String, Bytes>>,
    faults: Mutex<HashMap<String, Fault>>,
    released: Mutex<HashSet<u64>>,
    hook: Mutex<Option<InvalidationHook>>,
    pub reads: AtomicU64,
    pub bytes: AtomicU64,
}

fn key(content: &FileContent) -> String {
    match content {
        FileContent::Xet { hash } => format!("xet:{hash}"),
        FileContent::Plain { oid, .. } => format!("plain:{oid}"),
    }
}

impl MemReader {
    pub fn add(&self, files: &[TestFile]) {
        let mut contents = self.contents.lock();
        for f in files {
            contents.insert(key(&f.content()), f.data.clone());
        }
    }

    /// Replaces the bytes served for `file`'s content (as if the first ones were wrong).
    pub fn replace(&self, file: &TestFile, data: Bytes) {
        self.contents.lock().insert(key(&file.content()), data);
    }

    pub fn fault(&self, path: &str, fault: Fault) {
        self.faults.lock().insert(path.into(), fault);
    }

    /// What the engine does after a failed file-hash check.
    pub fn invalidate(&self, desc: &FileDesc) {
        let hook = self.hook.lock().clone().expect("the fs registers a hook");
        hook(desc);
    }

    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::SeqCst)
    }

    pub fn released(&self) -> usize {
        self.released.lock().len()
    }
}

#[async_trait::async_trait]
impl FileReader for MemReader {
    async fn read(
        &self,
        file: &Arc<FileDesc>,
        offset: u64,
        len: u32,
        _handle: u64,
    ) -> Result<Bytes, ReadError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        let fault = self.faults.lock().get(&file.path).copied();
        if fault == Some(Fault::Hang) {
            futures::future::pending::<()>().await;
        }
        if fault == Some(Fault::Fail) {
            return Err(ReadError::Integrity("injected".into()));
        }
        let data = self
            .contents
            .lock()
            .get(&key(&file.content))
            .cloned()
            .ok_or_else(|| ReadError::Internal(format!("no bytes for {}", file.path)))?;
        let start = (offset as usize).min(data.len());
        let mut end = (start + len as usize).min(data.len());
        if fault == Some(Fault::Short) {
            end -= 1;
        }
        self.bytes.fetch_add((end - start) as u64, Ordering::SeqCst);
        Ok(data.slice(start..end))
    }

    fn release(&self, handle: u64) {
        self.released.lock().insert(handle);
    }

    fn set_invalidation_hook(&self, hook: InvalidationHook) {
        *self.hook.lock() = Some(hook);
    }

    fn stats(&self) -> StatsSnapshot {
        StatsSnapshot {
            reads: self.reads(),
            read_bytes: self.bytes.load(Ordering::SeqCst),
            ..StatsSnapshot::default()
        }
    }
}
