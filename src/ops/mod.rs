//! The registry of operations: what a run (or a listing) does, as data.
//!
//! Each operation is one file here that declares a [`Spec`] — its name, its subcommand (its
//! `--help` line and its flags: a clap `Args` struct in the file, or the shared batch flags),
//! how its parsed flags and its job-file table (read from the job's TOML) become an
//! [`Invocation`], whether repeating it is harmless, whether it needs confirming, its unit, its
//! report columns, what `follow` reads for it, how to rebuild it from a journal and what a
//! rehearsal's simulator must hold ([`Rehearsal`]) — and, for the operations that send, an
//! [`Operation`] that performs one unit. The command line builds one subcommand per entry of
//! [`REGISTRY`]; job-file validation, `resume`, `follow`, the report layout and `status` read
//! it too; no operation name is compared anywhere else, and neither `cli.rs` nor `cmd/` names
//! an operation (a test checks both). Adding an operation is its file here, its line in
//! [`REGISTRY`], and its endpoint in the simulator.

pub mod activate;
pub mod bind_imei;
pub mod card_state;
pub mod check;
pub mod clear;
pub mod cut_net;
pub mod data_cap;
pub mod inventory;
pub mod pool_members;
pub mod rehearsal;
pub mod restore;
pub mod sms;
pub mod speed;
pub mod stop;
pub mod tags;
pub mod usage;

use crate::exit::Failure;
use crate::flags::{BatchArgs, ListOptions};
use crate::gsl::{CardRef, Client, GslError};
use crate::history::args::HistoryArgs;
pub use rehearsal::Rehearsal;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// What a success puts into the report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Done {
    pub work_order_id: Option<i64>,
    pub real_named: Option<bool>,
    /// The card's ICCID as the answer names it (a check's answer carries it).
    pub iccid: Option<String>,
}

pub type OpFuture<'a> = Pin<Box<dyn Future<Output = Result<Done, GslError>> + Send + 'a>>;

/// What [`Operation::prepare`] returns: `Err` is a plain reason to stop before sending (exit 2).
pub type PrepareFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// Whether doing an operation twice is harmless, and whether it needs confirming.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Only reads (a check, a listing): retried freely, never confirmed.
    Read,
    /// Changes cards, but repeating it leaves them the same (set-tags sets, it does not add):
    /// retried freely, confirmed like a destructive run.
    Idempotent,
    /// Each call does something that cannot be taken back (a work order, a message): journal
    /// intents, `unknown` on an ambiguous failure, never sent twice, confirmed.
    Destructive,
}

/// What one request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// One card per call.
    Card,
    /// A batch of cards per call (the size is the run's parameter).
    Batch,
    /// Pages of a list, written straight to a report: no journal, no run dir.
    Listing,
}

/// Whether an operation reads INPUT files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    Required,
    /// Without input it acts on what its parameters select (an SMS order, the whole fleet).
    Optional,
    None,
}

/// What `follow` reads for a run of the operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    /// Nothing to follow.
    None,
    /// The work orders of this type (the API's `work_order_type`).
    WorkOrders(i64),
    /// The SMS delivery details of the run's cids.
    Sms,
}

/// A job file's table of an operation's parameters.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    /// The table's name: `[sms]`.
    pub name: &'static str,
    /// When a job of the operation must have it: what it must hold, in words.
    pub required: Option<&'static str>,
    /// Read the table and check it when the job file is loaded (`has_input`: the job names
    /// inputs), so that a bad value is exit 2 naming its key and line before anything else.
    pub check: fn(&JobTable, bool) -> Result<(), TableError>,
}

/// An operation's table of a job file as written: the file's text and the table's name, so
/// that an error names the line of the value it is about.
#[derive(Debug, Clone)]
pub struct JobTable {
    text: Arc<str>,
    name: &'static str,
}

/// Why a job file's table cannot be read: the message, and where in the file when known.
#[derive(Debug, Clone, PartialEq)]
pub struct TableError {
    pub message: String,
    pub span: Option<std::ops::Range<usize>>,
}

impl From<String> for TableError {
    fn from(message: String) -> TableError {
        TableError {
            message,
            span: None,
        }
    }
}

impl From<&str> for TableError {
    fn from(message: &str) -> TableError {
        message.to_string().into()
    }
}

