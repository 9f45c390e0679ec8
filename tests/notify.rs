//! `--notify`: a run's end posted to webhook receivers on loopback — the generic JSON body, a
//! DingTalk robot's markdown (its signature verified the way DingTalk documents it), WeCom's
//! markdown and Feishu's signed text — and receivers that answer 500 or never answer: they cost
//! the run its notify timeout at most, never its exit code. No secret is in any message or log.

use crate::common::*;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::post;
use base64::Engine as _;
use gslbatch::simulator::SimConfig;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SECRET: &str = "SECd1ngta1k-test-secret-0123456789";
const TOKEN: &str = "acc3ss70ken0fthisrobot";

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Ok,
    Fail500,
    Hang,
}

/// One POST: its query and its JSON body.
type Post = (HashMap<String, String>, Value);

/// What the receiver got: the query and the JSON body of each POST.
#[derive(Clone)]
struct Receiver {
    got: Arc<Mutex<Vec<Post>>>,
    mode: Mode,
}

async fn hook(
    State(r): State<Receiver>,
    RawQuery(q): RawQuery,
    body: String,
) -> (StatusCode, String) {
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(q.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let json: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    r.got.lock().unwrap().push((query, json));
    match r.mode {
        Mode::Ok => (
            StatusCode::OK,
            r#"{"errcode":0,"errmsg":"ok","code":0}"#.to_string(),
        ),
        Mode::Fail500 => (StatusCode::INTERNAL_SERVER_ERROR, "busy".to_string()),
        Mode::Hang => {
            tokio::time::sleep(Duration::from_secs(120)).await;
            (StatusCode::OK, String::new())
        }
    }
}

/// A webhook receiver on 127.0.0.1; its URL carries an access token, as a robot's does.
async fn receiver(mode: Mode) -> (Receiver, String) {
    let r = Receiver {
        got: Arc::default(),
        mode,
    };
    let app = axum::Router::new()
        .route("/robot/send", post(hook))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (r, format!("http://{addr}/robot/send?access_token={TOKEN}"))
}

fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A check of 5 cards and one invalid row (exit 1), notified in `format`.
async fn notified_run(
    sim: &gslbatch::simulator::Simulator,
    url: &str,
    extra: &[&str],
) -> (Ran, Value) {
    let dir = tempdir();
    let mut ids = first_iccids(sim, 5);
    ids.push("12345".into());
    let input = write_csv(dir.path(), "in.csv", &ids);
    let run_dir = dir.path().join("run");
    let mut cmd = gsl();
    cmd.arg("check-real-name")
        .arg(&input)
        .arg("--endpoint")
        .arg(sim.url())
        .arg("--run-dir")
        .arg(&run_dir)
        .arg("--rate")
        .arg("50")
        .arg("--notify")
        .arg(url)
        .args(extra)
        .env("GSL_NOTIFY_SECRET", SECRET);
    let r = run(cmd).await;
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("summary.json")).unwrap())
            .unwrap();
    (r, summary)
}

