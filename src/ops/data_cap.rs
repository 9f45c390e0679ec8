//! `set-data-cap --mb N | --cancel` (达量断网): cut a card's network once it used N MB this cycle
//! (type-12 work orders), or cancel the cap (type 21). China Telecom, and China Unicom / China
//! Mobile cards in a flow pool; the platform refuses the rest.

use super::card_state::{self, CardStateOp};
use super::{Follow, Invocation, JobParts, Spec, Table};
use crate::flags::BatchArgs;
use clap::Args;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

pub static SPEC: Spec = Spec {
    name: "set-data-cap",
    about: "Cut each card's network once it used N MB this cycle, or cancel that cap (达量断网; destructive)",
    help_order: 18,
    args: DataCapArgs::augment_args,
    endpoint: "POST /v1/sim-cards/0/exceed-cut-net {action, quota, iccid}",
    follow: Follow::WorkOrders(12),
    table: Some(Table {
        name: TABLE,
        required: Some("a [data_cap] table with `mb` or `cancel = true`"),
        check: |t, _| t.read::<DataCapTable>().map(drop),
    }),
    from_matches: |m| build(super::parse_args(m)),
    from_job,
    rebuild: Some(|v| {
        Some(Arc::new(op(v
            .get("quota")
            .map(|q| q.as_i64())
            .unwrap_or(None))))
    }),
    ..card_state::COMMON
};

#[derive(Debug, Clone, Args)]
pub struct DataCapArgs {
    /// Cut the network once the card used this many MB this cycle (0, or -1 for no cap).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub mb: Option<i64>,
    /// Cancel the cards' data cap instead.
    #[arg(long)]
    pub cancel: bool,
    #[command(flatten)]
    pub batch: BatchArgs,
}

fn from_job(p: &JobParts) -> Result<Invocation, String> {
    let t = super::read_table::<DataCapTable>(p.table)?
        .ok_or("set-data-cap needs a [data_cap] table")?;
    build(DataCapArgs {
        mb: t.mb,
        cancel: t.cancel.unwrap_or(false),
        batch: p.batch.clone(),
    })
}

/// The run `--mb` / `--cancel` ask for, checked: nothing is sent when they are wrong.
fn build(a: DataCapArgs) -> Result<Invocation, String> {
    Ok(Invocation::run(op(from_flags(a.mb, a.cancel)?), a.batch))
}

pub const TABLE: &str = "data_cap";

/// The job file's `[data_cap]` table: `mb = 500`, or `cancel = true`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataCapTable {
    pub mb: Option<i64>,
    pub cancel: Option<bool>,
}

/// The cap `--mb` / `--cancel` ask for: `Some(mb)` to set (0, -1 or more), `None` to cancel.
pub fn from_flags(mb: Option<i64>, cancel: bool) -> Result<Option<i64>, String> {
    match (mb, cancel) {
        (Some(_), true) => Err("give --mb N or --cancel, not both".into()),
        (None, false) => Err("give --mb N (MB; 0, or -1 for no cap) or --cancel".into()),
        (Some(mb), false) if mb < -1 => Err(format!("--mb {mb}: must be 0 or more, or -1")),
        (mb, _) => Ok(mb),
    }
}

/// Set the cap to `mb` MB, or cancel it (`None`).
pub fn op(mb: Option<i64>) -> CardStateOp {
    let (verb, body, wtype) = match mb {
        Some(mb) => (
            format!("cap at {mb} MB the data of"),
            json!({ "action": 1, "quota": mb.to_string() }),
            12,
        ),
        None => (
            "cancel the data cap of".to_string(),
            json!({ "action": 2 }),
            21,
        ),
    };
    CardStateOp {
        body: body.as_object().cloned(),
        params: json!({ "quota": mb }),
        work_order_type: wtype,
        ..CardStateOp::new(&SPEC, verb, "exceed-cut-net")
    }
}
