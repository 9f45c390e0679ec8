//! `inventory`: the fleet from the SIM card list (500 cards a call, at the list's own quota),
//! joined with the input's rows when there is input. A listing: no journal, no run dir; the
//! paging and the join live in [`crate::listing`].

use super::{Effect, Follow, Input, Invocation, JobParts, ListSettings, Spec, Table, Unit};
use crate::flags::{InputFlags, ListOptions};
use clap::Args;
use serde::Deserialize;

/// The job file's table of this operation's parameters.
pub const TABLE: &str = "inventory";

pub static SPEC: Spec = Spec {
    name: "inventory",
    about: "List the fleet from the SIM card list (500 cards per call), joined with INPUT if given",
    help_order: 10,
    args: InventoryArgs::augment_args,
    from_matches: |m| Ok(listing(super::parse_args(m))),
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
        check: |t, _| t.read::<InventoryTable>().map(drop),
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

#[derive(Debug, Clone, Args)]
pub struct InventoryArgs {
    /// Input files (CSV, JSON, JSON Lines, spreadsheets: .xlsx .xls .ods) to join on ICCID, or - for stdin; none = the whole fleet.
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<String>,
    /// Only cards whose stored real-name flag is this.
    #[arg(long, value_name = "true|false", action = clap::ArgAction::Set, value_parser = clap::value_parser!(bool))]
    pub real_named: Option<bool>,
    /// Only cards of this purchase order.
    #[arg(long)]
    pub order_id: Option<u64>,
    /// SIM card list calls per second, retries included [default: 1, the documented quota].
    #[arg(long, allow_negative_numbers = true)]
    pub list_rate: Option<f64>,
    /// Input column holding the ICCID (case-insensitive) [default: iccid].
    #[arg(long)]
    pub column: Option<String>,
    #[command(flatten)]
    pub input: InputFlags,
    #[command(flatten)]
    pub list: ListOptions,
}

/// An inventory listing, plain: what [`crate::listing::inventory`] runs.
#[derive(Debug, Clone)]
pub struct InventoryListing {
    /// Input files to join on ICCID; none = the whole fleet.
    pub inputs: Vec<String>,
    pub column: Option<String>,
    /// `--encoding`: the input files' text encoding [default: detected].
    pub encoding: Option<crate::model::InputEncoding>,
    /// `--sheet`: the worksheet of spreadsheet inputs [default: the first].
    pub sheet: Option<String>,
    /// Only cards whose stored real-name flag is this.
    pub real_named: Option<bool>,
    /// Only cards of this purchase order.
    pub order_id: Option<u64>,
    /// SIM card list calls per second [default: 1].
    pub list_rate: Option<f64>,
    pub list: ListSettings,
}

fn listing(a: InventoryArgs) -> Invocation {
    Invocation::List(Box::new(InventoryListing {
        inputs: a.inputs,
        column: a.column,
        encoding: a.input.encoding,
        sheet: a.input.sheet,
        real_named: a.real_named,
        order_id: a.order_id,
        list_rate: a.list_rate,
        list: a.list.into(),
    }))
}

fn from_job(p: &JobParts) -> Result<Invocation, String> {
    let table = super::read_table::<InventoryTable>(p.table)?;
    // The SIM card list has its own quota: `rate` is for the other APIs.
    Ok(Invocation::List(Box::new(InventoryListing {
        real_named: table.as_ref().and_then(|f| f.real_named),
        order_id: table.as_ref().and_then(|f| f.order_id),
        list_rate: p.list_rate,
        column: p.batch.column.clone(),
        inputs: p.batch.inputs.clone(),
        encoding: p.batch.input.encoding,
        sheet: p.batch.input.sheet.clone(),
        list: super::list_settings(&p.batch, SPEC.name)?,
    })))
}
