//! Bounded retries of one request: exponential backoff with full jitter, a cap on attempts and one
//! deadline for the whole call.

use std::future::Future;
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

use super::super::RemoteError;

#[derive(Debug, Clone)]
pub(crate) struct RetryPolicy {
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    pub call_timeout: Duration,
}

impl RetryPolicy {
    /// Runs `attempt` until it succeeds, fails with a non-retryable error, runs out of attempts,
    /// or the call deadline passes (then `Timeout`). Each attempt is cut off at the deadline.
    pub async fn run<T, F, Fut>(&self, what: &str, mut attempt: F) -> Result<T, RemoteError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, RemoteError>>,
    {
        let deadline = Instant::now() + self.call_timeout;
        let max = self.max_attempts.max(1);
        let mut n = 0;
        loop {
            n += 1;
            let result = match tokio::time::timeout_at(deadline, attempt()).await {
                Ok(r) => r,
                Err(_) => {
                    return Err(RemoteError::Timeout(format!(
                        "{what}: no result within {:?} ({n} attempt{})",
                        self.call_timeout,
                        if n == 1 { "" } else { "s" }
                    )))
                }
            };
            let err = match result {
                Ok(v) => return Ok(v),
                Err(e) if !e.is_retryable() => return Err(e),
                Err(e) => e,
            };
            if n >= max {
                return Err(annotate(err, &format!(" (after {n} attempts)")));
            }
            let delay = self.backoff(n);
            if Instant::now() + delay >= deadline {
                return Err(annotate(
                    err,
                    &format!(" (after {n} attempts; call deadline)"),
                ));
            }
            tracing::debug!(%what, attempt = n, ?delay, error = %err, "retrying");
            tokio::time::sleep(delay).await;
        }
    }

    /// Full jitter: uniform in `[0, min(cap, base · 2^(n-1))]`.
    fn backoff(&self, n: u32) -> Duration {
        let exp = self
            .backoff_base
            .saturating_mul(1u32 << (n - 1).min(20))
            .min(self.backoff_cap);
        let max_ms = exp.as_millis() as u64;
        Duration::from_millis(rand::rng().random_range(0..=max_ms))
    }
}

/// Appends context to the message of an error.
pub(crate) fn annotate(e: RemoteError, suffix: &str) -> RemoteError {
    use RemoteError::*;
    match e {
        NotFound(m) => NotFound(m + suffix),
        Unauthorized(m) => Unauthorized(m + suffix),
        Forbidden(m) => Forbidden(m + suffix),
        Timeout(m) => Timeout(m + suffix),
        Transient(m) => Transient(m + suffix),
        Protocol(m) => Protocol(m + suffix),
        Offline(m) => Offline(m + suffix),
        e @ (UrlExpired | RangeNotSatisfiable) => e,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn policy(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            backoff_base: Duration::from_millis(1),
            backoff_cap: Duration::from_millis(2),
            call_timeout: Duration::from_secs(30),
        }
    }

    #[tokio::test]
    async fn transient_errors_are_retried_up_to_the_limit() {
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = policy(4)
            .run("t", || {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err(RemoteError::Transient("503".into())) }
            })
            .await;
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        assert!(matches!(r, Err(RemoteError::Transient(m)) if m.contains("after 4 attempts")));
    }

    #[tokio::test]
    async fn success_after_failures_and_no_retry_of_client_errors() {
        let calls = AtomicU32::new(0);
        let r = policy(5)
            .run("t", || {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n < 2 {
                        Err(RemoteError::Timeout("slow".into()))
                    } else {
                        Ok(n)
                    }
                }
            })
            .await;
        assert_eq!(r, Ok(2));
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = policy(5)
            .run("t", || {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err(RemoteError::NotFound("x".into())) }
            })
            .await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(matches!(r, Err(RemoteError::NotFound(_))));
    }

    #[tokio::test]
    async fn the_call_deadline_cuts_a_hanging_attempt() {
        let p = RetryPolicy {
            call_timeout: Duration::from_millis(50),
            ..policy(5)
        };
        let r: Result<(), _> = p.run("t", futures::future::pending).await;
        assert!(matches!(r, Err(RemoteError::Timeout(_))));
    }

    #[test]
    fn backoff_stays_under_the_cap() {
        let p = RetryPolicy {
            max_attempts: 50,
            backoff_base: Duration::from_millis(200),
            backoff_cap: Duration::from_secs(5),
            call_timeout: Duration::from_secs(1),
        };
        for n in 1..40 {
            assert!(p.backoff(n) <= Duration::from_secs(5));
        }
        assert!(p.backoff(1) <= Duration::from_millis(200));
    }
}
