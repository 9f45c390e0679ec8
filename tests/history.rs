//! The history as a nightly operator meets it: the real binary against an in-process simulator
//! whose cards change through its own API (stop, tags, real-name clearing) and whose usage
//! moves by simulated days — checked against the changes file, the marks and the exit code.

use crate::common::*;
use gslbatch::simulator::{InventoryCard, SimConfig, Simulator, UsageControl};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Command;

fn inventory(sim: &Simulator, state: &Path, report: &Path, extra: &[&str]) -> Command {
    let mut cmd = gsl();
    cmd.env("GSL_STATE_DIR", state)
        .arg("inventory")
        .arg("--endpoint")
        .arg(sim.url())
        .arg("--report")
        .arg(report)
        .args(["--list-rate", "50"])
        .args(extra);
    cmd
}

fn usage(sim: &Simulator, state: &Path, report: &Path) -> Command {
    let mut cmd = gsl();
    cmd.env("GSL_STATE_DIR", state)
        .arg("usage")
        .arg("--endpoint")
        .arg(sim.url())
        .arg("--report")
        .arg(report)
        .args(["--rate", "50", "--list-rate", "50"]);
    cmd
}

/// A card-state or tag command on these cards, through the simulator's API.
async fn act(sim: &Simulator, dir: &Path, op: &str, iccids: &[String], extra: &[&str]) {
    let n = std::fs::read_dir(dir).map_or(0, |d| d.count());
    let input = write_csv(dir, &format!("act-{n}.csv"), iccids);
    let mut cmd = gsl();
    cmd.arg(op)
        .arg(&input)
        .arg("--endpoint")
        .arg(sim.url())
        .arg("--run-dir")
        .arg(dir.join(format!("act-run-{n}")))
        .args(["--rate", "50", "--yes", "-q"])
        .args(extra);
    let ran = run(cmd).await;
    assert_eq!(ran.code, 0, "{op}: {}", ran.stderr);
}

/// The changes file's rows: ICCID → change.
fn changes(report: &Path) -> BTreeMap<String, String> {
    let path = report.with_file_name(format!(
        "{}.changes.csv",
        report.file_stem().unwrap().to_string_lossy()
    ));
    read_report(&path)
        .into_iter()
        .map(|r| (r["iccid"].clone(), r["change"].clone()))
        .collect()
}

