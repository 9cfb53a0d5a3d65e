//! Hub-style error answers: status + `X-Error-Code` + `X-Error-Message` (what huggingface_hub
//! turns into `RepositoryNotFoundError`, `RevisionNotFoundError`, `EntryNotFoundError`, …).

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// An error answer. Handlers return `Result<_, HubError>`; nothing inside a handler panics.
#[derive(Debug, Clone)]
pub struct HubError {
    pub status: StatusCode,
    pub code: Option<&'static str>,
    pub message: String,
    /// Sent as `X-Repo-Commit` so clients can cache a missing entry at that commit.
    pub commit: Option<String>,
}

pub type HubResult<T> = Result<T, HubError>;

impl HubError {
    pub fn new(status: StatusCode, code: Option<&'static str>, message: impl Into<String>) -> Self {
        HubError {
            status,
            code,
            message: message.into(),
            commit: None,
        }
    }

    pub fn repo_not_found(repo: &impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            Some("RepoNotFound"),
            format!("Repository {repo} not found"),
        )
    }

    /// What the Hub answers for a private repo the caller may not see: 401, not 403.
    pub fn repo_hidden(repo: &impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            Some("RepoNotFound"),
            format!("Repository {repo} not found or you are not authorized to access it"),
        )
    }

    pub fn revision_not_found(rev: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            Some("RevisionNotFound"),
            format!("Invalid rev id: {rev}"),
        )
    }

    pub fn entry_not_found(path: &str, commit: &str) -> Self {
        let mut e = Self::new(
            StatusCode::NOT_FOUND,
            Some("EntryNotFound"),
            format!("Entry not found: {path}"),
        );
        e.commit = Some(commit.to_string());
        e
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some("BadRequest"), message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, None, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, None, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, None, message)
    }

    /// The repo exists but its content is still being ingested.
    pub fn not_ready(repo: &impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            Some("RepoNotReady"),
            format!("Repository {repo} is still being ingested"),
        )
    }

    /// A server-side failure; the detail is logged, the caller gets a short reason.
    pub fn internal(context: &str, err: impl std::fmt::Display) -> Self {
        tracing::error!("{context}: {err}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            format!("{context}: {err}"),
        )
    }
}

impl std::fmt::Display for HubError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

/// Header values must be visible ASCII: anything else becomes `?`.
pub fn header_safe(text: &str) -> HeaderValue {
    let clean: String = text
        .chars()
        .take(512)
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .collect();
    HeaderValue::from_str(&clean).unwrap_or_else(|_| HeaderValue::from_static("error"))
}

impl IntoResponse for HubError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message });
        let mut resp = (self.status, axum::Json(body)).into_response();
        let h = resp.headers_mut();
        if let Some(code) = self.code {
            h.insert("x-error-code", HeaderValue::from_static(code));
        }
        h.insert("x-error-message", header_safe(&self.message));
        if let Some(commit) = &self.commit {
            h.insert("x-repo-commit", header_safe(commit));
        }
        resp
    }
}
