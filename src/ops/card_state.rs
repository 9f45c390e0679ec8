//! What the card-state operations share (stop, restore, activate, cut and restore the network,
//! speed limit, data cap, IMEI): one POST per card that creates one work order. Destructive:
//! each call does something, so its intent is journalled, an ambiguous failure is `unknown`,
//! the account ledger keeps a card from being done twice, and `follow` reads the work orders of
//! the operation's type. Each operation's own file declares its [`Spec`] and builds a
//! [`CardStateOp`].

use super::{Done, Effect, Follow, Input, OpFuture, Operation, RowColumns, Spec, Unit};
use crate::gsl::types::CardAction;
use crate::gsl::Client;
use serde_json::{Map, Value};

/// The report of a card-state run: as a clear's, without the real-name column.
pub const COLUMNS: &[&str] = &[
    "row",
    "iccid",
    "sim_card_id",
    "status",
    "work_order_id",
    "http_status",
    "error_code",
    "error_msg",
    "attempts",
    "latency_ms",
    "finished_at",
];

/// What every card-state operation's [`Spec`] shares; each operation's file sets the rest over
/// it (`..card_state::COMMON`): its name, `--help` line and place, endpoint, work-order type,
/// how its flags and job table build it, how a journal rebuilds it, and its rehearsal.
pub const COMMON: Spec = Spec {
    name: "",
    about: "",
    help_order: usize::MAX,
    args: super::batch_flags,
    from_matches: |_| Err("a card-state operation sets its own from_matches".into()),
    effect: Effect::Destructive,
    unit: Unit::Card,
    endpoint: "",
    default_column: "iccid",
    by_sim_card_id: true,
    input: Input::Required,
    columns: COLUMNS,
    follow_columns: super::WORK_ORDER_FOLLOW,
    follow: Follow::None,
    table: None,
    from_job: |_| Err("a card-state operation sets its own from_job".into()),
    rebuild: None,
    rehearsal: super::plain_rehearsal,
    explains: &[(
        "GSL.00010004",
        "the card's carrier does not offer this change, or the card is not in a state that allows it",
    )],
};

/// Checks one row before anything is sent: `Ok(Some(v))` puts `v` in the request's body under
/// [`CardStateOp::row_field`].
pub type RowCheck = fn(&CardStateOp, &str, &RowColumns) -> Result<Option<String>, String>;

/// One card-state operation with its parameters.
pub struct CardStateOp {
    pub spec: &'static Spec,
    /// What it does to the cards, for the plan and the prompt: `stop` (→ "stop 5,000 cards").
    pub verb: String,
    pub path: &'static str,
    /// The body every call carries (`None`: the call has none, its ICCID goes in the query).
    pub body: Option<Map<String, Value>>,
    /// The work-order type its calls create, for `follow`.
    pub work_order_type: i64,
    /// The parameters, as the journal keeps them; the operation is rebuilt from them.
    pub params: Value,
    pub check: Option<RowCheck>,
    /// The body field a row's value goes in (bind-imei's `imei`).
    pub row_field: Option<&'static str>,
}

impl CardStateOp {
    pub fn new(spec: &'static Spec, verb: impl Into<String>, path: &'static str) -> CardStateOp {
        let Follow::WorkOrders(work_order_type) = spec.follow else {
            unreachable!("a card-state operation follows work orders")
        };
        CardStateOp {
            spec,
            verb: verb.into(),
            path,
            body: Some(Map::new()),
            work_order_type,
            params: Value::Null,
            check: None,
            row_field: None,
        }
    }
}

impl Operation for CardStateOp {
    fn spec(&self) -> &'static Spec {
        self.spec
    }
    fn describe(&self, cards: u64, _batches: u64) -> String {
        format!(
            "{} {}",
            self.verb,
            crate::model::count(cards, "card", "cards")
        )
    }
    fn params(&self) -> Value {
        self.params.clone()
    }
    fn identity(&self) -> Vec<String> {
        vec![self.params.to_string()]
    }
    fn work_order_type(&self) -> Option<i64> {
        Some(self.work_order_type)
    }
    fn row_value(&self, key: &str, row: &RowColumns) -> Result<Option<String>, String> {
        self.check.map_or(Ok(None), |check| check(self, key, row))
    }
    fn perform<'a>(
        &'a self,
        client: &'a Client,
        keys: &'a [String],
        args: &'a [Option<String>],
    ) -> OpFuture<'a> {
        Box::pin(async move {
            let mut action = CardAction {
                path: self.path,
                body: self.body.clone(),
            };
            if let (Some(field), Some(Some(v)), Some(body)) =
                (self.row_field, args.first(), action.body.as_mut())
            {
                body.insert(field.into(), v.clone().into());
            }
            let r = client.card_action(&super::one_card(keys), &action).await?;
            Ok(Done {
                work_order_id: Some(r.work_order_id),
                ..Done::default()
            })
        })
    }
}

/// The carrier of a row's card, when the row names it by ICCID (by `sim_card_id` it is known
/// only to the platform, which checks it).
pub fn carrier_of(key: &str) -> Option<crate::carrier::Carrier> {
    (!crate::gsl::types::CardRef::is_id_key(key)).then(|| crate::carrier::Carrier::from_iccid(key))
}
