//! What to do after a failed try, decided in one place and logged with its reason.
//!
//! The rules are the SPEC's: idempotent operations retry every transient failure; a
//! non-idempotent one retries only where nothing can have happened (429, a connect error, the
//! service's own "busy"), and any other failure after the request may have been written makes
//! the row `unknown` rather than risk doing it twice.

use crate::gsl::GslError;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Over the quota: slow the pacer and try again; does not use up an attempt.
    Throttled(Option<Duration>),
    /// Try again after a backoff.
    Retry(&'static str),
    /// Give up: the row is `failed` (nothing happened, or the API refused it).
    Fail(&'static str),
    /// Give up: the row is `unknown` (it may have happened).
    Unknown(&'static str),
    /// Stop the whole run: credentials were rejected.
    Abort,
}

/// Decide after try number `attempt` (1-based) of at most `max_attempts` failed with `err`.
pub fn decide(err: &GslError, idempotent: bool, attempt: u32, max_attempts: u32) -> Decision {
    let retryable = |why: &'static str| {
        if attempt < max_attempts {
            Decision::Retry(why)
        } else {
            Decision::Fail("retries exhausted")
        }
    };
    match err {
        GslError::Throttled { retry_after, .. } => Decision::Throttled(*retry_after),
        GslError::Unauthorized { .. } | GslError::Auth(_) => Decision::Abort,
        GslError::Refused(_) => Decision::Fail("refused by the API"),
        GslError::Busy(_) => retryable("service busy, nothing done"),
        GslError::Connect(_) => retryable("connect failed, request never sent"),
        GslError::Gateway(_) | GslError::Timeout(_) | GslError::Closed(_) => {
            if idempotent {
                retryable("no answer; safe to repeat")
            } else {
                Decision::Unknown("no answer after the request may have been written")
            }
        }
        GslError::Malformed { .. } => {
            if idempotent {
                retryable("unreadable answer; safe to repeat")
            } else {
                Decision::Unknown("unreadable answer; it may have happened")
            }
        }
    }
}

/// Exponential backoff with full jitter: uniform in `0..min(cap, base * 2^(attempt-1))`.
pub fn backoff(attempt: u32) -> Duration {
    const BASE_MS: f64 = 200.0;
    const CAP_MS: f64 = 10_000.0;
    let ceiling = (BASE_MS * 2f64.powi(attempt.saturating_sub(1).min(16) as i32)).min(CAP_MS);
    Duration::from_secs_f64(fastrand::f64() * ceiling / 1000.0)
}
