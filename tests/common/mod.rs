//! Shared helpers for the integration tests, one module per concern. Tests `use
//! crate::common::*`; no test module imports another's helpers.
//!
//! - [`sim`]: the simulator: credentials, start, its cards, its own record (stats).
//! - [`binary`]: running `gslbatch` with a clean environment; command lines; bounded waits.
//! - [`report`]: reading a run's report, summary and `status --json`.
//! - [`journal`]: reading a run's journal.
//! - [`input`]: temp dirs, input files, input options.
//! - [`client`]: the library's API client against a simulator.
//! - [`orders`]: a clear run whose work orders are still processing.
//! - [`disk`]: a small tmpfs to fill.

#![allow(dead_code, unused_imports)]

pub mod binary;
pub mod client;
pub mod disk;
pub mod input;
pub mod journal;
pub mod orders;
pub mod report;
pub mod sim;

pub use binary::*;
pub use client::*;
pub use disk::*;
pub use input::*;
pub use journal::*;
pub use orders::*;
pub use report::*;
pub use sim::*;
