//! Shard serialization: sections in the reference's order, then (full form) lookup tables and
//! the 200-byte footer.

use super::{
    keyed_chunk_hash, sha256_stored_form, Shard, ShardFile, ShardFooterInfo, ShardXorb,
    FILE_FLAG_METADATA_EXT, FILE_FLAG_VERIFICATION, FOOTER_LEN, FOOTER_VERSION, HEADER_LEN,
    HEADER_VERSION, SHARD_TAG,
};
use crate::xet::hash::MerkleHash;

pub(super) fn upload(shard: &Shard) -> Vec<u8> {
    let mut out = Vec::new();
    write_sections(shard, &mut out, 0, &MerkleHash::ZERO);
    out
}

pub(super) fn full(shard: &Shard, footer: &ShardFooterInfo) -> Vec<u8> {
    let mut out = Vec::new();
    let layout = write_sections(
        shard,
        &mut out,
        FOOTER_LEN as u64,
        &footer.chunk_hash_hmac_key,
    );

    // Lookup tables, sorted by their truncated-hash key.
    let file_lookup_offset = out.len() as u64;
    let mut file_lookup = layout.file_lookup;
    file_lookup.sort_by_key(|&(k, _)| k);
    for (k, v) in &file_lookup {
        out.u64(*k);
        out.u32(*v);
    }
    let xorb_lookup_offset = out.len() as u64;
    let mut xorb_lookup = layout.xorb_lookup;
    xorb_lookup.sort_by_key(|&(k, _)| k);
    for (k, v) in &xorb_lookup {
        out.u64(*k);
        out.u32(*v);
    }
    let chunk_lookup_offset = out.len() as u64;
    let mut chunk_lookup = layout.chunk_lookup;
    chunk_lookup.sort_by_key(|&(k, _, _)| k);
    for (k, x, c) in &chunk_lookup {
        out.u64(*k);
        out.u32(*x);
        out.u32(*c);
    }

    let footer_offset = out.len() as u64;
    out.u64(FOOTER_VERSION);
    out.u64(HEADER_LEN as u64);
    out.u64(layout.xorb_info_offset);
    out.u64(file_lookup_offset);
    out.u64(file_lookup.len() as u64);
    out.u64(xorb_lookup_offset);
    out.u64(xorb_lookup.len() as u64);
    out.u64(chunk_lookup_offset);
    out.u64(chunk_lookup.len() as u64);
    out.hash(&footer.chunk_hash_hmac_key);
    out.u64(footer.creation_timestamp);
    out.u64(footer.key_expiry);
    out.extend_from_slice(&[0; 6 * 8]);
    let sum = |f: fn(&ShardXorb) -> u32| shard.xorbs.iter().map(|x| u64::from(f(x))).sum();
    out.u64(sum(|x| x.num_bytes_on_disk));
    let materialized: u64 = shard
        .files
        .iter()
        .flat_map(|f| &f.terms)
        .map(|t| u64::from(t.unpacked_bytes))
        .sum();
    out.u64(materialized);
    out.u64(sum(|x| x.num_bytes_in_xorb));
    out.u64(footer_offset);
    debug_assert_eq!(out.len() as u64, footer_offset + FOOTER_LEN as u64);
    out
}

/// Header and both sections; returns what the lookup tables need.
fn write_sections(shard: &Shard, out: &mut Vec<u8>, footer_size: u64, key: &MerkleHash) -> Layout {
    out.extend_from_slice(&SHARD_TAG);
    out.u64(HEADER_VERSION);
    out.u64(footer_size);

    let mut layout = Layout::default();
    let mut entry = 0u32;
    for i in sorted_unique(&shard.files, |f| f.file_hash) {
        let f = &shard.files[i];
        layout.file_lookup.push((f.file_hash.first_u64(), entry));
        entry += f.write(out);
    }
    bookend(out);

    layout.xorb_info_offset = out.len() as u64;
    let mut entry = 0u32;
    for i in sorted_unique(&shard.xorbs, |x| x.xorb_hash) {
        let x = &shard.xorbs[i];
        layout.xorb_lookup.push((x.xorb_hash.first_u64(), entry));
        for (ci, c) in x.chunks.iter().enumerate() {
            let stored = keyed_chunk_hash(key, &c.hash);
            layout
                .chunk_lookup
                .push((stored.first_u64(), entry, ci as u32));
        }
        x.write(out, key);
        entry += 1 + x.chunks.len() as u32;
    }
    bookend(out);
    layout
}

