//! Every vector in `testvectors/` (produced by running the reference, xet-core) must be
//! reproduced exactly. Expected values are read from the JSON at test time; inputs are
//! regenerated from their generators.

mod support;

use std::collections::HashMap;

use serde_json::Value;
use support::{generate, load, sha256_hex};
use xetfs::xet::chunk::{
    bg4_join, bg4_split, decode_record, ChunkHeader, CompressionPolicy, CompressionScheme,
};
use xetfs::xet::chunker::{chunk_lengths, Chunker, GEAR_MASK};
use xetfs::xet::hash::{verification_hash, DATA_KEY, INTERNAL_NODE_KEY, VERIFICATION_KEY};
use xetfs::xet::merkle::{file_hash, file_hash_from_root, group_len, merkle_root, node_hash};
use xetfs::xet::reconstruction::{ReconstructionV1, ReconstructionV2};
use xetfs::xet::shard::{Shard, ShardFile, ShardTerm, ShardXorb, ShardXorbChunk};
use xetfs::xet::xorb::{decode_range, parse_xorb_object, SerializedXorb, XorbBuilder};
use xetfs::xet::{chunk_hash, file_hash_of_reader, MerkleHash};

fn mh(v: &Value) -> MerkleHash {
    MerkleHash::from_hex(
        v.as_str()
            .unwrap_or_else(|| panic!("hash expected, got {v}")),
    )
    .unwrap()
}

fn u(v: &Value) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("integer expected, got {v}"))
}

fn s(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("string expected, got {v}"))
}

fn scheme_name(s: CompressionScheme) -> &'static str {
    match s {
        CompressionScheme::None => "None",
        CompressionScheme::Lz4 => "LZ4",
        CompressionScheme::ByteGrouping4Lz4 => "ByteGrouping4LZ4",
    }
}

/// `(hash, len)` leaves of `data` chunked.
fn leaves_of(data: &[u8]) -> Vec<(MerkleHash, u64)> {
    let mut at = 0;
    chunk_lengths(data)
        .into_iter()
        .map(|n| {
            let leaf = (chunk_hash(&data[at..at + n]), n as u64);
            at += n;
            leaf
        })
        .collect()
}

#[test]
fn constants() {
    let c = load("constants.json");
    assert_eq!(
        u(&c["TARGET_CHUNK_SIZE"]) as usize,
        xetfs::xet::TARGET_CHUNK_SIZE
    );
    assert_eq!(u(&c["MIN_CHUNK_SIZE"]) as usize, xetfs::xet::MIN_CHUNK_SIZE);
    assert_eq!(u(&c["MAX_CHUNK_SIZE"]) as usize, xetfs::xet::MAX_CHUNK_SIZE);
    assert_eq!(u(&c["MAX_XORB_BYTES"]) as usize, xetfs::xet::MAX_XORB_BYTES);
    assert_eq!(
        u(&c["MAX_XORB_CHUNKS"]) as usize,
        xetfs::xet::MAX_XORB_CHUNKS
    );
    assert_eq!(s(&c["GEAR_MASK"]), format!("{GEAR_MASK:#018x}"));
    let key = |k: &str| -> Vec<u8> {
        c[k].as_array()
            .unwrap()
            .iter()
            .map(|b| u(b) as u8)
            .collect()
    };
    assert_eq!(key("DATA_KEY"), DATA_KEY);
    assert_eq!(key("INTERNAL_NODE_KEY"), INTERNAL_NODE_KEY);
    assert_eq!(key("VERIFICATION_KEY"), VERIFICATION_KEY);
    assert_eq!(key("FILE_HASH_KEY"), [0u8; 32]);
    let table: Vec<u64> = c["GEAR_TABLE"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| u64::from_str_radix(s(v).trim_start_matches("0x"), 16).unwrap())
        .collect();
    assert_eq!(table.len(), 256);
    assert_eq!(table[..], gearhash::DEFAULT_TABLE[..]);
}

