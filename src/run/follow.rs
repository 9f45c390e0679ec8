//! Following a run: read the API's records of what its accepted requests came to (work orders,
//! SMS deliveries), fill in the follow-up and outcome columns, settle `unknown` rows on positive
//! evidence, re-render the report, and choose the exit code from the outcomes (0 all done, 1
//! something failed or is still unknown, 4 something is still processing). With a wait, passes
//! repeat until nothing is processing or the time is up.
//!
//! `gslbatch follow RUN_DIR` calls it on a finished run; `--follow` calls it right after the
//! sending, with the same client (so a rehearsal follows its own simulator).

use super::finish::finish;
use super::signals;
use crate::engine::EngineConfig;
use crate::exit::{self, Failure};
use crate::follow::{self as reads, orders::FollowError, Clocks, FollowStats, Reader};
use crate::gsl::types::Page;
use crate::gsl::Client;
use crate::journal::{Journal, RunMeta};
use crate::model::Status;
use crate::ops::{self, sms::SmsParams, Follow};
use crate::report::status::rounded_duration;
use crate::report::Outcomes;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a follow needs besides the journal.
pub struct FollowRun<'a> {
    pub dir: &'a Path,
    pub meta: &'a RunMeta,
    pub client: Client,
    pub cfg: &'a EngineConfig,
    pub report: Option<&'a str>,
    /// Follow again until nothing is processing, for at most this long.
    pub wait: Option<Duration>,
    /// An `unknown` row older than this whose card no record holds never happened: `pending`.
    pub settle_after: Duration,
}

/// Longer than any gateway holds a request: after it, a request the API has no record of
/// never happened.
pub const DEFAULT_SETTLE_AFTER: Duration = Duration::from_secs(15 * 60);

/// What the run's operation has to follow; `Err` for a run with nothing to follow (exit 2).
pub fn what(dir: &Path, meta: &RunMeta) -> Result<(Follow, Option<SmsParams>), Failure> {
    let follow = ops::spec(&meta.operation).map_or(Follow::None, |s| s.follow);
    match follow {
        // The run's own parameters may pick the type (a data cap's cancel is type 21).
        Follow::WorkOrders(declared) => {
            let t = ops::from_meta(meta)
                .and_then(|op| op.work_order_type())
                .unwrap_or(declared);
            Ok((Follow::WorkOrders(t), None))
        }
        Follow::Sms => {
            let p = SmsParams::from_value(&meta.params).ok_or_else(|| {
                Failure::usage(format!(
                    "run dir {}: the SMS settings in its journal are unreadable",
                    dir.display()
                ))
            })?;
            Ok((follow, Some(p)))
        }
        Follow::None => {
            let followed: Vec<&str> = ops::REGISTRY
                .iter()
                .filter(|s| s.follow != Follow::None)
                .map(|s| s.name)
                .collect();
            Err(Failure::usage(format!(
                "run dir {} holds a {} run: follow reads the outcomes of {} runs",
                dir.display(),
                meta.operation,
                followed.join(", ")
            )))
        }
    }
}

/// Pause between two passes of a `--wait`: half the age of the youngest request, between 1 s
/// and a twentieth of the wait (at most 60 s). A work order takes seconds to minutes: a run
/// just sent is looked at again soon (the rehearsal's finish in 5 s), an old one every minute.
fn pause(wait: Duration, youngest: Option<Duration>) -> Duration {
    let most = (wait / 20).clamp(Duration::from_secs(1), Duration::from_secs(60));
    youngest.map_or(most, |age| (age / 2).clamp(Duration::from_secs(1), most))
}

/// How long ago the run's last request was answered (its last row finished), if it says.
fn youngest(journal: &Journal) -> Option<Duration> {
    let last = journal.last_update().ok()??;
    let at = chrono::DateTime::parse_from_rfc3339(&last).ok()?;
    (chrono::Utc::now() - at.with_timezone(&chrono::Utc))
        .to_std()
        .ok()
}

