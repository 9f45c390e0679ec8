//! The simulator's record of what it received, for tests to assert on: calls per API and
//! outcome, the busiest one-second window per API, and the throttle that uses the same windows.
//!
//! `GET /__sim/stats` (no auth, not itself counted) and [`super::Simulator::stats`] return:
//!
//! ```json
//! {
//!   "requests_total": 123,                 // every /v1 and /v3 request that arrived
//!   "calls": {"clear-real-name": {"ok": 0, "error": 0, "throttled": 0, "busy": 0,
//!              "dropped": 0, "bad_gateway": 0, "slow": 0, "unauthorized": 0}, ...},
//!   "throttled": 0,                        // 429s over all APIs
//!   "auth_failures": 0,                    // 401s over all APIs (IAM login included)
//!   "locked_aks": ["AK..."],               // AKs locked right now
//!   "max_requests_in_any_second": {"clear-real-name": 5, ...},  // arrivals, any outcome
//!   "clear_calls_per_card": {"8986...": 1},// ICCID → clears actually performed
//!   "max_clear_calls_per_card": 1,
//!   "sms_sent_per_cid": {"8986...": 1},
//!   "sms_sent": 1,
//!   "work_orders_created": 1,
//!   "work_orders_processing": 0,           // created and not finished yet
//!   "work_orders_failing_cards": ["8986..."],  // cards whose work order ends failed
//!   "work_order_of_card": {"8986...": 1000001},  // each card's (latest) work order
//!   "work_orders_per_card": {"5": {"8986...": 1}},  // per work-order type: orders per card
//!   "sms_failed_cids": ["8986..."]             // messages that ended failed
//! }
//! ```
//!
//! API names: `real-named`, `clear-real-name`, `send-sms`, `sms-details`, `sim-cards`,
//! `pool-members`, `tags`, `set-tags`, `work-orders`, `work-order-details`, `iam-tokens`, and the
//! card-state ones: `stop`, `reset`, `enable`, `cut-net`, `speed-limit`, `exceed-cut-net`,
//! `bind-device`, `flow-usage`.

use serde_json::{json, Map, Value};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The APIs the simulator counts and throttles separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    RealNamed,
    ClearRealName,
    SendSms,
    SmsDetails,
    SimCards,
    PoolMembers,
    Tags,
    SetTags,
    WorkOrders,
    WorkOrderDetails,
    IamTokens,
    Stop,
    Reset,
    Enable,
    CutNet,
    SpeedLimit,
    ExceedCutNet,
    BindDevice,
    FlowUsage,
}

const APIS: [Api; 19] = [
    Api::RealNamed,
    Api::ClearRealName,
    Api::SendSms,
    Api::SmsDetails,
    Api::SimCards,
    Api::PoolMembers,
    Api::Tags,
    Api::SetTags,
    Api::WorkOrders,
    Api::WorkOrderDetails,
    Api::IamTokens,
    Api::Stop,
    Api::Reset,
    Api::Enable,
    Api::CutNet,
    Api::SpeedLimit,
    Api::ExceedCutNet,
    Api::BindDevice,
    Api::FlowUsage,
];

impl Api {
    pub fn name(self) -> &'static str {
        match self {
            Api::RealNamed => "real-named",
            Api::ClearRealName => "clear-real-name",
            Api::SendSms => "send-sms",
            Api::SmsDetails => "sms-details",
            Api::SimCards => "sim-cards",
            Api::PoolMembers => "pool-members",
            Api::Tags => "tags",
            Api::SetTags => "set-tags",
            Api::WorkOrders => "work-orders",
            Api::WorkOrderDetails => "work-order-details",
            Api::IamTokens => "iam-tokens",
            Api::Stop => "stop",
            Api::Reset => "reset",
            Api::Enable => "enable",
            Api::CutNet => "cut-net",
            Api::SpeedLimit => "speed-limit",
            Api::ExceedCutNet => "exceed-cut-net",
            Api::BindDevice => "bind-device",
            Api::FlowUsage => "flow-usage",
        }
    }

    /// Whether the API answers with the tag service's error codes.
    pub fn is_tag_api(self) -> bool {
        matches!(self, Api::Tags | Api::SetTags)
    }
}

