//! `--report FILE.html`: one self-contained page a manager opens from a mail or a share — the
//! summary, its charts as inline SVG, the error codes in plain words, the rate over time against
//! the quota, and the rows that are not `ok` (every row when there are few). Rendered from the
//! journal like every report, so `gslbatch report RUN --report x.html` makes it at any time.
//!
//! Nothing is fetched: no script, font, image or stylesheet from anywhere, and the page's
//! Content-Security-Policy (`default-src 'none'`) forbids it, so it opens the same on a machine
//! with no network. Every value is escaped by the templates (`maud`): a row's error message or
//! an input's own column is shown as text, never as markup.
//!
//! `maud` rather than `askama` or `minijinja`: the page is Rust code checked at compile time, the
//! SVG charts come out of the same macro, escaping is the default for every interpolation, and
//! there is no template file to ship or parse at run time.

pub mod svg;

use super::layout::{Cell, Layout};
use super::{atomic_write, RenderStats, ReportError, Summary};
use crate::journal::Journal;
use crate::model::Status;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use std::collections::{BTreeMap, HashSet};
use std::io::Write as _;
use std::path::Path;

/// Every row is listed up to this many rows; past it, only the rows that are not `ok`…
pub const ALL_ROWS_UP_TO: usize = 50;
/// …and at most this many of those (the CSV report holds them all).
pub const LISTED_MAX: usize = 500;
/// The documented default quota, the rate of a run started without `--rate`.
const DEFAULT_RATE: f64 = 5.0;
/// The rate chart has at most this many columns.
const MAX_BUCKETS: i64 = 300;

/// What the page shows of the rows, gathered in one pass over the journal.
#[derive(Default)]
struct Rows {
    stats: RenderStats,
    all: Vec<Vec<String>>,
    not_ok: Vec<Vec<String>>,
    not_ok_total: u64,
    /// Per second (Unix time): calls answered, rows answered 429.
    seconds: BTreeMap<i64, (u64, u64)>,
    /// Batched operations: the (second, batch) pairs already counted as one call.
    batches: HashSet<(i64, i64)>,
}

fn text(c: &Cell) -> String {
    match c {
        Cell::Null => String::new(),
        Cell::Str(s) => s.clone(),
        Cell::Int(i) => i.to_string(),
        Cell::Float(f) => f.to_string(),
        Cell::Bool(b) => b.to_string(),
    }
}

/// Render the page of the run in `journal` to `dest`, atomically.
pub fn render(journal: &Journal, dest: &Path) -> Result<RenderStats, ReportError> {
    let meta = journal.meta()?;
    let layout = Layout::new(&meta, super::has_follow(journal)?);
    let run_dir = journal.path().parent().unwrap_or(Path::new("."));
    let mut summary = Summary::build(journal, run_dir)?;
    // How the run ended, as its summary.json last said (at the end of a run the page is made
    // again once summary.json is written: see `tell::at_end`).
    summary.stop_reason = Summary::previous_stop_reason(run_dir);
    if summary.exit_code.is_none() {
        summary.exit_code = saved_exit_code(run_dir);
    }
    summary.next_command = summary.next();
    let mut rows = Rows::default();
    journal
        .for_each_row(|r| {
            let (row, status) = (r.row, r.status.clone());
            let finished = r.finished_at.as_deref().and_then(|t| {
                chrono::DateTime::parse_from_rfc3339(t)
                    .ok()
                    .map(|t| t.timestamp())
            });
            let (sent, batch, throttled) = (r.attempts > 0, r.batch, r.http_status == Some(429));
            let (shown, cells) = layout.cells(r).ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("journal row {row} has an unknown status {status:?}"),
                )
            })?;
            rows.stats.rows += 1;
            *rows.stats.counts.entry(shown).or_default() += 1;
            if let (true, Some(sec)) = (sent, finished) {
                let new_call = match batch {
                    Some(b) => rows.batches.insert((sec, b)),
                    None => true,
                };
                let e = rows.seconds.entry(sec).or_default();
                e.0 += u64::from(new_call);
                e.1 += u64::from(throttled);
            }
            let line: Vec<String> = cells.iter().map(text).collect();
            if rows.all.len() < ALL_ROWS_UP_TO {
                rows.all.push(line.clone());
            }
            if shown != Status::Ok {
                rows.not_ok_total += 1;
                if rows.not_ok.len() < LISTED_MAX {
                    rows.not_ok.push(line);
                }
            }
            Ok(())
        })?
        .map_err(|e| ReportError::Io {
            path: dest.display().to_string(),
            action: "render",
            source: e,
        })?;
    let quota = summary
        .quota_found
        .or_else(|| meta.settings.rate.map(crate::model::Rate::start))
        // No `--rate` given: the default quota (`run::settings::DEFAULT_RATE`).
        .or(Some(DEFAULT_RATE));
    let page = page(&summary, &layout, &rows, quota);
    atomic_write(dest, |mut out| {
        out.write_all(page.into_string().as_bytes())?;
        Ok(((), out))
    })?;
    Ok(rows.stats)
}

