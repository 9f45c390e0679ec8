//! Starting a run, the same for every operation that sends, as a sequence of named steps:
//! [`start`] reads as the order they take — the options, the inputs opened, the dry-run plan or
//! the run dir, the input into a new journal, the client, the operation's lookups, the account
//! ledger, the confirmation, the account lock, then [`drive`]. Every step after the run dir was
//! made undoes it on failure (`NewDir::undo`): nothing was sent, nothing is left behind.

use super::clients::{account_lock, real_client, rehearsal_client_with};
use super::confirm::confirm;
use super::drive::{drive, Drive};
pub use super::new_run::NewRun;
use super::new_run::{journal_endpoint, new_meta, one_kind_of_key};
use super::settings::{engine_config, fingerprint, timeout};
use super::signals::BeforeSending;
use crate::cli::ResumeArgs;
use crate::engine::EngineConfig;
use crate::exit::Failure;
use crate::gsl::{client, Client};
use crate::input::{InputOptions, Inputs, ReadOptions};
use crate::journal::ingest::{ingest, IngestStats};
use crate::journal::{Journal, RunMeta};
use crate::ledger::{LedgerSink, Looked};
use crate::lock::AccountLock;
use crate::logging::LogSettings;
use crate::rundir::RunDir;
use crate::simulator::Simulator;
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
        remove_journal(dir);
        tracing::warn!(run_dir = %dir.display(), "the last start stopped while reading its input (nothing was sent): starting over");
        return Ok(None);
    }
    // A finished run started again (a cron job's second go): nothing to do, exit 0 at once.
    // Its own exit code stays in its summary; `status` and `report` show it.
    if run.args.send.follow.is_none() && finished(dir) {
        crate::say!(
            "run dir {} holds this job's finished run: nothing to send (`gslbatch status {}` shows how it ended)",
            dir.display(),
            dir.display()
        );
        return Ok(Some(crate::exit::OK));
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

/// No process drives the run in `dir` and none of its rows is left to send.
fn finished(dir: &Path) -> bool {
    if crate::rundir::holder(dir).is_some() {
        return false;
    }
    let Ok(counts) = Journal::open_read(dir).and_then(|j| j.counts()) else {
        return false;
    };
    !["pending", crate::journal::INFLIGHT]
        .iter()
        .any(|s| counts.get(*s).copied().unwrap_or(0) > 0)
}

/// Start `run`: the steps in their order; see each for what it checks.
pub async fn start(run: NewRun, log: LogSettings) -> Result<i32, Failure> {
    let (cfg, real) = check_options(&run)?;
    // Until sending starts a signal ends the run at once (nothing sent), even while an input
    // that has not ended (a FIFO, a pipe) is being opened or read.
    let mut early = Some(super::signals::before_sending());
    let inputs = open_inputs(&run)?;
    check_again_window(&run, &cfg)?;
    if run.args.send.dry_run {
        return super::plan::dry_run(&run, inputs, &shown_endpoint(&run), &cfg).await;
    }
    let dir = match prepare_run_dir(&run, &mut early, log).await? {
        RunDirFor::Resumed(code) => return Ok(code),
        RunDirFor::New(dir) => dir,
    };
    let ready = match before_sending(&run, &dir, inputs, real, &cfg).await {
        Ok(ready) => ready,
        Err(why) => return Err(dir.undo(why)),
    };
    if let Some(early) = early {
        early.disarm();
    }
    let _account = ready.account;
    drive(Drive {
        rundir: dir.lock,
        journal: ready.journal,
        op: run.op.clone(),
        client: ready.client,
        cfg,
        report: run.args.run.report.clone(),
        log,
        simulator: ready.simulator,
        follow: run.args.send.follow.map(|w| w.0),
        ledger: ready.ledger,
    })
    .await
}

/// The settings and, for a real run, its client (exit 2 before anything is created). A dry
/// run sends nothing, so it needs no credentials; its endpoint must still make sense. A
/// rehearsal's client is made once its input is read ([`make_client`]).
fn check_options(run: &NewRun) -> Result<(EngineConfig, Option<Client>), Failure> {
    let args = &run.args;
    let cfg = engine_config(&args.run)?;
    timeout(&args.run)?;
    let real = if args.send.rehearse {
        None
    } else if args.send.dry_run {
        client::parse_endpoint(&args.endpoint).map_err(Failure::usage)?;
        None
    } else {
        Some(real_client(&args.endpoint, &args.run)?)
    };
    Ok((cfg, real))
}

/// The INPUT files opened (not read yet); `None` for a run without input.
fn open_inputs(run: &NewRun) -> Result<Option<Inputs>, Failure> {
    let args = &run.args;
    if args.inputs.is_empty() {
        return Ok(None);
    }
    let opts = InputOptions {
        column: args.column.clone(),
        default_column: run.op.spec().default_column,
        sim_card_ids: run.op.spec().by_sim_card_id,
    };
    let reading = ReadOptions {
        encoding: args.input.encoding,
        sheet: args.input.sheet.clone(),
    };
    Inputs::open_with(&args.inputs, &opts, &reading)
        .map(Some)
        .map_err(|e| Failure::usage(e.to_string()))
}

/// A run the account ledger applies to refuses an `--again-window` shorter than a request can
/// take to be answered (see [`crate::ledger::check_window`]).
fn check_again_window(run: &NewRun, cfg: &EngineConfig) -> Result<(), Failure> {
    let send = &run.args.send;
    if !crate::ledger::applies(run.op.as_ref()) || send.again {
        return Ok(());
    }
    let window = send
        .again_window
        .map_or(crate::ledger::DEFAULT_AGAIN_WINDOW, |w| w.0);
    crate::ledger::check_window(window, timeout(&run.args.run)?, cfg.max_attempts)
}

/// The endpoint the plan and the confirmation name.
fn shown_endpoint(run: &NewRun) -> String {
    match run.args.send.rehearse {
        true => "the built-in simulator (REHEARSAL)".to_string(),
        false => run.args.endpoint.clone(),
    }
}

/// What [`prepare_run_dir`] found: the run dir held this job's run, now resumed (its exit
/// code), or is new (or started over) and locked.
enum RunDirFor {
    Resumed(i32),
    New(NewDir),
}

/// A new run's directory, locked, and the fingerprint its journal will carry.
struct NewDir {
    path: PathBuf,
    /// The directory did not exist before this start (undo removes it whole).
    created: bool,
    lock: RunDir,
    fingerprint: String,
}

impl NewDir {
    /// Undo what this start made (the directory it created, or the journal it wrote into an
    /// existing one): nothing was sent. Returns `why`, for `Err(dir.undo(why))`.
    fn undo(&self, why: Failure) -> Failure {
        if self.created {
            let _ = std::fs::remove_dir_all(&self.path);
        } else {
            remove_journal(&self.path);
        }
        why
    }
}

/// Remove a journal and its SQLite side files.
fn remove_journal(dir: &Path) {
    for f in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.join(format!("{}{f}", crate::journal::FILE_NAME)));
    }
}

