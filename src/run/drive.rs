//! Drive a run whose journal is ready: engine, progress, then report, summary and exit code.
//!
//! Shared by a fresh batch and by `resume`, so both end the same way: the report and
//! `summary.json` rendered from the journal at every exit, the summary on stderr.

use super::finish::finish;
use super::progress;
use crate::engine::{self, Counters, EngineConfig, Stop};
use crate::exit::{self, Failure};
use crate::gsl::Client;
use crate::journal::Journal;
use crate::logging::LogSettings;
use crate::ops::Operation;
use crate::rundir::RunDir;
use crate::simulator::Simulator;
use std::path::Path;
use std::sync::Arc;

pub struct Drive {
    pub rundir: RunDir,
    pub journal: Journal,
    pub op: Arc<dyn Operation>,
    pub client: Client,
    pub cfg: EngineConfig,
    pub report: Option<String>,
    pub log: LogSettings,
    /// The rehearsal's in-process simulator, kept alive for the run (and its follow).
    pub simulator: Option<Simulator>,
    /// `--follow`: once every row was worked through, follow the outcomes for at most this
    /// long and exit with follow's code.
    pub follow: Option<std::time::Duration>,
    /// The account ledger a destructive run writes every intent and outcome to.
    pub ledger: Option<crate::ledger::LedgerSink>,
}

pub async fn drive(d: Drive) -> Result<i32, Failure> {
    let counters = Arc::new(Counters::default());
    let progress = announce(&d, counters.clone())?;
    super::signals::render_on_second_signal(&d.rundir.path, d.report.as_deref());
    let (stop, journal) = engine::run(
        d.op.clone(),
        d.client.clone(),
        d.journal,
        d.cfg.clone(),
        counters.clone(),
        d.ledger,
        super::signals::shutdown("`gslbatch resume` carries on"),
    )
    .await;
    progress.finish();
    let mut journal = match journal {
        Ok(j) => j,
        Err(msg) => {
            return writer_failed(msg, &d.rundir.path, d.report.as_deref(), d.simulator).await
        }
    };
    keep_quota(&mut journal, &counters, &d.cfg);
    say_why_stopped(&stop, &d.rundir.path);
    let (dir, report) = (&d.rundir.path, d.report.as_deref());
    let code = finish(&journal, dir, report, Some(&stop), d.op.history());
    let follows = d.op.spec().follow != crate::ops::Follow::None;
    let code = match (code, d.follow) {
        (Ok(c), Some(wait)) if stop == Stop::Finished && follows => {
            follow_on(
                &mut journal,
                &d.rundir.path,
                &d.client,
                &d.cfg,
                d.report.as_deref(),
                wait,
            )
            .await
            .map(|fc| {
                // Rows the API refused were not carried out either: a follow that finds
                // every accepted row done still exits 1 then, so a scheduler is never
                // told "success".
                if c == exit::ROWS_FAILED {
                    exit::ROWS_FAILED
                } else {
                    fc
                }
            })
        }
        (code, _) => code,
    };
    if let Some(sim) = d.simulator {
        sim.shutdown().await;
    }
    code
}

/// The progress display started (with the rows done by earlier processes) and the start
/// logged.
fn announce(d: &Drive, counters: Arc<Counters>) -> Result<progress::Progress, Failure> {
    let counts = d
        .journal
        .counts()
        .map_err(|e| Failure::aborted(e.to_string()))?;
    let todo = counts.get("pending").copied().unwrap_or(0);
    let total: u64 = counts.values().sum();
    let n = |s: &str| counts.get(s).copied().unwrap_or(0);
    let earlier = progress::Earlier {
        ok: n("ok"),
        failed: n("failed"),
        unknown: n("unknown"),
    };
    let progress = progress::start(d.log, counters, total - todo, todo, earlier);
    tracing::info!(
        operation = d.op.name(),
        run_dir = %d.rundir.path.display(),
        endpoint = %d.client.endpoint(),
        // The input's rows, and of them the ones to send (not invalid, duplicate or done).
        rows = total,
        to_send = todo,
        rate = d.cfg.rate,
        auto_rate = d.cfg.auto_rate,
        concurrency = d.cfg.concurrency,
        "starting"
    );
    Ok(progress)
}

/// The journal's writer failed: render what the journal holds, from a fresh connection, and
/// say what to do.
async fn writer_failed(
    msg: String,
    dir: &Path,
    report: Option<&str>,
    simulator: Option<Simulator>,
) -> Result<i32, Failure> {
    if let Some(sim) = simulator {
        sim.shutdown().await;
    }
    let j = Journal::open_read(dir).map_err(|e| Failure::aborted(e.to_string()))?;
    let _ = finish(
        &j,
        dir,
        report,
        Some(&Stop::JournalFailed(msg.clone())),
        None,
    );
    Err(Failure::aborted(format!(
        "{msg}; sending stopped. Free space or fix the disk, then `gslbatch resume {}`",
        dir.display()
    )))
}

/// A 429 named the real quota: `resume` carries on at it, and the summary says so.
fn keep_quota(journal: &mut Journal, counters: &Counters, cfg: &EngineConfig) {
    let quota = counters
        .quota_milli
        .load(std::sync::atomic::Ordering::Relaxed) as f64
        / 1000.0;
    if quota > 0.0 && (quota < cfg.rate || cfg.auto_rate) {
        if let Ok(mut meta) = journal.meta() {
            meta.settings.quota = Some(quota);
            meta.settings.rate = Some(crate::model::Rate::PerSecond(quota));
            if let Err(e) = journal.set_meta(&meta) {
                tracing::warn!("the quota found is not kept for resume: {e}");
            }
        }
    }
}

/// Why the engine stopped early, and the command that carries on.
fn say_why_stopped(stop: &Stop, dir: &Path) {
    match (stop, stop.reason()) {
        (Stop::Finished, _) | (_, None) => {}
        (Stop::Interrupted, _) => tracing::warn!(
            "interrupted: in-flight requests finished; carry on with `gslbatch resume {}`",
            dir.display()
        ),
        (_, Some(m)) => tracing::error!(
            "aborted: {m}; the rest of the rows are pending; carry on with `gslbatch resume {}`",
            dir.display()
        ),
    }
}

/// `--follow`: the outcomes followed for at most `wait` once every row was worked through;
/// follow's exit code.
async fn follow_on(
    journal: &mut Journal,
    dir: &Path,
    client: &Client,
    cfg: &EngineConfig,
    report: Option<&str>,
    wait: std::time::Duration,
) -> Result<i32, Failure> {
    let meta = journal
        .meta()
        .map_err(|e| Failure::aborted(e.to_string()))?;
    let f = super::follow::FollowRun {
        dir,
        meta: &meta,
        client: client.clone(),
        cfg,
        report,
        wait: Some(wait),
        settle_after: super::follow::DEFAULT_SETTLE_AFTER,
    };
    tracing::info!("following the outcomes (--follow)");
    super::follow::follow(journal, f).await
}
