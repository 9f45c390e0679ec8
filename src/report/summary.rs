//! The run's totals — counts per status, top error codes, calls, throttling, retries, achieved
//! rate, latency percentiles, duration — built from the journal so they cover every process that
//! worked on the run (a resumed run's summary is the whole run's, not the last session's). Written
//! as `summary.json` in the run directory for scripts, and as a few lines on stderr for people.

use super::layout::shown_status;
use super::{atomic_write, ReportError};
use crate::journal::{Journal, SessionTotals};
use crate::model::{Outcome, Status};
use crate::ops::is_idempotent;
use crate::ops::Follow;
use chrono::DateTime;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = "summary.json";

/// The line that marks a rehearsal, in the summary and on stderr.
pub const REHEARSAL_LINE: &str =
    "REHEARSAL — against the built-in simulator, nothing was sent to GSL";

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Latency {
    pub p50: Option<u64>,
    pub p95: Option<u64>,
    pub p99: Option<u64>,
}

/// What the sent rows came to (the report's `outcome` column), counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Outcomes {
    pub done: u64,
    pub failed: u64,
    pub processing: u64,
    /// Accepted rows whose outcome `follow` has not read yet (never followed, or not found).
    pub not_followed: u64,
}

impl Outcomes {
    /// The outcomes of a run's rows. An operation with nothing to follow is done when it is
    /// `ok`; for one with work orders or deliveries, only `follow` tells.
    pub fn of(journal: &Journal, operation: &str) -> Result<Outcomes, ReportError> {
        let follows = crate::ops::spec(operation).is_some_and(|s| s.follow != Follow::None);
        let mut o = Outcomes::default();
        for (status, follow_status, n) in journal.follow_counts()? {
            if status != Status::Ok.as_str() {
                continue;
            }
            let outcome = if follows {
                follow_status
                    .as_deref()
                    .and_then(Outcome::from_follow_status)
            } else {
                Some(Outcome::Done)
            };
            *match outcome {
                Some(Outcome::Done) => &mut o.done,
                Some(Outcome::Failed) => &mut o.failed,
                Some(Outcome::Processing) => &mut o.processing,
                None => &mut o.not_followed,
            } += n;
        }
        Ok(o)
    }

    /// The outcome counts in words: `done 25, failed 5, processing 0`.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "done {}, failed {}, processing {}",
            self.done, self.failed, self.processing
        );
        if self.not_followed > 0 {
            s.push_str(&format!(", not followed yet {}", self.not_followed));
        }
        s
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// The gslbatch that wrote this summary (`CARGO_PKG_VERSION`).
    pub gslbatch_version: &'static str,
    pub operation: String,
    /// Run against the built-in simulator (`--rehearse`): nothing reached GSL.
    pub rehearsal: bool,
    pub run_dir: String,
    pub endpoint: String,
    /// Rows per status as the report shows them (journal `inflight` mapped), zeros included.
    pub counts: BTreeMap<Status, u64>,
    pub rows: u64,
    /// What the accepted rows came to, as far as `follow` has read it.
    pub outcomes: Outcomes,
    /// The five most common error codes among failed / unknown rows: `[code, count]`.
    pub top_errors: Vec<(String, u64)>,
    /// What each of those codes means for this operation, in plain words.
    pub error_explanations: BTreeMap<String, String>,
    /// API calls over all sessions, retries and throttled ones included.
    pub calls: u64,
    /// Calls answered 429.
    pub throttled: u64,
    pub retries: u64,
    /// Calls per second while calls were being made (all APIs together); `None` under 2 calls.
    pub achieved_rate: Option<f64>,
    /// The same per API (method and path): a run paces the one API its operation calls.
    pub achieved_rate_per_api: BTreeMap<String, f64>,
    pub latency_ms: Latency,
    /// Time the run's processes spent on it, summed (gaps between a crash and `resume` excluded).
    pub duration_secs: f64,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// The last session's exit code, when it recorded one.
    pub exit_code: Option<i32>,
    /// Why the run stopped early (failure threshold, signal...); set by the caller who knows.
    pub stop_reason: Option<String>,
    /// Where the report was written; set by the caller that rendered it.
    pub report_path: Option<String>,
    /// The command that carries on from here, if anything is left to do.
    pub next_command: Option<String>,
    /// The quota a 429 named, when it was lower than the rate asked for.
    pub quota_found: Option<f64>,
}

fn parse(t: &str) -> Option<DateTime<chrono::FixedOffset>> {
    DateTime::parse_from_rfc3339(t).ok()
}

