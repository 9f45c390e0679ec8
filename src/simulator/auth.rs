//! Authentication as the API gateway and IAM do it: `X-Auth-Token` tokens issued by the
//! simulator's own `POST /v3/auth/tokens` (or a configured static token), and `SDK-HMAC-SHA256`
//! signatures verified with the same [`aksk`] code the client signs with. Five signature failures
//! in a row lock an AK for the lockout time; a success resets its count.
//!
//! Secrets never leave this module: refusals name the reason, never the key or the signature.

use super::errors::ApiError;
use super::stats::{Api, Outcome};
use super::store::ts;
use super::{Sim, SimCredentials};
use crate::gsl::auth::aksk::{self, Signable};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{request::Parts, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use percent_encoding::percent_decode_str;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How far `X-Sdk-Date` may be from the server clock.
const MAX_SKEW_SECS: i64 = 15 * 60;
/// Failures in a row that lock an AK.
const FAILURES_TO_LOCK: u32 = 5;

#[derive(Default)]
struct AkState {
    failures: u32,
    locked_until: Option<Instant>,
}

#[derive(Default)]
struct Book {
    /// Tokens issued by `/v3/auth/tokens`, with their expiry.
    issued: HashMap<String, Instant>,
    /// Tokens made invalid by `expire_tokens` (so accept-any mode refuses them too).
    revoked: HashSet<String>,
    aks: HashMap<String, AkState>,
}

pub struct Auth {
    creds: SimCredentials,
    /// No credential configured: accept any token or well-formed, timely signature.
    accept_any: bool,
    lockout: Duration,
    ttl: Duration,
    book: Mutex<Book>,
    /// The signature dates are judged against this clock.
    clock: super::clock::Clock,
}

impl Auth {
    pub fn new(creds: SimCredentials, lockout_secs: u64, token_ttl_secs: u64) -> Auth {
        Auth {
            accept_any: creds.is_empty(),
            creds,
            lockout: Duration::from_secs(lockout_secs),
            ttl: Duration::from_secs(token_ttl_secs),
            book: Mutex::default(),
            clock: super::clock::Clock::default(),
        }
    }

    /// The same, judging signature dates against `clock`.
    pub fn with_clock(self, clock: super::clock::Clock) -> Auth {
        Auth { clock, ..self }
    }

    pub fn accepts_any(&self) -> bool {
        self.accept_any
    }

    /// Check one request; `Err` carries the reason for the 401 message.
    pub fn authenticate(&self, parts: &Parts, body: &[u8]) -> Result<(), &'static str> {
        if let Some(tok) = parts.headers.get("x-auth-token") {
            let tok = tok.to_str().map_err(|_| "invalid token")?;
            return self.check_token(tok);
        }
        let Some(header) = parts.headers.get("authorization") else {
            return Err("neither X-Auth-Token nor Authorization header present");
        };
        let parsed = header
            .to_str()
            .ok()
            .and_then(aksk::parse_authorization)
            .ok_or("Authorization header is not a valid SDK-HMAC-SHA256 signature")?;
        let now = Instant::now();
        {
            let book = self.book.lock().unwrap();
            if let Some(st) = book.aks.get(&parsed.access) {
                if st.locked_until.is_some_and(|t| t > now) {
                    return Err("the access key is locked after repeated authentication failures");
                }
            }
        }
        let verdict = self.verify_signature(parts, body, &parsed);
        let mut book = self.book.lock().unwrap();
        match verdict {
            Ok(()) => {
                book.aks.remove(&parsed.access);
                Ok(())
            }
            Err(reason) => {
                let lockout = self.lockout;
                let st = book.aks.entry(parsed.access).or_default();
                st.failures += 1;
                if st.failures >= FAILURES_TO_LOCK {
                    st.failures = 0;
                    st.locked_until = Some(now + lockout);
                }
                Err(reason)
            }
        }
    }

    fn check_token(&self, tok: &str) -> Result<(), &'static str> {
        if self
            .creds
            .token
            .as_deref()
            .is_some_and(|t| aksk::signatures_match(t, tok))
        {
            return Ok(());
        }
        let book = self.book.lock().unwrap();
        match book.issued.get(tok) {
            Some(exp) if *exp > Instant::now() => Ok(()),
            Some(_) => Err("the token has expired"),
            None if self.accept_any && !tok.is_empty() && !book.revoked.contains(tok) => Ok(()),
            None => Err("the token is invalid or has expired"),
        }
    }

    fn verify_signature(
        &self,
        parts: &Parts,
        body: &[u8],
        parsed: &aksk::ParsedAuthorization,
    ) -> Result<(), &'static str> {
        let date = parts
            .headers
            .get(aksk::DATE_HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or("X-Sdk-Date header missing")?;
        let at = aksk::parse_sdk_date(date).ok_or("X-Sdk-Date is malformed")?;
        if (self.clock.now() - at).num_seconds().abs() > MAX_SKEW_SECS {
            return Err("the signature time is more than 15 minutes off the server time");
        }
        if let Some(ak) = &self.creds.ak {
            if ak != &parsed.access {
                return Err("the access key is unknown");
            }
        }
        let Some(sk) = &self.creds.sk else {
            // Accept-any mode (or an AK without an SK): a well-formed, timely signature passes.
            return Ok(());
        };
        let mut headers = Vec::with_capacity(parsed.signed_headers.len());
        for name in &parsed.signed_headers {
            let v = parts
                .headers
                .get(name.as_str())
                .and_then(|v| v.to_str().ok())
                .ok_or("a signed header is missing")?;
            headers.push((name.clone(), v.to_string()));
        }
        let query: Vec<(String, String)> =
            url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        let path = percent_decode_str(parts.uri.path()).decode_utf8_lossy();
        let req = Signable {
            method: parts.method.as_str(),
            path: &path,
            query: &query,
            headers: &headers,
            body,
        };
        let (canonical, _) = req.canonical_request();
        let expected = aksk::signature(sk, &aksk::string_to_sign(date, &canonical));
        if aksk::signatures_match(&expected, &parsed.signature) {
            Ok(())
        } else {
            Err("verify aksk signature fail")
        }
    }

    /// Every issued token becomes invalid.
    pub fn expire_tokens(&self) {
        let mut book = self.book.lock().unwrap();
        let issued = std::mem::take(&mut book.issued);
        book.revoked.extend(issued.into_keys());
    }

    /// AKs locked right now (access key ids are identifiers, not secrets).
    pub fn locked_aks(&self) -> Vec<String> {
        let now = Instant::now();
        let book = self.book.lock().unwrap();
        let mut v: Vec<String> = book
            .aks
            .iter()
            .filter(|(_, s)| s.locked_until.is_some_and(|t| t > now))
            .map(|(k, _)| k.clone())
            .collect();
        v.sort();
        v
    }

    fn login(&self, user: &str, password: &str) -> bool {
        if self.accept_any {
            return !user.is_empty() && !password.is_empty();
        }
        match (&self.creds.iam_user, &self.creds.iam_password) {
            (Some(u), Some(p)) => u == user && aksk::signatures_match(p, password),
            _ => false,
        }
    }

    fn issue(&self) -> (String, Instant) {
        let mut rng = fastrand::Rng::new();
        let tok: String = std::iter::once("MIIsim".to_string())
            .chain((0..4).map(|_| format!("{:016x}", rng.u64(..))))
            .collect();
        let exp = Instant::now() + self.ttl;
        self.book.lock().unwrap().issued.insert(tok.clone(), exp);
        (tok, exp)
    }
}

