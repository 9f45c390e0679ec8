//! Each authentication mode end to end against the simulator's gateway: AK/SK signing (with and
//! without project id and security token), a ready token, a token file re-read after a 401, and
//! IAM password login with exactly one shared re-login after the tokens expire. Missing
//! credentials are checked through the real binary, since the environment is process-global.

use crate::common::{bare_in, calls, start_sim_as};
use gslbatch::gsl::auth::iam::IamLogin;
use gslbatch::gsl::auth::{Auth, Credentials, Secret};
use gslbatch::gsl::{CardRef, Client, GslError};
use gslbatch::simulator::{SimConfig, SimCredentials, Simulator};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const AK: &str = "AUTHTESTAK00000001";
const SK: &str = "auth-test-sk-value";
const TOKEN: &str = "auth-test-static-token";
const USER: &str = "ops-user";
const PASSWORD: &str = "auth-test-password";

async fn start(credentials: SimCredentials) -> Simulator {
    start_with(credentials, SimConfig::default().token_ttl_secs).await
}

async fn start_with(credentials: SimCredentials, token_ttl_secs: u64) -> Simulator {
    let cfg = SimConfig {
        cards: 50,
        credentials,
        token_ttl_secs,
        ..SimConfig::default()
    };
    start_sim_as(cfg).await
}

fn all_creds() -> SimCredentials {
    SimCredentials {
        ak: Some(AK.into()),
        sk: Some(SK.into()),
        token: Some(TOKEN.into()),
        iam_user: Some(USER.into()),
        iam_password: Some(PASSWORD.into()),
    }
}

fn client(sim: &Simulator, creds: Credentials) -> Client {
    Client::new(
        url::Url::parse(&sim.url()).unwrap(),
        Arc::new(Auth::new(creds)),
        Duration::from_secs(10),
    )
}

fn aksk(sk: &str, project_id: Option<&str>, security_token: Option<&str>) -> Credentials {
    Credentials::AkSk {
        ak: AK.into(),
        sk: Secret::new(sk),
        project_id: project_id.map(str::to_string),
        security_token: security_token.map(Secret::new),
    }
}

fn iam(sim: &Simulator, password: &str) -> Credentials {
    Credentials::Iam(IamLogin {
        user: USER.into(),
        password: Secret::new(password),
        domain: "acme".into(),
        endpoint: url::Url::parse(&sim.url()).unwrap(),
    })
}

fn card(sim: &Simulator) -> CardRef {
    CardRef::Id(sim.cards()[0].sim_card_id)
}

#[tokio::test]
async fn aksk_signing_works_with_and_without_extras() {
    let sim = start(all_creds()).await;
    for creds in [
        aksk(SK, None, None),
        aksk(SK, Some("0123456789abcdef0123456789abcdef"), None),
        aksk(
            SK,
            Some("0123456789abcdef0123456789abcdef"),
            Some("temp-sec-token"),
        ),
        aksk(SK, None, Some("temp-sec-token")),
    ] {
        let c = client(&sim, creds);
        let card = sim.cards()[3].clone();
        let r = c
            .real_named(&CardRef::Iccid(card.iccid.clone()))
            .await
            .unwrap();
        assert_eq!(r.real_named, card.real_named);
        // A POST with a JSON body and a GET with a query are signed right too.
        c.tags(&gslbatch::gsl::types::Page::new(10, 1).filter("tag_name", "fleet a&b"))
            .await
            .unwrap();
        c.set_tags(&gslbatch::gsl::types::SetTags {
            iccids: Some(vec![card.iccid.clone()]),
            tag_ids: vec![1, 2],
            ..Default::default()
        })
        .await
        .unwrap();
    }
    assert_eq!(sim.stats()["auth_failures"], 0);
}

