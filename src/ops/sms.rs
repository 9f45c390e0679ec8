//! `send-sms`: the batched, non-idempotent operation. One unit is one batch of cids (fixed at
//! ingest, so a resumed run sends the same batches), or — for a run without input — the whole
//! `order_id` in one call.
//!
//! The message settings live in the run's `RunMeta.params`, so `resume` and `follow` rebuild
//! exactly what the run was confirmed with.

use super::{
    Done, Effect, Follow, Input, Invocation, JobParts, OpFuture, Operation, Rehearsal, Spec, Table,
    Unit,
};
use crate::flags::{BatchArgs, InputFlags, RunOptions, SendOptions};
use crate::gsl::Client;
use crate::journal::NewRow;
use crate::model::Status;
use clap::Args;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The API's limit on `sms_content`, counted in characters (not bytes: Chinese text is 3 bytes
/// a character in UTF-8 and still counts one).
pub const MAX_CONTENT_CHARS: usize = 1000;
/// Cids per call unless `--batch-size` says otherwise, and the most the tool allows.
pub const DEFAULT_BATCH: usize = 100;
pub const MAX_BATCH: usize = 500;

/// The job file's table of this operation's parameters.
pub const TABLE: &str = "sms";

pub static SPEC: Spec = Spec {
    name: "send-sms",
    about: "Send one SMS text to the input's cids in batches, or to a whole order (destructive: never sent twice)",
    help_order: 3,
    args: SmsArgs::augment_args,
    from_matches: |m| build(super::parse_args(m)),
    effect: Effect::Destructive,
    unit: Unit::Batch,
    endpoint: "POST /v1/sms-send-infos",
    default_column: "cid",
    by_sim_card_id: false,
    input: Input::Optional,
    columns: &[
        "row",
        "cid",
        "batch",
        "order_id",
        "status",
        "http_status",
        "error_code",
        "error_msg",
        "attempts",
        "latency_ms",
        "finished_at",
    ],
    follow_columns: &[
        "sms_status",
        "sent_time",
        "received_time",
        "outcome",
        "outcome_detail",
    ],
    follow: Follow::Sms,
    table: Some(Table {
        name: TABLE,
        required: Some("an [sms] table with `content`"),
        check: |t, has_input| Ok(t.read::<SmsTable>()?.check(has_input)?),
    }),
    from_job,
    rebuild: Some(|v| Some(Arc::new(SendSms::new(SmsParams::from_value(v)?)))),
    rehearsal,
    explains: &[(
        "GSL.00010004",
        "a cid outside the order, a card without an SMS plan, or an unknown card: the whole call was refused, nothing was sent",
    )],
};

#[derive(Debug, Clone, Args)]
pub struct SmsArgs {
    /// Input files of cids (CSV, JSON, JSON Lines, spreadsheets: .xlsx .xls .ods), or - for stdin; none: the whole --order-id.
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<String>,
    /// The message text: 1..=1000 characters (Chinese text counts one per character).
    #[arg(long)]
    pub content: String,
    /// SMS template id.
    #[arg(long)]
    pub template_id: Option<i64>,
    /// The order (purchase batch) the cards belong to: scopes every call to it; alone, selects
    /// every card of the order in one call.
    #[arg(long)]
    pub order_id: Option<i64>,
    /// Cids per call, 1..=500 [default: 100].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// API base URL.
    #[arg(long, env = "GSL_ENDPOINT", default_value_t = crate::gsl::client::default_endpoint())]
    pub endpoint: String,
    /// Input column holding the cid (case-insensitive) [default: cid].
    #[arg(long)]
    pub column: Option<String>,
    #[command(flatten)]
    pub input: InputFlags,
    #[command(flatten)]
    pub send: SendOptions,
    #[command(flatten)]
    pub run: RunOptions,
}

/// A send-sms run from its flags: the message settings checked before anything else.
fn build(args: SmsArgs) -> Result<Invocation, String> {
    let params = SmsParams::from_args(&args)?;
    let batch = BatchArgs {
        inputs: args.inputs,
        endpoint: args.endpoint,
        column: args.column,
        input: args.input,
        send: args.send,
        run: args.run,
    };
    Ok(Invocation::run(SendSms::new(params), batch))
}

