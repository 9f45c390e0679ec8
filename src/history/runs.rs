//! A finished run's snapshot: what `check-real-name` learned of each card (the carrier's live
//! real-name answer), and the state a card-state or tag run set on each card it was accepted
//! for (stopped 14, restored or activated 20, real-name cleared, its tags). Written from the
//! journal once the run has worked through every row, into the same history as the listings',
//! under the run dir's place; the job is the operation with its inputs.

use super::compare::State;
use super::store::Store;
use crate::gsl::CardRef;
use crate::journal::{Journal, RowState, StoredRow};
use crate::model::Status;
use crate::ops;
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

/// Record a finished run in its account's history; a failure is a warning, never the run's.
pub fn record(journal: &Journal, rundir: &Path) {
    if let Err(e) = try_record(journal, rundir) {
        tracing::warn!("the history did not take this run: {e}");
    }
}

fn try_record(journal: &Journal, rundir: &Path) -> Result<(), String> {
    let meta = journal.meta().map_err(|e| e.to_string())?;
    let Some(state_of) = leaves(&meta.operation, &meta.params) else {
        return Ok(());
    };
    let Some(state) = crate::lock::state_dir() else {
        return Ok(());
    };
    let mut store = Store::open(&Store::path_for(&state, &meta.endpoint, meta.rehearsal))?;
    let job = format!("{} {}", meta.operation, meta.inputs.join(" "));
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
            let key = match r.key.as_deref().map(CardRef::from_key) {
                Some(CardRef::Iccid(i)) => super::key_of(Some(&i), r.sim_card_id),
                Some(CardRef::Id(id)) => super::key_of(None, Some(id as i64)),
                None => return Ok(()),
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
