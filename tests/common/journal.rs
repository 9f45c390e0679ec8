//! Reading a run's journal as `status` does (while the run is live too).

use gslbatch::journal::Journal;
use std::collections::BTreeMap;
use std::path::Path;

/// Journal row counts per status.
pub fn journal_counts(run_dir: &Path) -> BTreeMap<String, u64> {
    Journal::open_read(run_dir)
        .and_then(|j| j.counts())
        .unwrap_or_default()
}

/// How many rows the journal holds `pending`.
pub fn pending(run_dir: &Path) -> u64 {
    journal_counts(run_dir).get("pending").copied().unwrap_or(0)
}
