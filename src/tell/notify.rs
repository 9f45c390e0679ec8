//! Posting a run's end to webhooks. Every target gets its message concurrently; each is tried
//! up to [`MAX_ATTEMPTS`] times (again on a connect error, a timeout, a 429 or a 5xx, after a
//! short backoff), and all of them together never take longer than the run's notify timeout:
//! a receiver that answers 500 or never answers costs the run at most that, and never its exit
//! code. Each outcome is logged, naming the target by its scheme and host only — a robot's
//! URL carries its access token (DingTalk `access_token`, WeCom `key`, Feishu's hook path), so
//! neither the URL nor an HTTP error that would print it is ever logged.
//!
//! The sending runs on a thread of its own with its own small runtime: the end of a run is
//! synchronous code, called from inside the command's runtime.

use super::bodies::{self, Message};
use super::{sign, NotifyFormat, Tell};
use std::time::{Duration, Instant};

/// Tries per target, the first included.
pub const MAX_ATTEMPTS: u32 = 3;

/// One webhook.
#[derive(Clone)]
pub struct Target {
    url: url::Url,
    /// Resolved: never `Auto`.
    pub format: NotifyFormat,
}

impl Target {
    /// A `--notify` URL: http or https, with a host, no user info. The error never repeats the
    /// URL (its query or path may be a token).
    pub fn parse(s: &str, format: NotifyFormat) -> Result<Target, String> {
        let url = url::Url::parse(s.trim()).map_err(|e| format!("not a URL ({e})"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("{}: only http and https URLs", url.scheme()));
        }
        let Some(host) = url.host_str() else {
            return Err("the URL has no host".to_string());
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err("user info in a webhook URL is refused".to_string());
        }
        let format = match format {
            NotifyFormat::Auto => by_host(host),
            f => f,
        };
        Ok(Target { url, format })
    }

    /// How the target is named in logs: scheme, host and port only.
    pub fn shown(&self) -> String {
        let mut s = format!(
            "{}://{}",
            self.url.scheme(),
            self.url.host_str().unwrap_or("")
        );
        if let Some(p) = self.url.port() {
            s.push_str(&format!(":{p}"));
        }
        s
    }

    /// The URL to post to: DingTalk's signed robots take `timestamp` and `sign` in the query.
    fn url_for(&self, secret: Option<&str>, now_ms: i64) -> url::Url {
        let mut u = self.url.clone();
        if let (NotifyFormat::Dingtalk, Some(secret)) = (self.format, secret) {
            let signed = sign::dingtalk(secret, now_ms);
            // Appended as it is: `sign` is already URL-encoded, as DingTalk documents.
            let q = match u.query() {
                Some(q) if !q.is_empty() => format!("{q}&timestamp={now_ms}&sign={signed}"),
                _ => format!("timestamp={now_ms}&sign={signed}"),
            };
            u.set_query(Some(&q));
        }
        u
    }
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Target({} {:?})", self.shown(), self.format)
    }
}

/// The robot a host belongs to.
pub fn by_host(host: &str) -> NotifyFormat {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    match h.as_str() {
        "oapi.dingtalk.com" => NotifyFormat::Dingtalk,
        "qyapi.weixin.qq.com" => NotifyFormat::Wecom,
        "open.feishu.cn" | "open.larksuite.com" => NotifyFormat::Feishu,
        _ => NotifyFormat::Json,
    }
}

/// What became of one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Scheme and host.
    pub target: String,
    pub attempts: u32,
    /// `None` when delivered, else why not.
    pub failed: Option<String>,
    pub millis: u64,
}

/// Post the end of the run (or listing) to every target, log each outcome, return them.
pub fn send_all(t: &Tell, m: &Message) -> Vec<Delivery> {
    let started = Instant::now();
    let (tell, summary) = (t.clone(), m.clone());
    let handle = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start a runtime for notifications: {e}"))?;
        Ok::<_, String>(rt.block_on(send_all_async(&tell, &summary)))
    });
    let done = match handle.join() {
        Ok(Ok(d)) => d,
        Ok(Err(e)) => {
            tracing::warn!("no notification sent: {e}");
            return Vec::new();
        }
        Err(_) => {
            tracing::warn!("no notification sent: the notifying thread failed");
            return Vec::new();
        }
    };
    for d in &done {
        match &d.failed {
            None => tracing::info!(
                "notified {} ({} attempt{}, {} ms)",
                d.target,
                d.attempts,
                if d.attempts == 1 { "" } else { "s" },
                d.millis
            ),
            Some(why) => tracing::warn!(
                "notification to {} not delivered after {} attempt{} ({} ms): {why}; the run's exit code is unchanged",
                d.target,
                d.attempts,
                if d.attempts == 1 { "" } else { "s" },
                d.millis
            ),
        }
    }
    tracing::debug!("notifications took {} ms", started.elapsed().as_millis());
    done
}

/// Every target at once, all within `t.timeout`.
pub async fn send_all_async(t: &Tell, s: &Message) -> Vec<Delivery> {
    let deadline = tokio::time::Instant::now() + t.timeout;
    let sends = t
        .targets
        .iter()
        .map(|target| send_one(target, t.secret.as_deref(), s, deadline));
    futures_join_all(sends).await
}

