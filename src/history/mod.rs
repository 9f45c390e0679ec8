//! The history: what each run of `inventory` and `usage` learned per card, kept per account
//! under the state directory ([`store`]), so that a run can say what changed since an earlier
//! one ([`compare`]) and which cards use far more, or nothing, against their own past
//! ([`marks`]).
//!
//! A listing opens a [`Recorder`] ([`recorder`]; usage's judging of each card is [`marking`])
//! before it lists, hands it each card's state as its report
//! row is made ([`Recorder::row`] adds the `change` and `mark` cells, and copies a changed row
//! into the changes file), and calls [`Recorder::finish`] once the report is in place: the
//! cards the earlier run had and this one lacks go to the changes file as `gone`, the snapshot
//! is written (one transaction) and the job's runs beyond `--keep` are pruned, the counts go to
//! `<report>.summary.json` and stderr, and `--fail-on-change` may turn exit 0 into 5.
//!
//! Files beside a report `DIR/NAME.csv`: `DIR/NAME.changes.csv` (only the changed rows, with
//! the gone cards), `DIR/NAME.marks.csv` (usage: the marked cards and the top users) and
//! `DIR/NAME.summary.json`.
//!
//! Memory: the earlier run's states and this run's (about 100 bytes a card each) are held until
//! the end; the report's rows are not.

pub mod args;
pub mod beside;
pub mod compare;
pub mod marking;
pub mod marks;
pub mod recorder;
pub mod runs;
pub mod store;

pub use args::{HistoryArgs, MarkArgs};
pub use recorder::{Found, Recorder, Setup};

use crate::exit::Failure;
use crate::report::ReportDest;
use compare::{Kind, State};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Runs of a job the history keeps unless `--keep` says otherwise.
pub const DEFAULT_KEEP: u32 = 30;

/// The operations whose runs compare with an earlier one (`--compare-with`, a job's `compare`).
fn compares(spec: &crate::ops::Spec) -> bool {
    use crate::ops::{check, inventory, usage};
    [inventory::SPEC.name, usage::SPEC.name, check::SPEC.name].contains(&spec.name)
}

/// `run JOB.toml`: the history's flags for the job — the command line's, its `compare` under
/// them, and the job's own key. An operation that does not compare refuses `compare`.
pub fn for_job(
    spec: &crate::ops::Spec,
    job_path: &Path,
    compare: Option<&str>,
    flags: &HistoryArgs,
) -> Result<HistoryArgs, String> {
    if !compares(spec) && (compare.is_some() || flags.compare_with.is_some()) {
        return Err("`compare` is for check-real-name, inventory and usage jobs".into());
    }
    let mut h = flags.clone();
    if h.compare_with.is_none() {
        h.compare_with = compare.map(String::from);
    }
    let path = std::fs::canonicalize(job_path).unwrap_or_else(|_| job_path.to_path_buf());
    h.job = Some(format!("job {}", path.display()));
    Ok(h)
}

/// A card's key in the history: its ICCID as the input rules normalize it, else its id.
pub fn key_of(iccid: Option<&str>, sim_card_id: Option<i64>) -> String {
    match iccid.map(str::trim).filter(|s| !s.is_empty()) {
        Some(i) => i.to_ascii_uppercase(),
        None => format!("id:{}", sim_card_id.unwrap_or_default()),
    }
}

impl State {
    /// What the SIM card list says of a card: its status, stored real-name flag and tags.
    pub fn of_card(c: &crate::gsl::types::SimCard) -> State {
        State {
            sim_status: c.sim_status,
            real_named: c.real_named,
            tags: c.tag_names.clone(),
            ..State::default()
        }
    }

    /// What the usage query says of a card: its flow this cycle.
    pub fn of_usage(u: &crate::gsl::types::FlowUsage) -> State {
        State {
            flow_used: u.flow_used,
            flow_total: u.flow_total,
            ..State::default()
        }
    }
}

/// Which changes turn exit 0 into 5.
#[derive(Debug, Clone, Default)]
pub(crate) enum FailOn {
    #[default]
    Never,
    Any,
    Kinds(Vec<Kind>),
}

pub(crate) fn fail_on(list: &[String]) -> Result<FailOn, Failure> {
    let mut kinds = Vec::new();
    for k in list.iter().map(|k| k.trim()).filter(|k| !k.is_empty()) {
        if k == "any" {
            return Ok(FailOn::Any);
        }
        kinds.push(Kind::parse(k).ok_or_else(|| {
            Failure::usage(format!(
                "--fail-on-change {k}: not a kind of change; one of any, {}",
                Kind::ALL.map(Kind::name).join(", ")
            ))
        })?);
    }
    Ok(match kinds.is_empty() {
        true => FailOn::Never,
        false => FailOn::Kinds(kinds),
    })
}

/// Every kind of change with its count, zeros included: what `summary.json`'s `changes` holds.
pub fn change_counts(counts: &BTreeMap<Kind, u64>) -> BTreeMap<&'static str, u64> {
    Kind::ALL
        .into_iter()
        .map(|k| (k.name(), counts.get(&k).copied().unwrap_or(0)))
        .collect()
}

/// The counts per kind of change a listing left in `NAME.summary.json` beside its report
/// (`None`: no comparison there), for whoever renders them (charts, notifications).
pub fn counts_beside(report: &Path) -> Option<BTreeMap<String, u64>> {
    beside::counts(report)
}

/// A file beside the report: `DIR/NAME.<suffix>`.
pub(crate) fn beside(dest: &ReportDest, suffix: &str) -> Option<PathBuf> {
    match dest {
        ReportDest::Path(p) => Some(beside::path(p, suffix)),
        ReportDest::Stdout(_) => None,
    }
}

pub(crate) fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}
