//! `send-sms`: the message settings checked before anything else, then a run like any other
//! whose unit is a batch of cids (or one whole-order row).

use crate::cli::{BatchArgs, SmsArgs};
use crate::exit::Failure;
use crate::logging::LogSettings;
use crate::ops::sms::{SendSms, SmsParams};
use crate::run::start::{start, NewRun};
use std::sync::Arc;

pub async fn run(args: SmsArgs, log: LogSettings) -> Result<i32, Failure> {
    let params = SmsParams::from_args(&args).map_err(Failure::usage)?;
    let args_common = BatchArgs {
        inputs: args.inputs,
        endpoint: args.endpoint,
        column: args.column,
        input: args.input,
        send: args.send,
        run: args.run,
    };
    let op = Arc::new(SendSms::new(params));
    start(
        NewRun {
            op,
            args: args_common,
        },
        log,
    )
    .await
}
