//! The end of a listing (`inventory`, `usage`, `pool-members`), told as a run's end is: a
//! listing has no journal nor `summary.json`, so what it tells is what it knows when it ends
//! ([`ListingEnd`]): the rows in its report, its calls, its exit code (or the error that ended
//! it), and, with the history, the changes per kind against the run it compared with and
//! (`usage`) the marks. The flags are the runs' ([`TellFlags`]), checked into a [`Teller`]
//! before the listing's first call.

use super::{bodies, metrics, NotifyOn, Tell, TellFlags};
use crate::exit::{self, Failure};
use std::collections::BTreeMap;
use std::time::Instant;

/// What a listing tells when it ends; the generic webhook's `listing` object.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ListingEnd {
    pub operation: &'static str,
    /// Against the built-in simulator (`--rehearse`).
    pub rehearsal: bool,
    /// Rows in the report (a partial one, when interrupted).
    pub rows: u64,
    /// Rows per status when the listing joined an input; empty for a listing of the fleet.
    pub counts: BTreeMap<String, u64>,
    pub exit_code: i32,
    /// What ended the listing early (its exit-code message), if anything did.
    pub error: Option<String>,
    /// API calls, retries and throttled ones included.
    pub calls: u64,
    pub throttled: u64,
    pub retries: u64,
    pub duration_secs: f64,
    pub finished_at: String,
    /// Where the report is.
    pub report: Option<String>,
    /// Changes per kind against the run compared with; `None` without a comparison, and on a
    /// job's first run (nothing to compare with).
    pub changes: Option<BTreeMap<String, u64>>,
    /// `usage` with history: `spike`, `silent`, `judged`, `not_judged`.
    pub marks: Option<BTreeMap<String, u64>>,
}

impl ListingEnd {
    pub fn new(operation: &'static str, rehearsal: bool) -> ListingEnd {
        ListingEnd {
            operation,
            rehearsal,
            rows: 0,
            counts: BTreeMap::new(),
            exit_code: exit::OK,
            error: None,
            calls: 0,
            throttled: 0,
            retries: 0,
            duration_secs: 0.0,
            finished_at: String::new(),
            report: None,
            changes: None,
            marks: None,
        }
    }

    /// A pager's `(calls, throttled, retries)` added.
    pub fn add_calls(&mut self, (calls, throttled, retries): (u64, u64, u64)) {
        self.calls += calls;
        self.throttled += throttled;
        self.retries += retries;
    }

    /// Exit code 1 (rows failed), 3 (aborted), 130 (interrupted), or an error that ended it.
    pub fn is_failure(&self) -> bool {
        self.error.is_some()
            || matches!(
                self.exit_code,
                exit::ROWS_FAILED | exit::ABORTED | exit::INTERRUPTED
            )
    }

    /// Any change found against the run compared with.
    pub fn changed(&self) -> bool {
        self.changes
            .as_ref()
            .is_some_and(|c| c.values().any(|n| *n > 0))
    }
}

/// A listing's checked `--metrics-file` / `--notify` settings, from its start.
pub struct Teller {
    tell: Tell,
    started: Instant,
}

impl Teller {
    /// Check the flags (exit 2 before any call when they are wrong).
    pub fn check(flags: &TellFlags) -> Result<Teller, Failure> {
        Ok(Teller {
            tell: Tell::from_flags(flags).map_err(Failure::usage)?,
            started: Instant::now(),
        })
    }

    /// The listing ended with `result` (which this never changes): write the metrics file and
    /// notify, as the flags ask. Problems are warnings in the log.
    pub fn tell(&self, mut end: ListingEnd, result: &Result<i32, Failure>) {
        let t = &self.tell;
        if t.metrics_file.is_none() && t.targets.is_empty() {
            return;
        }
        match result {
            Ok(code) => end.exit_code = *code,
            Err(f) => {
                end.exit_code = f.code;
                end.error = Some(f.message.clone());
            }
        }
        end.duration_secs = self.started.elapsed().as_secs_f64();
        end.finished_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        if let Some(p) = &t.metrics_file {
            match metrics::write_listing(p, &end) {
                Ok(()) => tracing::info!("metrics written to {}", p.display()),
                Err(e) => tracing::warn!("the metrics file was not written: {e}"),
            }
        }
        let wanted = match t.on {
            NotifyOn::Always => true,
            NotifyOn::Failure => end.is_failure(),
            NotifyOn::Change => end.changed(),
        };
        super::notify_if(t, wanted, || bodies::Message::of_listing(&end));
    }
}
