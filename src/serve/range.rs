//! HTTP `Range` headers (`bytes=a-b`, `a-`, `-n`, comma lists) and `multipart/byteranges` framing.

use bytes::Bytes;

/// One range of a `Range` header, before it is resolved against a size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSpec {
    /// `a-b`, inclusive.
    FromTo(u64, u64),
    /// `a-`.
    From(u64),
    /// `-n`: the last n bytes.
    Suffix(u64),
}

impl RangeSpec {
    /// Inclusive `(start, end)` inside a body of `size` bytes; `None` when unsatisfiable.
    pub fn resolve(self, size: u64) -> Option<(u64, u64)> {
        let (start, end) = match self {
            RangeSpec::FromTo(a, b) => (a, b.min(size.checked_sub(1)?)),
            RangeSpec::From(a) => (a, size.checked_sub(1)?),
            RangeSpec::Suffix(0) => return None,
            RangeSpec::Suffix(n) => (size.saturating_sub(n), size.checked_sub(1)?),
        };
        (start < size && start <= end).then_some((start, end))
    }
}

/// Parses `bytes=…`; `Err` for anything malformed (other units, inverted ranges, junk).
pub fn parse(value: &str) -> Result<Vec<RangeSpec>, String> {
    let bad = || format!("invalid Range header {value:?}");
    let list = value.trim().strip_prefix("bytes=").ok_or_else(bad)?;
    let mut out = Vec::new();
    for part in list.split(',') {
        let (a, b) = part.trim().split_once('-').ok_or_else(bad)?;
        let num = |s: &str| s.trim().parse::<u64>().map_err(|_| bad());
        out.push(match (a.trim().is_empty(), b.trim().is_empty()) {
            (false, false) => {
                let (a, b) = (num(a)?, num(b)?);
                if b < a {
                    return Err(bad());
                }
                RangeSpec::FromTo(a, b)
            }
            (false, true) => RangeSpec::From(num(a)?),
            (true, false) => RangeSpec::Suffix(num(b)?),
            (true, true) => return Err(bad()),
        });
    }
    if out.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

/// The `Range` header of a request, parsed; `Ok(None)` when absent.
pub fn from_headers(headers: &axum::http::HeaderMap) -> Result<Option<Vec<RangeSpec>>, String> {
    match headers.get(axum::http::header::RANGE) {
        None => Ok(None),
        Some(v) => parse(
            v.to_str()
                .map_err(|_| "Range header is not ASCII".to_string())?,
        )
        .map(Some),
    }
}

/// The framing of a `multipart/byteranges` body around parts `(start, end)` (inclusive) of a
/// `total`-byte object: the bytes before each part, and the closing delimiter.
pub struct Multipart {
    pub boundary: String,
    pub part_headers: Vec<Bytes>,
    pub trailer: Bytes,
}

impl Multipart {
    pub fn new(parts: &[(u64, u64)], total: u64, content_type: &str) -> Self {
        let boundary = format!("xetfs-{:016x}", rand::random::<u64>());
        let part_headers = parts
            .iter()
            .enumerate()
            .map(|(i, (s, e))| {
                // Every part but the first is preceded by the CRLF ending the previous part.
                let lead = if i == 0 { "" } else { "\r\n" };
                Bytes::from(format!(
                    "{lead}--{boundary}\r\nContent-Type: {content_type}\r\nContent-Range: bytes {s}-{e}/{total}\r\n\r\n"
                ))
            })
            .collect();
        let trailer = Bytes::from(format!("\r\n--{boundary}--\r\n"));
        Multipart {
            boundary,
            part_headers,
            trailer,
        }
    }

    /// Total body length given the part lengths.
    pub fn body_len(&self, parts: &[(u64, u64)]) -> u64 {
        let framing: u64 = self.part_headers.iter().map(|h| h.len() as u64).sum();
        let data: u64 = parts.iter().map(|(s, e)| e - s + 1).sum();
        framing + data + self.trailer.len() as u64
    }

    pub fn content_type(&self) -> String {
        format!("multipart/byteranges; boundary={}", self.boundary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_resolves() {
        assert_eq!(parse("bytes=0-9").unwrap(), [RangeSpec::FromTo(0, 9)]);
        assert_eq!(
            parse("bytes=0-9, 20-, -5").unwrap(),
            [
                RangeSpec::FromTo(0, 9),
                RangeSpec::From(20),
                RangeSpec::Suffix(5)
            ]
        );
        for bad in [
            "bytes=9-0",
            "items=0-1",
            "bytes=",
            "bytes=-",
            "bytes=a-b",
            "0-1",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(RangeSpec::FromTo(5, 100).resolve(10), Some((5, 9)));
        assert_eq!(RangeSpec::FromTo(10, 100).resolve(10), None);
        assert_eq!(RangeSpec::From(3).resolve(10), Some((3, 9)));
        assert_eq!(RangeSpec::Suffix(4).resolve(10), Some((6, 9)));
        assert_eq!(RangeSpec::Suffix(40).resolve(10), Some((0, 9)));
        assert_eq!(RangeSpec::From(0).resolve(0), None);
    }

    #[test]
    fn multipart_length_matches_framing() {
        let parts = [(0, 9), (20, 29)];
        let m = Multipart::new(&parts, 100, "application/octet-stream");
        let mut body = Vec::new();
        for (h, (s, e)) in m.part_headers.iter().zip(parts) {
            body.extend_from_slice(h);
            body.extend(std::iter::repeat_n(b'x', (e - s + 1) as usize));
        }
        body.extend_from_slice(&m.trailer);
        assert_eq!(body.len() as u64, m.body_len(&parts));
        let text = String::from_utf8(body).unwrap();
        assert!(text.contains("Content-Range: bytes 20-29/100\r\n\r\nxxxxxxxxxx\r\n--"));
        assert!(text.ends_with(&format!("--{}--\r\n", m.boundary)));
    }
}
