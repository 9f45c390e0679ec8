//! Input rows that name their card by `sim_card_id` (a CSV column or a JSON field of that name):
//! sent as `/v1/sim-cards/{id}/...`, reported in the `sim_card_id` column, followed up, tagged
//! and joined by that id — checked against what the simulator did to those very cards.

use crate::common::*;
use gslbatch::simulator::{InventoryCard, SimConfig};

#[test]
fn a_sim_card_id_column_or_field_is_a_whole_number_key() {
    let got = keys_of(&read_records(
        "sim_card_id,site\n 1234 ,a\n0,b\nabc,c\n99999999999999999999,d\n".as_bytes(),
        &input_opts(true),
    ));
    assert_eq!(got[0], Ok("#1234".into()));
    assert!(got[1]
        .as_ref()
        .unwrap_err()
        .contains("sim_card_id 0 names no card"));
    assert!(got[1].as_ref().unwrap_err().contains("in:3"), "{got:?}");
    assert!(got[2].as_ref().unwrap_err().contains("not a whole number"));
    assert!(got[3].as_ref().unwrap_err().contains("too large"));
    let json = r#"[{"sim_card_id": 77}, {"sim_card_id": "78"}, {"iccid": "89860012345678901234"}]"#;
    let got = keys_of(&read_records(json.as_bytes(), &input_opts(true)));
    assert_eq!(
        got,
        vec![
            Ok("#77".into()),
            Ok("#78".into()),
            Ok("89860012345678901234".into())
        ]
    );
    // SMS addresses cids: a sim_card_id is refused with the reason, row by row.
    let got = keys_of(&read_records(b"sim_card_id\n1234\n", &input_opts(false)));
    assert!(
        got[0].as_ref().unwrap_err().contains("give the cid"),
        "{got:?}"
    );
}

