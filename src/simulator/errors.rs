//! The error bodies GSL and its API gateway answer with, in one place so every handler refuses
//! the same way: `{"error_code","error_msg"}`, gateway errors with a `request_id` as well.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::borrow::Cow;

/// A refusal, rendered as the documented JSON body.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub msg: Cow<'static, str>,
    /// Set on gateway errors (401, 429, 502), which carry one in the real service.
    pub request_id: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, msg: impl Into<Cow<'static, str>>) -> Self {
        ApiError {
            status,
            code,
            msg: msg.into(),
            request_id: None,
        }
    }

    /// 400 GSL.00010004: any invalid parameter, unknown card or wrong carrier.
    pub fn param() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "GSL.00010004", "参数异常")
    }

    /// 500 GSL.00010003: busy, nothing done.
    pub fn busy() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "GSL.00010003",
            "系统繁忙,请稍后重试。",
        )
    }

    /// 403 GSL.00011004: a well-formed billing cycle the service will not serve.
    pub fn billing_cycle() -> Self {
        Self::new(StatusCode::FORBIDDEN, "GSL.00011004", "账期不合法,请检查!")
    }

    /// 400 GSL.00020004: the tag APIs' invalid parameter.
    pub fn tag_param() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "GSL.00020004", "参数异常")
    }

    /// 400 GSL.00022004: the user may not use that tag.
    pub fn tag_forbidden() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "GSL.00022004",
            "登录用户没有标签的访问权限。",
        )
    }

    /// 500 GSL.00020003: the tag APIs' busy.
    pub fn tag_busy() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "GSL.00020003",
            "系统繁忙,请稍后重试。",
        )
    }

    /// 401 APIG.0301 with the reason after the colon.
    pub fn unauthorized(reason: &str, request_id: String) -> Self {
        let mut e = Self::new(
            StatusCode::UNAUTHORIZED,
            "APIG.0301",
            format!("Incorrect IAM authentication information: {reason}"),
        );
        e.request_id = Some(request_id);
        e
    }

    /// 429 APIG.0308 naming the limit, as the gateway words it.
    pub fn throttled(limit: u32, request_id: String) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "APIG.0308",
            format!(
                "The throttling threshold has been reached: policy user over ratelimit,limit:{limit},time:1 second"
            ),
        );
        e.request_id = Some(request_id);
        e
    }

    /// 502 from the gateway after the backend did the work.
    pub fn bad_gateway(request_id: String) -> Self {
        let mut e = Self::new(StatusCode::BAD_GATEWAY, "APIG.0202", "Backend unavailable");
        e.request_id = Some(request_id);
        e
    }

    /// 404 for paths the simulator does not serve.
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "APIG.0101",
            "The API does not exist or has not been published in the environment",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = match &self.request_id {
            Some(id) => json!({"error_code": self.code, "error_msg": self.msg, "request_id": id}),
            None => json!({"error_code": self.code, "error_msg": self.msg}),
        };
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(id) = self.request_id {
            if let Ok(v) = id.parse() {
                resp.headers_mut().insert("x-request-id", v);
            }
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
