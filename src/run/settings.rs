//! A run's settings from the flags, checked before anything is created (exit 2), and what
//! identifies a job.

use crate::engine::{EngineConfig, DEFAULT_CONCURRENCY};
use crate::exit::Failure;
use crate::flags::RunOptions;
use crate::model::Rate;
use sha2::{Digest, Sha256};
use std::time::Duration;

pub const DEFAULT_RATE: f64 = 5.0;
pub const DEFAULT_TIMEOUT_SECS: f64 = 30.0;
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;
pub const DEFAULT_MAX_FAILURE_RATE: f64 = 0.5;
pub const DEFAULT_FAILURE_MIN_ROWS: u64 = 1000;

/// Engine settings from the flags, checked.
pub fn engine_config(o: &RunOptions) -> Result<EngineConfig, Failure> {
    if let Some(r) = &o.report {
        crate::report::ReportDest::check_arg(r).map_err(Failure::usage)?;
    }
    crate::tell::install(&o.tell).map_err(Failure::usage)?;
    let asked = o.rate.unwrap_or(Rate::PerSecond(DEFAULT_RATE));
    let rate = asked.start();
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
    let max_attempts = o.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS);
    if max_attempts == 0 {
        return Err(Failure::usage("--max-attempts must be at least 1"));
    }
    let max_failure_rate = o.max_failure_rate.unwrap_or(DEFAULT_MAX_FAILURE_RATE);
    if !(0.0..=1.0).contains(&max_failure_rate) {
        return Err(Failure::usage("--max-failure-rate must be between 0 and 1"));
    }
    Ok(EngineConfig {
        rate,
        auto_rate: asked.is_auto(),
        concurrency,
        fixed_concurrency: o.concurrency.is_some(),
        max_attempts,
        max_failure_rate,
        failure_min_rows: o.failure_min_rows.unwrap_or(DEFAULT_FAILURE_MIN_ROWS),
    })
}

/// The per-request timeout from the flags.
pub fn timeout(o: &RunOptions) -> Result<Duration, Failure> {
    let t = o.timeout.unwrap_or(DEFAULT_TIMEOUT_SECS);
    if !(t.is_finite() && t > 0.0 && t <= 3600.0) {
        return Err(Failure::usage(format!(
            "--timeout {t}: must be more than 0 and at most 3600 seconds"
        )));
    }
    Ok(Duration::from_secs_f64(t))
}

/// Identifies a job: operation, inputs and endpoint.
pub fn fingerprint(op: &str, inputs: &[String], endpoint: &str) -> String {
    let text = serde_json::json!([op, inputs, endpoint]).to_string();
    hex::encode(&Sha256::digest(text.as_bytes())[..12])
}

/// The settings the journal keeps from the flags (see [`crate::journal::Settings`]).
pub fn stored(o: &RunOptions) -> crate::journal::Settings {
    crate::journal::Settings {
        rate: o.rate,
        concurrency: o.concurrency,
        max_attempts: o.max_attempts,
        timeout: o.timeout,
        max_failure_rate: o.max_failure_rate,
        failure_min_rows: o.failure_min_rows,
        quota: None,
        report: o.report.clone().filter(|r| r != "-"),
        report_encoding: o.report_encoding,
    }
}

/// The flags with the stored settings filled in where a flag was not given again.
pub fn with_stored(o: &RunOptions, s: &crate::journal::Settings) -> RunOptions {
    let s = s.updated(&stored(o));
    RunOptions {
        rate: s.rate,
        concurrency: s.concurrency,
        max_attempts: s.max_attempts,
        timeout: s.timeout,
        max_failure_rate: s.max_failure_rate,
        failure_min_rows: s.failure_min_rows,
        report: o.report.clone().or(s.report),
        ..o.clone()
    }
}

/// The settings a `resume` would carry on with: the stored ones, defaults where none was given.
pub fn effective(s: &crate::journal::Settings) -> serde_json::Value {
    serde_json::json!({
        "rate": s.rate.unwrap_or(Rate::PerSecond(DEFAULT_RATE)),
        "concurrency": s.concurrency.map_or(serde_json::json!("auto"), |c| serde_json::json!(c)),
        "max_attempts": s.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS),
        "timeout_secs": s.timeout.unwrap_or(DEFAULT_TIMEOUT_SECS),
        "max_failure_rate": s.max_failure_rate.unwrap_or(DEFAULT_MAX_FAILURE_RATE),
        "failure_min_rows": s.failure_min_rows.unwrap_or(DEFAULT_FAILURE_MIN_ROWS),
        "quota_found": s.quota,
    })
}
