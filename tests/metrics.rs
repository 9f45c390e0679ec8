//! `--metrics-file`: the Prometheus text file a run leaves for node_exporter's textfile
//! collector, read back with a Prometheus text-format parser; every value equals
//! `summary.json`'s, and a failed run keeps the last success time of the run before it.

use crate::common::*;
use gslbatch::simulator::SimConfig;
use prometheus_parse::{Sample, Scrape, Value as PromValue};
use serde_json::Value;
use std::path::Path;

fn scrape(path: &Path) -> Scrape {
    let text = std::fs::read_to_string(path).expect("metrics file");
    Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("Prometheus text parses")
}

fn value(v: &PromValue) -> f64 {
    match v {
        PromValue::Gauge(g) => *g,
        other => panic!("a gauge, not {other:?}"),
    }
}

fn one<'a>(s: &'a Scrape, name: &str, label: Option<(&str, &str)>) -> &'a Sample {
    let found: Vec<&Sample> = s
        .samples
        .iter()
        .filter(|x| x.metric == name)
        .filter(|x| label.is_none_or(|(k, v)| x.labels.get(k) == Some(v)))
        .collect();
    assert_eq!(found.len(), 1, "one {name} {label:?} sample");
    found[0]
}

fn summary(run_dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(run_dir.join("summary.json")).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_file_parses_as_prometheus_text_and_equals_the_summary() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let prom = dir.path().join("gslbatch.prom");

    // A clean run first: exit 0, so it sets the last success time.
    let good = write_csv(dir.path(), "good.csv", &first_iccids(&sim, 4));
    let run1 = dir.path().join("run1");
    let mut cmd = batch("check-real-name", &good, &sim, &run1, 50);
    cmd.arg("--metrics-file").arg(&prom);
    let r = run(cmd).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s1 = summary(&run1);
    let m1 = scrape(&prom);
    let success1 = value(&one(&m1, "gslbatch_last_success_timestamp_seconds", None).value);
    let run_at1 = value(&one(&m1, "gslbatch_last_run_timestamp_seconds", None).value);
    assert_eq!(success1, run_at1, "a run that exits 0 is the last success");

    // Then a run with invalid and duplicate rows: exit 1.
    let mut ids = first_iccids(&sim, 6);
    ids.push(ids[0].clone());
    ids.push("12345".to_string());
    let bad = write_csv(dir.path(), "bad.csv", &ids);
    let run2 = dir.path().join("run2");
    let mut cmd = batch("check-real-name", &bad, &sim, &run2, 50);
    cmd.arg("--metrics-file").arg(&prom);
    let r = run(cmd).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    let s = summary(&run2);
    let m = scrape(&prom);

    for (status, n) in s["counts"].as_object().unwrap() {
        let got = value(&one(&m, "gslbatch_rows", Some(("status", status))).value);
        assert_eq!(got, n.as_f64().unwrap(), "rows {status}");
        assert_eq!(
            one(&m, "gslbatch_rows", Some(("status", status)))
                .labels
                .get("operation"),
            Some("check-real-name")
        );
    }
    assert_eq!(
        value(&one(&m, "gslbatch_rows", Some(("status", "ok"))).value),
        6.0
    );
    assert_eq!(
        value(&one(&m, "gslbatch_rows", Some(("status", "invalid"))).value),
        1.0
    );
    assert_eq!(
        value(&one(&m, "gslbatch_rows", Some(("status", "duplicate"))).value),
        1.0
    );
    for (outcome, n) in s["outcomes"].as_object().unwrap() {
        let got = value(&one(&m, "gslbatch_outcomes", Some(("outcome", outcome))).value);
        assert_eq!(got, n.as_f64().unwrap(), "outcome {outcome}");
    }
    for (metric, key) in [
        ("gslbatch_calls", "calls"),
        ("gslbatch_throttled_calls", "throttled"),
        ("gslbatch_retries", "retries"),
        ("gslbatch_duration_seconds", "duration_secs"),
        ("gslbatch_exit_code", "exit_code"),
    ] {
        assert_eq!(
            value(&one(&m, metric, None).value),
            s[key].as_f64().unwrap(),
            "{metric} = summary.{key}"
        );
    }
    assert_eq!(value(&one(&m, "gslbatch_calls", None).value), 6.0);
    // The failed run keeps the success time of the run before it.
    assert_eq!(
        value(&one(&m, "gslbatch_last_success_timestamp_seconds", None).value),
        success1
    );
    let finished = chrono::DateTime::parse_from_rfc3339(s["finished_at"].as_str().unwrap())
        .unwrap()
        .timestamp_millis() as f64
        / 1000.0;
    assert_eq!(
        value(&one(&m, "gslbatch_last_run_timestamp_seconds", None).value),
        finished
    );
    assert!(s1["exit_code"] == 0);
    // Every sample has HELP and TYPE gauge; no temporary file is left beside it.
    for sample in &m.samples {
        assert!(
            m.docs.contains_key(&sample.metric),
            "{} has HELP",
            sample.metric
        );
    }
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_file_in_a_missing_folder_is_exit_2_before_anything_is_sent() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let input = write_csv(dir.path(), "in.csv", &first_iccids(&sim, 2));
    let mut cmd = batch("check-real-name", &input, &sim, &dir.path().join("run"), 50);
    cmd.arg("--metrics-file")
        .arg(dir.path().join("no/such/dir/x.prom"));
    let r = run(cmd).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--metrics-file"), "{}", r.stderr);
    assert_eq!(
        stat_u64(&sim.stats(), "requests_total"),
        0,
        "nothing was sent"
    );
}
