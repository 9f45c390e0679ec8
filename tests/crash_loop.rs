//! The crash loop in small (`scripts/crash_loop.py` is the long one): a clear-real-name run
//! SIGKILLed at five seeded random moments, resumed after each and once more to the end. No card
//! may be cleared twice, every input row must be in the report, and only rows that were in flight
//! at a kill may end `unknown`.

use crate::common::*;
use gslbatch::simulator::SimConfig;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const ROWS: usize = 1500;
const KILLS: usize = 5;
/// Passed explicitly so that "unknown ≤ kills × in flight" is a tight bound (the default would
/// be 256 at this rate).
const CONCURRENCY: usize = 32;

fn spawn(mut cmd: Command, dir: &std::path::Path, name: &str) -> Child {
    cmd.arg("--concurrency").arg(CONCURRENCY.to_string());
    spawn_logged(cmd, dir, name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_five_random_moments_then_resume_clears_each_card_at_most_once() {
    let sim = start_sim(SimConfig {
        cards: 3600,
        latency_ms: 30,
        work_order_secs: 1.0,
        ..SimConfig::default()
    })
    .await;
    let (telecom, _) = split_cards(&sim);
    let ids: Vec<String> = telecom.into_iter().take(ROWS).map(|c| c.iccid).collect();
    assert_eq!(
        ids.len(),
        ROWS,
        "the simulator holds {ROWS} China Telecom cards"
    );
    let dir = tempdir();
    let input = write_csv(dir.path(), "in.csv", &ids);
    let run_dir = dir.path().join("run");

    // Seeded, so a failure replays with the same kill moments (as far as timing allows).
    let mut rng = fastrand::Rng::with_seed(20_261_126);
    let mut child = spawn(
        batch("clear-real-name", &input, &sim, &run_dir, 400),
        dir.path(),
        "run0",
    );
    // The kill moments count from the first clear: a kill while the input is still being read
    // (a loaded machine) would leave a run that only starts over, and the test would be moot.
    wait_until("the first clear", Duration::from_secs(60), || {
        calls_total(&sim.stats(), "clear-real-name") > 0
    })
    .await;
    let mut kills = 0;
    for i in 1..=KILLS {
        let after = Duration::from_millis(rng.u64(150..=700));
        let t0 = Instant::now();
        while t0.elapsed() < after && child.try_wait().unwrap().is_none() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if child.try_wait().unwrap().is_none() {
            child.kill().expect("SIGKILL");
            kills += 1;
        }
        let _ = child.wait();
        child = spawn(resume_at(&run_dir, 400), dir.path(), &format!("run{i}"));
    }
    let code = wait_exit(&mut child, Duration::from_secs(30)).await;
    assert!(
        code == 0 || code == 1,
        "the last resume finishes: {code}\n{}",
        std::fs::read_to_string(dir.path().join(format!("run{KILLS}.err"))).unwrap_or_default()
    );
    assert!(
        kills >= 3,
        "most kills hit a live process ({kills} of {KILLS})"
    );

    let rows = read_report(&run_dir.join("report.csv"));
    assert_rows_in_order(&rows, ROWS);
    let stats = sim.stats();
    assert!(
        stat_u64(&stats, "max_clear_calls_per_card") <= 1,
        "a card was cleared twice: {}",
        stats["max_clear_calls_per_card"]
    );
    let mut unknown = 0;
    for r in &rows {
        let cleared = clears_of(&stats, &r["iccid"]);
        match r["status"].as_str() {
            "ok" => assert_eq!(cleared, 1, "an ok row was cleared once: {r:?}"),
            "unknown" => unknown += 1,
            s => panic!("row neither ok nor unknown ({s}): {r:?}"),
        }
    }
    assert!(
        unknown <= kills * CONCURRENCY,
        "{unknown} unknown rows after {kills} kills with {CONCURRENCY} in flight at most"
    );
    let cleared = ids.iter().filter(|i| clears_of(&stats, i) == 1).count();
    assert_eq!(stat_u64(&stats, "work_orders_created") as usize, cleared);
    assert!(cleared >= ROWS - unknown, "every ok row's clear happened");
}
