//! Unit tests of the mock remote.

use rand::{RngCore, SeedableRng};

use super::*;
use crate::hub::EntryKind;
use crate::xet::xorb::decode_range;

fn random(len: usize, seed: u64) -> Vec<u8> {
    let mut v = vec![0; len];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut v);
    v
}

async fn collect(mut s: ByteStream) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(piece) = s.next().await {
        out.extend_from_slice(&piece.unwrap());
    }
    out
}

/// Reads file bytes `range` the way a client does: reconstruction, fetches, decode, trim.
async fn read(
    mock: &MockRemote,
    scope: &RepoScope,
    file: &MerkleHash,
    range: Range<u64>,
) -> Vec<u8> {
    let want = (range.end - range.start) as usize;
    let r = mock.reconstruction(scope, file, range).await.unwrap();
    r.validate().unwrap();
    let mut out = Vec::new();
    for t in &r.terms {
        let src = r.source_for(t).unwrap();
        let body = collect(
            mock.fetch_xorb_range(src.url, src.descriptor.bytes)
                .await
                .unwrap(),
        )
        .await;
        for c in decode_range(&body, src.descriptor.chunks).unwrap() {
            if (t.range.start..t.range.end).contains(&c.index) {
                out.extend_from_slice(&c.data);
            }
        }
    }
    let skip = r.offset_into_first_range as usize;
    out.drain(..skip);
    out.truncate(want);
    out
}

fn scope(repo: &RepoId, commit: &str) -> RepoScope {
    RepoScope {
        repo: repo.clone(),
        commit: commit.to_string(),
    }
}

#[tokio::test]
async fn serves_listing_metadata_and_bytes() {
    let mock = MockRemote::new();
    let repo = RepoId::model("org/m");
    let data = random(700_000, 1);
    let commit = mock
        .commit(&repo, "main")
        .xet("weights/a.bin", data.clone())
        .plain("README.md", &b"hello"[..])
        .push();
    assert_eq!(mock.resolve_revision(&repo, "main").await.unwrap(), commit);
    assert_eq!(mock.resolve_revision(&repo, &commit).await.unwrap(), commit);
    assert!(matches!(
        mock.resolve_revision(&repo, "nope").await,
        Err(RemoteError::NotFound(_))
    ));

    let tree = mock.list_tree(&repo, &commit).await.unwrap();
    let paths: Vec<_> = tree.iter().map(|e| (e.path.as_str(), e.kind)).collect();
    assert_eq!(
        paths,
        [
            ("README.md", EntryKind::File),
            ("weights", EntryKind::Directory),
            ("weights/a.bin", EntryKind::File)
        ]
    );
    let file = tree[2].xet_hash.expect("xet file has a hash");
    assert_eq!(tree[2].size, data.len() as u64);
    assert!(tree[0].xet_hash.is_none() && tree[0].lfs_sha256.is_none());
    let meta = mock
        .file_metadata(&repo, &commit, "weights/a.bin")
        .await
        .unwrap();
    assert_eq!(meta.xet_hash, Some(file));
    assert_eq!(Some(meta.etag), tree[2].lfs_sha256.clone());

    let s = scope(&repo, &commit);
    assert_eq!(read(&mock, &s, &file, 0..data.len() as u64).await, data);
    assert_eq!(
        read(&mock, &s, &file, 123_456..400_001).await,
        data[123_456..400_001]
    );
    // Past EOF.
    assert!(matches!(
        mock.reconstruction(&s, &file, 700_000..700_010).await,
        Err(RemoteError::RangeNotSatisfiable)
    ));
    let c = mock.counters();
    assert_eq!(c.reconstruction, 3);
    assert!(c.fetch_xorb_range >= 2);
    assert!(c.xorb_bytes > 0 && c.xorb_bytes <= 2 * mock.stored_xorb_bytes());
}

#[tokio::test]
async fn content_is_deduplicated_across_revisions() {
    let mock = MockRemote::new();
    let repo = RepoId::model("org/m");
    let base = random(2_000_000, 2);
    let c1 = mock.commit(&repo, "main").xet("a.bin", base.clone()).push();
    let xorbs = mock.xorb_count();
    let stored = mock.stored_xorb_bytes();
    let mut grown = base.clone();
    grown.extend_from_slice(&random(100_000, 3));
    let c2 = mock
        .commit(&repo, "main")
        .xet("a.bin", grown.clone())
        .push();
    assert_ne!(c1, c2);
    // Only the tail is new: one more xorb, far smaller than the file.
    assert_eq!(mock.xorb_count(), xorbs + 1);
    assert!(mock.stored_xorb_bytes() - stored < 400_000);
    // The old revision stays readable (by commit), the new one reads whole.
    let f1 = mock
        .file_metadata(&repo, &c1, "a.bin")
        .await
        .unwrap()
        .xet_hash
        .unwrap();
    let f2 = mock
        .file_metadata(&repo, &c2, "a.bin")
        .await
        .unwrap()
        .xet_hash
        .unwrap();
    assert_eq!(
        read(&mock, &scope(&repo, &c1), &f1, 0..base.len() as u64).await,
        base
    );
    assert_eq!(
        read(&mock, &scope(&repo, &c2), &f2, 0..grown.len() as u64).await,
        grown
    );
    assert_eq!(mock.resolve_revision(&repo, "main").await.unwrap(), c2);
}

