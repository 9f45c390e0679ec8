//! `run JOB.toml`: a job file, resolved with flags and environment ([`crate::job`]), stands for
//! the command it describes — a new run, or the resumption of its existing run dir.

use crate::cli::{Command, RunArgs};
use crate::exit::Failure;
use crate::job;
use crate::ops::Unit;

/// The command the job stands for; `None` when there is nothing to run (a listing's dry run,
/// whose plan is printed here).
pub fn command(args: &RunArgs) -> Result<Option<Command>, Failure> {
    let job = job::load(&args.job)?;
    let spec = job.spec();
    let b = job.resolve(args)?;
    if spec.unit == Unit::Listing && b.send.dry_run {
        // A listing only reads, but a dry run sends nothing at all.
        crate::out!(
            "plan: {} (job {})\n  endpoint:    {}\n  what:        page the list 500 rows a call\n\
             nothing was sent (--dry-run)",
            spec.name,
            args.job.display(),
            b.endpoint
        );
        return Ok(None);
    }
    job.command(args, b).map(Some)
}
