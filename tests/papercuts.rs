//! What a newcomer and an operator tripped on (issue 30): each item with a test that failed on
//! the build before its fix, asserting the exit code, the message and the simulator's record.

use crate::common::*;
use gslbatch::simulator::SimConfig;
use std::path::Path;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_destination_that_cannot_be_written_is_refused_before_anything_is_sent() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let ids = telecom_iccids(&sim, 5);
    let input = write_csv(dir.path(), "in.csv", &ids);
    let mut c = batch(
        "clear-real-name",
        &input,
        &sim,
        &dir.path().join("run"),
        500,
    );
    c.args(["--report", "/nonexistent/dir/out.csv"]);
    let ran = run(c).await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("/nonexistent/dir/out.csv") && ran.stderr.contains("nothing was sent"),
        "{}",
        ran.stderr
    );
    assert_eq!(calls_total(&sim.stats(), "clear-real-name"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_in_the_first_milliseconds_leaves_a_run_dir_the_same_command_starts_over() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let ids = first_iccids(&sim, 5);
    let input = write_csv(dir.path(), "in.csv", &ids);
    for i in 0..20u64 {
        let run_dir = dir.path().join(format!("e{i}"));
        let mut child = batch("check-real-name", &input, &sim, &run_dir, 500)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Somewhere in the first milliseconds: while the run dir and journal are being made.
        std::thread::sleep(Duration::from_micros(500 * (i % 10) + 1000));
        let _ = child.kill();
        let _ = child.wait();
        let ran = run(batch("check-real-name", &input, &sim, &run_dir, 500)).await;
        assert_eq!(ran.code, 0, "try {i}: {}", ran.stderr);
        let rows = read_report(&run_dir.join("report.csv"));
        assert_eq!(count(&rows, "ok"), 5, "try {i}");
        let mut status = gsl();
        status.arg("status").arg(&run_dir);
        assert_eq!(run(status).await.code, 0, "try {i}");
    }
}

/// Run `gslbatch ARGS --report -` with its stdout a pipe whose reader has already left, as
/// `| head -1` leaves it once it has its line.
async fn into_a_closed_pipe(args: Vec<String>) -> Ran {
    tokio::task::spawn_blocking(move || {
        let mut c = gsl();
        c.args(&args)
            .args(["--report", "-"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let t0 = std::time::Instant::now();
        let mut child = c.spawn().expect("gslbatch starts");
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("gslbatch ends");
        Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: String::new(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            took: t0.elapsed(),
        }
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_into_a_pipe_whose_reader_left_ends_with_exit_0() {
    let sim = start_sim(SimConfig {
        cards: 300,
        ..SimConfig::default()
    })
    .await;
    let url = sim.url().to_string();
    let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    for args in [
        s(&["inventory", "--endpoint", &url]),
        s(&["usage", "--endpoint", &url, "--rate", "1000"]),
        s(&[
            "pool-members",
            "--endpoint",
            &url,
            "--pool",
            "3001",
            "--billing-cycle",
            "2026-01",
            "--rate",
            "1000",
        ]),
    ] {
        let ran = into_a_closed_pipe(args.clone()).await;
        assert_eq!(ran.code, 0, "{args:?}: {}", ran.stderr);
        assert!(
            !ran.stderr.contains("Broken pipe") && !ran.stderr.contains("could not be written"),
            "{args:?}: {}",
            ran.stderr
        );
    }
    assert!(calls_total(&sim.stats(), "pool-members") > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_summary_counts_every_call_a_killed_process_made() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let ids = telecom_iccids(&sim, 80);
    let input = write_csv(dir.path(), "in.csv", &ids);
    let run_dir = dir.path().join("run");
    let mut child = spawn_logged(
        batch("clear-real-name", &input, &sim, &run_dir, 20),
        dir.path(),
        "first",
    );
    // Killed between two of the periodic session totals (every 2 s): 30 calls in 1.5 s.
    wait_until("30 clears", Duration::from_secs(60), || {
        calls_total(&sim.stats(), "clear-real-name") >= 30
    })
    .await;
    signal(&child, "KILL");
    let _ = wait_exit(&mut child, Duration::from_secs(30)).await;
    // What reached the simulator before the kill, after any request still on the wire landed.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let made_first = calls_total(&sim.stats(), "clear-real-name");

    let mut resume = gsl();
    resume.arg("resume").arg(&run_dir).arg("-q");
    let ran = run(resume).await;
    assert!(ran.code == 0 || ran.code == 1, "{}", ran.stderr);
    let made = calls_total(&sim.stats(), "clear-real-name");
    assert!(made > made_first, "resume carried on");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("summary.json")).unwrap())
            .unwrap();
    let counted = summary["calls"].as_u64().unwrap();
    // A request the journal shows as about to be written may have died with the process
    // before it left: counted, not seen. Never fewer than the simulator saw.
    assert!(
        counted >= made && counted <= made + 3,
        "summary says {counted} calls, the simulator saw {made} ({made_first} before the kill)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_after_a_rehearsal_looks_again_within_seconds_and_says_what_it_waits_for() {
    let dir = tempdir();
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/iccids.csv");
    let mut c = bare();
    c.current_dir(dir.path())
        .arg("clear-real-name")
        .arg(&sample)
        .args(["--rehearse", "--yes", "--follow", "--rate", "50"]);
    let ran = run(c).await;
    // 1: the sample's other carriers' cards are refused; every accepted row is done.
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("outcomes: done 34, failed 0, processing 0"),
        "{}",
        ran.stderr
    );
    // The rehearsal's work orders finish 5 s after they are made: the first look finds some
    // still processing, and the next one comes in a second or two, not a minute.
    let waits: Vec<&str> = ran
        .stderr
        .lines()
        .filter(|l| l.starts_with("follow: waiting for"))
        .collect();
    assert!(!waits.is_empty(), "{}", ran.stderr);
    for w in &waits {
        assert!(
            w.contains("rows still processing") && w.contains("looking again in "),
            "{w}"
        );
        let secs: u64 = w
            .split("looking again in ")
            .nth(1)
            .and_then(|r| r.split('s').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("a pause in seconds: {w}"));
        assert!(secs <= 5, "{w}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sms_plan_flags_china_unicom_cids_and_a_whole_order_has_no_input_rows() {
    let dir = tempdir();
    let ids: Vec<String> = [
        "89860312345678901234", // China Telecom
        "89860012345678901236", // China Mobile
        "89860112345678901238", // China Unicom: no SMS plan
        "89860612345678901230", // China Unicom
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let input = write_csv(dir.path(), "cids.csv", &ids);
    let plan = |args: Vec<String>| {
        let mut c = bare();
        c.current_dir(dir.path()).arg("send-sms").args(args).args([
            "--content",
            "hi",
            "--rehearse",
            "--dry-run",
        ]);
        run(c)
    };
    let ran = plan(vec![input.display().to_string()]).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(
        ran.stdout
            .contains("(2 of the input's cards are China Unicom by ICCID prefix, without SMS"),
        "{}",
        ran.stdout
    );
    let ran = plan(vec!["--order-id".into(), "5".into()]).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(
        ran.stdout
            .contains("rows:        no input: the whole order in one call")
            && !ran.stdout.contains("valid 0")
            && ran.stdout.contains("expected:    under a second"),
        "{}",
        ran.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_run_started_again_exits_0_at_once() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let mut ids = first_iccids(&sim, 5);
    ids.push("123".into()); // invalid: the run's own exit code is 1
    let input = write_csv(dir.path(), "in.csv", &ids);
    let run_dir = dir.path().join("run");
    let first = run(batch("check-real-name", &input, &sim, &run_dir, 500)).await;
    assert_eq!(first.code, 1, "{}", first.stderr);
    let calls = calls_total(&sim.stats(), "real-named");
    // The same command, as cron starts it the second time.
    let ran = run(batch("check-real-name", &input, &sim, &run_dir, 500)).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(ran.stderr.contains("finished run"), "{}", ran.stderr);
    assert_eq!(calls_total(&sim.stats(), "real-named"), calls);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_and_follow_leave_nothing_in_a_directory_that_is_not_a_run() {
    let dir = tempdir();
    for cmd in ["resume", "follow"] {
        let mut c = gsl();
        c.arg(cmd).arg(dir.path());
        let ran = run(c).await;
        assert_eq!(ran.code, 2, "{cmd}: {}", ran.stderr);
        assert!(
            ran.stderr.contains("is not a gslbatch run directory"),
            "{cmd}: {}",
            ran.stderr
        );
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "{cmd} left {left:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_of_an_interrupted_ingest_says_the_same_command_starts_over() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    // The input is a pipe this test holds open and never ends: the kill lands while it is being
    // read, every time. More than the readers' 64 KiB look-ahead, so the run gets past sniffing
    // and makes its journal; rows too short to be ICCIDs, so nothing could be sent.
    let run_dir = dir.path().join("run");
    let mut cmd = batch("check-real-name", Path::new("-"), &sim, &run_dir, 500);
    cmd.stdin(std::process::Stdio::piped());
    let mut child = spawn_logged(cmd, dir.path(), "first");
    let mut stdin = child.stdin.take().unwrap();
    let (done, until_done) = std::sync::mpsc::channel::<()>();
    let writer = std::thread::spawn(move || {
        let rows: String = (0..20_000u64).map(|i| format!("{i}\n")).collect();
        // A write fails (broken pipe) once the reader is killed; either way the pipe stays open
        // until the test says so.
        let _ = std::io::Write::write_all(&mut stdin, format!("iccid\n{rows}").as_bytes());
        let _ = until_done.recv_timeout(Duration::from_secs(120));
    });
    let journal = run_dir.join("journal.sqlite");
    wait_until("the journal", Duration::from_secs(60), || journal.exists()).await;
    signal(&child, "KILL");
    let _ = wait_exit(&mut child, Duration::from_secs(30)).await;
    done.send(()).unwrap();
    writer.join().unwrap();
    let mut c = gsl();
    c.arg("resume").arg(&run_dir);
    let ran = run(c).await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("never finished reading its input")
            && ran.stderr.contains("the same command and --run-dir")
            && !ran.stderr.contains("new --run-dir"),
        "{}",
        ran.stderr
    );
    assert_eq!(calls_total(&sim.stats(), "real-named"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_json_log_line_has_a_timestamp_and_qq_prints_errors_only() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let input = write_csv(dir.path(), "in.csv", &first_iccids(&sim, 5));
    let mut c = batch("check-real-name", &input, &sim, &dir.path().join("a"), 500);
    c.args(["--log-format", "json"]);
    let ran = run(c).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(ran.stderr.contains("\"summary\""), "{}", ran.stderr);
    for line in ran.stderr.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["timestamp"].is_string(), "no timestamp: {line}");
    }

    // -qq: errors only. A rehearsal with --follow says a summary and follow's lines at -q.
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/iccids.csv");
    let mut c = bare();
    c.current_dir(dir.path())
        .arg("clear-real-name")
        .arg(&sample)
        .args(["--rehearse", "--yes", "--follow", "--rate", "100", "-qq"]);
    let ran = run(c).await;
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert_eq!(ran.stderr, "", "-qq prints errors only");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rehearsal_that_skips_names_the_earlier_rehearsal_and_the_shared_ledger() {
    let dir = tempdir();
    let state = dir.path().join("state");
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/iccids.csv");
    // Two clones' quick starts, one state dir: the host's user.
    let quick_start = |clone: &str| {
        let at = dir.path().join(clone);
        std::fs::create_dir_all(&at).unwrap();
        let mut c = bare();
        c.current_dir(&at)
            .env("GSL_STATE_DIR", &state)
            .arg("clear-real-name")
            .arg(&sample)
            .args(["--rehearse", "--yes", "--rate", "100"]);
        run(c)
    };
    let first = quick_start("clone-a").await;
    assert_eq!(first.code, 1, "{}", first.stderr);
    let second = quick_start("clone-b").await;
    assert_eq!(second.code, 1, "{}", second.stderr);
    let earlier = std::fs::read_dir(dir.path().join("clone-a/runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name();
    let earlier = earlier.to_string_lossy();
    let line = second
        .stderr
        .lines()
        .find(|l| l.contains("skipped 34 cards"))
        .unwrap_or_else(|| panic!("{}", second.stderr));
    assert!(
        line.contains(&*earlier)
            && line.contains("every rehearsal with this state dir shares one ledger")
            && line.contains("rehearsal.sqlite"),
        "{line}"
    );
}

/// The decimals of a number cell (`728.2919999999999`: 13).
fn decimals(cell: &str) -> usize {
    cell.split_once('.').map_or(0, |(_, d)| d.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_small_ones_listings_say_one_call_and_megabytes_and_round_their_flows() {
    let sim = start_sim(SimConfig {
        cards: 300,
        ..SimConfig::default()
    })
    .await;
    let dir = tempdir();
    let mut c = gsl();
    let report = dir.path().join("pool.csv");
    c.arg("pool-members")
        .args(["--endpoint", &sim.url(), "--pool", "3001"])
        .args(["--billing-cycle", "2026-01", "--rate", "1000"])
        .arg("--report")
        .arg(&report);
    let ran = run(c).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(calls_total(&sim.stats(), "pool-members"), 1);
    assert!(
        ran.stderr.contains("; 1 call (") && ran.stderr.contains(" MB;"),
        "{}",
        ran.stderr
    );

    let report = dir.path().join("usage.csv");
    let mut c = gsl();
    c.arg("usage")
        .args(["--endpoint", &sim.url(), "--rate", "1000"])
        .arg("--report")
        .arg(&report);
    let ran = run(c).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let rows = read_report(&report);
    assert_eq!(rows.len(), 300);
    for r in &rows {
        for col in ["flow_total", "flow_used", "flow_left"] {
            assert!(decimals(&r[col]) <= 6, "{col} {}", r[col]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_small_ones_plans_counts_and_the_starting_line() {
    let dir = tempdir();
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/iccids.csv");
    // A speed no carrier offers: every card invalid, the duplicate still a duplicate.
    let mut c = bare();
    c.current_dir(dir.path())
        .arg("set-speed-limit")
        .arg(&sample)
        .args(["--kbps", "1000", "--rehearse", "--dry-run"]);
    let ran = run(c).await;
    assert!(
        ran.stdout
            .contains("rows:        42 (valid 0, invalid 41, duplicate 1)"),
        "{}{}",
        ran.stdout,
        ran.stderr
    );
    let mut c = bare();
    c.current_dir(dir.path())
        .arg("clear-real-name")
        .arg(&sample)
        .args(["--rehearse", "--dry-run"]);
    let ran = run(c).await;
    assert!(
        ran.stdout
            .contains("clear-real-name?iccid= (sim_card_id 0: each card named by its ICCID)"),
        "{}",
        ran.stdout
    );
    // The starting line counts the input's rows as the summary does, and says how many go.
    let mut c = bare();
    c.current_dir(dir.path())
        .arg("check-real-name")
        .arg(&sample)
        .args(["--rehearse", "--rate", "100", "--log-format", "json"]);
    let ran = run(c).await;
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let starting: serde_json::Value = ran
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["message"] == "starting")
        .unwrap_or_else(|| panic!("{}", ran.stderr));
    assert_eq!(starting["rows"], 42, "{starting}");
    assert_eq!(starting["to_send"], 40, "{starting}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_small_ones_a_locked_ak_says_how_long_and_a_dead_run_has_no_eta() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let input = write_csv(dir.path(), "in.csv", &first_iccids(&sim, 3));
    for i in 0..6 {
        let mut c = batch(
            "check-real-name",
            &input,
            &sim,
            &dir.path().join(format!("r{i}")),
            500,
        );
        c.env("HUAWEICLOUD_SDK_SK", "not-the-sk");
        let ran = run(c).await;
        assert_eq!(ran.code, 3, "{}", ran.stderr);
        if i == 5 {
            assert!(
                ran.stderr.contains("locked") && ran.stderr.contains("wait 5 minutes"),
                "{}",
                ran.stderr
            );
            assert!(!ran.stderr.contains("not-the-sk"));
        }
    }

    // A run killed with rows left: no process drives it, so no ETA.
    let sim = start_sim(SimConfig::default()).await;
    let input = write_csv(dir.path(), "many.csv", &first_iccids(&sim, 200));
    let run_dir = dir.path().join("dead");
    let mut child = spawn_logged(
        batch("check-real-name", &input, &sim, &run_dir, 20),
        dir.path(),
        "dead",
    );
    wait_until(
        "50 checks and a session total",
        Duration::from_secs(60),
        || calls_total(&sim.stats(), "real-named") >= 50,
    )
    .await;
    signal(&child, "KILL");
    let _ = wait_exit(&mut child, Duration::from_secs(30)).await;
    let mut c = bare();
    c.arg("status").arg(&run_dir).arg("--json");
    let ran = run(c).await;
    let v: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(v["live"], false, "{v}");
    assert!(v["rate"].is_number(), "{v}");
    assert!(v["eta_secs"].is_null(), "{v}");

    // A report that cannot be written: exit 2 (the run is as it was), not 3 "aborted mid-run".
    let full = std::fs::File::options()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let mut c = bare();
    c.arg("report")
        .arg(&run_dir)
        .args(["--report", "-"])
        .stdout(full);
    let ran = run(c).await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("the report was not written"),
        "{}",
        ran.stderr
    );
}
