//! The binary as cron and an operator meet it: every exit code, inputs from stdin, JSON and JSON
//! Lines, the dry-run plan, `status`, and what SIGINT and SIGKILL leave behind for `report` and
//! `resume` — checked against the report and against what the simulator received.

use crate::common::*;
use gslbatch::simulator::SimConfig;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_0_when_every_row_is_ok() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let input = write_csv(dir.path(), "in.csv", &first_iccids(&sim, 20));
    let run_dir = dir.path().join("run");
    let ran = run(batch("check-real-name", &input, &sim, &run_dir, 1000)).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(
        ran.stdout, "",
        "stdout carries only data that was asked for"
    );
    let rows = read_report(&run_dir.join("report.csv"));
    assert_eq!(count(&rows, "ok"), 20);
    assert!(run_dir.join("summary.json").exists());
    assert_eq!(calls(&sim.stats(), "real-named", "ok"), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_1_when_some_rows_are_invalid() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let mut iccids = first_iccids(&sim, 10);
    iccids.insert(3, "89860312345678901".into());
    let input = write_csv(dir.path(), "in.csv", &iccids);
    let run_dir = dir.path().join("run");
    let ran = run(batch("check-real-name", &input, &sim, &run_dir, 1000)).await;
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let rows = read_report(&run_dir.join("report.csv"));
    assert_rows_in_order(&rows, 11);
    assert_eq!(rows[3]["status"], "invalid");
    assert!(rows[3]["error_msg"].contains("in.csv:5"), "{:?}", rows[3]);
    assert_eq!(count(&rows, "ok"), 10);
    assert_eq!(stat_u64(&sim.stats(), "requests_total"), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_2_for_bad_usage_and_nothing_is_sent() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let input = write_csv(dir.path(), "in.csv", &telecom_iccids(&sim, 5));

    // A missing input file: the message names the path.
    let missing = dir.path().join("nope.csv");
    let ran = run(batch(
        "check-real-name",
        &missing,
        &sim,
        &dir.path().join("r1"),
        100,
    ))
    .await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(ran.stderr.contains("nope.csv"), "{}", ran.stderr);
    assert!(!dir.path().join("r1").join("journal.sqlite").exists());

    // An unknown flag.
    let mut cmd = batch("check-real-name", &input, &sim, &dir.path().join("r2"), 100);
    cmd.arg("--no-such-flag");
    let ran = run(cmd).await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(ran.stderr.contains("--no-such-flag"), "{}", ran.stderr);

    // A malformed endpoint.
    let mut cmd = gsl();
    cmd.args([
        "check-real-name",
        "--endpoint",
        "ht!tp//nowhere",
        "--run-dir",
    ])
    .arg(dir.path().join("r3"))
    .arg(&input);
    let ran = run(cmd).await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(ran.stderr.contains("ht!tp//nowhere"), "{}", ran.stderr);

    // No credentials: one line naming the variables to set.
    let mut cmd = bare();
    cmd.arg("check-real-name")
        .arg(&input)
        .arg("--endpoint")
        .arg(sim.url())
        .arg("--run-dir")
        .arg(dir.path().join("r4"));
    let ran = run(cmd).await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    let line = ran
        .stderr
        .lines()
        .find(|l| l.contains("HUAWEICLOUD_SDK_AK"))
        .unwrap_or_else(|| panic!("a line names the variables: {}", ran.stderr));
    for var in ["HUAWEICLOUD_SDK_SK", "GSL_AUTH_TOKEN", "GSL_IAM_USER"] {
        assert!(line.contains(var), "{line}");
    }

    // A destructive run without --yes and without a terminal refuses before sending.
    let mut cmd = batch("clear-real-name", &input, &sim, &dir.path().join("r5"), 100);
    let args: Vec<_> = cmd
        .get_args()
        .filter(|a| *a != "--yes")
        .map(|a| a.to_owned())
        .collect();
    cmd = gsl();
    cmd.args(args);
    let ran = run(cmd).await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("about to clear real-name data of 5 cards"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("--yes"), "{}", ran.stderr);

    let stats = sim.stats();
    assert_eq!(
        stat_u64(&stats, "requests_total"),
        0,
        "nothing was sent: {stats}"
    );
    assert_eq!(stat_u64(&stats, "work_orders_created"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_3_when_authentication_is_rejected() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let input = write_csv(dir.path(), "in.csv", &telecom_iccids(&sim, 10));
    let run_dir = dir.path().join("run");
    let mut cmd = batch("clear-real-name", &input, &sim, &run_dir, 1000);
    cmd.env("HUAWEICLOUD_SDK_AK", "SOMEONEELSESAK000001");
    let ran = run(cmd).await;
    assert_eq!(ran.code, 3, "{}", ran.stderr);
    let rows = read_report(&run_dir.join("report.csv"));
    assert_eq!(count(&rows, "pending"), 10);
    let stats = sim.stats();
    assert_eq!(stat_u64(&stats, "requests_total"), 1);
    assert_eq!(stat_u64(&stats, "work_orders_created"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_3_when_too_many_rows_fail() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    // Not China Telecom: every clear is refused.
    let (_, other) = split_cards(&sim);
    let ids: Vec<String> = other.iter().take(200).map(|c| c.iccid.clone()).collect();
    let input = write_csv(dir.path(), "in.csv", &ids);
    let run_dir = dir.path().join("run");
    let mut cmd = batch("clear-real-name", &input, &sim, &run_dir, 200);
    cmd.args(["--failure-min-rows", "20", "--max-failure-rate", "0.5"]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, 3, "{}", ran.stderr);
    assert!(ran.stderr.contains("--max-failure-rate"), "{}", ran.stderr);
    let rows = read_report(&run_dir.join("report.csv"));
    assert_rows_in_order(&rows, 200);
    let failed = count(&rows, "failed");
    assert!(failed >= 20, "{:?}", status_counts(&rows));
    assert_eq!(failed + count(&rows, "pending"), 200);
    assert!(count(&rows, "pending") > 0, "the rest waits for resume");
    assert_eq!(
        calls_total(&sim.stats(), "clear-real-name") as usize,
        failed,
        "no request after the stop"
    );
}

/// Start the binary without waiting; stdout and stderr go to files in `dir`.
fn spawn(cmd: std::process::Command, dir: &Path) -> Child {
    spawn_logged(cmd, dir, "gslbatch")
}

fn stderr_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("gslbatch.err")).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_130_on_sigint_with_a_complete_report() {
    let sim = start_sim(SimConfig {
        latency_ms: 50,
        ..SimConfig::default()
    })
    .await;
    let dir = tempdir();
    let input = write_csv(dir.path(), "in.csv", &first_iccids(&sim, 500));
    let run_dir = dir.path().join("run");
    let mut child = spawn(
        batch("check-real-name", &input, &sim, &run_dir, 50),
        dir.path(),
    );
    wait_until("20 checks", Duration::from_secs(20), || {
        calls(&sim.stats(), "real-named", "ok") >= 20
    })
    .await;
    // While it runs: status says live, and a second process may not drive the run dir.
    let mut cmd = bare();
    cmd.arg("status").arg(&run_dir).arg("--json");
    let status = run(cmd).await;
    assert_eq!(status.code, 0, "{}", status.stderr);
    let v: serde_json::Value = serde_json::from_str(&status.stdout).expect("JSON");
    assert_eq!(v["live"], true, "{v}");
    // A live run's rate (and so its ETA) shows within a few seconds, not only at its end.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let rate = loop {
        let mut cmd = bare();
        cmd.arg("status").arg(&run_dir).arg("--json");
        let v: serde_json::Value = serde_json::from_str(&run(cmd).await.stdout).expect("JSON");
        if let Some(r) = v["rate"].as_f64() {
            assert!(v["eta_secs"].is_number(), "{v}");
            break r;
        }
        assert!(std::time::Instant::now() < deadline, "no live rate: {v}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(rate > 10.0 && rate <= 52.0, "live rate {rate} at --rate 50");
    assert_eq!(v["holder_pid"], child.id(), "{v}");
    let mut cmd = gsl();
    cmd.arg("resume").arg(&run_dir).arg("-q");
    let second = run(cmd).await;
    assert_eq!(second.code, 2, "{}", second.stderr);
    assert!(
        second.stderr.contains(&child.id().to_string()),
        "names the holder: {}",
        second.stderr
    );

    signal(&child, "INT");
    let code = wait_exit(&mut child, Duration::from_secs(20)).await;
    assert_eq!(code, 130, "{}", stderr_of(dir.path()));
    let rows = read_report(&run_dir.join("report.csv"));
    assert_rows_in_order(&rows, 500);
    let ok = count(&rows, "ok");
    let pending = count(&rows, "pending");
    assert!(pending > 0, "the rest waits for resume");
    assert_eq!(ok + pending, 500, "{:?}", status_counts(&rows));
    assert_eq!(ok as u64, calls(&sim.stats(), "real-named", "ok"));

    // The same job started again carries on with the run (SPEC: "the same job resumes it").
    let mut again = batch("check-real-name", &input, &sim, &run_dir, 1000);
    again.arg("--max-attempts").arg("5");
    let ran = run(again).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let rows = read_report(&run_dir.join("report.csv"));
    assert_rows_in_order(&rows, 500);
    assert_eq!(count(&rows, "ok"), 500);
    assert_eq!(
        calls(&sim.stats(), "real-named", "ok"),
        500,
        "nothing sent twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_run_dir_same_job_finished_exits_0_other_job_exits_2() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let input = write_csv(dir.path(), "in.csv", &first_iccids(&sim, 10));
    let run_dir = dir.path().join("run");
    let ran = run(batch("check-real-name", &input, &sim, &run_dir, 1000)).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);

    // The same job again: finished, so exit 0 at once, nothing sent.
    let ran = run(batch("check-real-name", &input, &sim, &run_dir, 1000)).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(stat_u64(&sim.stats(), "requests_total"), 10);

    // A different job on the same run dir: exit 2, nothing sent.
    let other = write_csv(dir.path(), "other.csv", &first_iccids(&sim, 3));
    let ran = run(batch("check-real-name", &other, &sim, &run_dir, 1000)).await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert_eq!(stat_u64(&sim.stats(), "requests_total"), 10);
    let rows = read_report(&run_dir.join("report.csv"));
    assert_eq!(count(&rows, "ok"), 10, "the run is untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_that_died_while_reading_its_input_starts_over() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let input = write_csv(dir.path(), "in.csv", &first_iccids(&sim, 10));
    let run_dir = dir.path().join("run");
    let ran = run(batch("check-real-name", &input, &sim, &run_dir, 1000)).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    // Make it look like the process died half-way through reading: settings written, rows
    // partly in, the input never finished (so nothing can have been sent).
    {
        let j = gslbatch::journal::Journal::open(&run_dir).unwrap();
        let mut meta = j.meta().unwrap();
        meta.total_rows = None;
        j.set_meta(&meta).unwrap();
    }
    let ran = run(batch("check-real-name", &input, &sim, &run_dir, 1000)).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let rows = read_report(&run_dir.join("report.csv"));
    assert_rows_in_order(&rows, 10);
    assert_eq!(count(&rows, "ok"), 10);
    // Read again and sent again: a check is idempotent, and the first journal was discarded.
    assert_eq!(stat_u64(&sim.stats(), "requests_total"), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_clear_then_report_and_resume_never_clear_twice() {
    let sim = start_sim(SimConfig {
        latency_ms: 50,
        ..SimConfig::default()
    })
    .await;
    let dir = tempdir();
    let iccids = telecom_iccids(&sim, 200);
    let input = write_csv(dir.path(), "in.csv", &iccids);
    let run_dir = dir.path().join("run");
    let mut child = spawn(
        batch("clear-real-name", &input, &sim, &run_dir, 50),
        dir.path(),
    );
    wait_until("20 clears", Duration::from_secs(20), || {
        calls(&sim.stats(), "clear-real-name", "ok") >= 20
    })
    .await;
    child.kill().expect("SIGKILL");
    let _ = child.wait();

    // The report renders every row from the journal; rows in flight show unknown.
    let mut cmd = bare();
    cmd.arg("report").arg(&run_dir);
    let ran = run(cmd).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let rows = read_report(&run_dir.join("report.csv"));
    assert_rows_in_order(&rows, 200);
    let stats = sim.stats();
    for r in &rows {
        match r["status"].as_str() {
            "ok" => assert_eq!(clears_of(&stats, &r["iccid"]), 1, "{r:?}"),
            "pending" => assert_eq!(clears_of(&stats, &r["iccid"]), 0, "{r:?}"),
            "unknown" => assert!(clears_of(&stats, &r["iccid"]) <= 1),
            s => panic!("unexpected status {s}: {r:?}"),
        }
    }
    assert!(count(&rows, "pending") > 0, "{:?}", status_counts(&rows));
    let unknown_before = count(&rows, "unknown");
    // status, with nobody driving the run, calls the rows left in flight what the report does.
    let mut cmd = bare();
    cmd.arg("status").arg(&run_dir).arg("--json");
    let ran = run(cmd).await;
    let v: serde_json::Value = serde_json::from_str(&ran.stdout).expect("status --json");
    assert_status_matches(&v, &rows);

    let mut cmd = gsl();
    cmd.arg("resume")
        .arg(&run_dir)
        .args(["--rate", "1000", "-q"]);
    let ran = run(cmd).await;
    let rows = read_report(&run_dir.join("report.csv"));
    assert_rows_in_order(&rows, 200);
    let unknown = count(&rows, "unknown");
    assert_eq!(
        unknown, unknown_before,
        "in-flight rows stay unknown, not re-sent"
    );
    assert_eq!(count(&rows, "pending"), 0);
    assert_eq!(count(&rows, "ok") + unknown, 200);
    assert_eq!(ran.code, if unknown > 0 { 1 } else { 0 }, "{}", ran.stderr);
    let stats = sim.stats();
    assert_eq!(stat_u64(&stats, "max_clear_calls_per_card"), 1, "{stats}");
    for r in rows.iter().filter(|r| r["status"] == "ok") {
        assert_eq!(clears_of(&stats, &r["iccid"]), 1, "{r:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_json_and_jsonl_inputs_run() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let ids = first_iccids(&sim, 12);

    // CSV on stdin.
    let run_dir = dir.path().join("stdin");
    let mut cmd = gsl();
    cmd.args([
        "check-real-name",
        "-",
        "--endpoint",
        &sim.url(),
        "-q",
        "--rate",
        "1000",
    ])
    .arg("--run-dir")
    .arg(&run_dir)
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let text = format!("iccid\n{}\n", ids[..4].join("\n"));
    let ran = tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(
        ran.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let rows = read_report(&run_dir.join("report.csv"));
    assert_rows_in_order(&rows, 4);
    assert_eq!(count(&rows, "ok"), 4);

    // A JSON array of strings and objects.
    let json = dir.path().join("in.json");
    let doc =
        serde_json::json!([ids[4], {"iccid": ids[5]}, {"iccid": ids[6], "site": "b"}, ids[7]]);
    std::fs::write(&json, doc.to_string()).unwrap();
    let run_dir = dir.path().join("json");
    let ran = run(batch("check-real-name", &json, &sim, &run_dir, 1000)).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let rows = read_report(&run_dir.join("report.csv"));
    assert_rows_in_order(&rows, 4);
    assert_eq!(count(&rows, "ok"), 4);
    assert_eq!(rows[1]["iccid"], ids[5]);

    // JSON Lines.
    let jsonl = dir.path().join("in.jsonl");
    std::fs::write(
        &jsonl,
        format!(
            "\"{}\"\n{{\"iccid\": \"{}\"}}\n\n{{\"iccid\": \"{}\"}}\n\"{}\"\n",
            ids[8], ids[9], ids[10], ids[11]
        ),
    )
    .unwrap();
    let run_dir = dir.path().join("jsonl");
    let ran = run(batch("check-real-name", &jsonl, &sim, &run_dir, 1000)).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let rows = read_report(&run_dir.join("report.csv"));
    assert_rows_in_order(&rows, 4);
    assert_eq!(count(&rows, "ok"), 4);
    assert_eq!(rows[3]["iccid"], ids[11]);

    assert_eq!(calls(&sim.stats(), "real-named", "ok"), 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_line_is_one_invalid_row() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let ids = first_iccids(&sim, 4);
    let mut bytes = format!("iccid\n{}\n{}\n", ids[0], ids[1]).into_bytes();
    bytes.extend_from_slice(b"8986\xff\xfe0312345678901\n");
    bytes.extend_from_slice(format!("{}\n{}\n", ids[2], ids[3]).as_bytes());
    let input = dir.path().join("in.csv");
    std::fs::write(&input, bytes).unwrap();
    let run_dir = dir.path().join("run");
    let ran = run(batch("check-real-name", &input, &sim, &run_dir, 1000)).await;
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let rows = read_report(&run_dir.join("report.csv"));
    assert_rows_in_order(&rows, 5);
    assert_eq!(rows[2]["status"], "invalid", "{:?}", rows[2]);
    assert!(rows[2]["error_msg"].contains("in.csv:4"), "{:?}", rows[2]);
    assert_eq!(count(&rows, "ok"), 4);
    assert_eq!(calls(&sim.stats(), "real-named", "ok"), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_prints_the_plan_and_sends_nothing() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let mut ids = telecom_iccids(&sim, 6);
    ids.push(ids[0].clone());
    ids.push("123".into());
    let input = write_csv(dir.path(), "in.csv", &ids);
    let run_dir = dir.path().join("run");
    let mut cmd = batch("clear-real-name", &input, &sim, &run_dir, 5);
    cmd.arg("--dry-run");
    let ran = run(cmd).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(
        ran.stdout.contains("valid 6, invalid 1, duplicate 1"),
        "{}",
        ran.stdout
    );
    assert!(ran.stdout.contains("8 ("), "{}", ran.stdout);
    assert_eq!(stat_u64(&sim.stats(), "requests_total"), 0);
    assert!(!run_dir.join("journal.sqlite").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_json_after_a_run_matches_the_report() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let mut ids = first_iccids(&sim, 30);
    ids.push(ids[3].clone());
    ids.push("abc".into());
    let input = write_csv(dir.path(), "in.csv", &ids);
    let run_dir = dir.path().join("run");
    let ran = run(batch("check-real-name", &input, &sim, &run_dir, 1000)).await;
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let rows = read_report(&run_dir.join("report.csv"));

    let mut cmd = bare();
    cmd.arg("status").arg(&run_dir).arg("--json");
    let ran = run(cmd).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let v: serde_json::Value = serde_json::from_str(&ran.stdout).expect("status --json is JSON");
    assert_eq!(v["live"], false, "{v}");
    assert_eq!(v["operation"], "check-real-name");
    assert_eq!(v["rows"], 32);
    assert_status_matches(&v, &rows);
}

/// `status --json` counts every report status (0 included) and agrees with the report.
fn assert_status_matches(v: &serde_json::Value, rows: &[HashMap<String, String>]) {
    let counts = status_counts(rows);
    let all = v["counts"].as_object().unwrap();
    let mut keys: Vec<&str> = all.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "duplicate",
            "failed",
            "invalid",
            "ok",
            "pending",
            "skipped",
            "unknown"
        ],
        "{v}"
    );
    let reported: HashMap<String, usize> = all
        .iter()
        .filter(|(_, n)| n.as_u64() != Some(0))
        .map(|(k, n)| (k.clone(), n.as_u64().unwrap() as usize))
        .collect();
    assert_eq!(reported, counts, "status and report agree");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_runs_keep_the_periodic_progress_line_and_qq_drops_it() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let ids = first_iccids(&sim, 30);
    let input = write_csv(dir.path(), "in.csv", &ids);
    // 30 rows at 10/s: about 3 s, a progress line each second.
    let mut cmd = batch("check-real-name", &input, &sim, &dir.path().join("q"), 10);
    cmd.env("GSL_PROGRESS_SECS", "1");
    let ran = run(cmd).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let lines = ran
        .stderr
        .lines()
        .filter(|l| l.contains("progress"))
        .count();
    assert!(lines >= 1, "-q keeps the progress line: {}", ran.stderr);
    assert!(ran.stderr.contains("total=30"), "{}", ran.stderr);

    let mut cmd = batch("check-real-name", &input, &sim, &dir.path().join("qq"), 10);
    cmd.env("GSL_PROGRESS_SECS", "1").arg("-q");
    let ran = run(cmd).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(
        !ran.stderr.contains("total=30"),
        "-qq: errors only: {}",
        ran.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_and_sighup_stop_like_sigint_and_a_second_signal_exits_at_once() {
    // A clear at 20/s with answers after 0.5-1.5 s: requests are in flight when signalled,
    // and still are when the second signal follows the first's log line.
    let sim = start_sim(SimConfig {
        latency_ms: 1000,
        ..SimConfig::default()
    })
    .await;
    let ids = telecom_iccids(&sim, 300);
    for (i, signals) in [&["TERM"][..], &["HUP"][..], &["INT", "INT"][..]]
        .iter()
        .enumerate()
    {
        if signals.len() == 2 {
            // Answers after 1.5-4.5 s: the second signal lands long before the first's
            // in-flight requests could finish.
            sim.set_faults(gslbatch::simulator::Faults {
                latency_ms: 3000,
                ..sim.faults()
            });
        }
        let dir = tempdir();
        let input = write_csv(dir.path(), "in.csv", &ids[i * 100..(i + 1) * 100]);
        let run_dir = dir.path().join("run");
        let before = calls(&sim.stats(), "clear-real-name", "ok");
        let mut child = spawn(
            batch("clear-real-name", &input, &sim, &run_dir, 20),
            dir.path(),
        );
        wait_until("10 clears", Duration::from_secs(20), || {
            calls(&sim.stats(), "clear-real-name", "ok") >= before + 10
        })
        .await;
        signal(&child, signals[0]);
        if signals.len() == 2 {
            // Signals sent together may arrive as one: the second waits for the first's log.
            let d = dir.path().to_path_buf();
            wait_until("the first signal's log", Duration::from_secs(10), || {
                stderr_of(&d).contains("signal received")
            })
            .await;
            signal(&child, signals[1]);
        }
        let code = wait_exit(&mut child, Duration::from_secs(20)).await;
        let err = stderr_of(dir.path());
        assert_eq!(code, 130, "{signals:?}: {err}");
        if signals.len() == 2 {
            assert!(err.contains("second signal: exiting now"), "{err}");
            // Exited without rendering: `report` renders from the journal, and what was in
            // flight is unknown, never lost.
            let mut cmd = bare();
            cmd.arg("report").arg(&run_dir);
            assert_eq!(run(cmd).await.code, 0);
        }
        let rows = read_report(&run_dir.join("report.csv"));
        assert_rows_in_order(&rows, 100);
        assert!(
            count(&rows, "pending") > 0,
            "{signals:?}: {:?}",
            status_counts(&rows)
        );
        let stats = sim.stats();
        for r in &rows {
            let n = clears_of(&stats, &r["iccid"]);
            match r["status"].as_str() {
                "ok" => assert_eq!(n, 1, "{r:?}"),
                "pending" => assert_eq!(n, 0, "{r:?}"),
                "unknown" => assert!(n <= 1, "{r:?}"),
                s => panic!("{signals:?}: unexpected {s}: {r:?}"),
            }
        }
    }
}

/// SIGINT to a run whose stderr is closed (`2>&-`) or a pipe whose reader left (`2>&1 | head
/// -1`): exit 130, no panic, and the report agrees with `status --json`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_with_stderr_closed_or_its_reader_gone_exits_130_and_the_report_agrees_with_status()
{
    let sim = start_sim(SimConfig {
        latency_ms: 50,
        ..SimConfig::default()
    })
    .await;
    let dir = tempdir();
    let input = write_csv(dir.path(), "in.csv", &first_iccids(&sim, 400));
    for how in ["closed", "reader gone"] {
        let run_dir = dir.path().join(format!("run-{}", how.replace(' ', "-")));
        let before = calls(&sim.stats(), "real-named", "ok");
        let cmd = batch("check-real-name", &input, &sim, &run_dir, 50);
        let mut child = if how == "closed" {
            // `exec` keeps the pid: the signal reaches gslbatch itself.
            let mut sh = std::process::Command::new("/bin/sh");
            sh.arg("-c")
                .arg(r#"exec "$0" "$@" 2>&-"#)
                .arg(cmd.get_program())
                .args(cmd.get_args())
                .envs(cmd.get_envs().filter_map(|(k, v)| Some((k, v?))))
                .stdin(Stdio::null());
            sh.spawn().unwrap()
        } else {
            let mut cmd = cmd;
            let mut child = cmd.stderr(Stdio::piped()).spawn().unwrap();
            drop(child.stderr.take());
            child
        };
        wait_until("20 checks", Duration::from_secs(20), || {
            calls(&sim.stats(), "real-named", "ok") >= before + 20
        })
        .await;
        signal(&child, "INT");
        let code = wait_exit(&mut child, Duration::from_secs(20)).await;
        assert_eq!(code, 130, "stderr {how}");
        let rows = read_report(&run_dir.join("report.csv"));
        assert_rows_in_order(&rows, 400);
        let mut st = bare();
        st.arg("status").arg(&run_dir).arg("--json");
        let st: serde_json::Value = serde_json::from_str(&run(st).await.stdout).expect("JSON");
        for (status, n) in status_counts(&rows) {
            assert_eq!(st["counts"][&status], n as u64, "{how}: {status} in {st}");
        }
        assert!(
            count(&rows, "pending") > 0,
            "{how}: interrupted before the end"
        );
    }
}

/// `--help` lists every command once, in the order it always has: the operations (built from
/// the registry) among the other commands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_lists_every_command_in_its_place() {
    let mut cmd = gsl();
    cmd.arg("--help");
    let ran = run(cmd).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let listed: Vec<&str> = ran
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let want = [
        "check-real-name",
        "clear-real-name",
        "run",
        "send-sms",
        "follow",
        "set-tags",
        "resume",
        "status",
        "report",
        "simulate",
        "inventory",
        "pool-members",
        "stop-card",
        "restore-card",
        "activate-card",
        "cut-net",
        "restore-net",
        "set-speed-limit",
        "set-data-cap",
        "bind-imei",
        "usage",
        "ledger",
        "completions",
        "man",
        "help",
    ];
    // An operation added later is listed where its entry says; these keep their places.
    let registry: Vec<&str> = gslbatch::ops::REGISTRY.iter().map(|s| s.name).collect();
    for n in &registry {
        assert_eq!(
            listed.iter().filter(|l| *l == n).count(),
            1,
            "{n}: {listed:?}"
        );
    }
    let known: Vec<&str> = listed
        .iter()
        .copied()
        .filter(|l| want.contains(l))
        .collect();
    assert_eq!(known, want, "{}", ran.stdout);
    assert!(listed
        .iter()
        .all(|l| want.contains(l) || registry.contains(l)));
}