/// The run dir: `--run-dir` or a new one under `runs/`. One that holds this job's run resumes
/// it ([`existing`]: the engine's to stop, so the early signal handler is set aside meanwhile).
async fn prepare_run_dir(
    run: &NewRun,
    early: &mut Option<BeforeSending>,
    log: LogSettings,
) -> Result<RunDirFor, Failure> {
    let args = &run.args;
    let mut job_ids = args.inputs.clone();
    job_ids.extend(run.op.identity());
    let fingerprint = fingerprint(run.op.name(), &job_ids, &journal_endpoint(args));
    let path = args
        .send
        .run_dir
        .clone()
        .unwrap_or_else(|| default_run_dir(run.op.name(), args.send.rehearse));
    if path.join(crate::journal::FILE_NAME).exists() {
        drop(early.take());
        if let Some(code) = existing(run, &path, &fingerprint, log).await? {
            return Ok(RunDirFor::Resumed(code));
        }
        *early = Some(super::signals::before_sending());
    }
    let created = !path.exists();
    let lock = RunDir::lock(&path, true)?;
    if let Some(early) = early {
        early.made(&path, created);
    }
    Ok(RunDirFor::New(NewDir {
        path,
        created,
        lock,
        fingerprint,
    }))
}

/// A start past its confirmation, ready to drive.
struct Ready {
    journal: Journal,
    client: Client,
    simulator: Option<Simulator>,
    ledger: Option<LedgerSink>,
    /// Held until the run ends (destructive real runs only).
    account: Option<AccountLock>,
}