fn secs_between(a: &str, b: &str) -> Option<f64> {
    let d = parse(b)? - parse(a)?;
    Some((d.num_milliseconds() as f64 / 1000.0).max(0.0))
}

/// The rate the pacer held over the sessions' paced calls: N evenly paced calls span N-1
/// intervals. The one-at-a-time calls before the credentials were confirmed are not counted.
pub fn achieved_rate<'a>(sessions: impl IntoIterator<Item = &'a SessionTotals>) -> Option<f64> {
    let (mut intervals, mut busy) = (0u64, 0.0f64);
    for t in sessions {
        if let (Some(first), Some(last)) = (&t.first_call_at, &t.last_call_at) {
            if t.paced_calls >= 2 {
                if let Some(span) = secs_between(first, last) {
                    intervals += t.paced_calls - 1;
                    busy += span;
                }
            }
        }
    }
    (busy > 0.0).then(|| intervals as f64 / busy)
}

impl Summary {
    /// Everything the journal knows about the run; `stop_reason` and `report_path` are left
    /// `None` for the caller to fill in.
    pub fn build(journal: &Journal, run_dir: &Path) -> Result<Summary, ReportError> {
        let meta = journal.meta()?;
        let idempotent = is_idempotent(&meta.operation);
        let outcomes = Outcomes::of(journal, &meta.operation)?;
        let top_errors = journal.top_errors(5)?;
        let operation = meta.operation.clone();
        let mut counts: BTreeMap<Status, u64> = Status::ALL.iter().map(|s| (*s, 0)).collect();
        let mut rows = 0;
        for (status, n) in journal.counts()? {
            rows += n;
            // A status this build does not know still counts in `rows`.
            if let Some(s) = shown_status(&status, idempotent) {
                *counts.entry(s).or_default() += n;
            }
        }

        let sessions = journal.sessions()?;
        let (mut calls, mut throttled, mut retries) = (0, 0, 0);
        let mut duration = 0.0f64;
        for (started, ended, t, _) in &sessions {
            calls += t.calls;
            throttled += t.throttled;
            retries += t.retries;
            if let Some(end) = ended.as_ref().or(t.last_call_at.as_ref()) {
                duration += secs_between(started, end).unwrap_or(0.0);
            }
        }
        let achieved_rate = achieved_rate(sessions.iter().map(|(_, _, t, _)| t));
        let achieved_rate_per_api = crate::ops::spec(&meta.operation)
            .filter(|s| s.rebuild.is_some())
            .zip(achieved_rate)
            .map(|(spec, r)| {
                let api = spec.endpoint.split('?').next().unwrap_or_default();
                (api.to_string(), r)
            })
            .into_iter()
            .collect();

        let p = journal.latency_percentiles(&[0.5, 0.95, 0.99])?;
        let latency_ms = Latency {
            p50: p.first().copied().flatten(),
            p95: p.get(1).copied().flatten(),
            p99: p.get(2).copied().flatten(),
        };

        let started_at = sessions
            .first()
            .map(|s| s.0.clone())
            .or_else(|| Some(meta.created_at.clone()).filter(|c| !c.is_empty()));
        let finished_at = match sessions.last() {
            Some((_, Some(ended), _, _)) => Some(ended.clone()),
            _ => journal.last_update()?,
        };

        Ok(Summary {
            gslbatch_version: env!("CARGO_PKG_VERSION"),
            operation: meta.operation,
            rehearsal: meta.rehearsal,
            run_dir: run_dir.display().to_string(),
            endpoint: meta.endpoint,
            counts,
            rows,
            outcomes,
            error_explanations: top_errors
                .iter()
                .filter_map(|(c, _)| {
                    super::explain::explain(c, &operation).map(|w| (c.clone(), w.to_string()))
                })
                .collect(),
            top_errors,
            calls,
            throttled,
            retries,
            achieved_rate,
            achieved_rate_per_api,
            latency_ms,
            duration_secs: duration,
            started_at,
            finished_at,
            exit_code: sessions.last().and_then(|s| s.3),
            stop_reason: None,
            report_path: None,
            next_command: None,
            quota_found: meta.settings.quota,
        })
    }

    /// What is left to do, as the command that does it: `resume` for rows not performed,
    /// `follow` for outcomes not read (or rows `unknown`), nothing when the run is settled.
    pub fn next(&self) -> Option<String> {
        let dir = &self.run_dir;
        let n = |st: Status| self.counts.get(&st).copied().unwrap_or(0);
        let follows = crate::ops::spec(&self.operation).is_some_and(|s| s.follow != Follow::None);
        if n(Status::Pending) > 0 {
            return Some(format!("gslbatch resume {dir}"));
        }
        if self.rehearsal {
            return None;
        }
        let open = self.outcomes.processing + self.outcomes.not_followed;
        if follows && (n(Status::Unknown) > 0 || open > 0) {
            return Some(format!("gslbatch follow {dir} --wait 1h"));
        }
        None
    }

