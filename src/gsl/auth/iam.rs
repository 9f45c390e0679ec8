//! IAM password login: `POST /v3/auth/tokens`, the token from `X-Subject-Token`.

use super::check::Carried::Text;
use super::{env_credential, env_nonempty, AuthSetupError, Secret};
use crate::gsl::error::{ApiFault, GslError};
use std::time::Duration;

/// Default IAM endpoint, as in Huawei's SDKs.
pub const DEFAULT_IAM_ENDPOINT: &str = "https://iam.myhuaweicloud.com";

/// Renew this long before the token's `expires_at`.
const RENEW_MARGIN: chrono::TimeDelta = chrono::TimeDelta::minutes(30);

#[derive(Debug, Clone)]
pub struct IamLogin {
    pub user: String,
    pub password: Secret,
    pub domain: String,
    pub endpoint: url::Url,
}

/// A token from a successful login.
pub struct Issued {
    pub token: Secret,
    pub renew_at: chrono::DateTime<chrono::Utc>,
}

impl IamLogin {
    /// `Some` when `GSL_IAM_USER` is set (the other two are then required).
    pub fn from_env() -> Result<Option<IamLogin>, AuthSetupError> {
        let Some(user) = env_credential("GSL_IAM_USER", Text)? else {
            return Ok(None);
        };
        let password = env_credential("GSL_IAM_PASSWORD", Text)?.ok_or(
            AuthSetupError::Incomplete("GSL_IAM_USER", "GSL_IAM_PASSWORD"),
        )?;
        let domain = env_credential("GSL_IAM_DOMAIN", Text)?
            .ok_or(AuthSetupError::Incomplete("GSL_IAM_USER", "GSL_IAM_DOMAIN"))?;
        let raw = env_nonempty("HUAWEICLOUD_SDK_IAM_ENDPOINT")
            .unwrap_or_else(|| DEFAULT_IAM_ENDPOINT.into());
        let endpoint = url::Url::parse(&raw)
            .map_err(|e| AuthSetupError::IamEndpoint(raw.clone(), e.to_string()))?;
        Ok(Some(IamLogin {
            user,
            password: Secret::new(password),
            domain,
            endpoint,
        }))
    }

    pub async fn login(&self, http: &reqwest::Client) -> Result<Issued, GslError> {
        let body = serde_json::json!({
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": { "user": {
                        "name": self.user,
                        "password": self.password.expose(),
                        "domain": { "name": self.domain }
                    }}
                },
                "scope": { "project": { "name": "cn-north-4" } }
            }
        });
        let url = self
            .endpoint
            .join("/v3/auth/tokens")
            .map_err(|e| GslError::Auth(format!("IAM endpoint: {e}")))?;
        let resp = http
            .post(url)
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| {
                GslError::Auth(format!(
                    "IAM login request failed: {}",
                    crate::gsl::error::describe(&e)
                ))
            })?;
        let status = resp.status().as_u16();
        let token = resp
            .headers()
            .get("X-Subject-Token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = resp.text().await.unwrap_or_default();
        if !(200..300).contains(&status) {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            let code = v["error"]["code"]
                .as_str()
                .or(v["error_code"].as_str())
                .unwrap_or("");
            let msg = v["error"]["message"]
                .as_str()
                .or(v["error_msg"].as_str())
                .unwrap_or("");
            let fault = ApiFault {
                http_status: status,
                error_code: code.to_string(),
                error_msg: format!("IAM login refused for user {}: {msg}", self.user),
                request_id: None,
            };
            return Err(GslError::Unauthorized {
                fault,
                clock_offset: None,
            });
        }
        let token =
            token.ok_or_else(|| GslError::Auth("IAM answered without X-Subject-Token".into()))?;
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let expires = v["token"]["expires_at"]
            .as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or_else(|| chrono::Utc::now() + chrono::TimeDelta::hours(24));
        let now = chrono::Utc::now();
        // Renew early, but never sooner than half the lifetime (short-lived test tokens).
        let lifetime = expires - now;
        let renew_at = if lifetime > RENEW_MARGIN * 2 {
            expires - RENEW_MARGIN
        } else {
            now + lifetime / 2
        };
        Ok(Issued {
            token: Secret::new(token),
            renew_at,
        })
    }
}
