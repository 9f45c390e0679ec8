//! The command line, in clap's derive style: every flag's doc comment is its `--help` text.

use crate::logging::LogFormat;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// The end of `--help`: where credentials and settings come from, and what the exit code says.
const AFTER_HELP: &str = "\
Environment:
  HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK, HUAWEICLOUD_SDK_PROJECT_ID, HUAWEICLOUD_SDK_SECURITY_TOKEN
      AK/SK signing (recommended)
  GSL_AUTH_TOKEN
      a ready IAM token (or --token-file)
  GSL_IAM_USER, GSL_IAM_PASSWORD, GSL_IAM_DOMAIN, HUAWEICLOUD_SDK_IAM_ENDPOINT
      IAM password login
  HUAWEICLOUD_SDK_CREDENTIALS_FILE
      the SDKs' credentials file, section [basic] [default: ~/.huaweicloud/credentials]
  GSL_ENDPOINT, HUAWEICLOUD_SDK_REGION_GSL_CN_NORTH_4
      the API endpoint
  HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY
      proxies for real endpoints (loopback ones are never proxied)
  GSL_CA_CERT
      a PEM file of CAs to trust besides the system's (as --ca-cert)
  GSL_STATE_DIR
      where the account ledger, locks and history live
  GSL_NOTIFY_URLS, GSL_NOTIFY_SECRET
      webhooks to post a run's end to (as --notify), robots' signing secret
  GSL_LOG, GSL_PROGRESS_SECS, NO_COLOR
      log filter, seconds between progress lines, no colours

Exit codes:
  0    every row ok, duplicate or skipped (reports and listings: done)
  1    finished, but some rows failed, invalid or unknown
  2    nothing was sent: bad usage, input, job file, credentials, refused confirmation
  3    aborted mid-run (failure threshold, authentication, unreachable): resumable
  4    follow: some outcomes are still processing
  130  interrupted by a signal: resumable";

#[derive(Debug, Parser)]
#[command(
    name = "gslbatch",
    version,
    propagate_version = true,
    about = "Rate-limited, crash-safe batch runs against Huawei Cloud Global SIM Link",
    long_about = None,
    after_long_help = AFTER_HELP
)]
pub struct Cli {
    /// Less output (-q: warnings only, -qq: errors only).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub quiet: u8,
    /// More detail (-v, -vv, -vvv). Secrets are never logged at any level.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Log shape: text for people, json for schedulers [default: text, or the job file's].
    #[arg(long, value_enum, global = true)]
    pub log_format: Option<LogFormat>,
    /// Colours in log lines: auto (on a terminal, unless NO_COLOR is set), always or never.
    #[arg(long, value_enum, global = true, default_value_t = crate::logging::ColorChoice::Auto, value_name = "WHEN")]
    pub color: crate::logging::ColorChoice,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ask the carrier whether each card is real-name registered (idempotent, retried freely).
    // A check changes nothing: nothing to confirm, nothing that would be done again.
    #[command(mut_arg("yes", |a| a.hide(true)), mut_arg("again", |a| a.hide(true)), mut_arg("again_window", |a| a.hide(true)), mut_arg("follow", |a| a.hide(true)))]
    CheckRealName(BatchArgs),
    /// Clear the real-name data of each China Telecom card (destructive: never sent twice).
    ClearRealName(BatchArgs),
    /// Run a job file (jobs/*.toml); flags given here override it.
    Run(RunArgs),
    /// Send one SMS text to the input's cids in batches, or to a whole order (destructive: never sent twice).
    SendSms(SmsArgs),
    /// Work-order / SMS delivery status of a run, and settle `unknown` rows on positive evidence.
    Follow(FollowArgs),
    /// Set the tags of each card to exactly the given list, 500 cards per call (`--tag none` clears).
    SetTags(SetTagsArgs),
    /// Carry on with an interrupted, aborted or crashed run.
    Resume(ResumeArgs),
    /// Counts per status, rate, ETA and whether a process holds the run.
    Status(StatusArgs),
    /// Render the report from the journal, at any time.
    Report(ReportArgs),
    /// Run the built-in GSL simulator (for rehearsals, tests and benchmarks).
    Simulate(SimulateArgs),
    /// List the fleet from the SIM card list (500 cards per call), joined with INPUT if given.
    Inventory(InventoryArgs),
    /// List a flow pool's members and their flow used in one billing cycle.
    PoolMembers(PoolMembersArgs),
    /// Stop each card's service (停机; destructive: a work order per card, never sent twice).
    StopCard(BatchArgs),
    /// Restore the service of stopped cards (复机; destructive).
    RestoreCard(BatchArgs),
    /// Activate cards that are not yet in use (激活; destructive).
    ActivateCard(BatchArgs),
    /// Cut each China Telecom card's network (断网; destructive).
    CutNet(BatchArgs),
    /// Restore each China Telecom card's network after a cut (断网恢复; destructive).
    RestoreNet(BatchArgs),
    /// Limit each card's speed to a value its carrier offers, or lift the limit (限速; destructive).
    SetSpeedLimit(SpeedArgs),
    /// Cut each card's network once it used N MB this cycle, or cancel that cap (达量断网; destructive).
    SetDataCap(DataCapArgs),
    /// Bind each card to the IMEI in its row's `imei` column, or to the device in use (机卡重绑; destructive).
    BindImei(BindImeiArgs),
    /// Flow total, used and left per card (50 cards per call), joined with INPUT if given.
    Usage(UsageArgs),
    /// The account ledger that keeps destructive runs from acting twice on a card.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish) on stdout.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on stdout.
    Man,
}

