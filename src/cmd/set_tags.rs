//! `set-tags`: the tags checked (and later looked up once, before anything is confirmed), then
//! a run like any other in batches of up to 500 cards.

use crate::cli::SetTagsArgs;
use crate::exit::Failure;
use crate::logging::LogSettings;
use crate::ops::tags;
use crate::run::start::{start, NewRun};
use std::sync::Arc;

pub async fn run(args: SetTagsArgs, log: LogSettings) -> Result<i32, Failure> {
    let op = Arc::new(tags::from_args(&args).map_err(Failure::usage)?);
    start(
        NewRun {
            op,
            args: args.batch,
        },
        log,
    )
    .await
}