fn no_secrets(text: &str) {
    assert!(!text.contains(SECRET), "the signing secret leaked: {text}");
    assert!(!text.contains(TOKEN), "the webhook's token leaked: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_posts_generic_json_dingtalk_signed_wecom_and_feishu_bodies() {
    let sim = start_sim(SimConfig::default()).await;
    let (generic, gurl) = receiver(Mode::Ok).await;
    let (ding, durl) = receiver(Mode::Ok).await;
    let (wecom, wurl) = receiver(Mode::Ok).await;
    let (feishu, furl) = receiver(Mode::Ok).await;
    let ((rg, sg), (rd, sd), (rw, sw), (rf, sf)) = tokio::join!(
        notified_run(&sim, &gurl, &[]),
        notified_run(&sim, &durl, &["--notify-format", "dingtalk"]),
        notified_run(&sim, &wurl, &["--notify-format", "wecom"]),
        notified_run(
            &sim,
            &furl,
            &["--notify-format", "feishu", "--notify-on", "failure"]
        ),
    );
    for r in [&rg, &rd, &rw, &rf] {
        assert_eq!(
            r.code, 1,
            "one invalid row: exit 1, notified or not: {}",
            r.stderr
        );
        no_secrets(&r.stderr);
        assert!(
            r.stderr.contains("notified http://127.0.0.1:"),
            "{}",
            r.stderr
        );
    }

    // Generic: the summary itself, as summary.json has it.
    let got = generic.got.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "one POST");
    let body = &got[0].1;
    assert_eq!(body["source"], "gslbatch");
    assert_eq!(body["failure"], true);
    assert_eq!(body["summary"]["counts"], sg["counts"]);
    assert_eq!(body["summary"]["rows"], 6);
    assert_eq!(body["summary"]["exit_code"], 1);
    assert!(
        !got[0].0.contains_key("sign"),
        "a generic webhook is not signed"
    );
    no_secrets(&body.to_string());

    // DingTalk: markdown, signed in the query exactly as DingTalk documents it.
    let got = ding.got.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let (q, body) = &got[0];
    assert_eq!(q["access_token"], TOKEN);
    let ts: i64 = q["timestamp"].parse().expect("timestamp in ms");
    let now = chrono::Utc::now().timestamp_millis();
    assert!(
        (now - ts).abs() < 3_600_000,
        "DingTalk refuses a timestamp an hour off"
    );
    let expected = b64(&hmac(
        SECRET.as_bytes(),
        format!("{ts}\n{SECRET}").as_bytes(),
    ));
    assert_eq!(
        q["sign"], expected,
        "HMAC-SHA256(secret, timestamp\\nsecret), base64"
    );
    assert_eq!(body["msgtype"], "markdown");
    let text = body["markdown"]["text"].as_str().unwrap();
    assert!(body["markdown"]["title"]
        .as_str()
        .unwrap()
        .contains("check-real-name"));
    assert!(text.contains("**rows** 6: ok 5, invalid 1"), "{text}");
    assert_eq!(sd["counts"]["ok"], 5);
    no_secrets(&body.to_string());

    // WeCom: markdown `content`.
    let got = wecom.got.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let body = &got[0].1;
    assert_eq!(body["msgtype"], "markdown");
    let content = body["markdown"]["content"].as_str().unwrap();
    assert!(content.contains("exit 1 (some rows failed)"), "{content}");
    assert!(
        content.contains(&format!("ok {}", sw["counts"]["ok"])),
        "{content}"
    );
    no_secrets(&body.to_string());

    // Feishu: text, signed in the body (timestamp in seconds); --notify-on failure fired.
    let got = feishu.got.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let body = &got[0].1;
    assert_eq!(body["msg_type"], "text");
    let ts = body["timestamp"].as_str().unwrap();
    let expected = b64(&hmac(format!("{ts}\n{SECRET}").as_bytes(), b""));
    assert_eq!(body["sign"], expected);
    let text = body["content"]["text"].as_str().unwrap();
    assert!(
        text.contains(&format!("rows {}: ok 5, invalid 1", sf["rows"])),
        "{text}"
    );
    no_secrets(&body.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_on_failure_stays_quiet_after_a_clean_run_and_change_without_a_comparison() {
    let sim = start_sim(SimConfig::default()).await;
    let (rec, url) = receiver(Mode::Ok).await;
    for on in ["failure", "change"] {
        let dir = tempdir();
        let input = write_csv(dir.path(), "in.csv", &first_iccids(&sim, 3));
        let mut cmd = batch("check-real-name", &input, &sim, &dir.path().join("run"), 50);
        cmd.args(["--notify", &url, "--notify-on", on]);
        let r = run(cmd).await;
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    assert_eq!(rec.got.lock().unwrap().len(), 0, "nothing to tell");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_answering_500_or_never_costs_at_most_the_timeout_and_not_the_exit_code() {
    let sim = start_sim(SimConfig::default()).await;
    let (busy, burl) = receiver(Mode::Fail500).await;
    let (hung, hurl) = receiver(Mode::Hang).await;
    let ((r500, _), (rhang, _)) = tokio::join!(
        notified_run(&sim, &burl, &["--notify-timeout", "3"]),
        notified_run(&sim, &hurl, &["--notify-timeout", "2"]),
    );
    eprintln!(
        "500 receiver: run took {:?}; hung receiver: run took {:?}",
        r500.took, rhang.took
    );
    assert_eq!(
        r500.code, 1,
        "the rows decide the exit code: {}",
        r500.stderr
    );
    assert_eq!(rhang.code, 1, "{}", rhang.stderr);
    assert_eq!(busy.got.lock().unwrap().len(), 3, "three attempts on a 500");
    assert!(
        r500.stderr.contains("not delivered after 3 attempts"),
        "{}",
        r500.stderr
    );
    assert!(r500.stderr.contains("HTTP 500"), "{}", r500.stderr);
    assert_eq!(
        hung.got.lock().unwrap().len(),
        1,
        "the one attempt used the whole timeout"
    );
    assert!(
        rhang.stderr.contains("no answer before the notify timeout"),
        "{}",
        rhang.stderr
    );
    for r in [&r500, &rhang] {
        assert!(r.stderr.contains("exit code is unchanged"), "{}", r.stderr);
        no_secrets(&r.stderr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_notify_url_is_exit_2_before_anything_is_sent_and_does_not_echo_it() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let input = write_csv(dir.path(), "in.csv", &first_iccids(&sim, 2));
    let mut cmd = batch("check-real-name", &input, &sim, &dir.path().join("run"), 50);
    cmd.args([
        "--notify",
        &format!("ftp://robot.example/send?access_token={TOKEN}"),
    ]);
    let r = run(cmd).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--notify #1"), "{}", r.stderr);
    no_secrets(&r.stderr);
    assert_eq!(stat_u64(&sim.stats(), "requests_total"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gsl_notify_urls_names_several_webhooks_outside_the_process_list() {
    let sim = start_sim(SimConfig::default()).await;
    let (a, aurl) = receiver(Mode::Ok).await;
    let (b, burl) = receiver(Mode::Ok).await;
    let dir = tempdir();
    let input = write_csv(dir.path(), "in.csv", &first_iccids(&sim, 2));
    let mut cmd = batch("check-real-name", &input, &sim, &dir.path().join("run"), 50);
    cmd.env("GSL_NOTIFY_URLS", format!("{aurl} {burl}"));
    let r = run(cmd).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(a.got.lock().unwrap().len(), 1);
    assert_eq!(b.got.lock().unwrap().len(), 1);
    assert_eq!(b.got.lock().unwrap()[0].1["summary"]["counts"]["ok"], 2);
    no_secrets(&r.stderr);
}

/// A company shell sets every proxy variable; a receiver on this machine is still reached
/// directly (before, the post went to the proxy, which cannot reach our loopback).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loopback_receiver_is_reached_directly_in_a_shell_with_a_proxy_set() {
    let sim = start_sim(SimConfig::default()).await;
    let (got, url) = receiver(Mode::Ok).await;
    let dir = tempdir();
    let input = write_csv(dir.path(), "in.csv", &first_iccids(&sim, 2));
    let mut cmd = batch("check-real-name", &input, &sim, &dir.path().join("run"), 50);
    cmd.arg("--notify").arg(&url);
    for var in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
    ] {
        cmd.env(var, "http://127.0.0.1:9");
    }
    let r = run(cmd).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(got.got.lock().unwrap().len(), 1, "{}", r.stderr);
    assert_eq!(got.got.lock().unwrap()[0].1["summary"]["counts"]["ok"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_files_notify_table_and_metrics_file_keys_act_as_the_flags() {
    let sim = start_sim(SimConfig::default()).await;
    let (rec, url) = receiver(Mode::Ok).await;
    let dir = tempdir();
    write_csv(dir.path(), "in.csv", &first_iccids(&sim, 3));
    let job = dir.path().join("job.toml");
    std::fs::write(
        &job,
        format!(
            "operation = \"check-real-name\"\ninput = \"in.csv\"\nrun_dir = \"run\"\nrate = 50\n\
             endpoint = \"{}\"\nmetrics_file = \"gsl.prom\"\n\
             notify = {{ urls = [\"{url}\"], format = \"wecom\", on = \"always\", timeout = 5 }}\n",
            sim.url()
        ),
    )
    .unwrap();
    let mut cmd = gsl();
    cmd.arg("run").arg(&job).arg("-q");
    let r = run(cmd).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let got = rec.got.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].1["msgtype"], "markdown",
        "the job's format = \"wecom\""
    );
    let prom = std::fs::read_to_string(dir.path().join("gsl.prom"))
        .expect("metrics_file is relative to the job");
    assert!(
        prom.contains("gslbatch_rows{operation=\"check-real-name\",status=\"ok\"} 3"),
        "{prom}"
    );
}

/// A card-state command on these cards through the simulator's API, as an operator would.
async fn act(
    sim: &gslbatch::simulator::Simulator,
    dir: &std::path::Path,
    op: &str,
    iccids: &[String],
) {
    let n = std::fs::read_dir(dir).map_or(0, |d| d.count());
    let input = write_csv(dir, &format!("act-{n}.csv"), iccids);
    let mut cmd = batch(op, &input, sim, &dir.join(format!("act-run-{n}")), 50);
    if op != "clear-real-name" {
        cmd.arg("--yes"); // `batch` gives a clear its --yes already
    }
    let ran = run(cmd).await;
    assert_eq!(ran.code, 0, "{op}: {}", ran.stderr);
}

/// `DIR/NAME.summary.json` beside the report `DIR/NAME.csv`.
fn beside_summary(report: &std::path::Path) -> Value {
    let p = report.with_file_name(format!(
        "{}.summary.json",
        report.file_stem().unwrap().to_string_lossy()
    ));
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_on_change_posts_once_when_a_compared_check_finds_the_three_cleared_cards() {
    let sim = start_sim(SimConfig {
        cards: 100,
        ..SimConfig::default()
    })
    .await;
    let (rec, url) = receiver(Mode::Ok).await;
    let dir = tempdir();
    let state = dir.path().join("state");
    let cards = sim.cards();
    let in_use = || cards.iter().filter(|c| c.sim_status == 20);
    let telecom: Vec<String> = in_use()
        .filter(|c| c.real_named && c.iccid.starts_with("898603"))
        .take(3)
        .map(|c| c.iccid.clone())
        .collect();
    assert_eq!(telecom.len(), 3);
    let mut iccids: Vec<String> = in_use()
        .filter(|c| !telecom.contains(&c.iccid))
        .take(7)
        .map(|c| c.iccid.clone())
        .collect();
    iccids.extend(telecom.iter().cloned());
    let input = write_csv(dir.path(), "fleet.csv", &iccids);
    let check = |night: &str| {
        let mut cmd = batch("check-real-name", &input, &sim, &dir.path().join(night), 50);
        cmd.env("GSL_STATE_DIR", &state).args([
            "--compare-with",
            "previous",
            "--notify",
            &url,
            "--notify-on",
            "change",
        ]);
        cmd
    };
    // The first run has nothing to compare with: its cards are all new, not a change to tell.
    let ran = run(check("night-1")).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(
        rec.got.lock().unwrap().len(),
        0,
        "a first run: {}",
        ran.stderr
    );
    assert!(beside_summary(&dir.path().join("night-1/report.csv"))["compared_with"].is_null());
    // Nothing changed since.
    let ran = run(check("night-2")).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(
        rec.got.lock().unwrap().len(),
        0,
        "no change: {}",
        ran.stderr
    );

    act(&sim, dir.path(), "clear-real-name", &telecom).await;
    let ran = run(check("night-3")).await;
    assert_eq!(
        ran.code, 0,
        "a change alone is not a failure: {}",
        ran.stderr
    );
    let got = rec.got.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "one post for the change: {}", ran.stderr);
    let body = &got[0].1;
    let found = beside_summary(&dir.path().join("night-3/report.csv"));
    assert_eq!(found["changes"]["real_named"], 3);
    assert_eq!(
        body["changes"], found["changes"],
        "the counts of report.summary.json"
    );
    assert_eq!(body["summary"]["rows"], 10);
    let text = body["text"].as_str().unwrap();
    assert!(text.contains("\nchanges: real_named 3\n"), "{text}");
    no_secrets(&body.to_string());
}

fn scrape(path: &std::path::Path) -> Vec<prometheus_parse::Sample> {
    let text = std::fs::read_to_string(path).expect("metrics file");
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .expect("Prometheus text parses")
        .samples
}

/// The one sample of `name` (with `label`, when given), as a number.
fn gauge(samples: &[prometheus_parse::Sample], name: &str, label: Option<(&str, &str)>) -> f64 {
    let found: Vec<f64> = samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Gauge(g) => g,
            ref other => panic!("{name}: a gauge, not {other:?}"),
        })
        .collect();
    assert_eq!(found.len(), 1, "one {name} {label:?} sample");
    found[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inventory_tells_its_rows_and_changes_to_webhooks_and_the_metrics_file() {
    let sim = start_sim(SimConfig {
        cards: 120,
        ..SimConfig::default()
    })
    .await;
    let (always, aurl) = receiver(Mode::Ok).await;
    let (on_change, curl) = receiver(Mode::Ok).await;
    let dir = tempdir();
    let state = dir.path().join("state");
    let report = dir.path().join("inv.csv");
    let prom = dir.path().join("inv.prom");
    let inventory = |url: &str, extra: &[&str]| {
        let mut cmd = gsl();
        cmd.env("GSL_STATE_DIR", &state)
            .arg("inventory")
            .arg("--endpoint")
            .arg(sim.url())
            .arg("--report")
            .arg(&report)
            .args(["--list-rate", "50", "--compare-with", "previous"])
            .arg("--metrics-file")
            .arg(&prom)
            .args(["--notify", url])
            .args(extra);
        cmd
    };
    // The first inventory: told (always), with no changes (nothing to compare with).
    let ran = run(inventory(&aurl, &[])).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let rows = read_report(&report).len() as u64;
    assert_eq!(rows, 120);
    let got = always.got.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{}", ran.stderr);
    let body = &got[0].1;
    assert_eq!(body["event"], "listing_ended");
    assert_eq!(body["listing"]["operation"], "inventory");
    assert_eq!(body["listing"]["rows"], rows);
    assert_eq!(body["listing"]["exit_code"], 0);
    assert!(
        body["changes"].is_null(),
        "a first run compares with nothing"
    );
    assert_eq!(body["failure"], false);
    let m = scrape(&prom);
    assert_eq!(gauge(&m, "gslbatch_rows_listed", None), rows as f64);
    assert_eq!(gauge(&m, "gslbatch_exit_code", None), 0.0);
    assert_eq!(
        gauge(&m, "gslbatch_calls", None),
        body["listing"]["calls"].as_f64().unwrap()
    );
    assert!(gauge(&m, "gslbatch_calls", None) >= 1.0);
    assert_eq!(
        gauge(&m, "gslbatch_last_success_timestamp_seconds", None),
        gauge(&m, "gslbatch_last_run_timestamp_seconds", None)
    );
    assert!(!m.iter().any(|s| s.metric == "gslbatch_changes"));

    // Nothing changed: --notify-on change stays quiet, the metrics still say what was listed.
    let ran = run(inventory(&curl, &["--notify-on", "change"])).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(on_change.got.lock().unwrap().len(), 0, "{}", ran.stderr);
    let m = scrape(&prom);
    assert_eq!(
        gauge(&m, "gslbatch_changes", Some(("kind", "sim_status"))),
        0.0
    );

    // One card stopped through the API: one post, the changes as NAME.summary.json has them.
    let stopped: Vec<String> = sim
        .cards()
        .iter()
        .filter(|c| c.sim_status == 20)
        .take(1)
        .map(|c| c.iccid.clone())
        .collect();
    act(&sim, dir.path(), "stop-card", &stopped).await;
    let ran = run(inventory(&curl, &["--notify-on", "change"])).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let got = on_change.got.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{}", ran.stderr);
    let body = &got[0].1;
    let found = beside_summary(&report);
    assert_eq!(found["changes"]["sim_status"], 1);
    assert_eq!(body["changes"], found["changes"]);
    assert_eq!(body["listing"]["changes"], found["changes"]);
    assert_eq!(body["listing"]["rows"], read_report(&report).len() as u64);
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .contains("\nchanges: sim_status 1\n"),
        "{}",
        body["text"]
    );
    let m = scrape(&prom);
    for (kind, n) in found["changes"].as_object().unwrap() {
        assert_eq!(
            gauge(&m, "gslbatch_changes", Some(("kind", kind))),
            n.as_f64().unwrap(),
            "changes {kind}"
        );
    }
    assert_eq!(gauge(&m, "gslbatch_rows_listed", None), rows as f64);
    assert_eq!(
        always.got.lock().unwrap().len(),
        1,
        "each run posts to its own --notify"
    );
    no_secrets(&ran.stderr);

    // Another card stopped, and --fail-on-change: exit 5 is a run that worked, so the last
    // success moves with it (a nightly alert on exit 5 must not also look like a dead job).
    let before = gauge(&m, "gslbatch_last_success_timestamp_seconds", None);
    let stopped: Vec<String> = sim
        .cards()
        .iter()
        .filter(|c| c.sim_status == 20)
        .take(1)
        .map(|c| c.iccid.clone())
        .collect();
    act(&sim, dir.path(), "stop-card", &stopped).await;
    let ran = run(inventory(&curl, &["--fail-on-change", "sim_status"])).await;
    assert_eq!(ran.code, 5, "{}", ran.stderr);
    let m = scrape(&prom);
    assert_eq!(gauge(&m, "gslbatch_exit_code", None), 5.0);
    let after = gauge(&m, "gslbatch_last_success_timestamp_seconds", None);
    assert_eq!(
        after,
        gauge(&m, "gslbatch_last_run_timestamp_seconds", None)
    );
    assert!(after >= before, "{before} → {after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_job_and_usage_take_notify_and_metrics_file_too() {
    let sim = start_sim(SimConfig {
        cards: 30,
        ..SimConfig::default()
    })
    .await;
    let (rec, url) = receiver(Mode::Ok).await;
    let dir = tempdir();
    let job = dir.path().join("nightly.toml");
    std::fs::write(
        &job,
        format!(
            "operation = \"inventory\"\nreport = \"inv.csv\"\nlist_rate = 50\n\
             endpoint = \"{}\"\nmetrics_file = \"inv.prom\"\n\
             notify = {{ urls = [\"{url}\"], format = \"feishu\", on = \"always\" }}\n",
            sim.url()
        ),
    )
    .unwrap();
    let mut cmd = gsl();
    cmd.env("GSL_STATE_DIR", dir.path().join("state"))
        .arg("run")
        .arg(&job)
        .arg("-q");
    let ran = run(cmd).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let got = rec.got.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "the job's notify key: {}", ran.stderr);
    let text = got[0].1["content"]["text"].as_str().unwrap();
    assert!(text.starts_with("gslbatch inventory: exit 0"), "{text}");
    assert!(text.contains("rows listed 30"), "{text}");
    let m = scrape(&dir.path().join("inv.prom"));
    assert_eq!(gauge(&m, "gslbatch_rows_listed", None), 30.0);

    // usage with an input: the rows per status, in the body and the metrics.
    let mut ids = first_iccids(&sim, 4);
    ids.push("12345".into());
    let input = write_csv(dir.path(), "cards.csv", &ids);
    let prom = dir.path().join("usage.prom");
    let mut cmd = gsl();
    cmd.env("GSL_STATE_DIR", dir.path().join("state"))
        .arg("usage")
        .arg(&input)
        .arg("--endpoint")
        .arg(sim.url())
        .arg("--report")
        .arg(dir.path().join("usage.csv"))
        .args(["--rate", "50", "--notify", &url, "--notify-on", "failure"])
        .arg("--metrics-file")
        .arg(&prom);
    let ran = run(cmd).await;
    assert_eq!(ran.code, 1, "one invalid row: {}", ran.stderr);
    let got = rec.got.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "exit 1 is a failure: {}", ran.stderr);
    let body = &got[1].1;
    assert_eq!(body["listing"]["operation"], "usage");
    assert_eq!(body["listing"]["rows"], 5);
    assert_eq!(body["listing"]["counts"]["ok"], 4);
    assert_eq!(body["listing"]["counts"]["invalid"], 1);
    assert_eq!(body["failure"], true);
    let m = scrape(&prom);
    assert_eq!(gauge(&m, "gslbatch_rows", Some(("status", "invalid"))), 1.0);
    assert_eq!(gauge(&m, "gslbatch_exit_code", None), 1.0);

    // A bad --notify URL is exit 2 before the listing's first call.
    let before = stat_u64(&sim.stats(), "requests_total");
    let mut cmd = gsl();
    cmd.arg("inventory")
        .arg("--endpoint")
        .arg(sim.url())
        .arg("--report")
        .arg(dir.path().join("never.csv"))
        .args([
            "--notify",
            &format!("ftp://robot.example/?access_token={TOKEN}"),
        ]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(ran.stderr.contains("--notify #1"), "{}", ran.stderr);
    no_secrets(&ran.stderr);
    assert_eq!(stat_u64(&sim.stats(), "requests_total"), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_ended_by_an_error_is_told_as_a_failure_with_its_message() {
    let (rec, url) = receiver(Mode::Ok).await;
    let dir = tempdir();
    // A loopback port nobody listens on: the first call cannot connect.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let prom = dir.path().join("inv.prom");
    let mut cmd = gsl();
    cmd.env("GSL_STATE_DIR", dir.path().join("state"))
        .arg("inventory")
        .args([
            "--endpoint",
            &endpoint,
            "--max-attempts",
            "1",
            "--timeout",
            "2",
        ])
        .arg("--report")
        .arg(dir.path().join("inv.csv"))
        .args(["--notify", &url, "--notify-on", "failure"])
        .arg("--metrics-file")
        .arg(&prom);
    let ran = run(cmd).await;
    assert_ne!(ran.code, 0, "{}", ran.stderr);
    let got = rec.got.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{}", ran.stderr);
    let body = &got[0].1;
    assert_eq!(body["failure"], true);
    assert_eq!(body["listing"]["exit_code"], ran.code);
    assert!(body["listing"]["error"]
        .as_str()
        .is_some_and(|e| !e.is_empty()));
    assert!(
        body["text"].as_str().unwrap().contains("\nerror: "),
        "{}",
        body["text"]
    );
    let m = scrape(&prom);
    assert_eq!(gauge(&m, "gslbatch_exit_code", None), f64::from(ran.code));
    assert!(!m
        .iter()
        .any(|s| s.metric == "gslbatch_last_success_timestamp_seconds"));
    no_secrets(&body.to_string());
}
