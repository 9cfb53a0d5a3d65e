//! A [`Remote`](super::Remote) wrapper that injects failures: errors, stalls, truncated or
//! corrupted bodies, expired URLs. Off unless a test turns it on.
// SKELETON: to be written (issue 4).
