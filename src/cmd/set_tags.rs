//! `set-tags`: cards into a run in batches of up to 500, the tag names looked up once
//! (`GET /v1/tags`, before anything is confirmed), then a run like any other ([`super::start`]).

use super::start::{start, NewRun};
use crate::cli::SetTagsArgs;
use crate::engine::tags::{SetTagsOp, MAX_BATCH, MAX_TAGS};
use crate::exit::Failure;
use crate::logging::LogSettings;
use std::sync::Arc;

pub async fn run(args: SetTagsArgs, log: LogSettings) -> Result<i32, Failure> {
    let batch_size = args.batch_size.unwrap_or(MAX_BATCH);
    if !(1..=MAX_BATCH).contains(&batch_size) {
        return Err(Failure::usage(format!(
            "--batch-size {batch_size}: must be 1..={MAX_BATCH}"
        )));
    }
    let mut wanted: Vec<String> = Vec::new();
    for t in &args.tags {
        let t = t.trim().to_string();
        if t.is_empty() {
            return Err(Failure::usage("--tag needs a tag name or id"));
        }
        if !wanted.contains(&t) {
            wanted.push(t);
        }
    }
    if wanted.len() > MAX_TAGS {
        return Err(Failure::usage(format!(
            "{} tags given: a card carries at most {MAX_TAGS}",
            wanted.len()
        )));
    }
    // The tags are part of the job: other tags on this run dir are another job.
    let identity = vec![format!("tags:{}", wanted.join(","))];
    start(
        NewRun {
            op: Arc::new(SetTagsOp::new(wanted, batch_size)),
            args: args.batch,
            default_column: "iccid",
            batch_size: Some(batch_size),
            identity,
            no_input_row: None,
            need_valid: false,
        },
        log,
    )
    .await
}