/// Follow the run (once, or until nothing is processing within `wait`); the exit code.
pub async fn follow(journal: &mut Journal, f: FollowRun<'_>) -> Result<i32, Failure> {
    let (kind, sms) = what(f.dir, f.meta)?;
    // The lock is ours, so rows still marked in flight belong to a process that died.
    journal
        .settle_inflight(false)
        .map_err(|e| Failure::aborted(e.to_string()))?;
    let reader = Reader::new(
        f.client.clone(),
        f.cfg.rate,
        f.cfg.max_attempts,
        f.cfg.concurrency,
    );
    let shutdown = signals::shutdown(AGAIN);
    tokio::pin!(shutdown);
    let started = Instant::now();
    let mut passes = 0u32;
    loop {
        passes += 1;
        let pass = one_pass(journal, &reader, &kind, sms.as_ref(), &f);
        // A signal drops the reads in flight (they are only reads); what earlier steps wrote
        // to the journal stays, and the report is rendered from it.
        let result = tokio::select! {
            r = pass => Some(r),
            _ = &mut shutdown => None,
        };
        let Some(result) = result else {
            finish(journal, f.dir, f.report, None, None)?;
            crate::say!(
                "follow interrupted after {}: the report shows what was read; {AGAIN} to finish",
                crate::model::count(reader.stats.get().0, "call", "calls")
            );
            return Ok(exit::INTERRUPTED);
        };
        let stats = match result {
            Ok(s) => s,
            Err(FollowError::Journal(e)) => return Err(Failure::aborted(e.to_string())),
            Err(FollowError::Api(e)) => {
                let _ = finish(journal, f.dir, f.report, None, None);
                return Err(Failure::aborted(format!(
                    "follow stopped: {}; check the credentials, then run it again",
                    e.rejection(reader.client.credentials().mode())
                )));
            }
        };
        if !stats.pended.is_empty() {
            forget_in_ledger(f.dir, f.meta, &stats.pended);
        }
        let (code, outcomes, (unknown, pending)) = outcome_code(journal, &f.meta.operation)?;
        say_pass(&stats, &outcomes, reader.stats.get().0);
        let open = outcomes.processing + outcomes.not_followed;
        let left = f.wait.and_then(|w| w.checked_sub(started.elapsed()));
        match left {
            Some(left) if open > 0 && !left.is_zero() => {
                let nap = say_nap(journal, &f, open, left);
                tokio::select! {
                    _ = tokio::time::sleep(nap) => continue,
                    _ = &mut shutdown => {
                        finish(journal, f.dir, f.report, None, None)?;
                        return Ok(exit::INTERRUPTED);
                    }
                }
            }
            _ => {}
        }
        finish(journal, f.dir, f.report, None, None)?;
        say_end(
            code,
            f.dir,
            open,
            passes,
            outcomes.failed,
            (unknown, pending),
        );
        return Ok(code);
    }
}

/// Why a follow did not end with every row done, and what to do.
fn say_end(
    code: i32,
    dir: &Path,
    open: u64,
    passes: u32,
    failed: u64,
    (unknown, pending): (u64, u64),
) {
    match code {
        exit::OK => {}
        exit::PROCESSING => crate::say!(
            "{open} rows are still processing after {passes} passes: run `gslbatch follow {}` again later (or with --wait)",
            dir.display()
        ),
        _ => crate::say!(
            "not every row was carried out: {failed} failed, {unknown} still unknown, {pending} not sent (`gslbatch resume {}` sends them; see the report's outcome and error_msg)",
            dir.display()
        ),
    }
}

/// What an interrupted follow tells the operator to do.
const AGAIN: &str = "run `gslbatch follow` again";

/// One pass: the API's records read into the journal.
async fn one_pass(
    journal: &mut Journal,
    reader: &Arc<Reader>,
    kind: &Follow,
    sms: Option<&SmsParams>,
    f: &FollowRun<'_>,
) -> Result<FollowStats, FollowError> {
    let clocks = server_clock(journal, reader).await?;
    let since = clocks.window_start(&f.meta.created_at);
    match (kind, sms) {
        (Follow::Sms, Some(p)) => {
            reads::sms::follow(journal, reader, p, since, clocks, f.settle_after).await
        }
        (Follow::WorkOrders(t), _) => {
            reads::orders::follow(journal, reader, *t, since, clocks, f.settle_after).await
        }
        _ => Ok(FollowStats::default()),
    }
}

