//! `stop-card` (停机): stop each card's service. Type-5 work orders; a card in use (20) ends
//! stopped (14). Destructive, as every card-state operation ([`super::card_state`]).

use super::card_state::{self, CardStateOp};
use super::{Follow, Invocation, Rehearsal, Spec};
use std::sync::Arc;

pub static SPEC: Spec = Spec {
    name: "stop-card",
    about: "Stop each card's service (停机; destructive: a work order per card, never sent twice)",
    help_order: 12,
    endpoint: "POST /v1/sim-cards/0/stop {iccid}",
    follow: Follow::WorkOrders(5),
    from_matches: |m| Ok(Invocation::run(op(), super::parse_args(m))),
    from_job: |p| Ok(Invocation::run(op(), p.batch.clone())),
    rebuild: Some(|_| Some(Arc::new(op()))),
    rehearsal: |_, keys| Rehearsal::in_status(keys, 20),
    ..card_state::COMMON
};

pub fn op() -> CardStateOp {
    CardStateOp::new(&SPEC, "stop", "stop")
}
