//! Turns ROOT into servable repos: chunks every Xet file into xorbs (≤ 64 MiB, compression by
//! the reference's Auto rule), deduplicating chunks within the run, stores regular files as
//! blobs, and builds one commit per revision. Streams every file (bounded memory: one open xorb
//! plus a few chunks) and logs progress. Files unchanged since an earlier run are not re-read.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufReader};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::catalog::{Catalog, Content, FileEntry, Snapshot};
use super::classify::XetRules;
use super::layout::{list_files, RepoSource, SourceFile};
use super::metrics::Metrics;
use super::store::ingest_cache::IngestedContent;
use super::store::{FileRecord, Store};
use crate::hub::RepoType;
use crate::xet::chunk::CompressionPolicy;
use crate::xet::chunker::ReaderChunker;
use crate::xet::reconstruction::{ChunkRange, Term};
use crate::xet::xorb::XorbBuilder;
use crate::xet::{chunk_hash, merkle, MerkleHash};

/// Past this many remembered chunks the dedup table starts over (bounds memory: ~80 B each, ~64 GiB of unique data).
const MAX_DEDUP_ENTRIES: usize = 1 << 20;
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// What one ingest run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestSummary {
    pub repos: usize,
    pub failed: Vec<String>,
    /// Xet files chunked in this run, and their bytes.
    pub files_chunked: u64,
    pub bytes_chunked: u64,
    /// Files found unchanged since an earlier run.
    pub files_cached: u64,
    pub xorbs_written: u64,
}

/// A chunked file whose last xorb may still be open.
struct PendingFile {
    source: SourceFile,
    file_hash: MerkleHash,
    sha256: String,
    size: u64,
    /// `(xorb slot, chunk range, raw bytes)`.
    terms: Vec<(usize, ChunkRange, u64)>,
}

struct Progress {
    total: u64,
    done: u64,
    started: Instant,
    last_log: Instant,
}

impl Progress {
    fn add(&mut self, n: u64) {
        self.done += n;
        if self.last_log.elapsed() >= PROGRESS_EVERY {
            self.last_log = Instant::now();
            let secs = self.started.elapsed().as_secs_f64().max(1e-3);
            tracing::info!(
                "ingest: {:.1} of {:.1} MiB done ({:.0}%), {:.0} MB/s",
                self.done as f64 / 1048576.0,
                self.total as f64 / 1048576.0,
                100.0 * self.done as f64 / self.total.max(1) as f64,
                self.done as f64 / secs / 1e6
            );
        }
    }
}

/// The state of one ingest run: the open xorb, the dedup table, files waiting for their xorb.
pub struct Ingest<'a> {
    store: Arc<Store>,
    /// The previous xorb being written (and fsynced) while the next one fills.
    writer: Option<std::thread::JoinHandle<io::Result<bool>>>,
    metrics: &'a Metrics,
    builder: Option<XorbBuilder>,
    /// Xorb hash per slot; `None` for the open one.
    slots: Vec<Option<MerkleHash>>,
    dedup: HashMap<MerkleHash, (usize, u32)>,
    pending: Vec<PendingFile>,
    progress: Progress,
    stop: &'a AtomicBool,
    pub summary: IngestSummary,
}

impl<'a> Ingest<'a> {
    /// `stop` interrupts the run (server shutdown) at the next chunk.
    pub fn new(
        store: Arc<Store>,
        metrics: &'a Metrics,
        total_bytes: u64,
        stop: &'a AtomicBool,
    ) -> Self {
        Ingest {
            store,
            writer: None,
            metrics,
            builder: None,
            slots: Vec::new(),
            dedup: HashMap::new(),
            pending: Vec::new(),
            progress: Progress {
                total: total_bytes,
                done: 0,
                started: Instant::now(),
                last_log: Instant::now(),
            },
            stop,
            summary: IngestSummary::default(),
        }
    }

