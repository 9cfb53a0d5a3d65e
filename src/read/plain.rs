//! Plain (non-Xet) files: regular git blobs and LFS objects without a Xet hash, read through the
//! resolve endpoint.
//!
//! Small files (up to 32 MiB, less with a small memory budget) are fetched whole, checked against their content address (git blob id, or the LFS
//! SHA-256) and cached in memory and on disk by that address. Large ones (rare: new LFS uploads
//! are Xet) are read in aligned blocks with `Range`; a server that ignores `Range` and answers 200
//! with the whole body is handled by skipping to the block. Blocks of large files cannot be
//! checked until the whole file is read, so they are kept in memory only.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use sha1::Digest as _;

use super::engine::Core;
use super::stats::EngineStats;
use super::{FileDesc, ReadError};
use crate::remote::{ByteStream, RemoteError};
use crate::xet::reconstruction::ByteRange;

/// Files up to this size (and half the plain-file cache) are fetched, checked and cached whole.
pub const WHOLE_FILE_LIMIT: u64 = 32 << 20;
/// Block size for larger plain files.
const BLOCK: u64 = 8 << 20;

pub struct PlainFiles {
    blobs: moka::future::Cache<String, Bytes>,
    /// A whole file must fit the cache comfortably, or every read would fetch it again.
    whole_limit: u64,
}

impl PlainFiles {
    pub fn new(budget_bytes: u64) -> Self {
        PlainFiles {
            whole_limit: WHOLE_FILE_LIMIT.min(budget_bytes / 2),
            blobs: moka::future::Cache::builder()
                .weigher(|_, v: &Bytes| u32::try_from(v.len()).unwrap_or(u32::MAX))
                .max_capacity(budget_bytes)
                .build(),
        }
    }
}

/// The content address used as cache key: the LFS SHA-256 when known, else the git blob id.
fn content_key(oid: &str, sha256: Option<&str>) -> String {
    match sha256 {
        Some(s) => format!("sha256-{s}"),
        None => format!("git-{oid}"),
    }
}

pub async fn read(
    core: &Arc<Core>,
    file: &Arc<FileDesc>,
    oid: &str,
    sha256: Option<&str>,
    start: u64,
    end: u64,
) -> Result<Bytes, ReadError> {
    let key = content_key(oid, sha256);
    if file.size <= core.plain.whole_limit {
        let blob = core
            .plain
            .blobs
            .try_get_with(key.clone(), whole(core, file, key, oid, sha256))
            .await
            .map_err(|e| (*e).clone())?;
        return Ok(blob.slice(start as usize..end as usize));
    }
    let mut out = BytesMut::with_capacity((end - start) as usize);
    let mut block = start / BLOCK;
    while block * BLOCK < end {
        let range = block * BLOCK..((block + 1) * BLOCK).min(file.size);
        let data = core
            .plain
            .blobs
            .try_get_with(
                format!("{key}#{block}"),
                fetch_block(core, file, range.clone()),
            )
            .await
            .map_err(|e| (*e).clone())?;
        let from = start.max(range.start) - range.start;
        let to = end.min(range.end) - range.start;
        out.extend_from_slice(&data[from as usize..to as usize]);
        block += 1;
    }
    Ok(out.freeze())
}

async fn whole(
    core: &Arc<Core>,
    file: &Arc<FileDesc>,
    key: String,
    oid: &str,
    sha256: Option<&str>,
) -> Result<Bytes, ReadError> {
    if let Some(disk) = core.disk.clone() {
        let k = key.clone();
        let cached = tokio::task::spawn_blocking(move || disk.get_blob(&k))
            .await
            .ok()
            .flatten();
        if let Some(b) = cached.filter(|b| b.len() as u64 == file.size) {
            EngineStats::inc(&core.stats.disk_hits);
            return Ok(b);
        }
    }
    if core.cfg.offline {
        return Err(ReadError::NotCached(format!(
            "{} is not in the cache",
            file.path
        )));
    }
    let mut last = None;
    for _ in 0..2 {
        let data = fetch_whole(core, file).await?;
        match check_content(&data, oid, sha256) {
            Ok(()) => {
                if let Some(disk) = core.disk.clone() {
                    let (k, d) = (key.clone(), data.clone());
                    tokio::task::spawn_blocking(move || {
                        if let Err(e) = disk.put_blob(&k, &d) {
                            tracing::debug!(error = %e, "plain file not cached on disk");
                        }
                    });
                }
                return Ok(data);
            }
            Err(msg) => {
                EngineStats::inc(&core.stats.integrity_failures);
                tracing::warn!(path = %file.path, "{msg}; fetching again");
                last = Some(msg);
            }
        }
    }
    Err(ReadError::Integrity(last.unwrap_or_default()))
}

