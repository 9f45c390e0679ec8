//! Starting a run, the same for every operation that sends: check the options, read the input
//! into a new journal, look up what the operation needs, confirm, lock, drive (see
//! [`crate::run`] for the order of the steps).

use super::clients::{account_lock, real_client, rehearsal_client_with};
use super::confirm::confirm;
use super::drive::{drive, Drive};
use super::settings::{engine_config, fingerprint, human_duration, timeout};
use crate::carrier::Carrier;
use crate::cli::{BatchArgs, ResumeArgs};
use crate::engine::ingest::{ingest, IngestStats};
use crate::engine::EngineConfig;
use crate::exit::Failure;
use crate::gsl::client;
use crate::input::{InputOptions, Inputs};
use crate::journal::{Journal, RunMeta};
use crate::logging::LogSettings;
use crate::ops::Operation;
use crate::rundir::RunDir;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A run about to start: the operation with its parameters, and the common flags (inputs,
/// endpoint, rehearse, run dir, column, dry run, yes, options).
pub struct NewRun {
    pub op: Arc<dyn Operation>,
    pub args: BatchArgs,
}

/// `runs/<operation>-<local time>` (`-rehearsal` appended for a rehearsal, so that it never
/// shares a real run's directory), with `-2`, `-3`... when a run started in the same second.
fn default_run_dir(op: &str, rehearsal: bool) -> PathBuf {
    let suffix = if rehearsal { REHEARSAL_SUFFIX } else { "" };
    let base = format!("{op}-{}", chrono::Local::now().format("%Y%m%d-%H%M%S"));
    let mut dir = PathBuf::from("runs").join(format!("{base}{suffix}"));
    let mut n = 2;
    while dir.exists() && n < 10_000 {
        dir = PathBuf::from("runs").join(format!("{base}-{n}{suffix}"));
        n += 1;
    }
    dir
}

/// What a rehearsal's run dir name ends with, unless `--run-dir` names it.
pub const REHEARSAL_SUFFIX: &str = "-rehearsal";

/// Cards named both by ICCID and by `sim_card_id` in one run are refused (exit 2) where it
/// matters: duplicates are found per kind of key, so a card named both ways would get two calls,
/// which a non-idempotent operation must never make; and a batch call names its cards one way.
fn one_kind_of_key(run: &NewRun, stats: &IngestStats) -> Result<(), Failure> {
    let mixed = stats.by_id > 0 && stats.by_id < stats.valid;
    let why = if !run.op.idempotent() {
        "a card named both ways would get two calls, which must never happen"
    } else if run.op.batch_size().is_some() {
        "a batch call names its cards one way"
    } else {
        return Ok(());
    };
    if !mixed {
        return Ok(());
    }
    Err(Failure::usage(format!(
        "the input names {} cards by ICCID and {} by sim_card_id, and for {}: {why}; name every \
         card one way (one run per kind): nothing was sent",
        stats.valid - stats.by_id,
        stats.by_id,
        run.op.name()
    )))
}

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

fn plan_text(
    run: &NewRun,
    stats: &IngestStats,
    skipped: u64,
    endpoint: &str,
    cfg: &EngineConfig,
) -> String {
    let to_send = stats.valid - skipped.min(stats.valid);
    // A run without input (an SMS to a whole order) is one call for its one row.
    let whole = run.args.inputs.is_empty() && run.op.no_input_row().is_some();
    let calls = if whole {
        stats.batches.saturating_sub(skipped)
    } else if run.op.batch_size().is_some() {
        stats.batches
    } else {
        to_send
    };
    let rate = if cfg.auto_rate {
        format!(
            "auto (from {}/s, rising until a 429 names the quota)",
            cfg.rate
        )
    } else {
        format!("{}/s", cfg.rate)
    };
    let at = if cfg.auto_rate { "at most" } else { "at least" };
    let secs = calls as f64 / cfg.rate;
    let expected = match secs < 1.0 {
        true => "under a second".to_string(),
        false => format!("{} {at}", human_duration(secs)),
    };
    // The whole-order run's one row is the order, not a card of an input.
    let rows = match whole {
        true => "no input: the whole order in one call".to_string(),
        false => format!(
            "{} (valid {}, invalid {}, duplicate {})",
            stats.rows, stats.valid, stats.invalid, stats.duplicate
        ),
    };
    format!(
        "plan: {op}{reh}\n  endpoint:    {endpoint}\n  what:        {what}\n  rows:        {rows}\n  calls:       {calls} x {ep}\n  rate:        {rate}, concurrency {conc}\n  expected:    {expected}\n",
        op = run.op.name(),
        reh = if run.args.send.rehearse { " (REHEARSAL against the built-in simulator)" } else { "" },
        what = run.op.describe(to_send, stats.batches) + &carrier_note(run, stats),
        ep = plan_endpoint(run.op.spec().endpoint, stats.by_id > 0),
        conc = cfg.concurrency,
    )
}

/// The API a plan names; its `0` in `/v1/sim-cards/0/...` said: GSL's way to name the card by
/// its ICCID instead of its id (SPEC: "`iccid` is used when `sim_card_id` is 0").
fn plan_endpoint(ep: &str, by_id: bool) -> String {
    match (ep.contains("/sim-cards/0/"), by_id) {
        (true, false) => format!("{ep} (sim_card_id 0: each card named by its ICCID)"),
        (true, true) => format!("{ep} (each card's sim_card_id in place of the 0)"),
        _ => ep.to_string(),
    }
}

/// For an operation on one carrier's cards: how many of the input's cards are of another, by
/// their ICCID prefix (GSL refuses those), e.g. ` (6 of the input's cards are not China
/// Telecom by ICCID prefix: GSL refuses those)`.
fn carrier_note(run: &NewRun, stats: &IngestStats) -> String {
    let mut refused: Vec<(Carrier, u64)> = stats
        .carriers
        .iter()
        .filter(|(c, _)| run.op.refuses_carrier(**c))
        .map(|(c, n)| (*c, *n))
        .collect();
    let other: u64 = refused.iter().map(|(_, n)| n).sum();
    if other == 0 {
        return String::new();
    }
    refused.sort_by_key(|(c, n)| (std::cmp::Reverse(*n), c.name()));
    let names: Vec<&str> = refused.iter().map(|(c, _)| c.name()).collect();
    format!(
        " ({} of the input's {} {})",
        other,
        if other == 1 { "cards is" } else { "cards are" },
        run.op.refused_carrier_words(&names.join(", "))
    )
}

/// The endpoint a run's journal (and ledger) names: `rehearsal` for a rehearsal.
fn journal_endpoint(args: &BatchArgs) -> String {
    if args.send.rehearse {
        "rehearsal".to_string()
    } else {
        args.endpoint.clone()
    }
}

/// The settings a new run's journal starts with (its input not read yet).
fn new_meta(run: &NewRun, fingerprint: String) -> RunMeta {
    let args = &run.args;
    RunMeta {
        operation: run.op.name().to_string(),
        endpoint: journal_endpoint(args),
        inputs: args.inputs.clone(),
        extra_columns: vec![],
        rehearsal: args.send.rehearse,
        created_at: chrono::Local::now().to_rfc3339(),
        fingerprint,
        params: run.op.params(),
        total_rows: None,
        settings: crate::journal::Settings {
            report_encoding: Some(
                args.run
                    .report_encoding
                    .unwrap_or_else(|| crate::report::encoding::for_inputs(&args.inputs)),
            ),
            ..super::settings::stored(&args.run)
        },
        run_id: Some(crate::journal::new_run_id()),
        again: args.send.again,
        again_window_secs: args.send.again_window.map(|w| w.0.as_secs()),
    }
}

/// A dry run's view of the account ledger: the input read into a throwaway journal, and how
/// many of its cards a real start would skip (or act on again, past the window).
async fn plan_with_ledger(
    run: &NewRun,
    inputs: Inputs,
) -> Result<(IngestStats, crate::ledger::Looked), Failure> {
    let tmp = std::env::temp_dir().join(format!(
        "gslbatch-plan-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    crate::rundir::create_private_dir(&tmp)
        .map_err(|e| Failure::usage(format!("cannot create {}: {e}", tmp.display())))?;
    let result = async {
        let args = &run.args;
        let meta = new_meta(run, String::new());
        let mut journal =
            Journal::create(&tmp, &meta).map_err(|e| Failure::usage(e.to_string()))?;
        let op = run.op.clone();
        let (stats, mut journal) = tokio::task::spawn_blocking(move || {
            let r = ingest(inputs, Some(&mut journal), op.as_ref());
            (r, journal)
        })
        .await
        .expect("ingest thread");
        let stats = stats.map_err(|e| Failure::usage(e.to_string()))?;
        let ledger = crate::ledger::open(&meta)?;
        let dir = args
            .send
            .run_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("(new run)"));
        let key = crate::ledger::key(run.op.as_ref(), &meta, &dir);
        let mut looked = crate::ledger::skip_done(&mut journal, &ledger, &key)?;
        looked.unresolved = crate::ledger::unresolved(&journal, &ledger, &key)?;
        Ok((stats, looked))
    }
    .await;
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

/// A dry run's view of the account ledger for a send to a whole order: one act, skipped when
/// an earlier run sent the same text to the order within the window.
fn whole_order_looked(run: &NewRun) -> Result<crate::ledger::Looked, Failure> {
    let meta = new_meta(run, String::new());
    let ledger = crate::ledger::open(&meta)?;
    let key = crate::ledger::key(run.op.as_ref(), &meta, Path::new("(new run)"));
    let act = crate::ledger::CardAct {
        row: 1,
        card: String::new(),
        arg: String::new(),
    };
    let earlier = ledger
        .earlier(&key, &act)
        .map_err(|e| Failure::usage(format!("{e}: nothing was sent")))?;
    Ok(crate::ledger::Looked {
        skipped: u64::from(earlier.is_some()),
        ..Default::default()
    })
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
        Some(Inputs::open(&args.inputs, &opts).map_err(|e| Failure::usage(e.to_string()))?)
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
        let mut looked = crate::ledger::Looked::default();
        let stats = match inputs {
            Some(inputs) if ledgered => {
                let (stats, l) = plan_with_ledger(&run, inputs).await?;
                looked = l;
                stats
            }
            Some(inputs) => {
                let op = run.op.clone();
                tokio::task::spawn_blocking(move || ingest(inputs, None, op.as_ref()))
                    .await
                    .expect("ingest thread")
                    .map_err(|e| Failure::usage(e.to_string()))?
            }
            None => {
                if ledgered {
                    looked = whole_order_looked(&run)?;
                }
                IngestStats {
                    rows: 1,
                    valid: 0,
                    batches: 1,
                    ..IngestStats::default()
                }
            }
        };
        one_kind_of_key(&run, &stats)?;
        let skipped = looked.skipped;
        crate::out!(
            "{}",
            plan_text(&run, &stats, skipped, &shown_endpoint, &cfg).trim_end()
        );
        let whole = args.inputs.is_empty() && run.op.no_input_row().is_some();
        if skipped > 0 && whole {
            crate::out!(
                "  skipped:     the whole order: an earlier run already sent it this text (or may have): not sent (--again sends it)"
            );
        } else if skipped > 0 {
            crate::out!(
                "  skipped:     {skipped} cards an earlier run already did (or may have): not sent (--again sends them)"
            );
        }
        if let Some(note) = crate::ledger::again_note(&looked, &new_meta(&run, String::new())) {
            crate::out!("  again:       {note}");
        }
        if ledgered && args.send.again {
            crate::out!("  again:       --again: cards earlier runs did are acted on again");
        }
        if looked.unresolved > 0 {
            crate::out!(
                "  match:       {} acts of earlier runs name their cards by the other id: a start reads the card list (500 cards a call, at 1/s) to match them before confirming",
                looked.unresolved
            );
        }
        crate::out!("nothing was sent (--dry-run)");
        return Ok(crate::exit::OK);
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
            let (sim, c) = rehearsal_client_with(sim_cfg, cfg.rate, &args.run)
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
    if sendable && run.op.destructive() && (to_send > 0 || (stats.valid == 0 && skipped == 0)) {
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
            carrier_note(&run, &stats)
        );
        confirm(&q, args.send.yes).map_err(cleanup)?;
    }
    // Rehearsals touch no real account, so they take no account lock.
    let _account = if run.op.destructive() && !args.send.rehearse {
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
