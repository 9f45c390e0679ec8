//! `set-tags` against the simulator: batches of at most 500, exactly the tags asked for, retries
//! of an idempotent operation, and the refusals that stop a run before or after its first call.

use crate::common::*;
use gslbatch::simulator::{SimConfig, Simulator};
use std::path::Path;

fn iccids(sim: &Simulator, n: usize) -> Vec<String> {
    let v: Vec<String> = sim.cards().into_iter().take(n).map(|c| c.iccid).collect();
    assert_eq!(v.len(), n);
    v
}

fn set_tags(input: &Path, sim: &Simulator, run_dir: &Path, tags: &[&str]) -> std::process::Command {
    let mut cmd = gsl();
    cmd.arg("set-tags").arg(input);
    for t in tags {
        cmd.args(["--tag", t]);
    }
    cmd.arg("--endpoint")
        .arg(sim.url())
        .arg("--run-dir")
        .arg(run_dir)
        .args(["--rate", "1000", "--yes", "-q"]);
    cmd
}

/// The simulator's tag ids of each of these cards.
fn tags_of(sim: &Simulator, ids: &[String]) -> Vec<Vec<u64>> {
    let cards = sim.cards();
    ids.iter()
        .map(|i| {
            let mut t = cards
                .iter()
                .find(|c| &c.iccid == i)
                .unwrap()
                .tag_ids
                .clone();
            t.sort();
            t
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tagging_1234_cards_by_name_takes_3_calls_and_again_changes_nothing() {
    let sim = start_sim(SimConfig {
        cards: 1500,
        ..SimConfig::default()
    })
    .await;
    let dir = tempdir();
    let ids = iccids(&sim, 1234);
    let others: Vec<String> = sim
        .cards()
        .into_iter()
        .skip(1234)
        .map(|c| c.iccid)
        .collect();
    let others_before = tags_of(&sim, &others);
    let input = write_csv(dir.path(), "in.csv", &ids);
    let ran = run(set_tags(
        &input,
        &sim,
        &dir.path().join("run"),
        &["fleet-a", "resold"],
    ))
    .await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let stats = sim.stats();
    assert_eq!(
        calls(&stats, "set-tags", "ok"),
        3,
        "1234 cards in batches of 500"
    );
    assert_eq!(calls(&stats, "tags", "ok"), 1, "tag names looked up once");
    let rows = read_report(&dir.path().join("run/report.csv"));
    assert_rows_in_order(&rows, 1234);
    assert_eq!(count(&rows, "ok"), 1234);
    let mut batches: Vec<&str> = rows.iter().map(|r| r["batch"].as_str()).collect();
    batches.dedup();
    assert_eq!(batches, ["1", "2", "3"]);
    // fleet-a is tag 1, resold tag 3 (the simulator's seeded tags).
    assert!(tags_of(&sim, &ids).iter().all(|t| t == &[1, 3]));

    // The same again (a new run dir): still succeeds, and the cards' tags are the same.
    let ran = run(set_tags(
        &input,
        &sim,
        &dir.path().join("run2"),
        &["fleet-a", "resold"],
    ))
    .await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(calls(&sim.stats(), "set-tags", "ok"), 6);
    assert!(tags_of(&sim, &ids).iter().all(|t| t == &[1, 3]));
    assert_eq!(
        tags_of(&sim, &others),
        others_before,
        "cards outside the input untouched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_and_dropped_batches_are_retried_and_end_ok() {
    let sim = start_sim(SimConfig {
        cards: 600,
        busy_rate: 0.3,
        drop_rate: 0.3,
        ..SimConfig::default()
    })
    .await;
    let dir = tempdir();
    let ids = iccids(&sim, 600);
    let input = write_csv(dir.path(), "in.csv", &ids);
    let mut cmd = set_tags(&input, &sim, &dir.path().join("run"), &["bench"]);
    // 13 calls (12 batches and the tag list) each fail 0.6 of their tries: 30 tries leave
    // 13 * 0.6^30 = 3e-6 of a chance that one gives up.
    cmd.args(["--batch-size", "50", "--max-attempts", "30"]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let stats = sim.stats();
    let faults = calls(&stats, "set-tags", "busy") + calls(&stats, "set-tags", "dropped");
    assert!(
        faults > 0,
        "the simulator refused or dropped some batches: {stats}"
    );
    let rows = read_report(&dir.path().join("run/report.csv"));
    assert_eq!(count(&rows, "ok"), 600, "idempotent: nothing ends unknown");
    assert!(
        rows.iter().any(|r| r["attempts"] != "1"),
        "some batches took more than one try"
    );
    assert!(tags_of(&sim, &ids).iter().all(|t| t == &[4]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_the_user_may_not_use_stops_after_the_first_call() {
    let sim = start_sim(SimConfig {
        cards: 1200,
        ..SimConfig::default()
    })
    .await;
    let dir = tempdir();
    let ids = iccids(&sim, 1200);
    let input = write_csv(dir.path(), "in.csv", &ids);
    // Default concurrency: the refusal must stop the others before they send.
    let ran = run(set_tags(
        &input,
        &sim,
        &dir.path().join("run"),
        &["restricted"],
    ))
    .await;
    assert_eq!(ran.code, 3, "{}", ran.stderr);
    assert!(ran.stderr.contains("GSL.00022004"), "{}", ran.stderr);
    assert_eq!(
        calls_total(&sim.stats(), "set-tags"),
        1,
        "nothing after the refusal"
    );
    let rows = read_report(&dir.path().join("run/report.csv"));
    assert_eq!(count(&rows, "pending"), 1200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_tags_and_too_many_tags_send_nothing() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let input = write_csv(dir.path(), "in.csv", &iccids(&sim, 10));
    let ran = run(set_tags(
        &input,
        &sim,
        &dir.path().join("a"),
        &["fleet-a", "no-such-tag"],
    ))
    .await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(ran.stderr.contains("no-such-tag"), "{}", ran.stderr);
    assert!(!dir.path().join("a").exists(), "no run dir left behind");
    let eleven: Vec<String> = (1..=11).map(|i| format!("t{i}")).collect();
    let eleven: Vec<&str> = eleven.iter().map(String::as_str).collect();
    let ran = run(set_tags(&input, &sim, &dir.path().join("b"), &eleven)).await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert_eq!(calls_total(&sim.stats(), "set-tags"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_none_clears_them() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let ids = iccids(&sim, 40);
    let input = write_csv(dir.path(), "in.csv", &ids);
    let ran = run(set_tags(&input, &sim, &dir.path().join("a"), &["fleet-b"])).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(tags_of(&sim, &ids).iter().all(|t| t == &[2]));
    let ran = run(set_tags(&input, &sim, &dir.path().join("b"), &["none"])).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(tags_of(&sim, &ids).iter().all(|t| t.is_empty()));
}