#[test]
fn hash_primitives() {
    let h = load("hash_primitives.json");

    let sf = &h["hash_string_form"];
    let raw: [u8; 32] = hex::decode(s(&sf["raw_bytes_hex"]))
        .unwrap()
        .try_into()
        .unwrap();
    assert_eq!(MerkleHash::from_bytes(raw).to_hex(), s(&sf["string"]));

    let hw = &h["chunk_hash_hello_world"];
    let ch = chunk_hash(s(&hw["input_ascii"]).as_bytes());
    assert_eq!(ch.to_raw_hex(), s(&hw["raw_bytes_hex"]));
    assert_eq!(ch.to_hex(), s(&hw["string"]));

    let node = &h["internal_node_two_children"];
    let children: Vec<(MerkleHash, u64)> = node["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (mh(&c[0]), u(&c[1])))
        .collect();
    let text: String = children
        .iter()
        .map(|(h, n)| format!("{h} : {n}\n"))
        .collect();
    assert_eq!(text, s(&node["buffer"]), "node text layout");
    let (nh, size) = node_hash(&children);
    assert_eq!(nh, mh(&node["node_hash"]));
    assert_eq!(size, children.iter().map(|c| c.1).sum::<u64>());
    assert_eq!(
        merkle_root(&children),
        mh(&node["xorb_hash_of_these_two_chunks"])
    );
    assert_eq!(
        file_hash(&children),
        mh(&node["file_hash_of_these_two_chunks"])
    );

    let ver = &h["verification_range_hash_two_chunks"];
    let hashes: Vec<MerkleHash> = ver["chunk_hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(mh)
        .collect();
    let concat: Vec<u8> = hashes.iter().flat_map(|h| *h.as_bytes()).collect();
    assert_eq!(hex::encode(concat), s(&ver["concatenated_raw_hex"]));
    assert_eq!(verification_hash(&hashes), mh(&ver["range_hash"]));

    for case in h["merkle_aggregation"].as_array().unwrap() {
        check_merkle_case(case);
    }

    let fin = &h["file_hash_final_step"];
    let root = mh(&fin["merkle_root"]);
    let leaves: Vec<(MerkleHash, u64)> = fin["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (mh(&c[0]), u(&c[1])))
        .collect();
    assert_eq!(merkle_root(&leaves), root);
    assert_eq!(file_hash_from_root(&root), mh(&fin["file_hash"]));
    let salted = MerkleHash::keyed(&[7; 32], root.as_bytes());
    assert_eq!(salted, mh(&fin["file_hash_with_salt_0x07x32"]));

    for case in h["bg4_split"].as_array().unwrap() {
        let input = hex::decode(s(&case["input_hex"])).unwrap();
        let mut grouped = Vec::new();
        bg4_split(&input, &mut grouped);
        assert_eq!(hex::encode(&grouped), s(&case["grouped_hex"]));
        let mut back = Vec::new();
        bg4_join(&grouped, &mut back);
        assert_eq!(back, input);
    }

    for case in h["lz4_frames"].as_array().unwrap() {
        check_lz4_case(case);
    }

    let ex = &h["chunk_header_example"];
    assert_eq!(u(&ex["version"]), 0);
    let header = ChunkHeader {
        scheme: CompressionScheme::from_byte(u(&ex["scheme"]) as u8).unwrap(),
        compressed_len: u(&ex["compressed_len"]) as u32,
        uncompressed_len: u(&ex["uncompressed_len"]) as u32,
    };
    let bytes = hex::decode(s(&ex["bytes_hex"])).unwrap();
    assert_eq!(header.to_bytes()[..], bytes[..]);
    assert_eq!(ChunkHeader::parse(&bytes).unwrap(), header);
}

fn check_merkle_case(case: &Value) {
    let n = u(&case["n_leaves"]) as usize;
    let leaves: Vec<(MerkleHash, u64)> = (0..n)
        .map(|i| (chunk_hash(format!("leaf-{i}").as_bytes()), 1000 + i as u64))
        .collect();
    if let Some(listed) = case.get("leaves") {
        let listed: Vec<(MerkleHash, u64)> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|l| (mh(&l[0]), u(&l[1])))
            .collect();
        assert_eq!(listed, leaves, "leaf rule, n={n}");
        let mods: Vec<u64> = leaves.iter().map(|l| l.0.last_u64() % 4).collect();
        let want: Vec<u64> = case["leaf_hash_last_u64_mod_4"]
            .as_array()
            .unwrap()
            .iter()
            .map(u)
            .collect();
        assert_eq!(mods, want);
    }
    // Group sizes level by level, computed with our grouping rule.
    let mut levels: Vec<Vec<u64>> = Vec::new();
    let mut level = leaves.clone();
    while level.len() > 1 {
        let (mut sizes, mut next, mut rest) = (Vec::new(), Vec::new(), &level[..]);
        while !rest.is_empty() {
            let g = group_len(rest);
            sizes.push(g as u64);
            next.push(node_hash(&rest[..g]));
            rest = &rest[g..];
        }
        levels.push(sizes);
        level = next;
    }
    let want: Vec<Vec<u64>> = case["group_sizes_per_level"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_array().unwrap().iter().map(u).collect())
        .collect();
    assert_eq!(levels, want, "group sizes, n={n}");
    assert_eq!(merkle_root(&leaves), mh(&case["xorb_hash"]), "root, n={n}");
    assert_eq!(
        file_hash(&leaves),
        mh(&case["file_hash"]),
        "file hash, n={n}"
    );
}

fn check_lz4_case(case: &Value) {
    let input = generate(&case["input"]);
    assert_eq!(input.len() as u64, u(&case["input_len"]));
    for (prefix, scheme) in [
        ("lz4_frame", CompressionScheme::Lz4),
        ("bg4_lz4_frame", CompressionScheme::ByteGrouping4Lz4),
    ] {
        // The frame is the payload of a record compressed with that scheme; the vectors list
        // frames even when a writer would fall back to None, so build the payload directly.
        let mut frame = Vec::new();
        let header = xetfs::xet::chunk::encode_chunk(&input, scheme, &mut frame);
        let payload: Vec<u8> = if header.scheme == scheme {
            frame[ChunkHeader::LEN..].to_vec()
        } else {
            frame_without_fallback(&input, scheme)
        };
        let len = u(&case[format!("{prefix}_len")]) as usize;
        assert_eq!(payload.len(), len, "{prefix} length");
        let head = s(&case[format!("{prefix}_head_hex")]);
        assert_eq!(
            hex::encode(&payload[..head.len() / 2]),
            head,
            "{prefix} head"
        );
        if let Some(tail) = case.get(format!("{prefix}_tail_hex")) {
            let tail = s(tail);
            assert_eq!(
                hex::encode(&payload[payload.len() - tail.len() / 2..]),
                tail
            );
        }
        if let Some(full) = case.get(format!("{prefix}_hex")) {
            assert_eq!(hex::encode(&payload), s(full), "{prefix} full");
        }
        // And it decodes back.
        let mut record = ChunkHeader {
            scheme,
            compressed_len: payload.len() as u32,
            uncompressed_len: input.len() as u32,
        }
        .to_bytes()
        .to_vec();
        record.extend_from_slice(&payload);
        assert_eq!(decode_record(&record).unwrap().1, *input);
    }
}

/// A frame for `input` even when it is not shorter than the input (what the vectors list).
fn frame_without_fallback(input: &[u8], scheme: CompressionScheme) -> Vec<u8> {
    use std::io::Write;
    let data = if scheme == CompressionScheme::ByteGrouping4Lz4 {
        let mut g = Vec::new();
        bg4_split(input, &mut g);
        g
    } else {
        input.to_vec()
    };
    let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::new());
    enc.write_all(&data).unwrap();
    enc.finish().unwrap()
}

#[test]
fn chunking() {
    let index = load("chunking/_index.json");
    let index: HashMap<&str, &Value> = index
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (s(&e["name"]), e))
        .collect();
    let mut seen = 0;
    for entry in std::fs::read_dir(support::vectors_dir().join("chunking")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.starts_with('_') || !name.ends_with(".json") {
            continue;
        }
        let v = load(&format!("chunking/{name}"));
        check_chunking_case(&v, index[s(&v["name"])]);
        seen += 1;
    }
    assert_eq!(seen, index.len());
    assert_eq!(seen, 16);
}

