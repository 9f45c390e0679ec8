//! A wrong `--rate` costs a 429 or two, not most of the calls: the quota a 429 names is
//! adopted at once, said in the summary, and kept for `resume`; `--rate auto` finds the quota
//! from its first 429 and then uses all of it.

use crate::common::*;
use gslbatch::simulator::SimConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_above_the_quota_adopts_the_quota_the_429_names() {
    let sim = start_sim(SimConfig {
        rate: Some(5),
        ..SimConfig::default()
    })
    .await;
    let dir = tempdir();
    let input = write_csv(dir.path(), "in.csv", &first_iccids(&sim, 200));
    let run_dir = dir.path().join("run");
    let ran = run(batch("check-real-name", &input, &sim, &run_dir, 50)).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let stats = sim.stats();
    let total = calls_total(&stats, "real-named");
    // The bound: 200 checks in at most 205 calls (the old pacer took 562).
    assert!(total <= 205, "{total} calls for 200 rows");
    assert_eq!(calls(&stats, "real-named", "ok"), 200);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["quota_found"], 5.0, "{summary}");
    assert!(ran.stderr.contains("quota is 5 calls/s"), "{}", ran.stderr);
    let out = bare()
        .arg("status")
        .arg(&run_dir)
        .arg("--json")
        .output()
        .unwrap();
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        st["settings"]["rate"], 5.0,
        "resume carries on at the quota"
    );
}

/// `check-real-name --rate auto` of `rows` cards against a simulator throttling at `quota`:
/// the rate it held once the 429 named the quota (over the last third of the rows, by the
/// report's `finished_at`: the rise from 5/s is over by then), the 429s, and the calls.
async fn auto_against(quota: u32, rows: usize) -> (f64, u64, u64) {
    let sim = start_sim(SimConfig {
        cards: rows,
        rate: Some(quota),
        ..SimConfig::default()
    })
    .await;
    let dir = tempdir();
    let input = write_csv(dir.path(), "in.csv", &first_iccids(&sim, rows));
    let run_dir = dir.path().join("run");
    let mut cmd = gsl();
    cmd.arg("check-real-name")
        .arg(&input)
        .arg("--endpoint")
        .arg(sim.url())
        .arg("--run-dir")
        .arg(&run_dir)
        .args(["--rate", "auto", "-q"]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let stats = sim.stats();
    let total = calls_total(&stats, "real-named");
    let throttled = calls(&stats, "real-named", "throttled");
    assert_eq!(calls(&stats, "real-named", "ok"), rows as u64);
    assert_eq!(
        total,
        rows as u64 + throttled,
        "nothing but 429s was repeated"
    );

    let report = read_report(&run_dir.join("report.csv"));
    let mut times: Vec<i64> = report
        .iter()
        .map(|r| {
            chrono::DateTime::parse_from_rfc3339(&r["finished_at"])
                .expect("finished_at")
                .timestamp_millis()
        })
        .collect();
    times.sort_unstable();
    let last = &times[times.len() * 2 / 3..];
    let held = (last.len() - 1) as f64 / ((last[last.len() - 1] - last[0]) as f64 / 1000.0);

    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["quota_found"], quota as f64, "{summary}");
    assert!(
        ran.stderr.contains(&format!("quota is {quota} calls/s")),
        "{}",
        ran.stderr
    );
    let out = bare()
        .arg("status")
        .arg(&run_dir)
        .arg("--json")
        .output()
        .unwrap();
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(st["settings"]["quota_found"], quota as f64);
    assert_eq!(
        st["settings"]["rate"], quota as f64,
        "resume carries on at the quota found"
    );
    (held, throttled, total)
}

fn assert_uses_the_quota(quota: u32, (held, throttled, total): (f64, u64, u64)) {
    assert!(
        held >= 0.95 * quota as f64,
        "held {held:.1}/s against a quota of {quota}/s"
    );
    assert!(
        held <= 1.02 * quota as f64,
        "held {held:.1}/s: over the quota of {quota}/s"
    );
    assert!(
        throttled as f64 <= 0.01 * total as f64,
        "{throttled} of {total} calls answered 429"
    );
    assert!(throttled >= 1, "the quota was found from a 429");
}

// The three quotas below take 40 s, 28 s and 35 s, mostly the pacer's own waiting: from 5/s,
// rising a fifth a second, auto reaches 500/s after 25 s and 2,500 calls.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_auto_finds_a_quota_of_5() {
    assert_uses_the_quota(5, auto_against(5, 200).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_auto_finds_a_quota_of_50() {
    assert_uses_the_quota(50, auto_against(50, 1000).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_auto_finds_a_quota_of_500() {
    assert_uses_the_quota(500, auto_against(500, 7000).await);
}
