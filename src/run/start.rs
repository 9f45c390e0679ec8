//! Starting a run, the same for every operation that sends: check the options, read the input
//! into a new journal, look up what the operation needs, confirm, lock, drive (see
//! [`crate::run`] for the order of the steps).

use super::clients::{account_lock, real_client, rehearsal_client_with};
use super::confirm::confirm;
use super::drive::{drive, Drive};
pub use super::new_run::NewRun;
use super::new_run::{journal_endpoint, new_meta, one_kind_of_key};
use super::settings::{engine_config, fingerprint, timeout};
use crate::cli::ResumeArgs;
use crate::engine::ingest::{ingest, IngestStats};
use crate::exit::Failure;
use crate::gsl::client;
use crate::input::{InputOptions, Inputs, ReadOptions};
use crate::journal::Journal;
use crate::logging::LogSettings;
use crate::rundir::RunDir;
use std::path::{Path, PathBuf};

/// `runs/<operation>-<local time>` (`-rehearsal` appended for a rehearsal, so that it never
/// shares a real run's directory), with `-2`, `-3`... when a run started in the same second.
fn default_run_dir(op: &str, rehearsal: bool) -> PathBuf {
    let suffix = if rehearsal { REHEARSAL_SUFFIX } else { "" };
    let base = format!("{op}-{}", chrono::Local::now().format("%Y%m%d-%H%M%S"));
    crate::rundir::unused_name(&PathBuf::from("runs").join(base), suffix)
}

/// What a rehearsal's run dir name ends with, unless `--run-dir` names it.
pub const REHEARSAL_SUFFIX: &str = "-rehearsal";

/// An `.xlsx` report holds at most 1,048,575 rows under its header: a longer run is refused
/// before anything is sent, not found out when the report is written at the end.
fn xlsx_fits(report: Option<&str>, rows: u64) -> Result<(), Failure> {
    const XLSX_ROWS: u64 = 1_048_575;
    match report {
        Some(r) if r.to_ascii_lowercase().ends_with(".xlsx") && rows > XLSX_ROWS => {
            Err(Failure::usage(format!(
                "--report {r}: an .xlsx sheet holds at most {XLSX_ROWS} rows and this run has \
                 {rows}: write the report as .csv; nothing was sent"
            )))
        }
        _ => Ok(()),
    }
}

/// An existing run dir: `Some(exit)` when it was this job's and is now resumed; `None` when the
/// last start died while reading its input (start over); `Err` for another job's run dir.
async fn existing(
    run: &NewRun,
    dir: &Path,
    fp: &str,
    log: LogSettings,
) -> Result<Option<i32>, Failure> {
    let meta = Journal::open_read(dir).and_then(|j| j.meta()).ok();
    // A rehearsal and a real run never share a run dir: neither resumes the other.
    match &meta {
        Some(m) if m.rehearsal && !run.args.send.rehearse => {
            return Err(Failure::usage(format!(
                "run dir {} holds a rehearsal (--rehearse), not a real run: a real run never \
                 shares or resumes it; nothing was sent. Pick another --run-dir (a job's \
                 rehearsal uses `<run_dir>{REHEARSAL_SUFFIX}`)",
                dir.display()
            )))
        }
        Some(m) if !m.rehearsal && run.args.send.rehearse => {
            return Err(Failure::usage(format!(
                "run dir {} holds a real run: a rehearsal never shares it; pick another --run-dir",
                dir.display()
            )))
        }
        _ => {}
    }
    let Some(meta) = meta.filter(|m| m.fingerprint == fp) else {
        return Err(Failure::usage(format!(
            "run dir {} already holds a different job's run: carry on with `gslbatch resume {}` or pick another --run-dir",
            dir.display(),
            dir.display()
        )));
    };
    if meta.total_rows.is_none() {
        // Stopped while reading its input: nothing can have been sent (sending starts only
        // after every row is in the journal), so read the input again from scratch.
        let _lock = RunDir::lock(dir, false)?;
        for f in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(dir.join(format!("{}{f}", crate::journal::FILE_NAME)));
        }
        tracing::warn!(run_dir = %dir.display(), "the last start stopped while reading its input (nothing was sent): starting over");
        return Ok(None);
    }
    // A finished run started again (a cron job's second go): nothing to do, exit 0 at once
    // (SPEC). Its own exit code stays in its summary; `status` and `report` show it.
    if run.args.send.follow.is_none() && crate::rundir::holder(dir).is_none() {
        if let Ok(counts) = Journal::open_read(dir).and_then(|j| j.counts()) {
            let open = ["pending", crate::journal::INFLIGHT]
                .iter()
                .any(|s| counts.get(*s).copied().unwrap_or(0) > 0);
            if !open {
                crate::say!(
                    "run dir {} holds this job's finished run: nothing to send (`gslbatch status {}` shows how it ended)",
                    dir.display(),
                    dir.display()
                );
                return Ok(Some(crate::exit::OK));
            }
        }
    }
    let resume = ResumeArgs {
        run_dir: dir.to_path_buf(),
        retry_failed: false,
        resend_unknown: false,
        yes: false,
        follow: run.args.send.follow,
        run: run.args.run.clone(),
    };
    super::resume::resume(resume, log).await.map(Some)
}

