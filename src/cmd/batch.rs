//! `check-real-name` and `clear-real-name`: input into a new run's journal, confirm, drive.

use super::drive::{drive, Drive};
use crate::cli::{BatchArgs, RunOptions};
use crate::engine::ingest::{ingest, IngestError, IngestStats};
use crate::engine::operation::Operation;
use crate::engine::{default_concurrency, EngineConfig};
use crate::exit::Failure;
use crate::gsl::auth::{Auth, Credentials, Secret};
use crate::gsl::{client, Client};
use crate::input::{InputOptions, Inputs};
use crate::journal::{Journal, RunMeta};
use crate::lock::AccountLock;
use crate::logging::LogSettings;
use crate::rundir::RunDir;
use crate::simulator::{SimConfig, SimCredentials, Simulator};
use sha2::{Digest, Sha256};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub const DEFAULT_RATE: f64 = 5.0;
pub const DEFAULT_TIMEOUT_SECS: f64 = 30.0;

/// The rehearsal simulator's one accepted token: not a secret, it never leaves the process.
const REHEARSAL_TOKEN: &str = "rehearsal";

/// Engine settings from the flags, checked.
pub fn engine_config(o: &RunOptions) -> Result<EngineConfig, Failure> {
    let rate = o.rate.unwrap_or(DEFAULT_RATE);
    if !(rate.is_finite() && rate > 0.0) {
        return Err(Failure::usage(format!(
            "--rate {rate}: must be a positive number"
        )));
    }
    let concurrency = o.concurrency.unwrap_or_else(|| default_concurrency(rate));
    if !(1..=1024).contains(&concurrency) {
        return Err(Failure::usage(format!(
            "--concurrency {concurrency}: must be 1..=1024"
        )));
    }
    let max_attempts = o.max_attempts.unwrap_or(5);
    if max_attempts == 0 {
        return Err(Failure::usage("--max-attempts must be at least 1"));
    }
    let max_failure_rate = o.max_failure_rate.unwrap_or(0.5);
    if !(0.0..=1.0).contains(&max_failure_rate) {
        return Err(Failure::usage("--max-failure-rate must be between 0 and 1"));
    }
    Ok(EngineConfig {
        rate,
        concurrency,
        max_attempts,
        max_failure_rate,
        failure_min_rows: o.failure_min_rows.unwrap_or(1000),
    })
}

/// The per-request timeout from the flags.
pub fn timeout(o: &RunOptions) -> Result<Duration, Failure> {
    let t = o.timeout.unwrap_or(DEFAULT_TIMEOUT_SECS);
    if !(t.is_finite() && t > 0.0 && t <= 3600.0) {
        return Err(Failure::usage(format!(
            "--timeout {t}: must be 0..3600 seconds"
        )));
    }
    Ok(Duration::from_secs_f64(t))
}

/// A client for the real API from the environment's credentials.
pub fn real_client(endpoint: &str, o: &RunOptions) -> Result<Client, Failure> {
    let url = client::parse_endpoint(endpoint).map_err(Failure::usage)?;
    let creds =
        Credentials::from_env(o.token_file.clone()).map_err(|e| Failure::usage(e.to_string()))?;
    Ok(Client::new(url, Arc::new(Auth::new(creds)), timeout(o)?))
}

/// The account-wide lock for a destructive run with the environment's credentials (see
/// [`crate::lock`]); taken after the run-dir lock and before any request is sent.
pub fn account_lock(o: &RunOptions, run_dir: &Path) -> Result<AccountLock, Failure> {
    let creds =
        Credentials::from_env(o.token_file.clone()).map_err(|e| Failure::usage(e.to_string()))?;
    crate::lock::account(&creds.identity(), run_dir)
}

/// Start an in-process simulator holding `keys` and a client for it.
pub async fn rehearsal_client(
    keys: &[String],
    rate: f64,
    o: &RunOptions,
) -> Result<(Simulator, Client), Failure> {
    rehearsal_client_with(SimConfig::from_iccids(keys), rate, o).await
}

