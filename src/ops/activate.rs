//! `activate-card` (激活, the API's `enable`): bring cards that are not activated (11) or
//! activatable (13) into use (20). Type-10 work orders; the call has no body, so a card named
//! by ICCID goes in the query. Destructive, as every card-state operation.

use super::card_state::{self, CardStateOp};
use super::Spec;
use crate::cli::Command;
use std::sync::Arc;

pub static SPEC: Spec = card_state::spec(
    "activate-card",
    "POST /v1/sim-cards/0/enable?iccid=",
    10,
    |p| Ok(Command::ActivateCard(p.batch.clone())),
    |_| Some(Arc::new(op())),
    |_, keys| card_state::cards_in_status(keys, 13),
);

pub fn op() -> CardStateOp {
    CardStateOp {
        body: None,
        ..CardStateOp::new(&SPEC, "activate", "enable")
    }
}
