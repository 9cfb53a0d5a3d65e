//! Property tests against the reference implementation itself: `xet-core-structures` 1.8
//! (hashes, chunk records, xorbs, shards) and `xet-data` 1.8 (the content-defined chunker; it built
//! here, adding ~20 crates — see docs/FUZZING.md — so chunk boundaries are compared with the real
//! chunker, not a re-implementation).
//!
//! Inputs are generated from a kind, a seed and a size, so proptest shrinks towards small,
//! readable cases. Case counts are bounded to keep this binary well under a minute.

mod support;

use std::io::Cursor;

use proptest::prelude::*;
use xet_core_structures::merklehash as ref_hash;
use xet_core_structures::metadata_shard as ref_shard;
use xet_core_structures::xorb_object as ref_xorb;
use xetfs::xet::chunk::{decode_record, encode_chunk, CompressionPolicy, CompressionScheme};
use xetfs::xet::chunker::chunk_lengths;
use xetfs::xet::merkle::file_hash;
use xetfs::xet::reconstruction::ChunkRange;
use xetfs::xet::shard::{
    sha256_stored_form, Shard, ShardFile, ShardFooterInfo, ShardTerm, ShardXorb, ShardXorbChunk,
};
use xetfs::xet::xorb::{decode_range, parse_xorb_object, SerializedXorb, XorbBuilder};
use xetfs::xet::{chunk_hash, file_hash_of_reader, MerkleHash};

fn ours(h: ref_hash::MerkleHash) -> MerkleHash {
    MerkleHash::from_bytes(h.into())
}

fn theirs(h: &MerkleHash) -> ref_hash::MerkleHash {
    ref_hash::MerkleHash::from(h.as_bytes())
}

/// Deterministic test data of one of several shapes.
fn make_data(kind: u8, seed: u64, len: usize) -> Vec<u8> {
    let mut out = match kind % 6 {
        // Incompressible.
        0 => support::splitmix64(seed, len),
        1 => vec![0; len],
        // A short pattern repeated: long runs of identical content.
        2 => {
            let period = 1 + (seed % 300) as usize;
            let pattern = support::splitmix64(seed, period);
            pattern.iter().copied().cycle().take(len).collect()
        }
        3 => support::text_lines(len),
        // bf16-like weights: Gaussian-ish f32 truncated to their high 16 bits.
        4 => bf16_like(seed, len),
        // A mixture of all of the above in segments of random sizes.
        _ => {
            let mut v = Vec::with_capacity(len);
            let mut s = seed;
            while v.len() < len {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
                let seg = 1 + (s >> 40) as usize % 200_000;
                v.extend(make_data((s >> 20) as u8 % 5, s, seg.min(len - v.len())));
            }
            v
        }
    };
    out.truncate(len);
    out
}

fn bf16_like(seed: u64, len: usize) -> Vec<u8> {
    let words = support::splitmix64(seed, len.div_ceil(2) * 8 + 8);
    let mut out = Vec::with_capacity(len + 2);
    for w in words.chunks_exact(8) {
        let r = u64::from_le_bytes(w.try_into().unwrap());
        // Sum of four uniforms ≈ normal; scaled like small weights.
        let sum: f32 = (0..4)
            .map(|i| ((r >> (16 * i)) & 0xFFFF) as f32 / 65536.0)
            .sum();
        let x = (sum - 2.0) * 0.05;
        out.extend_from_slice(&((x.to_bits() >> 16) as u16).to_le_bytes());
        if out.len() >= len {
            break;
        }
    }
    out.truncate(len);
    out
}

/// Sizes with extra weight around the chunker's and the block sizes' edges.
fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        0usize..200,
        8192usize - 70..8192 + 70,
        65536usize - 70..65536 + 70,
        131072usize - 70..131072 + 70,
        0usize..(3 << 20),
    ]
}

fn data() -> impl Strategy<Value = Vec<u8>> {
    (any::<u8>(), any::<u64>(), size()).prop_map(|(k, s, n)| make_data(k, s, n))
}

fn reference_chunks(data: &[u8]) -> Vec<ref_xorb::Chunk> {
    xet_data::deduplication::Chunker::default().next_block(data, true)
}

fn ref_scheme(s: CompressionPolicy) -> ref_xorb::CompressionScheme {
    match s {
        CompressionPolicy::None => ref_xorb::CompressionScheme::None,
        CompressionPolicy::Lz4 => ref_xorb::CompressionScheme::LZ4,
        CompressionPolicy::ByteGrouping4Lz4 => ref_xorb::CompressionScheme::ByteGrouping4LZ4,
        CompressionPolicy::Auto => ref_xorb::CompressionScheme::Auto,
    }
}

const POLICIES: [CompressionPolicy; 4] = [
    CompressionPolicy::None,
    CompressionPolicy::Lz4,
    CompressionPolicy::ByteGrouping4Lz4,
    CompressionPolicy::Auto,
];

