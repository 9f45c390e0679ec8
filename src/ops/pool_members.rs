//! `pool-members`: a flow pool's members and their flow used in one billing cycle. A listing:
//! no journal, no run dir; the paging lives in [`crate::listing`].

use super::{Effect, Follow, Input, JobParts, Spec, Table, Unit};
use crate::cli::{Command, PoolMembersArgs};
use serde::Deserialize;

/// The job file's table of this operation's parameters.
pub const TABLE: &str = "pool";

pub static SPEC: Spec = Spec {
    name: "pool-members",
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

fn from_job(p: &JobParts) -> Result<Command, String> {
    let pool = p
        .pool
        .ok_or("pool-members needs a [pool] table with `id` and `billing_cycle`")?;
    let billing_cycle = crate::template::expand(
        &pool.billing_cycle,
        chrono::Local::now(),
        chrono::Utc::now(),
    )
    .map_err(|m| format!("key `pool.billing_cycle`: {m}"))?;
    Ok(Command::PoolMembers(PoolMembersArgs {
        pool: pool.id,
        billing_cycle,
        cid: pool.cid.clone(),
        rate: super::listing_rate(p.batch.run.rate)?,
        list: super::list_options(&p.batch, SPEC.name)?,
    }))
}
