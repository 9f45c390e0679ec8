//! Flow pool members per billing cycle. The service serves the current month and the eleven
//! before it; a well-formed cycle outside that (future, or older) is its 403 GSL.00011004.

use super::errors::{ApiError, ApiResult};
use super::params::Params;
use super::Sim;
use axum::extract::{Path, RawQuery, State};
use axum::Json;
use chrono::Datelike;
use serde_json::{json, Value};
use std::sync::Arc;

/// Months between `YYYY-MM` and now (0 = this month); `Err` for a malformed cycle.
fn months_back(cycle: &str) -> ApiResult<i64> {
    let b = cycle.as_bytes();
    let well_formed = b.len() == 7
        && b[4] == b'-'
        && cycle[..4]
            .bytes()
            .chain(cycle[5..].bytes())
            .all(|c| c.is_ascii_digit());
    if !well_formed {
        return Err(ApiError::param());
    }
    let y: i64 = cycle[..4].parse().map_err(|_| ApiError::param())?;
    let m: i64 = cycle[5..].parse().map_err(|_| ApiError::param())?;
    if !(1..=12).contains(&m) {
        return Err(ApiError::param());
    }
    let now = chrono::Utc::now();
    Ok(i64::from(now.year()) * 12 + i64::from(now.month()) - (y * 12 + m))
}

/// `GET /v1/sim-pools/{sim_pool_id}/members`. Past cycles report a flow derived from the card
/// id and the month, so the numbers are stable between calls.
pub async fn members(
    State(sim): State<Arc<Sim>>,
    Path(pool): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    let q = Params::parse(raw.as_deref());
    let page = q.paging(ApiError::param)?;
    let pool: u64 = pool.parse().map_err(|_| ApiError::param())?;
    let back = match q.get("billing_cycle") {
        Some(c) => months_back(c)?,
        None => 0,
    };
    if !(0..=11).contains(&back) {
        return Err(ApiError::billing_cycle());
    }
    let cid = q.get("cid");
    let store = sim.store.lock().unwrap();
    let members = store.pools.get(&pool).ok_or_else(ApiError::param)?;
    let hits: Vec<usize> = members
        .iter()
        .copied()
        .filter(|i| cid.is_none_or(|c| store.cards[*i].iccid == c))
        .collect();
    let rows: Vec<Value> = hits
        .iter()
        .skip(page.skip())
        .take(page.limit)
        .map(|i| {
            let c = &store.cards[*i];
            let flow = if back == 0 {
                c.flow_used
            } else {
                let h = c.sim_card_id.wrapping_mul(2_654_435_761).wrapping_add(back as u64 * 97);
                (h % 2_000_000) as f64 / 1000.0
            };
            json!({"id": c.sim_card_id, "cid": c.iccid, "sim_price_plan_id": c.sim_price_plan_id, "flow_used": flow})
        })
        .collect();
    Ok(Json(json!({
        "limit": page.limit, "offset": page.offset, "count": hits.len(), "pool_members": rows
    })))
}
