//! The account ledger in a run's lifecycle: opened before anything is confirmed (a ledger
//! that cannot be opened stops a destructive run, exit 2), looked up to skip cards an earlier
//! run did, and handed to the engine's writer, which records every intent there first.

use crate::engine::writer::LedgerSink;
use crate::exit::Failure;
use crate::journal::ledger::{Ledger, RunKey};
use crate::journal::{Journal, RunMeta};
use crate::ops::Operation;
use std::path::Path;
use std::time::Duration;

/// How far back an earlier run counts unless `--again-window` says otherwise.
pub const DEFAULT_AGAIN_WINDOW: Duration = Duration::from_secs(30 * 24 * 3600);

/// Whether the operation's acts go to the ledger: those that must never happen twice.
pub fn applies(op: &dyn Operation) -> bool {
    !op.idempotent()
}

/// What the ledger knows this run by.
pub fn key(op: &dyn Operation, run_dir: &Path) -> RunKey {
    let dir = std::fs::canonicalize(run_dir).unwrap_or_else(|_| run_dir.to_path_buf());
    RunKey {
        run_dir: dir.display().to_string(),
        operation: op.name().to_string(),
        params: op.ledger_params(),
    }
}

/// Open the ledger of the run's endpoint (rehearsals: their own).
pub fn open(meta: &RunMeta) -> Result<Ledger, Failure> {
    let state = crate::lock::state_dir().ok_or_else(|| {
        Failure::usage(
            "no state directory for the account ledger: set HOME, XDG_STATE_HOME or GSL_STATE_DIR; nothing was sent",
        )
    })?;
    let path = Ledger::path_for(&state, &meta.endpoint, meta.rehearsal);
    Ledger::open(&path).map_err(|e| {
        Failure::usage(format!(
            "the account ledger cannot be opened ({e}): a destructive run needs it to never act twice on a card; nothing was sent (`gslbatch ledger rebuild RUN_DIR...` recreates it)"
        ))
    })
}

/// The engine's ledger writer for a destructive run; `None` for the others.
pub fn sink(
    op: &dyn Operation,
    meta: &RunMeta,
    run_dir: &Path,
) -> Result<Option<LedgerSink>, Failure> {
    if !applies(op) {
        return Ok(None);
    }
    Ok(Some(LedgerSink {
        ledger: open(meta)?,
        run: key(op, run_dir),
    }))
}

/// Mark `skipped` every pending row whose card an earlier run did (or may have done) with the
/// same operation and parameters within `window`. Returns how many.
pub fn skip_done(
    journal: &mut Journal,
    ledger: &Ledger,
    run: &RunKey,
    window: Duration,
) -> Result<u64, Failure> {
    let e = |e: crate::journal::JournalError| Failure::aborted(e.to_string());
    let since = chrono::Local::now()
        - chrono::Duration::from_std(window).unwrap_or(chrono::Duration::days(36_500));
    let since = since.to_rfc3339_opts(chrono::SecondsFormat::Millis, false);
    let mut skipped = Vec::new();
    let mut after = 0;
    loop {
        let chunk = journal.pending_after(after, 4096).map_err(e)?;
        let Some(last) = chunk.last() else { break };
        after = last.row;
        for p in chunk {
            if p.key.is_empty() {
                continue;
            }
            let (row, key) = (p.row, p.ledger_key());
            let act = ledger
                .earlier(run, &key, &since)
                .map_err(|e| Failure::usage(format!("{e}: nothing was sent")))?;
            if let Some(act) = act {
                skipped.push((row, act.skip_reason()));
            }
        }
    }
    journal.mark_skipped(&skipped).map_err(e)?;
    Ok(skipped.len() as u64)
}