impl Command {
    /// How this command reads its INPUT files (`--encoding`, `--sheet`); `None` for a command
    /// without inputs.
    pub fn input_flags(&self) -> Option<&InputFlags> {
        match self {
            Command::CheckRealName(a)
            | Command::ClearRealName(a)
            | Command::StopCard(a)
            | Command::RestoreCard(a)
            | Command::ActivateCard(a)
            | Command::CutNet(a)
            | Command::RestoreNet(a) => Some(&a.input),
            Command::SetTags(a) => Some(&a.batch.input),
            Command::SetSpeedLimit(a) => Some(&a.batch.input),
            Command::SetDataCap(a) => Some(&a.batch.input),
            Command::BindImei(a) => Some(&a.batch.input),
            Command::SendSms(a) => Some(&a.input),
            Command::Run(a) => Some(&a.input),
            Command::Inventory(a) => Some(&a.input),
            Command::Usage(a) => Some(&a.input),
            _ => None,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Recreate the ledger's entries from the journals of these run directories.
    Rebuild {
        #[arg(required = true, value_name = "RUN_DIR")]
        run_dirs: Vec<PathBuf>,
    },
}

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

/// A duration that may be negative: `-11m`, `+30s`, `90s`.
pub fn signed_duration(s: &str) -> Result<chrono::Duration, String> {
    let t = s.trim();
    let (sign, rest) = match t.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, t.strip_prefix('+').unwrap_or(t)),
    };
    let Wait(d) = rest.parse()?;
    chrono::Duration::from_std(d)
        .map(|d| d * sign)
        .map_err(|_| format!("{s:?} is too long a duration"))
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
    /// Report path; .csv, .xlsx, .json or .jsonl picks the format; - is stdout [default: RUN_DIR/report.csv].
    #[arg(long)]
    pub report: Option<String>,
    /// A CSV report's text encoding [default: utf-8-bom when the input was a spreadsheet, GB18030, UTF-16 or UTF-8 with a BOM (Excel opens it right), else utf-8].
    #[arg(long, value_enum, value_name = "ENCODING")]
    pub report_encoding: Option<crate::model::ReportEncoding>,
    #[command(flatten)]
    pub tell: crate::tell::flags::TellFlags,
}

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

/// What every sending command shares: against what it runs, where the run lives, and whether
/// it asks first.
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

/// `run JOB.toml`: each flag overrides the job file's key of the same name.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The job file (TOML); relative paths in it start at its folder.
    #[arg(value_name = "JOB.toml")]
    pub job: PathBuf,
    /// API base URL [wins over GSL_ENDPOINT, which wins over the job file].
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Input column holding the ICCID (case-insensitive).
    #[arg(long)]
    pub column: Option<String>,
    /// The SIM card list's calls per second (inventory jobs) [wins over the job's `list_rate`].
    #[arg(long, allow_negative_numbers = true)]
    pub list_rate: Option<f64>,
    #[command(flatten)]
    pub input: InputFlags,
    #[command(flatten)]
    pub send: SendOptions,
    #[command(flatten)]
    pub run: RunOptions,
}

