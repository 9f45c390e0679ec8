//! `follow RUN_DIR [--wait DURATION]`: what a finished run's accepted requests came to
//! ([`crate::run::follow`]); exit 0 all done, 1 something failed or is unknown, 4 still
//! processing.

use crate::cli::FollowArgs;
use crate::exit::Failure;
use crate::journal::Journal;
use crate::logging::LogSettings;
use crate::run::clients::real_client;
use crate::run::follow::{follow, what, FollowRun};
use crate::run::settings::engine_config;
use crate::rundir::RunDir;

pub async fn run(args: FollowArgs, _log: LogSettings) -> Result<i32, Failure> {
    let cfg = engine_config(&args.run)?;
    crate::journal::require_run_dir(&args.run_dir).map_err(Failure::usage)?;
    let rundir = RunDir::lock(&args.run_dir, false)?;
    let dir = rundir.path.clone();
    let mut journal = Journal::open(&dir).map_err(|e| Failure::usage(e.to_string()))?;
    let meta = journal.meta().map_err(|e| Failure::usage(e.to_string()))?;
    what(&dir, &meta)?;
    if meta.rehearsal {
        return Err(Failure::usage(format!(
            "run dir {} is a rehearsal: its simulator ended with the run, there is nothing to follow (rehearse with --follow to follow it)",
            dir.display()
        )));
    }
    let client = real_client(&meta.endpoint, &args.run)?;
    let f = FollowRun {
        dir: &dir,
        meta: &meta,
        client,
        cfg: &cfg,
        report: args.run.report.as_deref(),
        wait: args.wait.map(|w| w.0),
        settle_after: args
            .settle_after
            .map_or(crate::run::follow::DEFAULT_SETTLE_AFTER, |w| w.0),
    };
    follow(&mut journal, f).await
}
