//! Only what may have happened is `unknown`: credentials that cannot be sent stop the command
//! before the first call, a request that never left is never `unknown`, an endpoint that cannot
//! be reached stops the run with its rows `pending`, and any 5xx to a clear after it may have
//! been done is `unknown` for `follow` to settle — asserted on the reports and on the
//! simulator's own record.

use crate::common::*;
use gslbatch::simulator::SimConfig;
use std::path::Path;
use std::time::Duration;

/// A token value no message may ever show.
const SECRET_TOKEN: &str = "tok-SECRET-7f3a";

/// Exit 2 before any call: the message names `what`, never a secret, and the simulator saw
/// nothing; no run directory is left behind.
fn assert_refused_before_sending(
    ran: &Ran,
    what: &str,
    sim_stats: &serde_json::Value,
    run_dir: &Path,
) {
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(ran.stderr.contains(what), "names {what}: {}", ran.stderr);
    assert!(ran.stderr.contains("nothing was sent"), "{}", ran.stderr);
    for secret in [SECRET_TOKEN, SK] {
        assert!(
            !ran.stderr.contains(secret),
            "a secret leaked: {}",
            ran.stderr
        );
        assert!(
            !ran.stdout.contains(secret),
            "a secret leaked: {}",
            ran.stdout
        );
    }
    assert_eq!(stat_u64(sim_stats, "requests_total"), 0, "{sim_stats}");
    assert!(!run_dir.exists(), "no run directory is left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_with_a_carriage_return_or_stray_white_space_is_exit_2_and_no_call() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let input = write_csv(dir.path(), "in.csv", &telecom_iccids(&sim, 3));
    let run_dir = dir.path().join("run");
    let cmd = |op: &str| {
        let mut cmd = bare();
        cmd.arg(op)
            .arg(&input)
            .args(["--endpoint", &sim.url(), "--yes", "-q"])
            .arg("--run-dir")
            .arg(&run_dir);
        cmd
    };

    // Case 6: a token from an env file saved on Windows, on a check and on a clear.
    for op in ["check-real-name", "clear-real-name"] {
        let mut c = cmd(op);
        c.env("GSL_AUTH_TOKEN", format!("{SECRET_TOKEN}\r"));
        let ran = run(c).await;
        assert_refused_before_sending(&ran, "GSL_AUTH_TOKEN ends with a carriage return (an env file saved with Windows line endings?)", &sim.stats(), &run_dir);
    }

    // An AK pasted with a trailing space.
    let mut c = cmd("clear-real-name");
    c.env("HUAWEICLOUD_SDK_AK", format!("{AK} "))
        .env("HUAWEICLOUD_SDK_SK", SK);
    let ran = run(c).await;
    assert_refused_before_sending(
        &ran,
        "HUAWEICLOUD_SDK_AK ends with white space",
        &sim.stats(),
        &run_dir,
    );

    // A token file with a control character inside: named by its path.
    let token_file = dir.path().join("token.txt");
    std::fs::write(&token_file, format!("{SECRET_TOKEN}\u{7}x\n")).unwrap();
    let mut c = cmd("clear-real-name");
    c.arg("--token-file").arg(&token_file);
    let ran = run(c).await;
    let named = format!(
        "token file {} holds a control character",
        token_file.display()
    );
    assert_refused_before_sending(&ran, &named, &sim.stats(), &run_dir);

    // IAM: a password with a line break at its end, before any login is tried.
    let mut c = cmd("check-real-name");
    c.env("GSL_IAM_USER", IAM_USER)
        .env("GSL_IAM_PASSWORD", format!("{IAM_PASSWORD}\r"))
        .env("GSL_IAM_DOMAIN", "acme")
        .env("HUAWEICLOUD_SDK_IAM_ENDPOINT", sim.url());
    let ran = run(c).await;
    assert!(!ran.stderr.contains(IAM_PASSWORD), "{}", ran.stderr);
    assert_refused_before_sending(
        &ran,
        "GSL_IAM_PASSWORD ends with a carriage return",
        &sim.stats(),
        &run_dir,
    );
    assert_eq!(calls_total(&sim.stats(), "iam-tokens"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_file_written_by_echo_or_on_windows_is_read_without_its_line_ending() {
    let sim = token_only_sim(SimConfig::default(), SECRET_TOKEN).await;
    let dir = tempdir();
    let input = write_csv(dir.path(), "in.csv", &first_iccids(&sim, 2));
    // As `echo` writes it, as Notepad writes it (with a byte-order mark and CRLF).
    for (i, text) in [
        format!("{SECRET_TOKEN}\n"),
        format!("\u{feff}{SECRET_TOKEN}\r\n"),
    ]
    .into_iter()
    .enumerate()
    {
        let token_file = dir.path().join(format!("token{i}"));
        std::fs::write(&token_file, text).unwrap();
        let mut c = bare();
        c.arg("check-real-name")
            .arg(&input)
            .args(["--endpoint", &sim.url(), "-q", "--token-file"])
            .arg(&token_file)
            .arg("--run-dir")
            .arg(dir.path().join(format!("run{i}")));
        let ran = run(c).await;
        assert_eq!(ran.code, 0, "{i}: {}", ran.stderr);
    }
    assert_eq!(calls(&sim.stats(), "real-named", "ok"), 4);
    assert_eq!(stat_u64(&sim.stats(), "auth_failures"), 0);
}

/// The README's cron line (`set -a; . ./gsl.env; set +a`) with an env file saved with CRLF
/// line endings: every value ends in `\r`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_env_file_saved_with_windows_line_endings_is_exit_2_and_no_call() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let input = write_csv(dir.path(), "in.csv", &telecom_iccids(&sim, 3));
    let run_dir = dir.path().join("run");
    std::fs::write(
        dir.path().join("gsl.env"),
        format!("HUAWEICLOUD_SDK_AK={AK}\r\nHUAWEICLOUD_SDK_SK={SK}\r\n"),
    )
    .unwrap();
    // What cron runs: /bin/sh with nothing but a PATH.
    let mut sh = std::process::Command::new("/bin/sh");
    sh.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GSL_STATE_DIR", dir.path().join("state"))
        .current_dir(dir.path())
        .stdin(std::process::Stdio::null())
        .arg("-c")
        .arg(r#"set -a; . ./gsl.env; set +a; exec "$0" "$@""#)
        .arg(env!("CARGO_BIN_EXE_gslbatch"))
        .arg("clear-real-name")
        .arg(&input)
        .args(["--endpoint", &sim.url(), "--yes", "-q", "--run-dir"])
        .arg(&run_dir);
    let ran = run(sh).await;
    assert_refused_before_sending(
        &ran,
        "HUAWEICLOUD_SDK_AK ends with a carriage return (an env file saved with Windows line endings?)",
        &sim.stats(),
        &run_dir,
    );
}

/// Case 7: a proxy's HTML 500 page after the clear was done. The rows are `unknown`, never
/// `failed` (which a second run or `--retry-failed` would clear again); `follow` finds their
/// work orders and makes them `ok`; and nothing clears any card twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clear_answered_with_an_html_500_is_unknown_settled_by_follow_and_never_cleared_again() {
    let sim = start_sim(SimConfig {
        cards: 400,
        error500_rate: 0.3,
        work_order_secs: 0.2,
        ..SimConfig::default()
    })
    .await;
    let dir = tempdir();
    let ids = telecom_iccids(&sim, 40);
    let input = write_csv(dir.path(), "in.csv", &ids);
    let run_dir = dir.path().join("run");
    // One state dir for every command, so the account ledger sees the earlier runs.
    let state = dir.path().join("state");
    let with_state = |mut c: std::process::Command| {
        c.env("GSL_STATE_DIR", &state);
        c
    };
    let ran = run(with_state(batch(
        "clear-real-name",
        &input,
        &sim,
        &run_dir,
        500,
    )))
    .await;
    assert_eq!(ran.code, 1, "unknown rows make exit 1: {}", ran.stderr);
    let stats = sim.stats();
    let error500 = calls(&stats, "clear-real-name", "error500");
    assert!(error500 > 0 && error500 < 40, "{stats}");
    let rows = read_report(&run_dir.join("report.csv"));
    let unknown: Vec<_> = rows.iter().filter(|r| r["status"] == "unknown").collect();
    assert_eq!(
        unknown.len() as u64,
        error500,
        "every HTML 500 row is unknown"
    );
    assert_eq!(count(&rows, "failed"), 0, "none is taken for a refusal");
    assert_eq!(count(&rows, "ok") + unknown.len(), 40);
    for r in &unknown {
        assert_eq!(r["http_status"], "500", "{r:?}");
        assert_eq!(r["attempts"], "1", "never sent again: {r:?}");
        assert_eq!(
            clears_of(&stats, &r["iccid"]),
            1,
            "the simulator did it: {r:?}"
        );
    }
    assert_eq!(
        calls_total(&stats, "clear-real-name"),
        40,
        "nothing re-sent"
    );

    // follow finds each unknown row's work order: positive evidence, so `ok`.
    let mut f = gsl();
    f.arg("follow")
        .arg(&run_dir)
        .args(["--rate", "500", "-q", "--wait", "30s"]);
    let followed = run(with_state(f)).await;
    assert_eq!(followed.code, 0, "every clear done: {}", followed.stderr);
    let rows = read_report(&run_dir.join("report.csv"));
    assert_eq!(count(&rows, "ok"), 40, "{rows:?}");
    for r in rows
        .iter()
        .filter(|r| unknown.iter().any(|u| u["row"] == r["row"]))
    {
        assert!(
            !r["work_order_id"].is_empty(),
            "the work order found: {r:?}"
        );
        assert_eq!(r["outcome"], "done", "{r:?}");
    }

    // Neither a resume with --retry-failed nor a second run clears any card again.
    let mut resume = gsl();
    resume
        .arg("resume")
        .arg(&run_dir)
        .args(["--retry-failed", "-q"]);
    let resumed = run(with_state(resume)).await;
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    let again_dir = dir.path().join("again");
    let again = run(with_state(batch(
        "clear-real-name",
        &input,
        &sim,
        &again_dir,
        500,
    )))
    .await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    let rows = read_report(&again_dir.join("report.csv"));
    assert_eq!(
        count(&rows, "skipped"),
        40,
        "the ledger knows every card: {rows:?}"
    );
    let stats = sim.stats();
    assert_eq!(calls_total(&stats, "clear-real-name"), 40, "{stats}");
    assert_eq!(stat_u64(&stats, "max_clear_calls_per_card"), 1);
    for id in &ids {
        assert_eq!(clears_of(&stats, id), 1, "{id}");
    }
}

/// Issue 30: nothing listens at the endpoint. The run stops after a few tries instead of
/// spending every attempt of every row; exit 3 says "cannot reach", and the rows are
/// `pending` (never `failed`, never `unknown`) for a resume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_endpoint_stops_the_run_with_every_row_pending() {
    let dir = tempdir();
    let input = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/iccids.csv");
    let sample_rows = read_report_like(&input);
    for op in ["check-real-name", "clear-real-name"] {
        let run_dir = dir.path().join(op);
        let mut c = gsl();
        c.arg(op)
            .arg(&input)
            .args([
                "--endpoint",
                "http://127.0.0.1:1",
                "--yes",
                "-q",
                "--run-dir",
            ])
            .arg(&run_dir);
        let ran = run(c).await;
        assert_eq!(ran.code, 3, "{op}: {}", ran.stderr);
        assert!(
            ran.stderr.contains("cannot reach http://127.0.0.1:1: ")
                && ran.stderr.contains("nothing was sent"),
            "{op}: {}",
            ran.stderr
        );
        assert!(!ran.stderr.contains(SK), "{}", ran.stderr);
        let rows = read_report(&run_dir.join("report.csv"));
        let counts = status_counts(&rows);
        assert_eq!(counts.get("unknown"), None, "{op}: {counts:?}");
        assert_eq!(counts.get("failed"), None, "{op}: {counts:?}");
        assert_eq!(counts["pending"], sample_rows - 2, "{op}: {counts:?}");
        let tries: u64 = rows
            .iter()
            .map(|r| r["attempts"].parse::<u64>().unwrap_or(0))
            .sum();
        assert!(
            (1..=5).contains(&tries),
            "{op}: a few tries, not 200: {tries}"
        );
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run_dir.join("summary.json")).unwrap())
                .unwrap();
        assert_eq!(summary["exit_code"], 3);
        assert!(
            summary["stop_reason"]
                .as_str()
                .unwrap()
                .starts_with("cannot reach http://127.0.0.1:1: "),
            "{summary}"
        );
        // `status` shows them pending, and says how to carry on.
        let st = bare()
            .arg("status")
            .arg(&run_dir)
            .arg("--json")
            .output()
            .unwrap();
        let st: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
        assert_eq!(st["counts"]["pending"], sample_rows as u64 - 2, "{st}");
        assert_eq!(st["counts"]["unknown"], 0, "{st}");
    }
}