/// The steps between a new run dir and the first request; on `Err` the caller undoes the dir.
async fn before_sending(
    run: &NewRun,
    dir: &NewDir,
    inputs: Option<Inputs>,
    real: Option<Client>,
    cfg: &EngineConfig,
) -> Result<Ready, Failure> {
    let (mut journal, mut meta, stats) = ingest_inputs(run, dir, inputs).await?;
    let (client, simulator) = make_client(run, real, &journal, &meta, cfg).await?;
    let sendable =
        stats.valid > 0 || (run.op.no_input_row().is_some() && run.args.inputs.is_empty());
    prepare_operation(run, &mut journal, &mut meta, &client, cfg, sendable).await?;
    let (ledger, looked) = skip_earlier(run, &mut journal, &meta, &dir.path, &client, cfg).await?;
    if sendable && run.op.changes_cards() {
        confirm_start(run, &stats, &looked, &meta)?;
    }
    // Rehearsals touch no real account, so they take no account lock.
    let account = match run.op.changes_cards() && !run.args.send.rehearse {
        true => Some(account_lock(&run.args.run, &dir.path)?),
        false => None,
    };
    Ok(Ready {
        journal,
        client,
        simulator,
        ledger,
        account,
    })
}

/// The new journal with the input's rows (or the one row of a run without input), and its
/// settings with the row count and the input's extra columns.
async fn ingest_inputs(
    run: &NewRun,
    dir: &NewDir,
    inputs: Option<Inputs>,
) -> Result<(Journal, RunMeta, IngestStats), Failure> {
    let mut meta = new_meta(run, dir.fingerprint.clone());
    let mut journal =
        Journal::create(&dir.path, &meta).map_err(|e| Failure::usage(e.to_string()))?;
    let stats = match inputs {
        Some(inputs) => {
            let (j, stats) = read_inputs(run, journal, inputs).await?;
            journal = j;
            stats
        }
        None => no_input_row(run, &mut journal)?,
    };
    meta.extra_columns = stats.extra_columns.clone();
    meta.total_rows = Some(stats.rows);
    Ok((journal, meta, stats))
}

/// Every input row into the journal (on a blocking thread), then the checks on what was read.
async fn read_inputs(
    run: &NewRun,
    mut journal: Journal,
    inputs: Inputs,
) -> Result<(Journal, IngestStats), Failure> {
    let op = run.op.clone();
    let (stats, journal) = tokio::task::spawn_blocking(move || {
        let r = ingest(inputs, Some(&mut journal), op.as_ref());
        (r, journal)
    })
    .await
    .expect("ingest thread");
    let stats = stats.map_err(|e| Failure::usage(e.to_string()))?;
    // An empty export, or one without a single valid card, must not look like success to a
    // scheduler: exit 2, nothing sent, no run dir left behind.
    if stats.valid == 0 {
        return Err(no_valid_card(run, &stats));
    }
    one_kind_of_key(run, &stats)?;
    xlsx_fits(run.args.run.report.as_deref(), stats.rows)?;
    Ok((journal, stats))
}

/// Why an input without a single valid card is refused, naming the first invalid row.
fn no_valid_card(run: &NewRun, stats: &IngestStats) -> Failure {
    let first = stats
        .first_invalid
        .as_deref()
        .map(|why| format!("; the first invalid row: {why}"))
        .unwrap_or_default();
    let names: Vec<&str> = run
        .args
        .inputs
        .iter()
        .map(|i| if i == "-" { "stdin" } else { i.as_str() })
        .collect();
    Failure::usage(format!(
        "no valid card to send to in {} ({} rows: {} invalid, {} duplicate): nothing was sent{first}",
        names.join(", "),
        stats.rows,
        stats.invalid,
        stats.duplicate
    ))
}