fn check_chunking_case(v: &Value, index: &Value) {
    let name = s(&v["name"]);
    let data = generate(&v["input"]);
    assert_eq!(data.len() as u64, u(&v["len"]), "{name}");
    assert_eq!(sha256_hex(&data), s(&v["sha256"]), "{name} input");
    assert_eq!(s(&index["sha256"]), s(&v["sha256"]));

    let lens = chunk_lengths(&data);
    let chunks = v["chunks"].as_array().unwrap();
    assert_eq!(lens.len(), chunks.len(), "{name} chunk count");
    assert_eq!(lens.len() as u64, u(&v["num_chunks"]));
    assert_eq!(lens.len() as u64, u(&index["num_chunks"]));
    let mut offset = 0usize;
    let mut leaves = Vec::with_capacity(lens.len());
    for (i, (c, &n)) in chunks.iter().zip(&lens).enumerate() {
        assert_eq!(
            (u(&c[0]), u(&c[1]), u(&c[2])),
            (i as u64, offset as u64, n as u64),
            "{name}"
        );
        let h = chunk_hash(&data[offset..offset + n]);
        assert_eq!(h, mh(&c[3]), "{name} chunk {i}");
        leaves.push((h, n as u64));
        offset += n;
    }
    let root = merkle_root(&leaves);
    match &v["merkle_root_of_all_chunks"] {
        // No chunks, no tree (our root of nothing is the zero hash).
        Value::Null => assert!(leaves.is_empty() && root.is_zero(), "{name}"),
        r => assert_eq!(root, mh(r), "{name}"),
    }
    let fits = !lens.is_empty()
        && lens.len() <= xetfs::xet::MAX_XORB_CHUNKS
        && data.len() <= xetfs::xet::MAX_XORB_BYTES;
    match &v["xorb_hash_if_single_xorb"] {
        Value::Null => assert!(!fits, "{name}"),
        x => {
            assert!(fits);
            assert_eq!(root, mh(x));
        }
    }
    let fh = file_hash(&leaves);
    assert_eq!(fh, mh(&v["file_hash"]), "{name}");
    assert_eq!(fh, mh(&index["file_hash"]));

    // Streaming in 7777-byte and 1 MiB pieces, and through a reader, gives the same result.
    for piece in [7777, 1 << 20] {
        assert_eq!(streamed_lengths(&data, piece), lens, "{name} piece {piece}");
    }
    assert_eq!(file_hash_of_reader(&data[..]).unwrap(), fh, "{name} reader");
}

