//! gslbatch: a rate-limited, crash-safe batch processor for Huawei Cloud Global SIM Link.
//!
//! One straight pipe, each stage in its own module:
//!
//! ```text
//! input rows ─▶ validate + dedupe ─▶ journal (intent) ─▶ pacer ─▶ fan-out ─▶ GSL client ─▶ outcome
//!                                                                                          │
//!                  summary ◀─ report ◀─ journal (outcome) ◀─ the journal's writer ◀────────┘
//! ```
//!
//! - [`input`] streams CSV / JSON / JSON Lines rows (spreadsheets through `calamine`, other encodings
//!   through `encoding_rs`), validates ICCIDs and finds duplicates.
//! - [`ops`] is the registry of operations: one file each, declaring what it does as data.
//! - [`run`] is a run's lifecycle: settings, clients, confirmation, start (a sequence of named
//!   steps; [`run::plan`] the dry-run plan), resume, drive.
//! - [`journal`] is the SQLite write-ahead record of a run: settings, rows, intents, outcomes;
//!   [`journal::ingest`] reads the input into it.
//! - [`ledger`] is the account ledger: every destructive row claims its card there before its
//!   intent, so no card is acted on twice across runs, processes and credentials.
//! - [`engine`] works a run's pending rows: each parcel (what one request carries: a card, or a
//!   batch) from its intent to its outcome, through the journal's one writer.
//! - [`flow`] is how requests flow, below the engine and the operations alike: the pacer, the
//!   in-flight window, the retry rules and [`flow::fanout`], the one fan-out (a run's parcels,
//!   follow's lookups, the listings' pages).
//! - [`gsl`] is the typed API client and its three authentication modes; [`gsl::paging`] walks
//!   every paged list (listings, follow, tags) by one rule.
//! - [`follow`] reads work orders and SMS deliveries back into the journal.
//! - [`listing`] pages a list API into a report (`inventory`, `pool-members`, `usage`), partial on a
//!   signal.
//! - [`lock`] is the account-wide lock a destructive run holds; [`rundir`] the per-run lock.
//! - [`history`] keeps what each listing and run learned per card, per account: what changed
//!   since an earlier run, and which cards' usage is unusual against their own past.
//! - [`job`] reads a job file (once) and resolves it with flags and environment into what its
//!   operation's registry entry builds.
//! - [`report`] renders the per-row report and the summary from the journal, and `status`'s view
//!   ([`report::status`]).
//! - [`tell`] is what a run's end tells besides its files: a metrics file, webhook notifications.
//! - [`simulator`] is a faithful stand-in for the GSL API and IAM, for rehearsals and tests.
//! - [`cli`] and [`cmd`] turn the command line into calls of the above (an operation's
//!   subcommand is built from its registry entry; [`flags`] are the flags commands share);
//!   `main` only maps the result to an exit code.

pub mod carrier;
pub mod cell;
pub mod cli;
pub mod cmd;
pub mod engine;
pub mod exit;
pub mod flags;
pub mod flow;
pub mod follow;
pub mod gsl;
pub mod history;
pub mod input;
pub mod job;
pub mod journal;
pub mod ledger;
pub mod listing;
pub mod lock;
pub mod logging;
pub mod model;
pub mod ops;
pub mod report;
pub mod run;
pub mod rundir;
pub mod simulator;
pub mod tell;
pub mod template;