/// A run without input (an SMS to a whole order) has one row: what its parameters select.
fn no_input_row(run: &NewRun, journal: &mut Journal) -> Result<IngestStats, Failure> {
    let row = run
        .op
        .no_input_row()
        .ok_or_else(|| Failure::usage(format!("{} needs INPUT files", run.op.name())))?;
    journal
        .insert_rows(&[row])
        .map_err(|e| Failure::aborted(e.to_string()))?;
    Ok(IngestStats {
        rows: 1,
        batches: 1,
        ..IngestStats::default()
    })
}

/// The real client, or for a rehearsal the built-in simulator holding the input's cards.
async fn make_client(
    run: &NewRun,
    real: Option<Client>,
    journal: &Journal,
    meta: &RunMeta,
    cfg: &EngineConfig,
) -> Result<(Client, Option<Simulator>), Failure> {
    if let Some(client) = real {
        return Ok((client, None));
    }
    let keys = journal
        .keys()
        .map_err(|e| Failure::aborted(e.to_string()))?;
    let sim_cfg = (run.op.spec().rehearsal)(&meta.params, &keys);
    let (sim, client) = rehearsal_client_with(sim_cfg.into(), cfg.rate, &run.args.run).await?;
    Ok((client, Some(sim)))
}

/// The operation's lookups (a tag's id, an order's cards) when there is something to send,
/// and the journal's settings written with the parameters they settled.
async fn prepare_operation(
    run: &NewRun,
    journal: &mut Journal,
    meta: &mut RunMeta,
    client: &Client,
    cfg: &EngineConfig,
    sendable: bool,
) -> Result<(), Failure> {
    if sendable {
        run.op
            .prepare(client, cfg.max_attempts)
            .await
            .map_err(|e| Failure::usage(format!("{e}: nothing was sent")))?;
        meta.params = run.op.params();
    }
    journal
        .set_meta(meta)
        .map_err(|e| Failure::aborted(e.to_string()))
}

/// The account ledger, for an operation it applies to: cards an earlier run did are skipped
/// (and said so) before anything is confirmed; the engine's writer gets the ledger.
async fn skip_earlier(
    run: &NewRun,
    journal: &mut Journal,
    meta: &RunMeta,
    dir: &Path,
    client: &Client,
    cfg: &EngineConfig,
) -> Result<(Option<LedgerSink>, Looked), Failure> {
    let Some(mut sink) = crate::ledger::sink(run.op.as_ref(), meta, dir)? else {
        return Ok((None, Looked::default()));
    };
    let with = Some((client, cfg.max_attempts));
    let looked = crate::ledger::skip_earlier(journal, meta, &mut sink, with).await?;
    if looked.skipped > 0 {
        tracing::warn!(
            cards = looked.skipped,
            "{}",
            crate::ledger::skipped_note(&looked, meta.rehearsal, sink.ledger.path())
        );
    }
    Ok((Some(sink), looked))
}

/// Ask before a destructive run sends (unless `--yes`), saying what it will do and what the
/// ledger skips; nothing is asked when every card was skipped.
fn confirm_start(
    run: &NewRun,
    stats: &IngestStats,
    looked: &Looked,
    meta: &RunMeta,
) -> Result<(), Failure> {
    let args = &run.args;
    let skipped = looked.skipped;
    let to_send = stats.valid - skipped.min(stats.valid);
    if to_send == 0 && (stats.valid > 0 || skipped > 0) {
        return Ok(());
    }
    let mut skip_note = if skipped > 0 {
        format!(" ({skipped} more skipped: an earlier run did them)")
    } else {
        String::new()
    };
    if let Some(note) = crate::ledger::again_note(looked, meta) {
        skip_note.push_str(&format!(" ({note})"));
    }
    if crate::ledger::applies(run.op.as_ref()) && args.send.again {
        skip_note.push_str(" (--again: cards earlier runs did are acted on again)");
    }
    let q = format!(
        "about to {}{skip_note}{} via {}",
        run.op.describe(to_send, stats.batches),
        super::plan::carrier_note(run, stats),
        shown_endpoint(run)
    );
    confirm(&q, args.send.yes)
}
