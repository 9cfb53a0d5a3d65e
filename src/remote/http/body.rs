//! Response bodies with an idle deadline and an exact length: streamed ([`BodyStream`]) or read
//! whole when small ([`read_small_body`]).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use reqwest::header::{HeaderMap, CONTENT_LENGTH};
use tokio::time::{Instant, Sleep};

use super::super::RemoteError;
use super::errors::transport_error;

type Inner = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// Yields exactly `expected` bytes, or ends with one error item: `Timeout` when no piece arrives
/// within the idle timeout, `Transient` when the body breaks off or is short, `Protocol` when it
/// is long. Never retried here: the caller knows what it already consumed.
pub(crate) struct BodyStream {
    inner: Inner,
    what: String,
    expected: u64,
    received: u64,
    idle: Duration,
    sleep: Pin<Box<Sleep>>,
    /// `Content-Length` equals `expected`: done as soon as that many bytes arrived.
    length_declared: bool,
    done: bool,
}

impl BodyStream {
    /// Fails at once when a declared `Content-Length` disagrees with `expected`.
    pub fn new(
        response: reqwest::Response,
        what: String,
        expected: u64,
        idle: Duration,
    ) -> Result<Self, RemoteError> {
        let declared = content_length(response.headers())?;
        if let Some(n) = declared {
            if n != expected {
                return Err(RemoteError::Protocol(format!(
                    "{what}: Content-Length {n}, expected {expected} bytes"
                )));
            }
        }
        Ok(BodyStream {
            inner: Box::pin(response.bytes_stream()),
            what,
            expected,
            received: 0,
            idle,
            sleep: Box::pin(tokio::time::sleep(idle)),
            length_declared: declared.is_some(),
            done: false,
        })
    }

    fn fail(&mut self, e: RemoteError) -> Poll<Option<Result<Bytes, RemoteError>>> {
        self.done = true;
        Poll::Ready(Some(Err(e)))
    }
}

impl Stream for BodyStream {
    type Item = Result<Bytes, RemoteError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done || (this.length_declared && this.received == this.expected) {
            this.done = true;
            return Poll::Ready(None);
        }
        match this.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(piece))) => {
                let total = this.received + piece.len() as u64;
                if total > this.expected {
                    let e = RemoteError::Protocol(format!(
                        "{}: body longer than the expected {} bytes",
                        this.what, this.expected
                    ));
                    return this.fail(e);
                }
                this.received = total;
                let next = Instant::now() + this.idle;
                this.sleep.as_mut().reset(next);
                Poll::Ready(Some(Ok(piece)))
            }
            Poll::Ready(Some(Err(e))) => {
                let e = transport_error(&this.what, e);
                let e = annotate_progress(e, this.received, this.expected);
                this.fail(e)
            }
            Poll::Ready(None) if this.received < this.expected => {
                let e = RemoteError::Transient(format!(
                    "{}: truncated body, got {} of {} bytes",
                    this.what, this.received, this.expected
                ));
                this.fail(e)
            }
            Poll::Ready(None) => {
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => {
                if this.sleep.as_mut().poll(cx).is_ready() {
                    let e = RemoteError::Timeout(format!(
                        "{}: no body bytes for {:?} (got {} of {})",
                        this.what, this.idle, this.received, this.expected
                    ));
                    return this.fail(e);
                }
                Poll::Pending
            }
        }
    }
}

fn annotate_progress(e: RemoteError, got: u64, of: u64) -> RemoteError {
    super::retry::annotate(e, &format!(" (after {got} of {of} bytes)"))
}

/// `Content-Length`, when present; a malformed one is a protocol error.
pub(crate) fn content_length(headers: &HeaderMap) -> Result<Option<u64>, RemoteError> {
    match headers.get(CONTENT_LENGTH) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .map(Some)
            .ok_or_else(|| RemoteError::Protocol(format!("malformed Content-Length {v:?}"))),
    }
}

/// Reads a whole (JSON-sized) body, at most `max` bytes, each piece within `idle`.
pub(crate) async fn read_small_body(
    response: reqwest::Response,
    what: &str,
    max: usize,
    idle: Duration,
) -> Result<Bytes, RemoteError> {
    if let Some(n) = content_length(response.headers())? {
        if n > max as u64 {
            return Err(RemoteError::Protocol(format!(
                "{what}: body of {n} bytes is over the {max}-byte limit"
            )));
        }
    }
    let mut stream = response.bytes_stream();
    let mut out = BytesMut::new();
    loop {
        let piece = match tokio::time::timeout(idle, stream.next()).await {
            Err(_) => {
                return Err(RemoteError::Timeout(format!(
                    "{what}: no body bytes for {idle:?}"
                )))
            }
            Ok(None) => return Ok(out.freeze()),
            Ok(Some(r)) => r.map_err(|e| transport_error(what, e))?,
        };
        if out.len() + piece.len() > max {
            return Err(RemoteError::Protocol(format!(
                "{what}: body over the {max}-byte limit"
            )));
        }
        out.extend_from_slice(&piece);
    }
}
