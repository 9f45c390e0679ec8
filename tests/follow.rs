//! `follow` against the simulator: work orders move from processing to success and the card
//! reads `real_named: false`; `unknown` rows become `ok` only when the simulator's own records
//! prove the card was cleared — checked against those records through the client.

use crate::common::*;
use gslbatch::gsl::types::Page;
use gslbatch::simulator::{Carrier, SimConfig};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_run_work_orders_go_from_processing_to_success() {
    // Every order still processing when the first follow ended (the simulator's own count),
    // whatever the machine's speed: that follow read them processing.
    let p = clear_then_follow_while_processing(SimConfig::default().cards, 20, 100).await;
    let (sim, iccids, run_dir, first) = (&p.sim, &p.iccids, &p.run_dir, &p.first);
    assert_eq!(first.code, 4, "still processing: {}", first.stderr);
    let rows = read_report(&run_dir.join("report.csv"));
    assert!(rows.iter().all(|r| r["work_order_status"] == "processing"));
    // The list settles them: one call for the 20 orders, none read one by one.
    let stats = sim.stats();
    assert_eq!(calls_total(&stats, "work-orders"), 1, "{stats}");
    assert_eq!(calls_total(&stats, "work-order-details"), 0, "{stats}");

    let limit = Duration::from_secs_f64(p.secs * 2.0 + 20.0);
    wait_until("the work orders finish", limit, || {
        stat_u64(&sim.stats(), "work_orders_processing") == 0
    })
    .await;
    let second = run(follow_cmd(run_dir)).await;
    assert_eq!(second.code, 0, "{}", second.stderr);
    let rows = read_report(&run_dir.join("report.csv"));
    assert_rows_in_order(&rows, 20);
    for r in &rows {
        assert_eq!(r["status"], "ok");
        assert_eq!(r["work_order_status"], "success");
        assert_eq!(
            r["work_order_detail"], "",
            "a wholly successful order is not read"
        );
    }
    for c in sim.cards().iter().filter(|c| iccids.contains(&c.iccid)) {
        assert!(!c.real_named, "{} cleared", c.iccid);
    }
    // The second follow reads the list again, as the first left the orders processing.
    let lists = 2;
    let stats = sim.stats();
    assert_eq!(calls_total(&stats, "work-orders"), lists, "{stats}");
    assert_eq!(calls_total(&stats, "work-order-details"), 0, "{stats}");
    // A third follow has nothing left to read.
    assert_eq!(run(follow_cmd(run_dir)).await.code, 0);
    let after = sim.stats();
    assert_eq!(calls_total(&after, "work-orders"), lists, "{after}");
    assert_eq!(calls_total(&after, "work-order-details"), 0, "{after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_work_orders_are_read_for_their_reason_and_the_rest_come_from_the_list() {
    let sim = start_sim(SimConfig {
        work_order_fail_rate: 0.3,
        ..SimConfig::default()
    })
    .await;
    let dir = tempdir();
    let (telecom, _) = split_cards(&sim);
    // Real-named cards only: after the run, those still real-named are the failed clears.
    let iccids: Vec<String> = telecom
        .iter()
        .filter(|c| c.real_named)
        .take(60)
        .map(|c| c.iccid.clone())
        .collect();
    assert_eq!(iccids.len(), 60);
    let input = write_csv(dir.path(), "in.csv", &iccids);
    let run_dir = dir.path().join("run");
    let ran = run(batch("clear-real-name", &input, &sim, &run_dir, 100)).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);

    let f = run(follow_cmd(&run_dir)).await;
    assert_eq!(
        f.code, 1,
        "some orders failed, nothing unknown or processing: {}",
        f.stderr
    );
    let rows = read_report(&run_dir.join("report.csv"));
    assert_rows_in_order(&rows, 60);
    let still_named: std::collections::HashSet<String> = sim
        .cards()
        .into_iter()
        .filter(|c| c.real_named && iccids.contains(&c.iccid))
        .map(|c| c.iccid)
        .collect();
    assert!(
        !still_named.is_empty() && still_named.len() < 60,
        "a share of the clears failed: {}",
        still_named.len()
    );
    for r in &rows {
        if still_named.contains(&r["iccid"]) {
            assert_eq!(r["work_order_status"], "failed", "{r:?}");
            assert_eq!(
                r["work_order_detail"], "the carrier did not clear the real-name data",
                "{r:?}"
            );
        } else {
            assert_eq!(r["work_order_status"], "success", "{r:?}");
            assert_eq!(r["work_order_detail"], "", "{r:?}");
        }
    }
    // One list call for the 60 orders; details only for the failed ones.
    let stats = sim.stats();
    assert_eq!(calls_total(&stats, "work-orders"), 1, "{stats}");
    assert_eq!(
        calls_total(&stats, "work-order-details"),
        still_named.len() as u64,
        "{stats}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follow_with_few_orders_left_reads_one_list_page_then_their_details() {
    let sim = start_sim(SimConfig {
        cards: 3_000,
        ..SimConfig::default()
    })
    .await;
    let dir = tempdir();
    let iccids = telecom_iccids(&sim, 1_100);
    let input = write_csv(dir.path(), "in.csv", &iccids);
    let run_dir = dir.path().join("run");
    let ran = run(batch("clear-real-name", &input, &sim, &run_dir, 5000)).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let f = run(follow_cmd(&run_dir)).await;
    assert_eq!(f.code, 0, "{}", f.stderr);
    let stats = sim.stats();
    assert_eq!(
        calls_total(&stats, "work-orders"),
        3,
        "1,100 orders in 3 pages: {stats}"
    );
    assert_eq!(calls_total(&stats, "work-order-details"), 0, "{stats}");

    // One row left open (its oldest order, on the list's last page): page 1 shows it is
    // cheaper to read that one order than the 2 pages left.
    let conn = rusqlite::Connection::open(run_dir.join("journal.sqlite")).unwrap();
    conn.execute(
        "UPDATE rows SET follow_status = 'processing', follow_detail = 'processing' WHERE row = 1",
        [],
    )
    .unwrap();
    drop(conn);
    let f = run(follow_cmd(&run_dir)).await;
    assert_eq!(f.code, 0, "{}", f.stderr);
    let after = sim.stats();
    assert_eq!(calls_total(&after, "work-orders"), 4, "{after}");
    assert_eq!(calls_total(&after, "work-order-details"), 1, "{after}");
    let rows = read_report(&run_dir.join("report.csv"));
    assert_eq!(rows[0]["work_order_status"], "success");
    assert_eq!(
        rows[0]["work_order_detail"], "success",
        "read from its details"
    );
    assert_eq!(rows[1]["work_order_detail"], "", "settled by the list");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_follow_keeps_what_it_wrote_and_the_next_one_finishes() {
    // Every order fails, so each is read on its own: 450 reads at 50/s, 9 s.
    let sim = start_sim(SimConfig {
        cards: 2_000,
        work_order_fail_rate: 1.0,
        ..SimConfig::default()
    })
    .await;
    let dir = tempdir();
    let iccids = telecom_iccids(&sim, 450);
    let input = write_csv(dir.path(), "in.csv", &iccids);
    let run_dir = dir.path().join("run");
    let ran = run(batch("clear-real-name", &input, &sim, &run_dir, 1000)).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);

    let mut slow = gsl();
    slow.arg("follow").arg(&run_dir).args(["--rate", "50"]);
    let mut child = spawn_logged(slow, dir.path(), "follow");
    // Past the first chunk of 200 orders, then interrupted.
    wait_until("250 detail reads", Duration::from_secs(30), || {
        calls_total(&sim.stats(), "work-order-details") >= 250
    })
    .await;
    signal(&child, "INT");
    let code = wait_exit(&mut child, Duration::from_secs(20)).await;
    let stderr = std::fs::read_to_string(dir.path().join("follow.err")).unwrap();
    assert_eq!(code, 130, "{stderr}");
    assert!(stderr.contains("follow interrupted after"), "{stderr}");
    let rows = read_report(&run_dir.join("report.csv"));
    assert_rows_in_order(&rows, 450);
    let kept = rows
        .iter()
        .filter(|r| r["work_order_status"] == "failed")
        .count();
    assert!(kept >= 200, "the first chunk was written: {kept}");
    assert!(kept < 450, "interrupted before the end: {kept}");
    assert!(rows.iter().all(|r| r["status"] == "ok"));

    // The next follow reads only what was not written (the interrupted chunk again).
    let before = calls_total(&sim.stats(), "work-order-details");
    let f = run(follow_cmd(&run_dir)).await;
    assert_eq!(f.code, 1, "every order failed: {}", f.stderr);
    let rows = read_report(&run_dir.join("report.csv"));
    assert!(rows.iter().all(|r| r["work_order_status"] == "failed"));
    let read = calls_total(&sim.stats(), "work-order-details") - before;
    assert_eq!(
        read,
        450 - kept as u64,
        "only the orders not yet written are read"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_rows_become_ok_only_with_a_work_order_for_the_card() {
    let sim = start_sim(SimConfig {
        drop_rate: 0.5,
        ..SimConfig::default()
    })
    .await;
    let dir = tempdir();
    let (telecom, others) = split_cards(&sim);
    let mobile = others
        .iter()
        .find(|c| c.carrier == Carrier::ChinaMobile)
        .unwrap()
        .iccid
        .clone();
    let mut iccids: Vec<String> = telecom.iter().take(30).map(|c| c.iccid.clone()).collect();
    iccids.push(mobile.clone());
    let input = write_csv(dir.path(), "in.csv", &iccids);
    let run_dir = dir.path().join("run");
    let ran = run(batch("clear-real-name", &input, &sim, &run_dir, 100)).await;
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let rows = read_report(&run_dir.join("report.csv"));
    // Telecom rows whose answer was dropped (the China Mobile row may be among the unknown too).
    let unknown = rows[..30]
        .iter()
        .filter(|r| r["status"] == "unknown")
        .count();
    assert!(unknown > 0, "drop_rate 0.5 over 31 rows drops some");
    // China Mobile cards cannot be cleared: refused (or its refusal dropped on the way back).
    assert!(matches!(rows[30]["status"].as_str(), "failed" | "unknown"));

    // A row that is unknown although nothing happened: a request that timed out before the
    // service acted looks exactly like one that timed out after (the simulator always acts
    // first, so the journal is edited to stand for it). The card has no work order at all.
    let conn = rusqlite::Connection::open(run_dir.join("journal.sqlite")).unwrap();
    conn.execute(
        "UPDATE rows SET status = 'unknown', http_status = NULL, error_code = 'TIMEOUT',
         error_msg = 'no answer within 30s: it may or may not have happened' WHERE key = ?1",
        [&mobile],
    )
    .unwrap();
    drop(conn);

    // follow reads a calm API (its reads would be retried through drops, but not forever).
    sim.set_faults(gslbatch::simulator::Faults {
        drop_rate: 0.0,
        ..sim.faults()
    });
    let f = run(follow_cmd(&run_dir)).await;
    assert_eq!(f.code, 1, "one row cannot be proven: {}", f.stderr);
    let rows = read_report(&run_dir.join("report.csv"));
    assert_eq!(
        count(&rows, "ok"),
        30,
        "every cleared card proven, nothing else"
    );
    let last = &rows[30];
    assert_eq!(last["status"], "unknown");
    assert!(
        last["error_msg"].starts_with("no answer within 30s")
            && last["error_msg"].contains("follow: no work order found for this card since"),
        "{}",
        last["error_msg"]
    );
    // Each settled row carries the work order the simulator created for that very card.
    let client = aksk_client(&sim);
    let stats = sim.stats();
    for r in rows.iter().take(30) {
        assert_eq!(clears_of(&stats, &r["iccid"]), 1);
        let id: i64 = r["work_order_id"].parse().expect("work order id");
        let d = client
            .work_order_details(id, &Page::new(10, 1))
            .await
            .unwrap();
        assert_eq!(
            d.work_order_details[0].cid.as_deref(),
            Some(r["iccid"].as_str())
        );
        assert_eq!(r["work_order_status"], "success");
    }
    assert_eq!(
        rows.iter()
            .filter(|r| r["error_msg"].contains("follow: outcome proven by work order"))
            .count(),
        unknown
    );
    for r in rows
        .iter()
        .filter(|r| r["error_msg"].contains("follow: outcome proven"))
    {
        assert_eq!(
            r["error_code"], "",
            "an ok row carries no error code: {r:?}"
        );
    }

    // Again: the unprovable row keeps one reason, not two.
    assert_eq!(run(follow_cmd(&run_dir)).await.code, 1);
    let rows = read_report(&run_dir.join("report.csv"));
    assert_eq!(rows[30]["error_msg"].matches("follow:").count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_refuses_what_it_cannot_follow() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let missing = run(follow_cmd(&dir.path().join("nope"))).await;
    assert_eq!(missing.code, 2);
    let iccids: Vec<String> = first_iccids(&sim, 3);
    let input = write_csv(dir.path(), "in.csv", &iccids);
    let run_dir = dir.path().join("check");
    assert_eq!(
        run(batch("check-real-name", &input, &sim, &run_dir, 100))
            .await
            .code,
        0
    );
    let f = run(follow_cmd(&run_dir)).await;
    assert_eq!(f.code, 2, "{}", f.stderr);
    assert!(f.stderr.contains("check-real-name run"), "{}", f.stderr);
}
