//! A run's lifecycle, from the command line to its exit code, the same for every operation that
//! sends: settings, clients, confirmation, start, resume, drive.
//!
//! Read a run from start to end here:
//!
//! 1. [`start::start`]: options and credentials (exit 2 before anything is created); a run dir
//!    that already holds this job is resumed ([`resume::resume`]), another job's is refused;
//!    the input into a new journal; the client (a rehearsal simulator holding the input's
//!    cards, [`clients`]); the operation's lookups; the confirmation ([`confirm`]) and the
//!    account lock;
//! 2. [`drive::drive`]: the engine with progress and signals, then [`finish::finish`]: the
//!    report and `summary.json` rendered from the journal and the exit code chosen.
//!
//! What differs per operation lives in its registry entry ([`crate::ops`]); the order of the
//! steps — and so every safety rule — is written once, here.

pub mod clients;
pub mod confirm;
pub mod drive;
pub mod finish;
pub mod follow;
pub mod new_run;
pub mod plan;
pub mod progress;
pub mod resume;
pub mod settings;
pub mod signals;
pub mod start;