/// Our xorb over `chunks` with file sections starting at `boundaries` (0 is implicit).
fn our_xorb(
    chunks: &[ref_xorb::Chunk],
    boundaries: &[usize],
    policy: CompressionPolicy,
) -> SerializedXorb {
    let mut b = XorbBuilder::new(policy);
    for (i, c) in chunks.iter().enumerate() {
        if i > 0 && boundaries.contains(&i) {
            b.start_file();
        }
        b.add_chunk(&c.data);
    }
    b.finish()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    /// Same boundaries, chunk hashes and file hash as the reference chunker and hasher.
    #[test]
    fn chunks_and_file_hash_match_reference(data in data()) {
        let reference = reference_chunks(&data);
        let lens = chunk_lengths(&data);
        prop_assert_eq!(&lens, &reference.iter().map(|c| c.data.len()).collect::<Vec<_>>());
        let mut leaves = Vec::new();
        let mut at = 0;
        for (n, r) in lens.iter().zip(&reference) {
            let h = chunk_hash(&data[at..at + n]);
            prop_assert_eq!(h, ours(r.hash));
            leaves.push((h, *n as u64));
            at += n;
        }
        let ref_leaves: Vec<_> = reference.iter().map(|c| (c.hash, c.data.len() as u64)).collect();
        let fh = file_hash(&leaves);
        prop_assert_eq!(fh, ours(ref_hash::file_hash(&ref_leaves)));
        prop_assert_eq!(file_hash_of_reader(&data[..]).unwrap(), fh);
        prop_assert_eq!(
            xetfs::xet::merkle::xorb_hash(&leaves),
            ours(ref_hash::xorb_hash(&ref_leaves))
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Byte-identical xorbs (with and without footer) under every policy, including `Auto` with
    /// several file sections; each side decodes what the other wrote.
    #[test]
    fn xorbs_match_reference_and_cross_decode(
        data in data(),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..4),
    ) {
        let chunks = reference_chunks(&data);
        let mut boundaries: Vec<usize> = std::iter::once(0)
            .chain(cuts.iter().filter(|_| !chunks.is_empty()).map(|i| i.index(chunks.len())))
            .collect();
        boundaries.sort_unstable();
        boundaries.dedup();
        let all = ChunkRange::new(0, chunks.len() as u32);
        for policy in POLICIES {
            let ours_x = our_xorb(&chunks, &boundaries, policy);
            let raw = ref_xorb::RawXorbData::from_chunks(&chunks, if chunks.is_empty() { vec![] } else { boundaries.clone() });
            let uploaded = ref_xorb::SerializedXorbObject::from_xorb_with_compression(raw.clone(), ref_scheme(policy), false, 32).unwrap();
            let stored = ref_xorb::SerializedXorbObject::from_xorb_with_compression(raw, ref_scheme(policy), true, 32).unwrap();
            prop_assert_eq!(ours_x.hash, ours(uploaded.hash));
            prop_assert_eq!(&ours_x.records, &uploaded.serialized_data, "{:?} uploaded bytes", policy);
            let our_stored = ours_x.to_stored_bytes();
            if !chunks.is_empty() {
                prop_assert_eq!(&our_stored, &stored.serialized_data, "{:?} stored bytes", policy);
            }

            // We decode the reference's objects.
            let parsed = parse_xorb_object(&uploaded.serialized_data).unwrap();
            prop_assert_eq!(parsed.hash, ours(uploaded.hash));
            let decoded: Vec<u8> = decode_range(&uploaded.serialized_data, all).unwrap().into_iter().flat_map(|c| c.data).collect();
            prop_assert_eq!(&decoded, &data);
            if !chunks.is_empty() {
                prop_assert_eq!(parse_xorb_object(&stored.serialized_data).unwrap(), parsed);
            }

            // The reference decodes ours.
            let (ref_decoded, _) = ref_xorb::deserialize_chunks(&mut Cursor::new(&ours_x.records)).unwrap();
            prop_assert_eq!(&ref_decoded, &data);
            let mut rebuilt = Vec::new();
            let (_, ref_hash) = ref_xorb::reconstruct_xorb_with_footer(&mut rebuilt, &ours_x.records).unwrap();
            prop_assert_eq!(ours(ref_hash), ours_x.hash);
            if !chunks.is_empty() {
                prop_assert_eq!(&rebuilt, &our_stored);
                let valid = ref_xorb::XorbObject::validate_xorb_object(&mut Cursor::new(&our_stored), &theirs(&ours_x.hash)).unwrap();
                prop_assert!(valid.is_some(), "reference rejects our stored xorb");
            }
        }
    }

    /// `Auto` re-predicts per run of 32 chunks of each file section: chunks alternating between
    /// text (LZ4 predicted) and bf16-like data (BG4 predicted) make any off-by-one visible.
    #[test]
    fn auto_policy_runs_match_reference(
        kinds in proptest::collection::vec((any::<bool>(), 100usize..6000), 1..120),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
        seed in any::<u64>(),
    ) {
        let chunks: Vec<ref_xorb::Chunk> = kinds
            .iter()
            .enumerate()
            .map(|(i, &(text, n))| {
                let data = if text { make_data(3, 0, n) } else { bf16_like(seed + i as u64, n) };
                ref_xorb::Chunk::new(data.into())
            })
            .collect();
        let mut boundaries: Vec<usize> = std::iter::once(0).chain(cuts.iter().map(|c| c.index(chunks.len()))).collect();
        boundaries.sort_unstable();
        boundaries.dedup();
        let ours_x = our_xorb(&chunks, &boundaries, CompressionPolicy::Auto);
        let raw = ref_xorb::RawXorbData::from_chunks(&chunks, boundaries);
        let theirs_x = ref_xorb::SerializedXorbObject::from_xorb_with_compression(raw, ref_xorb::CompressionScheme::Auto, false, 32).unwrap();
        prop_assert_eq!(ours_x.records, theirs_x.serialized_data);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Damaged records: whenever either side accepts, both accept with the same bytes (except
    /// the truncation the reference misses, below).
    #[test]
    fn damaged_records_are_judged_alike(
        data in (any::<u8>(), any::<u64>(), 0usize..40_000).prop_map(|(k, s, n)| make_data(k, s, n)),
        scheme in 1u8..3,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let scheme = if scheme == 1 { CompressionScheme::Lz4 } else { CompressionScheme::ByteGrouping4Lz4 };
        let mut rec = Vec::new();
        encode_chunk(&data, scheme, &mut rec);
        for (at, x) in &flips {
            let i = at.index(rec.len());
            rec[i] ^= x;
        }
        if truncate {
            rec.truncate(cut.index(rec.len() + 1));
        }
        let mine = decode_record(&rec).map(|(h, d, n)| (d, n, h.uncompressed_len));
        let reference = ref_xorb::deserialize_chunk(&mut Cursor::new(&rec));
        match (&mine, &reference) {
            (Ok((d, n, _)), Ok((rd, rn, _))) => {
                prop_assert_eq!(d, rd);
                prop_assert_eq!(n, rn);
            }
            (Err(_), Err(_)) => {}
            // The reference reads a record through `Read::take(compressed_len)` and does not
            // notice when the input ends early (e.g. a stored chunk whose declared length runs
            // past the end). We reject such records as truncated: a deliberate difference.
            (Err(xetfs::xet::XetFormatError::Truncated { .. }), Ok((_, rn, _))) if *rn > rec.len() => {}
            _ => prop_assert!(false, "disagree: ours {:?}, reference {:?}", mine.as_ref().map(|m| m.1), reference.as_ref().map(|r| r.1)),
        }
    }
}

/// A random shard: files with verification and SHA-256, xorbs with chunk entries.
fn shard() -> impl Strategy<Value = Shard> {
    let hash = || any::<[u8; 32]>().prop_map(MerkleHash::from_bytes);
    let term = (hash(), any::<u32>(), 0u32..1000, 1u32..100).prop_map(|(x, n, s, l)| ShardTerm {
        xorb_hash: x,
        xorb_flags: 0,
        unpacked_bytes: n,
        chunk_start: s,
        chunk_end: s + l,
    });
    let file = (
        hash(),
        proptest::collection::vec(term, 0..5),
        any::<[u8; 32]>(),
    )
        .prop_map(|(file_hash, terms, sha)| ShardFile {
            file_hash,
            verification: Some(
                terms
                    .iter()
                    .map(|t| chunk_hash(t.xorb_hash.as_bytes()))
                    .collect(),
            ),
            terms,
            sha256: Some(sha),
        });
    let chunk = (hash(), any::<u32>(), 1u32..131_072).prop_map(|(h, s, n)| ShardXorbChunk {
        hash: h,
        byte_start: s,
        raw_len: n,
        flags: 0,
    });
    let xorb = (
        hash(),
        any::<u32>(),
        proptest::collection::vec(chunk, 1..12),
    )
        .prop_map(|(h, n, chunks)| ShardXorb {
            xorb_hash: h,
            flags: 0,
            num_bytes_in_xorb: n,
            num_bytes_on_disk: 0,
            chunks,
        });
    (
        proptest::collection::vec(file, 0..4),
        proptest::collection::vec(xorb, 0..4),
    )
        .prop_map(|(files, xorbs)| Shard {
            files,
            xorbs,
            footer: None,
        })
}

/// The same content as the reference's in-memory shard.
fn reference_shard(s: &Shard) -> ref_shard::shard_in_memory::MDBInMemoryShard {
    use ref_shard::file_structs::*;
    use ref_shard::xorb_structs::*;
    let mut mdb = ref_shard::shard_in_memory::MDBInMemoryShard::default();
    for f in &s.files {
        mdb.add_file_reconstruction_info(MDBFileInfo {
            metadata: FileDataSequenceHeader::new(theirs(&f.file_hash), f.terms.len(), true, true),
            segments: f
                .terms
                .iter()
                .map(|t| {
                    FileDataSequenceEntry::new(
                        theirs(&t.xorb_hash),
                        t.unpacked_bytes,
                        t.chunk_start,
                        t.chunk_end,
                    )
                })
                .collect(),
            verification: f
                .verification
                .as_ref()
                .unwrap()
                .iter()
                .map(|v| FileVerificationEntry::new(theirs(v)))
                .collect(),
            metadata_ext: f
                .sha256
                .map(|d| FileMetadataExt::new(ref_hash::MerkleHash::from(&sha256_stored_form(&d)))),
        })
        .unwrap();
    }
    for x in &s.xorbs {
        mdb.add_xorb_block(MDBXorbInfo {
            metadata: XorbChunkSequenceHeader::new(
                theirs(&x.xorb_hash),
                x.chunks.len(),
                x.num_bytes_in_xorb,
            ),
            chunks: x
                .chunks
                .iter()
                .map(|c| XorbChunkSequenceEntry::new(theirs(&c.hash), c.raw_len, c.byte_start))
                .collect(),
        })
        .unwrap();
    }
    mdb
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Full shards are byte-identical to the reference's, upload bodies equal its documented
    /// derivation, and each side parses the other's.
    #[test]
    fn shards_match_reference(s in shard()) {
        let reference = reference_shard(&s).to_bytes().unwrap();
        let unkeyed = ShardFooterInfo { chunk_hash_hmac_key: MerkleHash::ZERO, creation_timestamp: 0, key_expiry: u64::MAX };
        let full = s.serialize_full(&unkeyed);
        prop_assert_eq!(&full, &reference);

        // Upload body = the stored shard up to the lookup tables, with footer_size = 0.
        let info = ref_shard::MDBShardInfo::load_from_reader(&mut Cursor::new(&reference)).unwrap();
        let mut upload = reference[..info.metadata.file_lookup_offset as usize].to_vec();
        upload[40..48].copy_from_slice(&0u64.to_le_bytes());
        prop_assert_eq!(&s.serialize_upload(), &upload);
        let ref_min = ref_shard::streaming_shard::MDBMinimalShard::from_reader(&mut Cursor::new(&upload), true, true).unwrap();
        prop_assert_eq!(ref_min.num_files(), s.files.len());
        prop_assert_eq!(ref_min.num_xorb(), s.xorbs.len());

        // We parse the reference's bytes back to the same content.
        let parsed = Shard::parse(&reference).unwrap();
        let mut expected = s.clone();
        expected.files.sort_by_key(|f| f.file_hash.to_hex());
        expected.xorbs.sort_by_key(|x| x.xorb_hash.to_hex());
        prop_assert_eq!(&parsed.files, &expected.files);
        prop_assert_eq!(&parsed.xorbs, &expected.xorbs);
        prop_assert_eq!(parsed.footer, Some(unkeyed));
    }

    /// A keyed dedup answer is usable by the reference: its dedup query finds our chunks by
    /// their plain hashes.
    #[test]
    fn keyed_dedup_shard_answers_reference_queries(s in shard(), key in any::<[u8; 32]>(), pick in any::<prop::sample::Index>()) {
        prop_assume!(!s.xorbs.is_empty());
        let s = Shard { files: vec![], ..s };
        let footer = ShardFooterInfo { chunk_hash_hmac_key: MerkleHash::from_bytes(key), creation_timestamp: 1, key_expiry: 2 };
        let bytes = s.serialize_full(&footer);
        let mut reader = Cursor::new(&bytes);
        let info = ref_shard::MDBShardInfo::load_from_reader(&mut reader).unwrap();
        prop_assert_eq!(info.metadata.chunk_hash_hmac_key, theirs(&MerkleHash::from_bytes(key)));
        let x = &s.xorbs[pick.index(s.xorbs.len())];
        let found = info.chunk_hash_dedup_query(&mut reader, &[theirs(&x.chunks[0].hash)]).unwrap();
        prop_assert!(found.is_some(), "reference dedup query missed our chunk");
    }
}

#[test]
fn reference_chunker_agrees_on_large_mixed_input() {
    // One larger case than the property tests use: 24 MiB of mixed content.
    let data = make_data(5, 99, 24 << 20);
    let reference: Vec<usize> = reference_chunks(&data)
        .iter()
        .map(|c| c.data.len())
        .collect();
    assert_eq!(chunk_lengths(&data), reference);
}
