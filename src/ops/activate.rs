//! `activate-card` (激活, the API's `enable`): bring cards that are not activated (11) or
//! activatable (13) into use (20). Type-10 work orders; the call has no body, so a card named
//! by ICCID goes in the query. Destructive, as every card-state operation.

use super::card_state::{self, CardStateOp};
use super::{Follow, Invocation, Rehearsal, Spec};
use std::sync::Arc;

pub static SPEC: Spec = Spec {
    name: "activate-card",
    about: "Activate cards that are not yet in use (激活; destructive)",
    help_order: 14,
    endpoint: "POST /v1/sim-cards/0/enable?iccid=",
    follow: Follow::WorkOrders(10),
    from_matches: |m| Ok(Invocation::run(op(), super::parse_args(m))),
    from_job: |p| Ok(Invocation::run(op(), p.batch.clone())),
    rebuild: Some(|_| Some(Arc::new(op()))),
    rehearsal: |_, keys| Rehearsal::in_status(keys, 13),
    ..card_state::COMMON
};

pub fn op() -> CardStateOp {
    CardStateOp {
        body: None,
        ..CardStateOp::new(&SPEC, "activate", "enable")
    }
}
