//! The card-state operations (stop, restore, activate, network, speed, data cap, IMEI) and the
//! usage report, against the simulator: each test asserts the report's rows and the simulator's
//! own record (calls per API, work orders per card, the cards' state).

use crate::common::*;
use gslbatch::simulator::{Faults, InventoryCard, SimConfig, Simulator};
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// `gslbatch OP INPUT --yes` against `sim` with its own state dir (the account ledger).
fn card_op(op: &str, input: &Path, sim: &Simulator, run_dir: &Path, state: &Path) -> Command {
    let mut c = batch(op, input, sim, run_dir, 200);
    c.arg("--yes").env("GSL_STATE_DIR", state);
    c
}

/// Work orders the simulator created for each card, of one work-order type.
fn orders_per_card(sim: &Simulator, work_order_type: u32) -> HashMap<String, u64> {
    let stats = sim.stats();
    stats["work_orders_per_card"][work_order_type.to_string()]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
                .collect()
        })
        .unwrap_or_default()
}

fn card<'a>(cards: &'a [InventoryCard], iccid: &str) -> &'a InventoryCard {
    cards
        .iter()
        .find(|c| c.iccid == iccid)
        .expect("card in the simulator")
}

/// Wait until every work order the simulator created has finished (the simulator says so).
async fn orders_finish(sim: &Simulator) {
    wait_until("the work orders finish", Duration::from_secs(20), || {
        stat_u64(&sim.stats(), "work_orders_processing") == 0
    })
    .await;
}

