//! `status RUN_DIR`'s view: where a run stands, read from its journal (readable while the run
//! is live), as text for people or as JSON for scripts.

use super::layout::shown_status;
use super::{Outcomes, ReportError, Summary};
use crate::journal::{Journal, INFLIGHT};
use crate::model::Status;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A run's standing, as `status` shows it.
pub struct RunStatus {
    run_dir: PathBuf,
    meta: crate::journal::RunMeta,
    /// The report's statuses, every one (0 included).
    counts: BTreeMap<&'static str, u64>,
    /// Rows in flight (counted among the `pending` while a process drives the run).
    in_flight: u64,
    /// The process driving the run, if one is.
    holder: Option<u32>,
    /// Calls per second the pacer holds (the summary's figure, live).
    rate: Option<f64>,
    eta_secs: Option<f64>,
    last_update: Option<String>,
    outcomes: Outcomes,
    /// Why it stopped and what carries on: the last summary's words (none while it runs).
    stop_reason: Option<String>,
    next_command: Option<String>,
    top_errors: Vec<Value>,
    /// The settings a resume would carry on with.
    settings: Value,
}

impl RunStatus {
    /// Read the standing of the run in `run_dir`; `effective` fills the stored settings' gaps
    /// with the defaults a resume would take (the run's to say, not the report's).
    pub fn read(
        run_dir: &Path,
        effective: fn(&crate::journal::Settings) -> Value,
    ) -> Result<RunStatus, ReportError> {
        let journal = Journal::open_read(run_dir)?;
        let meta = journal.meta()?;
        let raw = journal.counts()?;
        let sessions = journal.sessions()?;
        let holder = crate::rundir::holder(run_dir);
        let in_flight = raw.get(INFLIGHT).copied().unwrap_or(0);
        let counts = shown_counts(&raw, &meta.operation, holder.is_some());
        // The same figure as the summary's, live: the rate the pacer holds.
        let rate = super::summary::achieved_rate(sessions.iter().map(|(_, _, t, _)| t));
        let left = counts.get("pending").copied().unwrap_or(0);
        // A finished run has no ETA (nothing left), not "0s"; nor has one no process drives.
        let eta_secs = rate
            .filter(|r| *r > 0.0 && left > 0 && holder.is_some())
            .map(|r| left as f64 / r);
        let last_update = journal.last_update()?;
        let outcomes = Outcomes::of(&journal, &meta.operation)?;
        let said = |key: &str| {
            holder
                .is_none()
                .then(|| Summary::saved(run_dir, key))
                .flatten()
        };
        let top_errors = journal
            .top_errors(5)?
            .into_iter()
            .map(|(code, n)| {
                let words = super::explain::explain(&code, &meta.operation);
                json!({"code": code, "count": n, "explanation": words})
            })
            .collect();
        Ok(RunStatus {
            run_dir: run_dir.to_path_buf(),
            settings: effective(&meta.settings),
            stop_reason: said("stop_reason"),
            next_command: said("next_command"),
            meta,
            counts,
            in_flight,
            holder,
            rate,
            eta_secs,
            last_update,
            outcomes,
            top_errors,
        })
    }

    /// `status --json`.
    pub fn to_json(&self) -> Value {
        let meta = &self.meta;
        json!({
            "gslbatch_version": env!("CARGO_PKG_VERSION"),
            "run_dir": self.run_dir.display().to_string(),
            "operation": meta.operation,
            "rehearsal": meta.rehearsal,
            "counts": self.counts,
            "outcomes": self.outcomes,
            "rows": self.counts.values().sum::<u64>(),
            "in_flight": if self.holder.is_some() { self.in_flight } else { 0 },
            "rate": self.rate,
            "eta_secs": self.eta_secs,
            "started_at": meta.created_at,
            "last_update": self.last_update,
            "live": self.holder.is_some(),
            "holder_pid": self.holder,
            "settings": self.settings,
            "stop_reason": self.stop_reason,
            "top_errors": self.top_errors,
            "next_command": self.next_command,
        })
    }

