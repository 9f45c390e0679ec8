//! The files the history leaves beside a report `DIR/NAME.ext` (`NAME.changes.csv`,
//! `NAME.marks.csv`, `NAME.summary.json`), and what `NAME.summary.json` says, for whoever
//! reads it after the history wrote it (a run's end tells its changes from it). Plain file
//! reading only: the end of a run reads this without depending on the rest of the history.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `DIR/NAME.<suffix>` beside the report `DIR/NAME.ext`.
pub fn path(report: &Path, suffix: &str) -> PathBuf {
    let stem = report
        .file_stem()
        .map_or_else(|| "report".into(), |s| s.to_string_lossy());
    report.with_file_name(format!("{stem}.{suffix}"))
}

/// `NAME.summary.json` beside `report`, when it is there and was written at or after
/// `not_before` (an earlier run's file at the same report path is not this run's).
fn summary(report: &Path, not_before: Option<std::time::SystemTime>) -> Option<serde_json::Value> {
    let p = path(report, "summary.json");
    if let Some(t) = not_before {
        let written = std::fs::metadata(&p).ok()?.modified().ok()?;
        if written < t {
            return None;
        }
    }
    serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()
}

/// The counts per kind of change a comparison left in `NAME.summary.json` beside `report`
/// (`None`: no comparison there).
pub fn counts(report: &Path) -> Option<BTreeMap<String, u64>> {
    serde_json::from_value(summary(report, None)?.get("changes")?.clone()).ok()
}

/// The counts per kind of change when the run written beside `report` (at or after
/// `not_before`) compared with an earlier run; `None` when it compared with nothing (a job's
/// first run: `compared_with` is null), did not compare, or left no summary there.
pub fn changes_since(
    report: &Path,
    not_before: Option<std::time::SystemTime>,
) -> Option<BTreeMap<String, u64>> {
    let doc = summary(report, not_before)?;
    if doc
        .get("compared_with")
        .is_none_or(serde_json::Value::is_null)
    {
        return None;
    }
    serde_json::from_value(doc.get("changes")?.clone()).ok()
}
