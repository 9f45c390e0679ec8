//! Reading what a run left: its report, its summary, `status --json`.

use std::collections::HashMap;
use std::path::Path;

use super::binary::bare;

/// A report CSV as one map per row, column name → cell.
pub fn read_report(path: &Path) -> Vec<HashMap<String, String>> {
    let mut r = csv::Reader::from_path(path)
        .unwrap_or_else(|e| panic!("report {} readable: {e}", path.display()));
    let headers = r.headers().expect("report header").clone();
    r.records()
        .map(|rec| {
            let rec = rec.expect("report record");
            headers
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// Rows per status.
pub fn status_counts(rows: &[HashMap<String, String>]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for r in rows {
        *m.entry(r["status"].clone()).or_default() += 1;
    }
    m
}

pub fn count(rows: &[HashMap<String, String>], status: &str) -> usize {
    rows.iter().filter(|r| r["status"] == status).count()
}

/// Rows are numbered 1..=N in order, one per input row.
pub fn assert_rows_in_order(rows: &[HashMap<String, String>], n: usize) {
    assert_eq!(rows.len(), n, "one report row per input row");
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r["row"], (i + 1).to_string(), "report rows in input order");
    }
}

/// A run dir's `summary.json`.
pub fn summary(run_dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(run_dir.join("summary.json")).unwrap()).unwrap()
}

/// `gslbatch status RUN_DIR --json`, which must exit 0.
pub fn status_json(run_dir: &Path) -> serde_json::Value {
    let out = bare()
        .arg("status")
        .arg(run_dir)
        .arg("--json")
        .output()
        .expect("status runs");
    assert_eq!(out.status.code(), Some(0));
    serde_json::from_slice(&out.stdout).expect("status --json is JSON")
}

/// `gslbatch report RUN_DIR --report DEST` (DEST's ending picks the format), which must succeed.
pub fn render_report(run_dir: &Path, dest: &Path) {
    let out = bare()
        .arg("report")
        .arg(run_dir)
        .arg("--report")
        .arg(dest)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