fn streamed_lengths(data: &[u8], piece: usize) -> Vec<usize> {
    let mut chunker = Chunker::new();
    let (mut out, mut pos, mut chunk_start) = (Vec::new(), 0, 0);
    for part in data.chunks(piece) {
        let mut rest = part;
        while let Some(n) = chunker.next_cut(rest) {
            pos += n;
            out.push(pos - chunk_start);
            chunk_start = pos;
            rest = &rest[n..];
        }
        pos += rest.len();
    }
    if chunker.pending() > 0 {
        out.push(chunker.pending());
    }
    out
}

fn policy_for(name: &str) -> CompressionPolicy {
    match name {
        "None" => CompressionPolicy::None,
        "LZ4" => CompressionPolicy::Lz4,
        "ByteGrouping4LZ4" => CompressionPolicy::ByteGrouping4Lz4,
        "Auto" => CompressionPolicy::Auto,
        other => panic!("unknown compression setting {other}"),
    }
}

fn build_xorb(data: &[u8], lens: &[usize], policy: CompressionPolicy) -> SerializedXorb {
    let mut b = XorbBuilder::new(policy);
    let mut at = 0;
    for &n in lens {
        assert!(b.fits(n));
        b.add_chunk(&data[at..at + n]);
        at += n;
    }
    b.finish()
}

/// Compares one serialized form with its vector description.
fn check_serialized(bytes: &[u8], v: &Value, what: &str) {
    assert_eq!(bytes.len() as u64, u(&v["total_len"]), "{what} length");
    assert_eq!(sha256_hex(bytes), s(&v["sha256"]), "{what} sha256");
    let n = bytes.len().min(64);
    assert_eq!(
        hex::encode(&bytes[..n]),
        s(&v["first_64_bytes_hex"]),
        "{what}"
    );
    assert_eq!(
        hex::encode(&bytes[bytes.len() - n..]),
        s(&v["last_64_bytes_hex"]),
        "{what}"
    );
    if let Some(full) = v.get("full_hex") {
        assert_eq!(hex::encode(bytes), s(full), "{what} full");
    }
}

