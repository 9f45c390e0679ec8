//! `report RUN_DIR`: render the report from the journal, at any time (also during a run).

use crate::cli::ReportArgs;
use crate::exit::{Failure, OK};
use crate::journal::Journal;
use crate::report;
use crate::run::finish::report_dest;

pub fn run(args: ReportArgs) -> Result<i32, Failure> {
    let journal = Journal::open_read(&args.run_dir).map_err(|e| Failure::usage(e.to_string()))?;
    // The run's own `--report FILE` when none is given here.
    let stored = journal.meta().ok().and_then(|m| m.settings.report);
    let dest = report_dest(&args.run_dir, args.report.as_deref().or(stored.as_deref()));
    let stats = match report::render(&journal, &dest) {
        Ok(s) => s,
        // `report --report - | head`: the reader has what it wanted.
        Err(e) if e.is_broken_pipe() => return Ok(OK),
        // Nothing was aborted: the run is as it was, and `report` can be run again (exit 2, as
        // for a run dir that cannot be read).
        Err(e) => {
            return Err(Failure::usage(format!(
                "{e}: the report was not written; the run is unchanged"
            )))
        }
    };
    let counts: Vec<String> = stats
        .counts
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    crate::say!(
        "report: {} ({})",
        crate::model::count(stats.rows, "row", "rows"),
        counts.join(", ")
    );
    Ok(OK)
}