    /// The stop reason an earlier `summary.json` of `run_dir` recorded (kept by `follow`).
    pub fn previous_stop_reason(run_dir: &Path) -> Option<String> {
        Summary::saved(run_dir, "stop_reason")
    }

    /// A text field of the `summary.json` last written into `run_dir`.
    pub fn saved(run_dir: &Path, key: &str) -> Option<String> {
        let text = std::fs::read_to_string(run_dir.join(FILE_NAME)).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        v.get(key)?.as_str().map(str::to_string)
    }

    /// Write `summary.json` into `run_dir` atomically; returns its path.
    pub fn write_json(&self, run_dir: &Path) -> Result<PathBuf, ReportError> {
        let path = run_dir.join(FILE_NAME);
        atomic_write(&path, |mut out| {
            serde_json::to_writer_pretty(&mut out, self).map_err(std::io::Error::from)?;
            out.write_all(b"\n")?;
            Ok(((), out))
        })?;
        Ok(path)
    }

    /// The summary for people, a few lines for stderr.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        if self.rehearsal {
            let _ = writeln!(s, "{REHEARSAL_LINE}");
        }
        let counts: Vec<String> = self
            .counts
            .iter()
            .map(|(st, n)| format!("{st} {n}"))
            .collect();
        let _ = writeln!(
            s,
            "{}: {} — {}",
            self.operation,
            crate::model::count(self.rows, "row", "rows"),
            counts.join(", ")
        );
        let followed = self.outcomes.done + self.outcomes.failed + self.outcomes.processing;
        let sends_later =
            crate::ops::spec(&self.operation).is_some_and(|s| s.follow != Follow::None);
        if sends_later && followed > 0 {
            let _ = writeln!(s, "outcomes: {}", self.outcomes.to_text());
        } else if sends_later && self.outcomes.not_followed > 0 {
            let how = if self.rehearsal {
                "rehearse with --follow to read".to_string()
            } else {
                format!("`gslbatch follow {}` reads", self.run_dir)
            };
            let _ = writeln!(
                s,
                "outcomes: not followed yet — {how} whether the {} accepted rows were carried out",
                self.outcomes.not_followed
            );
        }
        if let Some(reason) = self
            .stop_reason
            .as_ref()
            .filter(|r| !r.starts_with("finished"))
        {
            let _ = writeln!(s, "stopped: {reason}");
        }
        if !self.top_errors.is_empty() {
            let errs: Vec<String> = self
                .top_errors
                .iter()
                .map(|(c, n)| match self.error_explanations.get(c) {
                    Some(words) => format!("{c} ×{n} ({words})"),
                    None => format!("{c} ×{n}"),
                })
                .collect();
            let _ = writeln!(s, "top errors: {}", errs.join("; "));
        }
        let rate = self
            .achieved_rate
            .map_or_else(|| "-".to_string(), |r| format!("{r:.2} calls/s"));
        let _ = writeln!(
            s,
            "{} (throttled {}, retries {}), rate {rate}",
            crate::model::count(self.calls, "call", "calls"),
            self.throttled,
            self.retries
        );
        let ms = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |v| format!("{v} ms"));
        let _ = writeln!(
            s,
            "latency p50 {} · p95 {} · p99 {}",
            ms(self.latency_ms.p50),
            ms(self.latency_ms.p95),
            ms(self.latency_ms.p99)
        );
        let _ = writeln!(s, "duration {}", human_duration(self.duration_secs));
        if let Some(q) = self.quota_found {
            let _ = writeln!(
                s,
                "quota is {q} calls/s: the gateway named it in a 429; \
                 the pacer adopted it and resume keeps it"
            );
        }
        if let Some(c) = &self.next_command {
            let _ = writeln!(s, "next: {c}");
        }
        if let Some(p) = &self.report_path {
            let _ = writeln!(s, "report: {p}");
        }
        s
    }
}

fn human_duration(secs: f64) -> String {
    if secs < 60.0 {
        return format!("{secs:.1}s");
    }
    let t = secs.round() as u64;
    let (h, m, s) = (t / 3600, t / 60 % 60, t % 60);
    if h > 0 {
        format!("{h}h {m:02}m {s:02}s")
    } else {
        format!("{m}m {s:02}s")
    }
}
