//! `restore-card` (复机, the API's `reset`): bring stopped cards (14) back into use (20).
//! Type-4 work orders; destructive, as every card-state operation ([`super::card_state`]).

use super::card_state::{self, CardStateOp};
use super::Spec;
use crate::cli::Command;
use std::sync::Arc;

pub static SPEC: Spec = card_state::spec(
    "restore-card",
    "POST /v1/sim-cards/0/reset {iccid}",
    4,
    |p| Ok(Command::RestoreCard(p.batch.clone())),
    |_| Some(Arc::new(op())),
    // A restore is rehearsed on cards that are stopped.
    |_, keys| card_state::cards_in_status(keys, 14),
);

pub fn op() -> CardStateOp {
    CardStateOp::new(&SPEC, "restore the service of", "reset")
}
