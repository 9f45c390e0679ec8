//! Exit codes, chosen in exactly one place: [`Failure::code`] and [`from_counts`] decide them,
//! [`report`] turns a command's result into the process's exit code.

use std::collections::BTreeMap;
use std::fmt;

/// Every row `ok` or `duplicate`; for status / report / inventory: done.
pub const OK: i32 = 0;
/// Finished, but some rows are `failed`, `invalid` or `unknown`.
pub const ROWS_FAILED: i32 = 1;
/// Nothing was sent: bad usage, unreadable input, refused confirmation, locked run dir.
pub const USAGE: i32 = 2;
/// Aborted mid-run (failure threshold, authentication, journal write): resumable.
pub const ABORTED: i32 = 3;
/// follow: nothing has failed, but some outcomes are still processing: follow again later.
pub const PROCESSING: i32 = 4;
/// Finished, but `--fail-on-change` names a change the comparison found (for cron alerts).
pub const CHANGED: i32 = 5;
/// Interrupted by a signal after in-flight requests finished: resumable.
pub const INTERRUPTED: i32 = 130;

/// An error that ends the command, with the exit code it maps to and a plain message.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            code: USAGE,
            message: message.into(),
        }
    }

    pub fn aborted(message: impl Into<String>) -> Failure {
        Failure {
            code: ABORTED,
            message: message.into(),
        }
    }

    pub fn failed(message: impl Into<String>) -> Failure {
        Failure {
            code: ROWS_FAILED,
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// The exit code of a finished run from its row counts (report statuses).
pub fn from_counts(counts: &BTreeMap<String, u64>) -> i32 {
    let bad = ["failed", "invalid", "unknown", "pending"]
        .iter()
        .any(|s| counts.get(*s).copied().unwrap_or(0) > 0);
    if bad {
        ROWS_FAILED
    } else {
        OK
    }
}

/// follow's exit code (and `--follow`'s) from what the rows came to: 1 when some outcome
/// failed or some row is still `unknown`, 4 when nothing failed but something is still
/// processing (or not found yet), 0 when every sent row is done.
pub fn from_outcomes(failed: u64, unknown: u64, open: u64) -> i32 {
    if failed > 0 || unknown > 0 {
        ROWS_FAILED
    } else if open > 0 {
        PROCESSING
    } else {
        OK
    }
}

/// The process's exit code for a command's result; a failure's message goes to stderr (one
/// JSON line with JSON logs).
pub fn report(result: Result<i32, Failure>) -> std::process::ExitCode {
    let code = match result {
        Ok(code) => code,
        Err(f) => {
            // A message may quote a file (a header cell, a path): no escape sequence from it
            // reaches the terminal.
            let msg = crate::cell::escape_terminal(&f.to_string());
            if crate::logging::json_logs() {
                tracing::error!(exit_code = f.code, "{msg}");
            } else {
                crate::say!("error: {msg}");
            }
            f.code
        }
    };
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(ABORTED as u8))
}
