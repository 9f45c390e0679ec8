//! The card-state endpoints: stop, restore (reset), activate (enable), cut and restore the
//! network, speed limit, data cap (exceed-cut-net) and IMEI binding, plus the flow usage query.
//!
//! Each validates its body as Huawei documents it and refuses, with `GSL.00010004`, a card of a
//! carrier that does not offer the change or in a state that does not allow it. An accepted call
//! creates a work order of the change's type; the card changes when it succeeds.

use super::cards::locate;
use super::errors::{ApiError, ApiResult};
use super::inventory::Carrier;
use super::params::Params;
use super::store::Change;
use super::Sim;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// IMEI rebinds China Telecom allows per card and month.
pub const IMEI_BINDS_PER_MONTH: u32 = 2;

/// Cards the flow usage query answers at most per call.
pub const USAGE_PER_CALL: usize = 50;

/// Every field any card-state body has; each endpoint reads its own.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Body {
    iccid: Option<String>,
    down_up_switch: Option<i64>,
    action: Option<Value>,
    speed_value: Option<i64>,
    quota: Option<String>,
    bind_type: Option<i64>,
    imei: Option<String>,
}

fn body(raw: &[u8]) -> ApiResult<Body> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Ok(Body::default());
    }
    serde_json::from_slice(raw).map_err(|_| ApiError::param())
}

/// What an endpoint asks of the card it names: the change, or a refusal.
type Decide = fn(&super::InventoryCard, &Body) -> ApiResult<Change>;

/// Locate the card, decide the change, create its work order.
fn apply(
    sim: &Sim,
    id: &str,
    iccid: Option<&str>,
    b: &Body,
    decide: Decide,
) -> ApiResult<Json<Value>> {
    let idx = locate(sim, id, iccid)?;
    let mut store = sim.store.lock().unwrap();
    store.settle();
    let change = decide(&store.cards[idx], b)?;
    let wo = store.work_order_for(idx, change);
    Ok(Json(json!({"work_order_id": wo})))
}

fn need(ok: bool) -> ApiResult<()> {
    if ok {
        Ok(())
    } else {
        Err(ApiError::param())
    }
}

fn status_change(c: &super::InventoryCard, b: &Body, from: &[u32], to: u32) -> ApiResult<Change> {
    need(b.down_up_switch.is_none_or(|s| (0..=1).contains(&s)) && from.contains(&c.sim_status))?;
    Ok(Change::SimStatus(to))
}

