//! `inventory`: the fleet from the SIM card list (500 cards a call, at the list's own quota),
//! joined with the input's rows when there is input. A listing: no journal, no run dir; the
//! paging and the join live in [`crate::listing`].

use super::{Effect, Follow, Input, JobParts, Spec, Table, Unit};
use crate::cli::{Command, InventoryArgs};
use serde::Deserialize;

/// The job file's table of this operation's parameters.
pub const TABLE: &str = "inventory";

pub static SPEC: Spec = Spec {
    name: "inventory",
    effect: Effect::Read,
    unit: Unit::Listing,
    endpoint: "GET /v1/sim-cards",
    default_column: "iccid",
    by_sim_card_id: true,
    input: Input::Optional,
    // The card's columns, in report order (`tag_names` follows when the API sends it).
    columns: &[
        "sim_card_id",
        "iccid",
        "msisdn",
        "sim_status",
        "order_id",
        "real_named",
        "flow_used",
    ],
    follow_columns: &[],
    follow: Follow::None,
    table: Some(Table {
        name: TABLE,
        required: None,
    }),
    from_job,
    rebuild: None,
    rehearsal: super::plain_rehearsal,
    explains: &[],
};

/// The `[inventory]` table of a job file: `--real-named` and `--order-id`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryTable {
    pub real_named: Option<bool>,
    pub order_id: Option<u64>,
}

fn from_job(p: &JobParts) -> Result<Command, String> {
    // The SIM card list has its own quota: `rate` is for the other APIs.
    Ok(Command::Inventory(InventoryArgs {
        real_named: p.inventory.and_then(|f| f.real_named),
        order_id: p.inventory.and_then(|f| f.order_id),
        list_rate: p.args.list_rate.or(p.list_rate),
        column: p.batch.column.clone(),
        inputs: p.batch.inputs.clone(),
        input: p.batch.input.clone(),
        list: super::list_options(&p.batch, SPEC.name)?,
        history: Default::default(),
    }))
}
