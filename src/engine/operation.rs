//! The operations a run performs on each card, as values of one small trait.
//!
//! Adding stop / reset / enable later is one more implementation here: which API it uses (for
//! its pacer), whether repeating it is harmless, and what a success puts in the report.

use crate::gsl::{CardRef, Client, GslError};
use std::future::Future;
use std::pin::Pin;

/// What a success puts into the report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Done {
    pub work_order_id: Option<i64>,
    pub real_named: Option<bool>,
    /// The card's ICCID as the answer names it (a check's answer carries it).
    pub iccid: Option<String>,
}

pub type OpFuture<'a> = Pin<Box<dyn Future<Output = Result<Done, GslError>> + Send + 'a>>;

/// What [`Operation::prepare`] returns: `Err` is a plain reason to stop before sending (exit 2).
pub type PrepareFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

pub trait Operation: Send + Sync + 'static {
    /// The command name, e.g. `clear-real-name`.
    fn name(&self) -> &'static str;
    /// True when doing it twice is harmless: then in-flight failures are retried.
    fn idempotent(&self) -> bool;
    /// True when it changes something that cannot be taken back (needs confirmation).
    fn destructive(&self) -> bool {
        !self.idempotent()
    }
    /// Whether input rows may name their card by `sim_card_id` (the journal key `#<id>`); SMS
    /// addresses cids only.
    fn by_sim_card_id(&self) -> bool {
        true
    }
    /// The HTTP method and path shape, for the dry-run plan.
    fn endpoint(&self) -> &'static str;
    /// What the run will do, for the plan and the confirmation: `about to {describe} via ...`.
    fn describe(&self, cards: u64, batches: u64) -> String;
    /// The settings a run of it is confirmed with, kept in the journal (`RunMeta.params`) so
    /// that `resume` and `follow` rebuild exactly this operation ([`from_meta`]).
    fn params(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
    /// Look up what the operation needs from the API before the first request is confirmed
    /// (e.g. tag ids); called once with the run's client and `--max-attempts`, after the input
    /// was read.
    fn prepare<'a>(&'a self, _client: &'a Client, _max_attempts: u32) -> PrepareFuture<'a> {
        Box::pin(std::future::ready(Ok(())))
    }
    /// A refusal that no later request could get past (e.g. no access to a tag): the whole run
    /// stops at once with this message, the unit stays `pending`.
    fn fatal(&self, _err: &GslError) -> Option<String> {
        None
    }
    /// Perform it for one unit: one card, or the cards of one batch for batched operations.
    fn perform<'a>(&'a self, client: &'a Client, keys: &'a [String]) -> OpFuture<'a>;
}

/// The card of a per-card unit (the engine makes units of one row for unbatched operations).
fn one_card(keys: &[String]) -> CardRef {
    CardRef::from_key(keys.first().map_or("", String::as_str))
}

pub struct CheckRealName;

impl Operation for CheckRealName {
    fn name(&self) -> &'static str {
        "check-real-name"
    }
    fn idempotent(&self) -> bool {
        true
    }
    fn endpoint(&self) -> &'static str {
        "GET /v1/sim-cards/0/real-named?iccid="
    }
    fn describe(&self, cards: u64, _batches: u64) -> String {
        format!("check the real-name status of {cards} cards")
    }
    fn perform<'a>(&'a self, client: &'a Client, keys: &'a [String]) -> OpFuture<'a> {
        Box::pin(async move {
            let r = client.real_named(&one_card(keys)).await?;
            Ok(Done {
                real_named: Some(r.real_named),
                iccid: r.iccid,
                ..Done::default()
            })
        })
    }
}

pub struct ClearRealName;

impl Operation for ClearRealName {
    fn name(&self) -> &'static str {
        "clear-real-name"
    }
    fn idempotent(&self) -> bool {
        false
    }
    fn endpoint(&self) -> &'static str {
        "POST /v1/sim-cards/0/clear-real-name?iccid="
    }
    fn describe(&self, cards: u64, _batches: u64) -> String {
        format!("clear real-name data of {cards} cards")
    }
    fn perform<'a>(&'a self, client: &'a Client, keys: &'a [String]) -> OpFuture<'a> {
        Box::pin(async move {
            let r = client.clear_real_name(&one_card(keys)).await?;
            Ok(Done {
                work_order_id: Some(r.work_order_id),
                ..Done::default()
            })
        })
    }
}

/// The operation a run's journal holds, its settings included (SMS content lives in `params`).
pub fn from_meta(meta: &crate::journal::RunMeta) -> Option<std::sync::Arc<dyn Operation>> {
    match meta.operation.as_str() {
        "send-sms" => {
            let params = super::sms::SmsParams::from_value(&meta.params)?;
            Some(std::sync::Arc::new(super::sms::SendSms { params }))
        }
        "set-tags" => Some(std::sync::Arc::new(super::tags::SetTagsOp::from_params(
            &meta.params,
        )?)),
        other => by_name(other),
    }
}

/// The operation a command or journal names.
pub fn by_name(name: &str) -> Option<std::sync::Arc<dyn Operation>> {
    match name {
        "check-real-name" => Some(std::sync::Arc::new(CheckRealName)),
        "clear-real-name" => Some(std::sync::Arc::new(ClearRealName)),
        _ => None,
    }
}
