//! How requests flow, for every stage that calls the API: below both [`crate::engine`] (a run's
//! parcels) and [`crate::ops`] / [`crate::follow`] / [`crate::listing`] (lookups and pages), and
//! importing neither.
//!
//! - [`pacer`]: one per API; every request, retries included, waits there for its slot;
//! - [`window`]: how many requests may be in flight at once, following the answered latency;
//! - [`retry`]: what to do after a failed try, decided in one place and logged with its reason;
//! - [`fanout`]: the one fan-out — a run's parcels, follow's lookups, the listings' pages.

pub mod fanout;
pub mod pacer;
pub mod retry;
pub mod window;