impl JobTable {
    /// The table `name` of the job file whose text is `text`.
    pub fn new(text: Arc<str>, name: &'static str) -> JobTable {
        JobTable { text, name }
    }

    /// The table as the operation's own type (`#[serde(deny_unknown_fields)]`).
    pub fn read<T: serde::de::DeserializeOwned>(&self) -> Result<T, TableError> {
        let error = |e: toml::de::Error| TableError {
            message: e.message().trim().to_string(),
            span: e.span(),
        };
        let root = toml::de::DeTable::parse(&self.text).map_err(error)?;
        let value = root
            .get_ref()
            .get(self.name)
            .ok_or_else(|| format!("the job file has no [{}] table", self.name))?;
        T::deserialize(toml::de::ValueDeserializer::from(value.clone())).map_err(error)
    }
}

/// The table of a job, read as `T`; `None` when the job has none. It was checked when the
/// job was loaded ([`Table::check`]), so an error here is a plain message.
pub fn read_table<T: serde::de::DeserializeOwned>(
    table: Option<&JobTable>,
) -> Result<Option<T>, String> {
    table
        .map(|t| t.read::<T>())
        .transpose()
        .map_err(|e| e.message)
}

/// What a command line or a job file asks of an operation, built by its registry entry.
pub enum Invocation {
    /// A run of the operation with these parameters over the common flags' inputs.
    Run {
        op: Arc<dyn Operation>,
        args: Box<BatchArgs>,
    },
    /// Pages of a list API into a report ([`crate::listing`] runs it).
    List(Box<dyn Listing>),
}

impl Invocation {
    pub fn run(op: impl Operation, args: BatchArgs) -> Invocation {
        Invocation::Run {
            op: Arc::new(op),
            args: Box::new(args),
        }
    }
}

/// What a listing's run comes to: the exit code, or why it failed.
pub type ListingFuture = Pin<Box<dyn Future<Output = Result<i32, Failure>>>>;

/// A listing's plain options, runnable: each listing operation's options type implements it
/// in [`crate::listing`], which does the paging.
pub trait Listing: Send {
    fn run(self: Box<Self>) -> ListingFuture;
}

/// The flags of an operation's subcommand, parsed (the same type built the subcommand, so
/// this fails only on a programming error, where clap would exit 2 as it does for bad usage).
pub fn parse_args<A: clap::FromArgMatches>(m: &clap::ArgMatches) -> A {
    A::from_arg_matches(m).unwrap_or_else(|e| e.exit())
}

/// The subcommand of an operation with only the shared batch flags.
pub fn batch_flags(cmd: clap::Command) -> clap::Command {
    <BatchArgs as clap::Args>::augment_args(cmd)
}

/// Rebuilds an operation from the parameters its journal holds.
pub type Rebuild = fn(&serde_json::Value) -> Option<Arc<dyn Operation>>;

/// An operation's declaration in the registry.
pub struct Spec {
    /// The command name, e.g. `clear-real-name`; also the job file's `operation` and the
    /// journal's `RunMeta.operation`.
    pub name: &'static str,
    /// The subcommand's line in `--help`.
    pub about: &'static str,
    /// Where `--help` lists the subcommand among every command (the command line numbers the
    /// others): the order they were added in, each its own, below 900 (ledger, completions and
    /// man come last).
    pub help_order: usize,
    /// The subcommand's flags: its own `clap::Args`, or [`batch_flags`].
    pub args: fn(clap::Command) -> clap::Command,
    /// What the subcommand's parsed flags ask for; `Err` is bad usage (exit 2).
    pub from_matches: fn(&clap::ArgMatches) -> Result<Invocation, String>,
    pub effect: Effect,
    pub unit: Unit,
    /// The HTTP method and path shape, for the dry-run plan and the summary's per-API rate.
    pub endpoint: &'static str,
    /// The input column holding the card when `--column` is not given.
    pub default_column: &'static str,
    /// Whether input rows may name their card by `sim_card_id`; SMS addresses cids only.
    pub by_sim_card_id: bool,
    /// Whether the operation reads input files.
    pub input: Input,
    /// The report's own columns, in order, and those `follow` adds once it has run.
    pub columns: &'static [&'static str],
    pub follow_columns: &'static [&'static str],
    pub follow: Follow,
    /// The job file's table for the operation's parameters (`[sms]`...).
    pub table: Option<Table>,
    /// What a job file of the operation asks for (flags and environment already applied).
    pub from_job: fn(&JobParts) -> Result<Invocation, String>,
    /// The operation a journal's `RunMeta.params` describe; `None` for listings.
    pub rebuild: Option<Rebuild>,
    /// What the rehearsal simulator must hold for a run of these cards with these parameters.
    pub rehearsal: fn(&serde_json::Value, &[String]) -> Rehearsal,
    /// What an API code means for this operation when it means more than it says elsewhere
    /// (`GSL.00010004` on a clear): `(code, plain words)`.
    pub explains: &'static [(&'static str, &'static str)],
}

