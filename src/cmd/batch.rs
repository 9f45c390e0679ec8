//! `check-real-name` and `clear-real-name`, and the pieces every command that sends shares:
//! option checks, clients (real or rehearsal), the account lock, the confirmation prompt.

use crate::cli::{BatchArgs, RunOptions};
use crate::engine::operation::Operation;
use crate::engine::{EngineConfig, DEFAULT_CONCURRENCY};
use crate::exit::Failure;
use crate::gsl::auth::{Auth, Credentials, Secret};
use crate::gsl::{client, Client};
use crate::lock::AccountLock;
use crate::logging::LogSettings;
use crate::simulator::{SimConfig, SimCredentials, Simulator};
use sha2::{Digest, Sha256};
use std::io::IsTerminal;
use std::path::Path;
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
    let concurrency = o.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
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
        fixed_concurrency: o.concurrency.is_some(),
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

/// Start an in-process rehearsal simulator with this inventory, throttled at the run's `rate`
/// like the real gateway, and a client for it.
pub async fn rehearsal_client_with(
    mut cfg: SimConfig,
    rate: f64,
    o: &RunOptions,
) -> Result<(Simulator, Client), Failure> {
    cfg.rate = Some(rate.ceil().max(1.0) as u32);
    cfg.work_order_secs = 5.0;
    start_rehearsal(cfg, timeout(o)?).await
}

/// Start the rehearsal simulator `cfg` describes (20 ms answers, its one token) on loopback,
/// and a client for it with `timeout`: what every `--rehearse` runs against.
pub async fn start_rehearsal(
    cfg: SimConfig,
    timeout: std::time::Duration,
) -> Result<(Simulator, Client), Failure> {
    let cfg = SimConfig {
        latency_ms: 20,
        credentials: SimCredentials {
            token: Some(REHEARSAL_TOKEN.into()),
            ..SimCredentials::default()
        },
        ..cfg
    };
    let sim = Simulator::start(cfg, "127.0.0.1:0".parse().expect("loopback"))
        .await
        .map_err(|e| Failure::aborted(format!("cannot start the rehearsal simulator: {e}")))?;
    let url = client::parse_endpoint(&sim.url()).map_err(Failure::usage)?;
    let creds = Credentials::Token {
        token: Secret::new(REHEARSAL_TOKEN),
        file: None,
    };
    let client = Client::new(url, Arc::new(Auth::new(creds)), timeout);
    Ok((sim, client))
}

/// Identifies a job: operation, inputs and endpoint.
pub fn fingerprint(op: &str, inputs: &[String], endpoint: &str) -> String {
    let text = serde_json::json!([op, inputs, endpoint]).to_string();
    hex::encode(&Sha256::digest(text.as_bytes())[..12])
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

/// `check-real-name` / `clear-real-name`: one card per request.
pub async fn run(
    op: Arc<dyn Operation>,
    args: BatchArgs,
    log: LogSettings,
) -> Result<i32, Failure> {
    super::start::start(
        super::start::NewRun {
            op,
            args,
            default_column: "iccid",
            batch_size: None,
            identity: vec![],
            no_input_row: None,
            need_valid: false,
        },
        log,
    )
    .await
}
