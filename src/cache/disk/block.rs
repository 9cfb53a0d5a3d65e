//! The block file: any subset of the chunks `[64·b, 64·b + 64)` of one xorb.
//!
//! ```text
//! header  magic "XFSBLOCK" | version u32 | xorb hash [32] | block u32 | count u32
//!         count × entry: chunk index u32 | record offset u64 | record length u32 |
//!                        record CRC32 u32 | chunk hash [32] | flags u32 (bit 0: proven)
//!         header CRC32 u32 (of everything above)
//! records each exactly as served (8-byte chunk header + payload), in entry order, back to back
//! ```
//!
//! All integers are little-endian. The header pins the file's exact length, so a torn or
//! truncated file never parses; every record carries its own CRC so one bad record costs only
//! that chunk.

use std::collections::BTreeMap;
use std::fmt;

use super::DiskChunk;
use crate::cache::ChunkKey;
use crate::xet::{MerkleHash, MAX_CHUNK_SIZE, MAX_COMPRESSED_CHUNK_SIZE};

/// Chunk indices per block file.
pub const CHUNKS_PER_BLOCK: u32 = 64;

const MAGIC: &[u8; 8] = b"XFSBLOCK";
const VERSION: u32 = 1;
const FIXED_LEN: usize = 8 + 4 + 32 + 4 + 4;
const ENTRY_LEN: usize = 4 + 8 + 4 + 4 + 32 + 4;
const FLAG_PROVEN: u32 = 1;
const RECORD_HEADER_LEN: usize = 8;
/// Largest record a reader accepts (protocol §3.2).
pub const MAX_RECORD_LEN: usize = RECORD_HEADER_LEN + MAX_COMPRESSED_CHUNK_SIZE;
/// Longest possible header: one read of this many bytes always covers it.
pub const MAX_HEADER_LEN: usize = header_len(CHUNKS_PER_BLOCK as usize);
/// Longest possible block file.
pub const MAX_FILE_LEN: u64 =
    MAX_HEADER_LEN as u64 + CHUNKS_PER_BLOCK as u64 * MAX_RECORD_LEN as u64;

/// One block file's identity: a xorb and which run of 64 chunk indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockId {
    pub xorb: MerkleHash,
    pub block: u32,
}

impl BlockId {
    pub fn of(key: &ChunkKey) -> Self {
        BlockId {
            xorb: key.xorb,
            block: key.index / CHUNKS_PER_BLOCK,
        }
    }
}

/// Bit of a chunk in a block's presence mask.
pub fn slot_bit(index: u32) -> u64 {
    1u64 << (index % CHUNKS_PER_BLOCK)
}

/// Where one record lives in the file and how to check it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub index: u32,
    pub offset: u64,
    pub len: u32,
    pub crc: u32,
    pub hash: MerkleHash,
    pub proven: bool,
}

/// A parsed, validated header. Entries are sorted by chunk index.
#[derive(Debug, Clone)]
pub struct BlockHeader {
    pub entries: Vec<Entry>,
}

impl BlockHeader {
    pub fn find(&self, index: u32) -> Option<&Entry> {
        self.entries
            .binary_search_by_key(&index, |e| e.index)
            .ok()
            .map(|i| &self.entries[i])
    }

    /// Presence bit per chunk slot.
    pub fn mask(&self) -> u64 {
        self.entries.iter().fold(0, |m, e| m | slot_bit(e.index))
    }
}

/// Why a block file was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corrupt(pub &'static str);

impl fmt::Display for Corrupt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

pub const fn header_len(count: usize) -> usize {
    FIXED_LEN + count * ENTRY_LEN + 4
}

/// Size of the block file holding `chunks`.
pub fn file_len(chunks: &BTreeMap<u32, DiskChunk>) -> u64 {
    header_len(chunks.len()) as u64 + chunks.values().map(|c| c.record.len() as u64).sum::<u64>()
}