/// A tiny join_all: the futures run concurrently on this task, results in order.
async fn futures_join_all<F: std::future::Future<Output = Delivery>>(
    futs: impl Iterator<Item = F>,
) -> Vec<Delivery> {
    // Borrowing futures (not 'static), so polled here rather than spawned.
    let futs: Vec<F> = futs.collect();
    let n = futs.len();
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futs.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<Delivery>> = vec![None; n];
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if out[i].is_some() {
                continue;
            }
            match f.as_mut().poll(cx) {
                std::task::Poll::Ready(d) => out[i] = Some(d),
                std::task::Poll::Pending => pending = true,
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// One target: attempts until delivered, refused for good, out of attempts, or out of time.
async fn send_one(
    target: &Target,
    secret: Option<&str>,
    s: &Message,
    deadline: tokio::time::Instant,
) -> Delivery {
    let started = Instant::now();
    let mut d = Delivery {
        target: target.shown(),
        attempts: 0,
        failed: None,
        millis: 0,
    };
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("gslbatch/", env!("CARGO_PKG_VERSION")));
    // As the API's client: a receiver on this machine is never reached through a proxy (a
    // company shell's HTTP_PROXY cannot reach our loopback); other hosts follow the proxy variables.
    if crate::gsl::net::is_loopback(&target.url) {
        builder = builder.no_proxy();
    }
    let client = match builder.build() {
        Ok(c) => c,
        Err(e) => {
            d.failed = Some(format!("cannot build an HTTP client: {}", e.without_url()));
            return d;
        }
    };
    let mut why = String::from("no time left");
    while d.attempts < MAX_ATTEMPTS {
        if deadline <= tokio::time::Instant::now() {
            why = format!("{why}; the notify timeout ran out");
            break;
        }
        d.attempts += 1;
        let retry = match attempt(&client, target, secret, s, deadline).await {
            Ok(()) => {
                d.millis = started.elapsed().as_millis() as u64;
                return d;
            }
            Err((reason, retry)) => {
                why = reason;
                retry
            }
        };
        if !retry {
            break;
        }
        if d.attempts < MAX_ATTEMPTS {
            let nap = Duration::from_millis(250 << (d.attempts - 1));
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            tokio::time::sleep(nap.min(left)).await;
        }
    }
    d.failed = Some(why);
    d.millis = started.elapsed().as_millis() as u64;
    d
}

/// One POST, within `deadline`: delivered, or why not and whether another try may do better.
async fn attempt(
    client: &reqwest::Client,
    target: &Target,
    secret: Option<&str>,
    s: &Message,
    deadline: tokio::time::Instant,
) -> Result<(), (String, bool)> {
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    let ms = now_ms();
    let feishu = match (target.format, secret) {
        (NotifyFormat::Feishu, Some(sec)) => Some((ms / 1000, sign::feishu(sec, ms / 1000))),
        _ => None,
    };
    let body = bodies::body(target.format, s, feishu);
    let req = client
        .post(target.url_for(secret, ms))
        .timeout(left)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/json; charset=utf-8",
        )
        .body(body.to_string())
        .send();
    let resp = match tokio::time::timeout(left, req).await {
        Err(_) => return Err(("no answer before the notify timeout".to_string(), true)),
        Ok(Err(e)) => {
            let e = e.without_url();
            let why = if e.is_timeout() {
                "no answer before the notify timeout".to_string()
            } else if e.is_connect() {
                format!("cannot connect: {}", root_cause(&e))
            } else {
                format!("the request failed: {}", root_cause(&e))
            };
            return Err((why, true));
        }
        Ok(Ok(resp)) => resp,
    };
    let status = resp.status();
    if !status.is_success() {
        let retry = status.is_server_error() || status.as_u16() == 429;
        return Err((format!("HTTP {}", status.as_u16()), retry));
    }
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    let text = tokio::time::timeout(left, resp.text())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    match refused(target.format, &text) {
        None => Ok(()),
        Some(r) => Err((format!("the robot refused it: {r}"), false)),
    }
}

/// The innermost cause of an HTTP error, which says what went wrong (connection refused...).
fn root_cause(e: &reqwest::Error) -> String {
    let mut cur: &dyn std::error::Error = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// A robot's 200 answer that is a refusal: DingTalk and WeCom `errcode` ≠ 0, Feishu `code`
/// (or the older `StatusCode`) ≠ 0. Its message says why (a bad signature, a keyword missing).
fn refused(format: NotifyFormat, text: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let (code, msg) = match format {
        NotifyFormat::Dingtalk | NotifyFormat::Wecom => (v.get("errcode"), v.get("errmsg")),
        NotifyFormat::Feishu => (
            v.get("code").or_else(|| v.get("StatusCode")),
            v.get("msg").or_else(|| v.get("StatusMessage")),
        ),
        _ => return None,
    };
    let code = code?.as_i64()?;
    (code != 0).then(|| {
        let msg: String = msg
            .and_then(|m| m.as_str())
            .unwrap_or("")
            .chars()
            .take(200)
            .collect();
        format!("code {code} {msg}")
    })
}
