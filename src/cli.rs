//! The command line, in clap's derive style: every flag's doc comment is its `--help` text.
//! The commands that are not operations are declared here; each operation's subcommand is built
//! from its registry entry ([`crate::ops`]), its flags declared in its own file, and the flags
//! several commands share in [`crate::flags`].

use crate::flags::{InputFlags, RunOptions, SendOptions, Wait};
use crate::logging::LogFormat;
use crate::ops::{Spec, REGISTRY};
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
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
  5    check-real-name / inventory / usage --fail-on-change: a change of a kind named was found
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
    #[command(flatten)]
    pub globals: Globals,
}

/// The flags every command takes, before or after its name.
#[derive(Debug, Clone, Args)]
pub struct Globals {
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
}

/// The commands that are not operations (those are built from [`crate::ops::REGISTRY`]).
/// `display_order` places each among the operations in `--help` (theirs is
/// [`crate::ops::Spec::help_order`]).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a job file (jobs/*.toml); flags given here override it.
    #[command(display_order = 2)]
    Run(Box<RunArgs>),
    /// Work-order / SMS delivery status of a run, and settle `unknown` rows on positive evidence.
    #[command(display_order = 4)]
    Follow(FollowArgs),
    /// Carry on with an interrupted, aborted or crashed run.
    #[command(display_order = 6)]
    Resume(ResumeArgs),
    /// Counts per status, rate, ETA and whether a process holds the run.
    #[command(display_order = 7)]
    Status(StatusArgs),
    /// Render the report from the journal, at any time.
    #[command(display_order = 8)]
    Report(ReportArgs),
    /// Run the built-in GSL simulator (for rehearsals, tests and benchmarks).
    #[command(display_order = 9)]
    Simulate(SimulateArgs),
    /// The account ledger that keeps destructive runs from acting twice on a card.
    #[command(subcommand, display_order = 900)]
    Ledger(LedgerCommand),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish) on stdout.
    #[command(display_order = 901)]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on stdout.
    #[command(display_order = 902)]
    Man,
}

/// A parsed command line: the global flags and what to run.
pub struct Parsed {
    pub globals: Globals,
    pub chosen: Chosen,
}

/// The subcommand given.
pub enum Chosen {
    Command(Box<Command>),
    /// An operation of the registry, with its subcommand's flags.
    Operation(&'static Spec, ArgMatches),
}

/// The whole command line: [`Cli`], its [`Command`]s and one subcommand per operation of the
/// registry, each with its `--help` line and its flags from its own file; in `--help` order
/// (completions and the man page list them as added). `--help`, completions and the man page
/// are made from it.
pub fn command() -> clap::Command {
    let operations = REGISTRY.iter().map(|spec| {
        (spec.args)(clap::Command::new(spec.name))
            .about(spec.about)
            .long_about(None)
            .display_order(spec.help_order)
    });
    let mut all: Vec<clap::Command> = Command::augment_subcommands(clap::Command::new("gslbatch"))
        .get_subcommands()
        .cloned()
        .chain(operations)
        .collect();
    all.sort_by_key(clap::Command::get_display_order);
    Cli::command()
        .subcommands(all)
        .subcommand_required(true)
        .arg_required_else_help(true)
}

/// Parse the process's command line; bad usage prints clap's message and exits 2.
pub fn parse() -> Parsed {
    parse_from(std::env::args_os())
}

/// Parse `args` (the program name first) as [`parse`] does.
pub fn parse_from<I, T>(args: I) -> Parsed
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = command().get_matches_from(args);
    let globals = Globals::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let operation = matches
        .subcommand()
        .and_then(|(name, sub)| Some((crate::ops::spec(name)?, sub.clone())));
    let chosen = match operation {
        Some((spec, sub)) => Chosen::Operation(spec, sub),
        None => Chosen::Command(Box::new(
            Command::from_arg_matches(&matches).unwrap_or_else(|e| e.exit()),
        )),
    };
    Parsed { globals, chosen }
}

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Recreate the ledger's entries from the journals of these run directories.
    Rebuild {
        #[arg(required = true, value_name = "RUN_DIR")]
        run_dirs: Vec<PathBuf>,
    },
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
    #[command(flatten)]
    pub history: crate::history::args::HistoryArgs,
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
    /// Report path; .csv, .xlsx, .html, .json or .jsonl picks the format; - is stdout [default: RUN_DIR/report.csv].
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
    #[command(flatten)]
    pub usage: crate::simulator::SimUsageArgs,
}

#[cfg(test)]
mod tests {
    /// Every command has its own name and its own place in `--help`.
    #[test]
    fn commands_and_their_places_are_unique() {
        let cli = super::command();
        let mut names: Vec<&str> = cli.get_subcommands().map(|c| c.get_name()).collect();
        let mut places: Vec<usize> = cli
            .get_subcommands()
            .map(|c| c.get_display_order())
            .collect();
        let n = names.len();
        names.sort();
        names.dedup();
        places.sort();
        places.dedup();
        assert_eq!((names.len(), places.len()), (n, n));
        cli.debug_assert();
    }
}
