//! `usage`: each card's flow total, used and left this cycle (MB), 50 cards per call at
//! `--rate`, joined with the input's rows; without input, the fleet from the SIM card list. A
//! listing: no journal, no run dir; the work is in [`crate::listing::usage`].

use super::{Effect, Follow, Input, JobParts, Spec, Unit};
use crate::cli::{Command, UsageArgs};

pub static SPEC: Spec = Spec {
    name: "usage",
    effect: Effect::Read,
    unit: Unit::Listing,
    endpoint: "POST /v1/sim-price-plans/usage/batch-query",
    default_column: "iccid",
    by_sim_card_id: true,
    input: Input::Optional,
    columns: &[
        "sim_card_id",
        "iccid",
        "price_plan_id",
        "price_plan_name",
        "flow_total",
        "flow_used",
        "flow_left",
    ],
    follow_columns: &[],
    follow: Follow::None,
    table: None,
    from_job,
    rebuild: None,
    rehearsal: super::plain_rehearsal,
    explains: &[],
};

fn from_job(p: &JobParts) -> Result<Command, String> {
    Ok(Command::Usage(UsageArgs {
        inputs: p.batch.inputs.clone(),
        column: p.batch.column.clone(),
        rate: super::listing_rate(p.batch.run.rate)?,
        list_rate: p.args.list_rate.or(p.list_rate),
        input: p.batch.input.clone(),
        list: super::list_options(&p.batch, SPEC.name)?,
        history: Default::default(),
        marks: Default::default(),
    }))
}