#[tokio::test]
async fn wrong_sk_is_unauthorized_once_with_clock_offset() {
    let sim = start(all_creds()).await;
    let c = client(&sim, aksk("not-the-sk", None, None));
    let e = c.real_named(&card(&sim)).await.unwrap_err();
    let GslError::Unauthorized {
        fault,
        clock_offset,
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(fault.http_status, 401);
    assert_eq!(fault.error_code, "APIG.0301");
    assert!(clock_offset.is_some(), "AK/SK 401s report the clock offset");
    // Nothing to renew in AK/SK mode: exactly one request, no retry.
    assert_eq!(calls(&sim.stats(), "real-named", "unauthorized"), 1);
    assert_eq!(sim.stats()["requests_total"], 1);
}

#[tokio::test]
async fn five_bad_signatures_lock_the_ak() {
    let sim = start(all_creds()).await;
    let bad = client(&sim, aksk("not-the-sk", None, None));
    for _ in 0..5 {
        let e = bad.real_named(&card(&sim)).await.unwrap_err();
        assert!(matches!(e, GslError::Unauthorized { .. }), "{e:?}");
    }
    assert_eq!(sim.stats()["locked_aks"], serde_json::json!([AK]));
    let good = client(&sim, aksk(SK, None, None));
    let e = good.real_named(&card(&sim)).await.unwrap_err();
    assert!(matches!(e, GslError::Unauthorized { .. }), "{e:?}");
    assert!(e.error_msg().contains("locked"), "{e:?}");
    assert_eq!(calls(&sim.stats(), "real-named", "unauthorized"), 6);
    assert_eq!(calls(&sim.stats(), "real-named", "ok"), 0);
}

#[tokio::test]
async fn static_token_works_and_wrong_one_does_not() {
    let sim = start(all_creds()).await;
    let ok = client(
        &sim,
        Credentials::Token {
            token: Secret::new(TOKEN),
            file: None,
        },
    );
    for _ in 0..3 {
        ok.real_named(&card(&sim)).await.unwrap();
    }
    let bad = client(
        &sim,
        Credentials::Token {
            token: Secret::new("other"),
            file: None,
        },
    );
    let e = bad.real_named(&card(&sim)).await.unwrap_err();
    assert!(matches!(e, GslError::Unauthorized { .. }), "{e:?}");
    assert_eq!(calls(&sim.stats(), "real-named", "ok"), 3);
    assert_eq!(calls(&sim.stats(), "real-named", "unauthorized"), 1);
}

#[tokio::test]
async fn iam_logs_in_once_for_many_calls() {
    let sim = start(all_creds()).await;
    let c = client(&sim, iam(&sim, PASSWORD));
    for _ in 0..20 {
        c.real_named(&card(&sim)).await.unwrap();
    }
    assert_eq!(calls(&sim.stats(), "iam-tokens", "ok"), 1);
    assert_eq!(calls(&sim.stats(), "real-named", "ok"), 20);
    assert_eq!(sim.stats()["auth_failures"], 0);
}

#[tokio::test]
async fn iam_expiry_means_one_relogin_shared_by_concurrent_calls() {
    let sim = start(all_creds()).await;
    let c = client(&sim, iam(&sim, PASSWORD));
    c.real_named(&card(&sim)).await.unwrap();
    assert_eq!(calls(&sim.stats(), "iam-tokens", "ok"), 1);
    sim.expire_tokens();

    let id = card(&sim);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (c, id) = (c.clone(), id.clone());
            tokio::spawn(async move { c.real_named(&id).await })
        })
        .collect();
    for t in tasks {
        t.await
            .unwrap()
            .expect("every call succeeds after the re-login");
    }
    assert_eq!(
        calls(&sim.stats(), "iam-tokens", "ok"),
        2,
        "exactly one re-login"
    );
    assert_eq!(calls(&sim.stats(), "real-named", "ok"), 17);
    let refused = calls(&sim.stats(), "real-named", "unauthorized");
    assert!((1..=16).contains(&refused), "{refused}");
}

#[tokio::test]
async fn iam_wrong_password_is_refused_without_a_loop() {
    let sim = start(all_creds()).await;
    let c = client(&sim, iam(&sim, "wrong-password"));
    let e = c.real_named(&card(&sim)).await.unwrap_err();
    assert!(matches!(e, GslError::Unauthorized { .. }), "{e:?}");
    assert!(!e.error_msg().contains("wrong-password"), "{e:?}");
    assert_eq!(calls(&sim.stats(), "iam-tokens", "unauthorized"), 1);
    assert_eq!(sim.stats()["calls"]["real-named"]["ok"], 0);
    assert_eq!(
        sim.stats()["requests_total"],
        1,
        "no /v1 call without a token"
    );
}

fn token_file(dir: &Path, content: &str) -> std::path::PathBuf {
    let p = dir.join("token");
    std::fs::write(&p, format!("{content}\n")).unwrap();
    p
}

fn from_file(path: &Path, first: &str) -> Credentials {
    Credentials::Token {
        token: Secret::new(first),
        file: Some(path.to_path_buf()),
    }
}

