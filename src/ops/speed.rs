//! `set-speed-limit --kbps N|none` (限速): type-15 work orders. The speed must be one the card's
//! carrier offers (by ICCID prefix, see [`crate::carrier`]); any other makes the row `invalid`,
//! naming the allowed values, and is never sent.

use super::card_state::{self, CardStateOp};
use super::{Follow, Invocation, JobParts, RowColumns, Spec, Table};
use crate::carrier::{speed_words, NO_SPEED_LIMIT};
use crate::flags::BatchArgs;
use clap::Args;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

pub static SPEC: Spec = Spec {
    name: "set-speed-limit",
    about: "Limit each card's speed to a value its carrier offers, or lift the limit (限速; destructive)",
    help_order: 17,
    args: SpeedArgs::augment_args,
    endpoint: "POST /v1/sim-cards/0/speed-limit {speed_value, iccid}",
    follow: Follow::WorkOrders(15),
    table: Some(Table {
        name: TABLE,
        required: Some("a [speed] table with `kbps` (a number, or \"none\")"),
        check: |t, _| t.read::<SpeedTable>().map(drop),
    }),
    from_matches: |m| build(super::parse_args(m)),
    from_job,
    rebuild: Some(|v| Some(Arc::new(op(v.get("speed_value")?.as_i64()?)))),
    ..card_state::COMMON
};

#[derive(Debug, Clone, Args)]
pub struct SpeedArgs {
    /// The speed limit in Kbps (1 Mbps = 1024), one the cards' carrier offers; `none` lifts it.
    #[arg(long, value_name = "N|none", allow_negative_numbers = true)]
    pub kbps: String,
    #[command(flatten)]
    pub batch: BatchArgs,
}

fn from_job(p: &JobParts) -> Result<Invocation, String> {
    let t = super::read_table::<SpeedTable>(p.table)?
        .ok_or("set-speed-limit needs a [speed] table with `kbps`")?;
    build(SpeedArgs {
        kbps: t.kbps.to_string().trim_matches('"').to_string(),
        batch: p.batch.clone(),
    })
}

/// The run `--kbps` asks for, checked: nothing is sent when it is wrong.
fn build(a: SpeedArgs) -> Result<Invocation, String> {
    Ok(Invocation::run(op(parse_kbps(&a.kbps)?), a.batch))
}

pub const TABLE: &str = "speed";

/// The job file's `[speed]` table: `kbps = 1024` or `kbps = "none"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpeedTable {
    pub kbps: toml::Value,
}

/// `--kbps`: a positive number of Kbps, or `none` (no limit).
pub fn parse_kbps(s: &str) -> Result<i64, String> {
    match s.trim() {
        v if v.eq_ignore_ascii_case("none") => Ok(NO_SPEED_LIMIT),
        v => v
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("--kbps {v:?}: give a speed in Kbps (e.g. 1024), or none")),
    }
}

pub fn op(kbps: i64) -> CardStateOp {
    let verb = match kbps {
        NO_SPEED_LIMIT => "lift the speed limit of".to_string(),
        k => format!("limit to {} the speed of", speed_words(k)),
    };
    CardStateOp {
        body: json!({ "speed_value": kbps }).as_object().cloned(),
        params: json!({ "speed_value": kbps }),
        check: Some(allowed),
        ..CardStateOp::new(&SPEC, verb, "speed-limit")
    }
}

fn allowed(op: &CardStateOp, key: &str, _: &RowColumns) -> Result<Option<String>, String> {
    let kbps = op.params["speed_value"].as_i64().unwrap_or(NO_SPEED_LIMIT);
    match card_state::carrier_of(key) {
        Some(carrier) => carrier.check_speed(kbps).map(|()| None),
        None => Ok(None),
    }
}