fn by_id_json(cards: &[&InventoryCard]) -> String {
    let items: Vec<String> = cards
        .iter()
        .map(|c| {
            format!(
                "{{\"sim_card_id\": {}, \"site\": \"s{}\"}}",
                c.sim_card_id, c.sim_card_id
            )
        })
        .collect();
    format!("[{}]", items.join(",\n"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_and_clears_by_sim_card_id_reach_those_cards_and_follow_finds_them() {
    let sim = start_sim(SimConfig {
        work_order_fail_rate: 0.5,
        ..SimConfig::default()
    })
    .await;
    let dir = tempdir();
    let cards = sim.cards();
    let telecom: Vec<&InventoryCard> = cards
        .iter()
        .filter(|c| c.carrier == gslbatch::simulator::Carrier::ChinaTelecom && c.real_named)
        .take(20)
        .collect();
    let input = dir.path().join("cards.json");
    std::fs::write(&input, by_id_json(&telecom)).unwrap();

    let run_dir = dir.path().join("check");
    let ran = run(batch("check-real-name", &input, &sim, &run_dir, 1000)).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let rows = read_report(&run_dir.join("report.csv"));
    assert_rows_in_order(&rows, 20);
    for (r, c) in rows.iter().zip(&telecom) {
        assert_eq!(r["status"], "ok");
        assert_eq!(r["sim_card_id"], c.sim_card_id.to_string());
        assert_eq!(r["iccid"], c.iccid, "the check's answer names the card");
        assert_eq!(r["real_named"], "true");
        assert_eq!(r["site"], format!("s{}", c.sim_card_id));
    }

    let run_dir = dir.path().join("clear");
    let ran = run(batch("clear-real-name", &input, &sim, &run_dir, 1000)).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let stats = sim.stats();
    for c in &telecom {
        assert_eq!(
            clears_of(&stats, &c.iccid),
            1,
            "cleared once: {}",
            c.sim_card_id
        );
    }
    let rows = read_report(&run_dir.join("report.csv"));
    assert!(
        rows.iter().all(|r| r["iccid"].is_empty()),
        "a clear's answer names no card: not guessed"
    );
    // follow matches each failed order's detail to its row by sim_card_id.
    let mut f = gsl();
    f.arg("follow").arg(&run_dir).args(["--rate", "1000", "-q"]);
    let f = run(f).await;
    // Some of the orders failed: follow says so in its exit code.
    assert_eq!(f.code, 1, "{}", f.stderr);
    let rows = read_report(&run_dir.join("report.csv"));
    let after = sim.cards();
    let mut failed = 0;
    for (r, c) in rows.iter().zip(&telecom) {
        let now = after
            .iter()
            .find(|a| a.sim_card_id == c.sim_card_id)
            .unwrap();
        let want = if now.real_named { "failed" } else { "success" };
        failed += usize::from(now.real_named);
        assert_eq!(r["work_order_status"], want, "{r:?}");
    }
    assert!(failed > 0 && failed < 20, "{failed} of 20 orders failed");
}

fn set_tags_cmd(
    sim: &gslbatch::simulator::Simulator,
    run_dir: &std::path::Path,
) -> std::process::Command {
    let mut cmd = gsl();
    cmd.arg("set-tags")
        .args([
            "--tag",
            "fleet-b",
            "--endpoint",
            &sim.url(),
            "--rate",
            "1000",
            "--yes",
            "-q",
        ])
        .arg("--run-dir")
        .arg(run_dir);
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_tags_by_sim_card_id_sends_the_ids_and_refuses_a_mix() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let cards = sim.cards();
    let mut text = String::from("sim_card_id\n");
    for c in &cards[..60] {
        text.push_str(&format!("{}\n", c.sim_card_id));
    }
    let by_id = dir.path().join("ids.csv");
    std::fs::write(&by_id, text).unwrap();
    let by_iccid = write_csv(dir.path(), "iccids.csv", &[cards[70].iccid.clone()]);

    // A batch call names its cards one way: a mix is refused, nothing sent, in a dry run too.
    for dry in [false, true] {
        let mut cmd = set_tags_cmd(&sim, &dir.path().join(format!("mixed-{dry}")));
        cmd.arg(&by_id).arg(&by_iccid);
        if dry {
            cmd.arg("--dry-run");
        }
        let ran = run(cmd).await;
        assert_eq!(ran.code, 2, "{}", ran.stderr);
        assert!(
            ran.stderr
                .contains("1 cards by ICCID and 60 by sim_card_id"),
            "{}",
            ran.stderr
        );
    }
    assert_eq!(calls_total(&sim.stats(), "set-tags"), 0);

    let mut cmd = set_tags_cmd(&sim, &dir.path().join("run"));
    cmd.arg(&by_id);
    let ran = run(cmd).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let rows = read_report(&dir.path().join("run/report.csv"));
    assert_eq!(count(&rows, "ok"), 60);
    assert_eq!(rows[45]["sim_card_id"], cards[45].sim_card_id.to_string());
    assert_eq!(rows[45]["iccid"], "");
    let after = sim.cards();
    for c in &after[..60] {
        assert_eq!(c.tag_ids, vec![2], "{}", c.iccid);
    }
    assert_eq!(
        calls_total(&sim.stats(), "set-tags"),
        1,
        "one batch of 60 ids"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clear_naming_cards_both_ways_is_refused_before_anything_is_sent() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let (telecom, _) = split_cards(&sim);
    let card = &telecom[0];
    let a = write_csv(dir.path(), "a.csv", std::slice::from_ref(&card.iccid));
    let b = dir.path().join("b.csv");
    std::fs::write(&b, format!("sim_card_id\n{}\n", card.sim_card_id)).unwrap();
    for dry in [false, true] {
        let mut cmd = batch(
            "clear-real-name",
            &a,
            &sim,
            &dir.path().join(format!("r{dry}")),
            100,
        );
        cmd.arg(&b);
        if dry {
            cmd.arg("--dry-run");
        }
        let ran = run(cmd).await;
        assert_eq!(ran.code, 2, "{}", ran.stderr);
        assert!(
            ran.stderr.contains("1 cards by ICCID and 1 by sim_card_id"),
            "{}",
            ran.stderr
        );
    }
    assert_eq!(calls_total(&sim.stats(), "clear-real-name"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_clears_by_sim_card_id_are_settled_by_the_id_in_the_work_order() {
    let sim = start_sim(SimConfig {
        drop_rate: 0.5,
        ..SimConfig::default()
    })
    .await;
    let dir = tempdir();
    let (telecom, _) = split_cards(&sim);
    let picked: Vec<&InventoryCard> = telecom.iter().take(30).collect();
    let input = dir.path().join("cards.json");
    std::fs::write(&input, by_id_json(&picked)).unwrap();
    let run_dir = dir.path().join("run");
    let ran = run(batch("clear-real-name", &input, &sim, &run_dir, 1000)).await;
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let rows = read_report(&run_dir.join("report.csv"));
    let unknown = count(&rows, "unknown");
    assert!(unknown > 0, "drop_rate 0.5 over 30 rows drops some");
    sim.set_faults(gslbatch::simulator::Faults {
        drop_rate: 0.0,
        ..sim.faults()
    });
    let mut f = gsl();
    f.arg("follow").arg(&run_dir).args(["--rate", "1000", "-q"]);
    let f = run(f).await;
    assert_eq!(f.code, 0, "{}", f.stderr);
    let rows = read_report(&run_dir.join("report.csv"));
    assert_eq!(
        count(&rows, "ok"),
        30,
        "every dropped clear proven by its card's id"
    );
    let settled = rows
        .iter()
        .filter(|r| r["error_msg"].contains("follow: outcome proven by work order"))
        .count();
    assert_eq!(settled, unknown);
    // Each row's work order is the one the simulator made for that very card.
    let stats = sim.stats();
    for (r, c) in rows.iter().zip(&picked) {
        assert_eq!(clears_of(&stats, &c.iccid), 1);
        assert_eq!(r["sim_card_id"], c.sim_card_id.to_string());
        assert!(!r["work_order_id"].is_empty(), "{r:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventory_joins_by_sim_card_id_and_sms_refuses_it() {
    let sim = start_sim(SimConfig {
        cards: 1_200,
        ..SimConfig::default()
    })
    .await;
    let dir = tempdir();
    let cards = sim.cards();
    let input = dir.path().join("ids.csv");
    std::fs::write(
        &input,
        format!(
            "sim_card_id\n{}\n{}\n424242424242\n",
            cards[1_100].sim_card_id, cards[5].sim_card_id
        ),
    )
    .unwrap();
    let report = dir.path().join("inv.csv");
    let mut cmd = gsl();
    cmd.arg("inventory")
        .arg(&input)
        .args(["--endpoint", &sim.url(), "--list-rate", "1000", "-q"])
        .arg("--report")
        .arg(&report);
    let ran = run(cmd).await;
    assert_eq!(ran.code, 1, "one card is not in the fleet: {}", ran.stderr);
    let rows = read_report(&report);
    assert_eq!(rows[0]["status"], "ok");
    assert_eq!(rows[0]["iccid"], cards[1_100].iccid);
    assert_eq!(rows[1]["iccid"], cards[5].iccid);
    assert_eq!(rows[2]["status"], "failed");
    assert_eq!(rows[2]["sim_card_id"], "424242424242");
    assert_eq!(rows[2]["iccid"], "");

    // One card named both ways is found for both rows; a malformed id is invalid, its text in
    // the reason, not under iccid.
    let both = dir.path().join("both.csv");
    std::fs::write(&both, format!("iccid,sim_card_id\n{},\n", cards[700].iccid)).unwrap();
    let ids = dir.path().join("ids2.csv");
    std::fs::write(
        &ids,
        format!("sim_card_id\n{}\nabc\n", cards[700].sim_card_id),
    )
    .unwrap();
    let report = dir.path().join("both-report.csv");
    let mut cmd = gsl();
    cmd.arg("inventory")
        .arg(&both)
        .arg(&ids)
        .args(["--endpoint", &sim.url(), "--list-rate", "1000", "-q"])
        .arg("--report")
        .arg(&report);
    let ran = run(cmd).await;
    assert_eq!(ran.code, 1, "one invalid row: {}", ran.stderr);
    let rows = read_report(&report);
    assert_eq!(rows[0]["status"], "ok", "{:?}", rows[0]);
    assert_eq!(rows[1]["status"], "ok", "{:?}", rows[1]);
    assert_eq!(rows[1]["iccid"], cards[700].iccid);
    assert_eq!(rows[2]["status"], "invalid");
    assert_eq!(rows[2]["iccid"], "");
    assert!(
        rows[2]["error_msg"].contains("\"abc\" is not a whole number"),
        "{:?}",
        rows[2]
    );

    let mut cmd = gsl();
    cmd.arg("send-sms")
        .arg(&input)
        .args([
            "--content",
            "hello",
            "--endpoint",
            &sim.url(),
            "--yes",
            "-q",
        ])
        .arg("--run-dir")
        .arg(dir.path().join("sms"));
    let ran = run(cmd).await;
    assert_eq!(ran.code, 2, "no cid to send to: {}", ran.stderr);
    assert!(ran.stderr.contains("give the cid"), "{}", ran.stderr);
    assert_eq!(calls_total(&sim.stats(), "send-sms"), 0);
}
