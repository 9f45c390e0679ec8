//! `cut-net` (断网) and `restore-net` (断网恢复): `POST /cut-net` with `action` ADD (type 11) or
//! DEL (type 20). China Telecom only: a card of another carrier (by ICCID prefix) is `invalid`
//! before anything is sent.

use super::card_state::{self, CardStateOp};
use super::{Follow, Invocation, RowColumns, Spec};
use crate::carrier::Carrier;
use serde_json::json;
use std::sync::Arc;

pub static CUT: Spec = Spec {
    name: "cut-net",
    about: "Cut each China Telecom card's network (断网; destructive)",
    help_order: 15,
    endpoint: "POST /v1/sim-cards/0/cut-net {action: ADD, iccid}",
    follow: Follow::WorkOrders(11),
    from_matches: |m| Ok(Invocation::run(op(true), super::parse_args(m))),
    from_job: |p| Ok(Invocation::run(op(true), p.batch.clone())),
    rebuild: Some(|_| Some(Arc::new(op(true)))),
    ..card_state::COMMON
};

pub static RESTORE: Spec = Spec {
    name: "restore-net",
    about: "Restore each China Telecom card's network after a cut (断网恢复; destructive)",
    help_order: 16,
    endpoint: "POST /v1/sim-cards/0/cut-net {action: DEL, iccid}",
    follow: Follow::WorkOrders(20),
    from_matches: |m| Ok(Invocation::run(op(false), super::parse_args(m))),
    from_job: |p| Ok(Invocation::run(op(false), p.batch.clone())),
    rebuild: Some(|_| Some(Arc::new(op(false)))),
    ..card_state::COMMON
};

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
