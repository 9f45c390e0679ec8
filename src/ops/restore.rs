//! `restore-card` (复机, the API's `reset`): bring stopped cards (14) back into use (20).
//! Type-4 work orders; destructive, as every card-state operation ([`super::card_state`]).

use super::card_state::{self, CardStateOp};
use super::{Follow, Invocation, Rehearsal, Spec};
use std::sync::Arc;

pub static SPEC: Spec = Spec {
    name: "restore-card",
    about: "Restore the service of stopped cards (复机; destructive)",
    help_order: 13,
    endpoint: "POST /v1/sim-cards/0/reset {iccid}",
    follow: Follow::WorkOrders(4),
    from_matches: |m| Ok(Invocation::run(op(), super::parse_args(m))),
    from_job: |p| Ok(Invocation::run(op(), p.batch.clone())),
    rebuild: Some(|_| Some(Arc::new(op()))),
    // A restore is rehearsed on cards that are stopped.
    rehearsal: |_, keys| Rehearsal::in_status(keys, 14),
    ..card_state::COMMON
};

pub fn op() -> CardStateOp {
    CardStateOp::new(&SPEC, "restore the service of", "reset")
}