fn quick_orders() -> SimConfig {
    SimConfig {
        cards: 1400,
        work_order_secs: 0.2,
        ..SimConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_card_of_1000_cards_stops_each_once_and_restore_card_brings_them_back() {
    // The gateway holds the quota the run is paced at: a call over it would be a 429.
    let sim = start_sim(SimConfig {
        rate: Some(200),
        ..quick_orders()
    })
    .await;
    let dir = tempdir();
    let state = dir.path().join("state");
    let ids: Vec<String> = sim
        .cards()
        .iter()
        .filter(|c| c.sim_status == 20)
        .take(1000)
        .map(|c| c.iccid.clone())
        .collect();
    assert_eq!(ids.len(), 1000);
    let input = write_csv(dir.path(), "in.csv", &ids);
    let ran = run(card_op(
        "stop-card",
        &input,
        &sim,
        &dir.path().join("stop"),
        &state,
    ))
    .await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let stats = sim.stats();
    assert_eq!(calls(&stats, "stop", "ok"), 1000);
    // As for clears (engine.rs): a late timer may land one call in a full second; bounded at 5%
    // so a loaded host is not flaky.
    let throttled = calls(&stats, "stop", "throttled");
    assert!(
        throttled * 20 <= 1000,
        "paced at the quota: {throttled} answered 429"
    );
    let rows = read_report(&dir.path().join("stop/report.csv"));
    assert_rows_in_order(&rows, 1000);
    assert_eq!(count(&rows, "ok"), 1000);
    for r in &rows {
        let sim_wo = stats["work_order_of_card"][&r["iccid"]].as_u64().unwrap();
        assert_eq!(r["work_order_id"], sim_wo.to_string(), "{r:?}");
    }
    let stops = orders_per_card(&sim, 5);
    assert_eq!(stops.len(), 1000);
    assert!(stops.values().all(|n| *n == 1), "each card stopped once");
    orders_finish(&sim).await;
    let cards = sim.cards();
    assert!(ids.iter().all(|i| card(&cards, i).sim_status == 14));

    let ran = run(card_op(
        "restore-card",
        &input,
        &sim,
        &dir.path().join("restore"),
        &state,
    ))
    .await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(calls(&sim.stats(), "reset", "ok"), 1000);
    assert!(orders_per_card(&sim, 4).values().all(|n| *n == 1));
    orders_finish(&sim).await;
    let cards = sim.cards();
    assert!(ids.iter().all(|i| card(&cards, i).sim_status == 20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_stop_is_unknown_never_resent_and_follow_settles_it() {
    let sim = start_sim(quick_orders()).await;
    sim.set_faults(Faults {
        drop_rate: 0.4,
        ..Faults::default()
    });
    let dir = tempdir();
    let state = dir.path().join("state");
    let ids: Vec<String> = sim
        .cards()
        .iter()
        .filter(|c| c.sim_status == 20)
        .take(30)
        .map(|c| c.iccid.clone())
        .collect();
    let input = write_csv(dir.path(), "in.csv", &ids);
    let run_dir = dir.path().join("run");
    let ran = run(card_op("stop-card", &input, &sim, &run_dir, &state)).await;
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let rows = read_report(&run_dir.join("report.csv"));
    let unknown = count(&rows, "unknown");
    assert!(unknown > 0, "drop_rate 0.4 over 30 cards drops some");
    assert_eq!(count(&rows, "ok") + unknown, 30);
    assert_eq!(calls_total(&sim.stats(), "stop"), 30, "nothing sent twice");
    sim.set_faults(Faults::default());

    let mut resume = gsl();
    resume
        .arg("resume")
        .arg(&run_dir)
        .args(["-q", "--rate", "200"]);
    resume.env("GSL_STATE_DIR", &state);
    let ran = run(resume).await;
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert_eq!(
        calls_total(&sim.stats(), "stop"),
        30,
        "resume resends no unknown row"
    );

    orders_finish(&sim).await;
    let mut follow = gsl();
    follow
        .arg("follow")
        .arg(&run_dir)
        .args(["-q", "--rate", "200"]);
    follow.env("GSL_STATE_DIR", &state);
    let ran = run(follow).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let rows = read_report(&run_dir.join("report.csv"));
    assert_eq!(
        count(&rows, "ok"),
        30,
        "each dropped stop found in its work order"
    );
    assert!(rows.iter().all(|r| r["outcome"] == "done"), "{rows:?}");
    assert!(orders_per_card(&sim, 5).values().all(|n| *n == 1));
    let cards = sim.cards();
    assert!(ids.iter().all(|i| card(&cards, i).sim_status == 14));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_speed_the_carrier_does_not_offer_is_invalid_and_a_valid_one_reaches_the_cards() {
    let sim = start_sim(quick_orders()).await;
    let dir = tempdir();
    let state = dir.path().join("state");
    let ids = telecom_iccids(&sim, 20);
    let input = write_csv(dir.path(), "in.csv", &ids);
    let mut c = card_op(
        "set-speed-limit",
        &input,
        &sim,
        &dir.path().join("unicom"),
        &state,
    );
    c.args(["--kbps", "7424"]);
    let ran = run(c).await;
    assert_eq!(
        ran.code, 2,
        "no valid card: nothing to send: {}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("China Telecom does not offer"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("1, 64, 256, 512 Kbps"),
        "names the allowed values: {}",
        ran.stderr
    );
    assert_eq!(calls_total(&sim.stats(), "speed-limit"), 0);

    let mut c = card_op(
        "set-speed-limit",
        &input,
        &sim,
        &dir.path().join("telecom"),
        &state,
    );
    c.args(["--kbps", "1024"]);
    let ran = run(c).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(calls_total(&sim.stats(), "speed-limit"), 20);
    assert_eq!(
        count(&read_report(&dir.path().join("telecom/report.csv")), "ok"),
        20
    );
    orders_finish(&sim).await;
    let cards = sim.cards();
    assert!(ids.iter().all(|i| card(&cards, i).state.speed_kbps == 1024));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_cap_is_set_then_cancelled_and_follow_reads_each_type() {
    let sim = start_sim(quick_orders()).await;
    let dir = tempdir();
    let state = dir.path().join("state");
    let ids = telecom_iccids(&sim, 10);
    let input = write_csv(dir.path(), "in.csv", &ids);
    let mut c = card_op(
        "set-data-cap",
        &input,
        &sim,
        &dir.path().join("set"),
        &state,
    );
    c.args(["--mb", "500", "--follow=20s"]);
    let ran = run(c).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let cards = sim.cards();
    assert!(ids
        .iter()
        .all(|i| card(&cards, i).state.data_cap_mb == Some(500)));
    assert_eq!(orders_per_card(&sim, 12).len(), 10);

    let mut c = card_op(
        "set-data-cap",
        &input,
        &sim,
        &dir.path().join("cancel"),
        &state,
    );
    c.args(["--cancel", "--follow=20s"]);
    let ran = run(c).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let rows = read_report(&dir.path().join("cancel/report.csv"));
    assert!(
        rows.iter().all(|r| r["outcome"] == "done"),
        "type-21 orders followed: {rows:?}"
    );
    let cards = sim.cards();
    assert!(ids
        .iter()
        .all(|i| card(&cards, i).state.data_cap_mb.is_none()));
    assert_eq!(orders_per_card(&sim, 21).len(), 10);

    let mut c = card_op(
        "set-data-cap",
        &input,
        &sim,
        &dir.path().join("bad"),
        &state,
    );
    c.args(["--mb", "-5"]);
    let ran = run(c).await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert_eq!(calls_total(&sim.stats(), "exceed-cut-net"), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_imei_takes_each_rows_imei_and_a_bad_one_is_invalid() {
    let sim = start_sim(quick_orders()).await;
    let dir = tempdir();
    let state = dir.path().join("state");
    let ids = telecom_iccids(&sim, 6);
    let imeis = [
        "860000000000011",
        "860000000000029",
        "86000000000003", // 14 digits
        "860000000000045",
        "8.60000E+14", // as Excel shows a number
        "860000000000060",
    ];
    let mut text = String::from("iccid,IMEI,site\n");
    for (i, (iccid, imei)) in ids.iter().zip(imeis).enumerate() {
        text.push_str(&format!("{iccid},{imei},s{i}\n"));
    }
    let input = dir.path().join("devices.csv");
    std::fs::write(&input, text).unwrap();
    let run_dir = dir.path().join("run");
    let ran = run(card_op("bind-imei", &input, &sim, &run_dir, &state)).await;
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let rows = read_report(&run_dir.join("report.csv"));
    assert_eq!(count(&rows, "ok"), 4);
    assert_eq!(count(&rows, "invalid"), 2);
    assert!(
        rows[2]["error_msg"].contains("not 15 digits"),
        "{:?}",
        rows[2]
    );
    assert!(rows[4]["error_msg"].contains("Excel"), "{:?}", rows[4]);
    assert_eq!(calls_total(&sim.stats(), "bind-device"), 4);
    orders_finish(&sim).await;
    let cards = sim.cards();
    for (iccid, imei) in ids.iter().zip(imeis) {
        let want = if imei.len() == 15 { imei } else { "" };
        assert_eq!(card(&cards, iccid).state.imei, want, "{iccid}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_card_of_the_same_cards_twice_skips_them_all_the_second_time() {
    let sim = start_sim(quick_orders()).await;
    let dir = tempdir();
    let state = dir.path().join("state");
    let ids: Vec<String> = sim
        .cards()
        .iter()
        .filter(|c| c.sim_status == 20)
        .take(25)
        .map(|c| c.iccid.clone())
        .collect();
    let input = write_csv(dir.path(), "in.csv", &ids);
    let ran = run(card_op(
        "stop-card",
        &input,
        &sim,
        &dir.path().join("a"),
        &state,
    ))
    .await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let ran = run(card_op(
        "stop-card",
        &input,
        &sim,
        &dir.path().join("b"),
        &state,
    ))
    .await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let rows = read_report(&dir.path().join("b/report.csv"));
    assert_eq!(count(&rows, "skipped"), 25);
    assert_eq!(
        calls_total(&sim.stats(), "stop"),
        25,
        "the second run sent nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_of_1234_cards_takes_25_calls_and_matches_the_simulator() {
    let sim = start_sim(SimConfig {
        cards: 1234,
        ..SimConfig::default()
    })
    .await;
    let dir = tempdir();
    let cards = sim.cards();
    let ids = iccids_of(&cards);
    let input = write_csv(dir.path(), "in.csv", &ids);
    let report = dir.path().join("usage.csv");
    let mut c = gsl();
    c.arg("usage")
        .arg(&input)
        .args(["--endpoint", &sim.url(), "--rate", "100", "--report"])
        .arg(&report);
    let ran = run(c).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(calls_total(&sim.stats(), "flow-usage"), 25);
    assert!(ran.stderr.contains("top users"), "{}", ran.stderr);
    let rows = read_report(&report);
    assert_rows_in_order(&rows, 1234);
    for (r, c) in rows.iter().zip(&cards) {
        assert_eq!(r["iccid"], c.iccid);
        assert_eq!(r["status"], "ok");
        assert_eq!(r["flow_used"].parse::<f64>().unwrap(), c.flow_used, "{r:?}");
        assert_eq!(
            r["flow_total"].parse::<f64>().unwrap(),
            c.flow_total(),
            "{r:?}"
        );
        let left = (c.flow_total() - c.flow_used).max(0.0);
        assert!(
            (r["flow_left"].parse::<f64>().unwrap() - left).abs() < 1e-6,
            "{r:?}"
        );
    }

    // Without input: the fleet from the card list (3 pages), then the same 25 usage calls.
    let report = dir.path().join("fleet.csv");
    let mut c = gsl();
    c.arg("usage")
        .args([
            "--endpoint",
            &sim.url(),
            "--rate",
            "100",
            "--list-rate",
            "100",
            "--report",
        ])
        .arg(&report);
    let ran = run(c).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let stats = sim.stats();
    assert_eq!(calls_total(&stats, "flow-usage"), 50);
    assert_eq!(calls_total(&stats, "sim-cards"), 3);
    assert_eq!(read_report(&report).len(), 1234);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_interrupted_by_sigint_leaves_a_partial_report_with_the_rest_pending() {
    let sim = start_sim(SimConfig {
        cards: 1000,
        ..SimConfig::default()
    })
    .await;
    let dir = tempdir();
    let ids: Vec<String> = sim.cards().iter().map(|c| c.iccid.clone()).collect();
    let input = write_csv(dir.path(), "in.csv", &ids);
    let report = dir.path().join("usage.csv");
    let mut c = gsl();
    c.arg("usage")
        .arg(&input)
        .args(["--endpoint", &sim.url(), "--rate", "2", "--report"])
        .arg(&report);
    let mut child = spawn_logged(c, dir.path(), "usage");
    wait_until("two usage calls", Duration::from_secs(20), || {
        calls_total(&sim.stats(), "flow-usage") >= 2
    })
    .await;
    signal(&child, "INT");
    let code = wait_exit(&mut child, Duration::from_secs(20)).await;
    let err = std::fs::read_to_string(dir.path().join("usage.err")).unwrap();
    assert_eq!(code, 130, "{err}");
    assert!(
        !report.exists(),
        "the whole report's name is not used for a part"
    );
    let rows = read_report(&dir.path().join("usage.partial.csv"));
    assert_rows_in_order(&rows, 1000);
    let ok = count(&rows, "ok");
    let answered = calls(&sim.stats(), "flow-usage", "ok") as usize;
    assert!(
        ok >= 50 && ok <= answered * 50,
        "{ok} ok after {answered} calls"
    );
    assert_eq!(
        ok + count(&rows, "pending"),
        1000,
        "{:?}",
        status_counts(&rows)
    );
    assert!(
        err.contains("interrupted after") && err.contains("incomplete"),
        "{err}"
    );
}