/// Parses and validates the header at the start of `bytes` for a file of `file_len` bytes that
/// must belong to `id`. `bytes` needs to hold at least the whole header.
pub fn parse_header(bytes: &[u8], file_len: u64, id: &BlockId) -> Result<BlockHeader, Corrupt> {
    if bytes.len() < FIXED_LEN || &bytes[..8] != MAGIC {
        return Err(Corrupt("bad magic"));
    }
    let mut r = Reader(&bytes[8..]);
    if r.u32() != VERSION {
        return Err(Corrupt("unknown version"));
    }
    let xorb = r.hash();
    let block = r.u32();
    let count = r.u32() as usize;
    if xorb != id.xorb || block != id.block {
        return Err(Corrupt("block file of another xorb or block"));
    }
    if count == 0 || count > CHUNKS_PER_BLOCK as usize {
        return Err(Corrupt("bad entry count"));
    }
    let hlen = header_len(count);
    if bytes.len() < hlen {
        return Err(Corrupt("file shorter than its header"));
    }
    let stored_crc = u32::from_le_bytes(bytes[hlen - 4..hlen].try_into().expect("4 bytes"));
    if crc32fast::hash(&bytes[..hlen - 4]) != stored_crc {
        return Err(Corrupt("header checksum mismatch"));
    }
    let first = block
        .checked_mul(CHUNKS_PER_BLOCK)
        .ok_or(Corrupt("bad block"))?;
    let mut entries = Vec::with_capacity(count);
    let mut next_offset = hlen as u64;
    for _ in 0..count {
        let e = Entry {
            index: r.u32(),
            offset: r.u64(),
            len: r.u32(),
            crc: r.u32(),
            hash: r.hash(),
            proven: match r.u32() {
                0 => false,
                FLAG_PROVEN => true,
                _ => return Err(Corrupt("unknown flags")),
            },
        };
        let in_block = e.index >= first && e.index - first < CHUNKS_PER_BLOCK;
        let ascending = entries.last().is_none_or(|p: &Entry| p.index < e.index);
        if !in_block || !ascending {
            return Err(Corrupt("chunk index out of place"));
        }
        if e.offset != next_offset
            || (e.len as usize) < RECORD_HEADER_LEN
            || e.len as usize > MAX_RECORD_LEN
        {
            return Err(Corrupt("record out of place"));
        }
        next_offset += e.len as u64;
        entries.push(e);
    }
    if next_offset != file_len {
        return Err(Corrupt("file length differs from its header"));
    }
    Ok(BlockHeader { entries })
}

/// Whether `record` is the intact record `entry` describes.
pub fn record_matches(entry: &Entry, record: &[u8]) -> bool {
    record.len() == entry.len as usize
        && crc32fast::hash(record) == entry.crc
        && record_is_sane(record)
}

/// The checks of protocol §3.2 that need no decoding: version 0, a known scheme, lengths within
/// limits, and a payload of exactly `compressed_len` bytes.
pub fn record_is_sane(record: &[u8]) -> bool {
    if record.len() < RECORD_HEADER_LEN || record[0] != 0 {
        return false;
    }
    let u24 = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], 0]) as usize;
    let compressed = u24(&record[1..4]);
    let scheme = record[4];
    let uncompressed = u24(&record[5..8]);
    scheme <= 2
        && compressed + RECORD_HEADER_LEN == record.len()
        && compressed <= MAX_COMPRESSED_CHUNK_SIZE
        && uncompressed <= MAX_CHUNK_SIZE
        && (scheme != 0 || compressed == uncompressed)
}

