//! The three ways to authenticate to GSL, read from the same variables as Huawei's SDKs.
//!
//! - AK/SK signing ([`aksk`]): `HUAWEICLOUD_SDK_AK`, `HUAWEICLOUD_SDK_SK`, optional
//!   `HUAWEICLOUD_SDK_PROJECT_ID` and `HUAWEICLOUD_SDK_SECURITY_TOKEN`. Preferred when set.
//! - A ready token: `GSL_AUTH_TOKEN` or `--token-file`, sent as `X-Auth-Token`.
//! - IAM password login ([`iam`]): `GSL_IAM_USER`, `GSL_IAM_PASSWORD`, `GSL_IAM_DOMAIN`.
//!
//! [`Auth`] hands out the headers for one request together with a *generation*; after a 401 the
//! engine calls [`Auth::recover`] with that generation, so that however many requests saw the 401
//! at once, only the first re-logs in (or re-reads the token file) and the rest reuse its result.

pub mod aksk;
pub mod check;
pub mod iam;
pub mod profile;
pub mod secret;

pub use secret::Secret;

use crate::gsl::error::GslError;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex as StdMutex;
use tokio::sync::Mutex;

/// Where the credentials came from, as read at start.
#[derive(Debug, Clone)]
pub enum Credentials {
    AkSk {
        ak: String,
        sk: Secret,
        project_id: Option<String>,
        security_token: Option<Secret>,
    },
    Token {
        token: Secret,
        /// Re-read once after a 401, when the token came from a file.
        file: Option<PathBuf>,
    },
    Iam(iam::IamLogin),
}

/// Why credentials could not be set up: always a bad-usage error (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    #[error("no credentials: set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK (recommended) or put them in ~/.huaweicloud/credentials ([basic] ak, sk), or GSL_AUTH_TOKEN / --token-file, or GSL_IAM_USER, GSL_IAM_PASSWORD and GSL_IAM_DOMAIN; or use --rehearse to run against the built-in simulator")]
    Missing,
    #[error("{0} is set but {1} is not")]
    Incomplete(&'static str, &'static str),
    #[error("cannot read token file {path}: {reason}")]
    TokenFile { path: String, reason: String },
    #[error("token file {0} is empty")]
    EmptyTokenFile(String),
    #[error("bad IAM endpoint {0:?}: {1}")]
    IamEndpoint(String, String),
    /// A credential that cannot be what was meant; names where it came from, never the value.
    #[error("{name} {why}: nothing was sent")]
    BadValue { name: String, why: String },
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A credential from the environment (unset or blank: `None`), checked before it is used.
fn env_credential(name: &str, carried: check::Carried) -> Result<Option<String>, AuthSetupError> {
    let Some(v) = env_nonempty(name) else {
        return Ok(None);
    };
    check::value(name, &v, carried)?;
    Ok(Some(v))
}

