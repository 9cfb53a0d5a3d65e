//! Hub API: revisions, listings, resolve HEAD/GET, error mapping, token confinement.

use serde_json::json;
use xetfs::hub::{EntryKind, RepoId};
use xetfs::remote::{Remote, RemoteError};
use xetfs::xet::reconstruction::ByteRange;
use xetfs::xet::MerkleHash;

use crate::support::*;

#[tokio::test]
async fn revision_is_resolved_with_an_encoded_rev_and_the_token() {
    let log = Log::default();
    let hub = serve(log.clone(), |s| async move {
        if s.uri == "/api/models/org/m/revision/refs%2Fpr%2F1" {
            json(200, json!({"id": "org/m", "sha": SHA}))
        } else {
            status(404)
        }
    })
    .await;
    let r = remote(&hub, Some("hf_secret"));
    let sha = r
        .resolve_revision(&RepoId::model("org/m"), "refs/pr/1")
        .await
        .unwrap();
    assert_eq!(sha, SHA);
    assert_eq!(log.all()[0].auth(), Some("Bearer hf_secret"));
    // Anonymous: no Authorization at all.
    remote(&hub, None)
        .resolve_revision(&RepoId::model("org/m"), "refs/pr/1")
        .await
        .unwrap();
    assert_eq!(log.all()[1].auth(), None);
}

fn entry(path: &str) -> serde_json::Value {
    json!({"type": "file", "path": path, "size": 3, "oid": "abc"})
}

#[tokio::test]
async fn tree_pages_follow_relative_and_absolute_links() {
    let log = Log::default();
    let xet = MerkleHash::from_bytes([9; 32]).to_hex();
    let hub = serve(log.clone(), move |s| {
        let xet = xet.clone();
        async move {
            let tree = format!("/api/datasets/org/d/tree/{SHA}");
            if s.path() != tree {
                return status(404);
            }
            let query = s.uri.split_once('?').map(|(_, q)| q).unwrap_or("");
            assert!(query.contains("recursive=true") && query.contains("expand=false"));
            let (entries, link) = if !query.contains("cursor") {
                // Relative link to page 2.
                let next = format!("<{tree}?recursive=true&expand=false&cursor=2>; rel=\"next\"");
                (json!([{"type": "directory", "path": "a", "size": 0, "oid": "t"},
                        {"type": "file", "path": "a/x.bin", "size": 10, "oid": "o",
                         "lfs": {"oid": "sha256hex", "size": 10, "pointerSize": 130},
                         "xetHash": xet}]), Some(next))
            } else if query.contains("cursor=2") {
                // Absolute link to page 3, alongside another relation.
                let next = format!(
                    "<{}{tree}?recursive=true&expand=false&cursor=3>; rel=\"next\", </x>; rel=\"last\"",
                    s.base
                );
                (json!([entry("b.txt"), {"type": "file", "path": "c.bin", "size": 1,
                        "oid": "o", "xetHash": "*".repeat(64)}]), Some(next))
            } else {
                (json!([entry("d.txt")]), None)
            };
            let headers: Vec<(&str, String)> = link.map(|l| ("link", l)).into_iter().collect();
            reply(200, &headers, entries.to_string())
        }
    })
    .await;
    let r = remote(&hub, Some("hf_t"));
    let tree = r.list_tree(&RepoId::dataset("org/d"), SHA).await.unwrap();
    let paths: Vec<_> = tree.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["a", "a/x.bin", "b.txt", "c.bin", "d.txt"]);
    assert_eq!(tree[0].kind, EntryKind::Directory);
    assert_eq!(tree[1].xet_hash, Some(MerkleHash::from_bytes([9; 32])));
    assert_eq!(tree[1].lfs_sha256.as_deref(), Some("sha256hex"));
    assert!(tree[3].xet_redacted && tree[3].xet_hash.is_none());
    assert_eq!(log.len(), 3);
    assert_eq!(log.count(|s| s.auth() == Some("Bearer hf_t")), 3);
}

#[tokio::test]
async fn a_link_loop_is_an_error() {
    let hub = serve(Log::default(), |s| async move {
        reply(200, &[("link", format!("<{}>; rel=\"next\"", s.uri))], "[]")
    })
    .await;
    let e = remote(&hub, None)
        .list_tree(&RepoId::model("org/m"), SHA)
        .await
        .unwrap_err();
    assert!(matches!(e, RemoteError::Protocol(_)), "{e}");
}

