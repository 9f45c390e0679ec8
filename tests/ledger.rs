//! The account ledger: a destructive job run twice never acts twice on a card, checked against
//! the simulator's own count of clears and messages per card.

use crate::common::*;
use gslbatch::simulator::{Faults, SimConfig};
use std::path::Path;
use std::time::Duration;

fn clear(
    input: &Path,
    sim: &gslbatch::simulator::Simulator,
    run_dir: &Path,
    state: &Path,
) -> std::process::Command {
    let mut c = batch("clear-real-name", input, sim, run_dir, 500);
    c.env("GSL_STATE_DIR", state);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clear_job_run_twice_clears_each_card_once_and_again_sends_them() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let state = dir.path().join("state");
    let ids = telecom_iccids(&sim, 40);
    write_csv(dir.path(), "in.csv", &ids);
    let job = dir.path().join("migrate.toml");
    std::fs::write(
        &job,
        "operation = \"clear-real-name\"\ninput = \"in.csv\"\nrun_dir = \"runs/m-{date}-{time}\"\nrate = 500\nyes = true\n",
    )
    .unwrap();
    let run_job = || {
        let mut c = gsl();
        c.arg("run")
            .arg(&job)
            .arg("-q")
            .env("GSL_ENDPOINT", sim.url())
            .env("GSL_STATE_DIR", &state);
        c
    };
    let ran = run(run_job()).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(calls_total(&sim.stats(), "clear-real-name"), 40);
    let first_dir = std::fs::read_dir(dir.path().join("runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();

    // Another run dir (`-2` when started within the same second), the same cards.
    let ran = run(run_job()).await;
    assert_eq!(ran.code, 0, "skipped rows are not failures: {}", ran.stderr);
    assert_eq!(
        calls_total(&sim.stats(), "clear-real-name"),
        40,
        "the second run sent nothing"
    );
    let dirs: Vec<_> = std::fs::read_dir(dir.path().join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 2);
    let second_dir = dirs.iter().find(|d| **d != first_dir).unwrap();
    let rows = read_report(&second_dir.join("report.csv"));
    assert_eq!(count(&rows, "skipped"), 40);
    let first = std::fs::canonicalize(&first_dir)
        .unwrap()
        .display()
        .to_string();
    for r in &rows {
        assert!(
            r["error_msg"].contains(&first),
            "names the earlier run: {r:?}"
        );
        assert!(
            r["error_msg"].contains("work order 1"),
            "and its work order: {r:?}"
        );
    }
    assert_eq!(stat_u64(&sim.stats(), "max_clear_calls_per_card"), 1);

    // The dry-run plan says how many a start would skip.
    let mut dry = run_job();
    dry.arg("--dry-run");
    let ran = run(dry).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(ran.stdout.contains("skipped:     40"), "{}", ran.stdout);
    assert_eq!(calls_total(&sim.stats(), "clear-real-name"), 40);

    // --again --yes sends them anyway.
    let input = dir.path().join("in.csv");
    let mut again = clear(&input, &sim, &dir.path().join("again"), &state);
    again.arg("--again");
    let ran = run(again).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(calls_total(&sim.stats(), "clear-real-name"), 80);

    // Delete the ledger and rebuild it from the journals: the same decisions.
    std::fs::remove_dir_all(state.join("ledger")).unwrap();
    let mut rebuild = bare();
    rebuild
        .args(["ledger", "rebuild"])
        .arg(&first_dir)
        .env("GSL_STATE_DIR", &state);
    let ran = run(rebuild).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let ran = run(clear(
        &input,
        &sim,
        &dir.path().join("after-rebuild"),
        &state,
    ))
    .await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(
        calls_total(&sim.stats(), "clear-real-name"),
        80,
        "still skipped"
    );
    let rows = read_report(&dir.path().join("after-rebuild/report.csv"));
    assert_eq!(count(&rows, "skipped"), 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_card_is_skipped_with_the_reason_and_a_never_sent_one_is_sent() {
    let sim = start_sim(SimConfig {
        drop_rate: 0.3,
        ..SimConfig::default()
    })
    .await;
    let dir = tempdir();
    let state = dir.path().join("state");
    let ids = telecom_iccids(&sim, 60);
    let input = write_csv(dir.path(), "in.csv", &ids);
    let ran = run(clear(&input, &sim, &dir.path().join("r1"), &state)).await;
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let first = read_report(&dir.path().join("r1/report.csv"));
    let unknown: Vec<&String> = first
        .iter()
        .filter(|r| r["status"] == "unknown")
        .map(|r| &r["iccid"])
        .collect();
    assert!(!unknown.is_empty());
    sim.set_faults(Faults {
        drop_rate: 0.0,
        ..sim.faults()
    });
    let ran = run(clear(&input, &sim, &dir.path().join("r2"), &state)).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let second = read_report(&dir.path().join("r2/report.csv"));
    for r in &second {
        assert_eq!(r["status"], "skipped", "{r:?}");
        if unknown.contains(&&r["iccid"]) {
            assert!(r["error_msg"].contains("may have done it"), "{r:?}");
        }
    }
    assert_eq!(stat_u64(&sim.stats(), "max_clear_calls_per_card"), 1);

    // A run killed early: what it never sent is sent by the next one, nothing twice.
    let sim = start_sim(SimConfig {
        cards: 3000,
        latency_ms: 5,
        ..SimConfig::default()
    })
    .await;
    let ids = telecom_iccids(&sim, 600);
    let input = write_csv(dir.path(), "in2.csv", &ids);
    let mut child = spawn_logged(
        clear(&input, &sim, &dir.path().join("k1"), &state),
        dir.path(),
        "k1",
    );
    wait_until("100 clears", Duration::from_secs(60), || {
        calls_total(&sim.stats(), "clear-real-name") >= 100
    })
    .await;
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let sent_before = calls_total(&sim.stats(), "clear-real-name");
    assert!(sent_before < 600, "killed before the end");
    let ran = run(clear(&input, &sim, &dir.path().join("k2"), &state)).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let rows = read_report(&dir.path().join("k2/report.csv"));
    assert_eq!(count(&rows, "ok") + count(&rows, "skipped"), 600);
    assert!(count(&rows, "ok") > 0, "the never-sent cards were sent");
    assert_eq!(
        stat_u64(&sim.stats(), "max_clear_calls_per_card"),
        1,
        "no card twice"
    );
    // Cards in flight at the kill may or may not have reached the API: skipped as "may have
    // done it" (never cleared twice); every other card was cleared exactly once.
    let per_card = sim.stats()["clear_calls_per_card"].clone();
    for r in &rows {
        let maybe = r["error_msg"].contains("may have done it");
        let n = per_card
            .get(&r["iccid"])
            .and_then(|v| v.as_u64())
            .unwrap_or(0);
        if maybe {
            assert!(n <= 1, "{r:?}");
        } else {
            assert_eq!(n, 1, "cleared once: {r:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_sms_text_is_skipped_and_another_text_is_sent() {
    let cards = sms_cards(0, 60, ORDER);
    let sim = sms_sim(cards.clone()).await;
    let dir = tempdir();
    let state = dir.path().join("state");
    let ids = iccids_of(&cards);
    let input = write_csv(dir.path(), "cids.csv", &ids);
    let sms = |run_dir: &str, text: &str| {
        let mut c = send_sms(&input, &sim, &dir.path().join(run_dir), text);
        c.args(["--batch-size", "25"]).env("GSL_STATE_DIR", &state);
        c
    };
    assert_eq!(run(sms("a", "maintenance at 22:00")).await.code, 0);
    assert_eq!(stat_u64(&sim.stats(), "sms_sent"), 60);
    let ran = run(sms("b", "maintenance at 22:00")).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(
        stat_u64(&sim.stats(), "sms_sent"),
        60,
        "the same text is not sent again"
    );
    let rows = read_report(&dir.path().join("b/report.csv"));
    assert_eq!(count(&rows, "skipped"), 60);
    let ran = run(sms("c", "maintenance moved to 23:00")).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(
        stat_u64(&sim.stats(), "sms_sent"),
        120,
        "another text is another message"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_ledger_stops_a_destructive_run_before_anything_is_sent() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let state = dir.path().join("state");
    let input = write_csv(dir.path(), "in.csv", &telecom_iccids(&sim, 5));
    // The endpoint's ledger file is garbage.
    let path = gslbatch::ledger::Ledger::path_for(&state, &sim.url(), false);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, vec![7u8; 4096]).unwrap();
    let ran = run(clear(&input, &sim, &dir.path().join("run"), &state)).await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(ran.stderr.contains("ledger"), "{}", ran.stderr);
    assert_eq!(calls_total(&sim.stats(), "clear-real-name"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_migration_job_run_twice_clears_each_card_once() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempdir();
    std::fs::create_dir_all(dir.path().join("jobs")).unwrap();
    std::fs::create_dir_all(dir.path().join("samples")).unwrap();
    let job = dir.path().join("jobs/clear-real-name-migration.toml");
    std::fs::copy(root.join("jobs/clear-real-name-migration.toml"), &job).unwrap();
    let sample = dir.path().join("samples/iccids.csv");
    std::fs::copy(root.join("samples/iccids.csv"), &sample).unwrap();
    let ids: Vec<String> = csv::Reader::from_path(&sample)
        .unwrap()
        .records()
        .map(|r| r.unwrap()[0].trim().to_string())
        .filter(|i| i.len() >= 19)
        .collect();
    let sim = start_sim(SimConfig::from_iccids(&ids)).await;
    let state = dir.path().join("state");
    let run_job = || {
        let mut c = gsl();
        c.arg("run")
            .arg(&job)
            .args(["-q", "--rate", "200", "--yes"])
            .env("GSL_ENDPOINT", sim.url())
            .env("GSL_STATE_DIR", &state);
        c
    };
    let ran = run(run_job()).await;
    assert_eq!(
        ran.code, 1,
        "the sample's other carriers fail: {}",
        ran.stderr
    );
    let cleared = sim.stats()["clear_calls_per_card"]
        .as_object()
        .unwrap()
        .len();
    assert!(cleared > 0);
    let ran = run(run_job()).await;
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let stats = sim.stats();
    assert_eq!(
        stat_u64(&stats, "max_clear_calls_per_card"),
        1,
        "each card once"
    );
    assert_eq!(
        stats["clear_calls_per_card"].as_object().unwrap().len(),
        cleared
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("runs")).unwrap().count(),
        2,
        "two runs, two {{date}}-{{time}} directories (the second `-2` within one second)"
    );
}