fn summary(report: &Path) -> Value {
    let path = report.with_file_name(format!(
        "{}.summary.json",
        report.file_stem().unwrap().to_string_lossy()
    ));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn in_use(cards: &[InventoryCard]) -> impl Iterator<Item = &InventoryCard> {
    cards.iter().filter(|c| c.sim_status == 20)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_inventories_name_exactly_the_ten_cards_changed_through_the_api() {
    let sim = start_sim(SimConfig {
        cards: 300,
        ..SimConfig::default()
    })
    .await;
    let dir = tempdir();
    let state = dir.path().join("state");
    let report = dir.path().join("inv.csv");
    let ran = run(inventory(&sim, &state, &report, &[])).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);

    // 3 stopped, 2 real-name cleared, 2 tagged, 3 added: ten different cards.
    let cards = sim.cards();
    let stopped: Vec<String> = in_use(&cards).take(3).map(|c| c.iccid.clone()).collect();
    let cleared: Vec<String> = in_use(&cards)
        .skip(3)
        .filter(|c| c.real_named && c.iccid.starts_with("898603"))
        .take(2)
        .map(|c| c.iccid.clone())
        .collect();
    let tagged: Vec<&InventoryCard> = cards
        .iter()
        .filter(|c| !stopped.contains(&c.iccid) && !cleared.contains(&c.iccid))
        .filter(|c| c.tag_ids.is_empty())
        .take(2)
        .collect();
    let tagged: Vec<String> = tagged.iter().map(|c| c.iccid.clone()).collect();
    act(&sim, dir.path(), "stop-card", &stopped, &[]).await;
    act(&sim, dir.path(), "clear-real-name", &cleared, &[]).await;
    act(&sim, dir.path(), "set-tags", &tagged, &["--tag", "fleet-b"]).await;
    let added = sim.usage(UsageControl {
        add_cards: 3,
        ..UsageControl::default()
    });

    let ran = run(inventory(
        &sim,
        &state,
        &report,
        &["--compare-with", "previous"],
    ))
    .await;
    assert_eq!(ran.code, 0, "a change is not a failure: {}", ran.stderr);
    let mut want: BTreeMap<String, String> = BTreeMap::new();
    for i in &stopped {
        want.insert(i.clone(), "sim_status 20→14".into());
    }
    for i in &cleared {
        want.insert(i.clone(), "real_named true→false".into());
    }
    for i in &tagged {
        want.insert(i.clone(), "tags +fleet-b".into());
    }
    for c in &added {
        want.insert(c.iccid.clone(), "new".into());
    }
    assert_eq!(want.len(), 10);
    assert_eq!(changes(&report), want, "{}", ran.stderr);
    // The report has every card, the change column filled for exactly those ten.
    let rows = read_report(&report);
    assert_eq!(rows.len(), 303);
    let marked = rows.iter().filter(|r| !r["change"].is_empty()).count();
    assert_eq!(marked, 10);
    let s = summary(&report);
    assert_eq!(
        s["changes"],
        serde_json::json!({"new": 3, "gone": 0, "real_named": 2, "sim_status": 3, "tags": 2, "flow_used": 0})
    );
    assert_eq!(s["changed_cards"], 10);
    assert!(
        ran.stderr.contains("10 cards changed"),
        "the printed summary counts them: {}",
        ran.stderr
    );

    // Nothing changed: an empty changes file and exit 0, even with --fail-on-change any.
    let ran = run(inventory(
        &sim,
        &state,
        &report,
        &["--compare-with", "previous", "--fail-on-change", "any"],
    ))
    .await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(changes(&report).is_empty());

    // One card stopped: a kind not asked for is exit 0, the kind asked for is 5.
    let one: Vec<String> = in_use(&sim.cards())
        .take(1)
        .map(|c| c.iccid.clone())
        .collect();
    act(&sim, dir.path(), "stop-card", &one, &[]).await;
    let ran = run(inventory(
        &sim,
        &state,
        &report,
        &["--compare-with", "previous", "--fail-on-change", "tags,new"],
    ))
    .await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(changes(&report).len(), 1);
    let other: Vec<String> = in_use(&sim.cards())
        .take(1)
        .map(|c| c.iccid.clone())
        .collect();
    act(&sim, dir.path(), "stop-card", &other, &[]).await;
    let ran = run(inventory(
        &sim,
        &state,
        &report,
        &["--compare-with", "previous", "--fail-on-change", "any"],
    ))
    .await;
    assert_eq!(ran.code, 5, "{}", ran.stderr);
    assert_eq!(
        changes(&report),
        BTreeMap::from([(other[0].clone(), "sim_status 20→14".to_string())])
    );

    // A kind that does not exist is refused before anything is sent.
    let before = calls_total(&sim.stats(), "sim-cards");
    let ran = run(inventory(
        &sim,
        &state,
        &report,
        &["--compare-with", "previous", "--fail-on-change", "stolen"],
    ))
    .await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(ran.stderr.contains("stolen"), "{}", ran.stderr);
    assert_eq!(calls_total(&sim.stats(), "sim-cards"), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_daily_usage_runs_mark_exactly_the_four_jumps_and_two_silent_cards() {
    let sim = start_sim(SimConfig {
        cards: 200,
        ..SimConfig::default()
    })
    .await;
    let dir = tempdir();
    let state = dir.path().join("state");
    let report = dir.path().join("usage.csv");
    let cards = sim.cards();
    let jump: Vec<String> = cards[10..14].iter().map(|c| c.iccid.clone()).collect();
    let silent: Vec<String> = cards[20..22].iter().map(|c| c.iccid.clone()).collect();
    let mut young = String::new();
    for day in 1..=8 {
        if day == 6 {
            // Joins the fleet two runs before the last: too little history to be judged.
            young = sim.usage(UsageControl {
                add_cards: 1,
                ..UsageControl::default()
            })[0]
                .iccid
                .clone();
        }
        if day > 1 {
            let mut c = UsageControl {
                advance_days: 1,
                ..UsageControl::default()
            };
            if day == 8 {
                c.factor = jump
                    .iter()
                    .chain([&young])
                    .map(|i| (i.clone(), 5.0))
                    .collect();
                c.silent = silent.clone();
            }
            sim.usage(c);
        }
        let ran = run(usage(&sim, &state, &report)).await;
        assert_eq!(ran.code, 0, "day {day}: {}", ran.stderr);
    }
    let rows = read_report(&report);
    let marks: HashMap<String, String> = rows
        .iter()
        .filter(|r| !r["mark"].is_empty())
        .map(|r| (r["iccid"].clone(), r["mark"].clone()))
        .collect();
    let mut want: HashMap<String, String> =
        jump.iter().map(|i| (i.clone(), "spike".into())).collect();
    want.extend(silent.iter().map(|i| (i.clone(), "silent".to_string())));
    assert_eq!(marks, want);
    assert!(rows
        .iter()
        .any(|r| r["iccid"] == young && r["mark"].is_empty()));
    let s = summary(&report);
    assert_eq!(s["marks"]["spike"], 4);
    assert_eq!(s["marks"]["silent"], 2);
    assert_eq!(s["marks"]["not_judged"], 1, "the young card: {s}");
    assert_eq!(s["marks"]["judged"], 200);
    // The marks file: the six, spikes first, then the top users (the jumps among them).
    let marks_file = read_report(&dir.path().join("usage.marks.csv"));
    let kinds: Vec<&str> = marks_file.iter().map(|r| r["mark"].as_str()).collect();
    assert_eq!(
        kinds[..6],
        ["spike"; 4]
            .iter()
            .chain(&["silent"; 2])
            .copied()
            .collect::<Vec<_>>()[..]
    );
    assert!(kinds[6..].iter().all(|k| k.starts_with("top")), "{kinds:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_nightly_job_compares_each_run_with_the_one_before_it() {
    let sim = start_sim(SimConfig {
        cards: 100,
        ..SimConfig::default()
    })
    .await;
    let dir = tempdir();
    let state = dir.path().join("state");
    let job = dir.path().join("nightly.toml");
    std::fs::write(
        &job,
        format!(
            "operation = \"inventory\"\nendpoint = \"{}\"\nlist_rate = 50\nrun_dir = \"out\"\ncompare = \"previous\"\n",
            sim.url()
        ),
    )
    .unwrap();
    let report = dir.path().join("out/inventory.csv");
    let nightly = || {
        let mut cmd = gsl();
        cmd.env("GSL_STATE_DIR", &state).arg("run").arg(&job);
        cmd
    };
    // The first night: every card is new, and that is no alert.
    let mut first = nightly();
    first.args(["--fail-on-change", "any"]);
    let ran = run(first).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(
        changes(&report).len(),
        100,
        "the first run: every card is new"
    );
    let mut stopped = Vec::new();
    for night in 2..=3 {
        let card = in_use(&sim.cards())
            .find(|c| !stopped.contains(&c.iccid))
            .unwrap()
            .iccid
            .clone();
        act(
            &sim,
            dir.path(),
            "stop-card",
            std::slice::from_ref(&card),
            &[],
        )
        .await;
        stopped.push(card.clone());
        let ran = run(nightly()).await;
        assert_eq!(ran.code, 0, "night {night}: {}", ran.stderr);
        assert_eq!(
            changes(&report),
            BTreeMap::from([(card, "sim_status 20→14".to_string())]),
            "night {night} compares with night {}",
            night - 1
        );
    }
    // `run JOB.toml --fail-on-change any`: exit 5 reaches cron.
    let card = in_use(&sim.cards()).next().unwrap().iccid.clone();
    act(&sim, dir.path(), "stop-card", &[card], &[]).await;
    let mut cmd = nightly();
    cmd.args(["--fail-on-change", "any"]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, 5, "{}", ran.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn check_and_card_state_runs_leave_what_they_learned_and_set() {
    use gslbatch::history::store::Store;
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let state = dir.path().join("state");
    let cards = sim.cards();
    let five: Vec<&InventoryCard> = in_use(&cards).take(5).collect();
    let iccids: Vec<String> = five.iter().map(|c| c.iccid.clone()).collect();
    let input = write_csv(dir.path(), "five.csv", &iccids);
    let runs = [
        ("check-real-name", vec![]),
        ("stop-card", vec!["--yes"]),
        (
            "set-tags",
            vec!["--yes", "--tag", "fleet-a", "--tag", "resold"],
        ),
    ];
    for (op, extra) in &runs {
        let mut cmd = batch(op, &input, &sim, &dir.path().join(op), 50);
        cmd.env("GSL_STATE_DIR", &state).args(extra);
        let ran = run(cmd).await;
        assert_eq!(ran.code, 0, "{op}: {}", ran.stderr);
    }
    let store = Store::open(&Store::path_for(&state, &sim.url(), false)).unwrap();
    let snap = |op: &str| {
        let place = std::path::absolute(dir.path().join(op)).unwrap();
        let run = store
            .at_place(&place, op)
            .unwrap()
            .expect("the run is in the history");
        store.snapshot(run.id).unwrap()
    };
    let checked = snap("check-real-name");
    assert_eq!(checked.len(), 5);
    for c in &five {
        assert_eq!(
            checked[&c.iccid].real_named,
            Some(c.real_named),
            "the live answer"
        );
    }
    let stopped = snap("stop-card");
    assert!(iccids.iter().all(|i| stopped[i].sim_status == Some(14)));
    let tagged = snap("set-tags");
    assert!(iccids
        .iter()
        .all(|i| tagged[i].tags.as_deref() == Some("fleet-a,resold")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn compare_with_a_run_dir_reaches_past_the_previous_run() {
    let sim = start_sim(SimConfig {
        cards: 100,
        ..SimConfig::default()
    })
    .await;
    let dir = tempdir();
    let state = dir.path().join("state");
    let mut stopped = Vec::new();
    for night in 1..=3 {
        if night > 1 {
            let card = in_use(&sim.cards())
                .find(|c| !stopped.contains(&c.iccid))
                .unwrap()
                .iccid
                .clone();
            act(
                &sim,
                dir.path(),
                "stop-card",
                std::slice::from_ref(&card),
                &[],
            )
            .await;
            stopped.push(card);
        }
        let night_dir = dir.path().join(format!("night-{night}"));
        std::fs::create_dir_all(&night_dir).unwrap();
        let mut extra = vec![];
        let first = dir.path().join("night-1");
        if night == 3 {
            extra = vec!["--compare-with", first.to_str().unwrap()];
        }
        let ran = run(inventory(&sim, &state, &night_dir.join("inv.csv"), &extra)).await;
        assert_eq!(ran.code, 0, "{}", ran.stderr);
    }
    // Night 3 against night 1: both stops, not only the last.
    let got = changes(&dir.path().join("night-3/inv.csv"));
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(stopped.iter().all(|i| got[i] == "sim_status 20→14"));
    // A place no run was written to: exit 2 naming it, nothing listed.
    let before = calls_total(&sim.stats(), "sim-cards");
    let nowhere = dir.path().join("nowhere");
    let ran = run(inventory(
        &sim,
        &state,
        &dir.path().join("x.csv"),
        &["--compare-with", nowhere.to_str().unwrap()],
    ))
    .await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(ran.stderr.contains("nowhere"), "{}", ran.stderr);
    assert_eq!(calls_total(&sim.stats(), "sim-cards"), before);
}

/// `POST /__sim/usage` as a script outside the process uses it: days pass, a card jumps, one
/// goes silent, cards join; the usage query answers accordingly.
#[tokio::test]
async fn the_simulators_usage_control_endpoint_moves_the_fleet() {
    let sim = start_sim(SimConfig {
        cards: 20,
        ..SimConfig::default()
    })
    .await;
    let before = sim.cards();
    let (a, b, c) = (&before[0], &before[1], &before[2]);
    let http = reqwest::Client::new();
    let control = |body: Value| {
        http.post(format!("{}/__sim/usage", sim.url()))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    let answer = control(serde_json::json!({
        "factor": {a.iccid.clone(): 5},
        "silent": [b.iccid],
        "add_cards": 2,
        "advance_days": 3
    }))
    .await
    .unwrap();
    let answer: Value = serde_json::from_str(&answer.text().await.unwrap()).unwrap();
    assert_eq!(answer["day"], 3);
    assert_eq!(answer["added"].as_array().unwrap().len(), 2);
    let after = sim.cards();
    assert_eq!(after.len(), 22);
    let used = |card: &InventoryCard| {
        let now = after.iter().find(|x| x.iccid == card.iccid).unwrap();
        now.flow_used - card.flow_used
    };
    let daily = gslbatch::simulator::daily_mb;
    assert_eq!(used(a), daily(a) * 5.0 * 3.0);
    assert_eq!(used(b), 0.0);
    assert_eq!(used(c), daily(c) * 3.0);
    // A body it does not know is refused, and changes nothing.
    let refused = control(serde_json::json!({"advance_dayz": 1}))
        .await
        .unwrap();
    assert!(refused.status().is_client_error());
    assert_eq!(sim.cards()[2].flow_used, after[2].flow_used);
}

/// `check-real-name --compare-with`: the carrier's live answers of two nights, three cards'
/// real-name cleared through the API between them — the changes file beside the run's report
/// holds exactly those three; `--fail-on-change` exits 5 against the first night, 0 when
/// nothing changed since the night before.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_checks_name_exactly_the_three_cards_cleared_between_them() {
    let sim = start_sim(SimConfig {
        cards: 100,
        ..SimConfig::default()
    })
    .await;
    let dir = tempdir();
    let state = dir.path().join("state");
    let cards = sim.cards();
    let telecom: Vec<String> = in_use(&cards)
        .filter(|c| c.real_named && c.iccid.starts_with("898603"))
        .take(3)
        .map(|c| c.iccid.clone())
        .collect();
    assert_eq!(telecom.len(), 3);
    let mut iccids: Vec<String> = in_use(&cards)
        .filter(|c| !telecom.contains(&c.iccid))
        .take(17)
        .map(|c| c.iccid.clone())
        .collect();
    iccids.extend(telecom.iter().cloned());
    let input = write_csv(dir.path(), "fleet.csv", &iccids);
    let check = |night: &str, extra: &[&str]| {
        let mut cmd = batch("check-real-name", &input, &sim, &dir.path().join(night), 50);
        cmd.env("GSL_STATE_DIR", &state).args(extra);
        cmd
    };
    let ran = run(check("night-1", &[])).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    act(&sim, dir.path(), "clear-real-name", &telecom, &[]).await;

    let ran = run(check("night-2", &["--compare-with", "previous"])).await;
    assert_eq!(ran.code, 0, "a change is not a failure: {}", ran.stderr);
    let report = dir.path().join("night-2/report.csv");
    let want: BTreeMap<String, String> = telecom
        .iter()
        .map(|i| (i.clone(), "real_named true→false".to_string()))
        .collect();
    assert_eq!(changes(&report), want, "{}", ran.stderr);
    assert_eq!(summary(&report)["changes"]["real_named"], 3);
    // The simulator answered the cleared cards' checks false: the live answer was compared.
    let live: HashMap<String, bool> = sim
        .cards()
        .into_iter()
        .map(|c| (c.iccid, c.real_named))
        .collect();
    assert!(telecom.iter().all(|i| !live[i]));

    // Nothing changed since night 2: exit 0 and an empty changes file.
    let ran = run(check(
        "night-3",
        &[
            "--compare-with",
            "previous",
            "--fail-on-change",
            "real_named",
        ],
    ))
    .await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(changes(&dir.path().join("night-3/report.csv")).is_empty());
    // Against night 1 (its run dir) the three are found again: exit 5.
    let first = dir.path().join("night-1");
    let ran = run(check(
        "night-4",
        &[
            "--compare-with",
            first.to_str().unwrap(),
            "--fail-on-change",
            "any",
        ],
    ))
    .await;
    assert_eq!(ran.code, 5, "{}", ran.stderr);
    assert_eq!(changes(&dir.path().join("night-4/report.csv")), want);
    // A kind that is not one: exit 2 before any call.
    let ran = run(check(
        "night-5",
        &["--compare-with", "previous", "--fail-on-change", "colour"],
    ))
    .await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(ran.stderr.contains("colour"), "{}", ran.stderr);
}

/// The workbook a manager opens holds what changed too: a `changes` sheet of the changed rows
/// (the rows of `NAME.changes.csv` the report has), beside `report` and `summary`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inventory_workbook_has_a_sheet_of_the_changed_rows() {
    use calamine::Reader;
    let sim = start_sim(SimConfig {
        cards: 60,
        ..SimConfig::default()
    })
    .await;
    let dir = tempdir();
    let state = dir.path().join("state");
    let xlsx = dir.path().join("fleet.xlsx");
    let compare = ["--compare-with", "previous"];
    let ran = run(inventory(&sim, &state, &xlsx, &compare)).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let stopped: Vec<String> = in_use(&sim.cards())
        .take(2)
        .map(|c| c.iccid.clone())
        .collect();
    act(&sim, dir.path(), "stop-card", &stopped, &[]).await;
    let ran = run(inventory(&sim, &state, &xlsx, &compare)).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);

    let mut book = calamine::open_workbook_auto(&xlsx).unwrap();
    assert_eq!(book.sheet_names(), ["report", "changes", "summary"]);
    let sheet = book.worksheet_range("changes").unwrap();
    let mut rows = sheet.rows();
    let head: Vec<String> = rows.next().unwrap().iter().map(|c| c.to_string()).collect();
    let (iccid, change) = (
        head.iter().position(|h| h == "iccid").unwrap(),
        head.iter().position(|h| h == "change").unwrap(),
    );
    let mut got: Vec<(String, String)> = rows
        .map(|r| (r[iccid].to_string(), r[change].to_string()))
        .collect();
    got.sort();
    let mut want: Vec<(String, String)> = stopped
        .iter()
        .map(|i| (i.clone(), "sim_status 20→14".to_string()))
        .collect();
    want.sort();
    assert_eq!(got, want);
    // The same rows as the changes file (which also lists cards gone from the fleet: none).
    let file = changes(&xlsx);
    assert_eq!(file.len(), 2, "{file:?}");
    for (i, c) in &got {
        assert_eq!(file.get(i), Some(c));
    }
}
