//! `run JOB.toml`: a job file, resolved with flags and environment ([`crate::job`]), stands for
//! what its operation's subcommand would ask — a new run, or the resumption of its existing
//! run dir, or a listing.

use crate::cli::RunArgs;
use crate::exit::Failure;
use crate::job::JobText;
use crate::ops::{Invocation, Unit};

/// What the job asks for; `None` when there is nothing to run (a listing's dry run, whose plan
/// is printed here). `job` is the job file, read once by `main`.
pub fn invocation(args: &RunArgs, job: &JobText) -> Result<Option<Invocation>, Failure> {
    let job = job.load()?;
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
    job.invocation(args, b).map(Some)
}