#[test]
fn xorb_serialization() {
    let cases = load("xorb_serialization.json");
    let mut checked = 0;
    for case in cases.as_array().unwrap() {
        let name = s(&case["name"]);
        let data = generate(&case["input"]);
        assert_eq!(data.len() as u64, u(&case["input_len"]));
        let lens = chunk_lengths(&data);
        let want_lens: Vec<usize> = case["chunk_lengths"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| u(v) as usize)
            .collect();
        assert_eq!(lens, want_lens, "{name}");
        for (setting, forms) in case["serializations"].as_object().unwrap() {
            let what = format!("{name}/{setting}");
            let x = build_xorb(&data, &lens, policy_for(setting));
            assert_eq!(x.hash, mh(&case["xorb_hash"]), "{what}");
            assert_eq!(x.chunks.len() as u64, u(&case["num_chunks"]));

            let up = &forms["without_footer_as_uploaded"];
            check_serialized(&x.records, up, &format!("{what} uploaded"));
            let per_chunk: Vec<(String, u64, u64)> = x
                .chunks
                .iter()
                .map(|c| {
                    let h = ChunkHeader::parse(&x.records[c.record_start as usize..]).unwrap();
                    (
                        scheme_name(h.scheme).to_string(),
                        h.compressed_len.into(),
                        h.uncompressed_len.into(),
                    )
                })
                .collect();
            let want: Vec<(String, u64, u64)> = up["per_chunk"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| (s(&c[0]).to_string(), u(&c[1]), u(&c[2])))
                .collect();
            assert_eq!(per_chunk, want, "{what} per chunk");

            let stored = x.to_stored_bytes();
            let wf = &forms["with_footer"];
            check_serialized(&stored, wf, &format!("{what} stored"));
            assert_eq!(u(&wf["chunk_section_len"]), x.records.len() as u64);
            let f = &wf["footer"];
            assert_eq!(u(&f["footer_start"]), x.records.len() as u64);
            let footer = x.footer();
            assert_eq!(u(&f["info_length"]) as usize, footer.serialize().len() - 4);
            assert_eq!(u(&f["num_chunks"]) as usize, footer.chunk_hashes.len());
            let nums = |k: &str| -> Vec<u32> {
                f[k].as_array()
                    .unwrap()
                    .iter()
                    .map(|v| u(v) as u32)
                    .collect()
            };
            assert_eq!(
                nums("chunk_boundary_offsets"),
                footer.chunk_boundary_offsets
            );
            assert_eq!(
                nums("unpacked_chunk_offsets"),
                footer.unpacked_chunk_offsets
            );
            let n = footer.chunk_hashes.len() as u64;
            assert_eq!(u(&f["hashes_section_offset_from_end"]), 52 + 40 * n);
            assert_eq!(u(&f["boundary_section_offset_from_end"]), 40 + 8 * n);
            let fb = &stored[x.records.len()..];
            let head = s(&f["footer_hex_head"]);
            assert_eq!(hex::encode(&fb[..head.len() / 2]), head);
            let tail = s(&f["footer_hex_tail"]);
            assert_eq!(hex::encode(&fb[fb.len() - tail.len() / 2..]), tail);

            // Both forms parse back to the same xorb, and decode to the input.
            assert_eq!(parse_xorb_object(&x.records).unwrap(), x);
            assert_eq!(parse_xorb_object(&stored).unwrap(), x);
            let all = xetfs::xet::reconstruction::ChunkRange::new(0, x.chunks.len() as u32);
            let decoded: Vec<u8> = decode_range(&x.records, all)
                .unwrap()
                .into_iter()
                .flat_map(|c| c.data)
                .collect();
            assert_eq!(decoded, *data);
            checked += 1;
        }
    }
    assert_eq!(checked, 7 * 4);
}

/// Chunk data of a xorb as learned from files' terms, and which file first supplied each chunk.
#[derive(Default)]
struct XorbContents {
    chunks: Vec<Option<(Vec<u8>, FileId)>>,
}

/// (session, file) index of the file that first supplied a xorb chunk.
type FileId = (usize, usize);

#[test]
fn upload_cases() {
    let mut cases = 0;
    for entry in std::fs::read_dir(support::vectors_dir().join("upload")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".json") {
            check_upload_case(&load(&format!("upload/{name}")));
            cases += 1;
        }
    }
    assert_eq!(cases, 14);
}

fn file_input(name: &str) -> std::sync::Arc<Vec<u8>> {
    generate(&load(&format!("chunking/{name}.json"))["input"])
}

