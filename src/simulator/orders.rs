//! Work orders and their details: the follow-up view of clear-real-name and card-state calls.

use super::errors::{ApiError, ApiResult};
use super::params::Params;
use super::store::{ts, WorkOrder, DETAIL_FAILED, DETAIL_PROCESSING, DETAIL_SUCCESS};
use super::Sim;
use axum::extract::{Path, RawQuery, State};
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;

fn order_json(wo: &WorkOrder) -> Value {
    let done = wo.finished.is_some();
    let (ok, failed) = (done && !wo.fails, done && wo.fails);
    json!({
        "id": wo.id,
        "sim_type": 1,
        "work_order_type": wo.work_order_type,
        "status": wo.status(),
        "total_count": 1,
        "success_count": u32::from(ok),
        "fail_count": u32::from(failed),
        "process_count": u32::from(!done),
        "create_time": ts(wo.created),
        "finish_time": wo.finished.map(ts),
        "fail_reason": failed.then_some(wo.change.failure()),
    })
}

/// `GET /v1/work-orders`, newest first; `main_search_key` is a work-order id.
pub async fn list(State(sim): State<Arc<Sim>>, RawQuery(raw): RawQuery) -> ApiResult<Json<Value>> {
    let q = Params::parse(raw.as_deref());
    let page = q.paging(ApiError::param)?;
    let key = q.opt::<u64>("main_search_key", ApiError::param)?;
    let status = q.opt::<u32>("status", ApiError::param)?;
    let wtype = q.opt::<u32>("work_order_type", ApiError::param)?;
    if status.is_some_and(|s| !(1..=7).contains(&s)) {
        return Err(ApiError::param());
    }
    let mut store = sim.store.lock().unwrap();
    store.settle();
    let hits: Vec<&WorkOrder> = store
        .work_orders
        .iter()
        .rev()
        .filter(|wo| {
            let st = wo.status();
            key.is_none_or(|k| wo.id == k)
                && status.is_none_or(|s| s == st)
                && wtype.is_none_or(|t| t == wo.work_order_type)
        })
        .collect();
    let rows: Vec<Value> = hits
        .iter()
        .skip(page.skip())
        .take(page.limit)
        .map(|w| order_json(w))
        .collect();
    Ok(Json(json!({
        "limit": page.limit, "offset": page.offset, "count": hits.len(), "work_orders": rows
    })))
}

/// `GET /v1/work-orders/{id}/details`; `main_search_key` is a cid. Unknown order → 400.
pub async fn details(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    let q = Params::parse(raw.as_deref());
    let page = q.paging(ApiError::param)?;
    let id: u64 = id.parse().map_err(|_| ApiError::param())?;
    let status = q.opt::<u32>("status", ApiError::param)?;
    let cid = q.get("main_search_key");
    let mut store = sim.store.lock().unwrap();
    store.settle();
    let wo = store.work_order(id).ok_or_else(ApiError::param)?;
    let card = &store.cards[wo.card];
    let (st, description) = match (wo.finished, wo.fails) {
        (None, _) => (DETAIL_PROCESSING, "processing"),
        (Some(_), false) => (DETAIL_SUCCESS, "success"),
        (Some(_), true) => (DETAIL_FAILED, wo.change.failure()),
    };
    let hit = cid.is_none_or(|c| card.iccid == c) && status.is_none_or(|s| s == st);
    let detail = json!({
        "id": wo.detail_id,
        "sim_type": 1,
        "status": st,
        "cid": card.iccid,
        "sim_card_id": card.sim_card_id,
        "create_time": ts(wo.created),
        "finish_time": wo.finished.map(ts),
        "description": description,
    });
    let all: Vec<Value> = if hit { vec![detail] } else { Vec::new() };
    let count = all.len();
    let rows: Vec<Value> = all.into_iter().skip(page.skip()).take(page.limit).collect();
    Ok(Json(json!({
        "limit": page.limit, "offset": page.offset, "count": count, "work_order_details": rows
    })))
}
