//! `resume RUN_DIR`: carry on with a run from its journal (the input is never read again).

use super::clients::{account_lock, real_client, rehearsal_client_with};
use super::drive::{drive, Drive};
use super::finish::finish;
use super::settings::{engine_config, stored, with_stored};
use crate::cli::ResumeArgs;
use crate::exit::Failure;
use crate::flags::RunOptions;
use crate::journal::{Journal, RunMeta};
use crate::logging::LogSettings;
use crate::model::Status;
use crate::ops::{self, Operation};
use crate::rundir::RunDir;
use std::path::Path;
use std::sync::Arc;

pub async fn resume(args: ResumeArgs, log: LogSettings) -> Result<i32, Failure> {
    if args.resend_unknown && !args.yes {
        return Err(Failure::usage(
            "--resend-unknown sends rows that may already have happened: add --yes to confirm",
        ));
    }
    // The flags are checked before anything is touched, then completed with the run's own.
    engine_config(&args.run)?;
    crate::journal::require_run_dir(&args.run_dir).map_err(Failure::usage)?;
    let rundir = RunDir::lock(&args.run_dir, false)?;
    let mut journal = Journal::open(&rundir.path).map_err(|e| Failure::usage(e.to_string()))?;
    let mut meta = journal.meta().map_err(|e| Failure::usage(e.to_string()))?;
    let mut args = args;
    args.run = with_stored(&args.run, &meta.settings);
    let cfg = engine_config(&args.run)?;
    let op = resumable(&rundir.path, &meta)?;
    keep_settings(&mut journal, &mut meta, &args.run)?;
    if requeue(&mut journal, &meta, op.as_ref(), &args, &rundir.path)? == 0 {
        crate::say!("nothing left to send in {}", rundir.path.display());
        return finish(
            &journal,
            &rundir.path,
            args.run.report.as_deref(),
            None,
            None,
        );
    }
    // Before any request is sent: the ledger (a destructive run never goes on without it).
    let ledger = crate::ledger::sink(op.as_ref(), &meta, &rundir.path)?;
    // Rehearsals touch no real account: no account lock.
    let _account = if op.changes_cards() && !meta.rehearsal {
        Some(account_lock(&args.run, &rundir.path)?)
    } else {
        None
    };
    let (client, simulator) = if meta.rehearsal {
        let keys = journal
            .keys()
            .map_err(|e| Failure::aborted(e.to_string()))?;
        let sim_cfg = (op.spec().rehearsal)(&meta.params, &keys);
        let (sim, c) = rehearsal_client_with(sim_cfg.into(), cfg.rate, &args.run).await?;
        (c, Some(sim))
    } else {
        (real_client(&meta.endpoint, &args.run)?, None)
    };
    drive(Drive {
        rundir,
        journal,
        op,
        client,
        cfg,
        report: args.run.report.clone(),
        log,
        simulator,
        follow: args.follow.map(|w| w.0),
        ledger,
    })
    .await
}

/// The run's operation, if this version can resume it and the run read all its input.
fn resumable(dir: &Path, meta: &RunMeta) -> Result<Arc<dyn Operation>, Failure> {
    let op = ops::from_meta(meta).ok_or_else(|| {
        Failure::usage(format!(
            "run dir {} holds a {} run, which this version cannot resume",
            dir.display(),
            meta.operation
        ))
    })?;
    if meta.total_rows.is_none() {
        return Err(Failure::usage(format!(
            "run dir {} never finished reading its input: nothing was sent; start the job again \
             (the same command and --run-dir read the input from the start)",
            dir.display()
        )));
    }
    Ok(op)
}

/// Values given again replace the stored ones, for this and later resumes.
fn keep_settings(journal: &mut Journal, meta: &mut RunMeta, o: &RunOptions) -> Result<(), Failure> {
    let settings = crate::journal::Settings {
        quota: meta.settings.quota,
        report_encoding: o.report_encoding.or(meta.settings.report_encoding),
        ..stored(o)
    };
    if settings != meta.settings {
        meta.settings = settings;
        journal
            .set_meta(meta)
            .map_err(|e| Failure::aborted(e.to_string()))?;
    }
    Ok(())
}

/// Rows in flight at the last stop settled, failed (`--retry-failed`) and unknown
/// (`--resend-unknown`) rows queued again; the rows now pending.
fn requeue(
    journal: &mut Journal,
    meta: &RunMeta,
    op: &dyn Operation,
    args: &ResumeArgs,
    dir: &Path,
) -> Result<u64, Failure> {
    let e = |e: crate::journal::JournalError| Failure::aborted(e.to_string());
    let settled = journal.settle_inflight(op.idempotent()).map_err(e)?;
    if settled > 0 {
        if op.idempotent() {
            tracing::info!(
                rows = settled,
                "rows in flight at the last stop will be sent again (idempotent)"
            );
        } else {
            tracing::warn!(rows = settled, "rows in flight at the last stop are now unknown: not sent again (see `resume --resend-unknown`)");
        }
    }
    if args.retry_failed {
        let n = journal.requeue(Status::Failed).map_err(e)?;
        tracing::info!(rows = n, "failed rows queued again");
    }
    if args.resend_unknown {
        // The ledger keeps them as maybe done: once the journal holds them `pending` again,
        // it could no longer tell a stop before their resend from a row never sent.
        crate::ledger::hold_unknown(journal, op, meta, dir)?;
        let n = journal.requeue(Status::Unknown).map_err(e)?;
        tracing::warn!(rows = n, "unknown rows queued again (--resend-unknown)");
    }
    Ok(journal
        .counts()
        .map_err(e)?
        .get("pending")
        .copied()
        .unwrap_or(0))
}