/// Positions and lookup entries gathered while writing the sections.
#[derive(Default)]
struct Layout {
    xorb_info_offset: u64,
    file_lookup: Vec<(u64, u32)>,
    xorb_lookup: Vec<(u64, u32)>,
    chunk_lookup: Vec<(u64, u32, u32)>,
}

/// The reference's order of hashes: four little-endian u64 words, most significant first.
fn reference_order(h: &MerkleHash) -> [u64; 4] {
    [h.word(0), h.word(1), h.word(2), h.word(3)]
}

/// Indices of `items` sorted by key in the reference's order, keeping the last of equal keys.
fn sorted_unique<T>(items: &[T], key: impl Fn(&T) -> MerkleHash) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..items.len()).collect();
    idx.sort_by_key(|&i| reference_order(&key(&items[i])));
    let mut out: Vec<usize> = Vec::with_capacity(idx.len());
    for i in idx {
        match out.last_mut() {
            Some(last) if key(&items[*last]) == key(&items[i]) => *last = i,
            _ => out.push(i),
        }
    }
    out
}

/// Little-endian writer helpers.
trait Put {
    fn u32(&mut self, v: u32);
    fn u64(&mut self, v: u64);
    fn hash(&mut self, h: &MerkleHash);
}

impl Put for Vec<u8> {
    fn u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn hash(&mut self, h: &MerkleHash) {
        self.extend_from_slice(h.as_bytes());
    }
}

/// The 48-byte entry that closes each section.
fn bookend(out: &mut Vec<u8>) {
    out.extend_from_slice(&[0xFF; 32]);
    out.extend_from_slice(&[0; 16]);
}

impl ShardFile {
    fn flags(&self) -> u32 {
        let mut f = 0;
        if self.verification.is_some() {
            f |= FILE_FLAG_VERIFICATION;
        }
        if self.sha256.is_some() {
            f |= FILE_FLAG_METADATA_EXT;
        }
        f
    }

    /// Appends the file block; returns the number of 48-byte entries written.
    fn write(&self, out: &mut Vec<u8>) -> u32 {
        let n = self.terms.len();
        out.hash(&self.file_hash);
        out.u32(self.flags());
        out.u32(n as u32);
        out.u64(0);
        for t in &self.terms {
            out.hash(&t.xorb_hash);
            out.u32(t.xorb_flags);
            out.u32(t.unpacked_bytes);
            out.u32(t.chunk_start);
            out.u32(t.chunk_end);
        }
        let mut entries = 1 + n;
        if let Some(v) = &self.verification {
            debug_assert_eq!(v.len(), n, "one verification hash per term");
            // Exactly one entry per term keeps the shard parseable whatever the caller passed.
            for i in 0..n {
                out.hash(v.get(i).unwrap_or(&MerkleHash::ZERO));
                out.extend_from_slice(&[0; 16]);
            }
            entries += n;
        }
        if let Some(sha) = &self.sha256 {
            out.extend_from_slice(&sha256_stored_form(sha));
            out.extend_from_slice(&[0; 16]);
            entries += 1;
        }
        entries as u32
    }
}

impl ShardXorb {
    fn write(&self, out: &mut Vec<u8>, key: &MerkleHash) {
        out.hash(&self.xorb_hash);
        out.u32(self.flags);
        out.u32(self.chunks.len() as u32);
        out.u32(self.num_bytes_in_xorb);
        out.u32(self.num_bytes_on_disk);
        for c in &self.chunks {
            out.hash(&keyed_chunk_hash(key, &c.hash));
            out.u32(c.byte_start);
            out.u32(c.raw_len);
            out.u32(c.flags);
            out.u32(0);
        }
    }
}
