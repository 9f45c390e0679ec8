//! Durable runs: SIGKILL at any moment then `resume` never clears a card twice and loses no row;
//! every kind of stop (signal, failure threshold, rejected credentials, a full disk) resumes to
//! the end; the account-wide lock keeps two destructive jobs with one set of credentials apart.
//! Checked against the report, the journal and the simulator's own record.

use crate::common::*;
use gslbatch::simulator::{Faults, SimConfig, Simulator};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// When to kill: a name and a condition polled until it holds.
type Moment<'a> = (&'static str, Box<dyn Fn() -> bool + 'a>);

/// Start `first`, SIGKILL it at three moments (early, middle, late: nothing pending any more,
/// so it is collecting the last answers or rendering the report), resuming after each kill;
/// then resume to the end. Returns how many kills hit a live process.
async fn kill_three_times(
    sim: &Simulator,
    first: Command,
    run_dir: &Path,
    dir: &Path,
    api: &str,
    n: u64,
    late_pending: u64,
) -> usize {
    let mut child = spawn_logged(first, dir, "run0");
    let mut kills = 0;
    let moments: [Moment; 3] = [
        (
            "early",
            Box::new(|| calls_total(&sim.stats(), api) >= n / 10),
        ),
        (
            "middle",
            Box::new(|| calls_total(&sim.stats(), api) >= n / 2),
        ),
        (
            "late",
            Box::new(|| {
                let c = journal_counts(run_dir);
                c.values().sum::<u64>() == n
                    && c.get("pending").copied().unwrap_or(0) <= late_pending
            }),
        ),
    ];
    for (i, (what, cond)) in moments.iter().enumerate() {
        let t0 = Instant::now();
        let mut exited = false;
        while !cond() {
            if child.try_wait().unwrap().is_some() {
                exited = true;
                break;
            }
            assert!(t0.elapsed() < Duration::from_secs(30), "waiting for {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if !exited {
            child.kill().expect("SIGKILL");
            kills += 1;
        }
        let _ = child.wait();
        child = spawn_logged(resume_at(run_dir, 400), dir, &format!("run{}", i + 1));
    }
    let code = wait_exit(&mut child, Duration::from_secs(60)).await;
    assert!(
        code == 0 || code == 1,
        "the last resume finishes: {code}\n{}",
        std::fs::read_to_string(dir.join("run3.err")).unwrap_or_default()
    );
    kills
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_early_middle_late_then_resume_clears_each_card_at_most_once() {
    let sim = start_sim(SimConfig {
        cards: 4500,
        latency_ms: 30,
        ..SimConfig::default()
    })
    .await;
    let dir = tempdir();
    let n = 2000;
    let ids = telecom_iccids(&sim, n);
    let input = write_csv(dir.path(), "in.csv", &ids);
    let run_dir = dir.path().join("run");
    let first = batch("clear-real-name", &input, &sim, &run_dir, 400);
    let kills = kill_three_times(
        &sim,
        first,
        &run_dir,
        dir.path(),
        "clear-real-name",
        n as u64,
        0,
    )
    .await;
    assert!(kills >= 2, "the run was killed while live ({kills} kills)");

    let rows = read_report(&run_dir.join("report.csv"));
    assert_rows_in_order(&rows, n);
    let stats = sim.stats();
    assert!(
        stat_u64(&stats, "max_clear_calls_per_card") <= 1,
        "never cleared twice: {stats}"
    );
    let concurrency = 256; // the default at --rate 400
    let mut unknown = 0;
    for r in &rows {
        let cleared = clears_of(&stats, &r["iccid"]);
        match r["status"].as_str() {
            "ok" => {
                assert_eq!(cleared, 1, "{r:?}");
                assert!(
                    !r["work_order_id"].is_empty(),
                    "ok rows carry the work order: {r:?}"
                );
            }
            "unknown" => {
                unknown += 1;
                assert!(cleared <= 1, "{r:?}");
            }
            s => panic!("row neither ok nor unknown ({s}): {r:?}"),
        }
    }
    assert!(unknown <= kills * concurrency, "{unknown} unknown");
    // Every card the simulator cleared is in the report as ok or unknown (checked above), and
    // no card was cleared that the report does not hold.
    let in_report: std::collections::HashSet<&str> =
        rows.iter().map(|r| r["iccid"].as_str()).collect();
    for id in &ids {
        if clears_of(&stats, id) > 0 {
            assert!(in_report.contains(id.as_str()));
        }
    }
    assert_eq!(
        stat_u64(&stats, "work_orders_created") as usize,
        ids.iter().filter(|i| clears_of(&stats, i) == 1).count()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_early_middle_late_then_resume_checks_every_card() {
    let sim = start_sim(SimConfig {
        cards: 1000,
        latency_ms: 30,
        ..SimConfig::default()
    })
    .await;
    let dir = tempdir();
    let ids: Vec<String> = sim.cards().into_iter().map(|c| c.iccid).collect();
    let input = write_csv(dir.path(), "in.csv", &ids);
    let run_dir = dir.path().join("run");
    let first = batch("check-real-name", &input, &sim, &run_dir, 400);
    kill_three_times(&sim, first, &run_dir, dir.path(), "real-named", 1000, 40).await;
    let rows = read_report(&run_dir.join("report.csv"));
    assert_rows_in_order(&rows, 1000);
    assert_eq!(count(&rows, "ok"), 1000, "{:?}", status_counts(&rows));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_threshold_abort_then_resume_finishes() {
    let sim = start_sim(SimConfig {
        busy_rate: 1.0,
        ..SimConfig::default()
    })
    .await;
    let dir = tempdir();
    let ids: Vec<String> = sim.cards().into_iter().take(100).map(|c| c.iccid).collect();
    let input = write_csv(dir.path(), "in.csv", &ids);
    let run_dir = dir.path().join("run");
    let mut cmd = batch("check-real-name", &input, &sim, &run_dir, 1000);
    cmd.args([
        "--max-failure-rate",
        "0.1",
        "--failure-min-rows",
        "20",
        "--max-attempts",
        "1",
    ]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, 3, "{}", ran.stderr);
    assert!(ran.stderr.contains("resume"), "{}", ran.stderr);
    assert!(pending(&run_dir) > 0);

    sim.set_faults(Faults::default());
    let mut cmd = resume_at(&run_dir, 400);
    cmd.arg("--retry-failed");
    let ran = run(cmd).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let rows = read_report(&run_dir.join("report.csv"));
    assert_rows_in_order(&rows, 100);
    assert_eq!(count(&rows, "ok"), 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_abort_then_resume_with_the_right_credentials_finishes() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let input = write_csv(dir.path(), "in.csv", &telecom_iccids(&sim, 30));
    let run_dir = dir.path().join("run");
    let mut cmd = batch("clear-real-name", &input, &sim, &run_dir, 1000);
    cmd.env("HUAWEICLOUD_SDK_AK", "SOMEONEELSESAK000001");
    let ran = run(cmd).await;
    assert_eq!(ran.code, 3, "{}", ran.stderr);
    assert_eq!(stat_u64(&sim.stats(), "work_orders_created"), 0);

    let ran = run(resume_at(&run_dir, 400)).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let rows = read_report(&run_dir.join("report.csv"));
    assert_eq!(count(&rows, "ok"), 30);
    assert_eq!(stat_u64(&sim.stats(), "max_clear_calls_per_card"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stdin_run_resumes_without_its_input() {
    let sim = start_sim(SimConfig {
        latency_ms: 30,
        ..SimConfig::default()
    })
    .await;
    let dir = tempdir();
    let ids: Vec<String> = sim.cards().into_iter().take(300).map(|c| c.iccid).collect();
    let run_dir = dir.path().join("run");
    let mut cmd = gsl();
    cmd.args(["check-real-name", "-", "--endpoint", &sim.url(), "-q"])
        .args(["--rate", "60", "--run-dir"])
        .arg(&run_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let text = format!("iccid\n{}\n", ids.join("\n"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    wait_until("20 checks", Duration::from_secs(20), || {
        calls_total(&sim.stats(), "real-named") >= 20
    })
    .await;
    child.kill().unwrap();
    let _ = child.wait();
    assert!(pending(&run_dir) > 0);

    let ran = run(resume_at(&run_dir, 400)).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let rows = read_report(&run_dir.join("report.csv"));
    assert_rows_in_order(&rows, 300);
    assert_eq!(count(&rows, "ok"), 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_destructive_run_per_account_and_resume_takes_the_locks_after_sigkill() {
    let sim = start_sim(SimConfig {
        latency_ms: 30,
        ..SimConfig::default()
    })
    .await;
    let dir = tempdir();
    let state = dir.path().join("state");
    let ids = telecom_iccids(&sim, 200);
    let a = write_csv(dir.path(), "a.csv", &ids[..150]);
    let b = write_csv(dir.path(), "b.csv", &ids[150..]);
    let run_a = dir.path().join("run-a");
    let mut first = batch("clear-real-name", &a, &sim, &run_a, 30);
    first.env("GSL_STATE_DIR", &state);
    let mut child = spawn_logged(first, dir.path(), "a");
    wait_until("5 clears", Duration::from_secs(20), || {
        calls_total(&sim.stats(), "clear-real-name") >= 5
    })
    .await;

    // Same credentials, another run dir: refused before sending, naming the holder.
    let before = calls_total(&sim.stats(), "clear-real-name");
    let run_b = dir.path().join("run-b");
    let mut second = batch("clear-real-name", &b, &sim, &run_b, 1000);
    second.env("GSL_STATE_DIR", &state);
    let ran = run(second).await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(
        ran.stderr.contains(&child.id().to_string()),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("run-a"),
        "names the run dir: {}",
        ran.stderr
    );
    for id in &ids[150..] {
        assert_eq!(clears_of(&sim.stats(), id), 0, "nothing of b was sent");
    }
    assert!(calls_total(&sim.stats(), "clear-real-name") >= before);

    // A rehearsal touches no real account: it takes no account lock.
    let mut reh = gsl();
    reh.args([
        "clear-real-name",
        "--rehearse",
        "--yes",
        "-q",
        "--rate",
        "1000",
    ])
    .arg(&b)
    .arg("--run-dir")
    .arg(dir.path().join("rehearsal"))
    .env("GSL_STATE_DIR", &state);
    let ran = run(reh).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);

    // The holder dies: the kernel frees both locks, and its resume takes them.
    child.kill().unwrap();
    let _ = child.wait();
    let mut cmd = resume_at(&run_a, 400);
    cmd.env("GSL_STATE_DIR", &state);
    let ran = run(cmd).await;
    assert!(ran.code == 0 || ran.code == 1, "{}", ran.stderr);
    assert_eq!(pending(&run_a), 0);
    // And the other job may go now.
    let mut second = batch("clear-real-name", &b, &sim, &run_b, 1000);
    second.env("GSL_STATE_DIR", &state);
    let ran = run(second).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(stat_u64(&sim.stats(), "max_clear_calls_per_card"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_sending_at_once_and_resume_finishes_once_space_is_back() {
    let dir = tempdir();
    let Some(disk) =
        SmallDisk::mount_or_skip(&dir.path().join("disk"), "600k", "the full-disk test")
    else {
        return;
    };
    let sim = start_sim(SimConfig {
        cards: 4500,
        latency_ms: 20,
        ..SimConfig::default()
    })
    .await;
    let n = 2000;
    let ids = telecom_iccids(&sim, n);
    let input = write_csv(dir.path(), "in.csv", &ids);
    let run_dir = disk.0.join("run");
    let ran = run(batch("clear-real-name", &input, &sim, &run_dir, 400)).await;
    assert_eq!(ran.code, 3, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("journal write failed") && ran.stderr.contains("resume"),
        "a plain message: {}",
        ran.stderr
    );
    assert!(!ran.stderr.contains("panicked"), "{}", ran.stderr);

    disk.grow("50m");
    let counts = journal_counts(&run_dir);
    let left = counts.get("pending").copied().unwrap_or(0);
    assert!(left > 0, "sending stopped before the end: {counts:?}");
    // Every request had its intent recorded first: no request after the failure.
    let sent = calls_total(&sim.stats(), "clear-real-name");
    assert!(
        sent <= n as u64 - left,
        "{sent} clears sent, but only {} rows got past pending: {counts:?}",
        n as u64 - left
    );

    let ran = run(resume_at(&run_dir, 400)).await;
    assert!(ran.code == 0 || ran.code == 1, "{}", ran.stderr);
    let rows = read_report(&run_dir.join("report.csv"));
    assert_rows_in_order(&rows, n);
    assert_eq!(count(&rows, "pending"), 0);
    assert_eq!(count(&rows, "ok") + count(&rows, "unknown"), n);
    assert_eq!(stat_u64(&sim.stats(), "max_clear_calls_per_card"), 1);
}

/// An idempotent run records no intents, so the failure shows first in an *outcome* write:
/// that too must stop the sending (the engine checks the writer after every outcome).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_an_idempotent_run_at_once() {
    let dir = tempdir();
    let Some(disk) = SmallDisk::mount_or_skip(
        &dir.path().join("disk"),
        "600k",
        "the idempotent full-disk test",
    ) else {
        return;
    };
    let sim = start_sim(SimConfig {
        cards: 3000,
        latency_ms: 20,
        ..SimConfig::default()
    })
    .await;
    let ids: Vec<String> = sim
        .cards()
        .into_iter()
        .take(2000)
        .map(|c| c.iccid)
        .collect();
    let input = write_csv(dir.path(), "in.csv", &ids);
    let run_dir = disk.0.join("run");
    let ran = run(batch("check-real-name", &input, &sim, &run_dir, 400)).await;
    assert_eq!(ran.code, 3, "{}", ran.stderr);
    disk.grow("50m");
    let counts = journal_counts(&run_dir);
    let recorded = 2000 - counts.get("pending").copied().unwrap_or(0);
    let sent = calls_total(&sim.stats(), "real-named");
    assert!(
        sent <= recorded + 256 * 2,
        "{sent} checks sent, {recorded} recorded: sending went on after the failure"
    );
}