/// Data rows of a CSV with a header (the sample: 42 rows, one invalid, one duplicate).
fn read_report_like(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .count()
}

/// Below the credential check: a header that cannot be built is `Build`, provably unsent, never
/// the `Closed` ("connection closed without an answer") that made such rows `unknown`; and a
/// 500 that is not the documented busy answer is a server error, not a refusal.
#[tokio::test]
async fn a_request_that_cannot_be_built_never_left_and_an_html_500_is_not_a_refusal() {
    use gslbatch::gsl::auth::{Auth, Credentials, Secret};
    use gslbatch::gsl::{CardRef, Client, GslError};
    use std::sync::Arc;
    let sim = token_only_sim(
        SimConfig {
            cards: 50,
            ..SimConfig::default()
        },
        SECRET_TOKEN,
    )
    .await;
    let client = |token: &str| {
        let creds = Credentials::Token {
            token: Secret::new(token),
            file: None,
        };
        Client::new(
            url::Url::parse(&sim.url()).unwrap(),
            Arc::new(Auth::new(creds)),
            std::time::Duration::from_secs(5),
        )
    };
    let iccid = telecom_iccids(&sim, 1).remove(0);
    let card = CardRef::Iccid(iccid.clone());
    let e = client(&format!("{SECRET_TOKEN}\r"))
        .clear_real_name(&card)
        .await
        .unwrap_err();
    assert!(matches!(e, GslError::Build(_)), "{e:?}");
    assert!(e.provably_unsent());
    assert_eq!(e.error_code(), "BUILD");
    assert!(!e.error_msg().contains(SECRET_TOKEN), "{e}");
    assert_eq!(stat_u64(&sim.stats(), "requests_total"), 0);

    sim.set_faults(gslbatch::simulator::Faults {
        error500_rate: 1.0,
        ..sim.faults()
    });
    let e = client(SECRET_TOKEN)
        .clear_real_name(&card)
        .await
        .unwrap_err();
    assert!(matches!(e, GslError::Gateway(_)), "{e:?}");
    assert!(!e.provably_unsent());
    assert_eq!(
        (e.http_status(), e.error_code().as_str()),
        (Some(500), "HTTP500")
    );
    let stats = sim.stats();
    assert_eq!(calls(&stats, "clear-real-name", "error500"), 1);
    assert_eq!(clears_of(&stats, &iccid), 1, "the work was done first");
}