async fn fetch_whole(core: &Arc<Core>, file: &Arc<FileDesc>) -> Result<Bytes, ReadError> {
    EngineStats::inc(&core.stats.plain_fetches);
    let body = core
        .remote
        .get_file(&file.scope.repo, &file.scope.commit, &file.path, None)
        .await?;
    if body.start != 0 || body.len != file.size {
        return Err(protocol(format!(
            "{}: the server sent {} bytes from {}, the listing says {}",
            file.path, body.len, body.start, file.size
        )));
    }
    collect(core, body.body, 0, file.size).await
}

async fn fetch_block(
    core: &Arc<Core>,
    file: &Arc<FileDesc>,
    range: std::ops::Range<u64>,
) -> Result<Bytes, ReadError> {
    if core.cfg.offline {
        return Err(ReadError::NotCached(format!(
            "{} is not in the cache",
            file.path
        )));
    }
    EngineStats::inc(&core.stats.plain_fetches);
    let wanted = ByteRange {
        start: range.start,
        end: range.end - 1,
    };
    let body = core
        .remote
        .get_file(
            &file.scope.repo,
            &file.scope.commit,
            &file.path,
            Some(wanted),
        )
        .await?;
    if body.start > range.start || body.start + body.len < range.end {
        return Err(protocol(format!(
            "{}: asked for bytes {range:?}, got {} bytes from {}",
            file.path, body.len, body.start
        )));
    }
    collect(
        core,
        body.body,
        range.start - body.start,
        range.end - range.start,
    )
    .await
}

/// Skips `skip` bytes of `body`, then returns the next `len` bytes (dropping the rest).
async fn collect(
    core: &Arc<Core>,
    mut body: ByteStream,
    mut skip: u64,
    len: u64,
) -> Result<Bytes, ReadError> {
    let mut out = BytesMut::with_capacity(len as usize);
    while (out.len() as u64) < len {
        let Some(piece) = body.next().await else {
            return Err(ReadError::Remote(RemoteError::Transient(format!(
                "body ended after {} of {len} bytes",
                out.len()
            ))));
        };
        let piece = piece?;
        EngineStats::add(&core.stats.plain_fetched_bytes, piece.len() as u64);
        let mut p = &piece[..];
        let s = skip.min(p.len() as u64) as usize;
        p = &p[s..];
        skip -= s as u64;
        let take = p.len().min((len - out.len() as u64) as usize);
        out.extend_from_slice(&p[..take]);
    }
    Ok(out.freeze())
}

/// Checks bytes against the LFS SHA-256 or the git blob id; content without a usable address
/// (an oid that is not a 40-hex git id) passes unchecked.
fn check_content(data: &[u8], oid: &str, sha256: Option<&str>) -> Result<(), String> {
    if let Some(want) = sha256 {
        let got = hex::encode(sha2::Sha256::digest(data));
        return if got.eq_ignore_ascii_case(want) {
            Ok(())
        } else {
            Err(format!("content SHA-256 {got} is not the listed {want}"))
        };
    }
    if oid.len() == 40 && oid.bytes().all(|b| b.is_ascii_hexdigit()) {
        let mut h = sha1::Sha1::new();
        h.update(format!("blob {}\0", data.len()).as_bytes());
        h.update(data);
        let got = hex::encode(h.finalize());
        return if got.eq_ignore_ascii_case(oid) {
            Ok(())
        } else {
            Err(format!("git blob id {got} is not the listed {oid}"))
        };
    }
    Ok(())
}

fn protocol(msg: String) -> ReadError {
    ReadError::Remote(RemoteError::Protocol(msg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_checks() {
        // `git hash-object` of "hello\n".
        assert!(
            check_content(b"hello\n", "ce013625030ba8dba906f756967f9e9ca394464a", None).is_ok()
        );
        assert!(
            check_content(b"hellO\n", "ce013625030ba8dba906f756967f9e9ca394464a", None).is_err()
        );
        let sha = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";
        assert!(check_content(b"hello\n", "x", Some(sha)).is_ok());
        assert!(check_content(b"hello!", "x", Some(sha)).is_err());
        assert!(check_content(b"anything", "not-a-git-id", None).is_ok());
    }
}
