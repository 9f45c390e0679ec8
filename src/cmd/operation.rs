//! Any operation, from its subcommand or a job file: what its registry entry built
//! ([`crate::ops::Invocation`]) — a run like any other, or a listing.

use crate::exit::Failure;
use crate::logging::LogSettings;
use crate::ops::Invocation;
use crate::run::start::{start, NewRun};

pub async fn run(invocation: Invocation, log: LogSettings) -> Result<i32, Failure> {
    match invocation {
        Invocation::Run { op, args } => start(NewRun { op, args: *args }, log).await,
        Invocation::List(listing) => listing.run().await,
    }
}