#[tokio::test]
async fn only_signed_ranges_can_be_fetched() {
    let mock = MockRemote::new();
    let repo = RepoId::model("org/m");
    let c = mock
        .commit(&repo, "main")
        .xet("a", random(300_000, 4))
        .push();
    let f = mock
        .file_metadata(&repo, &c, "a")
        .await
        .unwrap()
        .xet_hash
        .unwrap();
    let r = mock
        .reconstruction(&scope(&repo, &c), &f, 0..10)
        .await
        .unwrap();
    let src = r.source_for(&r.terms[0]).unwrap();
    let d = src.descriptor.bytes;
    assert!(mock.fetch_xorb_range(src.url, d).await.is_ok());
    let shifted = ByteRange {
        start: d.start,
        end: d.end + 1,
    };
    assert!(matches!(
        mock.fetch_xorb_range(src.url, shifted).await,
        Err(RemoteError::UrlExpired)
    ));
    assert!(matches!(
        mock.fetch_xorb_range("https://elsewhere/x", d).await,
        Err(RemoteError::Protocol(_))
    ));
}

#[tokio::test]
async fn plain_files_with_and_without_range_support() {
    let mock = MockRemote::new();
    let repo = RepoId::dataset("org/d");
    let data = random(200_000, 5);
    let c = mock
        .commit(&repo, "main")
        .plain("x.csv", data.clone())
        .push();
    let r = mock
        .get_file(
            &repo,
            &c,
            "x.csv",
            Some(ByteRange {
                start: 70_000,
                end: 300_000,
            }),
        )
        .await
        .unwrap();
    assert_eq!((r.start, r.len), (70_000, 130_000));
    assert_eq!(collect(r.body).await, data[70_000..]);
    assert!(matches!(
        mock.get_file(
            &repo,
            &c,
            "x.csv",
            Some(ByteRange {
                start: 200_000,
                end: 200_001
            })
        )
        .await,
        Err(RemoteError::RangeNotSatisfiable)
    ));
    mock.set_ignore_range(true);
    let r = mock
        .get_file(&repo, &c, "x.csv", Some(ByteRange { start: 5, end: 9 }))
        .await
        .unwrap();
    assert_eq!((r.start, r.len), (0, 200_000));
    assert_eq!(collect(r.body).await, data);
    assert_eq!(mock.counters().get_file, 3);
    assert_eq!(mock.counters().file_bytes, 330_000);
    assert!(matches!(
        mock.get_file(&repo, &c, "missing", None).await,
        Err(RemoteError::NotFound(_))
    ));
}

#[tokio::test]
async fn optional_behaviours() {
    let mock = MockRemote::new();
    let repo = RepoId::model("org/m");
    let c = mock
        .commit(&repo, "main")
        .xet("a", random(50_000, 6))
        .push();
    let tree = mock.list_tree(&repo, &c).await.unwrap();
    let x = mock
        .file_metadata(&repo, &c, "a")
        .await
        .unwrap()
        .xet_hash
        .unwrap();
    let r = mock
        .reconstruction(&scope(&repo, &c), &x, 0..1)
        .await
        .unwrap();
    let xorb = r.terms[0].hash;
    assert_eq!(
        mock.xorb_chunk_hashes(&scope(&repo, &c), &xorb)
            .await
            .unwrap(),
        None
    );
    mock.set_offer_chunk_hashes(true);
    let list = mock
        .xorb_chunk_hashes(&scope(&repo, &c), &xorb)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(list.iter().map(|(_, l)| u64::from(*l)).sum::<u64>(), 50_000);
    assert_eq!(
        crate::xet::merkle::xorb_hash(
            &list
                .iter()
                .map(|(h, l)| (*h, u64::from(*l)))
                .collect::<Vec<_>>()
        ),
        xorb
    );
    mock.set_redact_xet_hashes(true);
    let redacted = mock.list_tree(&repo, &c).await.unwrap();
    assert!(redacted[0].xet_redacted && redacted[0].xet_hash.is_none());
    assert!(tree[0].xet_hash.is_some());
    mock.reset_counters();
    assert_eq!(mock.counters(), MockCounters::default());
}
