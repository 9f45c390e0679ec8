//! `--metrics-file`: the run's (or listing's) figures in the Prometheus text exposition format, for
//! node_exporter's textfile collector — how cron jobs on Linux hosts are watched. The file is
//! written like a report (a temporary file beside it, fsynced, renamed), so the collector never
//! reads half of it; its temporary name starts with a dot and does not end in `.prom`, which the
//! collector skips.
//!
//! Every figure is a gauge labelled with the operation: the last run's value, not a counter
//! over runs (a run dir's resumed run is still one run). The last success time is carried over
//! from the file this replaces when this run did not succeed, so an alert on "no success for a
//! day" keeps working through failed runs.

use super::ListingEnd;
use crate::report::Summary;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The metric whose value a failed run keeps from the file it replaces.
pub const LAST_SUCCESS: &str = "gslbatch_last_success_timestamp_seconds";

/// Whether `dest`'s folder takes a file (created and removed again), checked before a run.
pub fn check_writable(dest: &Path) -> std::io::Result<()> {
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let probe = dir.join(format!(".gslbatch-metrics-check-{}", std::process::id()));
    std::fs::File::create(&probe)?;
    std::fs::remove_file(&probe)
}

/// Write the metrics of `s` to `dest` atomically; `changes` as the message's.
pub fn write(
    dest: &Path,
    s: &Summary,
    changes: Option<&BTreeMap<String, u64>>,
) -> Result<(), String> {
    let previous = std::fs::read_to_string(dest)
        .ok()
        .and_then(|t| previous_success(&t, &s.operation));
    let mut text = render(s, previous, unix_now());
    if let Some(c) = changes {
        changes_gauge(&mut text, &s.operation, c);
    }
    write_text(dest, &text)
}

/// Write the metrics of a listing's end to `dest` atomically.
pub fn write_listing(dest: &Path, l: &ListingEnd) -> Result<(), String> {
    let previous = std::fs::read_to_string(dest)
        .ok()
        .and_then(|t| previous_success(&t, l.operation));
    write_text(dest, &render_listing(l, previous))
}

