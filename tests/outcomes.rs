//! The outcome is the result: `follow` (and `--follow`) read what the accepted requests came to,
//! fill `outcome`, count it in `summary.json` and `status`, and exit 0 / 1 / 4 on it — asserted
//! against the simulator's own record of which work orders and messages failed.

use crate::common::*;
use gslbatch::simulator::SimConfig;
use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

fn strings(v: &serde_json::Value) -> HashSet<String> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// The outcome counts agree in summary.json and in `status --json`, and with the report.
fn assert_counts_agree(run_dir: &Path, rows: &[std::collections::HashMap<String, String>]) {
    let (s, st) = (summary(run_dir), status_json(run_dir));
    for o in ["done", "failed", "processing"] {
        let in_report = rows.iter().filter(|r| r["outcome"] == o).count() as u64;
        assert_eq!(s["outcomes"][o], in_report, "summary {o}");
        assert_eq!(st["outcomes"][o], in_report, "status {o}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clear_whose_work_orders_partly_fail_exits_1_with_follow_naming_exactly_those() {
    let sim = start_sim(SimConfig {
        cards: 3000,
        work_order_secs: 0.5,
        work_order_fail_rate: 0.1,
        ..SimConfig::default()
    })
    .await;
    let dir = tempdir();
    let ids = telecom_iccids(&sim, 300);
    let input = write_csv(dir.path(), "in.csv", &ids);
    let run_dir = dir.path().join("run");
    let mut cmd = batch("clear-real-name", &input, &sim, &run_dir, 500);
    cmd.arg("--follow=2m");
    let ran = run(cmd).await;
    assert_eq!(
        ran.code, 1,
        "failed work orders make exit 1: {}",
        ran.stderr
    );
    let failing = strings(&sim.stats()["work_orders_failing_cards"]);
    assert!(
        !failing.is_empty() && failing.len() < 300,
        "{}",
        failing.len()
    );
    let rows = read_report(&run_dir.join("report.csv"));
    assert_eq!(count(&rows, "ok"), 300, "every clear was accepted");
    for r in &rows {
        let want = if failing.contains(&r["iccid"]) {
            "failed"
        } else {
            "done"
        };
        assert_eq!(r["outcome"], want, "{r:?}");
        if want == "failed" {
            assert!(!r["outcome_detail"].is_empty(), "says why: {r:?}");
        }
    }
    assert_counts_agree(&run_dir, &rows);
    assert_eq!(stat_u64(&sim.stats(), "max_clear_calls_per_card"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_failing_exits_0_still_processing_exits_4_and_wait_settles_it() {
    // Every order still processing when the first follow ended (the simulator's own count),
    // whatever the machine's speed: that follow read them processing.
    let p = clear_then_follow_while_processing(1000, 40, 500).await;
    let (run_dir, first) = (&p.run_dir, &p.first);
    assert_eq!(first.code, 4, "still processing: {}", first.stderr);
    let rows = read_report(&run_dir.join("report.csv"));
    assert!(
        rows.iter().all(|r| r["outcome"] == "processing"),
        "{rows:?}"
    );
    assert_eq!(summary(run_dir)["outcomes"]["processing"], 40);
    let mut f = follow_cmd(run_dir);
    f.args(["--wait", &format!("{}s", p.secs as u64 * 2 + 60)]);
    let waited = run(f).await;
    assert_eq!(waited.code, 0, "{}", waited.stderr);
    let rows = read_report(&run_dir.join("report.csv"));
    assert!(rows.iter().all(|r| r["outcome"] == "done"), "{rows:?}");
    assert_counts_agree(run_dir, &rows);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_deliveries_that_fail_are_failed_outcomes_per_cid() {
    let cards = sms_cards(0, 200, ORDER);
    let sim = sms_sim_with(
        &cards,
        SimConfig {
            sms_fail_rate: Some(0.2),
            work_order_secs: 0.5,
            ..SimConfig::default()
        },
    )
    .await;
    let dir = tempdir();
    let ids = iccids_of(&cards);
    let input = write_csv(dir.path(), "cids.csv", &ids);
    let run_dir = dir.path().join("run");
    let mut cmd = send_sms(&input, &sim, &run_dir, "maintenance tonight");
    cmd.args(["--batch-size", "50", "--follow=1m"]);
    let ran = run(cmd).await;
    assert_eq!(
        ran.code, 1,
        "undelivered messages make exit 1: {}",
        ran.stderr
    );
    let failed = strings(&sim.stats()["sms_failed_cids"]);
    assert!(!failed.is_empty() && failed.len() < 200, "{}", failed.len());
    let rows = read_report(&run_dir.join("report.csv"));
    for r in &rows {
        let want = if failed.contains(&r["cid"]) {
            "failed"
        } else {
            "done"
        };
        assert_eq!(r["outcome"], want, "{r:?}");
    }
    assert_counts_agree(&run_dir, &rows);

    // Nothing failing: exit 0.
    let sim = sms_sim_with(
        &cards,
        SimConfig {
            sms_fail_rate: Some(0.0),
            work_order_secs: 0.5,
            ..SimConfig::default()
        },
    )
    .await;
    let run_dir = dir.path().join("run2");
    let mut cmd = send_sms(&input, &sim, &run_dir, "maintenance tonight");
    cmd.args(["--batch-size", "50", "--follow=1m"]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let rows = read_report(&run_dir.join("report.csv"));
    assert!(rows.iter().all(|r| r["outcome"] == "done"));
}

/// Kill a run twice while requests are in flight, resuming after each kill, then resume to the
/// end: the rows in flight at the kills are `unknown`.
async fn crash_twice(
    sim: &gslbatch::simulator::Simulator,
    first: std::process::Command,
    run_dir: &Path,
    dir: &Path,
    api: &str,
) {
    let mut child = spawn_logged(first, dir, "crash0");
    for (i, at) in [60u64, 160].into_iter().enumerate() {
        wait_until("calls before the kill", Duration::from_secs(60), || {
            calls_total(&sim.stats(), api) >= at
        })
        .await;
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        let mut r = gsl();
        r.arg("resume").arg(run_dir).arg("-q");
        child = spawn_logged(r, dir, &format!("crash{}", i + 1));
    }
    let code = wait_exit(&mut child, Duration::from_secs(120)).await;
    assert!(code == 0 || code == 1, "the last resume finishes: {code}");
}

fn follow_settling(run_dir: &Path) -> std::process::Command {
    let mut f = gsl();
    f.arg("follow")
        .arg(run_dir)
        .args(["--rate", "500", "-q", "--settle-after", "0s"]);
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_crashes_follow_then_resume_leave_no_clear_unknown_and_each_card_cleared_once() {
    let sim = start_sim(SimConfig {
        cards: 3000,
        latency_ms: 40,
        ..SimConfig::default()
    })
    .await;
    let dir = tempdir();
    let ids = telecom_iccids(&sim, 400);
    let input = write_csv(dir.path(), "in.csv", &ids);
    let run_dir = dir.path().join("run");
    crash_twice(
        &sim,
        batch("clear-real-name", &input, &sim, &run_dir, 300),
        &run_dir,
        dir.path(),
        "clear-real-name",
    )
    .await;
    let before = read_report(&run_dir.join("report.csv"));
    let unknown = count(&before, "unknown");
    assert!(unknown > 0, "the kills left rows in flight");

    // follow proves each unknown row one way or the other; resume sends the never-sent ones.
    let f = run(follow_settling(&run_dir)).await;
    assert!(f.code == 0 || f.code == 1, "{}", f.stderr);
    let settled = read_report(&run_dir.join("report.csv"));
    assert_eq!(count(&settled, "unknown"), 0, "nothing left for a person");
    let mut r = gsl();
    r.arg("resume").arg(&run_dir).arg("-q");
    let ran = run(r).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let f = run(follow_settling(&run_dir)).await;
    assert_eq!(f.code, 0, "every card done: {}", f.stderr);

    let stats = sim.stats();
    let rows = read_report(&run_dir.join("report.csv"));
    assert_eq!(count(&rows, "ok"), 400);
    assert_eq!(
        stat_u64(&stats, "max_clear_calls_per_card"),
        1,
        "never twice"
    );
    let orders = &stats["work_order_of_card"];
    for r in &rows {
        assert_eq!(
            stats["clear_calls_per_card"][&r["iccid"]], 1,
            "cleared once: {r:?}"
        );
        assert_eq!(
            r["work_order_id"],
            orders[&r["iccid"]].to_string(),
            "the simulator's own work order: {r:?}"
        );
        assert_eq!(r["outcome"], "done", "{r:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_crashes_follow_then_resume_leave_no_sms_unknown_and_each_cid_messaged_once() {
    let cards = sms_cards(0, 600, ORDER);
    let sim = sms_sim_with(
        &cards,
        SimConfig {
            sms_fail_rate: Some(0.0),
            latency_ms: 40,
            ..SimConfig::default()
        },
    )
    .await;
    let dir = tempdir();
    let ids = iccids_of(&cards);
    let input = write_csv(dir.path(), "cids.csv", &ids);
    let run_dir = dir.path().join("run");
    let mut first = send_sms_at(&input, &sim, &run_dir, "crash-safe notice", 60);
    first.args(["--batch-size", "2"]);
    crash_twice(&sim, first, &run_dir, dir.path(), "send-sms").await;
    let before = read_report(&run_dir.join("report.csv"));
    assert!(
        count(&before, "unknown") > 0,
        "the kills left batches in flight"
    );

    let f = run(follow_settling(&run_dir)).await;
    assert!(f.code == 0 || f.code == 1, "{}", f.stderr);
    assert_eq!(
        count(&read_report(&run_dir.join("report.csv")), "unknown"),
        0
    );
    let mut r = gsl();
    r.arg("resume").arg(&run_dir).arg("-q");
    let ran = run(r).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let f = run(follow_settling(&run_dir)).await;
    assert_eq!(f.code, 0, "{}", f.stderr);

    let rows = read_report(&run_dir.join("report.csv"));
    assert_eq!(count(&rows, "ok"), 600);
    let per_cid = sim.stats()["sms_sent_per_cid"].clone();
    for r in &rows {
        assert_eq!(per_cid[&r["cid"]], 1, "messaged once: {r:?}");
    }
}
