//! `check-real-name`: ask the carrier whether each card is real-name registered. A read, one card
//! per call, retried freely.

use super::{Done, Effect, Follow, Input, Invocation, OpFuture, Operation, Spec, Unit};
use crate::gsl::Client;
use std::sync::Arc;

pub static SPEC: Spec = Spec {
    name: "check-real-name",
    about: "Ask the carrier whether each card is real-name registered (idempotent, retried freely)",
    help_order: 0,
    args,
    from_matches: |m| Ok(Invocation::run(CheckRealName, super::parse_args(m))),
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
    from_job: |p| Ok(Invocation::run(CheckRealName, p.batch.clone())),
    rebuild: Some(|_| Some(Arc::new(CheckRealName))),
    rehearsal: super::plain_rehearsal,
    explains: &[],
};

/// The shared batch flags, less those of changing cards: a check changes nothing, so there is
/// nothing to confirm and nothing that would be done again (they are still taken, unlisted).
fn args(cmd: clap::Command) -> clap::Command {
    ["yes", "again", "again_window", "follow"]
        .into_iter()
        .fold(super::batch_flags(cmd), |c, flag| {
            c.mut_arg(flag, |a| a.hide(true))
        })
}

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
