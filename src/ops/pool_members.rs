//! `pool-members`: a flow pool's members and their flow used in one billing cycle. A listing:
//! no journal, no run dir; the paging lives in [`crate::listing`].

use super::{Effect, Follow, Input, Invocation, JobParts, ListSettings, Spec, Table, Unit};
use crate::flags::ListOptions;
use clap::Args;
use serde::Deserialize;

/// The job file's table of this operation's parameters.
pub const TABLE: &str = "pool";

pub static SPEC: Spec = Spec {
    name: "pool-members",
    about: "List a flow pool's members and their flow used in one billing cycle",
    help_order: 11,
    args: PoolMembersArgs::augment_args,
    from_matches: |m| {
        let a: PoolMembersArgs = super::parse_args(m);
        Ok(Invocation::List(Box::new(PoolListing {
            pool: a.pool,
            billing_cycle: a.billing_cycle,
            cid: a.cid,
            rate: a.rate,
            list: a.list.into(),
        })))
    },
    effect: Effect::Read,
    unit: Unit::Listing,
    endpoint: "GET /v1/sim-pools/{sim_pool_id}/members",
    default_column: "cid",
    by_sim_card_id: false,
    input: Input::None,
    columns: &["id", "cid", "sim_price_plan_id", "flow_used"],
    follow_columns: &[],
    follow: Follow::None,
    table: Some(Table {
        name: TABLE,
        required: Some("a [pool] table with `id` and `billing_cycle`"),
        check: |t, _| {
            let pool = t.read::<PoolTable>()?;
            crate::template::expand(
                &pool.billing_cycle,
                chrono::Local::now(),
                chrono::Utc::now(),
            )
            .map_err(|m| format!("key `pool.billing_cycle`: {m}"))?;
            Ok(())
        },
    }),
    from_job,
    rebuild: None,
    rehearsal: super::plain_rehearsal,
    explains: &[(
        "GSL.00011004",
        "the billing cycle is not one the service will report on for this pool",
    )],
};

/// The `[pool]` table of a job file: `--pool`, `--billing-cycle`, `--cid`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolTable {
    pub id: u64,
    /// `YYYY-MM`, or `{month}` / `{lastmonth}` (local time) for a scheduled report.
    pub billing_cycle: String,
    pub cid: Option<String>,
}

/// `YYYY-MM` with a month 01–12, as the API documents it.
pub fn check_billing_cycle(cycle: &str) -> Result<(), String> {
    let b = cycle.as_bytes();
    let shaped =
        b.len() == 7 && b[4] == b'-' && b[..4].iter().chain(&b[5..]).all(u8::is_ascii_digit);
    if !shaped {
        return Err(format!(
            "--billing-cycle {cycle:?}: expected YYYY-MM, e.g. 2025-01"
        ));
    }
    let month: u32 = cycle[5..].parse().unwrap_or(0);
    if !(1..=12).contains(&month) {
        return Err(format!("--billing-cycle {cycle}: the month must be 01-12"));
    }
    Ok(())
}

#[derive(Debug, Clone, Args)]
pub struct PoolMembersArgs {
    /// The flow pool's id.
    #[arg(long)]
    pub pool: u64,
    /// The billing cycle, YYYY-MM.
    #[arg(long)]
    pub billing_cycle: String,
    /// Only this member card (its ICCID).
    #[arg(long)]
    pub cid: Option<String>,
    /// Calls per second, retries included [default: 5].
    #[arg(long, allow_negative_numbers = true)]
    pub rate: Option<f64>,
    #[command(flatten)]
    pub list: ListOptions,
}

/// A pool-members listing, plain: what [`crate::listing::pools`] runs.
#[derive(Debug, Clone)]
pub struct PoolListing {
    /// The flow pool's id.
    pub pool: u64,
    /// `YYYY-MM`.
    pub billing_cycle: String,
    /// Only this member card (its ICCID).
    pub cid: Option<String>,
    /// Calls per second [default: 5].
    pub rate: Option<f64>,
    pub list: ListSettings,
}

fn from_job(p: &JobParts) -> Result<Invocation, String> {
    let pool = super::read_table::<PoolTable>(p.table)?
        .ok_or("pool-members needs a [pool] table with `id` and `billing_cycle`")?;
    let billing_cycle = crate::template::expand(
        &pool.billing_cycle,
        chrono::Local::now(),
        chrono::Utc::now(),
    )
    .map_err(|m| format!("key `pool.billing_cycle`: {m}"))?;
    Ok(Invocation::List(Box::new(PoolListing {
        pool: pool.id,
        billing_cycle,
        cid: pool.cid,
        rate: super::listing_rate(p.batch.run.rate)?,
        list: super::list_settings(&p.batch, SPEC.name)?,
    })))
}
