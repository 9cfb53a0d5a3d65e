//! The transfer origin: presigned xorb byte ranges (single range → 206, several →
//! `multipart/byteranges`) and the "bridge" serving plain bytes of Xet files for clients that
//! do not speak Xet (`HF_HUB_DISABLE_XET=1`, `curl -L`). Both need no credentials: the URL
//! signature and expiry are the authority.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::decode::decode_file_range;
use super::errors::{HubError, HubResult};
use super::range::{self, Multipart, RangeSpec};
use super::shared::Shared;
use super::signing::SignError;
use super::stream::{blocking_body, file_body, Piece};
use crate::xet::reconstruction::ByteRange;
use crate::xet::MerkleHash;

/// The `X-Xet-Signed-Range` value for a set of inclusive byte ranges.
pub fn signed_range_value(ranges: &[ByteRange]) -> String {
    let list: Vec<String> = ranges.iter().map(ByteRange::http_spec).collect();
    format!("bytes={}", list.join(","))
}

/// A presigned URL for `ranges` of a xorb, valid until `exp`.
pub fn xorb_url(
    shared: &Shared,
    cas: &str,
    xorb: &MerkleHash,
    ranges: &[ByteRange],
    exp: u64,
) -> String {
    let signed = signed_range_value(ranges);
    let hex = xorb.to_hex();
    let sig = shared.signer.sign_url("xorb", &hex, &signed, exp);
    let enc: String = url::form_urlencoded::byte_serialize(signed.as_bytes()).collect();
    format!("{cas}/xorbs/default/{hex}?X-Xet-Signed-Range={enc}&Expires={exp}&Signature={sig}")
}

/// A presigned URL for the plain bytes of a Xet file.
pub fn bridge_url(shared: &Shared, cas: &str, file: &MerkleHash, exp: u64) -> String {
    let hex = file.to_hex();
    let sig = shared.signer.sign_url("bridge", &hex, "", exp);
    format!("{cas}/xet-bridge/{hex}?Expires={exp}&Signature={sig}")
}

fn url_error(e: SignError) -> HubError {
    match e {
        SignError::Expired => HubError::forbidden("Request has expired"),
        SignError::Invalid => HubError::forbidden("Invalid signature"),
    }
}

fn parse_hash(s: &str) -> HubResult<MerkleHash> {
    MerkleHash::from_hex(s).map_err(|e| HubError::bad_request(format!("invalid hash: {e}")))
}

fn expires(q: &HashMap<String, String>) -> HubResult<(u64, &str)> {
    let exp = q
        .get("Expires")
        .and_then(|e| e.parse().ok())
        .ok_or_else(|| HubError::forbidden("missing or invalid Expires"))?;
    let sig = q
        .get("Signature")
        .ok_or_else(|| HubError::forbidden("missing Signature"))?;
    Ok((exp, sig))
}

/// `GET /xorbs/default/{hash}?X-Xet-Signed-Range=…&Expires=…&Signature=…`
pub async fn get_xorb(
    State(shared): State<Arc<Shared>>,
    Path(hash): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> HubResult<Response> {
    let (exp, sig) = expires(&q)?;
    let signed = q
        .get("X-Xet-Signed-Range")
        .map(String::as_str)
        .unwrap_or("");
    shared
        .signer
        .verify_url("xorb", &hash, signed, exp, sig)
        .map_err(url_error)?;
    let xorb = parse_hash(&hash)?;
    let signed_ranges: Vec<(u64, u64)> = range::parse(signed)
        .map_err(|_| HubError::forbidden("invalid signed range"))?
        .into_iter()
        .filter_map(|r| match r {
            RangeSpec::FromTo(a, b) => Some((a, b)),
            _ => None,
        })
        .collect();
    let path = shared.store.xorb_path(&xorb);
    let total = match std::fs::metadata(&path) {
        Ok(m) => m.len(),
        Err(_) => return Err(HubError::not_found(format!("xorb {xorb} not found"))),
    };
    // Without a Range header the client gets exactly what was signed.
    let specs = range::from_headers(&headers)
        .map_err(HubError::bad_request)?
        .unwrap_or_else(|| {
            signed_ranges
                .iter()
                .map(|&(a, b)| RangeSpec::FromTo(a, b))
                .collect()
        });
    let mut parts = Vec::with_capacity(specs.len());
    for spec in specs {
        let Some((s, e)) = spec.resolve(total) else {
            return Ok(not_satisfiable(total));
        };
        // Any sub-range of a signed range is allowed (the default client reuses a multi-range
        // URL for single ranges); anything else was never authorised.
        if !signed_ranges.iter().any(|&(a, b)| a <= s && e <= b) {
            return Err(HubError::forbidden(format!("range {s}-{e} is not signed")));
        }
        parts.push((s, e));
    }
    Ok(ranged_file_response(path, &parts, total))
}

fn not_satisfiable(total: u64) -> Response {
    let mut r = HubError::new(
        StatusCode::RANGE_NOT_SATISFIABLE,
        None,
        "range not satisfiable",
    )
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("bytes */{total}")) {
        r.headers_mut().insert(header::CONTENT_RANGE, v);
    }
    r
}

