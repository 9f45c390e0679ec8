//! `run JOB.toml`: a job file, resolved with flags and environment ([`crate::job`]), run as
//! the batch command it stands for — a new run, or the resumption of its existing run dir.

use super::batch;
use crate::cli::RunArgs;
use crate::engine::operation;
use crate::exit::Failure;
use crate::job;
use crate::logging::LogSettings;

pub async fn run(args: RunArgs, log: LogSettings) -> Result<i32, Failure> {
    let job = job::load(&args.job)?;
    let name = job.file.operation.as_str();
    // Only the per-card operations run through the batch engine in this build; the others are
    // valid job files that wait for the build that brings their command.
    let op = match name {
        "check-real-name" | "clear-real-name" => operation::by_name(name),
        _ => None,
    }
    .ok_or_else(|| {
        Failure::usage(format!(
            "job file {}: operation {name:?} is not available in this build of gslbatch (the file is valid; run it with a build that has `gslbatch {name}`)",
            args.job.display()
        ))
    })?;
    let batch_args = job.resolve(&args)?;
    batch::run(op, batch_args, log).await
}