fn iam_error(status: StatusCode, msg: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    (
        status,
        Json(json!({"error": {"code": status.as_u16(), "title": title, "message": msg}})),
    )
        .into_response()
}

/// `POST /v3/auth/tokens`: IAM password login → 201, token in `X-Subject-Token`.
pub async fn issue_token(State(sim): State<Arc<Sim>>, body: Bytes) -> Response {
    sim.gate.arrive(Api::IamTokens);
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let user = &v["auth"]["identity"]["password"]["user"];
    let (Some(name), Some(password)) = (user["name"].as_str(), user["password"].as_str()) else {
        sim.gate.record(Api::IamTokens, Outcome::Error);
        return iam_error(StatusCode::BAD_REQUEST, "The request body is invalid.");
    };
    if !sim.auth.login(name, password) {
        sim.gate.record(Api::IamTokens, Outcome::Unauthorized);
        return iam_error(
            StatusCode::UNAUTHORIZED,
            "The username or password is wrong.",
        );
    }
    let (tok, exp) = sim.auth.issue();
    let now = sim.clock.now();
    let expires = now + chrono::Duration::from_std(exp - Instant::now()).unwrap_or_default();
    sim.gate.record(Api::IamTokens, Outcome::Ok);
    let body = json!({"token": {
        "expires_at": ts(expires),
        "issued_at": ts(now),
        "methods": ["password"],
        "user": {"name": name, "domain": {"name": user["domain"]["name"].clone()}},
    }});
    let mut resp = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(v) = tok.parse() {
        resp.headers_mut().insert("x-subject-token", v);
    }
    resp
}

/// A refusal for a /v1 call that failed authentication.
pub fn refuse(reason: &str, request_id: String) -> Response {
    ApiError::unauthorized(reason, request_id).into_response()
}
