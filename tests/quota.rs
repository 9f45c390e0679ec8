//! A wrong `--rate` costs a 429 or two, not most of the calls: the quota a 429 names is
//! adopted at once, said in the summary, and kept for `resume`.

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
    let input = write_csv(dir.path(), "in.csv", &first_iccids(&sim, 100));
    let run_dir = dir.path().join("run");
    let ran = run(batch("check-real-name", &input, &sim, &run_dir, 50)).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let stats = sim.stats();
    let total = calls_total(&stats, "real-named");
    assert!(total <= 105, "{total} calls for 100 rows");
    assert_eq!(calls(&stats, "real-named", "ok"), 100);
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
