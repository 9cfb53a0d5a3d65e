//! Hub API: revisions, tree listings (paginated), resolve HEAD and plain file downloads (§5).

use std::collections::HashSet;

use reqwest::header::{HeaderMap, LINK};
use reqwest::{Method, StatusCode};
use url::Url;

use super::body::{content_length, BodyStream};
use super::errors::display_url;
use super::{HttpRemote, Redirects};
use crate::hub::{encode_path, encode_revision, EntryKind, FileMetadata, RepoId, TreeEntry};
use crate::remote::{RangeBody, RemoteError};
use crate::xet::reconstruction::ByteRange;
use crate::xet::MerkleHash;

/// A listing with more pages than this is treated as a server loop.
const MAX_TREE_PAGES: usize = 100_000;

#[derive(serde::Deserialize)]
struct RevisionInfo {
    sha: Option<String>,
}

#[derive(serde::Deserialize)]
struct WireEntry {
    #[serde(rename = "type")]
    kind: String,
    path: String,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    oid: String,
    #[serde(default)]
    lfs: Option<WireLfs>,
    #[serde(default, rename = "xetHash")]
    xet_hash: Option<String>,
}

#[derive(serde::Deserialize)]
struct WireLfs {
    oid: String,
}

impl HttpRemote {
    pub(super) async fn hub_resolve_revision(
        &self,
        repo: &RepoId,
        rev: &str,
    ) -> Result<String, RemoteError> {
        let url = self.hub_url(&format!(
            "{}/revision/{}",
            repo.api_path(),
            encode_revision(rev)
        ))?;
        let what = format!("GET {}", display_url(&url));
        let (info, _, _): (RevisionInfo, _, _) = self.hub_json(&url, &what).await?;
        match info.sha {
            Some(sha) if is_commit_sha(&sha) => Ok(sha.to_ascii_lowercase()),
            other => Err(RemoteError::Protocol(format!(
                "{what}: no commit sha in the answer (got {other:?})"
            ))),
        }
    }

    pub(super) async fn hub_list_tree(
        &self,
        repo: &RepoId,
        commit: &str,
    ) -> Result<Vec<TreeEntry>, RemoteError> {
        let mut url = self.hub_url(&format!(
            "{}/tree/{}?recursive=true&expand=false",
            repo.api_path(),
            encode_revision(commit)
        ))?;
        let mut seen = HashSet::from([url.clone()]);
        let mut entries = Vec::new();
        for _ in 0..MAX_TREE_PAGES {
            let what = format!("GET {}", display_url(&url));
            let (page, final_url, headers): (Vec<WireEntry>, _, _) =
                self.hub_json(&url, &what).await?;
            for wire in page {
                if let Some(entry) = convert_entry(wire, &what)? {
                    entries.push(entry);
                }
            }
            let Some(next) = next_link(&headers) else {
                return Ok(entries);
            };
            url = final_url.join(&next).map_err(|e| {
                RemoteError::Protocol(format!("{what}: bad Link rel=\"next\" {next:?}: {e}"))
            })?;
            if !matches!(url.scheme(), "http" | "https") || !seen.insert(url.clone()) {
                return Err(RemoteError::Protocol(format!(
                    "{what}: Link rel=\"next\" repeats or leaves http(s): {}",
                    display_url(&url)
                )));
            }
        }
        Err(RemoteError::Protocol(format!(
            "listing of {repo} has more than {MAX_TREE_PAGES} pages"
        )))
    }

    fn resolve_url(&self, repo: &RepoId, commit: &str, path: &str) -> Result<Url, RemoteError> {
        self.hub_url(&format!(
            "{}/resolve/{}/{}",
            repo.file_path(),
            encode_revision(commit),
            encode_path(path)
        ))
    }

