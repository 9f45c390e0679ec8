//! What to do after a failed try, decided in one place and logged with its reason.
//!
//! The rules: idempotent operations retry every transient failure; a
//! non-idempotent one retries only where nothing can have happened (429, a connect error, the
//! service's own "busy"), and any other failure after the request may have been written makes
//! the row `unknown` rather than risk doing it twice. A row whose tries all ended before
//! anything was sent is neither `failed` nor `unknown` but `pending`: it was not performed.

use super::pacer::Pacer;
use crate::gsl::GslError;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
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
    /// Give up: the row is `pending`; the last try never left (no connection could be made, or
    /// the request could not be built), so nothing of it was done.
    NotSent(&'static str),
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
        GslError::Connect(_) if attempt < max_attempts => {
            Decision::Retry("connect failed, request never sent")
        }
        GslError::Connect(_) => Decision::NotSent("connect failed on the last try; nothing sent"),
        GslError::Build(_) => Decision::NotSent("the request could not be built; nothing sent"),
        GslError::Gateway(_) => {
            if idempotent {
                retryable("server error; safe to repeat")
            } else {
                Decision::Unknown("server error after the request may have been performed")
            }
        }
        GslError::Timeout(_) | GslError::Closed(_) => {
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

/// 429s after which one request (a row's, a batch's or a read's) gives up with the last one: a
/// 429 storm must still end.
pub const MAX_THROTTLED: u32 = 100;

/// The one rule for a 429, whoever made the request: it does not use up an attempt; the pacer
/// adopts the quota the answer names, or else slows down (and honours `Retry-After`); and after
/// [`MAX_THROTTLED`] of them the request gives up.
#[derive(Debug, Default)]
pub struct Throttles(u32);

/// What a request does after a 429.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum After429 {
    /// Try again when the pacer allows.
    Again,
    /// Try again: the pacer adopted the quota (calls per second) the answer named, just now.
    Adopted(f64),
    /// That was the request's last allowed 429.
    GiveUp,
}

impl Throttles {
    /// A 429 for this request.
    pub fn on_429(
        &mut self,
        pacer: &Pacer,
        err: &GslError,
        retry_after: Option<Duration>,
    ) -> After429 {
        self.0 += 1;
        let adopted = err.quota().filter(|q| pacer.adopt_quota(*q));
        if adopted.is_none() {
            pacer.throttled(retry_after);
        }
        match adopted {
            _ if self.0 >= MAX_THROTTLED => After429::GiveUp,
            Some(q) => After429::Adopted(q),
            None => After429::Again,
        }
    }
}

/// The tries of idempotent reads, for a command's summary line.
#[derive(Debug, Default)]
pub struct ReadStats {
    pub calls: AtomicU64,
    pub throttled: AtomicU64,
    pub retries: AtomicU64,
}

impl ReadStats {
    /// `(calls, throttled, retries)`.
    pub fn get(&self) -> (u64, u64, u64) {
        (
            self.calls.load(Relaxed),
            self.throttled.load(Relaxed),
            self.retries.load(Relaxed),
        )
    }
}

/// One idempotent read (a list page, a detail, the tag list), the one way every command reads:
/// each try waits for `pacer`; a 429 slows the pacer and does not use up one of the
/// `max_attempts`; every other transient failure backs off and tries again.
pub async fn read<T, F, Fut>(
    pacer: &Pacer,
    max_attempts: u32,
    stats: &ReadStats,
    mut try_once: F,
) -> Result<T, GslError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, GslError>>,
{
    let (mut attempt, mut throttles) = (1u32, Throttles::default());
    loop {
        pacer.acquire().await;
        stats.calls.fetch_add(1, Relaxed);
        let err = match try_once().await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        match decide(&err, true, attempt, max_attempts) {
            Decision::Throttled(retry_after) => {
                stats.throttled.fetch_add(1, Relaxed);
                if throttles.on_429(pacer, &err, retry_after) == After429::GiveUp {
                    return Err(err);
                }
            }
            Decision::Retry(why) => {
                tracing::debug!(api = pacer.name(), attempt, why, error = %err, "retrying");
                stats.retries.fetch_add(1, Relaxed);
                tokio::time::sleep(backoff(attempt)).await;
                attempt += 1;
            }
            _ => return Err(err),
        }
    }
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
                Decision::Retry("server error; safe to repeat"),
                Decision::Unknown("server error after the request may have been performed"),
            ),
            (
                GslError::Gateway(fault(500, "")),
                Decision::Retry("server error; safe to repeat"),
                Decision::Unknown("server error after the request may have been performed"),
            ),
            (
                GslError::Build("bad header".into()),
                Decision::NotSent("the request could not be built; nothing sent"),
                Decision::NotSent("the request could not be built; nothing sent"),
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
        // A connection never made on the last try: nothing was done, the row stays pending.
        let refused = GslError::Connect("refused".into());
        assert!(matches!(decide(&refused, false, 4, 5), Decision::Retry(_)));
        assert!(matches!(
            decide(&refused, false, 5, 5),
            Decision::NotSent(_)
        ));
        // 429s never run out this way: they do not count as attempts.
        let t = GslError::Throttled {
            fault: fault(429, "APIG.0308"),
            retry_after: None,
        };
        assert_eq!(decide(&t, false, 5, 5), Decision::Throttled(None));
    }

    #[test]
    fn backoff_is_full_jitter_under_a_growing_cap() {
        fastrand::seed(7);
        for attempt in 1..20 {
            let cap = (0.2 * 2f64.powi(attempt as i32 - 1)).min(10.0);
            let waits: Vec<f64> = (0..2000).map(|_| backoff(attempt).as_secs_f64()).collect();
            let (lo, hi) = waits
                .iter()
                .fold((f64::MAX, 0f64), |(lo, hi), w| (lo.min(*w), hi.max(*w)));
            let mean = waits.iter().sum::<f64>() / waits.len() as f64;
            assert!(
                hi <= cap + 1e-9,
                "attempt {attempt}: {hi} over the cap {cap}"
            );
            // Full jitter: spread over the whole range, not bunched at the ceiling or at zero.
            assert!(
                lo < 0.05 * cap,
                "attempt {attempt}: nothing near 0 (least {lo})"
            );
            assert!(
                hi > 0.95 * cap,
                "attempt {attempt}: nothing near the cap (most {hi})"
            );
            assert!(
                (0.45 * cap..0.55 * cap).contains(&mean),
                "attempt {attempt}: mean {mean} of cap {cap}"
            );
        }
    }

    /// A read whose first `fail` tries end with `err` and whose next one succeeds.
    async fn read_after(
        fail: u32,
        err: GslError,
        max_attempts: u32,
    ) -> (Result<u32, GslError>, (u64, u64, u64)) {
        let pacer = Pacer::new("test", 1000.0);
        let stats = ReadStats::default();
        let tries = std::cell::Cell::new(0u32);
        let got = read(&pacer, max_attempts, &stats, || {
            let n = tries.get() + 1;
            tries.set(n);
            let err = err.clone();
            async move {
                if n <= fail {
                    Err(err)
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        (got, stats.get())
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_retries_lost_answers_up_to_max_attempts() {
        let closed = GslError::Closed("eof".into());
        let (got, stats) = read_after(4, closed.clone(), 5).await;
        assert_eq!(got.unwrap(), 5);
        assert_eq!(stats, (5, 0, 4));
        let (got, stats) = read_after(5, closed, 5).await;
        assert!(matches!(got, Err(GslError::Closed(_))));
        assert_eq!(stats, (5, 0, 4));
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_does_not_count_429s_but_gives_up_at_the_hundredth() {
        let t = GslError::Throttled {
            fault: fault(429, "APIG.0308"),
            retry_after: None,
        };
        let (got, stats) = read_after(30, t.clone(), 2).await;
        assert_eq!(got.unwrap(), 31);
        assert_eq!(stats, (31, 30, 0));
        let (got, stats) = read_after(u32::MAX, t, 2).await;
        assert!(matches!(got, Err(GslError::Throttled { .. })));
        // The one rule a row's request follows too: the hundredth 429 is the last.
        assert_eq!(stats, (100, 100, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn one_429_rule_adopts_a_named_quota_and_gives_up_at_the_hundredth() {
        let throttled = |msg: &str| GslError::Throttled {
            fault: ApiFault {
                error_msg: msg.into(),
                ..fault(429, "APIG.0308")
            },
            retry_after: None,
        };
        let pacer = Pacer::new("t", 50.0);
        let mut t = Throttles::default();
        let named = throttled("policy user over ratelimit,limit:5,time:1 second");
        assert_eq!(t.on_429(&pacer, &named, None), After429::Adopted(5.0));
        assert_eq!(pacer.adopted(), Some(5.0));
        // The same quota again is no news; a bare 429 slows the pacer down.
        assert_eq!(t.on_429(&pacer, &named, None), After429::Again);
        let before = pacer.interval();
        assert_eq!(
            t.on_429(&pacer, &throttled("too many"), None),
            After429::Again
        );
        assert!(pacer.interval() > before);
        for _ in 3..MAX_THROTTLED - 1 {
            assert_eq!(
                t.on_429(&pacer, &throttled("too many"), None),
                After429::Again
            );
        }
        assert_eq!(
            t.on_429(&pacer, &throttled("too many"), None),
            After429::GiveUp,
            "the hundredth"
        );
    }
}