/// The endpoint goes away mid-run: once tries in a row cannot connect, the run stops (exit 3,
/// "cannot reach … any more") with the rest `pending`, instead of spending five attempts on
/// every remaining row; nothing is `failed` for a connection that was never made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_goes_away_mid_run_stops_it_with_the_rest_pending() {
    let sim = start_sim(SimConfig {
        cards: 600,
        ..SimConfig::default()
    })
    .await;
    let dir = tempdir();
    let input = write_csv(dir.path(), "in.csv", &first_iccids(&sim, 600));
    let run_dir = dir.path().join("run");
    let mut child = spawn_logged(
        batch("check-real-name", &input, &sim, &run_dir, 100),
        dir.path(),
        "check",
    );
    wait_until(
        "calls before the endpoint goes",
        Duration::from_secs(60),
        || calls_total(&sim.stats(), "real-named") >= 100,
    )
    .await;
    let answered = calls(&sim.stats(), "real-named", "ok");
    sim.shutdown().await;
    let code = wait_exit(&mut child, Duration::from_secs(120)).await;
    let stderr = std::fs::read_to_string(dir.path().join("check.err")).unwrap();
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("any more"), "{stderr}");
    let rows = read_report(&run_dir.join("report.csv"));
    let counts = status_counts(&rows);
    assert_eq!(counts.get("failed"), None, "{counts:?}");
    assert!(counts["ok"] as u64 >= answered, "{counts:?}");
    assert!(counts["pending"] > 0, "{counts:?}");
    assert_eq!(counts["ok"] + counts["pending"], 600, "{counts:?}");
}
