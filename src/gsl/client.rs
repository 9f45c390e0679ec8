//! The GSL client: one shared `reqwest` connection pool, every call signed or tokened by
//! [`Auth`], every answer sorted into a typed result or a [`GslError`].
//!
//! A 401 gets exactly one shared recovery (IAM re-login or token-file re-read, see
//! [`Auth::recover`]) and one more try; anything else is the caller's decision.

use super::auth::{Auth, Credentials};
use super::clock::{ClockGauge, ClockOffset};
use super::error::{ApiFault, GslError};
use super::types::*;
use bytes::Bytes;
use reqwest::Method;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Duration;

/// The documented default endpoint (the service's only region).
pub const DEFAULT_ENDPOINT: &str = "https://gsl.cn-north-4.myhuaweicloud.com";

/// Huawei's SDKs take a region's endpoint from `HUAWEICLOUD_SDK_REGION_{SERVICE}_{REGION}`
/// (a comma-separated list, the first the primary one).
pub const REGION_ENDPOINT_VAR: &str = "HUAWEICLOUD_SDK_REGION_GSL_CN_NORTH_4";

/// The endpoint when none is given: the SDKs' region variable's first endpoint, else
/// [`DEFAULT_ENDPOINT`].
pub fn default_endpoint() -> String {
    std::env::var(REGION_ENDPOINT_VAR)
        .ok()
        .and_then(|v| v.split(',').next().map(|e| e.trim().to_string()))
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string())
}

/// Connections idle longer than this are dropped before the gateway drops them, so a request is
/// never written to a socket the server is closing (which would look like a lost answer).
const POOL_IDLE: Duration = Duration::from_secs(30);

/// Connect timeout, separate from the per-request timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: url::Url,
    auth: Arc<Auth>,
    timeout: Duration,
    /// The API's clock against ours, from the `Date` of its answers (shared by clones).
    clock: Arc<ClockGauge>,
}

/// One API call, before authentication.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: Method,
    /// Decoded path, e.g. `/v1/sim-cards/0/real-named`.
    pub path: String,
    /// Decoded query pairs.
    pub query: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

impl Call {
    pub fn get(path: String, query: Vec<(String, String)>) -> Call {
        Call {
            method: Method::GET,
            path,
            query,
            body: None,
        }
    }

    pub fn post(path: String, query: Vec<(String, String)>, body: Option<Vec<u8>>) -> Call {
        Call {
            method: Method::POST,
            path,
            query,
            body,
        }
    }
}

/// Parse and check an endpoint URL given by the user.
pub fn parse_endpoint(raw: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(raw).map_err(|e| format!("malformed endpoint URL {raw:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "endpoint {raw:?} must be an http:// or https:// URL"
        ));
    }
    if url.host_str().is_none() {
        return Err(format!("endpoint {raw:?} has no host"));
    }
    // A password in a URL ends up in logs, summaries and journals: refused, and not echoed.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "the endpoint URL carries user info (user:password@): credentials go in the \
             environment (HUAWEICLOUD_SDK_AK/SK, GSL_AUTH_TOKEN, ...), never in the URL"
                .to_string(),
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "endpoint {raw:?} must not carry a query or fragment"
        ));
    }
    Ok(url)
}

/// The shared HTTP client for `base`: rustls, keep-alive pool, connect timeout, idle timeout.
/// It never retries or follows a redirect by itself: whether a request may go out again is the
/// engine's decision (a clear sent twice cannot be taken back), and the API does not redirect.
/// Both layers also cost a visible share of a fast run's CPU. A loopback `base` never goes
/// through a proxy; any other honours the proxy variables and trusts the system's CA store, the
/// bundled roots and `extra_ca` (see [`super::net`]).
pub fn http_client(base: &url::Url, extra_ca: &[reqwest::Certificate]) -> reqwest::Client {
    let mut b = reqwest::Client::builder();
    if super::net::is_loopback(base) {
        b = b.no_proxy();
    }
    for ca in extra_ca {
        b = b.add_root_certificate(ca.clone());
    }
    b.retry(reqwest::retry::never())
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT)
        .pool_idle_timeout(POOL_IDLE)
        .pool_max_idle_per_host(256)
        .tcp_nodelay(true)
        .http1_only()
        .user_agent(concat!("gslbatch/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the HTTP client builds with static settings")
}

