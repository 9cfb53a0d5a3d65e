//! The download side: every sample file back through reconstruction v2 and v1, the bridge and
//! resolve; range trimming, 416, multipart, signatures, tree paging, revisions, restarts.

use reqwest::StatusCode;
use xetfs::serve::ServeConfig;
use xetfs::xet::reconstruction::ReconstructionV2;

use crate::support::*;

#[tokio::test]
async fn every_sample_file_reads_back_exactly() {
    let t = sample_server(ServeConfig::default()).await;
    let (token, cas) = t.read_token(REPO, "main").await;
    let mut xet_files = 0;
    for f in &t.sample.files {
        let local = std::fs::read(t.root_path().join(REPO).join(&f.path)).unwrap();
        let url = t.url(&format!(
            "/{REPO}/resolve/main/{}",
            xetfs::hub::encode_path(&f.path)
        ));
        let head = t.http.head(&url).send().await.unwrap();
        if f.xet {
            xet_files += 1;
            assert_eq!(head.status(), StatusCode::FOUND, "{}", f.path);
            let h = head.headers();
            let xet_hash = h["x-xet-hash"].to_str().unwrap().to_string();
            assert_eq!(h["x-linked-size"].to_str().unwrap(), f.size.to_string());
            assert_eq!(
                h["x-linked-etag"].to_str().unwrap(),
                format!("\"{}\"", f.sha256)
            );
            assert_eq!(h["x-repo-commit"].to_str().unwrap().len(), 40);
            let link = h["link"].to_str().unwrap();
            assert!(link.contains("rel=\"xet-auth\""), "{link}");
            // The redirect leaves the Hub origin (gotcha 3 of the official clients).
            let location = h["location"].to_str().unwrap().to_string();
            assert!(!location.starts_with(&t.server.endpoint()), "{location}");

            let v2 = read_v2(&t.http, &cas, &token, &xet_hash, 0, f.size).await;
            assert_eq!(sha256_hex(&v2), f.sha256, "v2 {}", f.path);
            let v1 = read_v1(&t.http, &cas, &token, &xet_hash, 0, f.size).await;
            assert_eq!(sha256_hex(&v1), f.sha256, "v1 {}", f.path);
            let bridge = t.http.get(&location).send().await.unwrap();
            assert_eq!(bridge.status(), StatusCode::OK);
            assert_eq!(
                sha256_hex(&bridge.bytes().await.unwrap()),
                f.sha256,
                "bridge {}",
                f.path
            );
        } else {
            assert_eq!(head.status(), StatusCode::OK, "{}", f.path);
            assert_eq!(
                head.headers()["content-length"].to_str().unwrap(),
                f.size.to_string()
            );
            assert!(head.headers().get("x-xet-hash").is_none());
            let body = t
                .http
                .get(&url)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            assert_eq!(&body[..], &local[..], "{}", f.path);
        }
    }
    assert!(
        xet_files >= 10,
        "the sample should have many Xet files, got {xet_files}"
    );
    let m = t.server.metrics();
    assert!(m.endpoint("reconstruction_v2").requests >= xet_files);
    assert!(m.endpoint("reconstruction_v1").requests >= xet_files);
    assert!(m.endpoint("xorb_get").status_count(206) > 0);
    assert_eq!(m.endpoint("xorb_get").status_count(403), 0);
}