pub async fn start(run: NewRun, log: LogSettings) -> Result<i32, Failure> {
    let args = &run.args;
    let cfg = engine_config(&args.run)?;
    timeout(&args.run)?;
    // A dry run sends nothing, so it needs no credentials; the endpoint must still make sense.
    let real = if args.send.rehearse {
        None
    } else if args.send.dry_run {
        client::parse_endpoint(&args.endpoint).map_err(Failure::usage)?;
        None
    } else {
        Some(real_client(&args.endpoint, &args.run)?)
    };
    // Until sending starts a signal ends the run at once (nothing sent), even while an input
    // that has not ended (a FIFO, a pipe) is being opened or read.
    let mut early = Some(super::signals::before_sending());
    let inputs = if args.inputs.is_empty() {
        None
    } else {
        let opts = InputOptions {
            column: args.column.clone(),
            default_column: run.op.spec().default_column,
            sim_card_ids: run.op.spec().by_sim_card_id,
        };
        let reading = ReadOptions {
            encoding: args.input.encoding,
            sheet: args.input.sheet.clone(),
        };
        Some(
            Inputs::open_with(&args.inputs, &opts, &reading)
                .map_err(|e| Failure::usage(e.to_string()))?,
        )
    };
    let shown_endpoint = if args.send.rehearse {
        "the built-in simulator (REHEARSAL)".to_string()
    } else {
        args.endpoint.clone()
    };

    let ledgered = crate::ledger::applies(run.op.as_ref());
    if ledgered && !args.send.again {
        let window = args
            .send
            .again_window
            .map_or(crate::ledger::DEFAULT_AGAIN_WINDOW, |w| w.0);
        crate::ledger::check_window(window, timeout(&args.run)?, cfg.max_attempts)?;
    }

    if args.send.dry_run {
        return super::plan::dry_run(&run, inputs, &shown_endpoint, &cfg).await;
    }

    let endpoint = journal_endpoint(args);
    let mut job_ids = args.inputs.clone();
    job_ids.extend(run.op.identity());
    let fp = fingerprint(run.op.name(), &job_ids, &endpoint);
    let dir = args
        .send
        .run_dir
        .clone()
        .unwrap_or_else(|| default_run_dir(run.op.name(), args.send.rehearse));
    if dir.join(crate::journal::FILE_NAME).exists() {
        // What is in an existing run dir is the engine's to stop (it may send).
        drop(early.take());
        if let Some(code) = existing(&run, &dir, &fp, log).await? {
            return Ok(code);
        }
        early = Some(super::signals::before_sending());
    }
    let created = !dir.exists();
    let rundir = RunDir::lock(&dir, true)?;
    if let Some(early) = &early {
        early.made(&dir, created);
    }
    let cleanup = |why: Failure| {
        if created {
            let _ = std::fs::remove_dir_all(&dir);
        } else {
            for f in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(dir.join(format!("{}{f}", crate::journal::FILE_NAME)));
            }
        }
        why
    };
    let mut meta = new_meta(&run, fp);
    let mut journal =
        Journal::create(&dir, &meta).map_err(|e| cleanup(Failure::usage(e.to_string())))?;
    let stats = match inputs {
        Some(inputs) => {
            let op = run.op.clone();
            let (stats, j) = tokio::task::spawn_blocking(move || {
                let r = ingest(inputs, Some(&mut journal), op.as_ref());
                (r, journal)
            })
            .await
            .expect("ingest thread");
            journal = j;
            let stats = stats.map_err(|e| cleanup(Failure::usage(e.to_string())))?;
            // An empty export, or one without a single valid card, must not look like success
            // to a scheduler: exit 2, nothing sent, no run dir left behind.
            if stats.valid == 0 {
                let first = stats
                    .first_invalid
                    .as_deref()
                    .map(|why| format!("; the first invalid row: {why}"))
                    .unwrap_or_default();
                let names: Vec<&str> = args
                    .inputs
                    .iter()
                    .map(|i| if i == "-" { "stdin" } else { i.as_str() })
                    .collect();
                return Err(cleanup(Failure::usage(format!(
                    "no valid card to send to in {} ({} rows: {} invalid, {} duplicate): nothing was sent{first}",
                    names.join(", "),
                    stats.rows, stats.invalid, stats.duplicate
                ))));
            }
            one_kind_of_key(&run, &stats).map_err(cleanup)?;
            xlsx_fits(args.run.report.as_deref(), stats.rows).map_err(cleanup)?;
            stats
        }
        None => {
            let row = run.op.no_input_row().ok_or_else(|| {
                cleanup(Failure::usage(format!(
                    "{} needs INPUT files",
                    run.op.name()
                )))
            })?;
            journal
                .insert_rows(&[row])
                .map_err(|e| cleanup(Failure::aborted(e.to_string())))?;
            IngestStats {
                rows: 1,
                batches: 1,
                ..IngestStats::default()
            }
        }
    };
    meta.extra_columns = stats.extra_columns.clone();
    meta.total_rows = Some(stats.rows);

    let (client, simulator) = match real {
        Some(c) => (c, None),
        None => {
            let keys = journal
                .keys()
                .map_err(|e| cleanup(Failure::aborted(e.to_string())))?;
            let sim_cfg = (run.op.spec().rehearsal)(&meta.params, &keys);
            let (sim, c) = rehearsal_client_with(sim_cfg.into(), cfg.rate, &args.run)
                .await
                .map_err(cleanup)?;
            (c, Some(sim))
        }
    };
    let sendable = stats.valid > 0 || (run.op.no_input_row().is_some() && args.inputs.is_empty());
    if sendable {
        run.op
            .prepare(&client, cfg.max_attempts)
            .await
            .map_err(|e| cleanup(Failure::usage(format!("{e}: nothing was sent"))))?;
        meta.params = run.op.params();
    }
    journal
        .set_meta(&meta)
        .map_err(|e| cleanup(Failure::aborted(e.to_string())))?;
    // The account ledger: cards an earlier run did are skipped, before anything is confirmed.
    let mut ledger = None;
    let mut looked = crate::ledger::Looked::default();
    let mut ledger_path = PathBuf::new();
    if ledgered {
        let mut l = crate::ledger::open(&meta).map_err(cleanup)?;
        ledger_path = l.path().to_path_buf();
        let key = crate::ledger::key(run.op.as_ref(), &meta, &dir);
        crate::ledger::learn_from_input(&journal, &meta, &mut l).map_err(cleanup)?;
        let calls = crate::ledger::resolve_ids(
            &journal,
            &mut l,
            &key,
            &client,
            crate::ledger::LIST_RATE,
            cfg.max_attempts,
        )
        .await
        .map_err(cleanup)?;
        if calls > 0 {
            crate::say!(
                "matched this run's cards with earlier runs' through the card list: {calls} {}",
                if calls == 1 { "call" } else { "calls" }
            );
        }
        looked = crate::ledger::skip_done(&mut journal, &l, &key).map_err(cleanup)?;
        {
            let calls =
                crate::ledger::match_orders(&mut journal, &l, &key, &client, cfg.max_attempts)
                    .await
                    .map_err(cleanup)?;
            let counts = journal
                .counts()
                .map_err(|e| cleanup(Failure::aborted(e.to_string())))?;
            looked.skipped = counts.get("skipped").copied().unwrap_or(0);
            if calls > 0 {
                crate::say!(
                    "matched this send with earlier sends of the text to whole orders or their cids through the card list: {calls} {}",
                    if calls == 1 { "call" } else { "calls" }
                );
            }
        }
        ledger = Some(crate::ledger::LedgerSink {
            ledger: l,
            run: key,
        });
    }
    let skipped = looked.skipped;
    if skipped > 0 {
        tracing::warn!(
            cards = skipped,
            "{}",
            crate::ledger::skipped_note(&looked, meta.rehearsal, &ledger_path)
        );
    }
    let to_send = stats.valid - skipped.min(stats.valid);
    if sendable && run.op.changes_cards() && (to_send > 0 || (stats.valid == 0 && skipped == 0)) {
        let mut skip_note = if skipped > 0 {
            format!(" ({skipped} more skipped: an earlier run did them)")
        } else {
            String::new()
        };
        if let Some(note) = crate::ledger::again_note(&looked, &meta) {
            skip_note.push_str(&format!(" ({note})"));
        }
        if ledgered && args.send.again {
            skip_note.push_str(" (--again: cards earlier runs did are acted on again)");
        }
        let q = format!(
            "about to {}{skip_note}{} via {shown_endpoint}",
            run.op.describe(to_send, stats.batches),
            super::plan::carrier_note(&run, &stats)
        );
        confirm(&q, args.send.yes).map_err(cleanup)?;
    }
    // Rehearsals touch no real account, so they take no account lock.
    let _account = if run.op.changes_cards() && !args.send.rehearse {
        Some(account_lock(&args.run, &dir).map_err(cleanup)?)
    } else {
        None
    };
    if let Some(early) = early {
        early.disarm();
    }
    drive(Drive {
        rundir,
        journal,
        op: run.op.clone(),
        client,
        cfg,
        report: args.run.report.clone(),
        log,
        simulator,
        follow: args.send.follow.map(|w| w.0),
        ledger,
    })
    .await
}