/// 206 with one range, or 206 `multipart/byteranges` with several.
fn ranged_file_response(path: std::path::PathBuf, parts: &[(u64, u64)], total: u64) -> Response {
    let octets = "application/octet-stream";
    if let [(s, e)] = parts {
        let body = file_body(
            path,
            vec![Piece::File {
                offset: *s,
                len: e - s + 1,
            }],
        );
        return (
            StatusCode::PARTIAL_CONTENT,
            [
                (header::CONTENT_TYPE, octets.to_string()),
                (header::CONTENT_LENGTH, (e - s + 1).to_string()),
                (header::CONTENT_RANGE, format!("bytes {s}-{e}/{total}")),
            ],
            body,
        )
            .into_response();
    }
    let m = Multipart::new(parts, total, octets);
    let mut pieces = Vec::with_capacity(parts.len() * 2 + 1);
    for (h, (s, e)) in m.part_headers.iter().zip(parts) {
        pieces.push(Piece::Bytes(h.clone()));
        pieces.push(Piece::File {
            offset: *s,
            len: e - s + 1,
        });
    }
    pieces.push(Piece::Bytes(m.trailer.clone()));
    (
        StatusCode::PARTIAL_CONTENT,
        [
            (header::CONTENT_TYPE, m.content_type()),
            (header::CONTENT_LENGTH, m.body_len(parts).to_string()),
        ],
        file_body(path, pieces),
    )
        .into_response()
}

/// `GET /xet-bridge/{file_hash}?Expires=…&Signature=…`: the file's bytes, decoded on the fly.
pub async fn get_bridge(
    State(shared): State<Arc<Shared>>,
    Path(hash): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> HubResult<Response> {
    let (exp, sig) = expires(&q)?;
    shared
        .signer
        .verify_url("bridge", &hash, "", exp, sig)
        .map_err(url_error)?;
    let file_hash = parse_hash(&hash)?;
    let record = shared
        .store
        .file(&file_hash)
        .ok_or_else(|| HubError::not_found(format!("file {file_hash} not found")))?;
    let size = record.size;
    // One range is honoured; several are answered with the whole file (allowed by RFC 9110).
    let wanted = match range::from_headers(&headers).map_err(HubError::bad_request)? {
        Some(specs) if specs.len() == 1 => match specs[0].resolve(size) {
            Some(r) => Some(r),
            None => return Ok(not_satisfiable(size)),
        },
        _ => None,
    };
    let (start, end_excl) = wanted.map_or((0, size), |(s, e)| (s, e + 1));
    let etag = format!("\"{}\"", record.sha256);
    let mut headers_out = vec![
        (header::CONTENT_TYPE, "application/octet-stream".to_string()),
        (header::CONTENT_LENGTH, (end_excl - start).to_string()),
        (header::ETAG, etag),
        (header::ACCEPT_RANGES, "bytes".to_string()),
    ];
    let status = match wanted {
        Some((s, e)) => {
            headers_out.push((header::CONTENT_RANGE, format!("bytes {s}-{e}/{size}")));
            StatusCode::PARTIAL_CONTENT
        }
        None => StatusCode::OK,
    };
    if start == end_excl {
        return Ok((status, [(header::CONTENT_LENGTH, "0".to_string())], ()).into_response());
    }
    let store = shared.store.clone();
    let body = blocking_body(move |sink| {
        decode_file_range(&store, &record, start..end_excl, &mut |b| sink.send(b))
    });
    let mut resp = (status, body).into_response();
    for (k, v) in headers_out {
        if let Ok(v) = HeaderValue::from_str(&v) {
            resp.headers_mut().insert(k, v);
        }
    }
    Ok(resp)
}
