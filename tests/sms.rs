//! `send-sms` against the simulator: cids chunked into fixed batches (one call each), the
//! message checked before anything is sent, a refused batch split until its bad cid stands alone, a
//! dropped batch `unknown` and never re-sent, a busy batch retried — checked against the
//! report and the simulator's record of what it sent to each cid.

use crate::common::*;
use gslbatch::simulator::InventoryCard;
use std::collections::{HashMap, HashSet};
use std::process::Command;
use std::time::Duration;

const OTHER_ORDER: u64 = 778;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_of_2350_cids_goes_out_in_24_batches_each_cid_once() {
    let cards = sms_cards(0, 2400, ORDER);
    let sim = sms_sim(cards.clone()).await;
    let dir = tempdir();
    let mut input: Vec<String> = cards.iter().take(2350).map(|c| c.iccid.clone()).collect();
    // 10 invalid rows and 5 duplicates, spread through the file.
    for i in 0..10 {
        input.insert(i * 200 + 3, format!("8986-not-a-card-{i}"));
    }
    for i in 0..5 {
        input.insert(i * 400 + 7, cards[i * 100].iccid.clone());
    }
    let path = write_csv(dir.path(), "cids.csv", &input);
    let run_dir = dir.path().join("run");
    let content = "Device maintenance tonight 22:00-23:00";
    let mut cmd = send_sms(&path, &sim, &run_dir, content);
    cmd.args(["--order-id", "777", "--batch-size", "100"]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, 1, "invalid rows make exit 1: {}", ran.stderr);

    let stats = sim.stats();
    assert_eq!(
        calls(&stats, "send-sms", "ok"),
        24,
        "2350 cids / 100 = 24 calls"
    );
    assert_eq!(calls_total(&stats, "send-sms"), 24);
    let rows = read_report(&run_dir.join("report.csv"));
    assert_rows_in_order(&rows, 2365);
    let counts = status_counts(&rows);
    assert_eq!(counts["ok"], 2350);
    assert_eq!(counts["invalid"], 10);
    assert_eq!(counts["duplicate"], 5);
    let mut per_batch: HashMap<String, usize> = HashMap::new();
    for r in rows.iter().filter(|r| r["status"] == "ok") {
        *per_batch.entry(r["batch"].clone()).or_default() += 1;
        assert_eq!(r["order_id"], "777");
    }
    assert_eq!(per_batch.len(), 24);
    assert!(per_batch.values().all(|n| *n <= 100), "{per_batch:?}");
    // The simulator sent exactly to the report's ok cids, once each.
    let sent = sent_per_cid(&sim);
    let ok: HashSet<String> = rows
        .iter()
        .filter(|r| r["status"] == "ok")
        .map(|r| r["cid"].clone())
        .collect();
    assert_eq!(sent.keys().cloned().collect::<HashSet<_>>(), ok);
    assert!(sent.values().all(|n| *n == 1));

    // follow: the details carry the run's content (else nothing would match), delivered or
    // failed as the simulator decided, read in a few window pages rather than 2,350 calls.
    let mut f = gsl();
    f.arg("follow").arg(&run_dir).args(["--rate", "200", "-q"]);
    let fr = run(f).await;
    // A tenth of the cards fail delivery in the simulator: follow's exit code says so.
    assert_eq!(fr.code, 1, "{}", fr.stderr);
    assert!(calls_total(&sim.stats(), "sms-details") <= 6);
    let rows = read_report(&run_dir.join("report.csv"));
    let by_cid: HashMap<&str, &InventoryCard> =
        cards.iter().map(|c| (c.iccid.as_str(), c)).collect();
    for r in rows.iter().filter(|r| r["status"] == "ok") {
        let card = by_cid[r["cid"].as_str()];
        let want = if card.sim_card_id % 10 == 7 {
            "failed"
        } else {
            "delivered"
        };
        assert_eq!(r["sms_status"], want, "{r:?}");
        assert!(!r["sent_time"].is_empty());
    }
}

