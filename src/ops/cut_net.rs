//! `cut-net` (断网) and `restore-net` (断网恢复): `POST /cut-net` with `action` ADD (type 11) or
//! DEL (type 20). China Telecom only: a card of another carrier (by ICCID prefix) is `invalid`
//! before anything is sent.

use super::card_state::{self, CardStateOp};
use super::{RowColumns, Spec};
use crate::carrier::Carrier;
use crate::cli::Command;
use serde_json::json;
use std::sync::Arc;

pub static CUT: Spec = card_state::spec(
    "cut-net",
    "POST /v1/sim-cards/0/cut-net {action: ADD, iccid}",
    11,
    |p| Ok(Command::CutNet(p.batch.clone())),
    |_| Some(Arc::new(op(true))),
    super::plain_rehearsal,
);

pub static RESTORE: Spec = card_state::spec(
    "restore-net",
    "POST /v1/sim-cards/0/cut-net {action: DEL, iccid}",
    20,
    |p| Ok(Command::RestoreNet(p.batch.clone())),
    |_| Some(Arc::new(op(false))),
    super::plain_rehearsal,
);

/// Cut the network of the cards (`cut`), or restore it.
pub fn op(cut: bool) -> CardStateOp {
    let (spec, verb, action) = if cut {
        (&CUT, "cut the network of", "ADD")
    } else {
        (&RESTORE, "restore the network of", "DEL")
    };
    CardStateOp {
        body: json!({ "action": action }).as_object().cloned(),
        check: Some(telecom_only),
        ..CardStateOp::new(spec, verb, "cut-net")
    }
}

fn telecom_only(_: &CardStateOp, key: &str, _: &RowColumns) -> Result<Option<String>, String> {
    match card_state::carrier_of(key) {
        Some(c) if c != Carrier::ChinaTelecom => Err(format!(
            "the network of {} cards cannot be cut or restored (China Telecom only)",
            c.name()
        )),
        _ => Ok(None),
    }
}
