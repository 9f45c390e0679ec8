//! What the API gateway does around every /v1 call, in its order: count the arrival,
//! authenticate, throttle (so an unauthenticated flood cannot use up a tenant's quota, and a
//! throttled call does no work), then the injected faults around the real handler.
//!
//! Faults draw one number per call against cumulative thresholds busy, drop, bad gateway,
//! HTML 500, slow (so with rates summing past 1 the later ones shrink). Busy refuses before the
//! work; drop, bad gateway, HTML 500 and slow happen after it, which is what makes them
//! ambiguous to a client.

use super::errors::ApiError;
use super::stats::{Api, Outcome};
use super::Sim;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Put in each request's extensions by the accept loop: notifying it closes the connection
/// without a response.
#[derive(Clone)]
pub struct ConnKill(pub Arc<Notify>);

/// The largest request body the gateway reads (SMS batches are the biggest).
const MAX_BODY: usize = 8 << 20;

pub async fn gate(State((sim, api)): State<(Arc<Sim>, Api)>, req: Request, next: Next) -> Response {
    sim.gate.arrive(api);
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        sim.gate.record(api, Outcome::Error);
        return ApiError::param().into_response();
    };
    if let Err(reason) = sim.auth.authenticate(&parts, &bytes) {
        // The reason is one of the simulator's fixed texts: never a credential.
        tracing::debug!(?api, method = %parts.method, path = parts.uri.path(), reason, "401");
        sim.gate.record(api, Outcome::Unauthorized);
        return super::auth::refuse(reason, sim.request_id());
    }
    let faults = sim.faults.lock().unwrap().clone();
    let limit = if api == Api::SimCards {
        faults.list_rate
    } else {
        faults.rate
    };
    if let Err(limit) = sim.gate.admit(api, limit) {
        sim.gate.record(api, Outcome::Throttled);
        return ApiError::throttled(limit, sim.request_id()).into_response();
    }
    if faults.latency_ms > 0 {
        let ms = faults.latency_ms as f64 * (0.5 + fastrand::f64());
        tokio::time::sleep(Duration::from_secs_f64(ms / 1000.0)).await;
    }
    let roll = fastrand::f64();
    let mut edge = faults.busy_rate;
    if roll < edge {
        sim.gate.record(api, Outcome::Busy);
        let e = if api.is_tag_api() {
            ApiError::tag_busy()
        } else {
            ApiError::busy()
        };
        return e.into_response();
    }
    edge += faults.drop_rate;
    let drop = roll < edge;
    edge += faults.bad_gateway_rate;
    let bad_gateway = !drop && roll < edge;
    edge += faults.error500_rate;
    let error500 = !drop && !bad_gateway && roll < edge;
    edge += faults.slow_rate;
    let slow = !drop && !bad_gateway && !error500 && roll < edge;
    let kill = parts.extensions.get::<ConnKill>().cloned();
    let resp = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    if drop {
        if let Some(kill) = kill {
            sim.gate.record(api, Outcome::Dropped);
            kill.0.notify_one();
            // The connection task drops this future together with the socket.
            return std::future::pending().await;
        }
    }
    if drop || bad_gateway {
        sim.gate.record(api, Outcome::BadGateway);
        return ApiError::bad_gateway(sim.request_id()).into_response();
    }
    if error500 {
        sim.gate.record(api, Outcome::Error500);
        return proxy_error_page();
    }
    if slow {
        sim.gate.record(api, Outcome::Slow);
        tokio::time::sleep(Duration::from_millis(faults.slow_ms)).await;
        return resp;
    }
    let outcome = if resp.status().is_success() {
        Outcome::Ok
    } else {
        Outcome::Error
    };
    tracing::trace!(?api, status = resp.status().as_u16(), "answered");
    sim.gate.record(api, outcome);
    resp
}

/// A 500 as a proxy in front of the API answers it: an HTML page, no error code. Whether the
/// service did the work cannot be told from it.
fn proxy_error_page() -> Response {
    (
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        [(axum::http::header::CONTENT_TYPE, "text/html")],
        "<html><body>500 Internal Server Error</body></html>",
    )
        .into_response()
}
