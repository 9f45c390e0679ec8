//! `clear-real-name`: clear the real-name data of each China Telecom card. Destructive: each call
//! creates a type-14 work order, so a call whose answer never came is `unknown`, never resent.

use super::{Done, Effect, Follow, Input, Invocation, OpFuture, Operation, Spec, Unit};
use crate::gsl::Client;
use std::sync::Arc;

/// The work-order type of a real-name clearing.
pub const WORK_ORDER_TYPE: i64 = 14;

pub static SPEC: Spec = Spec {
    name: "clear-real-name",
    about: "Clear the real-name data of each China Telecom card (destructive: never sent twice)",
    help_order: 1,
    args: super::batch_flags,
    from_matches: |m| Ok(Invocation::run(ClearRealName, super::parse_args(m))),
    effect: Effect::Destructive,
    unit: Unit::Card,
    endpoint: "POST /v1/sim-cards/0/clear-real-name?iccid=",
    default_column: "iccid",
    by_sim_card_id: true,
    input: Input::Required,
    columns: super::CARD_COLUMNS,
    follow_columns: super::WORK_ORDER_FOLLOW,
    follow: Follow::WorkOrders(WORK_ORDER_TYPE),
    table: None,
    from_job: |p| Ok(Invocation::run(ClearRealName, p.batch.clone())),
    rebuild: Some(|_| Some(Arc::new(ClearRealName))),
    rehearsal: super::plain_rehearsal,
    explains: &[(
        "GSL.00010004",
        "not a China Telecom card, or not in a state that allows clearing its real-name data",
    )],
};

pub struct ClearRealName;

impl Operation for ClearRealName {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }
    fn carrier_only(&self) -> Option<crate::carrier::Carrier> {
        Some(crate::carrier::Carrier::ChinaTelecom)
    }
    fn describe(&self, cards: u64, _batches: u64) -> String {
        format!(
            "clear real-name data of {}",
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
            let r = client.clear_real_name(&super::one_card(keys)).await?;
            Ok(Done {
                work_order_id: Some(r.work_order_id),
                ..Done::default()
            })
        })
    }
}
