//! The listings (`inventory`, `pool-members`, `usage`): [`inventory`] joins the input with the
//! fleet, [`pools`] reads a flow pool's members, [`usage`] each card's flow. What they share:
//! [`pager`] pages a list API at its quota, [`sink`] writes a report that is never half-written,
//! [`progress`] shows how far a listing is; this file turns a listing's plain settings into its
//! client, rate and report destination, and holds the cell helpers the listings' rows use.

pub mod inventory;
pub mod pager;
pub mod pools;
pub mod progress;
pub mod sink;
pub mod usage;

pub use pager::{query_failure, Fetch, Lookup, PageResult, Pager, PAGE_LIMIT};
pub use progress::Listed;
pub use sink::{partial_dest, ReportOut};

use crate::exit::Failure;
use crate::flags::RunOptions;
use crate::gsl::Client;
use crate::ops::ListSettings;
use crate::report::layout::Cell;
use crate::report::ReportDest;
use crate::simulator::{SimConfig, Simulator};

/// The common options as the batch helpers (`real_client`, `timeout`) want them.
pub fn run_options(o: &ListSettings) -> RunOptions {
    RunOptions {
        rate: None,
        concurrency: None,
        max_attempts: o.max_attempts,
        timeout: o.timeout,
        max_failure_rate: None,
        failure_min_rows: None,
        token_file: o.token_file.clone(),
        ca_cert: o.ca_cert.clone(),
        report: o.report.clone(),
        report_encoding: None,
        tell: o.tell.clone(),
    }
}

/// The listing's `--metrics-file` / `--notify` settings, checked before its first call.
pub fn teller(o: &ListSettings) -> Result<crate::tell::Teller, Failure> {
    crate::tell::Teller::check(&o.tell)
}

/// A positive, finite rate from a flag.
pub fn check_rate(flag: &str, rate: f64) -> Result<f64, Failure> {
    if rate.is_finite() && rate > 0.0 {
        Ok(rate)
    } else {
        Err(Failure::usage(format!(
            "{flag} {rate}: must be a positive number"
        )))
    }
}

pub fn max_attempts(o: &ListSettings) -> Result<u32, Failure> {
    if let Some(r) = &o.report {
        crate::report::ReportDest::check_arg(r).map_err(Failure::usage)?;
        crate::report::html::listing_refuses(r).map_err(Failure::usage)?;
    }
    match o.max_attempts.unwrap_or(5) {
        0 => Err(Failure::usage("--max-attempts must be at least 1")),
        n => Ok(n),
    }
}

/// The client for the real API, or a rehearsal simulator serving `cfg` and a client for it.
pub async fn client(
    o: &ListSettings,
    rehearsal: impl FnOnce() -> SimConfig,
) -> Result<(Client, Option<Simulator>), Failure> {
    let ro = run_options(o);
    if !o.rehearse {
        return Ok((crate::run::clients::real_client(&o.endpoint, &ro)?, None));
    }
    let timeout = crate::run::settings::timeout(&ro)?;
    let (sim, c) = crate::run::clients::start_rehearsal(rehearsal(), timeout).await?;
    Ok((c, Some(sim)))
}

/// Where the report goes: `--report`, or `<name>-<local time>.csv` in the working directory.
pub fn report_dest(arg: Option<&str>, name: &str) -> ReportDest {
    match arg {
        Some(a) => ReportDest::from_arg(a),
        None => ReportDest::Path(
            format!(
                "{name}-{}.csv",
                chrono::Local::now().format("%Y%m%d-%H%M%S")
            )
            .into(),
        ),
    }
}

/// A float cell. The report's [`Cell`] has no float variant, so the number goes as text.
/// Rounded to a millionth: the API's MB have three decimals, and a value it (or the simulator)
/// computed as a difference must not print as `728.2919999999999`.
pub fn float_cell(v: Option<f64>) -> Cell {
    v.map_or(Cell::Null, |f| Cell::Float((f * 1e6).round() / 1e6))
}

pub fn str_cell(v: Option<&str>) -> Cell {
    v.map_or(Cell::Null, |s| Cell::Str(s.to_string()))
}

pub fn int_cell(v: Option<i64>) -> Cell {
    v.map_or(Cell::Null, Cell::Int)
}