/// What a pass read and settled, and the outcomes as they now stand.
fn say_pass(stats: &FollowStats, outcomes: &Outcomes, calls: u64) {
    crate::say!(
        "follow: {} read, {} unknown rows proven done (now ok), {} proven never sent (now \
         pending: `gslbatch resume` sends them), {} still unknown, {} still in progress or \
         not found yet, {}{} — outcomes: {}",
        crate::model::count(stats.followed, "row", "rows"),
        stats.settled,
        stats.pended.len(),
        stats.still_unknown,
        stats.open,
        crate::model::count(calls, "call", "calls"),
        if stats.refused > 0 {
            format!(", {} reads refused", stats.refused)
        } else {
            String::new()
        },
        outcomes.to_text()
    );
}

/// How long to wait before the next pass (at most `left`), said with why.
fn say_nap(journal: &Journal, f: &FollowRun<'_>, open: u64, left: Duration) -> Duration {
    let age = youngest(journal);
    let nap = pause(f.wait.unwrap_or_default(), age).min(left);
    crate::say!(
        "follow: waiting for {open} rows still processing{}: looking again in {}, \
         for {} more at most",
        age.map_or(String::new(), |a| format!(
            " (the last request {} ago)",
            rounded_duration(a.as_secs_f64())
        )),
        rounded_duration(nap.as_secs_f64()),
        rounded_duration(left.as_secs_f64())
    );
    nap
}

/// The API's clock against the run's and ours. A run that recorded none (an older gslbatch, or
/// no answer came) leaves follow to measure it: one small read before the window is set.
async fn server_clock(journal: &Journal, reader: &Arc<Reader>) -> Result<Clocks, FollowError> {
    let clocks = Clocks::read(journal, &reader.client)?;
    if clocks.run.is_some() || clocks.own.is_some() {
        return Ok(clocks);
    }
    let page = Page::new(1, 1);
    let probe = reader
        .read(reads::Api::WorkOrders, || reader.client.work_orders(&page))
        .await;
    if let Err(e) = probe {
        if reads::is_fatal(&e) {
            return Err(FollowError::Api(e));
        }
    }
    Ok(clocks.refreshed(&reader.client))
}

/// Rows proven never sent are no act of this run: the ledger must not skip them elsewhere.
fn forget_in_ledger(dir: &Path, meta: &RunMeta, rows: &[u64]) {
    let Some(op) = ops::from_meta(meta) else {
        return;
    };
    if !crate::ledger::applies(op.as_ref()) {
        return;
    }
    let key = crate::ledger::key(op.as_ref(), meta, dir);
    let done: Vec<_> = rows.iter().map(|r| (*r, Status::Pending, None)).collect();
    match crate::ledger::open(meta) {
        Ok(mut l) => {
            if let Err(e) = l.record_outcomes(&key, &done) {
                tracing::warn!("ledger not updated: {e}");
            }
        }
        Err(e) => tracing::warn!("ledger not updated: {e}"),
    }
}

/// follow's exit code from the journal: the outcomes of the accepted rows, and the rows left
/// `unknown` or (proven never sent) `pending`: those are not done either.
/// The exit code, the outcomes, and the rows still `unknown` and `pending` (never sent).
fn outcome_code(
    journal: &Journal,
    operation: &str,
) -> Result<(i32, Outcomes, (u64, u64)), Failure> {
    let e = |e: crate::report::ReportError| Failure::aborted(e.to_string());
    let outcomes = Outcomes::of(journal, operation).map_err(e)?;
    let counts = journal
        .counts()
        .map_err(|e| Failure::aborted(e.to_string()))?;
    let n = |s: Status| counts.get(s.as_str()).copied().unwrap_or(0);
    let (unknown, pending) = (n(Status::Unknown), n(Status::Pending));
    let code = exit::from_outcomes(
        outcomes.failed,
        unknown + pending,
        outcomes.processing + outcomes.not_followed,
    );
    Ok((code, outcomes, (unknown, pending)))
}

#[cfg(test)]
mod tests {
    use super::pause;
    use std::time::Duration;

    #[test]
    fn young_requests_are_looked_at_again_soon_old_ones_every_minute() {
        let (hour, s) = (Duration::from_secs(3600), Duration::from_secs);
        assert_eq!(pause(hour, Some(s(0))), s(1));
        assert_eq!(pause(hour, Some(s(6))), s(3));
        assert_eq!(pause(hour, Some(s(600))), s(60));
        assert_eq!(pause(hour, None), s(60));
        // A short wait caps it lower: a twentieth of it.
        assert_eq!(pause(s(100), Some(s(600))), s(5));
    }
}