fn saved_exit_code(run_dir: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(run_dir.join(super::summary::FILE_NAME)).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("exit_code")?.as_i64().map(|c| c as i32)
}

/// A listing's `--report x.html`: refused before any call (a listing has no journal to render
/// a page from; its `.xlsx` has the figures).
pub fn listing_refuses(arg: &str) -> Result<(), String> {
    match super::ReportFormat::from_path(Path::new(arg)) {
        super::ReportFormat::Html => Err(format!(
            "--report {arg}: an HTML report is made for runs (check, clear, send-sms...); write a listing as .csv or .xlsx"
        )),
        _ => Ok(()),
    }
}

/// The rate chart's columns: calls answered per second, in at most [`MAX_BUCKETS`] columns.
fn buckets(seconds: &BTreeMap<i64, (u64, u64)>) -> (Vec<svg::Bucket>, i64) {
    let (Some(first), Some(last)) = (seconds.keys().next(), seconds.keys().next_back()) else {
        return (Vec::new(), 1);
    };
    let span = last - first + 1;
    let width = ((span + MAX_BUCKETS - 1) / MAX_BUCKETS).max(1);
    let mut out: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
    for (sec, (calls, thr)) in seconds {
        let at = (sec - first) / width * width;
        let e = out.entry(at).or_default();
        e.0 += calls;
        e.1 += thr;
    }
    let list = out
        .into_iter()
        .map(|(at, (calls, throttled))| svg::Bucket {
            at,
            per_sec: calls as f64 / width as f64,
            throttled,
        })
        .collect();
    (list, width)
}

const STYLE: &str = "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#222;max-width:1100px}\
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}\
.rehearsal{background:#fff3e0;border:1px solid #ef6c00;padding:8px 12px;margin:8px 0;font-weight:600}\
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}\
th{background:#f5f5f5}td.n{text-align:right;font-variant-numeric:tabular-nums}.charts{display:flex;flex-wrap:wrap;gap:24px}\
figure{margin:0}figcaption{font-weight:600;margin-bottom:4px}.muted{color:#666}code{background:#f5f5f5;padding:1px 4px}\
.rows{overflow-x:auto}.top{display:flex;flex-wrap:wrap;gap:32px;align-items:flex-start}.charts{flex-direction:column}";