fn check_upload_case(case: &Value) {
    let cname = s(&case["case"]);
    let mut contents: HashMap<MerkleHash, XorbContents> = HashMap::new();
    let mut xorbs: HashMap<MerkleHash, SerializedXorb> = HashMap::new();
    let mut files_by_name: HashMap<String, std::sync::Arc<Vec<u8>>> = HashMap::new();

    for (si, session) in case["sessions"].as_array().unwrap().iter().enumerate() {
        let mut shard = Shard::default();
        for (fi, f) in session["files"].as_array().unwrap().iter().enumerate() {
            let fname = s(&f["name"]);
            let data = file_input(fname);
            files_by_name.insert(fname.to_string(), data.clone());
            assert_eq!(data.len() as u64, u(&f["size"]), "{cname}/{fname}");
            assert_eq!(sha256_hex(&data), s(&f["sha256"]));
            let leaves = leaves_of(&data);
            let fh = file_hash(&leaves);
            assert_eq!(fh, mh(&f["xet_file_hash"]), "{cname}/{fname}");
            let rec = &f["reconstruction"];
            assert_eq!(mh(&rec["file_hash"]), fh);

            // Walk the terms over the file's chunks: each term names xorb chunks holding them.
            let lens = chunk_lengths(&data);
            let (mut ci, mut at) = (0usize, 0usize);
            let mut terms = Vec::new();
            let mut verification = Vec::new();
            for t in rec["terms"].as_array().unwrap() {
                let xh = mh(&t["xorb_hash"]);
                let (cs, ce) = (u(&t["chunk_start"]) as usize, u(&t["chunk_end"]) as usize);
                let slot = contents.entry(xh).or_default();
                if slot.chunks.len() < ce {
                    slot.chunks.resize(ce, None);
                }
                let mut unpacked = 0;
                let mut term_hashes = Vec::new();
                for x in cs..ce {
                    let chunk = data[at..at + lens[ci]].to_vec();
                    at += lens[ci];
                    ci += 1;
                    unpacked += chunk.len() as u64;
                    term_hashes.push(chunk_hash(&chunk));
                    match &slot.chunks[x] {
                        Some((known, _)) => {
                            assert_eq!(known, &chunk, "{cname}: xorb chunk reused with other bytes")
                        }
                        None => slot.chunks[x] = Some((chunk, (si, fi))),
                    }
                }
                assert_eq!(unpacked, u(&t["unpacked_length"]));
                verification.push(verification_hash(&term_hashes));
                terms.push(ShardTerm {
                    xorb_hash: xh,
                    xorb_flags: 0,
                    unpacked_bytes: unpacked as u32,
                    chunk_start: cs as u32,
                    chunk_end: ce as u32,
                });
            }
            assert_eq!(ci, lens.len(), "{cname}/{fname}: terms cover every chunk");
            let want_ver: Vec<MerkleHash> = rec["verification_range_hashes"]
                .as_array()
                .unwrap()
                .iter()
                .map(mh)
                .collect();
            assert_eq!(verification, want_ver, "{cname}/{fname} verification");
            let sha: [u8; 32] = hex::decode(s(&f["sha256"])).unwrap().try_into().unwrap();
            assert_eq!(
                hex::encode(xetfs::xet::shard::sha256_stored_form(&sha)),
                s(&rec["metadata_ext_sha256_raw_bytes_hex"])
            );
            shard.files.push(ShardFile {
                file_hash: fh,
                terms,
                verification: Some(verification),
                sha256: Some(sha),
            });
        }

        for nx in session["new_xorbs"].as_array().unwrap() {
            let xh = mh(&nx["xorb_hash"]);
            let x = rebuild_xorb(&contents[&xh], cname);
            check_new_xorb(&x, nx, cname);
            shard.xorbs.push(ShardXorb {
                xorb_hash: x.hash,
                flags: 0,
                num_bytes_in_xorb: x.raw_len() as u32,
                num_bytes_on_disk: 0,
                chunks: x
                    .footer()
                    .chunk_hashes
                    .iter()
                    .zip(&x.chunks)
                    .scan(0u32, |start, (h, c)| {
                        let e = ShardXorbChunk {
                            hash: *h,
                            byte_start: *start,
                            raw_len: c.raw_len,
                            flags: 0,
                        };
                        *start += c.raw_len;
                        Some(e)
                    })
                    .collect(),
            });
            xorbs.insert(xh, x);
        }

        let shards = session["shards_uploaded"].as_array().unwrap();
        assert_eq!(shards.len(), 1);
        check_shard(&shard, &shards[0], cname);
    }

    for (fname, requests) in case["reconstruction_api"].as_object().unwrap() {
        let data = &files_by_name[fname];
        for req in requests.as_array().unwrap() {
            check_reconstruction(req, data, &xorbs, &format!("{cname}/{fname}"));
        }
    }
}

/// Re-creates a new xorb from its chunks with the default `Auto` policy, starting a file
/// section wherever the supplying file changes (as the reference's aggregator does).
fn rebuild_xorb(contents: &XorbContents, cname: &str) -> SerializedXorb {
    let mut b = XorbBuilder::new(CompressionPolicy::Auto);
    let mut prev_file = None;
    for (i, c) in contents.chunks.iter().enumerate() {
        let (bytes, file) = c
            .as_ref()
            .unwrap_or_else(|| panic!("{cname}: xorb chunk {i} never referenced"));
        if prev_file.is_some_and(|p| p != *file) {
            b.start_file();
        }
        prev_file = Some(*file);
        assert!(b.fits(bytes.len()));
        b.add_chunk(bytes);
    }
    b.finish()
}

