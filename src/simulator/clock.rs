//! The simulator's clock: the real one moved by `--clock-offset`, as a server whose clock
//! differs from the client's. Every time the simulator reports (the `Date` header, work-order
//! and SMS times, IAM token times) and every time it judges (the AK/SK skew check, the SMS
//! details window) is read from here.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use chrono::{DateTime, Utc};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, Default)]
pub struct Clock {
    /// The simulator's time less the real time.
    offset: chrono::Duration,
}

impl Clock {
    pub fn new(offset: chrono::Duration) -> Clock {
        Clock { offset }
    }

    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset
    }
}

/// Every answer's `Date` in the simulator's time (hyper adds its own real-time one only to an
/// answer that has none).
pub async fn date_header(State(sim): State<Arc<super::Sim>>, req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let date = sim
        .clock
        .now()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    if let Ok(v) = date.parse() {
        resp.headers_mut().insert(axum::http::header::DATE, v);
    }
    resp
}