fn page(s: &Summary, layout: &Layout, rows: &Rows, quota: Option<f64>) -> Markup {
    let counts: Vec<(String, u64)> = s.counts.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    let o = &s.outcomes;
    let outcomes: Vec<(String, u64)> = [
        ("done", o.done),
        ("failed", o.failed),
        ("processing", o.processing),
        ("not_followed", o.not_followed),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), *v))
    .collect();
    let (buckets, width) = buckets(&rows.seconds);
    let title = format!("gslbatch {} — {}", s.operation, s.run_dir);
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="Content-Security-Policy"
                    content="default-src 'none'; style-src 'unsafe-inline'; img-src data:";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { "gslbatch " (s.operation) }
                div.muted {
                    "run " code { (s.run_dir) } " · endpoint " code { (s.endpoint) }
                    @if let Some(t) = &s.started_at { " · started " (t) }
                    @if let Some(t) = &s.finished_at { " · last update " (t) }
                }
                @if s.rehearsal { div.rehearsal { (super::summary::REHEARSAL_LINE) } }
                h2 { "Summary" }
                div.top {
                (summary_table(s, &counts))
                div.charts {
                    (svg::bars("chart-status", "Rows per status", &counts))
                    (svg::bars("chart-outcome", "Rows per outcome", &outcomes))
                }
                }
                h2 { "Errors" }
                @if s.top_errors.is_empty() {
                    p.muted { "No failed or unknown row carries an error code." }
                } @else {
                    table id="errors" {
                        tr { th { "code" } th { "rows" } th { "what it means" } }
                        @for (code, n) in &s.top_errors {
                            tr {
                                td { code { (code) } }
                                td.n data-error=(code) { (n) }
                                td { (s.error_explanations.get(code).map_or("", String::as_str)) }
                            }
                        }
                    }
                }
                h2 { "Rate over time" }
                @if buckets.is_empty() {
                    p.muted { "No call was answered." }
                } @else {
                    (svg::rate("chart-rate", "Calls answered per second, against the run's rate", &buckets, width, quota))
                    p.muted {
                        "From each row's answer time in the journal (a batch call counts once); "
                        "red dots mark columns with rows answered 429. Over the whole run "
                        (s.throttled) " calls were answered 429 and retried."
                    }
                }
                (rows_section(layout, rows))
                p.muted { "gslbatch " (s.gslbatch_version) }
            }
        }
    }
}

/// The summary's figures as a table (counts carry `data-status`, totals `data-count`).
fn summary_table(s: &Summary, counts: &[(String, u64)]) -> Markup {
    html! {
        table id="summary" {
            tr { th { "rows" } td.n data-count="rows" { (s.rows) } }
            @for (st, n) in counts {
                tr { th { (st) } td.n data-status=(st) { (n) } }
            }
            tr { th { "calls" } td.n data-count="calls" { (s.calls) } }
            tr { th { "answered 429" } td.n data-count="throttled" { (s.throttled) } }
            tr { th { "retries" } td.n data-count="retries" { (s.retries) } }
            tr { th { "achieved rate" } td.n { (s.achieved_rate.map_or("-".to_string(), |r| format!("{r:.2} calls/s"))) } }
            @if let Some(q) = s.quota_found {
                tr { th { "quota found" } td.n { (format!("{q} calls/s (named by a 429)")) } }
            }
            tr { th { "latency p50 / p95 / p99" } td.n {
                (format!("{} / {} / {} ms",
                    s.latency_ms.p50.map_or("-".into(), |v| v.to_string()),
                    s.latency_ms.p95.map_or("-".into(), |v| v.to_string()),
                    s.latency_ms.p99.map_or("-".into(), |v| v.to_string())))
            } }
            tr { th { "duration" } td.n { (format!("{:.1} s", s.duration_secs)) } }
            @if let Some(c) = s.exit_code { tr { th { "exit code" } td.n data-count="exit_code" { (c) } } }
            @if let Some(r) = &s.stop_reason { tr { th { "stopped" } td { (r) } } }
            @if let Some(c) = &s.next_command { tr { th { "next" } td { code { (c) } } } }
        }
    }
}

/// The rows that are not ok, or every row when there are few.
fn rows_section(layout: &Layout, rows: &Rows) -> Markup {
    let all = rows.stats.rows as usize <= ALL_ROWS_UP_TO;
    let listed = if all { &rows.all } else { &rows.not_ok };
    html! {
        h2 {
            @if all { "All rows" } @else { "Rows that are not ok" }
        }
        @if !all && rows.not_ok_total as usize > rows.not_ok.len() {
            p.muted { "The first " (rows.not_ok.len()) " of " (rows.not_ok_total) "; the CSV report holds every row." }
        }
        @if listed.is_empty() {
            p.muted { "Every row is ok." }
        } @else {
            div.rows {
                table id="rows" {
                    tr { @for c in &layout.columns { th { (c) } } }
                    @for line in listed {
                        tr { @for cell in line { td { (cell) } } }
                    }
                }
            }
        }
    }
}