impl Spec {
    pub fn idempotent(&self) -> bool {
        self.effect != Effect::Destructive
    }
    /// Changes something (needs confirmation, and the account lock when real).
    pub fn changes(&self) -> bool {
        self.effect != Effect::Read
    }
    pub fn batched(&self) -> bool {
        self.unit == Unit::Batch
    }
}

/// Every operation of this build, in the order `--help` and error messages list them.
pub const REGISTRY: &[&Spec] = &[
    &check::SPEC,
    &clear::SPEC,
    &sms::SPEC,
    &tags::SPEC,
    &stop::SPEC,
    &restore::SPEC,
    &activate::SPEC,
    &cut_net::CUT,
    &cut_net::RESTORE,
    &speed::SPEC,
    &data_cap::SPEC,
    &bind_imei::SPEC,
    &inventory::SPEC,
    &pool_members::SPEC,
    &usage::SPEC,
];

/// The operation a job file or journal names.
pub fn spec(name: &str) -> Option<&'static Spec> {
    REGISTRY.iter().copied().find(|s| s.name == name)
}

/// The names of every operation, for messages: `a, b, c`.
pub fn names() -> String {
    REGISTRY
        .iter()
        .map(|s| s.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The operation a run's journal holds, its parameters included.
pub fn from_meta(meta: &crate::journal::RunMeta) -> Option<Arc<dyn Operation>> {
    (spec(&meta.operation)?.rebuild?)(&meta.params)
}

/// Whether a run of `operation` may be sent twice harmlessly; anything this build does not
/// know is treated as not, so a crashed row is shown `unknown` rather than silently redone.
pub fn is_idempotent(operation: &str) -> bool {
    spec(operation).is_some_and(Spec::idempotent)
}

/// What a job file gives an operation to build its invocation from.
pub struct JobParts<'a> {
    /// The common flags, resolved (inputs, endpoint, run dir, options).
    pub batch: BatchArgs,
    /// `--list-rate`, else the job file's `list_rate`.
    pub list_rate: Option<f64>,
    /// The operation's own table ([`Spec::table`]), when the job file has it.
    pub table: Option<&'a JobTable>,
    /// The history's flags under the job's `compare`, the job's own key set.
    pub history: HistoryArgs,
}

/// An input row's other columns, by name.
pub struct RowColumns<'r> {
    pub names: &'r [String],
    pub values: &'r [String],
}

impl<'r> RowColumns<'r> {
    /// The value of the column named `name` (case-insensitive), when the input has it.
    pub fn get(&self, name: &str) -> Option<&'r str> {
        let i = self
            .names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))?;
        Some(self.values.get(i).map_or("", String::as_str))
    }
}

