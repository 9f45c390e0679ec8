//! A run keeps its own settings across `resume`, and a rehearsal never shares a real run's
//! directory.

use crate::common::*;
use gslbatch::simulator::SimConfig;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_carries_on_at_the_runs_own_rate_and_keeps_a_new_one() {
    let sim = start_sim(SimConfig {
        cards: 3000,
        latency_ms: 5,
        ..SimConfig::default()
    })
    .await;
    let dir = tempdir();
    let n = 1600u64;
    let input = write_csv(dir.path(), "in.csv", &first_iccids(&sim, n as usize));
    let run_dir = dir.path().join("run");
    let mut child = spawn_logged(
        batch("check-real-name", &input, &sim, &run_dir, 200),
        dir.path(),
        "first",
    );
    wait_until("400 checks", Duration::from_secs(60), || {
        calls_total(&sim.stats(), "real-named") >= 400
    })
    .await;
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert_eq!(status_json(&run_dir)["settings"]["rate"], 200.0);

    // Without --rate: the run's 200/s, not the default 5/s (which would take minutes here).
    let before = calls_total(&sim.stats(), "real-named");
    let t0 = std::time::Instant::now();
    let mut resumed = spawn_logged(resume_cmd(&run_dir), dir.path(), "resume");
    let code = wait_exit(&mut resumed, Duration::from_secs(120)).await;
    assert_eq!(
        code,
        0,
        "{}",
        std::fs::read_to_string(dir.path().join("resume.err")).unwrap()
    );
    let sent = calls_total(&sim.stats(), "real-named") - before;
    let rate = sent as f64 / t0.elapsed().as_secs_f64();
    assert!(
        sent > 0 && rate > 50.0,
        "resumed at {rate:.1} calls/s ({sent} calls)"
    );
    let rows = read_report(&run_dir.join("report.csv"));
    assert_eq!(count(&rows, "ok"), n as usize);

    // A rate given again replaces the stored one, for this and later resumes.
    let ran = run({
        let mut c = resume_cmd(&run_dir);
        c.args(["--rate", "50"]);
        c
    })
    .await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(status_json(&run_dir)["settings"]["rate"], 50.0);
    let ran = run(resume_cmd(&run_dir)).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(status_json(&run_dir)["settings"]["rate"], 50.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rehearsing_a_job_leaves_its_real_run_free_and_untouched() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let ids = first_iccids(&sim, 20);
    write_csv(dir.path(), "in.csv", &ids);
    let job = dir.path().join("nightly.toml");
    std::fs::write(
        &job,
        "operation = \"check-real-name\"\ninput = \"in.csv\"\nrun_dir = \"runs/n-{date}\"\nrate = 1000\n",
    )
    .unwrap();
    let day = chrono::Local::now().format("%Y-%m-%d").to_string();

    // The morning's rehearsal.
    let ran = run({
        let mut c = gsl();
        c.arg("run").arg(&job).args(["--rehearse", "-q"]);
        c
    })
    .await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let rehearsal = dir.path().join(format!("runs/n-{day}-rehearsal"));
    let rehearsal_report = std::fs::read(rehearsal.join("report.csv")).expect("rehearsal report");
    assert_eq!(
        calls_total(&sim.stats(), "real-named"),
        0,
        "a rehearsal sends nothing real"
    );

    // The night's real run sends, into its own directory.
    let ran = run({
        let mut c = gsl();
        c.arg("run")
            .arg(&job)
            .arg("-q")
            .env("GSL_ENDPOINT", sim.url());
        c
    })
    .await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(calls(&sim.stats(), "real-named", "ok"), 20);
    let rows = read_report(&dir.path().join(format!("runs/n-{day}/report.csv")));
    assert_eq!(count(&rows, "ok"), 20);
    assert_eq!(
        std::fs::read(rehearsal.join("report.csv")).unwrap(),
        rehearsal_report,
        "the rehearsal's directory is untouched"
    );

    // A real run pointed at the rehearsal's directory: exit 2, saying what it is.
    let ran = run({
        let mut c = gsl();
        c.arg("run")
            .arg(&job)
            .arg("-q")
            .arg("--run-dir")
            .arg(&rehearsal)
            .env("GSL_ENDPOINT", sim.url());
        c
    })
    .await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(ran.stderr.contains("rehearsal"), "{}", ran.stderr);
    assert_eq!(
        calls(&sim.stats(), "real-named", "ok"),
        20,
        "nothing more sent"
    );
}