fn check_new_xorb(x: &SerializedXorb, nx: &Value, cname: &str) {
    assert_eq!(x.hash, mh(&nx["xorb_hash"]), "{cname}");
    assert_eq!(x.chunks.len() as u64, u(&nx["num_chunks"]), "{cname}");
    assert_eq!(x.raw_len(), u(&nx["raw_bytes"]), "{cname}");
    assert_eq!(
        x.records.len() as u64,
        u(&nx["uploaded_len_without_footer"]),
        "{cname}"
    );
    let stored = x.to_stored_bytes();
    assert_eq!(
        stored.len() as u64,
        u(&nx["stored_len_with_footer"]),
        "{cname}"
    );
    let mut counts: HashMap<&str, u64> = HashMap::new();
    for c in &x.chunks {
        let h = ChunkHeader::parse(&x.records[c.record_start as usize..]).unwrap();
        *counts.entry(scheme_name(h.scheme)).or_default() += 1;
    }
    let want: HashMap<&str, u64> = nx["scheme_counts"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str(), u(v)))
        .collect();
    assert_eq!(counts, want, "{cname} scheme counts");
    assert_eq!(
        sha256_hex(&x.records),
        s(&nx["sha256_uploaded_body"]),
        "{cname}"
    );
    assert_eq!(
        sha256_hex(&stored),
        s(&nx["sha256_stored_object"]),
        "{cname}"
    );
    let n = stored.len().min(64);
    assert_eq!(hex::encode(&stored[..n]), s(&nx["first_64_bytes_hex"]));
    let footer = x.footer();
    let nums = |k: &str| -> Vec<u32> {
        nx[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| u(v) as u32)
            .collect()
    };
    let first8 = |v: &[u32]| v[..v.len().min(8)].to_vec();
    assert_eq!(
        nums("chunk_boundary_offsets_first_8"),
        first8(&footer.chunk_boundary_offsets)
    );
    assert_eq!(
        nums("unpacked_chunk_offsets_first_8"),
        first8(&footer.unpacked_chunk_offsets)
    );
    let first4: Vec<MerkleHash> = nx["chunk_hashes_first_4"]
        .as_array()
        .unwrap()
        .iter()
        .map(mh)
        .collect();
    assert_eq!(first4[..], footer.chunk_hashes[..first4.len()]);
}

