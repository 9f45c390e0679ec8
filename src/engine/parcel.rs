//! One parcel from its first try to its last: the auth gate, the in-flight window, the pacer,
//! the intent of a non-idempotent request, and what [`crate::flow::retry::decide`] makes of each failure.
//!
//! A try that fails before anything is sent (no connection, a request that cannot be built)
//! did nothing: its row never becomes `unknown`, and when tries keep ending that way the run
//! stops with its rows `pending` instead of spending every attempt of every row on an endpoint
//! it cannot reach.

use super::{now_ms, now_rfc3339, Shared, Stop};
use crate::flow::retry::{self, Decision};
use crate::flow::window::Slot;
use crate::gsl::GslError;
use crate::journal::Outcome;
use crate::model::Status;
use std::ops::ControlFlow;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
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

/// A parcel's tries so far.
struct Tries {
    /// Tries that counted against `--max-attempts` (429s do not).
    attempts: u32,
    throttles: retry::Throttles,
    /// The parcel's intent is in the journal (non-idempotent operations, before the first try).
    intent_recorded: bool,
    last_err: Option<GslError>,
    /// The parcel's first row, for the logs.
    first_row: u64,
}

impl Tries {
    /// Stopped before a try: leave the rows as they were, or — once their intent is recorded —
    /// explicitly `pending`: everything that happened so far provably did nothing.
    fn stopped(&self) -> Option<Outcome> {
        if !self.intent_recorded && self.attempts == 0 {
            return None;
        }
        let o = Outcome {
            status: Some(Status::Pending),
            attempts: self.attempts,
            ..Outcome::default()
        };
        Some(match &self.last_err {
            Some(e) => with_error(o, e),
            None => o,
        })
    }
}

/// One parcel from first try to last; the outcome applies to each of its rows (its `row` field
/// is left 0 for the caller to fill in). `None`: nothing to record (stopped before any try).
///
/// Rows whose card another run holds in the account ledger are taken out of `parcel` (they are
/// `skipped` in the journal already); `None` too when that leaves nothing to send.
pub(super) async fn work(shared: &Shared, parcel: &mut super::Parcel) -> Option<Outcome> {
    let mut tries = Tries {
        attempts: 0,
        throttles: retry::Throttles::default(),
        intent_recorded: false,
        last_err: None,
        first_row: parcel.first().map(|p| p.row).unwrap_or_default(),
    };
    loop {
        if shared.stopped() {
            return tries.stopped();
        }
        // `gate` is held until this try's decision is taken: after a 401 the run is stopped
        // before the next parcel may send.
        let gate = pass_auth_gate(shared).await;
        let Some(slot) = take_turn(shared).await else {
            continue;
        };
        if !shared.op.idempotent() && !tries.intent_recorded {
            if !record_intent(shared, parcel, tries.first_row).await {
                return None;
            }
            tries.intent_recorded = true;
        }
        let (result, latency) = send(shared, parcel, gate.is_none(), slot).await;
        let fatal = judge_try(shared, &result, latency);
        let base = Outcome {
            attempts: tries.attempts + 1,
            latency_ms: Some(latency.as_millis() as u64),
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
        if fatal {
            // Refused before any work was done: the rows stay `pending` for a resume.
            return Some(ended(Status::Pending, tries.attempts, base, &err));
        }
        if let ControlFlow::Break(outcome) =
            after_failure(shared, &mut tries, err, base, parcel.len()).await
        {
            return outcome;
        }
        drop(gate);
    }
}

/// Until an answer shows the credentials work, one request at a time: `Some` holds the gate.
/// Once it has, the gate is passed straight through, but still in turn: a parcel that comes
/// later does not overtake the ones queued at the gate while the first answer was awaited.
async fn pass_auth_gate(shared: &Shared) -> Option<tokio::sync::MutexGuard<'_, ()>> {
    let g = shared.auth_gate.lock().await;
    match shared.auth_confirmed.load(Relaxed) {
        true => None,
        false => Some(g),
    }
}

/// A place in the in-flight window first, then the pacer's slot: a parcel waiting for a place
/// holds no slot. `None` when the run stopped meanwhile.
async fn take_turn(shared: &Shared) -> Option<Slot<'_>> {
    let slot = tokio::select! {
        s = shared.window.enter() => s,
        _ = shared.stop_signal() => return None,
    };
    tokio::select! {
        _ = shared.pacer.acquire() => {}
        _ = shared.stop_signal() => return None,
    }
    (!shared.stopped()).then_some(slot)
}