#[tokio::test]
async fn hub_errors_are_mapped_and_never_echo_the_token() {
    let hub = serve(Log::default(), |s| async move {
        let (code, code_header, message) = match s.path() {
            p if p.ends_with("/revision/nope") => (404, "RevisionNotFound", "Invalid rev id: nope"),
            p if p.starts_with("/api/models/org/missing") => {
                (401, "RepoNotFound", "Repository not found")
            }
            p if p.starts_with("/api/models/org/gated") => {
                (403, "GatedRepo", "Access to model org/gated is restricted")
            }
            p if p.starts_with("/api/models/org/badtoken") => {
                // A server that echoes what it got.
                let got = s.auth().unwrap_or("").to_string();
                return reply(
                    401,
                    &[(
                        "x-error-message",
                        format!("Invalid credentials in Authorization header {got}"),
                    )],
                    "",
                );
            }
            _ => return json(400, json!({"error": "Bad request body"})),
        };
        reply(
            code,
            &[
                ("x-error-code", code_header.into()),
                ("x-error-message", message.into()),
            ],
            "",
        )
    })
    .await;
    let r = remote(&hub, Some("hf_verysecret"));
    let e = r
        .resolve_revision(&RepoId::model("org/m"), "nope")
        .await
        .unwrap_err();
    assert!(
        matches!(&e, RemoteError::NotFound(m) if m.contains("Invalid rev id")),
        "{e}"
    );
    let e = r
        .resolve_revision(&RepoId::model("org/missing"), "main")
        .await
        .unwrap_err();
    assert!(
        matches!(&e, RemoteError::NotFound(m) if m.contains("Repository not found")),
        "{e}"
    );
    let e = r
        .resolve_revision(&RepoId::model("org/gated"), "main")
        .await
        .unwrap_err();
    assert!(
        matches!(&e, RemoteError::Forbidden(m) if m.contains("restricted")),
        "{e}"
    );
    let e = r
        .resolve_revision(&RepoId::model("org/badtoken"), "main")
        .await
        .unwrap_err();
    assert!(
        matches!(&e, RemoteError::Unauthorized(m) if m.contains("invalid")),
        "{e}"
    );
    assert!(!e.to_string().contains("hf_verysecret"), "{e}");
    let e = r
        .resolve_revision(&RepoId::model("org/other"), "main")
        .await
        .unwrap_err();
    assert!(
        matches!(&e, RemoteError::Protocol(m) if m.contains("Bad request body")),
        "{e}"
    );
}

#[tokio::test]
async fn resolve_head_reads_redirect_headers_without_following_absolute_redirects() {
    let cdn_log = Log::default();
    let cdn = serve(cdn_log.clone(), |_| async { status(200) }).await;
    let log = Log::default();
    let xet = MerkleHash::from_bytes([3; 32]).to_hex();
    let hub = serve(log.clone(), move |s| {
        let (cdn, xet) = (cdn.clone(), xet.clone());
        async move {
            match s.path() {
                // A rename: relative redirect to the new name.
                p if p.starts_with("/old/name/resolve/") => reply(
                    307,
                    &[("location", p.replacen("/old/name", "/org/m", 1))],
                    "",
                ),
                p if p == format!("/org/m/resolve/{SHA}/dir%20a/w%20%231.bin") => reply(
                    302,
                    &[
                        ("location", format!("{cdn}/bridge/file")),
                        ("x-xet-hash", xet),
                        ("x-linked-size", "1234567".into()),
                        ("x-linked-etag", "\"sha256ofcontent\"".into()),
                        ("x-repo-commit", SHA.into()),
                        ("content-length", "5".into()),
                    ],
                    "",
                ),
                p if p == format!("/org/m/resolve/{SHA}/README.md") => reply(
                    200,
                    &[
                        ("etag", "\"gitblobid\"".into()),
                        ("content-length", "42".into()),
                        ("x-repo-commit", SHA.into()),
                    ],
                    "",
                ),
                _ => reply(404, &[("x-error-code", "EntryNotFound".into())], ""),
            }
        }
    })
    .await;
    let r = remote(&hub, Some("hf_t"));
    let m = r
        .file_metadata(&RepoId::model("old/name"), SHA, "dir a/w #1.bin")
        .await
        .unwrap();
    assert_eq!(m.size, 1234567);
    assert_eq!(m.etag, "sha256ofcontent");
    assert_eq!(m.commit, SHA);
    assert_eq!(m.xet_hash, Some(MerkleHash::from_bytes([3; 32])));
    assert_eq!(
        cdn_log.len(),
        0,
        "the absolute redirect must not be followed"
    );
    assert!(log.all().iter().all(|s| s.method == "HEAD"));
    let m = r
        .file_metadata(&RepoId::model("org/m"), SHA, "README.md")
        .await
        .unwrap();
    assert_eq!(
        (m.size, m.etag.as_str(), m.xet_hash),
        (42, "gitblobid", None)
    );
    let e = r
        .file_metadata(&RepoId::model("org/m"), SHA, "nope")
        .await
        .unwrap_err();
    assert!(matches!(e, RemoteError::NotFound(_)));
}

