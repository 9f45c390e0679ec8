//! The end of every run, follow and report: the report and `summary.json` rendered from the
//! journal, the summary printed, and the exit code chosen from the counts and the stop.

use crate::engine::Stop;
use crate::exit::{self, Failure};
use crate::journal::Journal;
use crate::report::{self, summary, ReportDest};

/// Where the report goes: `--report` (relative to the working directory) or the run dir.
pub fn report_dest(rundir: &std::path::Path, report: Option<&str>) -> ReportDest {
    match report {
        Some(arg) => ReportDest::from_arg(arg),
        None => ReportDest::Path(rundir.join("report.csv")),
    }
}

/// Render the report and summary; print the summary. Returns the exit code for `stop`.
pub fn finish(
    journal: &Journal,
    rundir: &std::path::Path,
    report: Option<&str>,
    stop: Option<&Stop>,
    history: Option<&crate::history::args::HistoryArgs>,
) -> Result<i32, Failure> {
    let dest = report_dest(rundir, report);
    // A report that cannot be written (a full disk at --report) still leaves summary.json and
    // says how to write it later: the outcomes are in the journal.
    let mut unwritten = None;
    let counts = match report::render(journal, &dest) {
        Ok(stats) => stats
            .counts
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect(),
        // `--report - | head`: the reader went away; the counts come from the journal.
        Err(e) if e.is_broken_pipe() => summary::Summary::build(journal, rundir)
            .map_err(|e| Failure::aborted(e.to_string()))?
            .counts
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect(),
        Err(e) => {
            unwritten = Some(e.to_string());
            summary::Summary::build(journal, rundir)
                .map_err(|e| Failure::aborted(e.to_string()))?
                .counts
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect()
        }
    };
    let code = match stop {
        _ if unwritten.is_some() => exit::ABORTED,
        None | Some(Stop::Finished) => exit::from_counts(&counts),
        Some(Stop::Interrupted) => exit::INTERRUPTED,
        Some(_) => exit::ABORTED,
    };
    // A finished run leaves what it learned in the history (compared, when asked: exit 5).
    let code = match stop {
        Some(Stop::Finished) => crate::history::runs::record(journal, rundir, history, &dest, code),
        _ => code,
    };
    let mut s =
        summary::Summary::build(journal, rundir).map_err(|e| Failure::aborted(e.to_string()))?;
    s.exit_code = Some(code);
    s.stop_reason = match stop {
        Some(Stop::Finished) => Some("finished: every row was worked through".to_string()),
        Some(stop) => stop.reason(),
        // A report rendered later (follow, report): the run's own reason stands.
        None => summary::Summary::previous_stop_reason(rundir),
    };
    s.report_path = unwritten.is_none().then(|| dest.to_string());
    s.next_command = s.next();
    s.write_json(rundir)
        .map_err(|e| Failure::aborted(e.to_string()))?;
    crate::tell::at_end(&s);
    if crate::logging::json_logs() {
        // Schedulers parse stderr line by line: the summary is one JSON object there too.
        let json = serde_json::to_string(&s).expect("summary serialises");
        crate::say!("{{\"level\":\"INFO\",\"message\":\"summary\",\"summary\":{json}}}");
    } else {
        crate::say!("{}", s.to_text());
    }
    if let Some(why) = unwritten {
        let again = match report {
            Some(r) => format!(" --report {r}"),
            None => String::new(),
        };
        return Err(Failure::aborted(format!(
            "the report could not be written: {why}; every outcome is in the journal and \
             summary.json is written: once that is fixed, `gslbatch report {}{again}`",
            rundir.display()
        )));
    }
    Ok(code)
}