fn check_shard(ours: &Shard, v: &Value, cname: &str) {
    let body = ours.serialize_upload();
    assert_eq!(
        body.len() as u64,
        u(&v["upload_body_len"]),
        "{cname} shard length"
    );
    assert_eq!(
        sha256_hex(&body),
        s(&v["upload_body_sha256"]),
        "{cname} shard sha256"
    );
    assert_eq!(hex::encode(&body[..48]), s(&v["header_hex"]));
    if let Some(hexed) = v.get("upload_body_hex") {
        let reference = hex::decode(s(hexed)).unwrap();
        assert_eq!(body, reference, "{cname} shard bytes");
    }
    // Our parser reads the body back to the view the vector lists.
    let parsed = Shard::parse(&body).unwrap();
    assert_eq!(parsed.footer, None);
    assert_eq!(parsed.serialize_upload(), body);
    let view = &v["parsed"];
    let files = view["files"].as_array().unwrap();
    assert_eq!(parsed.files.len(), files.len());
    for (p, f) in parsed.files.iter().zip(files) {
        assert_eq!(p.file_hash, mh(&f["file_hash"]));
        assert_eq!(s(&f["flags"]), "0xc0000000");
        let terms: Vec<(MerkleHash, u64, u64, u64, u64)> = f["terms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (mh(&t[0]), u(&t[1]), u(&t[2]), u(&t[3]), u(&t[4])))
            .collect();
        let ours: Vec<_> = p
            .terms
            .iter()
            .map(|t| {
                (
                    t.xorb_hash,
                    t.xorb_flags.into(),
                    t.unpacked_bytes.into(),
                    t.chunk_start.into(),
                    t.chunk_end.into(),
                )
            })
            .collect();
        assert_eq!(ours, terms);
        let ver: Vec<MerkleHash> = f["verification"]
            .as_array()
            .unwrap()
            .iter()
            .map(mh)
            .collect();
        assert_eq!(p.verification.as_ref(), Some(&ver));
        assert_eq!(hex::encode(p.sha256.unwrap()), s(&f["sha256_string"]));
    }
    let xorbs = view["xorbs"].as_array().unwrap();
    assert_eq!(parsed.xorbs.len(), xorbs.len());
    for (p, x) in parsed.xorbs.iter().zip(xorbs) {
        assert_eq!(p.xorb_hash, mh(&x["xorb_hash"]));
        assert_eq!(u64::from(p.flags), u(&x["xorb_flags"]));
        assert_eq!(p.chunks.len() as u64, u(&x["num_chunks"]));
        assert_eq!(u64::from(p.num_bytes_in_xorb), u(&x["num_bytes_in_xorb"]));
        assert_eq!(u64::from(p.num_bytes_on_disk), u(&x["num_bytes_on_disk"]));
        for e in x["chunk_entries_first4_and_flagged"].as_array().unwrap() {
            let c = &p.chunks[u(&e[0]) as usize];
            assert_eq!(c.hash, mh(&e[1]));
            assert_eq!(
                (u64::from(c.byte_start), u64::from(c.raw_len)),
                (u(&e[2]), u(&e[3]))
            );
            assert_eq!(format!("{:#010x}", c.flags), s(&e[4]));
        }
    }
}

/// Parses both JSON shapes into our types and reassembles the requested bytes from our own
/// serialized xorbs.
fn check_reconstruction(
    req: &Value,
    data: &[u8],
    xorbs: &HashMap<MerkleHash, SerializedXorb>,
    what: &str,
) {
    if u(&req["status"]) == 416 {
        let start = u(&req["request_range_exclusive_end"][0]) as usize;
        assert!(start >= data.len(), "{what}: 416 only past EOF");
        return;
    }
    let (start, end) = match &req["request_range_exclusive_end"] {
        Value::Null => (0, data.len()),
        r => (u(&r[0]) as usize, (u(&r[1]) as usize).min(data.len())),
    };
    let v1: ReconstructionV1 = serde_json::from_value(req["v1"].clone()).unwrap();
    let v2: ReconstructionV2 = serde_json::from_value(req["v2"].clone()).unwrap();
    let v1_as_v2: ReconstructionV2 = v1.into();
    for r in [v2, v1_as_v2] {
        r.validate().unwrap_or_else(|e| panic!("{what}: {e}"));
        let mut out = Vec::new();
        for t in &r.terms {
            let src = r.source_for(t).unwrap();
            let x = &xorbs[&t.hash];
            let b = src.descriptor.bytes;
            assert_eq!(
                x.byte_range(src.descriptor.chunks),
                Some(b),
                "{what}: descriptor bytes"
            );
            let body = &x.records[b.start as usize..=b.end as usize];
            let chunks = decode_range(body, src.descriptor.chunks).unwrap();
            let first = (t.range.start - src.descriptor.chunks.start) as usize;
            let term: Vec<u8> = chunks[first..first + t.range.len() as usize]
                .iter()
                .flat_map(|c| c.data.iter().copied())
                .collect();
            assert_eq!(term.len() as u64, u64::from(t.unpacked_length));
            out.extend(term);
        }
        let skip = r.offset_into_first_range as usize;
        let got = &out[skip.min(out.len())..];
        let got = &got[..got.len().min(end - start)];
        assert_eq!(got, &data[start..end], "{what}: reassembled bytes");
    }
}

/// `xetfs hash` on files holding vector inputs prints their file hashes; unreadable files are
/// reported and make the exit status 1 without stopping the others.
#[test]
fn cli_hash() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = Vec::new();
    let mut expected = Vec::new();
    for name in ["empty", "hello_world", "splitmix_3MiB", "zeros_1MiB"] {
        let v = load(&format!("chunking/{name}.json"));
        let path = dir.path().join(name);
        std::fs::write(&path, &*generate(&v["input"])).unwrap();
        args.push(path.clone());
        expected.push(format!("{}  {}", s(&v["file_hash"]), path.display()));
    }
    let missing = dir.path().join("missing");
    args.insert(1, missing.clone());
    let exe = env!("CARGO_BIN_EXE_xetfs");
    let out = std::process::Command::new(exe)
        .arg("hash")
        .args(&args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().collect::<Vec<_>>(), expected);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
    assert!(stderr.contains("No such file or directory"), "{stderr}");
    assert!(expected[0].starts_with(&"0".repeat(64)));

    let ok = std::process::Command::new(exe)
        .arg("hash")
        .args(&args[2..])
        .output()
        .unwrap();
    assert!(ok.status.success());
    let help = std::process::Command::new(exe)
        .args(["hash", "--help"])
        .output()
        .unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("FILE"));
}