/// What every call of an SMS run carries, as stored in `RunMeta.params`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SmsParams {
    pub content: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<i64>,
    /// Cids per call; `None` for a whole-order run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<usize>,
}

impl SmsParams {
    /// Refuse content the API would refuse, before anything is sent.
    pub fn check_content(content: &str) -> Result<(), String> {
        let n = content.chars().count();
        if content.trim().is_empty() {
            return Err("--content is empty: there is no message to send".into());
        }
        if n > MAX_CONTENT_CHARS {
            return Err(format!(
                "--content is {n} characters long; the API takes at most {MAX_CONTENT_CHARS}"
            ));
        }
        Ok(())
    }

    /// The message settings from the flags, checked: nothing is sent when they are wrong.
    pub fn from_args(args: &SmsArgs) -> Result<SmsParams, String> {
        SmsParams::check_content(&args.content)?;
        let batch_size = args.batch_size.unwrap_or(DEFAULT_BATCH);
        if !(1..=MAX_BATCH).contains(&batch_size) {
            return Err(format!(
                "--batch-size {batch_size}: must be 1..={MAX_BATCH}"
            ));
        }
        if args.inputs.is_empty() && args.order_id.is_none() {
            return Err(
                "send-sms needs INPUT files of cids, or --order-id to message a whole order".into(),
            );
        }
        Ok(SmsParams {
            content: args.content.clone(),
            template_id: args.template_id,
            order_id: args.order_id,
            batch_size: (!args.inputs.is_empty()).then_some(batch_size),
        })
    }

    pub fn from_value(v: &serde_json::Value) -> Option<SmsParams> {
        serde_json::from_value(v.clone()).ok()
    }

    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("SmsParams serialises")
    }
}

/// The `[sms]` table of a job file: what `--content`, `--template-id`, `--order-id` and
/// `--batch-size` say on the command line.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsTable {
    pub content: Option<String>,
    pub template_id: Option<String>,
    pub order_id: Option<OrderId>,
    pub batch_size: Option<u32>,
}

/// An order id as a number or a string of digits.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OrderId {
    Number(u64),
    Text(String),
}

impl SmsTable {
    /// The table's own rules, checked when the job file is loaded.
    pub fn check(&self, has_input: bool) -> Result<(), String> {
        match (&self.content, &self.template_id) {
            (Some(c), _) if c.trim().is_empty() => return Err("key `sms.content`: empty".into()),
            (None, None) => return Err("[sms] needs `content` (or `template_id`)".into()),
            _ => {}
        }
        if let Some(OrderId::Text(t)) = &self.order_id {
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("key `sms.order_id`: {t:?} is not a number"));
            }
        }
        if let Some(n) = self
            .batch_size
            .filter(|n| !(1..=MAX_BATCH).contains(&(*n as usize)))
        {
            return Err(format!("key `sms.batch_size`: {n} is not 1..={MAX_BATCH}"));
        }
        if self.order_id.is_none() && !has_input {
            return Err("send-sms needs `input`/`inputs` or `sms.order_id`".into());
        }
        Ok(())
    }
}

fn from_job(p: &JobParts) -> Result<Invocation, String> {
    let sms = super::read_table::<SmsTable>(p.table)?
        .ok_or("send-sms needs an [sms] table with `content`")?;
    let content = sms.content.clone().ok_or("key `sms.content` is missing")?;
    let template_id = sms
        .template_id
        .as_ref()
        .map(|t| {
            t.trim()
                .parse::<i64>()
                .map_err(|_| format!("key `sms.template_id`: {t:?} is not a number"))
        })
        .transpose()?;
    let order_id = match &sms.order_id {
        None => None,
        Some(OrderId::Number(n)) => Some(*n as i64),
        Some(OrderId::Text(t)) => Some(
            t.trim()
                .parse::<i64>()
                .map_err(|_| format!("key `sms.order_id`: {t:?} is not a number"))?,
        ),
    };
    let b = p.batch.clone();
    build(SmsArgs {
        inputs: b.inputs,
        content,
        template_id,
        order_id,
        batch_size: sms.batch_size.map(|n| n as usize),
        endpoint: b.endpoint,
        column: b.column,
        input: b.input,
        send: b.send,
        run: b.run,
    })
}