#[derive(Debug, Clone, Args)]
pub struct SmsArgs {
    /// Input files of cids (CSV, JSON, JSON Lines, spreadsheets: .xlsx .xls .ods), or - for stdin; none: the whole --order-id.
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<String>,
    /// The message text: 1..=1000 characters (Chinese text counts one per character).
    #[arg(long)]
    pub content: String,
    /// SMS template id.
    #[arg(long)]
    pub template_id: Option<i64>,
    /// The order (purchase batch) the cards belong to: scopes every call to it; alone, selects
    /// every card of the order in one call.
    #[arg(long)]
    pub order_id: Option<i64>,
    /// Cids per call, 1..=500 [default: 100].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// API base URL.
    #[arg(long, env = "GSL_ENDPOINT", default_value_t = crate::gsl::client::default_endpoint())]
    pub endpoint: String,
    /// Input column holding the cid (case-insensitive) [default: cid].
    #[arg(long)]
    pub column: Option<String>,
    #[command(flatten)]
    pub input: InputFlags,
    #[command(flatten)]
    pub send: SendOptions,
    #[command(flatten)]
    pub run: RunOptions,
}

#[derive(Debug, Clone, Args)]
pub struct FollowArgs {
    /// The run directory of a clear-real-name or send-sms run.
    pub run_dir: PathBuf,
    /// Follow again until nothing is processing, for at most this long (e.g. 90s, 30m, 2h).
    #[arg(long, value_name = "DURATION")]
    pub wait: Option<Wait>,
    /// An `unknown` row whose request is older than this and whose card no work order (or SMS)
    /// holds never happened: it becomes `pending`, and `resume` sends it [default: 15m].
    #[arg(long, value_name = "DURATION")]
    pub settle_after: Option<Wait>,
    #[command(flatten)]
    pub run: RunOptions,
}

#[derive(Debug, Clone, Args)]
pub struct SetTagsArgs {
    /// A tag name or id; repeat for several (at most 10); `none` clears the cards' tags.
    #[arg(long = "tag", required = true, value_name = "NAME_OR_ID")]
    pub tags: Vec<String>,
    /// Cards per call, 1..=500 [default: 500].
    #[arg(long)]
    pub batch_size: Option<usize>,
    #[command(flatten)]
    pub batch: BatchArgs,
}

#[derive(Debug, Clone, Args)]
pub struct SpeedArgs {
    /// The speed limit in Kbps (1 Mbps = 1024), one the cards' carrier offers; `none` lifts it.
    #[arg(long, value_name = "N|none", allow_negative_numbers = true)]
    pub kbps: String,
    #[command(flatten)]
    pub batch: BatchArgs,
}

#[derive(Debug, Clone, Args)]
pub struct DataCapArgs {
    /// Cut the network once the card used this many MB this cycle (0, or -1 for no cap).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub mb: Option<i64>,
    /// Cancel the cards' data cap instead.
    #[arg(long)]
    pub cancel: bool,
    #[command(flatten)]
    pub batch: BatchArgs,
}

#[derive(Debug, Clone, Args)]
pub struct BindImeiArgs {
    /// 2: bind to the IMEI in each row's `imei` column; 1: rebind to the device in use [default: 2].
    #[arg(long, value_name = "1|2")]
    pub bind_type: Option<u8>,
    #[command(flatten)]
    pub batch: BatchArgs,
}

#[derive(Debug, Clone, Args)]
pub struct UsageArgs {
    /// Input files (CSV, JSON, JSON Lines, spreadsheets: .xlsx .xls .ods) of cards, or - for stdin; none = the whole fleet.
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<String>,
    /// Input column holding the ICCID (case-insensitive) [default: iccid].
    #[arg(long)]
    pub column: Option<String>,
    /// Usage query calls per second, retries included [default: 5].
    #[arg(long, allow_negative_numbers = true)]
    pub rate: Option<f64>,
    /// SIM card list calls per second, to read the fleet without INPUT [default: 1].
    #[arg(long, allow_negative_numbers = true)]
    pub list_rate: Option<f64>,
    #[command(flatten)]
    pub input: InputFlags,
    #[command(flatten)]
    pub list: ListOptions,
}