/// How one call ended.
#[derive(Debug, Clone, Copy)]
pub enum Outcome {
    Ok,
    Error,
    Throttled,
    Busy,
    Dropped,
    BadGateway,
    Slow,
    Unauthorized,
    Error500,
}

const OUTCOMES: [(Outcome, &str); 9] = [
    (Outcome::Ok, "ok"),
    (Outcome::Error, "error"),
    (Outcome::Throttled, "throttled"),
    (Outcome::Busy, "busy"),
    (Outcome::Dropped, "dropped"),
    (Outcome::BadGateway, "bad_gateway"),
    (Outcome::Slow, "slow"),
    (Outcome::Unauthorized, "unauthorized"),
    (Outcome::Error500, "error500"),
];

#[derive(Default)]
struct Window {
    outcomes: [u64; OUTCOMES.len()],
    /// Arrival times in the last second (any outcome), for the busiest-second figure.
    arrivals: VecDeque<Instant>,
    max_per_second: usize,
    /// Admitted calls in the last second, for throttling.
    admitted: VecDeque<Instant>,
}

fn trim(q: &mut VecDeque<Instant>, now: Instant) {
    let second = Duration::from_secs(1);
    while q.front().is_some_and(|t| now.duration_since(*t) >= second) {
        q.pop_front();
    }
}

#[derive(Default)]
struct Inner {
    windows: [Window; APIS.len()],
    requests_total: u64,
}

/// Counters and rolling windows for every API, behind one short-held lock.
#[derive(Default)]
pub struct Gate(Mutex<Inner>);

impl Gate {
    /// A request for `api` arrived.
    pub fn arrive(&self, api: Api) {
        let now = Instant::now();
        let mut g = self.0.lock().unwrap();
        g.requests_total += 1;
        let w = &mut g.windows[api as usize];
        trim(&mut w.arrivals, now);
        w.arrivals.push_back(now);
        w.max_per_second = w.max_per_second.max(w.arrivals.len());
    }

    /// Admit an authenticated call under `limit` calls per rolling second; `Err(limit)` if over.
    pub fn admit(&self, api: Api, limit: Option<u32>) -> Result<(), u32> {
        let Some(limit) = limit else { return Ok(()) };
        let now = Instant::now();
        let mut g = self.0.lock().unwrap();
        let w = &mut g.windows[api as usize];
        trim(&mut w.admitted, now);
        if w.admitted.len() >= limit as usize {
            return Err(limit);
        }
        w.admitted.push_back(now);
        Ok(())
    }

    pub fn record(&self, api: Api, outcome: Outcome) {
        self.0.lock().unwrap().windows[api as usize].outcomes[outcome as usize] += 1;
    }

    /// The `requests_total`, `calls`, `throttled`, `auth_failures` and
    /// `max_requests_in_any_second` parts of the stats.
    pub fn snapshot(&self, out: &mut Map<String, Value>) {
        let g = self.0.lock().unwrap();
        let mut calls = Map::new();
        let mut max = Map::new();
        let (mut throttled, mut unauthorized) = (0, 0);
        for api in APIS {
            let w = &g.windows[api as usize];
            let per: Map<String, Value> = OUTCOMES
                .iter()
                .map(|(o, n)| (n.to_string(), json!(w.outcomes[*o as usize])))
                .collect();
            throttled += w.outcomes[Outcome::Throttled as usize];
            unauthorized += w.outcomes[Outcome::Unauthorized as usize];
            calls.insert(api.name().into(), Value::Object(per));
            max.insert(api.name().into(), json!(w.max_per_second));
        }
        out.insert("requests_total".into(), json!(g.requests_total));
        out.insert("calls".into(), Value::Object(calls));
        out.insert("throttled".into(), json!(throttled));
        out.insert("auth_failures".into(), json!(unauthorized));
        out.insert("max_requests_in_any_second".into(), Value::Object(max));
    }
}
