//! Turning HTTP failures into [`RemoteError`]s with messages that help a user, and never carry a
//! secret (tokens, presigned URL signatures).

use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use url::Url;

use super::super::RemoteError;

/// `scheme://host[:port]/path` without the query: presigned URLs carry signatures there.
pub(crate) fn display_url(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

/// A transport failure (no usable response head, or a body that broke off).
pub(crate) fn transport_error(what: &str, e: reqwest::Error) -> RemoteError {
    // The URL is dropped from the message (it may be presigned); `what` names the request.
    let kind = if e.is_connect() {
        "connect"
    } else if e.is_body() {
        "body"
    } else if e.is_decode() {
        "decode"
    } else {
        "request"
    };
    let timeout = e.is_timeout();
    let protocol = e.is_redirect() || e.is_builder();
    let detail = error_chain(&e.without_url());
    if timeout {
        RemoteError::Timeout(format!("{what}: {kind}: {detail}"))
    } else if protocol {
        RemoteError::Protocol(format!("{what}: {detail}"))
    } else {
        RemoteError::Transient(format!("{what}: {kind}: {detail}"))
    }
}

/// `outer: cause: cause` — reqwest's own Display hides the useful inner cause.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        src = c.source();
    }
    s
}

/// Maps a non-success status from the Hub (or the CAS, which uses the same conventions) to an
/// error. `X-Error-Code`/`X-Error-Message` (Hub) or a JSON `error` field from `body` refine it.
pub(crate) fn status_error(
    what: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: Option<&str>,
) -> RemoteError {
    let code = header_str(headers, "x-error-code");
    let message = header_str(headers, "x-error-message")
        .map(str::to_string)
        .or_else(|| body.and_then(body_message));
    let mut text = format!("{what}: HTTP {}", status.as_u16());
    if let Some(c) = code {
        text.push_str(&format!(" ({})", clean(c, 64)));
    }
    if let Some(m) = &message {
        text.push_str(": ");
        text.push_str(&clean(m, 300));
    }
    match (code, status.as_u16()) {
        (Some("RepoNotFound"), _) => RemoteError::NotFound(format!(
            "{text} — the repository does not exist, or it is private or gated and the token \
             (HF_TOKEN) does not grant access"
        )),
        (Some("RevisionNotFound" | "EntryNotFound"), _) => RemoteError::NotFound(text),
        (Some("GatedRepo"), _) => RemoteError::Forbidden(format!(
            "{text} — the repository is gated: request access on its Hub page"
        )),
        (_, 401) => {
            let hint = if message
                .as_deref()
                .is_some_and(|m| m.contains("Invalid credentials"))
            {
                " — the token is invalid"
            } else {
                " — set HF_TOKEN (or log in) if the repository is private or gated"
            };
            RemoteError::Unauthorized(format!("{text}{hint}"))
        }
        (_, 403) => RemoteError::Forbidden(text),
        (_, 404 | 410) => RemoteError::NotFound(text),
        (_, 416) => RemoteError::RangeNotSatisfiable,
        (_, 408 | 425 | 429) | (_, 500..=599) => RemoteError::Transient(text),
        _ => RemoteError::Protocol(format!("{text} (unexpected status)")),
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// `{"error": "..."}` bodies of the Hub API.
fn body_message(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    v.get("error")?.as_str().map(str::to_string)
}

/// Server text for a log line: printable, bounded.
fn clean(s: &str, max: usize) -> String {
    let mut out: String = s.chars().filter(|c| !c.is_control()).take(max).collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out
}

/// Removes `secret` from an error message (a server may echo what it got).
pub(crate) fn scrub(e: RemoteError, secret: Option<&str>) -> RemoteError {
    let Some(secret) = secret.filter(|s| s.len() >= 4) else {
        return e;
    };
    use RemoteError::*;
    let f = |m: String| m.replace(secret, "<redacted>");
    match e {
        NotFound(m) => NotFound(f(m)),
        Unauthorized(m) => Unauthorized(f(m)),
        Forbidden(m) => Forbidden(f(m)),
        Timeout(m) => Timeout(f(m)),
        Transient(m) => Transient(f(m)),
        Protocol(m) => Protocol(f(m)),
        Offline(m) => Offline(f(m)),
        e @ (UrlExpired | RangeNotSatisfiable) => e,
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn hub_error_codes_win_over_status() {
        let h = headers(&[
            ("x-error-code", "RepoNotFound"),
            ("x-error-message", "Repository not found"),
        ]);
        let e = status_error("GET x", StatusCode::UNAUTHORIZED, &h, None);
        assert!(matches!(&e, RemoteError::NotFound(m) if m.contains("Repository not found")));
        let h = headers(&[("x-error-code", "GatedRepo")]);
        let e = status_error("GET x", StatusCode::UNAUTHORIZED, &h, None);
        assert!(matches!(e, RemoteError::Forbidden(_)));
        let h = headers(&[("x-error-code", "EntryNotFound")]);
        let e = status_error("HEAD x", StatusCode::NOT_FOUND, &h, None);
        assert!(matches!(e, RemoteError::NotFound(_)));
    }

    #[test]
    fn statuses_without_codes() {
        let none = HeaderMap::new();
        let e = |s: u16, body: Option<&str>| {
            status_error("GET x", StatusCode::from_u16(s).unwrap(), &none, body)
        };
        assert!(matches!(e(401, None), RemoteError::Unauthorized(_)));
        assert!(matches!(e(403, None), RemoteError::Forbidden(_)));
        assert!(matches!(e(416, None), RemoteError::RangeNotSatisfiable));
        assert!(matches!(e(503, None), RemoteError::Transient(_)));
        assert!(matches!(e(429, None), RemoteError::Transient(_)));
        assert!(matches!(e(400, None), RemoteError::Protocol(_)));
        assert!(
            matches!(e(404, Some(r#"{"error":"nope"}"#)), RemoteError::NotFound(m) if m.contains("nope"))
        );
    }

    #[test]
    fn messages_are_bounded_and_scrubbed() {
        let long: &'static str = Box::leak("x\t".repeat(500).into_boxed_str());
        let h = headers(&[("x-error-message", long)]);
        let e = status_error("GET x", StatusCode::FORBIDDEN, &h, None);
        assert!(e.to_string().len() < 500);
        assert!(!e.to_string().contains('\t'));
        let e = scrub(
            RemoteError::Unauthorized("bad token hf_abcdef".into()),
            Some("hf_abcdef"),
        );
        assert!(!e.to_string().contains("hf_abcdef"));
    }

    #[test]
    fn urls_lose_their_query() {
        let u = Url::parse("https://u:p@cdn.example/xorb/abc?Signature=s3cr3t").unwrap();
        assert_eq!(display_url(&u), "https://cdn.example/xorb/abc");
    }
}
