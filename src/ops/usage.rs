//! `usage`: each card's flow total, used and left this cycle (MB), 50 cards per call at
//! `--rate`, joined with the input's rows; without input, the fleet from the SIM card list. A
//! listing: no journal, no run dir; the work is in [`crate::listing::usage`].

use super::{Effect, Follow, Input, Invocation, JobParts, ListSettings, Spec, Unit};
use crate::flags::{InputFlags, ListOptions};
use clap::Args;

pub static SPEC: Spec = Spec {
    name: "usage",
    about: "Flow total, used and left per card (50 cards per call), joined with INPUT if given",
    help_order: 20,
    args: UsageArgs::augment_args,
    from_matches: |m| Ok(listing(super::parse_args(m))),
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

#[derive(Debug, Clone, Args)]
pub struct UsageArgs {
    /// Input files (CSV, JSON, JSON Lines, spreadsheets: .xlsx .xls .ods) of cards, or - for stdin; none = the whole fleet.
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<String>,
    /// Input column holding the ICCID (case-insensitive) [default: iccid].
    #[arg(long)]
    pub column: Option<String>,
    /// Usage query calls per second, retries included [default: 5].
    #[arg(long, allow_negative_numbers = true)]
    pub rate: Option<f64>,
    /// SIM card list calls per second, to read the fleet without INPUT [default: 1].
    #[arg(long, allow_negative_numbers = true)]
    pub list_rate: Option<f64>,
    #[command(flatten)]
    pub input: InputFlags,
    #[command(flatten)]
    pub list: ListOptions,
}

/// A usage listing, plain: what [`crate::listing::usage`] runs.
#[derive(Debug, Clone)]
pub struct UsageListing {
    /// Input files of cards; none = the whole fleet.
    pub inputs: Vec<String>,
    pub column: Option<String>,
    /// `--encoding`: the input files' text encoding [default: detected].
    pub encoding: Option<crate::model::InputEncoding>,
    /// `--sheet`: the worksheet of spreadsheet inputs [default: the first].
    pub sheet: Option<String>,
    /// Usage query calls per second [default: 5].
    pub rate: Option<f64>,
    /// SIM card list calls per second, to read the fleet without input [default: 1].
    pub list_rate: Option<f64>,
    pub list: ListSettings,
}

fn listing(a: UsageArgs) -> Invocation {
    Invocation::List(Box::new(UsageListing {
        inputs: a.inputs,
        column: a.column,
        encoding: a.input.encoding,
        sheet: a.input.sheet,
        rate: a.rate,
        list_rate: a.list_rate,
        list: a.list.into(),
    }))
}

fn from_job(p: &JobParts) -> Result<Invocation, String> {
    Ok(Invocation::List(Box::new(UsageListing {
        inputs: p.batch.inputs.clone(),
        column: p.batch.column.clone(),
        encoding: p.batch.input.encoding,
        sheet: p.batch.input.sheet.clone(),
        rate: super::listing_rate(p.batch.run.rate)?,
        list_rate: p.list_rate,
        list: super::list_settings(&p.batch, SPEC.name)?,
    })))
}