/// Start an in-process rehearsal simulator with this inventory (rate, latency and the
/// rehearsal token are set here) and a client for it.
pub async fn rehearsal_client_with(
    mut cfg: SimConfig,
    rate: f64,
    o: &RunOptions,
) -> Result<(Simulator, Client), Failure> {
    cfg.rate = Some(rate.ceil().max(1.0) as u32);
    cfg.latency_ms = 20;
    cfg.work_order_secs = 5.0;
    cfg.credentials = SimCredentials {
        token: Some(REHEARSAL_TOKEN.into()),
        ..SimCredentials::default()
    };
    let sim = Simulator::start(cfg, "127.0.0.1:0".parse().expect("loopback"))
        .await
        .map_err(|e| Failure::aborted(format!("cannot start the rehearsal simulator: {e}")))?;
    let url = client::parse_endpoint(&sim.url()).map_err(Failure::usage)?;
    let creds = Credentials::Token {
        token: Secret::new(REHEARSAL_TOKEN),
        file: None,
    };
    let client = Client::new(url, Arc::new(Auth::new(creds)), timeout(o)?);
    Ok((sim, client))
}

fn default_run_dir(op: &str) -> PathBuf {
    PathBuf::from("runs").join(format!(
        "{op}-{}",
        chrono::Local::now().format("%Y%m%d-%H%M%S")
    ))
}

/// Identifies a job: operation, inputs and endpoint.
pub fn fingerprint(op: &str, inputs: &[String], endpoint: &str) -> String {
    let text = serde_json::json!([op, inputs, endpoint]).to_string();
    hex::encode(&Sha256::digest(text.as_bytes())[..12])
}

fn plan_text(
    op: &dyn Operation,
    stats: &IngestStats,
    endpoint: &str,
    cfg: &EngineConfig,
    rehearse: bool,
) -> String {
    let secs = stats.valid as f64 / cfg.rate;
    format!(
        "plan: {op}{reh}\n  endpoint:    {endpoint}\n  rows:        {rows} (valid {valid}, invalid {invalid}, duplicate {dup})\n  calls:       {valid} x {ep}\n  rate:        {rate}/s, concurrency {conc}\n  expected:    {dur} at least\n",
        op = op.name(),
        reh = if rehearse { " (REHEARSAL against the built-in simulator)" } else { "" },
        rows = stats.rows,
        valid = stats.valid,
        invalid = stats.invalid,
        dup = stats.duplicate,
        ep = op.endpoint(),
        rate = cfg.rate,
        conc = cfg.concurrency,
        dur = human_duration(secs),
    )
}