    fn check_stop(&self) -> io::Result<()> {
        if self.stop.load(Ordering::Relaxed) {
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "server is stopping",
            ));
        }
        Ok(())
    }

    /// Ingests every revision of one repo; returns revision → commit.
    pub fn repo(
        &mut self,
        root: &Path,
        source: &RepoSource,
    ) -> io::Result<BTreeMap<String, Arc<Snapshot>>> {
        let mut out = BTreeMap::new();
        for (rev, dir) in &source.revisions {
            let files = list_files(root, dir)?;
            let mut rules = XetRules::defaults(source.id.kind == RepoType::Dataset);
            if let Some(ga) = files.iter().find(|f| f.path == ".gitattributes") {
                rules.add_gitattributes(&std::fs::read_to_string(&ga.fs_path).unwrap_or_default());
            }
            let mut entries = BTreeMap::new();
            let mut time = 0;
            for f in &files {
                self.check_stop()?;
                time = time.max((f.mtime_ns.max(0) / 1_000_000_000) as u64);
                let want_xet = rules.is_xet(&f.path, f.size);
                let cached = self
                    .store
                    .ingest_lookup(f)
                    .filter(|c| matches!(c, IngestedContent::Xet { .. }) == want_xet);
                let (content, size) = match cached {
                    Some(c) => {
                        self.summary.files_cached += 1;
                        self.metrics.add("ingest_files_cached", 1);
                        self.progress.add(f.size);
                        (content_of(c), f.size)
                    }
                    None if want_xet => self.chunk_file(f)?,
                    None => {
                        let data = std::fs::read(&f.fs_path)?;
                        let oid = self.store.put_blob(&data)?;
                        self.store
                            .ingest_remember(f, IngestedContent::Regular { oid: oid.clone() })?;
                        self.metrics.add("ingest_regular_files", 1);
                        self.progress.add(data.len() as u64);
                        (Content::Regular { oid }, data.len() as u64)
                    }
                };
                entries.insert(f.path.clone(), FileEntry { size, content });
            }
            let snapshot = Snapshot::build(
                &source.id,
                &[rev.as_str()],
                None,
                format!("{rev}: ingested by xetfs serve"),
                time,
                entries,
            );
            tracing::info!(
                "ingest: {} @ {rev}: {} files, commit {}",
                source.id,
                files.len(),
                snapshot.sha
            );
            out.insert(rev.clone(), Arc::new(snapshot));
        }
        // The repo becomes readable only once every xorb its files use is stored.
        self.flush()?;
        Ok(out)
    }

    /// Chunks one file; its record is written when its last xorb is. Reading, chunking and
    /// hashing run on a helper thread, compression and packing on this one: two stages, a few
    /// chunks apart (bounded memory).
    fn chunk_file(&mut self, f: &SourceFile) -> io::Result<(Content, u64)> {
        let file = std::fs::File::open(&f.fs_path)?;
        // Streaming merkle tree: memory stays bounded whatever the file size.
        let mut tree = merkle::MerkleBuilder::new();
        let mut size = 0u64;
        if let Some(b) = self.builder.as_mut() {
            b.start_file();
        }
        let mut terms: Vec<(usize, ChunkRange, u64)> = Vec::new();
        let (tx, rx) = std::sync::mpsc::sync_channel::<io::Result<(Vec<u8>, MerkleHash)>>(16);
        let sha256 = std::thread::scope(|scope| -> io::Result<String> {
            let reader = scope.spawn(move || {
                let mut sha = Sha256::new();
                for chunk in ReaderChunker::new(BufReader::with_capacity(1 << 20, file)) {
                    let item = chunk.map(|c| {
                        sha.update(&c);
                        let h = chunk_hash(&c);
                        (c, h)
                    });
                    let failed = item.is_err();
                    // A closed channel means the consumer gave up: stop reading.
                    if tx.send(item).is_err() || failed {
                        break;
                    }
                }
                hex::encode(sha.finalize())
            });
            for item in rx {
                let (chunk, hash) = item?;
                self.check_stop()?;
                let len = chunk.len() as u64;
                tree.push(hash, len);
                size += len;
                let (slot, index) = match self.dedup.get(&hash) {
                    Some(&at) => at,
                    None => self.add_chunk(hash, &chunk)?,
                };
                match terms.last_mut() {
                    Some((s, r, n))
                        if *s == slot && r.end == index && *n + len <= u64::from(u32::MAX) =>
                    {
                        r.end += 1;
                        *n += len;
                    }
                    _ => terms.push((slot, ChunkRange::new(index, index + 1), len)),
                }
                self.progress.add(len);
            }
            reader
                .join()
                .map_err(|_| io::Error::other("chunking thread panicked"))
        })?;
        let file_hash = tree.file_hash();
        self.summary.files_chunked += 1;
        self.summary.bytes_chunked += size;
        self.metrics.add("ingest_files", 1);
        self.metrics.add("ingest_bytes", size);
        self.pending.push(PendingFile {
            source: f.clone(),
            file_hash,
            sha256: sha256.clone(),
            size,
            terms,
        });
        Ok((Content::Xet { file_hash, sha256 }, size))
    }

    fn add_chunk(&mut self, hash: MerkleHash, data: &[u8]) -> io::Result<(usize, u32)> {
        if self.builder.as_ref().is_some_and(|b| !b.fits(data.len())) {
            self.flush_xorb()?;
        }
        if self.builder.is_none() {
            self.builder = Some(XorbBuilder::new(CompressionPolicy::Auto));
            self.slots.push(None);
        }
        let builder = self.builder.as_mut().expect("just set");
        let index = builder.add_chunk_with_hash(hash, data);
        let slot = self.slots.len() - 1;
        if self.dedup.len() >= MAX_DEDUP_ENTRIES {
            self.dedup.clear();
        }
        self.dedup.insert(hash, (slot, index));
        Ok((slot, index))
    }

    fn flush_xorb(&mut self) -> io::Result<()> {
        let Some(builder) = self.builder.take() else {
            return Ok(());
        };
        if builder.is_empty() {
            self.slots.pop();
            return Ok(());
        }
        let xorb = builder.finish();
        *self.slots.last_mut().expect("open slot") = Some(xorb.hash);
        // One write in flight: disk time overlaps packing, memory stays at two xorbs.
        self.wait_for_writer()?;
        let store = self.store.clone();
        self.writer = Some(std::thread::spawn(move || store.put_xorb(&xorb)));
        Ok(())
    }

    fn wait_for_writer(&mut self) -> io::Result<()> {
        if let Some(w) = self.writer.take() {
            let inserted = w
                .join()
                .map_err(|_| io::Error::other("xorb writer panicked"))??;
            if inserted {
                self.summary.xorbs_written += 1;
                self.metrics.add("ingest_xorbs", 1);
            }
        }
        Ok(())
    }

    /// Closes the open xorb and registers every file waiting for it (once its xorbs are stored).
    pub fn flush(&mut self) -> io::Result<()> {
        self.flush_xorb()?;
        self.wait_for_writer()?;
        for p in std::mem::take(&mut self.pending) {
            let terms = p
                .terms
                .iter()
                .map(|&(slot, range, len)| Term {
                    hash: self.slots[slot].expect("xorb flushed"),
                    unpacked_length: len as u32,
                    range,
                })
                .collect();
            let record = FileRecord {
                size: p.size,
                sha256: p.sha256.clone(),
                terms,
            };
            self.store.put_file(p.file_hash, record)?;
            self.store.ingest_remember(
                &p.source,
                IngestedContent::Xet {
                    file_hash: p.file_hash,
                    sha256: p.sha256,
                },
            )?;
        }
        Ok(())
    }
}