pub trait Operation: Send + Sync + 'static {
    fn spec(&self) -> &'static Spec;
    /// The command name, e.g. `clear-real-name`.
    fn name(&self) -> &'static str {
        self.spec().name
    }
    /// True when doing it twice is harmless: then in-flight failures are retried.
    fn idempotent(&self) -> bool {
        self.spec().idempotent()
    }
    /// True when it changes cards (needs confirmation, and the account lock when real):
    /// every operation but a read, the repeatable ones (set-tags) too.
    fn changes_cards(&self) -> bool {
        self.spec().changes()
    }
    /// What the run will do, for the plan and the confirmation: `about to {describe} via ...`.
    fn describe(&self, cards: u64, batches: u64) -> String;
    /// The one carrier whose cards the API acts on (clearing real-name data: China Telecom);
    /// the plan and the confirmation say how many cards of the input are of another.
    fn carrier_only(&self) -> Option<crate::carrier::Carrier> {
        None
    }
    /// Whether the API refuses a card of carrier `c` for this operation (its ICCID prefix
    /// tells): the plan and the confirmation count the input's cards it refuses.
    fn refuses_carrier(&self, c: crate::carrier::Carrier) -> bool {
        self.carrier_only().is_some_and(|only| c != only)
    }
    /// The plan's words for those cards, of the carriers `names`: `N of the input's cards are
    /// {words}`.
    fn refused_carrier_words(&self, names: &str) -> String {
        let _ = names;
        match self.carrier_only() {
            Some(only) => format!("not {} by ICCID prefix: GSL refuses those", only.name()),
            None => String::new(),
        }
    }
    /// The settings a run of it is confirmed with, kept in the journal (`RunMeta.params`) so
    /// that `resume` and `follow` rebuild exactly this operation ([`from_meta`]).
    fn params(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
    /// What must be the same for an earlier run's act on a card to count as this one (the
    /// account ledger): the parameters, unless the operation says less matters.
    fn ledger_params(&self) -> String {
        self.params().to_string()
    }
    /// What identifies the job besides operation, inputs and endpoint (e.g. the SMS text).
    fn identity(&self) -> Vec<String> {
        vec![]
    }
    /// The history's flags of this run (`check-real-name --compare-with`): what the end of a
    /// finished run compares with and keeps; `None`: the history's defaults.
    fn history(&self) -> Option<&HistoryArgs> {
        None
    }
    /// The work-order type its calls create, when it is not the one its [`Spec::follow`] names
    /// (a data cap's cancel is type 21, its set type 12).
    fn work_order_type(&self) -> Option<i64> {
        match self.spec().follow {
            Follow::WorkOrders(t) => Some(t),
            _ => None,
        }
    }
    /// Cards per call for batched operations; `None` for one card per call (or a whole-order
    /// SMS, whose one row is [`Operation::no_input_row`]).
    fn batch_size(&self) -> Option<usize> {
        None
    }
    /// The one row of a run without input (an SMS to a whole order).
    fn no_input_row(&self) -> Option<crate::journal::NewRow> {
        None
    }
    /// Look up what the operation needs from the API before the first request is confirmed
    /// (e.g. tag ids); called once with the run's client and `--max-attempts`, after the input
    /// was read.
    fn prepare<'a>(&'a self, _client: &'a Client, _max_attempts: u32) -> PrepareFuture<'a> {
        Box::pin(std::future::ready(Ok(())))
    }
    /// A refusal that no later request could get past (e.g. no access to a tag): the whole run
    /// stops at once with this message, the unit stays `pending`.
    fn fatal(&self, _err: &GslError) -> Option<String> {
        None
    }
    /// Check one input row's card before anything is sent, and take from the row's columns
    /// ([`RowColumns::get`]) what its request carries besides the card: `Ok(None)`
    /// nothing, `Ok(Some(v))` a value stored with the row and handed back to
    /// [`Operation::perform`], `Err(reason)` makes the row `invalid`.
    fn row_value(&self, _key: &str, _row: &RowColumns) -> Result<Option<String>, String> {
        Ok(None)
    }
    /// Perform it for one unit: one card, or the cards of one batch for batched operations;
    /// `args` are the rows' values from [`Operation::row_value`], in the same order.
    fn perform<'a>(
        &'a self,
        client: &'a Client,
        keys: &'a [String],
        args: &'a [Option<String>],
    ) -> OpFuture<'a>;
}

/// A listing job's `rate`: a number; `auto` finds a sending run's quota and has no meaning for
/// a listing's few calls.
pub fn listing_rate(rate: Option<crate::model::Rate>) -> Result<Option<f64>, String> {
    match rate {
        Some(crate::model::Rate::Auto) => {
            Err("key `rate`: auto is for sending runs; give a listing a number".to_string())
        }
        r => Ok(r.map(crate::model::Rate::start)),
    }
}

/// What every listing is given, whoever asked (a command line's [`ListOptions`] or a job).
#[derive(Debug, Clone, Default)]
pub struct ListSettings {
    pub endpoint: String,
    /// Against an in-process simulator: a dress rehearsal.
    pub rehearse: bool,
    pub max_attempts: Option<u32>,
    pub timeout: Option<f64>,
    pub token_file: Option<std::path::PathBuf>,
    pub ca_cert: Option<std::path::PathBuf>,
    pub report: Option<String>,
    pub report_encoding: Option<crate::model::ReportEncoding>,
    /// `--metrics-file`, `--notify` and their options (a job's `metrics_file`, `notify`).
    pub tell: crate::tell::flags::TellFlags,
}

