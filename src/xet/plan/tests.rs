use std::collections::HashMap;

use super::*;

/// Layout from per-chunk `(raw length, record length)` lists.
#[derive(Default)]
struct MapLayout(HashMap<MerkleHash, Vec<(u64, u32)>>);

impl MapLayout {
    fn add(&mut self, xorb: MerkleHash, chunks: &[(u32, u64)]) {
        let mut end = 0;
        let entries = chunks
            .iter()
            .map(|&(raw, record)| {
                end += record;
                (end, raw)
            })
            .collect();
        self.0.insert(xorb, entries);
    }
}

impl XorbLayout for MapLayout {
    fn chunk(&self, xorb: &MerkleHash, index: u32) -> Option<(u64, u32)> {
        self.0.get(xorb)?.get(index as usize).copied()
    }
}

fn h(n: u8) -> MerkleHash {
    MerkleHash::from_bytes([n; 32])
}

fn term(xorb: u8, start: u32, end: u32, len: u32) -> Term {
    Term {
        hash: h(xorb),
        unpacked_length: len,
        range: ChunkRange::new(start, end),
    }
}

fn br(start: u64, end: u64) -> ByteRange {
    ByteRange { start, end }
}

/// Xorb 1: four chunks of 100 raw bytes stored in records of 50 bytes; xorb 2: two chunks of
/// 10 raw bytes in records of 18 bytes.
fn two_xorbs() -> MapLayout {
    let mut l = MapLayout::default();
    l.add(h(1), &[(100, 50); 4]);
    l.add(h(2), &[(10, 18); 2]);
    l
}

#[test]
fn whole_file_keeps_terms_and_merges_one_xorb() {
    let l = two_xorbs();
    let terms = [term(1, 0, 2, 200), term(2, 0, 2, 20), term(1, 2, 4, 200)];
    let p = plan_range(&terms, &l, 0..u64::MAX).unwrap();
    assert_eq!(p.offset_into_first_range, 0);
    assert_eq!(p.terms, terms);
    // [0,2) and [2,4) of xorb 1 touch, so they become one descriptor.
    assert_eq!(
        p.xorb_ranges,
        vec![
            (h(1), vec![(ChunkRange::new(0, 4), br(0, 199))]),
            (h(2), vec![(ChunkRange::new(0, 2), br(0, 35))]),
        ]
    );
}

#[test]
fn trims_leading_and_trailing_chunks() {
    let l = two_xorbs();
    let terms = [term(1, 0, 4, 400)];
    // Bytes 150..=250 lie in chunks 1 and 2.
    let p = plan_range(&terms, &l, 150..251).unwrap();
    assert_eq!(p.offset_into_first_range, 50);
    assert_eq!(p.terms, vec![term(1, 1, 3, 200)]);
    assert_eq!(
        p.xorb_ranges,
        vec![(h(1), vec![(ChunkRange::new(1, 3), br(50, 149))])]
    );
}

#[test]
fn range_inside_one_chunk_and_exact_chunk_edges() {
    let l = two_xorbs();
    let terms = [term(1, 0, 4, 400)];
    let p = plan_range(&terms, &l, 310..311).unwrap();
    assert_eq!(
        (p.offset_into_first_range, p.terms.clone()),
        (10, vec![term(1, 3, 4, 100)])
    );
    // [100, 200) is exactly chunk 1: no neighbour may be included.
    let p = plan_range(&terms, &l, 100..200).unwrap();
    assert_eq!(
        (p.offset_into_first_range, p.terms),
        (0, vec![term(1, 1, 2, 100)])
    );
}

#[test]
fn offset_counts_from_the_first_kept_term() {
    let l = two_xorbs();
    let terms = [term(2, 0, 2, 20), term(1, 0, 4, 400)];
    // Starts in the second term: the first term is dropped entirely.
    let p = plan_range(&terms, &l, 125..130).unwrap();
    assert_eq!(p.offset_into_first_range, 5);
    assert_eq!(p.terms, vec![term(1, 1, 2, 100)]);
    assert_eq!(p.xorb_ranges.len(), 1);
}

#[test]
fn end_past_eof_is_clamped() {
    let l = two_xorbs();
    let terms = [term(1, 0, 4, 400)];
    let p = plan_range(&terms, &l, 390..10_000).unwrap();
    assert_eq!(
        (p.offset_into_first_range, p.terms),
        (90, vec![term(1, 3, 4, 100)])
    );
}

#[test]
fn start_at_or_past_eof_is_not_satisfiable() {
    let l = two_xorbs();
    let terms = [term(1, 0, 4, 400)];
    assert_eq!(
        plan_range(&terms, &l, 400..401),
        Err(PlanError::RangeNotSatisfiable)
    );
    assert_eq!(
        plan_range(&terms, &l, 1000..2000),
        Err(PlanError::RangeNotSatisfiable)
    );
    // An empty request range has nothing to plan either.
    assert_eq!(
        plan_range(&terms, &l, 10..10),
        Err(PlanError::RangeNotSatisfiable)
    );
}

#[test]
fn empty_file_answers_with_an_empty_plan() {
    let p = plan_range(&[], &two_xorbs(), 0..10).unwrap();
    assert!(p.terms.is_empty() && p.xorb_ranges.is_empty());
    assert_eq!(p.offset_into_first_range, 0);
}

#[test]
fn overlapping_and_repeated_ranges_merge_disjoint_ones_do_not() {
    let mut l = MapLayout::default();
    l.add(h(3), &[(10, 20); 50]);
    // Like the reference's dedup_repeat: [0,43), [1,38), [43,44) → one descriptor [0,44).
    let terms = [
        term(3, 0, 43, 430),
        term(3, 1, 38, 370),
        term(3, 43, 44, 10),
    ];
    let p = plan_range(&terms, &l, 0..u64::MAX).unwrap();
    assert_eq!(
        p.xorb_ranges,
        vec![(h(3), vec![(ChunkRange::new(0, 44), br(0, 879))])]
    );
    // A later term using earlier chunks still ends up in sorted, disjoint descriptors.
    let terms = [
        term(3, 30, 40, 100),
        term(3, 0, 10, 100),
        term(3, 5, 12, 70),
    ];
    let p = plan_range(&terms, &l, 0..u64::MAX).unwrap();
    assert_eq!(
        p.xorb_ranges,
        vec![(
            h(3),
            vec![
                (ChunkRange::new(0, 12), br(0, 239)),
                (ChunkRange::new(30, 40), br(600, 799))
            ]
        )]
    );
}

#[test]
fn unknown_chunks_and_inconsistent_lengths_are_errors() {
    let l = two_xorbs();
    // Chunk 4 of xorb 1 does not exist.
    let p = plan_range(&[term(1, 2, 5, 300)], &l, 0..u64::MAX);
    assert_eq!(p, Err(PlanError::MissingChunk(h(1), 4)));
    let p = plan_range(&[term(9, 0, 1, 5)], &l, 0..u64::MAX);
    assert_eq!(p, Err(PlanError::MissingChunk(h(9), 0)));
    // The term claims 250 bytes for chunks of 200: a partial read cannot be placed.
    let p = plan_range(&[term(1, 0, 2, 250)], &l, 10..20);
    assert!(matches!(p, Err(PlanError::InconsistentLayout(..))), "{p:?}");
    let p = plan_range(&[term(1, 2, 2, 5)], &l, 0..u64::MAX);
    assert!(matches!(p, Err(PlanError::InconsistentLayout(..))), "{p:?}");
}

mod vectors;