macro_rules! endpoint {
    ($(#[$doc:meta])* $name:ident, $decide:expr) => {
        $(#[$doc])*
        pub async fn $name(
            State(sim): State<Arc<Sim>>,
            Path(id): Path<String>,
            raw: Bytes,
        ) -> ApiResult<Json<Value>> {
            let b = body(&raw)?;
            apply(&sim, &id, b.iccid.clone().as_deref(), &b, $decide)
        }
    };
}

endpoint!(
    /// `POST /v1/sim-cards/{id}/stop` (停机, type 5): a card in use (20) becomes stopped (14).
    stop,
    |c, b| status_change(c, b, &[20], 14)
);
endpoint!(
    /// `POST /v1/sim-cards/{id}/reset` (复机, type 4): a stopped card (14) is in use again.
    reset,
    |c, b| status_change(c, b, &[14], 20)
);
endpoint!(
    /// `POST /v1/sim-cards/{id}/cut-net` `{action: ADD | DEL}` (types 11, 20): China Telecom only.
    cut_net,
    |c, b| {
        need(c.carrier == Carrier::ChinaTelecom)?;
        match b.action.as_ref().and_then(Value::as_str) {
            Some("ADD") => Ok(Change::NetCut(true)),
            Some("DEL") => Ok(Change::NetCut(false)),
            _ => Err(ApiError::param()),
        }
    }
);
endpoint!(
    /// `POST /v1/sim-cards/{id}/speed-limit` `{speed_value}` (type 15): a value the card's
    /// carrier allows, or -1 for none.
    speed_limit,
    |c, b| {
        let kbps = b.speed_value.ok_or_else(ApiError::param)?;
        need(c.carrier.allows_speed(kbps))?;
        Ok(Change::Speed(kbps))
    }
);
endpoint!(
    /// `POST /v1/sim-cards/{id}/exceed-cut-net` `{action: 1 | 2, quota}` (types 12, 21): China
    /// Telecom, or China Unicom / China Mobile cards in a pool. `quota` is MB: 0, -1 or more.
    exceed_cut_net,
    |c, b| {
        need(c.carrier == Carrier::ChinaTelecom || (c.carrier != Carrier::Other && c.pool_id.is_some()))?;
        match b.action.as_ref().and_then(Value::as_i64) {
            Some(1) => {
                let mb: i64 = b.quota.as_deref().and_then(|q| q.trim().parse().ok()).ok_or_else(ApiError::param)?;
                need(mb >= -1)?;
                Ok(Change::DataCap(Some(mb)))
            }
            Some(2) => Ok(Change::DataCap(None)),
            _ => Err(ApiError::param()),
        }
    }
);
endpoint!(
    /// `POST /v1/sim-cards/{id}/bind-device` `{bind_type, imei}` (机卡重绑, type 13): China
    /// Telecom (twice a month) and China Mobile (`bind_type` 1 only). Type 1 rebinds to the
    /// device in use; type 2 binds the given 15-digit IMEI.
    bind_device,
    |c, b| {
        let imei = match (b.bind_type, b.imei.as_deref()) {
            (Some(1), _) => String::new(),
            (Some(2), Some(i)) if i.len() == 15 && i.bytes().all(|d| d.is_ascii_digit()) => i.to_string(),
            _ => return Err(ApiError::param()),
        };
        let allowed = match c.carrier {
            Carrier::ChinaTelecom => c.state.imei_binds < IMEI_BINDS_PER_MONTH,
            Carrier::ChinaMobile => b.bind_type == Some(1),
            _ => false,
        };
        need(allowed)?;
        Ok(Change::Imei(imei))
    }
);

/// `POST /v1/sim-cards/{id}/enable[?iccid=]` (激活, type 10): a card not activated (11) or
/// activatable (13) comes into use.
pub async fn enable(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    let q = Params::parse(raw.as_deref());
    apply(&sim, &id, q.get("iccid"), &Body::default(), |c, _| {
        need(matches!(c.sim_status, 11 | 13))?;
        Ok(Change::Activate)
    })
}

#[derive(Deserialize)]
struct UsageQuery {
    iccids: Option<Vec<String>>,
    sim_card_ids: Option<Vec<u64>>,
}

/// `POST /v1/sim-price-plans/usage/batch-query` `{iccids | sim_card_ids}` (1..=50 cards) → each
/// known card's plan and flow total / used / left, in MB; unknown cards are left out.
pub async fn usage(State(sim): State<Arc<Sim>>, raw: Bytes) -> ApiResult<Json<Value>> {
    let q: UsageQuery = serde_json::from_slice(&raw).map_err(|_| ApiError::param())?;
    let store = sim.store.lock().unwrap();
    let found: Vec<usize> = match (q.iccids, q.sim_card_ids) {
        (Some(i), None) if (1..=USAGE_PER_CALL).contains(&i.len()) => i
            .iter()
            .filter_map(|i| store.by_iccid.get(i).copied())
            .collect(),
        (None, Some(ids)) if (1..=USAGE_PER_CALL).contains(&ids.len()) => ids
            .iter()
            .filter_map(|i| store.by_id.get(i).copied())
            .collect(),
        _ => return Err(ApiError::param()),
    };
    let rows: Vec<Value> = found
        .into_iter()
        .map(|i| {
            let c = &store.cards[i];
            let total = c.flow_total();
            json!({
                "id": c.sim_card_id,
                "sim_card_id": c.sim_card_id,
                "iccid": c.iccid,
                "price_plan_id": c.sim_price_plan_id.to_string(),
                "price_plan_name": format!("{} GB a month", total / 1024.0),
                "flow_total": total,
                "flow_used": c.flow_used,
                "flow_left": (total - c.flow_used).max(0.0),
            })
        })
        .collect();
    Ok(Json(Value::Array(rows)))
}
