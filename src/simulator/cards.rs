//! The real-name endpoints (check, clear) and the SIM card list.

use super::errors::{ApiError, ApiResult};
use super::inventory::is_iccid_shaped;
use super::params::Params;
use super::Sim;
use axum::extract::{Path, RawQuery, State};
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;

/// Resolve `{sim_card_id}` plus an optional ICCID (`?iccid=`, or the body's) to a card index.
pub(super) fn locate(sim: &Sim, id: &str, iccid: Option<&str>) -> ApiResult<usize> {
    let id: u64 = id.parse().map_err(|_| ApiError::param())?;
    if let Some(i) = iccid {
        if !is_iccid_shaped(i) {
            return Err(ApiError::param());
        }
    }
    if id == 0 && iccid.is_none() {
        return Err(ApiError::param());
    }
    let store = sim.store.lock().unwrap();
    store.find(id, iccid).ok_or_else(ApiError::param)
}

/// `GET /v1/sim-cards/{sim_card_id}/real-named`: the carrier's live answer.
pub async fn real_named(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    let q = Params::parse(raw.as_deref());
    let idx = locate(&sim, &id, q.get("iccid"))?;
    let mut store = sim.store.lock().unwrap();
    store.settle();
    let c = &store.cards[idx];
    Ok(Json(json!({"iccid": c.iccid, "real_named": c.real_named})))
}

/// `POST /v1/sim-cards/{sim_card_id}/clear-real-name`: China Telecom only; a new work order.
pub async fn clear_real_name(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    let q = Params::parse(raw.as_deref());
    let idx = locate(&sim, &id, q.get("iccid"))?;
    let mut store = sim.store.lock().unwrap();
    store.settle();
    if !store.clearable(idx) {
        return Err(ApiError::param());
    }
    let wo = store.clear_real_name(idx);
    Ok(Json(json!({"work_order_id": wo})))
}

/// `GET /v1/sim-cards`: the platform's stored view, in `sim_card_id` order, filters honoured.
/// `main_search_type` 1 searches by cid (ICCID), 2 by order id; 3 (IMEI) matches nothing here.
pub async fn list(State(sim): State<Arc<Sim>>, RawQuery(raw): RawQuery) -> ApiResult<Json<Value>> {
    let q = Params::parse(raw.as_deref());
    let page = q.paging(ApiError::param)?;
    let search_type = q.opt::<u32>("main_search_type", ApiError::param)?;
    let key = q.get("main_search_key");
    // Python SDKs may send `True`/`False`; the case is not worth a refusal.
    let real_named = match q.get("real_named") {
        None => None,
        Some(v) if v.eq_ignore_ascii_case("true") => Some(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Some(false),
        Some(_) => return Err(ApiError::param()),
    };
    let order_id = q.opt::<u64>("order_id", ApiError::param)?;
    let sim_status = q.opt::<u32>("sim_status", ApiError::param)?;
    let msisdn = q.get("msisdn");
    let (by_cid, by_order) = match (search_type, key) {
        (Some(1), Some(k)) => (Some(k), None),
        (Some(2), Some(k)) => (None, Some(k.parse::<u64>().map_err(|_| ApiError::param())?)),
        (Some(3), Some(_)) => return Ok(Json(empty(page.limit, page.offset))),
        (Some(1..=3) | None, None) => (None, None),
        _ => return Err(ApiError::param()),
    };
    let mut store = sim.store.lock().unwrap();
    store.settle();
    let matches = |c: &super::InventoryCard| {
        by_cid.is_none_or(|k| c.iccid == k)
            && by_order.is_none_or(|o| c.order_id == o)
            && real_named.is_none_or(|r| c.real_named == r)
            && order_id.is_none_or(|o| c.order_id == o)
            && sim_status.is_none_or(|s| c.sim_status == s)
            && msisdn.is_none_or(|m| c.msisdn == m)
    };
    let mut count = 0usize;
    let mut rows = Vec::new();
    let skip = page.skip();
    for (i, c) in store.cards.iter().enumerate() {
        if !matches(c) {
            continue;
        }
        if count >= skip && rows.len() < page.limit {
            rows.push(i);
        }
        count += 1;
    }
    let sim_cards: Vec<Value> = rows
        .into_iter()
        .map(|i| {
            let c = &store.cards[i];
            json!({
                "sim_card_id": c.sim_card_id,
                "cid": c.iccid,
                "iccid": c.iccid,
                "msisdn": c.msisdn,
                "sim_status": c.sim_status,
                "sim_type": 1,
                "order_id": c.order_id,
                "real_named": c.real_named,
                "flow_used": c.flow_used,
                "sim_pool_id": c.pool_id,
                "sim_price_plan_id": c.sim_price_plan_id,
                "tag_names": store.tag_names(i),
                "imei": c.state.imei,
                "cut_net_flag": c.state.net_cut,
                "exceed_cut_net_flag": c.state.data_cap_mb.is_some(),
                "exceed_cut_net_quota": c.state.data_cap_mb,
                "imei_bind_remain_times": super::state::IMEI_BINDS_PER_MONTH.saturating_sub(c.state.imei_binds),
                "speed_value": c.state.speed_kbps,
                "flow_left": (c.flow_total() - c.flow_used).max(0.0),
            })
        })
        .collect();
    Ok(Json(json!({
        "limit": page.limit, "offset": page.offset, "count": count, "sim_cards": sim_cards
    })))
}

fn empty(limit: usize, offset: usize) -> Value {
    json!({"limit": limit, "offset": offset, "count": 0, "sim_cards": []})
}