/// The rehearsal simulator's inventory for a run: the run's cids as SMS-capable cards (China
/// Mobile / Telecom with an SMS plan; other carriers stay refused, as GSL refuses them), all in
/// the run's order when it names one. A whole-order run without cids gets a few made-up cards.
fn rehearsal(params: &serde_json::Value, keys: &[String]) -> Rehearsal {
    let order = SmsParams::from_value(params).and_then(|p| p.order_id);
    Rehearsal {
        made_up: 100,
        sms_plans: true,
        order_id: order.and_then(|o| u64::try_from(o).ok()),
        ..Rehearsal::of(keys)
    }
}

pub struct SendSms {
    pub params: SmsParams,
}

impl SendSms {
    pub fn new(params: SmsParams) -> SendSms {
        SendSms { params }
    }
}

impl Operation for SendSms {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }
    // A prefix the carrier table does not know tells nothing: only the known carriers without
    // SMS (China Unicom) are counted.
    fn refuses_carrier(&self, c: crate::carrier::Carrier) -> bool {
        !c.sends_sms() && c != crate::carrier::Carrier::Other
    }

    fn refused_carrier_words(&self, names: &str) -> String {
        format!(
            "{names} by ICCID prefix, without SMS: GSL refuses those, and a batch holding one \
             is refused whole and sent again in parts, at the cost of more calls"
        )
    }

    fn describe(&self, cards: u64, batches: u64) -> String {
        match (self.params.batch_size, self.params.order_id) {
            (None, order) => format!(
                "send {:?} to every card of order {} in 1 batch",
                self.params.content,
                order.unwrap_or_default()
            ),
            (Some(_), _) => format!(
                "send {:?} to {} in {}",
                self.params.content,
                crate::model::count(cards, "card", "cards"),
                crate::model::count(batches, "batch", "batches")
            ),
        }
    }
    fn params(&self) -> serde_json::Value {
        self.params.to_value()
    }
    /// The same text to the same cid is the same message, whatever the batches or the order.
    fn ledger_params(&self) -> String {
        self.params.content.clone()
    }
    /// The message is part of the job: another text on this run dir is another job.
    fn identity(&self) -> Vec<String> {
        vec![format!("sms:{}", self.params.to_value())]
    }
    fn batch_size(&self) -> Option<usize> {
        self.params.batch_size
    }
    fn no_input_row(&self) -> Option<NewRow> {
        self.params.order_id.map(|order| NewRow {
            arg: None,
            // The whole order in one call: one row without a cid.
            row: 1,
            location: format!("--order-id {order}"),
            raw: String::new(),
            key: None,
            status: Status::Pending,
            error_msg: None,
            extras: vec![],
            batch: Some(1),
        })
    }
    fn perform<'a>(
        &'a self,
        client: &'a Client,
        keys: &'a [String],
        _args: &'a [Option<String>],
    ) -> OpFuture<'a> {
        Box::pin(async move {
            // A whole-order unit is one row without a cid: the order alone selects the cards.
            let cids: Vec<String> = keys.iter().filter(|k| !k.is_empty()).cloned().collect();
            let req = crate::gsl::types::SendSms {
                sms_content: self.params.content.clone(),
                template_id: self.params.template_id,
                cids: (!cids.is_empty()).then_some(cids),
                order_id: self.params.order_id,
                file_temp_id: None,
            };
            client.send_sms(&req).await?;
            Ok(Done::default())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_counted_in_characters() {
        assert!(SmsParams::check_content(&"短".repeat(1000)).is_ok());
        assert!(SmsParams::check_content(&"a".repeat(1001)).is_err());
        assert!(SmsParams::check_content("").is_err());
        assert!(SmsParams::check_content("  ").is_err());
    }

    #[test]
    fn params_round_trip_through_the_journal_json() {
        let p = SmsParams {
            content: "维护通知".into(),
            template_id: Some(7),
            order_id: Some(20261126),
            batch_size: Some(100),
        };
        assert_eq!(SmsParams::from_value(&p.to_value()), Some(p));
    }
}