#[tokio::test]
async fn ranges_are_trimmed_and_exact() {
    let t = sample_server(ServeConfig::default()).await;
    let (token, cas) = t.read_token(REPO, "main").await;
    for path in [
        "model.safetensors",
        "repetitive.bin",
        "bounds/chunk_131073.bin",
    ] {
        let local = std::fs::read(t.root_path().join(REPO).join(path)).unwrap();
        let (hash, size) = t.xet_hash(path).await;
        assert_eq!(size, local.len() as u64);
        let mut g = xetfs::util::splitmix::SplitMix64::new(99);
        for _ in 0..12 {
            let a = g.next_u64() % size;
            let len = 1 + g.next_u64() % (300_000).min(size - a);
            let got = read_v2(&t.http, &cas, &token, &hash, a, a + len).await;
            assert_eq!(
                got,
                &local[a as usize..(a + len) as usize],
                "{path} [{a}, +{len})"
            );
        }
        // A one-byte read is answered with exactly the chunk holding it.
        let r = get(
            &t.http,
            &format!("{cas}/v2/reconstructions/{hash}"),
            Some(&token),
            Some("bytes=5-5"),
        )
        .await;
        let rec: ReconstructionV2 = r.json().await.unwrap();
        assert_eq!(rec.terms.len(), 1);
        assert_eq!(rec.terms[0].range.len(), 1, "{path}: trimmed to one chunk");
        assert_eq!(rec.offset_into_first_range, 5);
    }
}

