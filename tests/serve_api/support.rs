//! Starting a server over a generated ROOT, and a minimal Xet reader built on the protocol
//! types, so the tests check bytes end to end.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::header::{HeaderMap, AUTHORIZATION, RANGE};
use reqwest::StatusCode;
use sha2::{Digest, Sha256};
use tempfile::TempDir;
use xetfs::serve::sample::{write_model_repo, SampleRepo, SampleSpec};
use xetfs::serve::{start, RunningServer, ServeConfig, ServeOptions};
use xetfs::xet::reconstruction::{ByteRange, ReconstructionV1, ReconstructionV2};
use xetfs::xet::xorb::decode_range;

pub const REPO: &str = "org/model";

pub struct TestServer {
    pub server: RunningServer,
    pub root: TempDir,
    pub state: TempDir,
    pub sample: SampleRepo,
    pub http: reqwest::Client,
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// Starts a server on a fresh ROOT holding the small sample repo as `org/model`.
pub async fn sample_server(config: ServeConfig) -> TestServer {
    let root = tempfile::tempdir().unwrap();
    let sample = write_model_repo(&root.path().join(REPO), &SampleSpec::small(7)).unwrap();
    let state = tempfile::tempdir().unwrap();
    let server = start_on(root.path(), state.path(), config).await;
    TestServer {
        server,
        root,
        state,
        sample,
        http: client(),
    }
}

pub async fn start_on(root: &Path, state: &Path, config: ServeConfig) -> RunningServer {
    let mut opts = ServeOptions::new(root, "127.0.0.1:0".parse().unwrap());
    opts.state_dir = Some(state.to_path_buf());
    opts.config = config;
    let server = start(opts).await.unwrap();
    server.wait_ready(Duration::from_secs(120)).await.unwrap();
    server
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.endpoint())
    }

    pub fn root_path(&self) -> PathBuf {
        self.root.path().to_path_buf()
    }

    /// A read token for `repo` at `rev`: `(token, cas url)`.
    pub async fn read_token(&self, repo: &str, rev: &str) -> (String, String) {
        let r = self
            .http
            .get(self.url(&format!("/api/models/{repo}/xet-read-token/{rev}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let v: serde_json::Value = r.json().await.unwrap();
        (
            v["accessToken"].as_str().unwrap().to_string(),
            v["casUrl"].as_str().unwrap().to_string(),
        )
    }

    /// The `xetHash` and size of a file, from the tree API.
    pub async fn xet_hash(&self, path: &str) -> (String, u64) {
        let v: serde_json::Value = self
            .http
            .post(self.url(&format!("/api/models/{REPO}/paths-info/main")))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("paths", path)
                    .finish(),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let e = &v[0];
        (
            e["xetHash"]
                .as_str()
                .unwrap_or_else(|| panic!("{path} is not Xet: {e}"))
                .to_string(),
            e["size"].as_u64().unwrap(),
        )
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// GET with a bearer token and an optional range.
pub async fn get(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    range: Option<&str>,
) -> reqwest::Response {
    let mut h = HeaderMap::new();
    if let Some(t) = token {
        h.insert(AUTHORIZATION, format!("Bearer {t}").parse().unwrap());
    }
    if let Some(r) = range {
        h.insert(RANGE, r.parse().unwrap());
    }
    http.get(url).headers(h).send().await.unwrap()
}

/// Reads file bytes `[start, end)` through reconstruction v2 + presigned xorb GETs, the way
/// hf_xet does (one single-range GET per descriptor), and checks every invariant on the way.
pub async fn read_v2(
    http: &reqwest::Client,
    cas: &str,
    token: &str,
    file: &str,
    start: u64,
    end: u64,
) -> Vec<u8> {
    let range = format!("bytes={start}-{}", end - 1);
    let r = get(
        http,
        &format!("{cas}/v2/reconstructions/{file}"),
        Some(token),
        Some(&range),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK, "reconstruction {file} {range}");
    let rec: ReconstructionV2 = r.json().await.unwrap();
    rec.validate().unwrap();
    assemble(http, &rec, end - start).await
}

pub async fn read_v1(
    http: &reqwest::Client,
    cas: &str,
    token: &str,
    file: &str,
    start: u64,
    end: u64,
) -> Vec<u8> {
    let range = format!("bytes={start}-{}", end - 1);
    let r = get(
        http,
        &format!("{cas}/v1/reconstructions/{file}"),
        Some(token),
        Some(&range),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v1: ReconstructionV1 = r.json().await.unwrap();
    for entries in v1.fetch_info.values() {
        for e in entries {
            assert!(e.url.contains("X-Xet-Signed-Range="), "{}", e.url);
        }
    }
    let rec: ReconstructionV2 = v1.into();
    rec.validate().unwrap();
    assemble(http, &rec, end - start).await
}

/// Fetches one descriptor's bytes exactly as signed.
pub async fn fetch_range(http: &reqwest::Client, url: &str, bytes: ByteRange) -> reqwest::Response {
    get(
        http,
        url,
        None,
        Some(&format!("bytes={}", bytes.http_spec())),
    )
    .await
}

async fn assemble(http: &reqwest::Client, rec: &ReconstructionV2, want: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut skip = rec.offset_into_first_range as usize;
    for term in &rec.terms {
        let src = rec.source_for(term).unwrap();
        let r = fetch_range(http, src.url, src.descriptor.bytes).await;
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
        let body = r.bytes().await.unwrap();
        assert_eq!(body.len() as u64, src.descriptor.bytes.len());
        let chunks = decode_range(&body, src.descriptor.chunks).unwrap();
        let mut data = Vec::new();
        for c in chunks {
            if (term.range.start..term.range.end).contains(&c.index) {
                data.extend_from_slice(&c.data);
            }
        }
        assert_eq!(data.len(), term.unpacked_length as usize);
        let from = skip.min(data.len());
        skip -= from;
        out.extend_from_slice(&data[from..]);
    }
    out.truncate(want as usize);
    out
}