pub(crate) fn read_token_file(path: &std::path::Path) -> Result<Secret, AuthSetupError> {
    let text = std::fs::read_to_string(path).map_err(|e| AuthSetupError::TokenFile {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let shown = path.display().to_string();
    match check::token_file_text(&shown, &text)? {
        Some(token) => Ok(Secret::new(token)),
        None => Err(AuthSetupError::EmptyTokenFile(shown)),
    }
}

impl Credentials {
    /// Read credentials from the environment (and `--token-file`), in the SDKs' order of preference.
    ///
    /// Every value the chosen mode uses is checked first ([`check`]): one with control
    /// characters or surrounding white space is refused, naming its variable or file.
    pub fn from_env(token_file: Option<PathBuf>) -> Result<Credentials, AuthSetupError> {
        use check::Carried::{Header, Text};
        let ak = env_nonempty("HUAWEICLOUD_SDK_AK");
        let sk = env_nonempty("HUAWEICLOUD_SDK_SK");
        match (ak, sk) {
            (Some(ak), Some(sk)) => {
                check::value("HUAWEICLOUD_SDK_AK", &ak, Header)?;
                check::value("HUAWEICLOUD_SDK_SK", &sk, Text)?;
                return Ok(Credentials::AkSk {
                    ak,
                    sk: Secret::new(sk),
                    project_id: env_credential("HUAWEICLOUD_SDK_PROJECT_ID", Header)?,
                    security_token: env_credential("HUAWEICLOUD_SDK_SECURITY_TOKEN", Header)?
                        .map(Secret::new),
                });
            }
            (Some(_), None) => {
                return Err(AuthSetupError::Incomplete(
                    "HUAWEICLOUD_SDK_AK",
                    "HUAWEICLOUD_SDK_SK",
                ))
            }
            (None, Some(_)) => {
                return Err(AuthSetupError::Incomplete(
                    "HUAWEICLOUD_SDK_SK",
                    "HUAWEICLOUD_SDK_AK",
                ))
            }
            (None, None) => {}
        }
        if let Some(path) = token_file {
            let token = read_token_file(&path)?;
            return Ok(Credentials::Token {
                token,
                file: Some(path),
            });
        }
        if let Some(token) = env_credential("GSL_AUTH_TOKEN", Header)? {
            return Ok(Credentials::Token {
                token: Secret::new(token),
                file: None,
            });
        }
        if let Some(login) = iam::IamLogin::from_env()? {
            return Ok(Credentials::Iam(login));
        }
        // Huawei's SDKs read their credentials file after the environment; an explicit
        // token or IAM login above is this tool's own and wins over a file in the home dir.
        if let Some(creds) = profile::read()? {
            return Ok(creds);
        }
        Err(AuthSetupError::Missing)
    }

    /// Who these credentials act as, without the secret: the key of the account-wide lock.
    pub fn identity(&self) -> String {
        match self {
            Credentials::AkSk { ak, .. } => format!("ak-{ak}"),
            Credentials::Iam(l) => format!("iam-{}-{}", l.domain, l.user),
            Credentials::Token { token, .. } => {
                let h = hex::encode(Sha256::digest(token.expose().as_bytes()));
                format!("token-{}", &h[..16])
            }
        }
    }

    /// A short name of the mode for messages.
    pub fn mode(&self) -> &'static str {
        match self {
            Credentials::AkSk { .. } => "AK/SK",
            Credentials::Token { file: Some(_), .. } => "token file",
            Credentials::Token { file: None, .. } => "token",
            Credentials::Iam(_) => "IAM password",
        }
    }
}

/// The current token for token and IAM modes, with the generation it belongs to.
#[derive(Debug, Clone)]
struct Current {
    token: Option<Secret>,
    generation: u64,
    /// When an IAM token should be renewed.
    renew_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Live authentication state shared by every request of a run.
pub struct Auth {
    creds: Credentials,
    current: StdMutex<Current>,
    /// Serialises logins and token-file re-reads so only one happens at a time.
    renewing: Mutex<()>,
    /// The newest generation a request was answered with other than 401: its token worked.
    proven: AtomicU64,
    /// The generation of the newest token got by a re-login after a 401 (not by a routine
    /// renewal ahead of expiry): if that one is refused before it ever worked, give up.
    recovered: AtomicU64,
}

/// The headers that authenticate one request, and the generation they belong to.
pub struct Applied {
    pub headers: Vec<(&'static str, String)>,
    pub generation: u64,
}

impl Auth {
    pub fn new(creds: Credentials) -> Auth {
        let token = match &creds {
            Credentials::Token { token, .. } => Some(token.clone()),
            _ => None,
        };
        Auth {
            creds,
            current: StdMutex::new(Current {
                token,
                generation: 0,
                renew_at: None,
            }),
            renewing: Mutex::new(()),
            proven: AtomicU64::new(0),
            recovered: AtomicU64::new(0),
        }
    }

    pub fn credentials(&self) -> &Credentials {
        &self.creds
    }

    fn snapshot(&self) -> Current {
        self.current.lock().expect("auth state").clone()
    }

    /// Headers for a request. `sign` is called in AK/SK mode with the headers to add.
    pub async fn apply(
        &self,
        http: &reqwest::Client,
        host: &str,
        method: &str,
        path: &str,
        query: &[(String, String)],
        body: &[u8],
    ) -> Result<Applied, GslError> {
        match &self.creds {
            Credentials::AkSk {
                ak,
                sk,
                project_id,
                security_token,
            } => {
                let date = aksk::sdk_date(chrono::Utc::now());
                let mut signed: Vec<(String, String)> = vec![
                    ("Content-Type".into(), "application/json".into()),
                    ("Host".into(), host.to_string()),
                    (aksk::DATE_HEADER.into(), date.clone()),
                ];
                if let Some(p) = project_id {
                    signed.push(("X-Project-Id".into(), p.clone()));
                }
                if let Some(t) = security_token {
                    signed.push(("X-Security-Token".into(), t.expose().to_string()));
                }
                let req = aksk::Signable {
                    method,
                    path,
                    query,
                    headers: &signed,
                    body,
                };
                let authorization = aksk::authorization(ak, sk.expose(), &date, &req);
                let mut headers = vec![(aksk::DATE_HEADER, date), ("Authorization", authorization)];
                if let Some(p) = project_id {
                    headers.push(("X-Project-Id", p.clone()));
                }
                if let Some(t) = security_token {
                    headers.push(("X-Security-Token", t.expose().to_string()));
                }
                Ok(Applied {
                    headers,
                    generation: 0,
                })
            }
            Credentials::Token { .. } => {
                let cur = self.snapshot();
                Ok(Applied {
                    headers: vec![(
                        "X-Auth-Token",
                        cur.token.expect("token").expose().to_string(),
                    )],
                    generation: cur.generation,
                })
            }
            Credentials::Iam(login) => {
                let cur = self.snapshot();
                let fresh = match (&cur.token, cur.renew_at) {
                    (Some(_), Some(at)) => chrono::Utc::now() < at,
                    (Some(_), None) => true,
                    (None, _) => false,
                };
                let cur = if fresh {
                    cur
                } else {
                    self.login(http, login, cur.generation, false).await?
                };
                Ok(Applied {
                    headers: vec![(
                        "X-Auth-Token",
                        cur.token.expect("token").expose().to_string(),
                    )],
                    generation: cur.generation,
                })
            }
        }
    }

    /// Log in unless another task already did since `seen_generation`; `after_401` marks a
    /// re-login that recovers from a refusal rather than a routine renewal.
    async fn login(
        &self,
        http: &reqwest::Client,
        login: &iam::IamLogin,
        seen_generation: u64,
        after_401: bool,
    ) -> Result<Current, GslError> {
        let _one_at_a_time = self.renewing.lock().await;
        let cur = self.snapshot();
        if cur.generation != seen_generation && cur.token.is_some() {
            return Ok(cur);
        }
        let issued = login.login(http).await?;
        let mut guard = self.current.lock().expect("auth state");
        guard.token = Some(issued.token);
        guard.generation += 1;
        guard.renew_at = Some(issued.renew_at);
        if after_401 {
            self.recovered.store(guard.generation, Ordering::Relaxed);
        }
        tracing::info!(generation = guard.generation, "IAM login succeeded");
        Ok(guard.clone())
    }

    /// A request made with `generation` was answered with something other than a 401.
    pub fn confirm(&self, generation: u64) {
        self.proven.fetch_max(generation, Ordering::Relaxed);
    }

    /// After a 401 on a request made with `generation`: can a retry succeed?
    ///
    /// IAM: one shared re-login. Token file: one re-read, useful only if the file changed.
    /// AK/SK and a token from the environment: nothing to renew.
    pub async fn recover(&self, http: &reqwest::Client, generation: u64) -> Result<bool, GslError> {
        match &self.creds {
            Credentials::AkSk { .. } | Credentials::Token { file: None, .. } => Ok(false),
            Credentials::Iam(login) => {
                let cur = self.snapshot();
                if cur.generation != generation {
                    return Ok(true);
                }
                if generation == self.recovered.load(Ordering::Relaxed)
                    && self.proven.load(Ordering::Relaxed) < generation
                {
                    // The token from the last re-login after a 401 was refused before it ever
                    // worked: a second login would meet the same fate, and each one is an
                    // authentication attempt. A token that worked and then expired, or one
                    // renewed ahead of expiry and revoked before its first answer, is renewed.
                    return Ok(false);
                }
                self.login(http, login, generation, true).await?;
                Ok(true)
            }
            Credentials::Token {
                file: Some(path), ..
            } => {
                let _one_at_a_time = self.renewing.lock().await;
                let cur = self.snapshot();
                if cur.generation != generation {
                    return Ok(true);
                }
                if generation > 0 && self.proven.load(Ordering::Relaxed) < generation {
                    // The token read after the last 401 never worked: reading the file again
                    // would only repeat it. A token that worked and then expired (rotated by
                    // whatever writes the file) is read anew, as an IAM token is renewed.
                    return Ok(false);
                }
                // Whatever rotates the file may be half-way through rewriting it.
                let mut read = read_token_file(path);
                for _ in 0..5 {
                    if !matches!(read, Err(AuthSetupError::EmptyTokenFile(_))) {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    read = read_token_file(path);
                }
                let token = read.map_err(|e| GslError::Auth(e.to_string()))?;
                let mut guard = self.current.lock().expect("auth state");
                let changed = guard.token.as_ref() != Some(&token);
                guard.generation += 1;
                guard.token = Some(token);
                tracing::info!(changed, "re-read the token file after a 401");
                Ok(changed)
            }
        }
    }
}
