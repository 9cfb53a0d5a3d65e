//! The reconstruction planner against every `reconstruction_api` answer of the reference CAS
//! (`testvectors/upload/*.json`), including compressed xorbs: each xorb of a case is rebuilt
//! with the Xet core from the regenerated input (its hash and length must match the vector),
//! which gives the exact record layout the reference's answers were computed from.

mod support;

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;
use xetfs::xet::chunk::CompressionPolicy;
use xetfs::xet::plan::{plan_range, PlanError, XorbLayout};
use xetfs::xet::reconstruction::{ByteRange, ChunkRange, Term};
use xetfs::xet::xorb::XorbBuilder;
use xetfs::xet::MerkleHash;

struct Layout(HashMap<MerkleHash, Vec<(u64, u32)>>);

impl XorbLayout for Layout {
    fn chunk(&self, xorb: &MerkleHash, index: u32) -> Option<(u64, u32)> {
        self.0.get(xorb)?.get(index as usize).copied()
    }
}

fn hash(v: &Value) -> MerkleHash {
    MerkleHash::from_hex(v.as_str().unwrap()).unwrap()
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap()
}

#[test]
fn planner_matches_every_reference_answer() {
    let mut cases = 0;
    let mut answers = 0;
    let mut paths: Vec<_> = std::fs::read_dir(support::vectors_dir().join("upload"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    for path in paths {
        let case: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        // (xorb, index) → (file name, chunk bytes), and each file's terms.
        let mut chunks: HashMap<(MerkleHash, u32), (String, Vec<u8>)> = HashMap::new();
        let mut files: HashMap<String, Vec<Term>> = HashMap::new();
        let mut new_xorbs = Vec::new();
        for session in case["sessions"].as_array().unwrap() {
            for f in session["files"].as_array().unwrap() {
                let name = f["name"].as_str().unwrap().to_string();
                let chunking = support::load(&format!("chunking/{name}.json"));
                let data = support::generate(&chunking["input"]);
                let mut next = chunking["chunks"].as_array().unwrap().iter();
                let mut terms = Vec::new();
                for t in f["reconstruction"]["terms"].as_array().unwrap() {
                    let (x, s, e) = (
                        hash(&t["xorb_hash"]),
                        n(&t["chunk_start"]) as u32,
                        n(&t["chunk_end"]) as u32,
                    );
                    for i in s..e {
                        let c = next.next().unwrap();
                        let (off, len) = (n(&c[1]) as usize, n(&c[2]) as usize);
                        chunks
                            .entry((x, i))
                            .or_insert_with(|| (name.clone(), data[off..off + len].to_vec()));
                    }
                    terms.push(Term {
                        hash: x,
                        unpacked_length: n(&t["unpacked_length"]) as u32,
                        range: ChunkRange::new(s, e),
                    });
                }
                files.insert(name, terms);
            }
            new_xorbs.extend(session["new_xorbs"].as_array().unwrap().iter().cloned());
        }
        let mut layout = Layout(HashMap::new());
        for x in &new_xorbs {
            let xh = hash(&x["xorb_hash"]);
            let mut b = XorbBuilder::new(CompressionPolicy::Auto);
            let mut last_file = None;
            for i in 0..n(&x["num_chunks"]) as u32 {
                let (file, data) = &chunks[&(xh, i)];
                if last_file.as_ref() != Some(file) {
                    b.start_file();
                    last_file = Some(file.clone());
                }
                b.add_chunk(data);
            }
            let built = b.finish();
            assert_eq!(built.hash, xh, "{}: rebuilt xorb hash", path.display());
            assert_eq!(
                built.records.len() as u64,
                n(&x["uploaded_len_without_footer"])
            );
            let entries = built
                .chunks
                .iter()
                .map(|c| (c.record_start + u64::from(c.record_len), c.raw_len))
                .collect();
            layout.0.insert(xh, entries);
        }
        for (name, requests) in case["reconstruction_api"].as_object().unwrap() {
            for req in requests.as_array().unwrap() {
                let range = match req["request_range_exclusive_end"].as_array() {
                    Some(r) => n(&r[0])..n(&r[1]),
                    None => 0..u64::MAX,
                };
                let got = plan_range(&files[name], &layout, range.clone());
                let what = format!("{} {name} {range:?}", path.display());
                if n(&req["status"]) == 416 {
                    assert_eq!(got, Err(PlanError::RangeNotSatisfiable), "{what}");
                } else {
                    let got = got.unwrap_or_else(|e| panic!("{what}: {e}"));
                    let v2 = &req["v2"];
                    let terms: Vec<Term> = serde_json::from_value(v2["terms"].clone()).unwrap();
                    assert_eq!(got.terms, terms, "{what}");
                    assert_eq!(
                        got.offset_into_first_range,
                        n(&v2["offset_into_first_range"]),
                        "{what}"
                    );
                    let mut want: BTreeMap<MerkleHash, Vec<(ChunkRange, ByteRange)>> =
                        BTreeMap::new();
                    for (k, entries) in v2["xorbs"].as_object().unwrap() {
                        for e in entries.as_array().unwrap() {
                            for r in e["ranges"].as_array().unwrap() {
                                want.entry(MerkleHash::from_hex(k).unwrap())
                                    .or_default()
                                    .push((
                                        serde_json::from_value(r["chunks"].clone()).unwrap(),
                                        serde_json::from_value(r["bytes"].clone()).unwrap(),
                                    ));
                            }
                        }
                    }
                    let got: BTreeMap<_, _> = got.xorb_ranges.into_iter().collect();
                    assert_eq!(got, want, "{what}");
                }
                answers += 1;
            }
        }
        cases += 1;
    }
    assert_eq!(cases, 14, "every upload case is checked");
    assert!(answers >= 70, "{answers} answers checked");
}