#[tokio::test]
async fn token_file_is_reread_once_after_a_401_when_it_changed() {
    let sim = start(all_creds()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = token_file(dir.path(), "stale-token");
    let c = client(&sim, from_file(&path, "stale-token"));
    // The operator renewed the token in the file after the run started.
    token_file(dir.path(), TOKEN);
    c.real_named(&card(&sim)).await.unwrap();
    assert_eq!(calls(&sim.stats(), "real-named", "unauthorized"), 1);
    assert_eq!(calls(&sim.stats(), "real-named", "ok"), 1);
    for _ in 0..3 {
        c.real_named(&card(&sim)).await.unwrap();
    }
    assert_eq!(calls(&sim.stats(), "real-named", "unauthorized"), 1);
}

#[tokio::test]
async fn unchanged_token_file_is_not_retried_in_a_loop() {
    let sim = start(all_creds()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = token_file(dir.path(), "stale-token");
    let c = client(&sim, from_file(&path, "stale-token"));
    let e = c.real_named(&card(&sim)).await.unwrap_err();
    assert!(matches!(e, GslError::Unauthorized { .. }), "{e:?}");
    assert_eq!(
        calls(&sim.stats(), "real-named", "unauthorized"),
        1,
        "same content: no retry"
    );
    let e = c.real_named(&card(&sim)).await.unwrap_err();
    assert!(matches!(e, GslError::Unauthorized { .. }), "{e:?}");
    assert_eq!(calls(&sim.stats(), "real-named", "unauthorized"), 2);
}

#[tokio::test]
async fn changed_but_still_wrong_token_file_is_tried_once() {
    let sim = start(all_creds()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = token_file(dir.path(), "stale-token");
    let c = client(&sim, from_file(&path, "stale-token"));
    token_file(dir.path(), "also-wrong");
    let e = c.real_named(&card(&sim)).await.unwrap_err();
    assert!(matches!(e, GslError::Unauthorized { .. }), "{e:?}");
    assert_eq!(calls(&sim.stats(), "real-named", "unauthorized"), 2);
    // The file was re-read once already; a third token is not fetched in a loop.
    token_file(dir.path(), "third-wrong");
    let e = c.real_named(&card(&sim)).await.unwrap_err();
    assert!(matches!(e, GslError::Unauthorized { .. }), "{e:?}");
    assert_eq!(calls(&sim.stats(), "real-named", "unauthorized"), 3);
}

/// A fresh IAM token from the simulator, as whatever rotates the token file would fetch it.
async fn issued_token(sim: &Simulator) -> String {
    let Credentials::Iam(login) = iam(sim, PASSWORD) else {
        unreachable!()
    };
    let issued = login.login(&reqwest::Client::new()).await.expect("login");
    issued.token.expose().to_string()
}

#[tokio::test]
async fn a_rotated_token_file_is_read_again_each_time_its_token_had_worked() {
    let sim = start(all_creds()).await;
    let dir = tempfile::tempdir().unwrap();
    let first = issued_token(&sim).await;
    let path = token_file(dir.path(), &first);
    let c = client(&sim, from_file(&path, &first));
    c.real_named(&card(&sim)).await.unwrap();
    // Twice, the token expires and the file gets a new one: each time one 401, one re-read.
    for round in 1..=2u64 {
        sim.expire_tokens();
        token_file(dir.path(), &issued_token(&sim).await);
        c.real_named(&card(&sim)).await.unwrap();
        assert_eq!(calls(&sim.stats(), "real-named", "unauthorized"), round);
    }
    assert_eq!(calls(&sim.stats(), "real-named", "ok"), 3);
}

/// Run `check-real-name` on a one-card input against `sim` with `env` set; (code, stderr).
fn check_with_env(sim: &Simulator, dir: &Path, env: &[(&str, &str)]) -> (i32, String) {
    let input = dir.join("cards.csv");
    std::fs::write(&input, format!("iccid\n{}\n", sim.cards()[0].iccid)).unwrap();
    let mut cmd = bare_in(dir);
    cmd.args(["check-real-name", "cards.csv", "--endpoint", &sim.url()]);
    cmd.args(["--run-dir", "run"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn missing_or_partial_credentials_are_usage_errors_before_any_request() {
    let sim = start(all_creds()).await;
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr) = check_with_env(&sim, dir.path(), &[]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    for name in ["HUAWEICLOUD_SDK_AK", "GSL_AUTH_TOKEN", "GSL_IAM_USER"] {
        assert!(stderr.contains(name), "{name} in {stderr}");
    }

    let cases: [(&[(&str, &str)], &str); 4] = [
        (
            &[("HUAWEICLOUD_SDK_AK", AK)],
            "HUAWEICLOUD_SDK_AK is set but HUAWEICLOUD_SDK_SK is not",
        ),
        (
            &[("HUAWEICLOUD_SDK_SK", SK)],
            "HUAWEICLOUD_SDK_SK is set but HUAWEICLOUD_SDK_AK is not",
        ),
        (
            &[("GSL_IAM_USER", USER)],
            "GSL_IAM_USER is set but GSL_IAM_PASSWORD is not",
        ),
        (
            &[("GSL_IAM_USER", USER), ("GSL_IAM_PASSWORD", PASSWORD)],
            "GSL_IAM_USER is set but GSL_IAM_DOMAIN is not",
        ),
    ];
    for (env, want) in cases {
        let (code, stderr) = check_with_env(&sim, dir.path(), env);
        assert_eq!(code, 2, "{env:?}: {stderr}");
        assert!(stderr.contains(want), "{env:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(
            !stderr.contains(SK) && !stderr.contains(PASSWORD),
            "{stderr}"
        );
    }
    assert_eq!(sim.stats()["requests_total"], 0, "nothing was sent");
    assert!(
        !dir.path().join("run").exists(),
        "no run dir for a usage error"
    );
}

#[tokio::test]
async fn iam_relogs_in_again_after_a_later_expiry() {
    let sim = start(all_creds()).await;
    let c = client(&sim, iam(&sim, PASSWORD));
    c.real_named(&card(&sim)).await.unwrap();
    sim.expire_tokens();
    c.real_named(&card(&sim)).await.unwrap();
    // The re-login's token worked for a while; then it too is revoked (or expires early).
    for _ in 0..3 {
        c.real_named(&card(&sim)).await.unwrap();
    }
    sim.expire_tokens();
    c.real_named(&card(&sim))
        .await
        .expect("a token that worked and then expired gets its own re-login");
    assert_eq!(calls(&sim.stats(), "iam-tokens", "ok"), 3);
}

#[tokio::test]
async fn a_token_renewed_ahead_of_expiry_and_revoked_before_its_first_answer_is_renewed() {
    // CI once saw a run abort here: a routine renewal, then a revocation before any answer to
    // the new token. Only a token got by a re-login after a 401 and refused at once means the
    // login itself is no good; this one never had its chance.
    let sim = start_with(all_creds(), 2).await;
    let auth = Auth::new(iam(&sim, PASSWORD));
    let http = reqwest::Client::new();
    let host = url::Url::parse(&sim.url()).unwrap();
    let host = host.host_str().unwrap();
    let apply = || auth.apply(&http, host, "GET", "/v1/x", &[], b"");
    let first = apply().await.unwrap().generation;
    auth.confirm(first);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let renewed = apply().await.unwrap().generation;
    assert_eq!(renewed, first + 1, "renewed ahead of expiry");
    assert_eq!(calls(&sim.stats(), "iam-tokens", "ok"), 2);
    sim.expire_tokens();
    assert!(auth.recover(&http, renewed).await.unwrap(), "one re-login");
    assert_eq!(calls(&sim.stats(), "iam-tokens", "ok"), 3);
    // The re-login's own token refused before it ever worked: no second re-login.
    assert!(!auth.recover(&http, renewed + 1).await.unwrap());
    assert_eq!(calls(&sim.stats(), "iam-tokens", "ok"), 3);
}

#[tokio::test]
async fn a_401_whose_recovery_hands_back_a_revoked_renewal_gets_a_second_recovery() {
    // The order of events behind `Client::execute` allowing more than one recovery: a request
    // made with g1 is still on its way when another worker renews ahead of expiry (g2), then
    // every token is revoked. The g1 request's 401 recovers to g2 without a login (another
    // task already renewed), and g2 is refused too: only a second recovery logs in.
    let sim = start_with(all_creds(), 2).await;
    let auth = Arc::new(Auth::new(iam(&sim, PASSWORD)));
    let http = reqwest::Client::new();
    let base = url::Url::parse(&sim.url()).unwrap();
    let host = format!("{}:{}", base.host_str().unwrap(), base.port().unwrap());
    let path = format!("/v1/sim-cards/{}/real-named", sim.cards()[0].sim_card_id);
    let apply = || auth.apply(&http, &host, "GET", &path, &[], b"");
    let g1 = apply().await.unwrap().generation;
    auth.confirm(g1);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let g2 = apply().await.unwrap();
    assert_eq!(g2.generation, g1 + 1, "renewed ahead of expiry");
    sim.expire_tokens();
    assert!(auth.recover(&http, g1).await.unwrap());
    assert_eq!(
        calls(&sim.stats(), "iam-tokens", "ok"),
        2,
        "no login: g2 is newer"
    );
    let mut req = http.get(format!("{}{}", sim.url(), path));
    for (k, v) in &g2.headers {
        req = req.header(*k, v);
    }
    assert_eq!(req.send().await.unwrap().status(), 401, "g2 was revoked");
    assert!(auth.recover(&http, g2.generation).await.unwrap());
    assert_eq!(
        calls(&sim.stats(), "iam-tokens", "ok"),
        3,
        "the second recovery logs in"
    );
    // Through the client, the next call goes out with the new token.
    let c = Client::new(base, auth.clone(), Duration::from_secs(10));
    c.real_named(&card(&sim))
        .await
        .expect("the new token works");
    assert_eq!(calls(&sim.stats(), "iam-tokens", "ok"), 3);
}
