//! The per-request wrapper around the routers: classifies the request, counts it, applies the
//! request-level faults (latency, injected status, reset, stall before the head) and wraps the
//! response body in a [`GateBody`].

use std::os::fd::RawFd;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, Response};
use axum::response::IntoResponse;
use axum::Router;
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::body::GateBody;
use crate::serve::errors::HubError;
use crate::serve::metrics::{Endpoint, Origin};
use crate::serve::shared::Shared;

/// Ends the connection without an answer (the `reset` fault).
#[derive(Debug, thiserror::Error)]
#[error("injected fault: connection reset")]
pub struct Reset;

pub async fn handle(
    shared: Arc<Shared>,
    router: Router,
    origin: Origin,
    fd: RawFd,
    req: Request<Incoming>,
) -> Result<Response<GateBody>, Reset> {
    let class = Endpoint::classify(origin, req.method(), req.uri().path());
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    shared.metrics.request(class);
    let faults = shared.faults.for_request(class);
    for name in &faults.fired {
        shared.metrics.add("faults_injected", 1);
        shared.metrics.add(&format!("faults_injected.{name}"), 1);
    }
    if let Some(d) = faults.latency {
        tokio::time::sleep(d).await;
    }
    if let Some(d) = faults.stall_head {
        tokio::time::sleep(d).await;
    }
    if faults.reset {
        reset_on_close(fd);
        tracing::debug!("{method} {path} [{}] -> reset (fault)", class.as_str());
        return Err(Reset);
    }
    let resp = match faults.status {
        Some(status) => {
            let status = axum::http::StatusCode::from_u16(status)
                .unwrap_or(axum::http::StatusCode::SERVICE_UNAVAILABLE);
            HubError::new(status, Some("InjectedFault"), "injected fault").into_response()
        }
        None => {
            let counter = shared.clone();
            let req = req.map(move |b| {
                Body::new(b.map_frame(move |f| {
                    if let Some(d) = f.data_ref() {
                        counter.metrics.received(class, d.len() as u64);
                    }
                    f
                }))
            });
            let mut router = router;
            match tower_service::Service::call(&mut router, req).await {
                Ok(r) => r,
                Err(never) => match never {},
            }
        }
    };
    shared.metrics.status(class, resp.status().as_u16());
    tracing::debug!("{method} {path} [{}] -> {}", class.as_str(), resp.status());
    let len = resp
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    Ok(resp.map(|b| GateBody::new(b, class, shared.clone(), &faults.body, len)))
}

/// Makes the coming close of the socket a TCP reset (SO_LINGER with a zero timeout).
fn reset_on_close(fd: RawFd) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `fd` is the connection's socket, open for as long as this request runs; the call
    // only sets an option on it.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}
