//! `bind-imei [--bind-type 1|2]` (机卡重绑): type-13 work orders. Type 2 (the default) binds
//! each card to the IMEI in its row's `imei` column, exactly 15 digits; type 1 rebinds to the
//! device in use and needs none. China Telecom (twice a month per card) and China Mobile
//! (type 1 only); a row that cannot be bound is `invalid` before anything is sent.

use super::card_state::{self, CardStateOp};
use super::{Follow, Invocation, JobParts, RowColumns, Spec, Table};
use crate::flags::BatchArgs;
use clap::Args;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

pub static SPEC: Spec = Spec {
    name: "bind-imei",
    about: "Bind each card to the IMEI in its row's `imei` column, or to the device in use (机卡重绑; destructive)",
    help_order: 19,
    args: BindImeiArgs::augment_args,
    endpoint: "POST /v1/sim-cards/0/bind-device {bind_type, imei, iccid}",
    follow: Follow::WorkOrders(13),
    table: Some(Table {
        name: TABLE,
        required: None,
        check: |t, _| t.read::<ImeiTable>().map(drop),
    }),
    from_matches: |m| build(super::parse_args(m)),
    from_job,
    rebuild: Some(|v| Some(Arc::new(op(v.get("bind_type")?.as_u64()? as u8)))),
    ..card_state::COMMON
};

#[derive(Debug, Clone, Args)]
pub struct BindImeiArgs {
    /// 2: bind to the IMEI in each row's `imei` column; 1: rebind to the device in use [default: 2].
    #[arg(long, value_name = "1|2")]
    pub bind_type: Option<u8>,
    #[command(flatten)]
    pub batch: BatchArgs,
}

fn from_job(p: &JobParts) -> Result<Invocation, String> {
    let t = super::read_table::<ImeiTable>(p.table)?;
    build(BindImeiArgs {
        bind_type: t.and_then(|t| t.bind_type),
        batch: p.batch.clone(),
    })
}

/// The run `--bind-type` asks for, checked: nothing is sent when it is wrong.
fn build(a: BindImeiArgs) -> Result<Invocation, String> {
    let bind_type = match a.bind_type.unwrap_or(2) {
        t @ (1 | 2) => t,
        t => {
            return Err(format!(
                "--bind-type {t}: must be 1 (the device in use) or 2 (the row's IMEI)"
            ))
        }
    };
    Ok(Invocation::run(op(bind_type), a.batch))
}

/// The input column holding each card's IMEI.
pub const COLUMN: &str = "imei";

pub const TABLE: &str = "imei";

/// The job file's `[imei]` table: `bind_type = 1 | 2`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImeiTable {
    pub bind_type: Option<u8>,
}

pub fn op(bind_type: u8) -> CardStateOp {
    let verb = match bind_type {
        1 => "rebind to the device in use",
        _ => "bind to its row's IMEI each of",
    };
    CardStateOp {
        body: json!({ "bind_type": bind_type }).as_object().cloned(),
        params: json!({ "bind_type": bind_type }),
        check: Some(imei),
        row_field: Some("imei"),
        ..CardStateOp::new(&SPEC, verb, "bind-device")
    }
}

fn imei(op: &CardStateOp, key: &str, row: &RowColumns) -> Result<Option<String>, String> {
    let by_device = op.params["bind_type"] == 1;
    if let Some(carrier) = card_state::carrier_of(key) {
        carrier.check_imei_binding(by_device)?;
    }
    match row.get(COLUMN) {
        _ if by_device => Ok(None),
        Some(cell) => crate::cell::validate_imei(cell).map(Some),
        None => Err(format!(
            "the input has no `{COLUMN}` column: --bind-type 2 binds each card to its row's IMEI"
        )),
    }
}