pub fn human_duration(secs: f64) -> String {
    let s = secs.round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// Ask on a TTY; refuse without one (exit 2) unless `--yes`.
pub fn confirm(question: &str, yes: bool) -> Result<(), Failure> {
    if yes {
        return Ok(());
    }
    if !(std::io::stderr().is_terminal() && std::io::stdin().is_terminal()) {
        return Err(Failure::usage(format!(
            "{question}\nrefusing without a terminal to confirm on: add --yes"
        )));
    }
    eprint!("{question}\ntype yes to go on: ");
    let mut answer = String::new();
    let tty = std::fs::File::open("/dev/tty").map(std::io::BufReader::new);
    let read = match tty {
        Ok(mut t) => std::io::BufRead::read_line(&mut t, &mut answer),
        Err(_) => std::io::stdin().read_line(&mut answer),
    };
    match read {
        Ok(_) if answer.trim().eq_ignore_ascii_case("yes") => Ok(()),
        _ => Err(Failure::usage("not confirmed: nothing was sent")),
    }
}

fn input_failure(e: IngestError) -> Failure {
    Failure::usage(e.to_string())
}

pub async fn run(
    op: Arc<dyn Operation>,
    args: BatchArgs,
    log: LogSettings,
) -> Result<i32, Failure> {
    let cfg = engine_config(&args.run)?;
    timeout(&args.run)?;
    // A dry run sends nothing, so it needs no credentials; the endpoint must still make sense.
    let real = if args.rehearse {
        None
    } else if args.dry_run {
        client::parse_endpoint(&args.endpoint).map_err(Failure::usage)?;
        None
    } else {
        Some(real_client(&args.endpoint, &args.run)?)
    };
    let opts = InputOptions {
        column: args.column.clone(),
        default_column: "iccid",
    };
    let inputs = Inputs::open(&args.inputs, &opts).map_err(|e| Failure::usage(e.to_string()))?;

    if args.dry_run {
        let stats = tokio::task::spawn_blocking(move || ingest(inputs, None, None))
            .await
            .expect("ingest thread")
            .map_err(input_failure)?;
        let endpoint = if args.rehearse {
            "built-in simulator"
        } else {
            args.endpoint.as_str()
        };
        print!(
            "{}",
            plan_text(op.as_ref(), &stats, endpoint, &cfg, args.rehearse)
        );
        println!("nothing was sent (--dry-run)");
        return Ok(crate::exit::OK);
    }

    let dir = args
        .run_dir
        .clone()
        .unwrap_or_else(|| default_run_dir(op.name()));
    if dir.join(crate::journal::FILE_NAME).exists() {
        // SPEC: the same job resumes its run (a finished one ends at once); another job may not.
        let endpoint = if args.rehearse {
            "rehearsal"
        } else {
            args.endpoint.as_str()
        };
        let meta = Journal::open_read(&dir).and_then(|j| j.meta()).ok();
        let same = meta
            .as_ref()
            .is_some_and(|m| m.fingerprint == fingerprint(op.name(), &args.inputs, endpoint));
        let ingest_finished = meta.as_ref().is_some_and(|m| m.total_rows.is_some());
        if same && !ingest_finished {
            // Stopped while reading its input: nothing can have been sent (sending starts only
            // after every row is in the journal), so read the input again from scratch.
            let _lock = RunDir::lock(&dir, false)?;
            for f in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(dir.join(format!("{}{f}", crate::journal::FILE_NAME)));
            }
            tracing::warn!(run_dir = %dir.display(), "the last start stopped while reading its input (nothing was sent): starting over");
        } else if same {
            let resume = crate::cli::ResumeArgs {
                run_dir: dir,
                retry_failed: false,
                resend_unknown: false,
                yes: false,
                run: args.run.clone(),
            };
            return super::resume::run(resume, log).await;
        } else {
            return Err(Failure::usage(format!(
                "run dir {} already holds a different job's run: carry on with `gslbatch resume {}` or pick another --run-dir",
                dir.display(),
                dir.display()
            )));
        }
    }
    let created = !dir.exists();
    let rundir = RunDir::lock(&dir, true)?;
    let cleanup = |why: Failure| {
        if created {
            let _ = std::fs::remove_dir_all(&dir);
        } else {
            let _ = std::fs::remove_file(dir.join(crate::journal::FILE_NAME));
        }
        why
    };
    // Rehearsals touch no real account, so they take no account lock.
    let _account = if op.destructive() && !args.rehearse {
        Some(account_lock(&args.run, &dir).map_err(cleanup)?)
    } else {
        None
    };
    let endpoint = if args.rehearse {
        "rehearsal".to_string()
    } else {
        args.endpoint.clone()
    };
    let meta = RunMeta {
        operation: op.name().to_string(),
        endpoint: endpoint.clone(),
        inputs: args.inputs.clone(),
        extra_columns: vec![],
        rehearsal: args.rehearse,
        created_at: chrono::Local::now().to_rfc3339(),
        fingerprint: fingerprint(op.name(), &args.inputs, &endpoint),
        params: serde_json::Value::Null,
        total_rows: None,
    };
    let mut journal =
        Journal::create(&dir, &meta).map_err(|e| cleanup(Failure::usage(e.to_string())))?;
    let (stats, journal) = tokio::task::spawn_blocking(move || {
        let r = ingest(inputs, Some(&mut journal), None);
        (r, journal)
    })
    .await
    .expect("ingest thread");
    let stats = stats.map_err(|e| cleanup(input_failure(e)))?;
    let mut meta = meta;
    meta.extra_columns = stats.extra_columns.clone();
    meta.total_rows = Some(stats.rows);
    journal
        .set_meta(&meta)
        .map_err(|e| cleanup(Failure::aborted(e.to_string())))?;

    let shown_endpoint = if args.rehearse {
        "the built-in simulator (REHEARSAL)"
    } else {
        args.endpoint.as_str()
    };
    if stats.valid > 0 && op.destructive() {
        let q = format!(
            "about to clear real-name data of {} cards via {shown_endpoint}",
            stats.valid
        );
        confirm(&q, args.yes).map_err(cleanup)?;
    }

    let (client, simulator) = match real {
        Some(c) => (c, None),
        None => {
            let keys = journal
                .keys()
                .map_err(|e| Failure::aborted(e.to_string()))?;
            let (sim, c) = rehearsal_client(&keys, cfg.rate, &args.run).await?;
            (c, Some(sim))
        }
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
    })
    .await
}
