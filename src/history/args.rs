//! The history's flags: on `inventory` and `usage` (and `run`, for a job of theirs), and
//! `usage`'s judging of unusual use. A leaf: the command line's structs flatten these without
//! reaching the history's code.

/// The history's flags, on the commands that leave a snapshot.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct HistoryArgs {
    /// Compare with an earlier run: `previous` (this job's last finished run) or a run dir /
    /// report path. A listing's report gets a `change` column; the changed rows go to
    /// NAME.changes.csv beside the report.
    #[arg(long, value_name = "previous|RUN_DIR")]
    pub compare_with: Option<String>,
    /// Exit 5 when the comparison found a change of these kinds: new, gone, real_named,
    /// sim_status, tags, flow_used, or any.
    #[arg(long, value_name = "KIND,...", value_delimiter = ',')]
    pub fail_on_change: Vec<String>,
    /// Runs of this job the history keeps; older ones are pruned at the end of a run [default: 30].
    #[arg(long, value_name = "N")]
    pub keep: Option<u32>,
    /// Also prune this job's runs finished more than D days ago.
    #[arg(long, value_name = "D")]
    pub keep_days: Option<u32>,
    /// Leave no snapshot in the history (and compare with nothing).
    #[arg(long, conflicts_with_all = ["compare_with", "fail_on_change"])]
    pub no_history: bool,
    /// The job this run belongs to (`run JOB.toml` sets it); otherwise the command's inputs
    /// and filters name it.
    #[arg(skip)]
    pub job: Option<String>,
}

/// `usage`'s judging of each card against its own history.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct MarkArgs {
    /// `spike`: this period's use above this many times the card's median [default: 3].
    #[arg(long, value_name = "F")]
    pub spike_factor: Option<f64>,
    /// The periods (earlier runs of the job) the median is taken over [default: 7].
    #[arg(long, value_name = "K")]
    pub spike_periods: Option<usize>,
    /// `spike` only above this many MB this period [default: 10].
    #[arg(long, value_name = "MB")]
    pub spike_min_mb: Option<f64>,
    /// The top users listed in the marks file [default: 5].
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,
}

/// The history's flags checked before a run sends anything (a run's end is too late for bad
/// usage): the kinds of change named, `--keep`, and `--fail-on-change` without a comparison.
pub fn check(a: &HistoryArgs) -> Result<(), String> {
    use super::compare::Kind;
    let kinds: Vec<&str> = a
        .fail_on_change
        .iter()
        .map(|k| k.trim())
        .filter(|k| !k.is_empty())
        .collect();
    if let Some(k) = kinds
        .iter()
        .find(|k| **k != "any" && Kind::parse(k).is_none())
    {
        return Err(format!(
            "--fail-on-change {k}: not a kind of change; one of any, {}",
            Kind::ALL.map(Kind::name).join(", ")
        ));
    }
    if a.keep == Some(0) || a.keep_days == Some(0) {
        return Err("--keep and --keep-days must be at least 1".into());
    }
    if !kinds.is_empty() && a.compare_with.is_none() && !a.no_history {
        return Err(
            "--fail-on-change needs --compare-with previous|RUN_DIR (or `compare` in the job file)"
                .into(),
        );
    }
    Ok(())
}
