//! `check-real-name`, `clear-real-name`: one card per request, a run like any other.

use crate::cli::BatchArgs;
use crate::exit::Failure;
use crate::logging::LogSettings;
use crate::ops::Operation;
use crate::run::start::{start, NewRun};
use std::sync::Arc;

pub async fn run(
    op: Arc<dyn Operation>,
    args: BatchArgs,
    log: LogSettings,
) -> Result<i32, Failure> {
    start(NewRun { op, args }, log).await
}
