//! The flags several commands share, as clap `Args` structs: what every batch command takes
//! ([`BatchArgs`]: inputs, endpoint, column, how inputs are read, how it sends, its options),
//! how a run sends ([`RunOptions`]), how INPUT files are read ([`InputFlags`]), and what the
//! listings take ([`ListOptions`]). The command line ([`crate::cli`]), the operations' own
//! flags ([`crate::ops`]) and job files ([`crate::job`]) build on them; each flag's doc comment
//! is its `--help` text.

use clap::Args;
use std::path::PathBuf;

/// A duration on the command line or in a job file: `90s`, `30m`, `2h`, `1h30m`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Wait(pub std::time::Duration);

impl std::str::FromStr for Wait {
    type Err = String;
    fn from_str(s: &str) -> Result<Wait, String> {
        humantime::parse_duration(s.trim())
            .map(Wait)
            .map_err(|e| format!("{s:?} is not a duration like 90s, 30m or 2h: {e}"))
    }
}

/// Options shared by every command that sends requests.
#[derive(Debug, Clone, Args)]
pub struct RunOptions {
    /// Calls per second to the API, all workers together, retries included, or `auto`: start at 5, rise while no 429 comes, hold at the quota the first 429 names [default: 5].
    #[arg(long, allow_negative_numbers = true)]
    pub rate: Option<crate::model::Rate>,
    /// Requests in flight at most, fixed [default: 256 workers, with as many in flight as the answered latency needs: 2 x rate x latency, at least 4 x rate, 8..=256].
    #[arg(long, allow_negative_numbers = true)]
    pub concurrency: Option<usize>,
    /// Tries per request, the first included; 429 answers do not count [default: 5].
    #[arg(long, allow_negative_numbers = true)]
    pub max_attempts: Option<u32>,
    /// Per-request timeout in seconds (the connect timeout is 10 s) [default: 30].
    #[arg(long, allow_negative_numbers = true)]
    pub timeout: Option<f64>,
    /// Abort when more than this share of this process's finished rows failed [default: 0.5]…
    #[arg(long, allow_negative_numbers = true)]
    pub max_failure_rate: Option<f64>,
    /// …once at least this many rows finished in this process [default: 1000].
    #[arg(long, allow_negative_numbers = true)]
    pub failure_min_rows: Option<u64>,
    /// Read the IAM token (sent as X-Auth-Token) from this file; re-read once after a 401.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Also trust the CA certificates in this PEM file (a company proxy that inspects TLS); the system's CA store is always trusted.
    #[arg(long, env = "GSL_CA_CERT", value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// Report path; .csv, .xlsx, .html, .json or .jsonl picks the format; - is stdout [default: RUN_DIR/report.csv].
    #[arg(long)]
    pub report: Option<String>,
    /// A CSV report's text encoding [default: utf-8-bom when the input was a spreadsheet, GB18030, UTF-16 or UTF-8 with a BOM (Excel opens it right), else utf-8].
    #[arg(long, value_enum, value_name = "ENCODING")]
    pub report_encoding: Option<crate::model::ReportEncoding>,
    #[command(flatten)]
    pub tell: crate::tell::flags::TellFlags,
}

/// What every command that sends to the cards of INPUT files takes: the operations without
/// flags of their own take exactly these, the others flatten them beside theirs.
#[derive(Debug, Clone, Args)]
pub struct BatchArgs {
    /// Input files (CSV, JSON, JSON Lines, spreadsheets: .xlsx .xls .ods), or - for stdin.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<String>,
    /// API base URL.
    #[arg(long, env = "GSL_ENDPOINT", default_value_t = crate::gsl::client::default_endpoint())]
    pub endpoint: String,
    /// Input column holding the ICCID (case-insensitive) [default: iccid].
    #[arg(long)]
    pub column: Option<String>,
    #[command(flatten)]
    pub input: InputFlags,
    #[command(flatten)]
    pub send: SendOptions,
    #[command(flatten)]
    pub run: RunOptions,
}

/// How the input files are read: what only a command with INPUT files takes.
#[derive(Debug, Clone, Default, Args)]
pub struct InputFlags {
    /// Text encoding of the input files: utf-8, utf-16le, utf-16be, gb18030 (gbk), or any WHATWG label [default: detected: UTF-8, UTF-16 with a BOM, else GB18030].
    #[arg(long, value_parser = crate::model::InputEncoding::parse)]
    pub encoding: Option<crate::model::InputEncoding>,
    /// The worksheet of spreadsheet inputs to read, by name [default: the first].
    #[arg(long, value_name = "NAME")]
    pub sheet: Option<String>,
}

/// What every sending command shares: against what it runs, where the run lives, and whether
/// it asks first.
#[derive(Debug, Clone, Default, Args)]
pub struct SendOptions {
    /// Run against an in-process simulator holding the input's cards: a dress rehearsal.
    #[arg(long)]
    pub rehearse: bool,
    /// Where the journal, report and summary live [default: a job file's `run_dir`, else
    /// runs/<operation>-<local time>].
    #[arg(long)]
    pub run_dir: Option<PathBuf>,
    /// Read and validate everything, print the plan on stdout, send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Confirm a run that changes cards (clear, send-sms, set-tags, the card-state commands) without a prompt.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// After sending, follow the run's outcomes (as `follow --wait WAIT`, default 1h) and exit
    /// with follow's code.
    #[arg(long, value_name = "WAIT", num_args = 0..=1, require_equals = true, default_missing_value = "1h")]
    pub follow: Option<Wait>,
    /// Also act on cards that an earlier run already did (or may have) with the same operation
    /// and parameters (the account ledger); still needs --yes.
    #[arg(long)]
    pub again: bool,
    /// How far back an earlier run counts (e.g. 30d, 12h) [default: 30d].
    #[arg(long, value_name = "DURATION")]
    pub again_window: Option<Wait>,
}

/// Options of the report commands that page a list API (`inventory`, `pool-members`, `usage`).
#[derive(Debug, Clone, Args)]
pub struct ListOptions {
    /// API base URL.
    #[arg(long, env = "GSL_ENDPOINT", default_value_t = crate::gsl::client::default_endpoint())]
    pub endpoint: String,
    /// Run against an in-process simulator with a generated inventory: a dress rehearsal.
    #[arg(long)]
    pub rehearse: bool,
    /// Tries per call, the first included; 429 answers do not count [default: 5].
    #[arg(long, allow_negative_numbers = true)]
    pub max_attempts: Option<u32>,
    /// Per-request timeout in seconds (the connect timeout is 10 s) [default: 30].
    #[arg(long, allow_negative_numbers = true)]
    pub timeout: Option<f64>,
    /// Read the IAM token (sent as X-Auth-Token) from this file; re-read once after a 401.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Also trust the CA certificates in this PEM file (a company proxy that inspects TLS); the system's CA store is always trusted.
    #[arg(long, env = "GSL_CA_CERT", value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// Report path; .csv, .xlsx, .json or .jsonl picks the format; - is stdout [default: <command>-<local time>.csv].
    #[arg(long)]
    pub report: Option<String>,
    /// A CSV report's text encoding [default: utf-8-bom when the input was a spreadsheet, GB18030, UTF-16 or UTF-8 with a BOM (Excel opens it right), else utf-8].
    #[arg(long, value_enum, value_name = "ENCODING")]
    pub report_encoding: Option<crate::model::ReportEncoding>,
    #[command(flatten)]
    pub tell: crate::tell::flags::TellFlags,
}