#[tokio::test]
async fn range_past_eof_is_416_and_long_ranges_are_clamped() {
    let t = sample_server(ServeConfig::default()).await;
    let (token, cas) = t.read_token(REPO, "main").await;
    let (hash, size) = t.xet_hash("model.safetensors").await;
    let url = format!("{cas}/v2/reconstructions/{hash}");
    let r = get(
        &t.http,
        &url,
        Some(&token),
        Some(&format!("bytes={size}-{}", size + 10)),
    )
    .await;
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    let r = get(
        &t.http,
        &format!("{cas}/v1/reconstructions/{hash}"),
        Some(&token),
        Some(&format!("bytes={}-{}", size + 5, size + 10)),
    )
    .await;
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    let tail = read_v2(&t.http, &cas, &token, &hash, size - 10, size + 1000).await;
    assert_eq!(tail.len(), 10);
    let local = std::fs::read(t.root_path().join(REPO).join("model.safetensors")).unwrap();
    assert_eq!(tail, &local[local.len() - 10..]);
    // Malformed ranges are client errors, not panics.
    let r = get(&t.http, &url, Some(&token), Some("bytes=9-2")).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn xorb_urls_serve_sub_ranges_and_multipart_and_nothing_unsigned() {
    let t = sample_server(ServeConfig::default()).await;
    let (token, cas) = t.read_token(REPO, "main").await;
    let (hash, _) = t.xet_hash("repetitive.bin").await;
    let r = get(
        &t.http,
        &format!("{cas}/v2/reconstructions/{hash}"),
        Some(&token),
        None,
    )
    .await;
    let rec: ReconstructionV2 = r.json().await.unwrap();
    let (_, fetches) = rec.xorbs.iter().next().unwrap();
    let f = &fetches[0];
    let d = f.ranges[0].bytes;
    assert!(d.len() > 100, "{d:?}");
    let whole = fetch_range(&t.http, &f.url, d).await.bytes().await.unwrap();
    assert_eq!(whole.len() as u64, d.len());

    // Two sub-ranges of the signed range in one request: multipart/byteranges.
    let (a, b) = (d.start + 3, d.start + 40);
    let (c, e) = (d.start + 60, d.end);
    let r = get(
        &t.http,
        &f.url,
        None,
        Some(&format!("bytes={a}-{b},{c}-{e}")),
    )
    .await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    let boundary = ct.split("boundary=").nth(1).unwrap().to_string();
    let body = r.bytes().await.unwrap();
    let text = body.to_vec();
    let parts = split_multipart(&text, &boundary);
    let base = d.start as usize;
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].0, format!("bytes {a}-{b}"));
    assert_eq!(
        parts[0].1,
        &whole[(a as usize - base)..=(b as usize - base)]
    );
    assert_eq!(
        parts[1].1,
        &whole[(c as usize - base)..=(e as usize - base)]
    );

    // Outside the signed set, a forged signature, or a changed expiry: 403. A one-byte
    // reconstruction signs only the first chunk; the next bytes of the xorb are not allowed.
    let narrow: ReconstructionV2 = get(
        &t.http,
        &format!("{cas}/v2/reconstructions/{hash}"),
        Some(&token),
        Some("bytes=0-0"),
    )
    .await
    .json()
    .await
    .unwrap();
    let nf = &narrow.xorbs.values().next().unwrap()[0];
    let nd = nf.ranges[0].bytes;
    assert!(nd.end < d.end);
    let r = get(
        &t.http,
        &nf.url,
        None,
        Some(&format!("bytes={}-{}", nd.end + 1, nd.end + 10)),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = get(
        &t.http,
        &nf.url,
        None,
        Some(&format!("bytes={}-{}", nd.start, nd.end)),
    )
    .await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    let forged = f.url.replace("Signature=", "Signature=00");
    assert_eq!(
        get(&t.http, &forged, None, Some("bytes=0-1"))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let later = f.url.replace("Expires=", "Expires=9");
    assert_eq!(
        get(&t.http, &later, None, Some("bytes=0-1")).await.status(),
        StatusCode::FORBIDDEN
    );
    // No Range: exactly the signed bytes (read to the end, so it is not still streaming when
    // the counters are read below).
    let r = get(&t.http, &f.url, None, None).await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    let signed: u64 = f.ranges.iter().map(|r| r.bytes.len()).sum();
    let body_len = r.bytes().await.unwrap().len() as u64;
    if f.ranges.len() == 1 {
        assert_eq!(body_len, signed);
    } else {
        assert!(body_len > signed, "multipart framing around {signed} bytes");
    }

    // bytes_sent counts the bodies exactly.
    let before = t.server.metrics().endpoint("xorb_get").bytes_sent;
    fetch_range(&t.http, &f.url, d).await.bytes().await.unwrap();
    let after = t.server.metrics().endpoint("xorb_get").bytes_sent;
    assert_eq!(after - before, d.len());
}

/// `(Content-Range without the total, body)` of each part.
fn split_multipart<'a>(body: &'a [u8], boundary: &str) -> Vec<(String, &'a [u8])> {
    let delim = format!("--{boundary}");
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(i) = find(rest, delim.as_bytes()) {
        rest = &rest[i + delim.len()..];
        if rest.starts_with(b"--") {
            break;
        }
        let head_end = find(rest, b"\r\n\r\n").unwrap();
        let head = std::str::from_utf8(&rest[..head_end]).unwrap();
        let range = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Range: "))
            .unwrap();
        let range = range.rsplit_once('/').unwrap().0.to_string();
        rest = &rest[head_end + 4..];
        let end = find(rest, format!("\r\n{delim}").as_bytes()).unwrap();
        out.push((range, &rest[..end]));
        rest = &rest[end..];
    }
    out
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

#[tokio::test]
async fn tree_pages_follow_link_next() {
    let config = ServeConfig {
        tree_page_size: 3,
        ..ServeConfig::default()
    };
    let t = sample_server(config).await;
    let mut url = t.url(&format!(
        "/api/models/{REPO}/tree/main?recursive=true&expand=false"
    ));
    let mut entries = Vec::new();
    let mut pages = 0;
    loop {
        let r = t.http.get(&url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let next = r.headers().get("link").map(|l| {
            let l = l.to_str().unwrap();
            assert!(l.ends_with("; rel=\"next\""), "{l}");
            l[1..l.find('>').unwrap()].to_string()
        });
        let page: Vec<serde_json::Value> = r.json().await.unwrap();
        assert!(page.len() <= 3);
        entries.extend(page);
        pages += 1;
        match next {
            Some(n) => url = n,
            None => break,
        }
    }
    assert!(pages > 3);
    let files: Vec<&serde_json::Value> = entries.iter().filter(|e| e["type"] == "file").collect();
    assert_eq!(files.len(), t.sample.files.len());
    for f in &t.sample.files {
        let e = files.iter().find(|e| e["path"] == f.path.as_str()).unwrap();
        assert_eq!(e["size"], f.size);
        assert_eq!(e["lfs"].is_object(), f.xet, "{}", f.path);
        assert_eq!(e["xetHash"].is_string(), f.xet, "{}", f.path);
        if f.xet {
            assert_eq!(e["lfs"]["oid"], f.sha256.as_str());
        }
    }
    let dirs: Vec<&str> = entries
        .iter()
        .filter(|e| e["type"] == "directory")
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    for d in [
        "bounds",
        "nested",
        "nested/a",
        "nested/a/b",
        "dir with space",
    ] {
        assert!(dirs.contains(&d), "{d} missing from {dirs:?}");
    }
    // Non-recursive listing of a sub-directory.
    let r = t
        .http
        .get(t.url(&format!("/api/models/{REPO}/tree/main/nested%2Fa")))
        .send()
        .await
        .unwrap();
    let v: Vec<serde_json::Value> = r.json().await.unwrap();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0]["path"], "nested/a/b");
}

