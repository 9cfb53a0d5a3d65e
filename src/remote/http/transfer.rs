//! Presigned xorb URLs: one signed byte range per GET, no credentials (§4.5).

use reqwest::header::RANGE;
use reqwest::StatusCode;
use url::Url;

use super::body::{content_length, BodyStream};
use super::errors::display_url;
use super::hub::content_range;
use super::HttpRemote;
use crate::remote::{ByteStream, RemoteError};
use crate::xet::reconstruction::ByteRange;

impl HttpRemote {
    pub(super) async fn transfer_xorb_range(
        &self,
        url: &str,
        range: ByteRange,
    ) -> Result<ByteStream, RemoteError> {
        let parsed = Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| RemoteError::Protocol("xorb URL is not an http(s) URL".into()))?;
        let what = format!("GET {} bytes={}", display_url(&parsed), range.http_spec());
        if range.is_empty() {
            return Err(RemoteError::Protocol(format!(
                "{what}: empty range requested"
            )));
        }
        let (what, parsed) = (what.as_str(), &parsed);
        self.retry
            .run(what, || async move {
                // The transfer client has no credentials to send: presigned URLs carry their own.
                let request = self
                    .transfer
                    .get(parsed.clone())
                    .header(RANGE, format!("bytes={}", range.http_spec()));
                let r = self.send(what, request).await?;
                match r.status() {
                    StatusCode::PARTIAL_CONTENT => {
                        let (s, e, _) = content_range(r.headers(), what)?;
                        if (s, e) != (range.start, range.end) {
                            return Err(RemoteError::Protocol(format!(
                                "{what}: answered with bytes {s}-{e}"
                            )));
                        }
                    }
                    // A server that ignores `Range` is usable only if the object is the range.
                    StatusCode::OK => {
                        let len = content_length(r.headers())?;
                        if range.start != 0 || len != Some(range.len()) {
                            return Err(RemoteError::Protocol(format!(
                                "{what}: the server ignored Range (200 with {} bytes)",
                                len.map_or("unknown".to_string(), |l| l.to_string())
                            )));
                        }
                    }
                    StatusCode::FORBIDDEN => return Err(RemoteError::UrlExpired),
                    _ => return Err(self.error_from(what, r, None).await),
                }
                let body = BodyStream::new(r, what.to_string(), range.len(), self.idle_timeout)?;
                Ok(Box::pin(body) as ByteStream)
            })
            .await
    }
}
