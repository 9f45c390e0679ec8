//! `check-real-name`: ask the carrier whether each card is real-name registered. A read, one card
//! per call, retried freely.

use super::{Done, Effect, Follow, Input, Invocation, OpFuture, Operation, Spec, Unit};
use crate::gsl::Client;
use crate::history::args::HistoryArgs;
use std::sync::Arc;

pub static SPEC: Spec = Spec {
    name: "check-real-name",
    about: "Ask the carrier whether each card is real-name registered (idempotent, retried freely)",
    help_order: 0,
    args,
    from_matches: |m| {
        let history: HistoryArgs = super::parse_args(m);
        crate::history::args::check(&history)?;
        Ok(Invocation::run(
            CheckRealName { history },
            super::parse_args(m),
        ))
    },
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
    from_job: |p| {
        crate::history::args::check(&p.history)?;
        let history = p.history.clone();
        Ok(Invocation::run(CheckRealName { history }, p.batch.clone()))
    },
    rebuild: Some(|_| Some(Arc::new(CheckRealName::default()))),
    rehearsal: super::plain_rehearsal,
    explains: &[],
};

/// The shared batch flags, less those of changing cards: a check changes nothing, so there is
/// nothing to confirm and nothing that would be done again (they are still taken, unlisted);
/// and the history's flags (`--compare-with`...).
fn args(cmd: clap::Command) -> clap::Command {
    let cmd = <HistoryArgs as clap::Args>::augment_args(super::batch_flags(cmd));
    ["yes", "again", "again_window", "follow"]
        .into_iter()
        .fold(cmd, |c, flag| c.mut_arg(flag, |a| a.hide(true)))
}

/// A check; its history flags are what the run's end compares with (not kept in the journal:
/// a resumed check leaves its snapshot without comparing).
#[derive(Default)]
pub struct CheckRealName {
    pub history: HistoryArgs,
}

impl Operation for CheckRealName {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }
    fn history(&self) -> Option<&HistoryArgs> {
        Some(&self.history)
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
