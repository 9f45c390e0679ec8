//! `resume RUN_DIR`: carry on with a run from its journal (the input is never read again).

use crate::cli::ResumeArgs;
use crate::exit::Failure;
use crate::logging::LogSettings;

pub async fn run(args: ResumeArgs, log: LogSettings) -> Result<i32, Failure> {
    crate::run::resume::resume(args, log).await
}