impl From<ListOptions> for ListSettings {
    fn from(o: ListOptions) -> ListSettings {
        ListSettings {
            endpoint: o.endpoint,
            rehearse: o.rehearse,
            max_attempts: o.max_attempts,
            timeout: o.timeout,
            token_file: o.token_file,
            ca_cert: o.ca_cert,
            report: o.report,
            report_encoding: o.report_encoding,
            tell: o.tell,
        }
    }
}

/// A listing's settings from a resolved job. A listing has no run dir: its report goes to
/// `report`, or to `<name>.csv` inside the job's `run_dir`.
pub fn list_settings(b: &BatchArgs, name: &str) -> Result<ListSettings, String> {
    let report = match (&b.run.report, &b.send.run_dir) {
        (Some(r), _) => Some(r.clone()),
        (None, Some(dir)) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            Some(dir.join(format!("{name}.csv")).display().to_string())
        }
        (None, None) => None,
    };
    Ok(ListSettings {
        endpoint: b.endpoint.clone(),
        rehearse: b.send.rehearse,
        max_attempts: b.run.max_attempts,
        timeout: b.run.timeout,
        token_file: b.run.token_file.clone(),
        ca_cert: b.run.ca_cert.clone(),
        report,
        report_encoding: b.run.report_encoding,
        tell: b.run.tell.clone(),
    })
}

/// The card of a per-card unit (the engine makes units of one row for unbatched operations).
pub fn one_card(keys: &[String]) -> CardRef {
    CardRef::from_key(keys.first().map_or("", String::as_str))
}

/// The rehearsal inventory of most operations: the run's cards, as they are.
pub fn plain_rehearsal(_params: &serde_json::Value, keys: &[String]) -> Rehearsal {
    Rehearsal::of(keys)
}

/// The report columns of a card operation (check, clear and the card-state operations).
pub const CARD_COLUMNS: &[&str] = &[
    "row",
    "iccid",
    "sim_card_id",
    "status",
    "work_order_id",
    "real_named",
    "http_status",
    "error_code",
    "error_msg",
    "attempts",
    "latency_ms",
    "finished_at",
];

/// What `follow` adds to a work-order operation's report.
pub const WORK_ORDER_FOLLOW: &[&str] = &[
    "work_order_status",
    "work_order_detail",
    "outcome",
    "outcome_detail",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found() {
        for s in REGISTRY {
            assert!(std::ptr::eq(spec(s.name).unwrap(), *s));
        }
        let mut names: Vec<_> = REGISTRY.iter().map(|s| s.name).collect();
        names.dedup();
        assert_eq!(names.len(), REGISTRY.len());
    }

    /// A card-state operation sets its own fields over `card_state::COMMON`: none is left as
    /// the placeholder (an empty name or `--help` line, no place in `--help`, a build that says
    /// it was never set).
    #[test]
    fn every_entry_declares_its_own_command_line_and_job() {
        use clap::FromArgMatches;
        let unset = "sets its own";
        for s in REGISTRY {
            assert!(!s.name.is_empty() && !s.about.is_empty(), "{}", s.name);
            assert!(
                s.help_order < 900,
                "{}: listed before ledger and man",
                s.name
            );
            let sub = (s.args)(clap::Command::new(s.name));
            // Those without required flags of their own parse from an input alone.
            if let Ok(m) = sub.try_get_matches_from([s.name, "in.csv"]) {
                if let Err(e) = (s.from_matches)(&m) {
                    assert!(!e.contains(unset), "{}: {e}", s.name);
                }
            }
            let flags = batch_flags(clap::Command::new("x")).get_matches_from(["x", "in.csv"]);
            let parts = JobParts {
                batch: BatchArgs::from_arg_matches(&flags).unwrap(),
                list_rate: None,
                table: None,
                history: HistoryArgs::default(),
            };
            if let Err(e) = (s.from_job)(&parts) {
                assert!(!e.contains(unset), "{}: {e}", s.name);
            }
        }
    }

    #[test]
    fn only_sending_operations_rebuild_from_a_journal() {
        for s in REGISTRY {
            assert_eq!(s.rebuild.is_some(), s.unit != Unit::Listing, "{}", s.name);
        }
    }
}
