//! A run about to start, before anything is read or sent: the operation and its flags, the
//! settings its journal starts with, and the checks both a start and its dry-run plan make.

use crate::exit::Failure;
use crate::flags::BatchArgs;
use crate::journal::ingest::IngestStats;
use crate::journal::RunMeta;
use crate::ops::Operation;
use std::sync::Arc;

/// A run about to start: the operation with its parameters, and the common flags (inputs,
/// endpoint, rehearse, run dir, column, dry run, yes, options).
pub struct NewRun {
    pub op: Arc<dyn Operation>,
    pub args: BatchArgs,
}

/// Cards named both by ICCID and by `sim_card_id` in one run are refused (exit 2) where it
/// matters: duplicates are found per kind of key, so a card named both ways would get two calls,
/// which a non-idempotent operation must never make; and a batch call names its cards one way.
pub fn one_kind_of_key(run: &NewRun, stats: &IngestStats) -> Result<(), Failure> {
    let mixed = stats.by_id > 0 && stats.by_id < stats.valid;
    let why = if !run.op.idempotent() {
        "a card named both ways would get two calls, which must never happen"
    } else if run.op.batch_size().is_some() {
        "a batch call names its cards one way"
    } else {
        return Ok(());
    };
    if !mixed {
        return Ok(());
    }
    Err(Failure::usage(format!(
        "the input names {} cards by ICCID and {} by sim_card_id, and for {}: {why}; name every \
         card one way (one run per kind): nothing was sent",
        stats.valid - stats.by_id,
        stats.by_id,
        run.op.name()
    )))
}

/// The endpoint a run's journal (and ledger) names: `rehearsal` for a rehearsal.
pub fn journal_endpoint(args: &BatchArgs) -> String {
    if args.send.rehearse {
        "rehearsal".to_string()
    } else {
        args.endpoint.clone()
    }
}

/// The settings a new run's journal starts with (its input not read yet).
pub fn new_meta(run: &NewRun, fingerprint: String) -> RunMeta {
    let args = &run.args;
    RunMeta {
        operation: run.op.name().to_string(),
        endpoint: journal_endpoint(args),
        inputs: args.inputs.clone(),
        extra_columns: vec![],
        rehearsal: args.send.rehearse,
        created_at: chrono::Local::now().to_rfc3339(),
        fingerprint,
        params: run.op.params(),
        total_rows: None,
        settings: crate::journal::Settings {
            report_encoding: Some(
                args.run
                    .report_encoding
                    .unwrap_or_else(|| crate::report::encoding::for_inputs(&args.inputs)),
            ),
            ..super::settings::stored(&args.run)
        },
        run_id: Some(crate::journal::new_run_id()),
        again: args.send.again,
        again_window_secs: args.send.again_window.map(|w| w.0.as_secs()),
    }
}
