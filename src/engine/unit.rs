//! One unit from its first try to its last: the auth gate, the in-flight window, the pacer,
//! the intent of a non-idempotent request, and what [`retry::decide`] makes of each failure.
//!
//! A try that fails before anything is sent (no connection, a request that cannot be built)
//! did nothing: its row never becomes `unknown`, and when tries keep ending that way the run
//! stops with its rows `pending` instead of spending every attempt of every row on an endpoint
//! it cannot reach.

use super::{now_ms, now_rfc3339, Shared, Stop};
use crate::flow::retry::{self, Decision};
use crate::gsl::GslError;
use crate::journal::Outcome;
use crate::model::Status;
use std::sync::atomic::Ordering::Relaxed;
use tokio::time::Instant;

/// Tries in a row that failed before sending, none of the run's tries having ever left, after
/// which the endpoint is taken for unreachable: the first row's default five attempts.
const UNREACHABLE_AT_START: u32 = 5;

/// The same once earlier tries did reach the endpoint: the network or the endpoint went away
/// mid-run (a few seconds of tries at any rate), longer than a blip that retries ride out.
const UNREACHABLE_MID_RUN: u32 = 50;

/// Fill an outcome's error fields from a failure.
fn with_error(mut o: Outcome, err: &GslError) -> Outcome {
    o.http_status = err.http_status();
    o.error_code = Some(err.error_code());
    o.error_msg = Some(err.error_msg());
    o
}

/// One unit from first try to last; the outcome applies to each of its rows (its `row` field
/// is left 0 for the caller to fill in). `None`: nothing to record (stopped before any try).
///
/// Rows whose card another run holds in the account ledger are taken out of `unit` (they are
/// `skipped` in the journal already); `None` too when that leaves nothing to send.
pub(super) async fn work(shared: &Shared, unit: &mut super::Unit) -> Option<Outcome> {
    let row = 0;
    let mut keys: Vec<String> = unit.iter().map(|p| p.key.clone()).collect();
    let mut args: Vec<Option<String>> = unit.iter().map(|p| p.arg.clone()).collect();
    let first_row = unit.first().map(|p| p.row).unwrap_or_default();
    let idempotent = shared.op.idempotent();
    let mut attempts = 0u32;
    let mut throttles = retry::Throttles::default();
    let mut intent_recorded = false;
    let mut last_err: Option<GslError> = None;
    // Leave the row as it was, or — once its intent is recorded — explicitly `pending`:
    // everything that happened so far provably did nothing.
    let not_done = |attempts: u32, last_err: &Option<GslError>| {
        let o = Outcome {
            row,
            status: Some(Status::Pending),
            attempts,
            ..Outcome::default()
        };
        Some(match last_err {
            Some(e) => with_error(o, e),
            None => o,
        })
    };
    loop {
        if shared.stopped() {
            return if intent_recorded || attempts > 0 {
                not_done(attempts, &last_err)
            } else {
                None
            };
        }
        // Until an answer shows the credentials work, one request at a time. Once it has,
        // the gate is passed straight through, but still in turn: a unit that comes later
        // does not overtake the ones queued at the gate while the first answer was awaited.
        let gate = {
            let g = shared.auth_gate.lock().await;
            match shared.auth_confirmed.load(Relaxed) {
                true => None,
                false => Some(g),
            }
        };
        // A place in the in-flight window first, then the pacer's slot: a unit waiting for
        // a place holds no slot.
        let slot = tokio::select! {
            s = shared.window.enter() => s,
            _ = shared.stop_signal() => continue,
        };
        tokio::select! {
            _ = shared.pacer.acquire() => {}
            _ = shared.stop_signal() => continue,
        }
        if shared.stopped() {
            continue;
        }
        if !idempotent && !intent_recorded {
            match shared
                .writer
                .intent(unit.iter().map(crate::ledger::store::act).collect())
                .await
            {
                Err(msg) => {
                    shared.stop(Stop::JournalFailed(msg));
                    return None;
                }
                Ok(refused) if !refused.is_empty() => {
                    // Counted in the summary's `skipped`, each row naming the other run.
                    tracing::debug!(
                        row = first_row,
                        rows = refused.len(),
                        "skipped: another run holds these cards in the account ledger"
                    );
                    shared
                        .counters
                        .skipped
                        .fetch_add(refused.len() as u64, Relaxed);
                    unit.retain(|p| !refused.iter().any(|(r, _)| *r == p.row));
                    if unit.is_empty() {
                        return None;
                    }
                    keys = unit.iter().map(|p| p.key.clone()).collect();
                    args = unit.iter().map(|p| p.arg.clone()).collect();
                }
                Ok(_) => {}
            }
            intent_recorded = true;
        }
        let stamp = now_ms();
        if gate.is_none() {
            // The achieved rate is measured from the fan-out on: the one-at-a-time calls
            // before the credentials were confirmed are not paced traffic.
            let _ = shared
                .first_call_ms
                .compare_exchange(0, stamp, Relaxed, Relaxed);
            shared.counters.paced_calls.fetch_add(1, Relaxed);
        }
        shared.last_call_ms.store(stamp, Relaxed);
        shared.counters.calls.fetch_add(1, Relaxed);
        let t0 = Instant::now();
        let result = shared.op.perform(&shared.client, &keys, &args).await;
        drop(slot);
        let latency = t0.elapsed();
        let latency_ms = latency.as_millis() as u64;
        let answered = !matches!(
            &result,
            Err(GslError::Connect(_) | GslError::Timeout(_) | GslError::Closed(_))
                | Err(GslError::Build(_))
                | Err(GslError::Unauthorized { .. } | GslError::Auth(_))
        );
        // Taken while the gate is held: before the credentials are confirmed no other unit
        // sends until this try's verdict on reachability is in.
        if let Some(why) = reachability(shared, result.as_ref().err()) {
            shared.stop(Stop::Unreachable(why));
        }
        // A refusal no request can get past stops the run before the gate opens: otherwise a
        // unit could slip through between the two and send after it.
        let fatal = result.as_ref().err().and_then(|e| shared.op.fatal(e));
        if let Some(msg) = &fatal {
            shared.stop(Stop::Fatal(msg.clone()));
        }
        if answered {
            shared.auth_confirmed.store(true, Relaxed);
            if shared.cfg.auto_rate {
                shared.window.set_rate(shared.pacer.rate());
            }
            shared.window.answered(latency);
        }
        // `gate` is held until this try's decision is taken: after a 401 the run is stopped
        // before the next unit may send.
        let base = Outcome {
            row,
            attempts: attempts + 1,
            latency_ms: Some(latency_ms),
            finished_at: Some(now_rfc3339()),
            ..Outcome::default()
        };
        let err = match result {
            Ok(done) => {
                return Some(Outcome {
                    status: Some(Status::Ok),
                    work_order_id: done.work_order_id,
                    real_named: done.real_named,
                    iccid: done.iccid,
                    ..base
                })
            }
            Err(e) => e,
        };
        if fatal.is_some() {
            // Refused before any work was done: the rows stay `pending` for a resume.
            return Some(with_error(
                Outcome {
                    status: Some(Status::Pending),
                    attempts,
                    ..base
                },
                &err,
            ));
        }
        let decision = retry::decide(&err, idempotent, attempts + 1, shared.cfg.max_attempts);
        tracing::debug!(row = first_row, rows = unit.len(), error = %err, ?decision, "try failed");
        match decision {
            Decision::Throttled(retry_after) => {
                shared.counters.throttled.fetch_add(1, Relaxed);
                let next = throttles.on_429(&shared.pacer, &err, retry_after);
                if let retry::After429::Adopted(q) = next {
                    shared
                        .counters
                        .quota_milli
                        .store((q * 1000.0) as u64, Relaxed);
                }
                if next == retry::After429::GiveUp {
                    return Some(with_error(
                        Outcome {
                            status: Some(Status::Failed),
                            attempts,
                            ..base
                        },
                        &err,
                    ));
                }
                last_err = Some(err);
            }
            Decision::Retry(why) => {
                attempts += 1;
                shared.counters.retries.fetch_add(1, Relaxed);
                tracing::debug!(row = first_row, attempt = attempts, why, "retrying");
                last_err = Some(err);
                tokio::select! {
                    _ = tokio::time::sleep(retry::backoff(attempts)) => {}
                    _ = shared.stop_signal() => {}
                }
            }
            Decision::Fail(why) => {
                tracing::debug!(row = first_row, why, "failed");
                return Some(with_error(
                    Outcome {
                        status: Some(Status::Failed),
                        ..base
                    },
                    &err,
                ));
            }
            Decision::NotSent(why) => {
                tracing::debug!(row = first_row, why, "not sent");
                return Some(with_error(
                    Outcome {
                        status: Some(Status::Pending),
                        ..base
                    },
                    &err,
                ));
            }
            Decision::Unknown(why) => {
                tracing::warn!(row = first_row, rows = unit.len(), error = %err, why, "outcome unknown: not sending again");
                return Some(with_error(
                    Outcome {
                        status: Some(Status::Unknown),
                        ..base
                    },
                    &err,
                ));
            }
            Decision::Abort => {
                shared.stop(Stop::AuthRejected(auth_message(shared, &err)));
                return with_error(
                    Outcome {
                        status: Some(Status::Pending),
                        attempts,
                        ..base
                    },
                    &err,
                )
                .into();
            }
        }
    }
}

