//! Accept loops: one hyper HTTP/1.1 connection task per client, all ended at shutdown.

use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::gate;
use crate::serve::metrics::Origin;
use crate::serve::shared::Shared;

pub async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    router: Router,
    origin: Origin,
    cancel: CancellationToken,
) {
    let mut conns = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => break,
            a = listener.accept() => a,
        };
        while conns.try_join_next().is_some() {}
        let stream = match accepted {
            Ok((s, _)) => s,
            Err(e) => {
                // Typically out of file descriptors: back off instead of spinning.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let fd = stream.as_raw_fd();
        let (shared, router, cancel) = (shared.clone(), router.clone(), cancel.clone());
        conns.spawn(async move {
            let svc = service_fn(move |req| {
                gate::handle(shared.clone(), router.clone(), origin, fd, req)
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(60))
                .serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                r = conn => if let Err(e) = r {
                    tracing::debug!("connection ended: {e}");
                },
                _ = cancel.cancelled() => {}
            }
        });
    }
    conns.shutdown().await;
}
