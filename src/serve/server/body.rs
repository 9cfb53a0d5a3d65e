//! The response body every answer goes through: counts the bytes actually handed to the
//! connection (exact `bytes_sent` metrics) and applies body faults (bandwidth cap, truncation,
//! corruption, mid-body stall).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use tokio::time::Sleep;

use crate::serve::faults::BodyFaults;
use crate::serve::metrics::Endpoint;
use crate::serve::shared::Shared;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Body faults with their offsets resolved against the body length.
#[derive(Debug, Clone, Copy, Default)]
struct Resolved {
    bandwidth: Option<u64>,
    truncate_at: Option<u64>,
    corrupt_at: Option<u64>,
    stall: Option<(u64, Duration)>,
}

pub struct GateBody {
    inner: Body,
    class: Endpoint,
    shared: Arc<Shared>,
    faults: Resolved,
    sent: u64,
    hint: SizeHint,
    pending: Option<Bytes>,
    delay: Option<Pin<Box<Sleep>>>,
    stalled: bool,
    truncating: bool,
    failed: bool,
}

/// How long a truncated body waits before the connection is cut (so the part is delivered).
const FLUSH_BEFORE_CUT: Duration = Duration::from_millis(50);

impl GateBody {
    /// `len` is the announced `Content-Length`, used to place default fault offsets.
    pub fn new(
        inner: Body,
        class: Endpoint,
        shared: Arc<Shared>,
        faults: &BodyFaults,
        len: Option<u64>,
    ) -> Self {
        let len = len.or(HttpBody::size_hint(&inner).exact());
        let half = len.unwrap_or(0) / 2;
        let hint = HttpBody::size_hint(&inner);
        GateBody {
            inner,
            class,
            shared,
            faults: Resolved {
                bandwidth: faults.bandwidth,
                truncate_at: faults.truncate.map(|at| at.unwrap_or(half)),
                corrupt_at: faults.corrupt.map(|at| at.unwrap_or(half)),
                stall: faults.stall,
            },
            sent: 0,
            hint,
            pending: None,
            delay: None,
            stalled: false,
            truncating: false,
            failed: false,
        }
    }
}

impl HttpBody for GateBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        loop {
            if let Some(d) = this.delay.as_mut() {
                ready!(d.as_mut().poll(cx));
                this.delay = None;
            }
            if this.failed {
                return Poll::Ready(None);
            }
            if this.truncating {
                this.failed = true;
                return Poll::Ready(Some(Err("injected fault: truncated body".into())));
            }
            let f = this.faults;
            let cut_due = f.truncate_at.is_some_and(|at| this.sent >= at);
            let next = match this.pending.take() {
                Some(d) => Some(d),
                None => match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                    None => None,
                    Some(Err(e)) => return Poll::Ready(Some(Err(e.into()))),
                    Some(Ok(frame)) => match frame.into_data() {
                        Ok(d) if d.is_empty() => continue,
                        Ok(d) => Some(d),
                        Err(frame) => return Poll::Ready(Some(Ok(frame))),
                    },
                },
            };
            if cut_due {
                // Let the connection flush what was sent before it is cut: an error raised at
                // once would discard hyper's unflushed buffer (the head included).
                this.truncating = true;
                this.delay = Some(Box::pin(tokio::time::sleep(FLUSH_BEFORE_CUT)));
                continue;
            }
            let Some(mut data) = next else {
                return Poll::Ready(None);
            };
            if let Some(at) = f.truncate_at {
                if this.sent + data.len() as u64 > at {
                    data.truncate((at - this.sent) as usize);
                }
            }
            if let (Some((at, hold)), false) = (f.stall, this.stalled) {
                if this.sent >= at {
                    this.stalled = true;
                    this.pending = Some(data);
                    this.delay = Some(Box::pin(tokio::time::sleep(hold)));
                    continue;
                }
                if this.sent + data.len() as u64 > at {
                    this.pending = Some(data.split_off((at - this.sent) as usize));
                }
            }
            if let Some(rate) = f.bandwidth {
                // Small slices keep the pace smooth: ~20 per second.
                let slice = (rate / 20).max(1024) as usize;
                if data.len() > slice {
                    let rest = data.split_off(slice);
                    this.pending = Some(match this.pending.take() {
                        Some(p) => {
                            let mut b = BytesMut::from(&rest[..]);
                            b.extend_from_slice(&p);
                            b.freeze()
                        }
                        None => rest,
                    });
                }
                let secs = data.len() as f64 / rate as f64;
                this.delay = Some(Box::pin(tokio::time::sleep(Duration::from_secs_f64(secs))));
            }
            if let Some(at) = f.corrupt_at {
                if (this.sent..this.sent + data.len() as u64).contains(&at) {
                    let mut b = BytesMut::from(&data[..]);
                    b[(at - this.sent) as usize] ^= 0xff;
                    data = b.freeze();
                }
            }
            this.sent += data.len() as u64;
            this.shared.metrics.sent(this.class, data.len() as u64);
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
    }

    fn is_end_stream(&self) -> bool {
        // An armed truncation must get the chance to fail the body, even after the last byte.
        let armed = self.faults.truncate_at.is_some();
        self.failed
            || (!armed
                && self.pending.is_none()
                && self.delay.is_none()
                && self.inner.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        if self.sent == 0 && self.pending.is_none() {
            self.hint
        } else {
            SizeHint::default()
        }
    }
}
