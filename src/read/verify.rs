//! What the engine can prove about the bytes it serves.
//!
//! A reconstruction answer carries no chunk hashes (protocol §2.5), so three proofs are used:
//! - **xorb list**: a server may offer the `(hash, length)` list of a xorb's chunks (an extension
//!   of `xetfs serve`); the list is authenticated by recomputing the xorb hash, after which every
//!   chunk of that xorb is checked *before* it is served;
//! - **xorb root**: a fetched range that starts at chunk 0 and whose merkle root equals the xorb
//!   hash proves all its chunks (a mismatch proves nothing: the xorb may have more chunks);
//! - **file hash**: once every chunk of a file has been seen, the file hash recomputed from the
//!   chunk hashes must equal the Xet file ID.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use moka::future::Cache;

use crate::hub::RepoScope;
use crate::remote::Remote;
use crate::xet::merkle::{file_hash, xorb_hash};
use crate::xet::MerkleHash;

/// An authenticated chunk list of one xorb.
pub type ChunkList = Arc<[(MerkleHash, u32)]>;

/// Fetches and authenticates xorb chunk lists, once per xorb, when the server offers them.
pub struct XorbProofs {
    remote: Arc<dyn Remote>,
    lists: Cache<MerkleHash, Option<ChunkList>>,
    /// Set once the server said it does not offer lists: never ask again.
    unsupported: AtomicBool,
}

impl XorbProofs {
    pub fn new(remote: Arc<dyn Remote>, budget_bytes: u64) -> Self {
        let lists = Cache::builder()
            .weigher(|_, v: &Option<ChunkList>| {
                let n = v.as_ref().map_or(0, |l| l.len());
                u32::try_from(64 + 36 * n).unwrap_or(u32::MAX)
            })
            .max_capacity(budget_bytes)
            .build();
        XorbProofs {
            remote,
            lists,
            unsupported: AtomicBool::new(false),
        }
    }

    /// The authenticated list for `xorb`, or `None` when unavailable (not offered, failed, or
    /// not authentic — which is logged: a server that lies about hashes is worth knowing about).
    pub async fn list(&self, scope: &RepoScope, xorb: &MerkleHash) -> Option<ChunkList> {
        if self.unsupported.load(Ordering::Relaxed) {
            return None;
        }
        let fetch = async {
            match self.remote.xorb_chunk_hashes(scope, xorb).await {
                Ok(Some(list)) => {
                    let pairs: Vec<(MerkleHash, u64)> =
                        list.iter().map(|&(h, l)| (h, u64::from(l))).collect();
                    if xorb_hash(&pairs) == *xorb {
                        Ok(Some(ChunkList::from(list)))
                    } else {
                        tracing::error!(%xorb, "server's chunk list does not hash to the xorb: ignored");
                        Ok(None)
                    }
                }
                Ok(None) => {
                    self.unsupported.store(true, Ordering::Relaxed);
                    Ok(None)
                }
                Err(e) => Err(e),
            }
        };
        // Errors are not cached: the next fetch of this xorb asks again.
        self.lists.try_get_with(*xorb, fetch).await.ok().flatten()
    }
}

/// Whether chunks `[0, n)` with these hashes and lengths are exactly the xorb.
pub fn proves_whole_xorb(xorb: &MerkleHash, chunks: &[(MerkleHash, u64)]) -> bool {
    !chunks.is_empty() && xorb_hash(chunks) == *xorb
}

/// Whether a file's chunk sequence hashes to its Xet file ID.
pub fn proves_file(file_id: &MerkleHash, chunks: &[(MerkleHash, u64)]) -> bool {
    file_hash(chunks) == *file_id
}
