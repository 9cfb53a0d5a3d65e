//! Checks of uploaded shards before anything they describe is served: every referenced xorb is
//! stored, every term lies inside its xorb with the declared length, every file hash is
//! recomputed from the stored chunk hashes, verification hashes match, and the file's SHA-256
//! (what commits name LFS files by) is recomputed from the decoded bytes.

use sha2::{Digest, Sha256};

use super::decode::decode_file_range;
use super::store::{FileRecord, Store};
use crate::xet::hash::verification_hash;
use crate::xet::reconstruction::{ChunkRange, Term};
use crate::xet::shard::Shard;
use crate::xet::{merkle, MerkleHash};

/// A file a shard described, verified.
#[derive(Debug, Clone)]
pub struct VerifiedFile {
    pub hash: MerkleHash,
    pub record: FileRecord,
}

/// Verifies a shard against the store; `Err` says why it is rejected.
pub fn verify_shard(store: &Store, bytes: &[u8]) -> Result<Vec<VerifiedFile>, String> {
    let shard = Shard::parse(bytes).map_err(|e| format!("invalid shard: {e}"))?;
    let io = |e: std::io::Error| format!("store error: {e}");
    for x in &shard.xorbs {
        let index = store
            .xorb_index(&x.xorb_hash)
            .map_err(io)?
            .ok_or_else(|| format!("xorb {} was not uploaded", x.xorb_hash))?;
        let same = index.chunks.len() == x.chunks.len()
            && index
                .chunks
                .iter()
                .zip(&x.chunks)
                .all(|(a, b)| a.hash == b.hash && a.raw_len == b.raw_len);
        if !same {
            return Err(format!(
                "xorb {} does not match the uploaded xorb",
                x.xorb_hash
            ));
        }
    }
    let mut out = Vec::with_capacity(shard.files.len());
    for f in &shard.files {
        let mut leaves = Vec::new();
        let mut terms = Vec::with_capacity(f.terms.len());
        for (i, t) in f.terms.iter().enumerate() {
            let index = store.xorb_index(&t.xorb_hash).map_err(io)?.ok_or_else(|| {
                format!(
                    "file {}: xorb {} was not uploaded",
                    f.file_hash, t.xorb_hash
                )
            })?;
            let chunks = index
                .chunks
                .get(t.chunk_start as usize..t.chunk_end as usize)
                .filter(|c| !c.is_empty())
                .ok_or_else(|| {
                    format!(
                        "file {}: term {i} is outside xorb {}",
                        f.file_hash, t.xorb_hash
                    )
                })?;
            let len: u64 = chunks.iter().map(|c| u64::from(c.raw_len)).sum();
            if len != u64::from(t.unpacked_bytes) {
                return Err(format!(
                    "file {}: term {i} declares {} bytes, its chunks hold {len}",
                    f.file_hash, t.unpacked_bytes
                ));
            }
            if let Some(v) = &f.verification {
                let hashes: Vec<MerkleHash> = chunks.iter().map(|c| c.hash).collect();
                if v.get(i) != Some(&verification_hash(&hashes)) {
                    return Err(format!(
                        "file {}: verification hash of term {i} is wrong",
                        f.file_hash
                    ));
                }
            }
            leaves.extend(chunks.iter().map(|c| (c.hash, u64::from(c.raw_len))));
            terms.push(Term {
                hash: t.xorb_hash,
                unpacked_length: t.unpacked_bytes,
                range: ChunkRange::new(t.chunk_start, t.chunk_end),
            });
        }
        if f.verification
            .as_ref()
            .is_some_and(|v| v.len() != f.terms.len())
        {
            return Err(format!(
                "file {}: wrong number of verification entries",
                f.file_hash
            ));
        }
        let computed = merkle::file_hash(&leaves);
        if computed != f.file_hash {
            return Err(format!(
                "file hash mismatch: shard says {}, chunks give {computed}",
                f.file_hash
            ));
        }
        let size = leaves.iter().map(|l| l.1).sum();
        let mut record = FileRecord {
            size,
            sha256: String::new(),
            terms,
        };
        let sha256 =
            content_sha256(store, &record).map_err(|e| format!("file {}: {e}", f.file_hash))?;
        if let Some(declared) = f.sha256 {
            if hex::encode(declared) != sha256 {
                return Err(format!(
                    "file {}: SHA-256 does not match its content",
                    f.file_hash
                ));
            }
        }
        record.sha256 = sha256;
        out.push(VerifiedFile {
            hash: f.file_hash,
            record,
        });
    }
    Ok(out)
}

/// SHA-256 of a file rebuilt from the store.
fn content_sha256(store: &Store, record: &FileRecord) -> std::io::Result<String> {
    let mut sha = Sha256::new();
    if record.size > 0 {
        decode_file_range(store, record, 0..record.size, &mut |b| {
            sha.update(&b);
            true
        })?;
    }
    Ok(hex::encode(sha.finalize()))
}
