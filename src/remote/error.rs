//! What can go wrong talking to the Hub, the CAS or a transfer host.

/// A remote failure, classified by what the caller should do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteError {
    /// Repo, revision, path or file hash unknown (Hub `RepoNotFound`/`RevisionNotFound`/`EntryNotFound`, 404).
    #[error("not found: {0}")]
    NotFound(String),
    /// 401: no or bad credentials (the Hub also says this for private repos it hides).
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// 403 from the Hub/CAS, or a gated repo.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// 403 from a transfer host: the presigned URL expired; re-query the reconstruction.
    #[error("presigned URL expired or not signed for this range")]
    UrlExpired,
    /// 416: the range starts at or past EOF.
    #[error("range not satisfiable")]
    RangeNotSatisfiable,
    /// A deadline passed (connect, first byte, idle body, or the whole operation).
    #[error("timed out: {0}")]
    Timeout(String),
    /// 5xx, 429, connection reset, truncated body: worth retrying.
    #[error("transient failure: {0}")]
    Transient(String),
    /// The server answered something that violates the protocol (bad JSON, wrong status or length).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The network is off by configuration (`--offline`).
    #[error("offline: {0}")]
    Offline(String),
}

impl RemoteError {
    /// Whether repeating the same request may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, RemoteError::Transient(_) | RemoteError::Timeout(_))
    }
}
