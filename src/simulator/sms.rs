//! Sending SMS and the delivery details. One bad cid refuses the whole call before anything is
//! sent, as the real service does, so a refusal never leaves a half-sent batch.

use super::errors::{ApiError, ApiResult};
use super::params::Params;
use super::store::ts;
use super::Sim;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

#[derive(Deserialize)]
struct SendSms {
    sms_content: Option<String>,
    #[allow(dead_code)]
    template_id: Option<i64>,
    cids: Option<Vec<String>>,
    order_id: Option<u64>,
    file_temp_id: Option<i64>,
}

/// `POST /v1/sms-send-infos` → `true`. Cards are chosen by `cids` (each must exist, be China
/// Mobile/Telecom with an SMS plan, and belong to `order_id` when given) or by `order_id` alone
/// (every eligible card of the order). `file_temp_id` names an upload the simulator never has,
/// so on its own it is refused.
pub async fn send(State(sim): State<Arc<Sim>>, body: Bytes) -> ApiResult<Json<Value>> {
    let req: SendSms = serde_json::from_slice(&body).map_err(|_| ApiError::param())?;
    let content = req.sms_content.unwrap_or_default();
    let chars = content.chars().count();
    if !(1..=1000).contains(&chars) {
        return Err(ApiError::param());
    }
    let mut store = sim.store.lock().unwrap();
    store.settle();
    let targets: Vec<usize> = match (&req.cids, req.order_id) {
        (Some(cids), order) if !cids.is_empty() => {
            let mut t = Vec::with_capacity(cids.len());
            for cid in cids {
                let idx = *store
                    .by_iccid
                    .get(cid.as_str())
                    .ok_or_else(ApiError::param)?;
                if !store.sms_eligible(idx) || order.is_some_and(|o| store.cards[idx].order_id != o)
                {
                    return Err(ApiError::param());
                }
                t.push(idx);
            }
            t
        }
        (_, Some(order)) => {
            let all: Vec<usize> = (0..store.cards.len())
                .filter(|i| store.cards[*i].order_id == order)
                .collect();
            if all.is_empty() {
                return Err(ApiError::param());
            }
            all.into_iter().filter(|i| store.sms_eligible(*i)).collect()
        }
        _ => {
            let _ = req.file_temp_id;
            return Err(ApiError::param());
        }
    };
    let content: Arc<str> = content.into();
    for idx in targets {
        store.send_sms(idx, &content);
    }
    Ok(Json(Value::Bool(true)))
}

/// `GET /v1/sms-send-infos/details`: sent messages, oldest first, filtered by cid and time.
pub async fn details(
    State(sim): State<Arc<Sim>>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    let q = Params::parse(raw.as_deref());
    let page = q.paging(ApiError::param)?;
    let time = |name| -> ApiResult<Option<DateTime<Utc>>> {
        q.get(name)
            .map(|v| {
                DateTime::parse_from_rfc3339(v)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| ApiError::param())
            })
            .transpose()
    };
    let (start, end) = (time("start_time")?, time("end_time")?);
    if let (Some(s), Some(e)) = (start, end) {
        if s > e {
            return Err(ApiError::param());
        }
    }
    let cid = q.get("cid");
    let mut store = sim.store.lock().unwrap();
    store.settle();
    let hits: Vec<&super::store::SmsRecord> = store
        .sms
        .iter()
        .filter(|s| {
            cid.is_none_or(|c| s.cid == c)
                && start.is_none_or(|t| s.sent >= t)
                && end.is_none_or(|t| s.sent <= t)
        })
        .collect();
    let rows: Vec<Value> = hits
        .iter()
        .skip(page.skip())
        .take(page.limit)
        .map(|s| {
            json!({
                "cid": s.cid, "msisdn": s.msisdn, "sent_time": ts(s.sent),
                "received_time": s.received.map(ts), "sms_status": s.status,
                "sms_content": &*s.content,
            })
        })
        .collect();
    Ok(Json(json!({
        "limit": page.limit, "offset": page.offset, "count": hits.len(), "sms_details": rows
    })))
}