fn write_text(dest: &Path, text: &str) -> Result<(), String> {
    crate::report::atomic_write(dest, |mut out| {
        out.write_all(text.as_bytes())?;
        Ok(((), out))
    })
    .map_err(|e| e.to_string())
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn unix_of(rfc3339: Option<&str>) -> Option<f64> {
    let t = chrono::DateTime::parse_from_rfc3339(rfc3339?).ok()?;
    Some(t.timestamp_millis() as f64 / 1000.0)
}

/// A label value, escaped as the text format asks (`\\`, `\"`, `\n`).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The last success time a file written earlier for `operation` holds.
pub fn previous_success(text: &str, operation: &str) -> Option<f64> {
    let want = format!("{LAST_SUCCESS}{{operation=\"{}\"}} ", label(operation));
    text.lines()
        .find_map(|l| l.strip_prefix(&want))
        .and_then(|v| v.trim().parse().ok())
}

/// The file's text. `previous_success` is kept when this run did not succeed; `now` stands in
/// for a finish time the summary lacks.
pub fn render(s: &Summary, previous_success: Option<f64>, now: f64) -> String {
    let mut g = Gauges {
        text: String::new(),
        op: label(&s.operation),
    };
    g.add(
        "gslbatch_rows",
        "Rows of the last run per report status.",
        &s.counts
            .iter()
            .map(|(st, n)| (format!(",status=\"{st}\""), *n as f64))
            .collect::<Vec<_>>(),
    );
    let o = &s.outcomes;
    g.add(
        "gslbatch_outcomes",
        "Accepted rows of the last run per outcome (follow reads it; not_followed: not read yet).",
        &[
            ("done", o.done),
            ("failed", o.failed),
            ("processing", o.processing),
            ("not_followed", o.not_followed),
        ]
        .iter()
        .map(|(k, n)| (format!(",outcome=\"{k}\""), *n as f64))
        .collect::<Vec<_>>(),
    );
    g.add(
        "gslbatch_calls",
        "API calls of the last run, retries and throttled ones included.",
        &one_value(s.calls as f64),
    );
    g.add(
        "gslbatch_throttled_calls",
        "Calls of the last run answered 429.",
        &one_value(s.throttled as f64),
    );
    g.add(
        "gslbatch_retries",
        "Retried calls of the last run.",
        &one_value(s.retries as f64),
    );
    if let Some(r) = s.achieved_rate {
        g.add(
            "gslbatch_achieved_rate_calls_per_second",
            "Calls per second the last run achieved.",
            &one_value(r),
        );
    }
    if let Some(q) = s.quota_found {
        g.add(
            "gslbatch_quota_found_calls_per_second",
            "The quota a 429 named, when lower than the rate asked for.",
            &one_value(q),
        );
    }
    g.add(
        "gslbatch_duration_seconds",
        "Time the last run's processes spent on it.",
        &one_value(s.duration_secs),
    );
    let finished = unix_of(s.finished_at.as_deref()).unwrap_or(now);
    ends(
        &mut g,
        (s.exit_code, finished, s.rehearsal),
        previous_success,
    );
    g.text
}

/// `gslbatch_changes{kind}`: the changes per kind a comparison with an earlier run found.
fn changes_gauge(text: &mut String, operation: &str, changes: &BTreeMap<String, u64>) {
    let mut g = Gauges {
        text: std::mem::take(text),
        op: label(operation),
    };
    g.add(
        "gslbatch_changes",
        "Changes per kind the last run found against the run it compared with.",
        &changes
            .iter()
            .map(|(k, n)| (format!(",kind=\"{}\"", label(k)), *n as f64))
            .collect::<Vec<_>>(),
    );
    *text = g.text;
}

/// A listing's file: rows listed (and per status, when the listing joined an input), calls,
/// duration, how it ended, the changes per kind and (`usage`) the marks.
pub fn render_listing(l: &ListingEnd, previous_success: Option<f64>) -> String {
    let mut g = Gauges {
        text: String::new(),
        op: label(l.operation),
    };
    g.add(
        "gslbatch_rows_listed",
        "Rows in the last listing's report.",
        &one_value(l.rows as f64),
    );
    if !l.counts.is_empty() {
        g.add(
            "gslbatch_rows",
            "Rows of the last listing per report status (a listing joined with an input).",
            &l.counts
                .iter()
                .map(|(st, n)| (format!(",status=\"{}\"", label(st)), *n as f64))
                .collect::<Vec<_>>(),
        );
    }
    g.add(
        "gslbatch_calls",
        "API calls of the last listing, retries and throttled ones included.",
        &one_value(l.calls as f64),
    );
    g.add(
        "gslbatch_throttled_calls",
        "Calls of the last listing answered 429.",
        &one_value(l.throttled as f64),
    );
    g.add(
        "gslbatch_retries",
        "Retried calls of the last listing.",
        &one_value(l.retries as f64),
    );
    g.add(
        "gslbatch_duration_seconds",
        "Time the last listing took.",
        &one_value(l.duration_secs),
    );
    if let Some(m) = &l.marks {
        g.add(
            "gslbatch_marks",
            "Cards the last usage listing marked against their own history, per mark.",
            &m.iter()
                .map(|(k, n)| (format!(",mark=\"{}\"", label(k)), *n as f64))
                .collect::<Vec<_>>(),
        );
    }
    let finished = unix_of(Some(&l.finished_at)).unwrap_or_else(unix_now);
    ends(
        &mut g,
        (Some(l.exit_code), finished, l.rehearsal),
        previous_success,
    );
    let mut text = g.text;
    if let Some(c) = &l.changes {
        changes_gauge(&mut text, l.operation, c);
    }
    text
}

/// How and when the run ended (exit code, finish time, rehearsal): exit code, last run, last
/// success, rehearsal.
fn ends(
    g: &mut Gauges,
    (exit_code, finished, rehearsal): (Option<i32>, f64, bool),
    previous_success: Option<f64>,
) {
    if let Some(code) = exit_code {
        g.add(
            "gslbatch_exit_code",
            "The last run's exit code.",
            &one_value(f64::from(code)),
        );
    }
    g.add(
        "gslbatch_last_run_timestamp_seconds",
        "When the last run ended (Unix time).",
        &one_value(finished),
    );
    // Exit 5 (a change of a kind named by --fail-on-change) is a run that worked.
    let success = if matches!(exit_code, Some(crate::exit::OK | crate::exit::CHANGED)) {
        Some(finished)
    } else {
        previous_success
    };
    if let Some(at) = success {
        g.add(
            LAST_SUCCESS,
            "When a run of this operation last worked: exit code 0, or 5 (changes found) (Unix time).",
            &one_value(at),
        );
    }
    g.add(
        "gslbatch_rehearsal",
        "1 when the last run was a rehearsal against the built-in simulator.",
        &one_value(if rehearsal { 1.0 } else { 0.0 }),
    );
}

/// The text being written, and the operation label every sample carries.
struct Gauges {
    text: String,
    op: String,
}

impl Gauges {
    /// One gauge: its HELP and TYPE lines, then a sample per `(extra labels, value)`.
    fn add(&mut self, name: &str, help: &str, samples: &[(String, f64)]) {
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} gauge");
        for (labels, v) in samples {
            let _ = writeln!(self.text, "{name}{{operation=\"{}\"{labels}}} {v}", self.op);
        }
    }
}

/// A gauge's one sample, without extra labels.
fn one_value(v: f64) -> Vec<(String, f64)> {
    vec![(String::new(), v)]
}
