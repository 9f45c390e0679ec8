//! Tags: the list, and batch-set, which makes each card's tags exactly the given list. Every
//! card and tag is checked before any card changes, so a refusal changes nothing.

use super::errors::{ApiError, ApiResult};
use super::params::Params;
use super::Sim;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// `GET /v1/tags`: `tag_name` matches as a substring.
pub async fn list(State(sim): State<Arc<Sim>>, RawQuery(raw): RawQuery) -> ApiResult<Json<Value>> {
    let q = Params::parse(raw.as_deref());
    let page = q.paging(ApiError::tag_param)?;
    let name = q.get("tag_name");
    let status = q.opt::<u32>("status", ApiError::tag_param)?;
    let store = sim.store.lock().unwrap();
    let hits: Vec<Value> = store
        .tags
        .iter()
        .filter(|t| name.is_none_or(|n| t.name.contains(n)) && status.is_none_or(|s| t.status == s))
        .map(|t| json!({"id": t.id, "tag_name": t.name, "status": t.status}))
        .collect();
    let count = hits.len();
    let rows: Vec<Value> = hits
        .into_iter()
        .skip(page.skip())
        .take(page.limit)
        .collect();
    Ok(Json(
        json!({"limit": page.limit, "offset": page.offset, "count": count, "tags": rows}),
    ))
}

#[derive(Deserialize)]
struct BatchSet {
    iccids: Option<Vec<String>>,
    sim_card_ids: Option<Vec<u64>>,
    tag_ids: Option<Vec<u64>>,
    file_temp_id: Option<i64>,
}

/// `POST /v1/sim-tags/batch-set` → `true`: `iccids` or `sim_card_ids` (≤ 500, not both),
/// `tag_ids` (≤ 10, required; empty clears).
pub async fn batch_set(State(sim): State<Arc<Sim>>, body: Bytes) -> ApiResult<Json<Value>> {
    let req: BatchSet = serde_json::from_slice(&body).map_err(|_| ApiError::tag_param())?;
    let tag_ids = req.tag_ids.ok_or_else(ApiError::tag_param)?;
    if tag_ids.len() > 10 || req.file_temp_id.is_some() {
        return Err(ApiError::tag_param());
    }
    let mut store = sim.store.lock().unwrap();
    let cards: Vec<usize> = match (req.iccids, req.sim_card_ids) {
        (Some(ids), None) if (1..=500).contains(&ids.len()) => ids
            .iter()
            .map(|i| {
                store
                    .by_iccid
                    .get(i.as_str())
                    .copied()
                    .ok_or_else(ApiError::tag_param)
            })
            .collect::<ApiResult<_>>()?,
        (None, Some(ids)) if (1..=500).contains(&ids.len()) => ids
            .iter()
            .map(|i| store.by_id.get(i).copied().ok_or_else(ApiError::tag_param))
            .collect::<ApiResult<_>>()?,
        _ => return Err(ApiError::tag_param()),
    };
    for id in &tag_ids {
        let tag = store
            .tags
            .iter()
            .find(|t| t.id == *id)
            .ok_or_else(ApiError::tag_param)?;
        if !tag.accessible {
            return Err(ApiError::tag_forbidden());
        }
    }
    for i in cards {
        store.cards[i].tag_ids = tag_ids.clone();
    }
    Ok(Json(Value::Bool(true)))
}
