//! One file per command, each `run(args) -> Result<exit code, Failure>`: glue that parses its
//! arguments and calls the library; every operation goes through [`operation`], built by its
//! registry entry, so no file here names one. No command file imports another.

pub mod docs;
pub mod follow;
pub mod ledger;
pub mod operation;
pub mod report;
pub mod resume;
pub mod run;
pub mod simulate;
pub mod status;

use crate::cli::{Chosen, Command, Parsed};
use crate::exit::Failure;
use crate::job::JobText;

/// Run the parsed command line; the `Ok` value is the exit code. `job` is the job file of a
/// `run` command, read once before logging started ([`JobText::of`]).
pub async fn dispatch(cli: Parsed, job: Option<JobText>) -> Result<i32, Failure> {
    let log = crate::job::log_settings(&cli.globals, job.as_ref());
    let command = match cli.chosen {
        Chosen::Operation(spec, matches) => {
            let invocation = (spec.from_matches)(&matches).map_err(Failure::usage)?;
            return operation::run(invocation, log).await;
        }
        Chosen::Command(c) => *c,
    };
    match command {
        // A job file stands for what its operation's subcommand would ask.
        Command::Run(a) => {
            let job = job.unwrap_or_else(|| JobText::read(&a.job));
            match run::invocation(&a, &job)? {
                Some(invocation) => operation::run(invocation, log).await,
                None => Ok(crate::exit::OK),
            }
        }
        Command::Follow(a) => follow::run(a, log).await,
        Command::Resume(a) => resume::run(a, log).await,
        Command::Status(a) => status::run(a),
        Command::Report(a) => report::run(a),
        Command::Simulate(a) => simulate::run(a).await,
        Command::Ledger(a) => ledger::run(a),
        Command::Completions { shell } => docs::completions(shell),
        Command::Man => docs::man(),
    }
}
