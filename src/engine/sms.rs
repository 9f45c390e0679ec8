//! Send SMS: the batched, non-idempotent operation. One unit is one batch of cids (fixed at
//! ingest, so a resumed run sends the same batches), or — for a run without input — the whole
//! `order_id` in one call.
//!
//! The message settings live in the run's `RunMeta.params`, so `resume` and `follow` rebuild
//! exactly what the run was confirmed with.

use super::operation::{Done, OpFuture, Operation};
use crate::gsl::Client;
use serde::{Deserialize, Serialize};

/// The API's limit on `sms_content`, counted in characters (not bytes: Chinese text is 3 bytes
/// a character in UTF-8 and still counts one).
pub const MAX_CONTENT_CHARS: usize = 1000;
/// Cids per call unless `--batch-size` says otherwise, and the most the tool allows.
pub const DEFAULT_BATCH: usize = 100;
pub const MAX_BATCH: usize = 500;

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

    pub fn from_value(v: &serde_json::Value) -> Option<SmsParams> {
        serde_json::from_value(v.clone()).ok()
    }

    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("SmsParams serialises")
    }
}

pub struct SendSms {
    pub params: SmsParams,
}

impl Operation for SendSms {
    fn name(&self) -> &'static str {
        "send-sms"
    }
    fn idempotent(&self) -> bool {
        false
    }
    fn by_sim_card_id(&self) -> bool {
        false
    }
    fn endpoint(&self) -> &'static str {
        "POST /v1/sms-send-infos"
    }
    fn describe(&self, cards: u64, batches: u64) -> String {
        match (self.params.batch_size, self.params.order_id) {
            (None, order) => format!(
                "send {:?} to every card of order {} in 1 batch",
                self.params.content,
                order.unwrap_or_default()
            ),
            (Some(_), _) => format!(
                "send {:?} to {cards} cards in {batches} batches",
                self.params.content
            ),
        }
    }
    fn params(&self) -> serde_json::Value {
        self.params.to_value()
    }
    fn perform<'a>(&'a self, client: &'a Client, keys: &'a [String]) -> OpFuture<'a> {
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
