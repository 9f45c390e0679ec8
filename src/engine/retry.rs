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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gsl::ApiFault;

    fn fault(status: u16, code: &str) -> ApiFault {
        ApiFault {
            http_status: status,
            error_code: code.into(),
            ..ApiFault::default()
        }
    }

    #[test]
    fn the_spec_table() {
        let cases: Vec<(GslError, Decision, Decision)> = vec![
            // (error, idempotent, non-idempotent) on the first of five attempts
            (
                GslError::Throttled {
                    fault: fault(429, "APIG.0308"),
                    retry_after: None,
                },
                Decision::Throttled(None),
                Decision::Throttled(None),
            ),
            (
                GslError::Busy(fault(500, "GSL.00010003")),
                Decision::Retry("service busy, nothing done"),
                Decision::Retry("service busy, nothing done"),
            ),
            (
                GslError::Connect("refused".into()),
                Decision::Retry("connect failed, request never sent"),
                Decision::Retry("connect failed, request never sent"),
            ),
            (
                GslError::Timeout(Duration::from_secs(1)),
                Decision::Retry("no answer; safe to repeat"),
                Decision::Unknown("no answer after the request may have been written"),
            ),
            (
                GslError::Closed("eof".into()),
                Decision::Retry("no answer; safe to repeat"),
                Decision::Unknown("no answer after the request may have been written"),
            ),
            (
                GslError::Gateway(fault(502, "")),
                Decision::Retry("no answer; safe to repeat"),
                Decision::Unknown("no answer after the request may have been written"),
            ),
            (
                GslError::Refused(fault(400, "GSL.00010004")),
                Decision::Fail("refused by the API"),
                Decision::Fail("refused by the API"),
            ),
            (
                GslError::Unauthorized {
                    fault: fault(401, "APIG.0301"),
                    clock_offset: None,
                },
                Decision::Abort,
                Decision::Abort,
            ),
        ];
        for (err, idem, non) in cases {
            assert_eq!(decide(&err, true, 1, 5), idem, "{err:?} idempotent");
            assert_eq!(decide(&err, false, 1, 5), non, "{err:?} non-idempotent");
        }
    }

    #[test]
    fn retries_run_out_at_max_attempts() {
        let busy = GslError::Busy(fault(500, "GSL.00010003"));
        assert!(matches!(decide(&busy, true, 4, 5), Decision::Retry(_)));
        assert_eq!(
            decide(&busy, true, 5, 5),
            Decision::Fail("retries exhausted")
        );
        // 429s never run out this way: they do not count as attempts.
        let t = GslError::Throttled {
            fault: fault(429, "APIG.0308"),
            retry_after: None,
        };
        assert_eq!(decide(&t, false, 5, 5), Decision::Throttled(None));
    }

    #[test]
    fn backoff_is_full_jitter_under_a_growing_cap() {
        for attempt in 1..20 {
            let cap = (0.2 * 2f64.powi(attempt as i32 - 1)).min(10.0);
            for _ in 0..50 {
                assert!(backoff(attempt).as_secs_f64() <= cap + 1e-9);
            }
        }
    }
}