    pub(super) async fn hub_file_metadata(
        &self,
        repo: &RepoId,
        commit: &str,
        path: &str,
    ) -> Result<FileMetadata, RemoteError> {
        let url = self.resolve_url(repo, commit, path)?;
        let what = format!("HEAD {}", display_url(&url));
        let what = what.as_str();
        let url = &url;
        let (status, headers) = self
            .retry
            .run(what, || async move {
                // An absolute redirect leads to a full download through the bridge: its headers
                // are what we want, so it is not followed.
                let r = self
                    .hub_request(Method::HEAD, url, None, Redirects::Relative, what)
                    .await?;
                if r.status().is_success() || r.status().is_redirection() {
                    Ok((r.status(), r.headers().clone()))
                } else {
                    Err(self.error_from(what, r, None).await)
                }
            })
            .await?;
        metadata_from_headers(what, status, &headers, commit)
    }

    pub(super) async fn hub_get_file(
        &self,
        repo: &RepoId,
        commit: &str,
        path: &str,
        range: Option<ByteRange>,
    ) -> Result<RangeBody, RemoteError> {
        let url = self.resolve_url(repo, commit, path)?;
        let mut what = format!("GET {}", display_url(&url));
        if let Some(r) = range {
            if r.is_empty() {
                return Err(RemoteError::Protocol(format!(
                    "{what}: empty range requested"
                )));
            }
            what.push_str(&format!(" bytes={}", r.http_spec()));
        }
        let what = what.as_str();
        let url = &url;
        self.retry
            .run(what, || async move {
                let r = self
                    .hub_request(Method::GET, url, range, Redirects::Any, what)
                    .await?;
                let (start, len) = match (r.status(), range) {
                    (StatusCode::OK, _) => {
                        // Whole body (also when the server ignored `Range`).
                        let len = content_length(r.headers())?.ok_or_else(|| {
                            RemoteError::Protocol(format!("{what}: 200 without Content-Length"))
                        })?;
                        (0, len)
                    }
                    (StatusCode::PARTIAL_CONTENT, Some(want)) => {
                        let (s, e, total) = content_range(r.headers(), what)?;
                        // Servers clamp the end at EOF; the start must be ours.
                        if s != want.start || e > want.end || total.is_some_and(|t| e >= t) {
                            return Err(RemoteError::Protocol(format!(
                                "{what}: Content-Range bytes {s}-{e} does not answer bytes={}",
                                want.http_spec()
                            )));
                        }
                        (s, e - s + 1)
                    }
                    (s, _) if s.is_success() => {
                        return Err(RemoteError::Protocol(format!(
                            "{what}: unexpected status {s}"
                        )))
                    }
                    _ => return Err(self.error_from(what, r, None).await),
                };
                let body = BodyStream::new(r, what.to_string(), len, self.idle_timeout)?;
                Ok(RangeBody {
                    start,
                    len,
                    body: Box::pin(body),
                })
            })
            .await
    }
}