#[tokio::test]
async fn revisions_are_stable_and_restarts_do_not_rechunk() {
    let root = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let main_dir = root.path().join("org/repo");
    let v2_dir = root.path().join("org/repo@v2");
    std::fs::create_dir_all(&main_dir).unwrap();
    std::fs::create_dir_all(&v2_dir).unwrap();
    std::fs::write(
        main_dir.join("w.bin"),
        xetfs::util::splitmix::splitmix_bytes(1, 300_000),
    )
    .unwrap();
    std::fs::write(
        v2_dir.join("w.bin"),
        xetfs::util::splitmix::splitmix_bytes(2, 300_000),
    )
    .unwrap();
    let http = client();
    let sha = |server: &xetfs::serve::RunningServer, rev: &str| {
        let url = format!("{}/api/models/org/repo/revision/{rev}", server.endpoint());
        let http = http.clone();
        async move {
            let v: serde_json::Value = http.get(url).send().await.unwrap().json().await.unwrap();
            v["sha"].as_str().unwrap().to_string()
        }
    };
    let s1 = start_on(root.path(), state.path(), ServeConfig::default()).await;
    let (main1, v2) = (sha(&s1, "main").await, sha(&s1, "v2").await);
    assert_ne!(main1, v2);
    assert_eq!(s1.metrics().counter("ingest_files"), 2);
    s1.shutdown().await;

    let s2 = start_on(root.path(), state.path(), ServeConfig::default()).await;
    assert_eq!(sha(&s2, "main").await, main1, "same content, same commit");
    assert_eq!(
        s2.metrics().counter("ingest_files"),
        0,
        "nothing re-chunked"
    );
    assert_eq!(s2.metrics().counter("ingest_files_cached"), 2);
    // The old commit id keeps working.
    let r = http
        .get(format!(
            "{}/api/models/org/repo/revision/{main1}",
            s2.endpoint()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    s2.shutdown().await;

    std::fs::write(
        main_dir.join("w.bin"),
        xetfs::util::splitmix::splitmix_bytes(3, 300_000),
    )
    .unwrap();
    let s3 = start_on(root.path(), state.path(), ServeConfig::default()).await;
    assert_ne!(sha(&s3, "main").await, main1, "changed content, new commit");
    assert_eq!(sha(&s3, "v2").await, v2);
    assert_eq!(s3.metrics().counter("ingest_files"), 1);
}

#[tokio::test]
async fn chunk_hashes_extension_lists_the_xorb() {
    let t = sample_server(ServeConfig::default()).await;
    let (token, cas) = t.read_token(REPO, "main").await;
    let (hash, _) = t.xet_hash("model.safetensors").await;
    let rec: ReconstructionV2 = get(
        &t.http,
        &format!("{cas}/v2/reconstructions/{hash}"),
        Some(&token),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let xorb = rec.terms[0].hash;
    let v: serde_json::Value = get(
        &t.http,
        &format!("{cas}/v1/xorbs/default/{xorb}/chunk-hashes"),
        Some(&token),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let leaves: Vec<_> = v["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let h = xetfs::xet::MerkleHash::from_hex(c["hash"].as_str().unwrap()).unwrap();
            (h, c["len"].as_u64().unwrap())
        })
        .collect();
    // The list authenticates against the xorb hash.
    assert_eq!(xetfs::xet::merkle::xorb_hash(&leaves), xorb);
    let r = get(
        &t.http,
        &format!("{cas}/v1/xorbs/default/{xorb}/chunk-hashes"),
        None,
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn deduplicated_gaps_give_multi_range_entries() {
    let t = sample_server(ServeConfig::default()).await;
    let (token, cas) = t.read_token(REPO, "main").await;
    let (hash, size) = t.xet_hash("dedup/gapped.bin").await;
    let rec: ReconstructionV2 = get(
        &t.http,
        &format!("{cas}/v2/reconstructions/{hash}"),
        Some(&token),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let multi = rec
        .xorbs
        .values()
        .flatten()
        .find(|f| f.ranges.len() >= 2)
        .expect("a v2 entry with several ranges");
    // All ranges in one request (HF_XET_CLIENT_ENABLE_MULTIRANGE_FETCHING=true does this).
    let spec: Vec<String> = multi.ranges.iter().map(|r| r.bytes.http_spec()).collect();
    let r = get(
        &t.http,
        &multi.url,
        None,
        Some(&format!("bytes={}", spec.join(","))),
    )
    .await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("multipart/byteranges"), "{ct}");
    let boundary = ct.split("boundary=").nth(1).unwrap().to_string();
    let body = r.bytes().await.unwrap();
    let parts = split_multipart(&body, &boundary);
    assert_eq!(parts.len(), multi.ranges.len());
    for (part, d) in parts.iter().zip(&multi.ranges) {
        let single = fetch_range(&t.http, &multi.url, d.bytes)
            .await
            .bytes()
            .await
            .unwrap();
        assert_eq!(part.0, format!("bytes {}", d.bytes.http_spec()));
        assert_eq!(part.1, &single[..]);
    }
    assert_eq!(t.server.metrics().counter("xorb_get_multipart"), 1);
    let local = std::fs::read(t.root_path().join(REPO).join("dedup/gapped.bin")).unwrap();
    assert_eq!(read_v2(&t.http, &cas, &token, &hash, 0, size).await, local);
}

#[tokio::test]
async fn revision_answers_503_until_the_repo_is_readable() {
    let root = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let repo = root.path().join("org/slow");
    std::fs::create_dir_all(&repo).unwrap();
    let data = xetfs::util::splitmix::splitmix_bytes(8, 48 << 20);
    std::fs::write(repo.join("weights.bin"), &data).unwrap();
    let mut opts = xetfs::serve::ServeOptions::new(root.path(), "127.0.0.1:0".parse().unwrap());
    opts.state_dir = Some(state.path().to_path_buf());
    // Not waiting for readiness: poll the way a script would.
    let server = xetfs::serve::start(opts).await.unwrap();
    let http = client();
    let url = format!("{}/api/models/org/slow/revision/main", server.endpoint());
    let mut not_ready = 0;
    loop {
        let r = http.get(&url).send().await.unwrap();
        if r.status() == StatusCode::OK {
            break;
        }
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()["x-error-code"], "RepoNotReady");
        not_ready += 1;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Once it says 200, the files are there (the ingest finished for this repo).
    let head = http
        .head(format!(
            "{}/org/slow/resolve/main/weights.bin",
            server.endpoint()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::FOUND);
    assert_eq!(
        head.headers()["x-linked-size"],
        data.len().to_string().as_str()
    );
    eprintln!("{not_ready} polls saw the repo still ingesting");
    // Unknown repos are 404 from the first moment, not 503.
    let r = http
        .get(format!(
            "{}/api/models/org/other/revision/main",
            server.endpoint()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