fn content_of(c: IngestedContent) -> Content {
    match c {
        IngestedContent::Xet { file_hash, sha256 } => Content::Xet { file_hash, sha256 },
        IngestedContent::Regular { oid } => Content::Regular { oid },
    }
}

/// Ingests every repo of ROOT, installing each in the catalog as soon as it is readable.
pub fn run(
    root: &Path,
    sources: &[RepoSource],
    store: &Arc<Store>,
    catalog: &Catalog,
    metrics: &Metrics,
    stop: &AtomicBool,
) -> IngestSummary {
    let started = Instant::now();
    let total = sources
        .iter()
        .flat_map(|s| s.revisions.values())
        .filter_map(|dir| list_files(root, dir).ok())
        .flatten()
        .map(|f| f.size)
        .sum();
    let mut ingest = Ingest::new(store.clone(), metrics, total, stop);
    for source in sources {
        match ingest.repo(root, source) {
            Ok(roots) => {
                catalog.install(&source.id, roots);
                ingest.summary.repos += 1;
            }
            Err(e) => {
                tracing::error!("ingest of {} failed: {e}", source.id);
                catalog.fail(&source.id, format!("ingest failed: {e}"));
                ingest.summary.failed.push(format!("{}: {e}", source.id));
                // Whatever was chunked for the failed repo still gets a consistent store.
                if let Err(e) = ingest.flush() {
                    tracing::error!("ingest flush failed: {e}");
                }
            }
        }
    }
    let s = &ingest.summary;
    let secs = started.elapsed().as_secs_f64();
    tracing::info!(
        "ingest done: {} repos, {} files chunked ({:.1} MiB, {:.0} MB/s), {} unchanged, {} xorbs written, {:.1} s",
        s.repos,
        s.files_chunked,
        s.bytes_chunked as f64 / 1048576.0,
        s.bytes_chunked as f64 / secs.max(1e-3) / 1e6,
        s.files_cached,
        s.xorbs_written,
        secs
    );
    ingest.summary
}
