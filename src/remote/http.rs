//! [`Remote`](super::Remote) over HTTP: Hub API, CAS (tokens, reconstruction v2→v1 fallback) and
//! presigned transfer URLs, with deadlines and retries.
// SKELETON: to be written (issue 4).