/// Count a try as sent or not; `Some(reason)` when the run must stop because nothing can be
/// sent: the first [`UNREACHABLE_AT_START`] tries of the run all failed before sending, or
/// [`UNREACHABLE_MID_RUN`] in a row did after earlier ones had got through.
fn reachability(shared: &Shared, err: Option<&GslError>) -> Option<String> {
    let Some(err) = err.filter(|e| e.provably_unsent()) else {
        // Loads first: at thousands of calls a second, a store each would contend.
        if !shared.reached.load(Relaxed) {
            shared.reached.store(true, Relaxed);
        }
        if shared.unsent_streak.load(Relaxed) != 0 {
            shared.unsent_streak.store(0, Relaxed);
        }
        return None;
    };
    let streak = shared.unsent_streak.fetch_add(1, Relaxed) + 1;
    let endpoint = shared.client.endpoint().as_str().trim_end_matches('/');
    let what = match err {
        GslError::Build(_) => "check the credentials and the input",
        _ => "check the endpoint, network or proxy",
    };
    if !shared.reached.load(Relaxed) {
        (streak >= UNREACHABLE_AT_START).then(|| {
            format!("cannot reach {endpoint}: {err}; nothing was sent; {what}, then resume the run")
        })
    } else {
        (streak >= UNREACHABLE_MID_RUN).then(|| {
            format!(
                "cannot reach {endpoint} any more: the last {streak} tries were not sent ({err}); {what}, then resume the run"
            )
        })
    }
}

/// The operator-facing explanation of a 401, with the clock hint in AK/SK mode.
fn auth_message(shared: &Shared, err: &GslError) -> String {
    format!(
        "{}; check the credentials, then resume the run",
        err.rejection(shared.client.credentials().mode())
    )
}