/// The SPEC's bound on the calls a refused batch costs: 2·⌈log2(batch size)⌉ per bad cid.
fn extra_call_bound(batch: usize, bad: usize) -> u64 {
    (2 * (batch as f64).log2().ceil() as usize * bad) as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_foreign_cid_is_bisected_out_and_the_100_others_are_sent_once() {
    let mut cards = sms_cards(0, 100, ORDER);
    cards.extend(sms_cards(300, 1, OTHER_ORDER));
    let sim = sms_sim(cards.clone()).await;
    let dir = tempdir();
    let mut input: Vec<String> = cards.iter().take(100).map(|c| c.iccid.clone()).collect();
    let foreign = cards[100].iccid.clone();
    input.insert(30, foreign.clone()); // row 31: in the first batch of 50
    let path = write_csv(dir.path(), "cids.csv", &input);
    let run_dir = dir.path().join("run");
    let mut cmd = send_sms(&path, &sim, &run_dir, "hello");
    cmd.args(["--order-id", "777", "--batch-size", "50"]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, 1, "a failed row makes exit 1: {}", ran.stderr);

    let rows = read_report(&run_dir.join("report.csv"));
    assert_rows_in_order(&rows, 101);
    let sent = sent_per_cid(&sim);
    for r in &rows {
        if r["cid"] == foreign {
            assert_eq!(r["status"], "failed", "{r:?}");
            assert_eq!(r["http_status"], "400");
            assert_eq!(r["error_code"], "GSL.00010004");
            assert!(!sent.contains_key(&foreign));
        } else {
            assert_eq!(r["status"], "ok", "{r:?}");
            assert_eq!(sent.get(&r["cid"]), Some(&1), "{} sent once", r["cid"]);
        }
    }
    assert_eq!(sent.len(), 100);
    let stats = sim.stats();
    let total = calls_total(&stats, "send-sms");
    // 3 batches (50, 50, 1), plus the halves that isolate the foreign cid.
    assert!(total > 3, "the refused batch was split: {total} calls");
    assert!(
        total <= 3 + extra_call_bound(50, 1),
        "{total} calls: over the SPEC's bound of 3 + {}",
        extra_call_bound(50, 1)
    );
    assert_eq!(
        calls(&stats, "send-sms", "ok") + calls(&stats, "send-sms", "error"),
        total
    );
    // Each refusal on the way down is its own batch in the report: the foreign cid's.
    let foreign_batch = &rows.iter().find(|r| r["cid"] == foreign).unwrap()["batch"];
    assert_eq!(
        rows.iter().filter(|r| &r["batch"] == foreign_batch).count(),
        1,
        "the foreign cid ends alone in its batch"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_in_the_middle_of_a_split_then_resume_sends_nothing_twice() {
    let mut cards = sms_cards(0, 100, ORDER);
    cards.extend(sms_cards(300, 1, OTHER_ORDER));
    let sim = sms_sim(cards.clone()).await;
    let dir = tempdir();
    let mut input: Vec<String> = cards.iter().take(100).map(|c| c.iccid.clone()).collect();
    let foreign = cards[100].iccid.clone();
    input.insert(10, foreign.clone());
    let path = write_csv(dir.path(), "cids.csv", &input);
    let run_dir = dir.path().join("run");
    // One call a second, one at a time: the first batch is refused, its split is made durable,
    // and the first half's call is a second away. The kill comes once the journal holds the
    // split (its halves are batches past the input's 3).
    let mut cmd = send_sms_at(&path, &sim, &run_dir, "hello", 1);
    cmd.args([
        "--order-id",
        "777",
        "--batch-size",
        "50",
        "--concurrency",
        "1",
    ]);
    let mut child = spawn_logged(cmd, dir.path(), "first");
    let journal = run_dir.join("journal.sqlite");
    wait_until("the split in the journal", Duration::from_secs(20), || {
        rusqlite::Connection::open_with_flags(&journal, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .and_then(|db| {
                db.query_row("SELECT count(*) FROM rows WHERE batch > 3", [], |r| {
                    r.get::<_, i64>(0)
                })
            })
            .is_ok_and(|n| n == 50)
    })
    .await;
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert_eq!(
        calls_total(&sim.stats(), "send-sms"),
        1,
        "killed between the refusal and the first half"
    );

    let mut resume = gsl();
    resume
        .arg("resume")
        .arg(&run_dir)
        .args(["--rate", "200", "-q"]);
    let ran = run(resume).await;
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let rows = read_report(&run_dir.join("report.csv"));
    assert_rows_in_order(&rows, 101);
    let counts = status_counts(&rows);
    assert_eq!(counts.get("ok"), Some(&100), "{counts:?}");
    assert_eq!(counts.get("failed"), Some(&1), "{counts:?}");
    let sent = sent_per_cid(&sim);
    assert_eq!(sent.len(), 100);
    assert!(
        sent.values().all(|n| *n == 1),
        "nothing sent twice: {sent:?}"
    );
    assert!(!sent.contains_key(&foreign));
    let total = calls_total(&sim.stats(), "send-sms");
    assert!(total <= 3 + extra_call_bound(50, 1), "{total} calls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_batch_is_unknown_never_resent_and_follow_proves_it_a_busy_one_is_retried() {
    let cards = sms_cards(0, 300, ORDER);
    let sim = sms_sim(cards.clone()).await;
    let dir = tempdir();
    let input = iccids_of(&cards);
    let path = write_csv(dir.path(), "cids.csv", &input);
    let run_dir = dir.path().join("run");
    // 4 calls a second and 20 tries: the test's switches of the faults below have 250 ms
    // between calls to land in, and a busy spell that lasts a while still ends in a send.
    let mut cmd = send_sms_at(&path, &sim, &run_dir, "drop test", 4);
    cmd.args([
        "--batch-size",
        "50",
        "--concurrency",
        "1",
        "--max-attempts",
        "20",
    ]);
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // The first call is dropped after the work, then the next one answered busy, then calm.
    sim.set_faults(gslbatch::simulator::Faults {
        drop_rate: 1.0,
        ..sim.faults()
    });
    let mut child = cmd.spawn().expect("spawn");
    wait_until("a dropped call", Duration::from_secs(10), || {
        calls(&sim.stats(), "send-sms", "dropped") >= 1
    })
    .await;
    sim.set_faults(gslbatch::simulator::Faults {
        drop_rate: 0.0,
        busy_rate: 1.0,
        ..sim.faults()
    });
    wait_until("a busy call", Duration::from_secs(10), || {
        calls(&sim.stats(), "send-sms", "busy") >= 1
    })
    .await;
    sim.set_faults(gslbatch::simulator::Faults {
        busy_rate: 0.0,
        ..sim.faults()
    });
    let code = tokio::task::spawn_blocking(move || child.wait().unwrap().code().unwrap())
        .await
        .unwrap();
    assert_eq!(code, 1, "unknown rows make exit 1");
    let stats = sim.stats();
    let dropped = calls(&stats, "send-sms", "dropped");
    let rows = read_report(&run_dir.join("report.csv"));
    assert_eq!(count(&rows, "unknown") as u64, 50 * dropped);
    assert_eq!(count(&rows, "ok") as u64, 300 - 50 * dropped);
    assert!(
        rows.iter()
            .any(|r| r["status"] == "ok" && r["attempts"].parse::<u32>().unwrap() >= 2),
        "the busy batch was retried and went out"
    );
    // Every cid got exactly one message: the dropped batches were sent once, never again.
    let sent = sent_per_cid(&sim);
    assert_eq!(sent.len(), 300);
    assert!(sent.values().all(|n| *n == 1));

    // resume does not send unknown rows again.
    let mut r = gsl();
    r.arg("resume").arg(&run_dir).arg("-q");
    assert_eq!(run(r).await.code, 1);
    assert_eq!(
        calls_total(&sim.stats(), "send-sms"),
        calls_total(&stats, "send-sms")
    );

    // follow finds the messages the simulator did send: the unknown rows become ok.
    let mut f = gsl();
    f.arg("follow").arg(&run_dir).args(["--rate", "100", "-q"]);
    let fr = run(f).await;
    // Nothing is unknown any more; the cards that fail delivery make it exit 1.
    assert_eq!(fr.code, 1, "{}", fr.stderr);
    let rows = read_report(&run_dir.join("report.csv"));
    assert_eq!(count(&rows, "ok"), 300);
    let proven = rows
        .iter()
        .filter(|r| r["error_msg"].contains("follow: outcome proven"))
        .count() as u64;
    assert_eq!(proven, 50 * dropped);
    assert_eq!(
        sent_per_cid(&sim).values().sum::<u64>(),
        300,
        "follow sends nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_content_or_no_valid_cid_exits_2_and_sends_nothing() {
    let cards = sms_cards(0, 20, ORDER);
    let sim = sms_sim(cards.clone()).await;
    let dir = tempdir();
    let input = iccids_of(&cards);
    let path = write_csv(dir.path(), "cids.csv", &input);
    let bad = write_csv(dir.path(), "bad.csv", &["123".into(), "not-a-cid".into()]);
    let cases: Vec<(&str, Command)> = vec![
        (
            "1,001 characters",
            send_sms(&path, &sim, &dir.path().join("a"), &"x".repeat(1001)),
        ),
        (
            "empty content",
            send_sms(&path, &sim, &dir.path().join("b"), ""),
        ),
        (
            "no valid cid",
            send_sms(&bad, &sim, &dir.path().join("c"), "hi"),
        ),
        ("batch size 0", {
            let mut c = send_sms(&path, &sim, &dir.path().join("d"), "hi");
            c.args(["--batch-size", "0"]);
            c
        }),
        ("batch size 501", {
            let mut c = send_sms(&path, &sim, &dir.path().join("e"), "hi");
            c.args(["--batch-size", "501"]);
            c
        }),
        ("no input and no order", {
            let mut c = gsl();
            c.args(["send-sms", "--content", "hi", "--yes", "--endpoint"])
                .arg(sim.url());
            c
        }),
        ("no --yes without a terminal", {
            let mut c = gsl();
            c.arg("send-sms")
                .arg(&path)
                .args(["--content", "hi", "--endpoint"]);
            c.arg(sim.url()).arg("--run-dir").arg(dir.path().join("f"));
            c
        }),
    ];
    for (what, cmd) in cases {
        let ran = run(cmd).await;
        assert_eq!(ran.code, 2, "{what}: {}", ran.stderr);
        if what.starts_with("no --yes") {
            assert!(
                ran.stderr
                    .contains("about to send \"hi\" to 20 cards in 1 batch "),
                "{}",
                ran.stderr
            );
        }
    }
    assert_eq!(
        stat_u64(&sim.stats(), "requests_total"),
        0,
        "nothing was sent"
    );

    // 1,000 Chinese characters are within the limit (counted as characters, not bytes).
    let content = "维".repeat(1000);
    let run_dir = dir.path().join("zh");
    let ran = run(send_sms(&path, &sim, &run_dir, &content)).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(stat_u64(&sim.stats(), "sms_sent"), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rehearsal_puts_the_cards_in_the_order_and_sends_nothing_real() {
    let cards = sms_cards(0, 30, ORDER);
    let dir = tempdir();
    let input = iccids_of(&cards);
    let path = write_csv(dir.path(), "cids.csv", &input);
    let run_dir = dir.path().join("run");
    let mut cmd = bare();
    cmd.arg("send-sms")
        .arg(&path)
        .args([
            "--content",
            "rehearsal",
            "--order-id",
            "20261126",
            "--rehearse",
            "--yes",
        ])
        .args(["--rate", "100", "--batch-size", "10", "-q", "--run-dir"])
        .arg(&run_dir);
    let ran = run(cmd).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let rows = read_report(&run_dir.join("report.csv"));
    assert_eq!(count(&rows, "ok"), 30);
    assert!(rows.iter().all(|r| r["order_id"] == "20261126"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_order_without_input_is_one_call_and_one_report_row() {
    let mut cards = sms_cards(0, 40, ORDER);
    // Cards of another order must not get the message.
    cards.extend(sms_cards(40, 10, ORDER + 1));
    let sim = sms_sim(cards.clone()).await;
    let dir = tempdir();
    let run_dir = dir.path().join("run");
    let mut cmd = gsl();
    cmd.arg("send-sms")
        .args(["--content", "whole order", "--order-id", &ORDER.to_string()])
        .args(["--endpoint", &sim.url(), "--rate", "100", "--yes", "-q"])
        .arg("--run-dir")
        .arg(&run_dir);
    let ran = run(cmd).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(
        calls(&sim.stats(), "send-sms", "ok"),
        1,
        "one call for the order"
    );
    let rows = read_report(&run_dir.join("report.csv"));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["status"], "ok");
    assert_eq!(rows[0]["cid"], "");
    assert_eq!(rows[0]["order_id"], ORDER.to_string());
    let sent = sent_per_cid(&sim);
    assert_eq!(sent.len(), 40, "every card of the order, none of the other");
    assert!(sent.values().all(|n| *n == 1));
    assert!(cards[40..].iter().all(|c| !sent.contains_key(&c.iccid)));
}
