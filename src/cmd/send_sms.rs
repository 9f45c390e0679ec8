//! `send-sms`: the message settings checked before anything else, then a run like any other
//! ([`super::start`]) whose unit is a batch of cids (or one whole-order row), whose settings
//! live in `RunMeta.params`, and whose rehearsal cards can receive SMS.

use super::start::{start, NewRun};
use crate::cli::{BatchArgs, SmsArgs};
use crate::engine::sms::{SendSms, SmsParams, DEFAULT_BATCH, MAX_BATCH};
use crate::exit::Failure;
use crate::journal::{NewRow, RunMeta};
use crate::logging::LogSettings;
use crate::model::Status;
use crate::simulator::{luhn_digit, SimConfig};
use std::sync::Arc;

const OP: &str = "send-sms";

/// The message settings from the flags, checked: nothing is sent when they are wrong.
fn params(args: &SmsArgs) -> Result<SmsParams, Failure> {
    SmsParams::check_content(&args.content).map_err(Failure::usage)?;
    let batch_size = args.batch_size.unwrap_or(DEFAULT_BATCH);
    if !(1..=MAX_BATCH).contains(&batch_size) {
        return Err(Failure::usage(format!(
            "--batch-size {batch_size}: must be 1..={MAX_BATCH}"
        )));
    }
    if args.inputs.is_empty() && args.order_id.is_none() {
        return Err(Failure::usage(
            "send-sms needs INPUT files of cids, or --order-id to message a whole order",
        ));
    }
    Ok(SmsParams {
        content: args.content.clone(),
        template_id: args.template_id,
        order_id: args.order_id,
        batch_size: (!args.inputs.is_empty()).then_some(batch_size),
    })
}

/// The rehearsal simulator's inventory for a run: the run's cids as SMS-capable cards (China
/// Mobile / Telecom with an SMS plan; other carriers stay refused, as GSL refuses them), all in
/// the run's order when it names one. A whole-order run without cids gets a few made-up cards.
pub fn rehearsal_config(meta: &RunMeta, keys: &[String]) -> SimConfig {
    if meta.operation != OP {
        return SimConfig::from_iccids(keys);
    }
    let order = SmsParams::from_value(&meta.params).and_then(|p| p.order_id);
    let mut keys = keys.to_vec();
    if keys.is_empty() {
        keys = (0..100)
            .map(|i| {
                let body = format!("898600{i:013}");
                format!("{body}{}", luhn_digit(&body))
            })
            .collect();
    }
    let mut cfg = SimConfig::from_iccids(&keys);
    for card in cfg.inventory.iter_mut().flatten() {
        card.sms_plan = card.carrier.sends_sms();
        if let Some(o) = order.and_then(|o| u64::try_from(o).ok()) {
            card.order_id = o;
        }
    }
    cfg
}

pub async fn run(args: SmsArgs, log: LogSettings) -> Result<i32, Failure> {
    let p = params(&args)?;
    // The message is part of the job: another text on this run dir is another job.
    let identity = vec![format!("sms:{}", p.to_value())];
    let no_input_row = p.order_id.map(|order| NewRow {
        // The whole order in one call: one row without a cid.
        row: 1,
        location: format!("--order-id {order}"),
        raw: String::new(),
        key: None,
        status: Status::Pending,
        error_msg: None,
        extras: vec![],
        batch: Some(1),
    });
    let batch_size = p.batch_size;
    start(
        NewRun {
            op: Arc::new(SendSms { params: p }),
            args: BatchArgs {
                inputs: args.inputs,
                endpoint: args.endpoint,
                column: args.column,
                send: args.send,
                run: args.run,
            },
            default_column: "cid",
            batch_size,
            identity,
            no_input_row,
            need_valid: true,
        },
        log,
    )
    .await
}
