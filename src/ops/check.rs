//! `check-real-name`: ask the carrier whether each card is real-name registered. A read, one card
//! per call, retried freely.

use super::{Done, Effect, Follow, Input, OpFuture, Operation, Spec, Unit};
use crate::cli::Command;
use crate::gsl::Client;
use std::sync::Arc;

pub static SPEC: Spec = Spec {
    name: "check-real-name",
    effect: Effect::Read,
    unit: Unit::Card,
    endpoint: "GET /v1/sim-cards/0/real-named?iccid=",
    default_column: "iccid",
    by_sim_card_id: true,
    input: Input::Required,
    columns: super::CARD_COLUMNS,
    follow_columns: super::WORK_ORDER_FOLLOW,
    follow: Follow::None,
    table: None,
    from_job: |p| Ok(Command::CheckRealName(p.batch.clone())),
    rebuild: Some(|_| Some(Arc::new(CheckRealName))),
    rehearsal: super::plain_rehearsal,
    explains: &[],
};

pub struct CheckRealName;

impl Operation for CheckRealName {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }
    fn describe(&self, cards: u64, _batches: u64) -> String {
        format!(
            "check the real-name status of {}",
            crate::model::count(cards, "card", "cards")
        )
    }
    fn perform<'a>(
        &'a self,
        client: &'a Client,
        keys: &'a [String],
        _args: &'a [Option<String>],
    ) -> OpFuture<'a> {
        Box::pin(async move {
            let r = client.real_named(&super::one_card(keys)).await?;
            Ok(Done {
                real_named: Some(r.real_named),
                iccid: r.iccid,
                ..Done::default()
            })
        })
    }
}
