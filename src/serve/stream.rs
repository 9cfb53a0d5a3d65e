//! Response bodies produced by blocking code (file reads, chunk decoding) on the blocking pool,
//! one bounded channel ahead of the socket: disk and network overlap, memory stays small.

use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use axum::body::Body;
use bytes::Bytes;
use tokio::sync::mpsc;

/// Read size for file-backed bodies: large enough for ≥ 1 GB/s, small enough to stay cheap.
pub const READ_BLOCK: usize = 1 << 20;

/// The producer side: `send` returns `false` once the client went away.
pub struct Sink {
    tx: mpsc::Sender<io::Result<Bytes>>,
}

impl Sink {
    pub fn send(&self, data: Bytes) -> bool {
        data.is_empty() || self.tx.blocking_send(Ok(data)).is_ok()
    }
}

/// A body whose bytes `produce` sends from a blocking thread. An error ends the body with an
/// error (the connection is closed, so the client never mistakes it for a complete answer).
pub fn blocking_body<F>(produce: F) -> Body
where
    F: FnOnce(&Sink) -> io::Result<()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        let sink = Sink { tx };
        if let Err(e) = produce(&sink) {
            tracing::warn!("response body failed: {e}");
            let _ = sink.tx.blocking_send(Err(e));
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Body::from_stream(stream)
}

/// What a file-backed body is made of.
pub enum Piece {
    Bytes(Bytes),
    /// `len` bytes of the file at `offset`.
    File {
        offset: u64,
        len: u64,
    },
}

/// Streams pieces of one file (and literal framing bytes) with positioned reads.
pub fn file_body(path: PathBuf, pieces: Vec<Piece>) -> Body {
    blocking_body(move |sink| {
        let file = std::fs::File::open(&path)?;
        for piece in pieces {
            match piece {
                Piece::Bytes(b) => {
                    if !sink.send(b) {
                        return Ok(());
                    }
                }
                Piece::File { mut offset, len } => {
                    let end = offset + len;
                    while offset < end {
                        let n = ((end - offset) as usize).min(READ_BLOCK);
                        let mut buf = vec![0u8; n];
                        file.read_exact_at(&mut buf, offset)?;
                        offset += n as u64;
                        if !sink.send(Bytes::from(buf)) {
                            return Ok(());
                        }
                    }
                }
            }
        }
        Ok(())
    })
}
