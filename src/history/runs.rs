//! A finished run's snapshot: what `check-real-name` learned of each card (the carrier's live
//! real-name answer), and the state a card-state or tag run set on each card it was accepted
//! for (stopped 14, restored or activated 20, real-name cleared, its tags). Written from the
//! journal once the run has worked through every row, into the same history as the listings',
//! under the run dir's place; the job is the operation with its inputs.

use super::args::HistoryArgs;
use super::compare::State;
use super::store::Store;
use super::Recorder;
use crate::gsl::CardRef;
use crate::journal::{Journal, RowState, StoredRow};
use crate::model::Status;
use crate::ops;
use crate::report::encoding::ReportEncoding;
use crate::report::layout::Cell;
use crate::report::ReportDest;
use std::path::Path;

/// How an operation's accepted row leaves its card; `None`: the operation leaves nothing the
/// history keeps.
type Leaves = Box<dyn Fn(&StoredRow) -> State>;

fn leaves(operation: &str, params: &serde_json::Value) -> Option<Leaves> {
    let status = |s: i64| -> Leaves {
        Box::new(move |_| State {
            sim_status: Some(s),
            ..State::default()
        })
    };
    match operation {
        o if o == ops::check::SPEC.name => Some(Box::new(|r: &StoredRow| State {
            real_named: r.real_named,
            ..State::default()
        })),
        o if o == ops::clear::SPEC.name => Some(Box::new(|_: &StoredRow| State {
            real_named: Some(false),
            ..State::default()
        })),
        o if o == ops::stop::SPEC.name => Some(status(14)),
        o if o == ops::restore::SPEC.name || o == ops::activate::SPEC.name => Some(status(20)),
        o if o == ops::tags::SPEC.name => {
            // The tags set, as `RunMeta.params` keeps them: `[[id, name], ...]`.
            let names: Vec<String> = params
                .get("tags")
                .and_then(|t| t.as_array())
                .map(|t| {
                    t.iter()
                        .filter_map(|p| p.get(1).and_then(|n| n.as_str()).map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            let tags = names.join(",");
            Some(Box::new(move |_: &StoredRow| State {
                tags: Some(tags.clone()),
                ..State::default()
            }))
        }
        _ => None,
    }
}

/// Record a finished run in its account's history, compared with an earlier run when its flags
/// ask (`check-real-name --compare-with`: `DIR/NAME.changes.csv` and `NAME.summary.json` beside
/// the run's report `report`). A failure is a warning, never the run's. The exit code: `code`,
/// or 5 when `--fail-on-change` names a change that was found.
pub fn record(
    journal: &Journal,
    rundir: &Path,
    flags: Option<&HistoryArgs>,
    report: &ReportDest,
    code: i32,
) -> i32 {
    let flags = flags.cloned().unwrap_or_default();
    if flags.no_history {
        return code;
    }
    let done = match flags.compare_with {
        Some(_) => compared(journal, rundir, &flags, report, code),
        None => try_record(journal, rundir, flags.job.as_deref()).map(|()| code),
    };
    done.unwrap_or_else(|e| {
        tracing::warn!("the history did not take this run: {e}");
        code
    })
}

/// A run's job in the history: the job file's, else the operation with its inputs.
fn job_of(meta: &crate::journal::RunMeta, job: Option<&str>) -> String {
    job.map(String::from)
        .unwrap_or_else(|| format!("{} {}", meta.operation, meta.inputs.join(" ")))
}

/// The card an accepted row is about, as the history keys it.
fn key_of_row(r: &StoredRow) -> Option<String> {
    match r.key.as_deref().map(CardRef::from_key)? {
        CardRef::Iccid(i) => Some(super::key_of(Some(&i), r.sim_card_id)),
        CardRef::Id(id) => Some(super::key_of(None, Some(id as i64))),
    }
}

/// The run compared with the one its flags name, through the listings' [`Recorder`].
fn compared(
    journal: &Journal,
    rundir: &Path,
    flags: &HistoryArgs,
    report: &ReportDest,
    code: i32,
) -> Result<i32, String> {
    let meta = journal.meta().map_err(|e| e.to_string())?;
    let (Some(state_of), Some(spec)) = (
        leaves(&meta.operation, &meta.params),
        ops::spec(&meta.operation),
    ) else {
        return Ok(code);
    };
    let mut flags = flags.clone();
    flags.job = Some(job_of(&meta, flags.job.as_deref()));
    let setup = super::Setup {
        operation: spec.name,
        endpoint: &meta.endpoint,
        rehearsal: meta.rehearsal,
        identity: vec![],
        dest: report,
        marks: None,
    };
    let Some(mut rec) = Recorder::open(&flags, setup).map_err(|e| e.to_string())? else {
        return Ok(code);
    };
    rec.place = Some(super::absolute(rundir).display().to_string());
    rec.columns(
        &mut vec!["iccid".to_string()],
        "iccid",
        ReportEncoding::Utf8,
    );
    journal
        .for_each_row(|r| {
            let key = match key_of_row(&r) {
                Some(k) if matches!(r.status, RowState::Is(Status::Ok)) => k,
                _ => return Ok(()),
            };
            let mut cells = vec![Cell::Str(key.clone())];
            rec.row(&key, state_of(&r), &mut cells)
                .map_err(|e| std::io::Error::other(e.to_string()))
        })
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    rec.finish(code).map_err(|e| e.to_string())
}

fn try_record(journal: &Journal, rundir: &Path, job: Option<&str>) -> Result<(), String> {
    let meta = journal.meta().map_err(|e| e.to_string())?;
    let Some(state_of) = leaves(&meta.operation, &meta.params) else {
        return Ok(());
    };
    let Some(state) = crate::lock::state_dir() else {
        return Ok(());
    };
    let mut store = Store::open(&Store::path_for(&state, &meta.endpoint, meta.rehearsal))?;
    let job = job_of(&meta, job);
    let place = std::path::absolute(rundir)
        .unwrap_or_else(|_| rundir.to_path_buf())
        .display()
        .to_string();
    // Row by row from the journal into the snapshot: memory stays flat for any run.
    let run = store.begin_run(&job, &meta.operation, Some(&place))?;
    journal
        .for_each_row(|r| {
            if !matches!(r.status, RowState::Is(Status::Ok)) {
                return Ok(());
            }
            let Some(key) = key_of_row(&r) else {
                return Ok(());
            };
            store
                .add(run, &key, &state_of(&r))
                .map_err(std::io::Error::other)
        })
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    store.commit_run(run, &job, super::DEFAULT_KEEP, None)?;
    Ok(())
}