/// Record the parcel's intent durably, its cards claimed in the account ledger; the rows whose
/// card another run holds are taken out of the parcel. `false`: send nothing (the journal
/// failed and the run is stopped, or no row is left).
async fn record_intent(shared: &Shared, parcel: &mut super::Parcel, first_row: u64) -> bool {
    let acts = parcel.iter().map(crate::ledger::store::act).collect();
    let refused = match shared.writer.intent(acts).await {
        Err(msg) => {
            shared.stop(Stop::JournalFailed(msg));
            return false;
        }
        Ok(refused) => refused,
    };
    if !refused.is_empty() {
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
        parcel.retain(|p| !refused.iter().any(|(r, _)| *r == p.row));
    }
    !parcel.is_empty()
}

/// One try: the call stamped and counted, the request made, the window's place given back.
async fn send(
    shared: &Shared,
    parcel: &super::Parcel,
    paced: bool,
    slot: Slot<'_>,
) -> (Result<crate::ops::Done, GslError>, Duration) {
    let keys: Vec<String> = parcel.iter().map(|p| p.key.clone()).collect();
    let args: Vec<Option<String>> = parcel.iter().map(|p| p.arg.clone()).collect();
    let stamp = now_ms();
    if paced {
        // The achieved rate is measured from the fan-out on: the one-at-a-time calls before
        // the credentials were confirmed are not paced traffic.
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
    (result, t0.elapsed())
}

/// What a try tells the run, taken while the auth gate is held (before the credentials are
/// confirmed no other parcel sends until this verdict is in): whether the endpoint can be
/// reached, whether a refusal no request can get past stops the run (`true`; stopped before
/// the gate opens, so no parcel slips through between the two), and an answer's latency for
/// the in-flight window.
fn judge_try(
    shared: &Shared,
    result: &Result<crate::ops::Done, GslError>,
    latency: Duration,
) -> bool {
    let answered = !matches!(
        result,
        Err(GslError::Connect(_) | GslError::Timeout(_) | GslError::Closed(_))
            | Err(GslError::Build(_))
            | Err(GslError::Unauthorized { .. } | GslError::Auth(_))
    );
    if let Some(why) = reachability(shared, result.as_ref().err()) {
        shared.stop(Stop::Unreachable(why));
    }
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
    fatal.is_some()
}

/// The parcel's last outcome after a failed try: `status`, with `attempts` and the error.
fn ended(status: Status, attempts: u32, base: Outcome, err: &GslError) -> Outcome {
    with_error(
        Outcome {
            status: Some(status),
            attempts,
            ..base
        },
        err,
    )
}

/// What [`retry::decide`] makes of a failed try: `Break` ends the parcel with its outcome,
/// `Continue` tries again (after the backoff of a retry).
async fn after_failure(
    shared: &Shared,
    tries: &mut Tries,
    err: GslError,
    base: Outcome,
    rows: usize,
) -> ControlFlow<Option<Outcome>> {
    let idempotent = shared.op.idempotent();
    let decision = retry::decide(
        &err,
        idempotent,
        tries.attempts + 1,
        shared.cfg.max_attempts,
    );
    let row = tries.first_row;
    tracing::debug!(row, rows, error = %err, ?decision, "try failed");
    let tried = base.attempts;
    let outcome = match decision {
        Decision::Throttled(retry_after) => {
            shared.counters.throttled.fetch_add(1, Relaxed);
            let next = tries.throttles.on_429(&shared.pacer, &err, retry_after);
            if let retry::After429::Adopted(q) = next {
                let milli = (q * 1000.0) as u64;
                shared.counters.quota_milli.store(milli, Relaxed);
            }
            if next == retry::After429::GiveUp {
                return ControlFlow::Break(Some(ended(Status::Failed, tries.attempts, base, &err)));
            }
            tries.last_err = Some(err);
            return ControlFlow::Continue(());
        }
        Decision::Retry(why) => {
            tries.attempts += 1;
            shared.counters.retries.fetch_add(1, Relaxed);
            tracing::debug!(row, attempt = tries.attempts, why, "retrying");
            tries.last_err = Some(err);
            tokio::select! {
                _ = tokio::time::sleep(retry::backoff(tries.attempts)) => {}
                _ = shared.stop_signal() => {}
            }
            return ControlFlow::Continue(());
        }
        Decision::Fail(why) => {
            tracing::debug!(row, why, "failed");
            ended(Status::Failed, tried, base, &err)
        }
        Decision::NotSent(why) => {
            tracing::debug!(row, why, "not sent");
            ended(Status::Pending, tried, base, &err)
        }
        Decision::Unknown(why) => {
            tracing::warn!(row, rows, error = %err, why, "outcome unknown: not sending again");
            ended(Status::Unknown, tried, base, &err)
        }
        Decision::Abort => {
            shared.stop(Stop::AuthRejected(auth_message(shared, &err)));
            ended(Status::Pending, tries.attempts, base, &err)
        }
    };
    ControlFlow::Break(Some(outcome))
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
