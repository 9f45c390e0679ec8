//! Whom a run talks to: the real API with the environment's credentials, or a rehearsal
//! simulator started in-process; and the account lock a destructive real run holds.

use super::settings::timeout;
use crate::exit::Failure;
use crate::flags::RunOptions;
use crate::gsl::auth::{Auth, Credentials, Secret};
use crate::gsl::{client, Client};
use crate::lock::AccountLock;
use crate::simulator::{SimConfig, SimCredentials, Simulator};
use std::path::Path;
use std::sync::Arc;

/// The rehearsal simulator's one accepted token: not a secret, it never leaves the process.
const REHEARSAL_TOKEN: &str = "rehearsal";

/// A client for the real API from the environment's credentials.
pub fn real_client(endpoint: &str, o: &RunOptions) -> Result<Client, Failure> {
    let url = client::parse_endpoint(endpoint).map_err(Failure::usage)?;
    let creds =
        Credentials::from_env(o.token_file.clone()).map_err(|e| Failure::usage(e.to_string()))?;
    let ca = match &o.ca_cert {
        Some(path) => crate::gsl::net::load_ca(path).map_err(Failure::usage)?,
        None => Vec::new(),
    };
    Ok(Client::with_ca(
        url,
        Arc::new(Auth::new(creds)),
        timeout(o)?,
        &ca,
    ))
}

/// The account-wide lock for a destructive run with the environment's credentials (see
/// [`crate::lock`]); taken after the run-dir lock and before any request is sent.
pub fn account_lock(o: &RunOptions, run_dir: &Path) -> Result<AccountLock, Failure> {
    let creds =
        Credentials::from_env(o.token_file.clone()).map_err(|e| Failure::usage(e.to_string()))?;
    crate::lock::account(&creds.identity(), run_dir)
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
