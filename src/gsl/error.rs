//! Everything that can go wrong with one API call, sorted by what it means for a retry.
//!
//! The one distinction that matters most: a [`GslError::Connect`] or a [`GslError::Build`]
//! proves the request never left this machine; every other transport failure (timeout, closed
//! connection) and every 5xx but the documented "busy" may hide a call the server performed.
//! The engine's retry rules lean on exactly that.

use std::time::Duration;

/// The fields an error body carries, kept verbatim for the report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiFault {
    pub http_status: u16,
    pub error_code: String,
    pub error_msg: String,
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum GslError {
    /// The API refused the call (4xx other than 401/429): nothing was done.
    #[error("API refused the call: {} {} {}", .0.http_status, .0.error_code, .0.error_msg)]
    Refused(ApiFault),
    /// `429 APIG.0308`: over the quota; nothing was done.
    #[error("throttled by the gateway: {}", .fault.error_msg)]
    Throttled {
        fault: ApiFault,
        retry_after: Option<Duration>,
    },
    /// `401 APIG.0301`: credentials rejected; nothing was done.
    #[error("authentication rejected: {}", .fault.error_msg)]
    Unauthorized {
        fault: ApiFault,
        /// How far the server's `Date` is ahead of the local clock, when it sent one.
        clock_offset: Option<chrono::TimeDelta>,
    },
    /// `500 GSL.00010003` / `GSL.00020003`: the service was busy and did nothing.
    #[error("service busy: {} {}", .0.error_code, .0.error_msg)]
    Busy(ApiFault),
    /// A 5xx other than the documented busy answers: a proxy's 502 / 503 / 504 or HTML error
    /// page, an undocumented code. The call may or may not have been performed.
    #[error("server error {}", .0.http_status)]
    Gateway(ApiFault),
    /// The connection could not be made (refused, DNS, TLS handshake): the request never left.
    #[error("could not connect: {0}")]
    Connect(String),
    /// The request could not even be built (a header value that cannot be sent): it never
    /// left, and it never will as it is.
    #[error("the request could not be built, nothing was sent: {0}")]
    Build(String),
    /// No answer within the timeout.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The connection closed before a complete answer arrived.
    #[error("connection closed without an answer: {0}")]
    Closed(String),
    /// An answer arrived but is not what the API documents.
    #[error("malformed response (HTTP {http_status}): {detail}")]
    Malformed { http_status: u16, detail: String },
    /// Credentials could not be obtained (IAM login failed, token file unreadable).
    #[error("could not authenticate: {0}")]
    Auth(String),
}

impl GslError {
    /// "authentication rejected (MODE): why", with how far the local clock is from the
    /// server's when an AK/SK signature was refused (signatures are good for 15 minutes).
    pub fn rejection(&self, mode: &str) -> String {
        let mut msg = format!("authentication rejected ({mode}): {}", self.error_msg());
        if let GslError::Unauthorized {
            clock_offset: Some(off),
            ..
        } = self
        {
            if mode == "AK/SK" {
                let secs = off.num_seconds();
                msg.push_str(&format!(
                    "; the local clock is {}s {} the server's (signatures older than 15 minutes are refused)",
                    secs.abs(),
                    if secs > 0 { "behind" } else { "ahead of" }
                ));
            }
        }
        if mode == "AK/SK" && self.error_msg().to_ascii_lowercase().contains("locked") {
            msg.push_str(
                "; GSL locks an AK for five minutes after five failed signatures in a row: wait \
                 5 minutes before trying again",
            );
        }
        msg
    }

    /// The error body's fields, when the server sent one.
    pub fn fault(&self) -> Option<&ApiFault> {
        match self {
            GslError::Refused(f) | GslError::Busy(f) | GslError::Gateway(f) => Some(f),
            GslError::Throttled { fault, .. } | GslError::Unauthorized { fault, .. } => Some(fault),
            _ => None,
        }
    }

    /// The quota a 429 names (`policy user over ratelimit,limit:N,time:1 second`), in calls
    /// per second.
    pub fn quota(&self) -> Option<f64> {
        let GslError::Throttled { fault, .. } = self else {
            return None;
        };
        let msg = &fault.error_msg;
        let rest = &msg[msg.find("limit:")? + "limit:".len()..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let n: f64 = digits.parse().ok()?;
        let per_secs: f64 = rest
            .find("time:")
            .map(|i| {
                rest[i + 5..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
            })
            .and_then(|t| t.parse().ok())
            .unwrap_or(1.0);
        (n > 0.0 && per_secs > 0.0).then(|| n / per_secs)
    }

    /// HTTP status for the report, when there was one.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            GslError::Malformed { http_status, .. } => Some(*http_status),
            other => other.fault().map(|f| f.http_status),
        }
    }

    /// The report's `error_code`: the API's own, or a short local name for transport failures.
    pub fn error_code(&self) -> String {
        match self {
            GslError::Connect(_) => "CONNECT".into(),
            GslError::Build(_) => "BUILD".into(),
            GslError::Timeout(_) => "TIMEOUT".into(),
            GslError::Closed(_) => "CLOSED".into(),
            GslError::Malformed { .. } => "MALFORMED".into(),
            GslError::Auth(_) => "AUTH".into(),
            other => other
                .fault()
                .map(|f| {
                    if f.error_code.is_empty() {
                        format!("HTTP{}", f.http_status)
                    } else {
                        f.error_code.clone()
                    }
                })
                .unwrap_or_default(),
        }
    }

    /// The report's `error_msg`.
    pub fn error_msg(&self) -> String {
        match self.fault() {
            Some(f) if !f.error_msg.is_empty() => f.error_msg.clone(),
            _ => self.to_string(),
        }
    }

    /// True only when the request provably never reached the server.
    pub fn provably_unsent(&self) -> bool {
        matches!(self, GslError::Connect(_) | GslError::Build(_))
    }
}

/// A transport error in a few words, with its causes (never a secret: headers are not in it).
pub fn describe(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_429_names_its_quota() {
        let t = |msg: &str| GslError::Throttled {
            fault: ApiFault {
                http_status: 429,
                error_code: "APIG.0308".into(),
                error_msg: msg.into(),
                request_id: None,
            },
            retry_after: None,
        };
        let gw = "The throttling threshold has been reached: policy user over ratelimit,limit:5,time:1 second";
        assert_eq!(t(gw).quota(), Some(5.0));
        assert_eq!(
            t("policy user over ratelimit,limit:120,time:60 second").quota(),
            Some(2.0)
        );
        assert_eq!(t("Too many requests").quota(), None);
    }
}