#[derive(Debug, Clone, Args)]
pub struct ResumeArgs {
    /// The run directory to carry on with.
    pub run_dir: PathBuf,
    /// Try `failed` rows again.
    #[arg(long)]
    pub retry_failed: bool,
    /// Send `unknown` rows again (they may have happened already): needs --yes.
    #[arg(long)]
    pub resend_unknown: bool,
    /// Confirm --resend-unknown.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// After sending, follow the run's outcomes (as `follow --wait WAIT`, default 1h) and exit
    /// with follow's code.
    #[arg(long, value_name = "WAIT", num_args = 0..=1, require_equals = true, default_missing_value = "1h")]
    pub follow: Option<Wait>,
    #[command(flatten)]
    pub run: RunOptions,
}

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    pub run_dir: PathBuf,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    pub run_dir: PathBuf,
    /// Report path; .csv, .xlsx, .json or .jsonl picks the format; - is stdout [default: RUN_DIR/report.csv].
    #[arg(long)]
    pub report: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct SimulateArgs {
    /// Address to listen on (loopback by default; port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// Cards in the generated inventory.
    #[arg(long, default_value_t = 1000)]
    pub cards: usize,
    /// Seed of the generated inventory.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Load the inventory from this CSV instead.
    #[arg(long)]
    pub inventory: Option<PathBuf>,
    /// Calls per second per API before 429 (rolling one-second window); unthrottled if absent.
    #[arg(long)]
    pub rate: Option<u32>,
    /// Calls per second for the SIM card list.
    #[arg(long)]
    pub list_rate: Option<u32>,
    /// Mean latency in ms (with jitter).
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Share of calls answered 500 GSL.00010003 (nothing done).
    #[arg(long, default_value_t = 0.0)]
    pub busy_rate: f64,
    /// Share of calls whose work is done and whose connection is then closed without an answer.
    #[arg(long, default_value_t = 0.0)]
    pub drop_rate: f64,
    /// Share of calls answered only after a delay longer than a client's timeout.
    #[arg(long, default_value_t = 0.0)]
    pub slow_rate: f64,
    /// Share of calls whose work is done and then answered 502.
    #[arg(long, default_value_t = 0.0)]
    pub bad_gateway_rate: f64,
    /// Share of calls whose work is done and then answered with a proxy's HTML 500 page.
    #[arg(long = "error500-rate", default_value_t = 0.0)]
    pub error500_rate: f64,
    /// Seconds until a real-name clearing work order completes.
    #[arg(long, default_value_t = 5.0)]
    pub work_order_secs: f64,
    /// Share of real-name clearing work orders that end failed (the card keeps its data).
    #[arg(long, default_value_t = 0.0)]
    pub work_order_fail_rate: f64,
    /// Share of cids (chosen by cid, reproducibly) whose SMS end failed [default: the cards
    /// whose sim_card_id ends in 7].
    #[arg(long)]
    pub sms_fail_rate: Option<f64>,
    /// Seconds an AK stays locked after five failed signatures.
    #[arg(long, default_value_t = 300)]
    pub lockout_secs: u64,
    /// Run the simulator's clock this far from the real one (e.g. -11m: behind, 30s: ahead), in every time it reports (Date headers, work orders, SMS) and its AK/SK skew check.
    #[arg(long, value_parser = signed_duration, allow_hyphen_values = true, value_name = "DURATION")]
    pub clock_offset: Option<chrono::Duration>,
    /// Serve a non-loopback --listen address without GSL_SIM_* credentials, accepting any
    /// credential from anyone who can reach it (refused without this flag).
    #[arg(long)]
    pub allow_any_credential: bool,
    /// Serve HTTPS with this PEM certificate (chain); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// Options of the report commands that page a list API (`inventory`, `pool-members`).
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
}

#[derive(Debug, Clone, Args)]
pub struct InventoryArgs {
    /// Input files (CSV, JSON, JSON Lines, spreadsheets: .xlsx .xls .ods) to join on ICCID, or - for stdin; none = the whole fleet.
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<String>,
    /// Only cards whose stored real-name flag is this.
    #[arg(long, value_name = "true|false", action = clap::ArgAction::Set, value_parser = clap::value_parser!(bool))]
    pub real_named: Option<bool>,
    /// Only cards of this purchase order.
    #[arg(long)]
    pub order_id: Option<u64>,
    /// SIM card list calls per second, retries included [default: 1, the documented quota].
    #[arg(long, allow_negative_numbers = true)]
    pub list_rate: Option<f64>,
    /// Input column holding the ICCID (case-insensitive) [default: iccid].
    #[arg(long)]
    pub column: Option<String>,
    #[command(flatten)]
    pub input: InputFlags,
    #[command(flatten)]
    pub list: ListOptions,
}

#[derive(Debug, Clone, Args)]
pub struct PoolMembersArgs {
    /// The flow pool's id.
    #[arg(long)]
    pub pool: u64,
    /// The billing cycle, YYYY-MM.
    #[arg(long)]
    pub billing_cycle: String,
    /// Only this member card (its ICCID).
    #[arg(long)]
    pub cid: Option<String>,
    /// Calls per second, retries included [default: 5].
    #[arg(long, allow_negative_numbers = true)]
    pub rate: Option<f64>,
    #[command(flatten)]
    pub list: ListOptions,
}