    /// `status`'s lines for people, each ending in a newline.
    pub fn to_text(&self) -> String {
        let meta = &self.meta;
        let mut out = Vec::new();
        out.push(format!(
            "run:        {} ({}{})",
            self.run_dir.display(),
            meta.operation,
            if meta.rehearsal { ", REHEARSAL" } else { "" }
        ));
        out.push(format!("rows:       {}", self.rows_text()));
        out.push(format!("outcomes:   {}", self.outcomes.to_text()));
        out.push(format!(
            "rate:       {}",
            self.rate.map_or("-".into(), |r| format!("{r:.2} calls/s"))
        ));
        out.push(format!(
            "eta:        {}",
            self.eta_secs.map_or("-".into(), rounded_duration)
        ));
        out.push(format!("settings:   {}", settings_text(&self.settings)));
        if let Some(q) = meta.settings.quota {
            out.push(format!(
                "quota:      {q} calls/s, as the gateway named it in a 429; resume carries on at it"
            ));
        }
        out.push(format!("started:    {}", meta.created_at));
        out.push(format!(
            "updated:    {}",
            self.last_update.as_deref().unwrap_or("-")
        ));
        out.extend(self.top_errors.iter().map(error_line));
        if let Some(r) = &self.stop_reason {
            out.push(format!("stopped:    {r}"));
        }
        if let Some(c) = &self.next_command {
            out.push(format!("next:       {c}"));
        }
        out.push(format!(
            "process:    {}",
            self.holder.map_or("none (not running)".into(), |p| format!(
                "pid {p} is driving it"
            ))
        ));
        out.iter().map(|l| format!("{l}\n")).collect()
    }

    /// `1200 (ok 1000, pending 200, 12 of the pending in flight)`.
    fn rows_text(&self) -> String {
        let mut line: Vec<String> = self
            .counts
            .iter()
            .filter(|(_, v)| **v > 0)
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        if self.holder.is_some() && self.in_flight > 0 {
            line.push(format!("{} of the pending in flight", self.in_flight));
        }
        format!(
            "{} ({})",
            self.counts.values().sum::<u64>(),
            line.join(", ")
        )
    }
}

/// The journal's counts as the report shows them. Rows in flight are `pending` while a process
/// drives the run (and counted apart); once none does, they are what the report shows:
/// `unknown`, or `pending` for an operation that is safe to repeat.
fn shown_counts(
    raw: &BTreeMap<String, u64>,
    operation: &str,
    live: bool,
) -> BTreeMap<&'static str, u64> {
    let idempotent = crate::ops::is_idempotent(operation);
    let mut counts: BTreeMap<&str, u64> = Status::ALL.iter().map(|s| (s.as_str(), 0)).collect();
    for (status, n) in raw {
        let shown = match (status.as_str(), live) {
            (INFLIGHT, true) => Some(Status::Pending),
            (s, _) => shown_status(s, idempotent),
        };
        if let Some(s) = shown {
            *counts.entry(s.as_str()).or_default() += n;
        }
    }
    counts
}

/// The settings a resume would carry on with, in words.
fn settings_text(set: &Value) -> String {
    format!(
        "rate {}, concurrency {}, max attempts {}, timeout {}s, max failure rate {} once {} rows finished",
        set["rate"].as_f64().map_or_else(|| "auto".to_string(), |r| format!("{r}/s")),
        set["concurrency"].as_str().map_or_else(|| set["concurrency"].to_string(), str::to_string),
        set["max_attempts"],
        set["timeout_secs"],
        set["max_failure_rate"],
        set["failure_min_rows"]
    )
}

/// `error:      GSL.00010004 x3 — the card is not ...`.
fn error_line(t: &Value) -> String {
    format!(
        "error:      {} x{}{}",
        t["code"].as_str().unwrap_or_default(),
        t["count"],
        t["explanation"]
            .as_str()
            .map(|w| format!(" — {w}"))
            .unwrap_or_default()
    )
}

/// A duration still to come — an ETA, a plan's expected time, follow's next look — rounded to
/// whole seconds and written compactly ("45s", "1m05s", "2h03m"). Not the summary's `duration`
/// line, which says how long a run took, to the tenth under a minute ("12.3s", "1m 05s"): an
/// estimate has no tenths to show, and each text is printed as it always was.
pub fn rounded_duration(secs: f64) -> String {
    let s = secs.round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}
