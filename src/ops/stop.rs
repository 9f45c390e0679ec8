//! `stop-card` (停机): stop each card's service. Type-5 work orders; a card in use (20) ends
//! stopped (14). Destructive, as every card-state operation ([`super::card_state`]).

use super::card_state::{self, CardStateOp};
use super::Spec;
use crate::cli::Command;
use std::sync::Arc;

pub static SPEC: Spec = card_state::spec(
    "stop-card",
    "POST /v1/sim-cards/0/stop {iccid}",
    5,
    |p| Ok(Command::StopCard(p.batch.clone())),
    |_| Some(Arc::new(op())),
    |_, keys| card_state::cards_in_status(keys, 20),
);

pub fn op() -> CardStateOp {
    CardStateOp::new(&SPEC, "stop", "stop")
}