fn header_value(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Sort a non-2xx answer into its error. Of the 5xx answers only the documented busy ones say
/// that nothing was done; any other (an HTML page from a proxy, an undocumented code) may come
/// after the work, so it is never taken for a refusal.
pub fn classify(status: u16, headers: &reqwest::header::HeaderMap, body: &[u8]) -> GslError {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let text = || {
        String::from_utf8_lossy(&body[..body.len().min(200)])
            .trim()
            .to_string()
    };
    let fault = ApiFault {
        http_status: status,
        error_code: v["error_code"].as_str().unwrap_or("").to_string(),
        error_msg: v["error_msg"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(text),
        request_id: v["request_id"]
            .as_str()
            .map(str::to_string)
            .or_else(|| header_value(headers, "X-Request-Id")),
    };
    match status {
        429 => GslError::Throttled {
            retry_after: header_value(headers, "Retry-After")
                .and_then(|s| s.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(|s| Duration::from_secs_f64(s.min(300.0))),
            fault,
        },
        401 => GslError::Unauthorized {
            clock_offset: header_value(headers, "Date")
                .and_then(|d| chrono::DateTime::parse_from_rfc2822(&d).ok())
                .map(|d| d.with_timezone(&chrono::Utc) - chrono::Utc::now()),
            fault,
        },
        500 if matches!(fault.error_code.as_str(), "GSL.00010003" | "GSL.00020003") => {
            GslError::Busy(fault)
        }
        500..=599 => GslError::Gateway(fault),
        _ => GslError::Refused(fault),
    }
}

/// Sort a transport failure: only a request that could not be built or whose connection could
/// not be made provably never left (a connect timeout is a connect error, not a timeout).
fn transport(e: reqwest::Error, timeout: Duration) -> GslError {
    if e.is_builder() {
        GslError::Build(super::error::describe(&e))
    } else if e.is_connect() {
        let detail = super::error::describe(&e);
        GslError::Connect(match super::net::tls_hint(&e) {
            Some(hint) => format!("{hint} ({detail})"),
            None => detail,
        })
    } else if e.is_timeout() {
        GslError::Timeout(timeout)
    } else {
        GslError::Closed(super::error::describe(&e))
    }
}

impl Client {
    pub fn new(base: url::Url, auth: Arc<Auth>, timeout: Duration) -> Client {
        Client::with_ca(base, auth, timeout, &[])
    }

    /// As [`Client::new`], also trusting `extra_ca` (`--ca-cert`).
    pub fn with_ca(
        base: url::Url,
        auth: Arc<Auth>,
        timeout: Duration,
        extra_ca: &[reqwest::Certificate],
    ) -> Client {
        Client::with_http(http_client(&base, extra_ca), base, auth, timeout)
    }

    pub fn with_http(
        http: reqwest::Client,
        base: url::Url,
        auth: Arc<Auth>,
        timeout: Duration,
    ) -> Client {
        Client {
            http,
            base,
            auth,
            timeout,
            clock: Arc::default(),
        }
    }

    /// How far the API's clock is from ours, as its answers so far said (`None` before any).
    pub fn clock_offset(&self) -> Option<ClockOffset> {
        self.clock.offset()
    }

    pub fn endpoint(&self) -> &url::Url {
        &self.base
    }

    pub fn credentials(&self) -> &Credentials {
        self.auth.credentials()
    }

    /// `host[:port]` exactly as the `Host` header will carry it.
    fn host(&self) -> String {
        let host = self.base.host_str().unwrap_or_default();
        match self.base.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        }
    }

    /// Send one call; on a 401, a shared recovery and another try, while recovery says a try
    /// can succeed. A 401 means the gateway refused before any work, so a non-idempotent call
    /// may be tried again.
    ///
    /// Usually one recovery is enough. A second is needed when the first handed back a token
    /// that was already dead: another request's routine renewal, revoked together with the
    /// token this call was refused with. [`Auth::recover`] gives up by itself once a token got
    /// by a re-login after a 401 is refused before it ever worked, and the count is capped.
    pub async fn execute(&self, call: &Call) -> Result<Bytes, GslError> {
        const MAX_RECOVERIES: usize = 3;
        let (mut answer, mut generation) = self.execute_once(call).await?;
        for _ in 0..MAX_RECOVERIES {
            match answer {
                Err(GslError::Unauthorized { .. })
                    if self.auth.recover(&self.http, generation).await? =>
                {
                    (answer, generation) = self.execute_once(call).await?;
                }
                _ => break,
            }
        }
        answer
    }

    /// One try. The outer error is a failure to authenticate at all (IAM login refused).
    async fn execute_once(&self, call: &Call) -> Result<(Result<Bytes, GslError>, u64), GslError> {
        let body = call.body.as_deref().unwrap_or(&[]);
        let applied = self
            .auth
            .apply(
                &self.http,
                &self.host(),
                call.method.as_str(),
                &call.path,
                &call.query,
                body,
            )
            .await?;
        // The signed path and query on a copy of the parsed base: parsing the whole URL again
        // for every request (its host through IDNA) was a visible share of a fast run's CPU.
        let signed = super::auth::aksk::signed_uri(&call.path, &call.query);
        let (path, query) = match signed.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (signed.as_str(), None),
        };
        let mut url = self.base.clone();
        url.set_path(&format!("{}{path}", self.base.path().trim_end_matches('/')));
        url.set_query(query);
        let mut req = self
            .http
            .request(call.method.clone(), url)
            .timeout(self.timeout)
            .header("Content-Type", "application/json");
        for (name, value) in &applied.headers {
            req = req.header(*name, value);
        }
        if let Some(b) = &call.body {
            req = req.body(b.clone());
        }
        let result = async {
            let sent = self.clock.start();
            let resp = req.send().await.map_err(|e| transport(e, self.timeout))?;
            if let Some(sent) = sent {
                let date = resp.headers().get(reqwest::header::DATE);
                self.clock.answer(sent, date.and_then(|v| v.to_str().ok()));
            }
            let status = resp.status().as_u16();
            if (200..300).contains(&status) {
                return resp.bytes().await.map_err(|e| transport(e, self.timeout));
            }
            let headers = resp.headers().clone();
            let bytes = resp.bytes().await.map_err(|e| transport(e, self.timeout))?;
            Err(classify(status, &headers, &bytes))
        }
        .await;
        // Any answer past the gateway's authentication proves the token (transport errors don't).
        let authenticated = match &result {
            Ok(_) => true,
            Err(GslError::Unauthorized { .. }) => false,
            Err(e) => e.fault().is_some(),
        };
        if authenticated {
            self.auth.confirm(applied.generation);
        }
        Ok((result, applied.generation))
    }

    async fn json<T: DeserializeOwned>(&self, call: Call) -> Result<T, GslError> {
        let bytes = self.execute(&call).await?;
        serde_json::from_slice(&bytes).map_err(|e| GslError::Malformed {
            http_status: 200,
            detail: format!(
                "{e}: {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
            ),
        })
    }

    pub async fn real_named(&self, card: &CardRef) -> Result<RealNamed, GslError> {
        let (id, query) = card.path_and_query();
        self.json(Call::get(format!("/v1/sim-cards/{id}/real-named"), query))
            .await
    }

    pub async fn clear_real_name(&self, card: &CardRef) -> Result<ClearRealName, GslError> {
        let (id, query) = card.path_and_query();
        self.json(Call::post(
            format!("/v1/sim-cards/{id}/clear-real-name"),
            query,
            None,
        ))
        .await
    }

    /// A card-state change (stop, reset, enable, cut-net, speed-limit, exceed-cut-net,
    /// bind-device): one work order.
    pub async fn card_action(
        &self,
        card: &CardRef,
        action: &CardAction,
    ) -> Result<ClearRealName, GslError> {
        let (id, query) = card.path_and_query();
        let path = format!("/v1/sim-cards/{id}/{}", action.path);
        let call = match &action.body {
            None => Call::post(path, query, None),
            Some(body) => {
                let mut body = body.clone();
                if let CardRef::Iccid(iccid) = card {
                    body.insert("iccid".into(), iccid.clone().into());
                }
                let bytes = serde_json::to_vec(&body).expect("a JSON map serialises");
                Call::post(path, vec![], Some(bytes))
            }
        };
        self.json(call).await
    }

    /// The flow usage of at most 50 cards.
    pub async fn flow_usage(&self, q: &UsageQuery) -> Result<Vec<FlowUsage>, GslError> {
        let body = serde_json::to_vec(q).expect("UsageQuery serialises");
        self.json(Call::post(
            "/v1/sim-price-plans/usage/batch-query".into(),
            vec![],
            Some(body),
        ))
        .await
    }

    /// Send one SMS batch; `Ok` only when the API answered `true`.
    pub async fn send_sms(&self, req: &SendSms) -> Result<(), GslError> {
        let body = serde_json::to_vec(req).expect("SendSms serialises");
        let ok: bool = self
            .json(Call::post("/v1/sms-send-infos".into(), vec![], Some(body)))
            .await?;
        if ok {
            Ok(())
        } else {
            Err(GslError::Malformed {
                http_status: 200,
                detail: "the API answered false".into(),
            })
        }
    }

    pub async fn sms_details(&self, page: &Page) -> Result<SmsDetailsPage, GslError> {
        self.json(Call::get("/v1/sms-send-infos/details".into(), page.query()))
            .await
    }

    pub async fn sim_cards(&self, page: &Page) -> Result<SimCardPage, GslError> {
        self.json(Call::get("/v1/sim-cards".into(), page.query()))
            .await
    }

    pub async fn pool_members(
        &self,
        pool_id: u64,
        page: &Page,
    ) -> Result<PoolMembersPage, GslError> {
        self.json(Call::get(
            format!("/v1/sim-pools/{pool_id}/members"),
            page.query(),
        ))
        .await
    }

    pub async fn tags(&self, page: &Page) -> Result<TagsPage, GslError> {
        self.json(Call::get("/v1/tags".into(), page.query())).await
    }

    pub async fn set_tags(&self, req: &SetTags) -> Result<(), GslError> {
        let body = serde_json::to_vec(req).expect("SetTags serialises");
        let _: bool = self
            .json(Call::post(
                "/v1/sim-tags/batch-set".into(),
                vec![],
                Some(body),
            ))
            .await?;
        Ok(())
    }

    pub async fn work_orders(&self, page: &Page) -> Result<WorkOrdersPage, GslError> {
        self.json(Call::get("/v1/work-orders".into(), page.query()))
            .await
    }

    pub async fn work_order_details(
        &self,
        work_order_id: i64,
        page: &Page,
    ) -> Result<WorkOrderDetailsPage, GslError> {
        self.json(Call::get(
            format!("/v1/work-orders/{work_order_id}/details"),
            page.query(),
        ))
        .await
    }
}
