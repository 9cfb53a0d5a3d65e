//! Startup scan: rebuilds the index from the directory by reading only file headers (≤ 4 KiB
//! per block file, 28 bytes per blob), so a large cache is indexed quickly. Files that do not
//! belong (odd names, wrong types, bad headers, torn writes) are deleted.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::Ordering;

use super::blob;
use super::block::BlockId;
use super::index::EntryId;
use super::read::{mtime_micros, read_header};
use super::{Counters, Inner};
use crate::xet::MerkleHash;

pub(super) fn run(inner: &Inner) {
    let started = std::time::Instant::now();
    if let Err(e) = scan_blocks(inner) {
        tracing::warn!(error = %e, "disk cache scan of chunks failed");
    }
    if let Err(e) = scan_blobs(inner) {
        tracing::warn!(error = %e, "disk cache scan of blobs failed");
    }
    if !cancelled(inner) {
        // Opened with a smaller budget than last time.
        inner.shrink_to_budget();
    }
    let index = inner.index.lock();
    tracing::debug!(
        files = index.len(),
        bytes = index.usage(),
        elapsed = ?started.elapsed(),
        "disk cache indexed"
    );
}

fn cancelled(inner: &Inner) -> bool {
    inner.cancel.load(Ordering::Relaxed)
}

fn scan_blocks(inner: &Inner) -> io::Result<()> {
    for prefix in fs::read_dir(inner.layout.chunks_dir())? {
        let prefix = prefix?;
        let prefix_name = prefix.file_name().to_string_lossy().into_owned();
        if !is_dir(&prefix.path()) || !is_prefix(&prefix_name) {
            remove_stray(&prefix.path());
            continue;
        }
        for xorb_dir in fs::read_dir(prefix.path())? {
            let xorb_dir = xorb_dir?;
            let name = xorb_dir.file_name().to_string_lossy().into_owned();
            let xorb = MerkleHash::from_hex(&name)
                .ok()
                .filter(|h| h.to_hex() == name && name.starts_with(&prefix_name));
            let Some(xorb) = xorb.filter(|_| is_dir(&xorb_dir.path())) else {
                remove_stray(&xorb_dir.path());
                continue;
            };
            for file in fs::read_dir(xorb_dir.path())? {
                if cancelled(inner) {
                    return Ok(());
                }
                let file = file?;
                let name = file.file_name().to_string_lossy().into_owned();
                let block = name
                    .parse::<u32>()
                    .ok()
                    .filter(|b| b.to_string() == name && is_file(&file));
                match block {
                    Some(block) => index_block(inner, &BlockId { xorb, block }, &file.path()),
                    None => remove_stray(&file.path()),
                }
            }
            // Removes directories that eviction or a crash emptied; fails while files remain.
            let _ = fs::remove_dir(xorb_dir.path());
        }
    }
    Ok(())
}

fn index_block(inner: &Inner, id: &BlockId, path: &Path) {
    let entry = EntryId::Block(*id);
    let _guard = inner.lock(&entry);
    let header = File::open(path).and_then(|f| {
        let meta = f.metadata()?;
        if !meta.is_file() {
            return Ok((meta, Err(super::block::Corrupt("not a regular file"))));
        }
        let header = read_header(&f, &meta, id)?;
        Ok((meta, header))
    });
    match header {
        Ok((meta, Ok(header))) => {
            inner
                .index
                .lock()
                .insert_found(entry, meta.len(), header.mask(), mtime_micros(&meta));
        }
        Ok((_, Err(why))) => {
            tracing::warn!(path = %path.display(), %why, "deleting invalid disk cache block");
            Counters::add(&inner.counters.corrupt_dropped, 1);
            remove_stray(path);
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot read cache block"),
    }
}

fn scan_blobs(inner: &Inner) -> io::Result<()> {
    for prefix in fs::read_dir(inner.layout.blobs_dir())? {
        let prefix = prefix?;
        let prefix_name = prefix.file_name().to_string_lossy().into_owned();
        if !is_dir(&prefix.path()) || !is_prefix(&prefix_name) {
            remove_stray(&prefix.path());
            continue;
        }
        for file in fs::read_dir(prefix.path())? {
            if cancelled(inner) {
                return Ok(());
            }
            let file = file?;
            let name = file.file_name().to_string_lossy().into_owned();
            let parsed = hex::decode(&name)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .filter(|_| {
                    name.starts_with(&prefix_name) && name == name.to_lowercase() && is_file(&file)
                });
            match parsed {
                Some(blob_name) => index_blob(inner, blob_name, &file.path()),
                None => remove_stray(&file.path()),
            }
        }
        let _ = fs::remove_dir(prefix.path());
    }
    Ok(())
}

fn index_blob(inner: &Inner, name: [u8; 32], path: &Path) {
    let entry = EntryId::Blob(name);
    let _guard = inner.lock(&entry);
    let checked = File::open(path).and_then(|f| {
        let meta = f.metadata()?;
        let mut head = [0u8; blob::FIXED_LEN];
        let ok = meta.is_file()
            && meta.len() >= head.len() as u64
            && f.read_exact_at(&mut head, 0).is_ok()
            && blob::plausible(&head, meta.len());
        Ok((meta, ok))
    });
    match checked {
        Ok((meta, true)) => {
            inner
                .index
                .lock()
                .insert_found(entry, meta.len(), 0, mtime_micros(&meta));
        }
        Ok((_, false)) => {
            tracing::warn!(path = %path.display(), "deleting invalid cached blob");
            Counters::add(&inner.counters.corrupt_dropped, 1);
            remove_stray(path);
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot read cached blob"),
    }
}

fn is_prefix(name: &str) -> bool {
    name.len() == 2
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn is_file(entry: &fs::DirEntry) -> bool {
    entry.file_type().is_ok_and(|t| t.is_file())
}

fn is_dir(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

/// Deletes something that does not belong in the cache (never following symlinks).
fn remove_stray(path: &Path) {
    let result = match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(_) => return,
    };
    if let Err(e) = result {
        tracing::warn!(path = %path.display(), error = %e, "cannot remove stray cache file");
    }
}