/// Serves `DATA` honouring `Range` (206) on `/ranged`, ignoring it (200) on `/whole`.
async fn cdn(log: Log) -> String {
    serve(log, |s| async move {
        let data: Vec<u8> = (0..100u8).collect();
        let range = s.header("range").map(|r| {
            let (a, b) = r.strip_prefix("bytes=").unwrap().split_once('-').unwrap();
            (
                a.parse::<usize>().unwrap(),
                b.parse::<usize>().unwrap().min(99),
            )
        });
        match (s.path(), range) {
            ("/ranged", Some((a, b))) if a < 100 => reply(
                206,
                &[("content-range", format!("bytes {a}-{b}/100"))],
                data[a..=b].to_vec(),
            ),
            ("/ranged", Some(_)) => reply(416, &[("content-range", "bytes */100".into())], ""),
            _ => reply(200, &[], data),
        }
    })
    .await
}

#[tokio::test]
async fn get_file_follows_redirects_and_drops_the_token_across_origins() {
    let cdn_log = Log::default();
    let cdn = cdn(cdn_log.clone()).await;
    let log = Log::default();
    let hub = serve(log.clone(), move |s| {
        let cdn = cdn.clone();
        async move {
            let target = if s.path().ends_with("/big.bin") {
                "ranged"
            } else {
                "whole"
            };
            reply(302, &[("location", format!("{cdn}/{target}"))], "")
        }
    })
    .await;
    let r = remote(&hub, Some("hf_t"));
    let repo = RepoId::model("org/m");

    let body = r
        .get_file(
            &repo,
            SHA,
            "big.bin",
            Some(ByteRange { start: 10, end: 19 }),
        )
        .await
        .unwrap();
    assert_eq!((body.start, body.len), (10, 10));
    let (bytes, err) = collect(body.body).await;
    assert_eq!((bytes, err), ((10..20u8).collect(), None));
    // End past EOF is clamped by the server.
    let body = r
        .get_file(
            &repo,
            SHA,
            "big.bin",
            Some(ByteRange {
                start: 90,
                end: 500,
            }),
        )
        .await
        .unwrap();
    assert_eq!((body.start, body.len), (90, 10));
    let e = r
        .get_file(
            &repo,
            SHA,
            "big.bin",
            Some(ByteRange {
                start: 100,
                end: 200,
            }),
        )
        .await;
    assert!(matches!(e, Err(RemoteError::RangeNotSatisfiable)));
    // A server ignoring Range: whole body from 0.
    let body = r
        .get_file(
            &repo,
            SHA,
            "small.txt",
            Some(ByteRange { start: 10, end: 19 }),
        )
        .await
        .unwrap();
    assert_eq!((body.start, body.len), (0, 100));
    assert_eq!(collect(body.body).await.0.len(), 100);

    assert_eq!(log.count(|s| s.auth() == Some("Bearer hf_t")), log.len());
    assert_eq!(cdn_log.len(), 4);
    assert_eq!(
        cdn_log.count(|s| s.auth().is_some()),
        0,
        "token leaked to the CDN"
    );
}

#[tokio::test]
async fn a_redirect_back_to_the_hub_gets_the_token_again() {
    let log = Log::default();
    let hub = serve(log.clone(), |s| async move {
        if s.path().contains("/resolve/") {
            reply(302, &[("location", format!("{}/files/x", s.base))], "")
        } else {
            reply(200, &[], "abc")
        }
    })
    .await;
    let r = remote(&hub, Some("hf_t"));
    let body = r
        .get_file(&RepoId::model("org/m"), SHA, "x", None)
        .await
        .unwrap();
    assert_eq!(collect(body.body).await.0, b"abc");
    assert_eq!(log.count(|s| s.auth() == Some("Bearer hf_t")), 2);
}