/// The header for `chunks`; their records follow it in index order.
pub fn encode_header(id: &BlockId, chunks: &BTreeMap<u32, DiskChunk>) -> Vec<u8> {
    let hlen = header_len(chunks.len());
    let mut out = Vec::with_capacity(hlen);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(id.xorb.as_bytes());
    out.extend_from_slice(&id.block.to_le_bytes());
    out.extend_from_slice(&(chunks.len() as u32).to_le_bytes());
    let mut offset = hlen as u64;
    for (&index, chunk) in chunks {
        out.extend_from_slice(&index.to_le_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
        out.extend_from_slice(&(chunk.record.len() as u32).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&chunk.record).to_le_bytes());
        out.extend_from_slice(chunk.hash.as_bytes());
        let flags = if chunk.proven { FLAG_PROVEN } else { 0 };
        out.extend_from_slice(&flags.to_le_bytes());
        offset += chunk.record.len() as u64;
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Little-endian field reader over bytes whose length the caller already checked.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let (head, rest) = self.0.split_at(N);
        self.0 = rest;
        head.try_into().expect("split_at gave N bytes")
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }
    fn hash(&mut self) -> MerkleHash {
        MerkleHash::from_bytes(self.take())
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn record(seed: u8, payload_len: usize) -> Bytes {
        let mut r = Vec::with_capacity(payload_len + 8);
        let len = (payload_len as u32).to_le_bytes();
        r.extend_from_slice(&[0, len[0], len[1], len[2], 0, len[0], len[1], len[2]]);
        r.extend((0..payload_len).map(|i| seed.wrapping_add(i as u8)));
        Bytes::from(r)
    }

    fn sample() -> (BlockId, BTreeMap<u32, DiskChunk>) {
        let id = BlockId {
            xorb: MerkleHash::from_bytes([5; 32]),
            block: 1,
        };
        let mut chunks = BTreeMap::new();
        for (i, index) in [64u32, 70, 127].into_iter().enumerate() {
            let record = record(i as u8, 100 + i * 50);
            chunks.insert(
                index,
                DiskChunk {
                    hash: MerkleHash::from_bytes([i as u8; 32]),
                    proven: index == 70,
                    record,
                },
            );
        }
        (id, chunks)
    }

    fn encode_file(id: &BlockId, chunks: &BTreeMap<u32, DiskChunk>) -> Vec<u8> {
        let mut file = encode_header(id, chunks);
        for c in chunks.values() {
            file.extend_from_slice(&c.record);
        }
        file
    }

    #[test]
    fn header_round_trips_and_locates_records() {
        let (id, chunks) = sample();
        let file = encode_file(&id, &chunks);
        assert_eq!(file.len() as u64, file_len(&chunks));
        let header = parse_header(&file, file.len() as u64, &id).unwrap();
        assert_eq!(header.entries.len(), 3);
        assert_eq!(header.mask(), (1 << 0) | (1 << 6) | (1 << 63));
        for (index, chunk) in &chunks {
            let e = header.find(*index).unwrap();
            let rec = &file[e.offset as usize..][..e.len as usize];
            assert_eq!(rec, &chunk.record[..]);
            assert!(record_matches(e, rec));
            assert_eq!(e.hash, chunk.hash);
            assert_eq!(e.proven, chunk.proven);
        }
        assert!(header.find(65).is_none());
    }

    #[test]
    fn every_single_byte_flip_in_the_header_is_rejected() {
        let (id, chunks) = sample();
        let file = encode_file(&id, &chunks);
        for at in 0..header_len(chunks.len()) {
            let mut bad = file.clone();
            bad[at] ^= 0x10;
            assert!(
                parse_header(&bad, bad.len() as u64, &id).is_err(),
                "flip at {at} accepted"
            );
        }
    }

    #[test]
    fn truncation_and_wrong_identity_are_rejected() {
        let (id, chunks) = sample();
        let file = encode_file(&id, &chunks);
        for len in [0, 7, FIXED_LEN, header_len(3) - 1, file.len() - 1] {
            assert!(
                parse_header(&file[..len], len as u64, &id).is_err(),
                "{len}"
            );
        }
        let longer = file.len() as u64 + 1;
        assert!(parse_header(&file, longer, &id).is_err());
        let other = BlockId { block: 2, ..id };
        assert!(parse_header(&file, file.len() as u64, &other).is_err());
    }

    #[test]
    fn record_checks() {
        let (id, chunks) = sample();
        let file = encode_file(&id, &chunks);
        let header = parse_header(&file, file.len() as u64, &id).unwrap();
        let e = header.find(70).unwrap();
        let mut rec = file[e.offset as usize..][..e.len as usize].to_vec();
        rec[20] ^= 1;
        assert!(!record_matches(e, &rec), "payload flip");
        assert!(!record_matches(e, &rec[..rec.len() - 1]), "short record");

        let good = record(1, 64);
        assert!(record_is_sane(&good));
        for (at, value) in [(0, 1u8), (4, 3), (1, 65)] {
            let mut bad = good.to_vec();
            bad[at] = value;
            assert!(!record_is_sane(&bad), "byte {at} = {value}");
        }
        // Scheme None must carry the raw chunk: equal lengths.
        let mut lz4 = good.to_vec();
        lz4[4] = 1;
        lz4[5] = 200;
        assert!(record_is_sane(&lz4));
        lz4[4] = 0;
        assert!(!record_is_sane(&lz4));
    }
}