fn is_commit_sha(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A tree entry, or `None` for kinds we do not know (the JS client tolerates `unknown`).
fn convert_entry(wire: WireEntry, what: &str) -> Result<Option<TreeEntry>, RemoteError> {
    let kind = match wire.kind.as_str() {
        "file" => EntryKind::File,
        "directory" => EntryKind::Directory,
        other => {
            tracing::debug!(%what, kind = other, path = %wire.path, "skipping tree entry");
            return Ok(None);
        }
    };
    if !is_safe_repo_path(&wire.path) {
        return Err(RemoteError::Protocol(format!(
            "{what}: unusable path {:?} in listing",
            wire.path
        )));
    }
    let (xet_hash, xet_redacted) = match wire.xet_hash.as_deref() {
        None => (None, false),
        Some(h) if h.len() == 64 && h.bytes().all(|b| b == b'*') => (None, true),
        Some(h) => match MerkleHash::from_hex(h) {
            Ok(hash) => (Some(hash), false),
            Err(e) => {
                return Err(RemoteError::Protocol(format!(
                    "{what}: xetHash of {:?}: {e}",
                    wire.path
                )))
            }
        },
    };
    Ok(Some(TreeEntry {
        path: wire.path,
        kind,
        size: wire.size,
        oid: wire.oid,
        xet_hash,
        xet_redacted,
        lfs_sha256: wire.lfs.map(|l| l.oid),
    }))
}

/// Relative, `/`-separated, no empty, `.` or `..` components, no NUL.
fn is_safe_repo_path(p: &str) -> bool {
    !p.is_empty()
        && !p.contains('\0')
        && p.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
}

/// The target of `Link: <…>; rel="next"` (several links and header lines allowed).
fn next_link(headers: &HeaderMap) -> Option<String> {
    for value in headers.get_all(LINK) {
        let Ok(mut rest) = value.to_str() else {
            continue;
        };
        while let Some(open) = rest.find('<') {
            let after = &rest[open + 1..];
            let close = after.find('>')?;
            let target = &after[..close];
            let tail = &after[close + 1..];
            let params_end = tail.find('<').unwrap_or(tail.len());
            let is_next = tail[..params_end].split([';', ',']).any(|param| {
                let mut kv = param.splitn(2, '=');
                let key = kv.next().unwrap_or("").trim();
                let val = kv.next().unwrap_or("").trim().trim_matches('"');
                key.eq_ignore_ascii_case("rel")
                    && val
                        .split_whitespace()
                        .any(|r| r.eq_ignore_ascii_case("next"))
            });
            if is_next {
                return Some(target.trim().to_string());
            }
            rest = &tail[params_end..];
        }
    }
    None
}

/// `Content-Range: bytes s-e/total` (total may be `*`).
pub(super) fn content_range(
    headers: &HeaderMap,
    what: &str,
) -> Result<(u64, u64, Option<u64>), RemoteError> {
    let bad = || RemoteError::Protocol(format!("{what}: 206 without a valid Content-Range"));
    let v = headers
        .get(reqwest::header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(bad)?;
    let spec = v.trim().strip_prefix("bytes ").ok_or_else(bad)?;
    let (range, total) = spec.split_once('/').ok_or_else(bad)?;
    let (s, e) = range.split_once('-').ok_or_else(bad)?;
    let s: u64 = s.trim().parse().map_err(|_| bad())?;
    let e: u64 = e.trim().parse().map_err(|_| bad())?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse::<u64>().map_err(|_| bad())?),
    };
    if e < s {
        return Err(bad());
    }
    Ok((s, e, total))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Reads what a resolve HEAD says (§5.4). On a redirect, `Content-Length` is the redirect's own.
fn metadata_from_headers(
    what: &str,
    status: StatusCode,
    headers: &HeaderMap,
    commit: &str,
) -> Result<FileMetadata, RemoteError> {
    let missing = |h: &str| RemoteError::Protocol(format!("{what}: no {h} header"));
    let size = match header(headers, "x-linked-size") {
        Some(s) => s
            .parse()
            .map_err(|_| RemoteError::Protocol(format!("{what}: bad X-Linked-Size {s:?}")))?,
        None if status.is_success() => content_length(headers)?.ok_or_else(|| missing("size"))?,
        None => return Err(missing("X-Linked-Size")),
    };
    let etag = header(headers, "x-linked-etag")
        .or_else(|| header(headers, "etag"))
        .map(|e| e.trim_start_matches("W/").trim_matches('"').to_string())
        .filter(|e| !e.is_empty())
        .ok_or_else(|| missing("ETag"))?;
    let xet_hash = header(headers, "x-xet-hash")
        .map(|h| {
            MerkleHash::from_hex(h)
                .map_err(|e| RemoteError::Protocol(format!("{what}: bad X-Xet-Hash: {e}")))
        })
        .transpose()?;
    // Asked at a commit, so the header only confirms it; some servers omit it.
    let commit = header(headers, "x-repo-commit")
        .unwrap_or(commit)
        .to_string();
    Ok(FileMetadata {
        commit,
        size,
        etag,
        xet_hash,
    })
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn link_headers() {
        let h = headers(&[("link", "<https://hub/api/x?cursor=2>; rel=\"next\"")]);
        assert_eq!(next_link(&h).as_deref(), Some("https://hub/api/x?cursor=2"));
        let h = headers(&[(
            "link",
            "</first>; rel=\"first\", </p?c=a,b>; rel=\"prefetch next\"",
        )]);
        assert_eq!(next_link(&h).as_deref(), Some("/p?c=a,b"));
        let h = headers(&[("link", "</a>; rel=prev"), ("link", "</b>; rel=next")]);
        assert_eq!(next_link(&h).as_deref(), Some("/b"));
        assert_eq!(next_link(&headers(&[("link", "</a>; rel=last")])), None);
        assert_eq!(next_link(&HeaderMap::new()), None);
    }

    #[test]
    fn entries_and_redacted_hashes() {
        let hash = MerkleHash::from_bytes([7; 32]).to_hex();
        let json = format!(
            r#"[{{"type":"file","path":"a/b.bin","size":5,"oid":"o1","lfs":{{"oid":"sha","size":5,"pointerSize":130}},"xetHash":"{hash}"}},
               {{"type":"file","path":"c.bin","size":9,"oid":"o2","xetHash":"{stars}"}},
               {{"type":"directory","path":"a","size":0,"oid":"t"}},
               {{"type":"unknown","path":"x"}}]"#,
            stars = "*".repeat(64)
        );
        let wire: Vec<WireEntry> = serde_json::from_str(&json).unwrap();
        let e: Vec<_> = wire
            .into_iter()
            .filter_map(|w| convert_entry(w, "t").unwrap())
            .collect();
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].xet_hash, Some(MerkleHash::from_bytes([7; 32])));
        assert_eq!(e[0].lfs_sha256.as_deref(), Some("sha"));
        assert!(e[1].xet_redacted && e[1].xet_hash.is_none());
        assert_eq!(e[2].kind, EntryKind::Directory);
        for bad in ["../x", "/abs", "a//b", "a/./b", ""] {
            let w = WireEntry {
                kind: "file".into(),
                path: bad.into(),
                size: 0,
                oid: String::new(),
                lfs: None,
                xet_hash: None,
            };
            assert!(convert_entry(w, "t").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn content_ranges() {
        let h = headers(&[("content-range", "bytes 10-19/100")]);
        assert_eq!(content_range(&h, "t").unwrap(), (10, 19, Some(100)));
        let h = headers(&[("content-range", "bytes 0-0/*")]);
        assert_eq!(content_range(&h, "t").unwrap(), (0, 0, None));
        for bad in ["bytes 5-4/9", "items 0-1/2", "bytes x-1/2", "bytes */10"] {
            let h = headers(&[("content-range", bad)]);
            assert!(content_range(&h, "t").is_err(), "{bad}");
        }
    }

    #[test]
    fn resolve_headers() {
        let hash = Box::leak(MerkleHash::from_bytes([1; 32]).to_hex().into_boxed_str());
        let h = headers(&[
            ("x-xet-hash", hash),
            ("x-linked-size", "1234"),
            ("x-linked-etag", "\"abc\""),
            ("x-repo-commit", "c0ffee"),
            ("content-length", "7"),
        ]);
        let m = metadata_from_headers("t", StatusCode::FOUND, &h, "x").unwrap();
        assert_eq!(m.size, 1234);
        assert_eq!(m.etag, "abc");
        assert_eq!(m.commit, "c0ffee");
        assert_eq!(m.xet_hash, Some(MerkleHash::from_bytes([1; 32])));
        let h = headers(&[("etag", "W/\"blob\""), ("content-length", "7")]);
        let m = metadata_from_headers("t", StatusCode::OK, &h, "x").unwrap();
        assert_eq!(
            (m.size, m.etag.as_str(), m.commit.as_str()),
            (7, "blob", "x")
        );
        assert_eq!(m.xet_hash, None);
        // A redirect without X-Linked-Size has no trustworthy size.
        let h = headers(&[("etag", "\"e\""), ("content-length", "7")]);
        assert!(metadata_from_headers("t", StatusCode::FOUND, &h, "x").is_err());
    }
}
