//! The API's clock and ours: the simulator's `--clock-offset` moves every time it reports, the
//! client measures the offset from the `Date` of its answers, each session records it, and
//! `follow` reckons in the API's time. A clear with dropped answers, then `follow` (absence
//! provable at once, `--settle-after 0s`), then `resume` must clear no card twice, whichever way
//! the clocks are apart; with clocks 11 minutes apart nothing is proven absent.

use crate::common::*;
use gslbatch::gsl::types::Page;
use gslbatch::gsl::GslError;
use gslbatch::simulator::{Carrier, Faults, SimConfig, Simulator};
use std::collections::HashMap;
use std::path::Path;

fn minutes(m: i64) -> chrono::Duration {
    chrono::Duration::minutes(m)
}

/// Within `slack` of `want` (the `Date` second and the latency blur every reading).
fn near(got: chrono::Duration, want: chrono::Duration, slack: chrono::Duration) -> bool {
    (got - want).abs() <= slack
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulators_clock_offset_moves_its_dates_records_and_signature_check() {
    let sim = start_sim(SimConfig {
        clock_offset: minutes(-11),
        ..SimConfig::default()
    })
    .await;
    let c = aksk_client(&sim);
    assert_eq!(c.clock_offset(), None, "nothing measured before an answer");
    let card = split_cards(&sim).0[0].clone();
    let done = c
        .clear_real_name(&gslbatch::gsl::CardRef::Iccid(card.iccid.clone()))
        .await
        .expect("a signature 11 minutes off is within the 15 the gateway allows");
    let offset = c.clock_offset().expect("the answer's Date was read");
    assert!(
        offset.lo_ms <= -660_000 + 100 && -660_000 - 100 <= offset.hi_ms,
        "{offset:?}"
    );
    assert!(offset.hi_ms - offset.lo_ms <= 2_000, "{offset:?}");
    let orders = c
        .work_orders(&Page::new(10, 1).filter("work_order_type", 14))
        .await
        .unwrap();
    let order = &orders.work_orders[0];
    assert_eq!(order.id, done.work_order_id);
    let created = gslbatch::follow::parse_time(order.create_time.as_deref().unwrap()).unwrap();
    assert!(
        near(
            created - chrono::Utc::now(),
            minutes(-11),
            chrono::Duration::seconds(5)
        ),
        "the work order carries the simulator's time: {created}"
    );

    // 16 minutes off: the gateway refuses the signature as a real one would.
    let far = start_sim(SimConfig {
        clock_offset: minutes(16),
        ..SimConfig::default()
    })
    .await;
    let refused = aksk_client(&far)
        .work_orders(&Page::new(10, 1))
        .await
        .unwrap_err();
    match refused {
        GslError::Unauthorized {
            clock_offset,
            fault,
        } => {
            assert!(
                fault.error_msg.contains("15 minutes"),
                "{}",
                fault.error_msg
            );
            let o = clock_offset.expect("the refusal is dated");
            assert!(near(o, minutes(16), chrono::Duration::seconds(5)), "{o}");
        }
        other => panic!("refused as unauthorized: {other:?}"),
    }
    assert_eq!(calls(&far.stats(), "work-orders", "unauthorized"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_takes_a_negative_clock_offset() {
    assert_eq!(gslbatch::cli::signed_duration("-11m"), Ok(minutes(-11)));
    assert_eq!(
        gslbatch::cli::signed_duration("+1m 30s"),
        Ok(chrono::Duration::seconds(90))
    );
    assert!(gslbatch::cli::signed_duration("-soon").is_err());

    let mut cmd = gsl();
    cmd.args([
        "simulate",
        "--listen",
        "127.0.0.1:0",
        "--cards",
        "10",
        "--clock-offset",
        "-11m",
    ]);
    let (mut child, url) = spawn_simulate(cmd);
    let resp = reqwest::get(format!("{url}/v1/work-orders")).await.unwrap();
    let date = resp.headers()["date"].to_str().unwrap().to_string();
    child.kill().unwrap();
    let _ = child.wait();
    assert_eq!(resp.status(), 401, "unsigned");
    let date = chrono::DateTime::parse_from_rfc2822(&date).unwrap();
    let apart = date.with_timezone(&chrono::Utc) - chrono::Utc::now();
    assert!(
        near(apart, minutes(-11), chrono::Duration::seconds(5)),
        "{apart}"
    );
}

/// What a clear of 200 China Telecom cards with dropped answers, followed and resumed, left.
struct Cleared {
    sim: Simulator,
    dir: tempfile::TempDir,
    run_dir: std::path::PathBuf,
    telecom: Vec<String>,
    /// China Mobile rows made `unknown` although nothing happened to them: the stand-in for a
    /// request that timed out before the service acted (the simulator always acts first).
    untouched: Vec<String>,
    clear_calls_before_follow: u64,
}

async fn clear_with_drops(offset: chrono::Duration) -> Cleared {
    let sim = start_sim(SimConfig {
        cards: 2_000,
        drop_rate: 0.2,
        clock_offset: offset,
        ..SimConfig::default()
    })
    .await;
    let dir = tempdir();
    let telecom = telecom_iccids(&sim, 200);
    let untouched: Vec<String> = split_cards(&sim)
        .1
        .iter()
        .filter(|c| c.carrier == Carrier::ChinaMobile)
        .take(3)
        .map(|c| c.iccid.clone())
        .collect();
    let input = write_csv(
        dir.path(),
        "in.csv",
        &[telecom.clone(), untouched.clone()].concat(),
    );
    let run_dir = dir.path().join("run");
    let ran = run(batch("clear-real-name", &input, &sim, &run_dir, 500)).await;
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let rows = read_report(&run_dir.join("report.csv"));
    let unknown = rows[..200]
        .iter()
        .filter(|r| r["status"] == "unknown")
        .count();
    assert!(unknown >= 10, "a fifth of 200 answers dropped: {unknown}");

    // The session recorded the API's clock against ours.
    let conn = rusqlite::Connection::open(run_dir.join("journal.sqlite")).unwrap();
    let (mid, err): (i64, i64) = conn
        .query_row(
            "SELECT clock_offset_ms, clock_error_ms FROM sessions",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(
        (mid - offset.num_milliseconds()).abs() <= 1_500 && err <= 1_500,
        "recorded {mid} ± {err} ms for {offset}"
    );
    for iccid in &untouched {
        conn.execute(
            "UPDATE rows SET status = 'unknown', http_status = NULL, error_code = 'TIMEOUT',
             error_msg = 'no answer within 30s: it may or may not have happened' WHERE key = ?1",
            [iccid],
        )
        .unwrap();
    }
    drop(conn);

    // follow and resume meet a calm API (the drops made the unknown rows already).
    sim.set_faults(Faults {
        drop_rate: 0.0,
        ..sim.faults()
    });
    let clear_calls_before_follow = calls_total(&sim.stats(), "clear-real-name");
    let mut f = gsl();
    f.arg("follow")
        .arg(&run_dir)
        .args(["--rate", "500", "-q", "--settle-after", "0s"]);
    let followed = run(f).await;
    assert_eq!(followed.code, 1, "{}", followed.stderr);
    let mut r = gsl();
    r.arg("resume").arg(&run_dir).arg("-q");
    let resumed = run(r).await;
    assert_eq!(resumed.code, 1, "{}", resumed.stderr);
    Cleared {
        sim,
        dir,
        run_dir,
        telecom,
        untouched,
        clear_calls_before_follow,
    }
}

/// Every China Telecom card cleared exactly once, its row `ok` with the simulator's own work
/// order for it.
fn assert_each_cleared_once(c: &Cleared, rows: &[HashMap<String, String>]) {
    let stats = c.sim.stats();
    assert_eq!(
        stat_u64(&stats, "max_clear_calls_per_card"),
        1,
        "never twice"
    );
    for (r, iccid) in rows.iter().zip(&c.telecom) {
        assert_eq!(&r["iccid"], iccid);
        assert_eq!(clears_of(&stats, iccid), 1, "{r:?}");
        assert_eq!(r["status"], "ok", "{r:?}");
        assert_eq!(
            r["work_order_id"],
            stats["work_order_of_card"][iccid].to_string(),
            "the simulator's own work order: {r:?}"
        );
    }
}

async fn clocks_11_minutes_apart(offset: chrono::Duration, way: &str) {
    let c = clear_with_drops(offset).await;
    let rows = read_report(&c.run_dir.join("report.csv"));
    assert_rows_in_order(&rows, 203);
    assert_each_cleared_once(&c, &rows);
    // Nothing proven absent, so nothing sent again: the rows say why and what to fix.
    assert_eq!(
        calls_total(&c.sim.stats(), "clear-real-name"),
        c.clear_calls_before_follow,
        "resume sent nothing"
    );
    for (r, iccid) in rows[200..].iter().zip(&c.untouched) {
        assert_eq!(&r["iccid"], iccid);
        assert_eq!(r["status"], "unknown", "{r:?}");
        let msg = &r["error_msg"];
        assert!(
            msg.starts_with("no answer within 30s")
                && msg.contains("; follow: the local clock is 11m")
                && msg.contains(&format!("{way} the API's: proof of absence needs clocks within 10m; fix the clock (NTP), then follow again")),
            "{msg}"
        );
    }
    drop(c.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_clock_11_minutes_ahead_proves_nothing_absent_and_clears_no_card_twice() {
    clocks_11_minutes_apart(minutes(-11), "ahead of").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_clock_11_minutes_behind_proves_nothing_absent_and_clears_no_card_twice() {
    clocks_11_minutes_apart(minutes(11), "behind").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clocks_30_seconds_apart_still_prove_absence_and_resume_sends_only_those() {
    let c = clear_with_drops(chrono::Duration::seconds(30)).await;
    let rows = read_report(&c.run_dir.join("report.csv"));
    assert_rows_in_order(&rows, 203);
    assert_each_cleared_once(&c, &rows);
    // Proven never sent, then sent by resume: the API refuses China Mobile cards (so the
    // simulator cleared nothing more), and the rows carry its answer.
    assert_eq!(
        calls_total(&c.sim.stats(), "clear-real-name"),
        c.clear_calls_before_follow + 3,
        "resume sent the three rows proven absent, nothing else"
    );
    for (r, iccid) in rows[200..].iter().zip(&c.untouched) {
        assert_eq!(&r["iccid"], iccid);
        assert_eq!(r["status"], "failed", "{r:?}");
        assert_eq!(r["http_status"], "400", "{r:?}");
    }
    drop(c.dir);
}

/// A journal from before sessions recorded the clock: the columns are added when it is opened,
/// and follow measures the API's clock itself (one small read) before it sets its window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_journal_without_the_clock_columns_is_followed_with_its_own_measure() {
    let sim = start_sim(SimConfig {
        clock_offset: minutes(-11),
        ..SimConfig::default()
    })
    .await;
    let dir = tempdir();
    let iccids = telecom_iccids(&sim, 5);
    let input = write_csv(dir.path(), "in.csv", &iccids);
    let run_dir = dir.path().join("run");
    let ran = run(batch("clear-real-name", &input, &sim, &run_dir, 100)).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    old_journal(&run_dir);
    // One row's answer "lost": only a work order found in the corrected window settles it.
    let conn = rusqlite::Connection::open(run_dir.join("journal.sqlite")).unwrap();
    conn.execute(
        "UPDATE rows SET status = 'unknown', work_order_id = NULL, error_code = 'CLOSED',
         error_msg = 'connection closed' WHERE row = 2",
        [],
    )
    .unwrap();
    drop(conn);
    let lists = calls_total(&sim.stats(), "work-orders");
    let mut f = gsl();
    f.arg("follow").arg(&run_dir).args(["--rate", "100", "-q"]);
    let followed = run(f).await;
    assert_eq!(followed.code, 0, "{}", followed.stderr);
    let rows = read_report(&run_dir.join("report.csv"));
    assert_eq!(count(&rows, "ok"), 5);
    assert!(rows[1]["error_msg"].contains("follow: outcome proven by work order"));
    assert_eq!(
        calls_total(&sim.stats(), "work-orders") - lists,
        2,
        "the probe and the list"
    );
    let mut s = gsl();
    s.arg("status").arg(&run_dir);
    assert_eq!(run(s).await.code, 0);
}

/// Drop the clock columns, as a journal of an earlier gslbatch lacks them.
fn old_journal(run_dir: &Path) {
    let conn = rusqlite::Connection::open(run_dir.join("journal.sqlite")).unwrap();
    conn.execute_batch(
        "ALTER TABLE sessions DROP COLUMN clock_offset_ms;
         ALTER TABLE sessions DROP COLUMN clock_error_ms;",
    )
    .unwrap();
}

/// SMS: with the API's clock 11 minutes ahead, the messages of lost answers are dated after
/// the local clock's window end unless it is reckoned in the API's time; found, they settle
/// their rows, and resume messages no cid twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_sent_by_an_api_11_minutes_ahead_are_found_and_no_cid_is_messaged_twice() {
    let cards = sms_cards(0, 200, ORDER);
    let sim = sms_sim_with(
        &cards,
        SimConfig {
            sms_fail_rate: Some(0.0),
            drop_rate: 0.2,
            clock_offset: minutes(11),
            ..SimConfig::default()
        },
    )
    .await;
    let dir = tempdir();
    let ids = iccids_of(&cards);
    let input = write_csv(dir.path(), "cids.csv", &ids);
    let run_dir = dir.path().join("run");
    let mut send = send_sms_at(&input, &sim, &run_dir, "clock notice", 500);
    send.args(["--batch-size", "1"]);
    let ran = run(send).await;
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let unknown = count(&read_report(&run_dir.join("report.csv")), "unknown");
    assert!(unknown >= 10, "a fifth of 200 answers dropped: {unknown}");
    sim.set_faults(Faults {
        drop_rate: 0.0,
        ..sim.faults()
    });
    let mut f = gsl();
    f.arg("follow")
        .arg(&run_dir)
        .args(["--rate", "500", "-q", "--settle-after", "0s"]);
    let followed = run(f).await;
    assert!(
        followed.code == 0 || followed.code == 4,
        "{}",
        followed.stderr
    );
    let mut r = gsl();
    r.arg("resume").arg(&run_dir).arg("-q");
    assert_eq!(run(r).await.code, 0);
    let rows = read_report(&run_dir.join("report.csv"));
    assert_eq!(count(&rows, "ok"), 200);
    let per_cid = sim.stats()["sms_sent_per_cid"].clone();
    for r in &rows {
        assert_eq!(per_cid[&r["cid"]], 1, "messaged once: {r:?}");
    }
    assert_eq!(
        rows.iter()
            .filter(|r| r["error_msg"].contains("follow: outcome proven by an SMS"))
            .count(),
        unknown
    );
}
