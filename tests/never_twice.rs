//! Never twice, whoever runs it: the account ledger keeps a card from being acted on twice
//! across runs however the second run differs from the first (another credential, at the same
//! time; the same run dir used again; the endpoint spelled another way; a whole order; a
//! rebuilt ledger). Each test asserts the simulator's own count of what it did per card.

use crate::common::*;
use gslbatch::simulator::{SimConfig, SimCredentials, Simulator};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const TOKEN: &str = "static-test-token-0001";

/// A simulator that also accepts the static token [`TOKEN`], answering after `latency_ms`.
async fn sim_with_token(cards: usize, latency_ms: u64) -> Simulator {
    let cfg = SimConfig {
        cards,
        latency_ms,
        credentials: SimCredentials {
            token: Some(TOKEN.into()),
            ..sim_credentials()
        },
        ..SimConfig::default()
    };
    start_sim_as(cfg).await
}

/// A clear of `input` with the credentials `creds` set up (`("token", T)`, `("iam", _)` or
/// `("aksk", _)`), sharing the state dir `state`.
fn clear_as(
    creds: (&str, &str),
    input: &Path,
    sim: &Simulator,
    run_dir: &Path,
    state: &Path,
) -> Command {
    clear_at(creds, input, sim, run_dir, state, 500)
}

/// [`clear_as`] at `rate` calls a second.
fn clear_at(
    creds: (&str, &str),
    input: &Path,
    sim: &Simulator,
    run_dir: &Path,
    state: &Path,
    rate: u32,
) -> Command {
    let mut c = bare();
    c.arg("clear-real-name")
        .arg(input)
        .args(["--rate", &rate.to_string(), "--yes", "-q"])
        .arg("--run-dir")
        .arg(run_dir)
        .env("GSL_ENDPOINT", sim.url())
        .env("GSL_STATE_DIR", state);
    match creds {
        ("token", t) => c.env("GSL_AUTH_TOKEN", t),
        ("iam", _) => c
            .env("GSL_IAM_USER", IAM_USER)
            .env("GSL_IAM_PASSWORD", IAM_PASSWORD)
            .env("GSL_IAM_DOMAIN", IAM_USER)
            .env("HUAWEICLOUD_SDK_IAM_ENDPOINT", sim.url()),
        _ => c
            .env("HUAWEICLOUD_SDK_AK", AK)
            .env("HUAWEICLOUD_SDK_SK", SK),
    };
    c
}

/// A clear with AK/SK that must exit 0.
async fn clear_ok(input: &Path, sim: &Simulator, run_dir: &Path, state: &Path) {
    let ran = run(clear_as(("aksk", ""), input, sim, run_dir, state)).await;
    assert_eq!(ran.code, 0, "{}: {}", run_dir.display(), ran.stderr);
}

/// Clears the simulator performed per card, for these cards.
fn clears(sim: &Simulator, ids: &[String]) -> Vec<u64> {
    let stats = sim.stats();
    ids.iter().map(|i| clears_of(&stats, i)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_at_once_with_other_credentials_clear_each_card_once() {
    let sim = sim_with_token(3000, 10).await;
    let dir = tempdir();
    let state = dir.path().join("state");
    let ids = telecom_iccids(&sim, 500);
    let input = write_csv(dir.path(), "in.csv", &ids);
    // A token run and, a moment later, an AK/SK run of the same cards.
    let a = spawn_logged(
        clear_as(
            ("token", TOKEN),
            &input,
            &sim,
            &dir.path().join("a"),
            &state,
        ),
        dir.path(),
        "a",
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let b = spawn_logged(
        clear_as(("aksk", ""), &input, &sim, &dir.path().join("b"), &state),
        dir.path(),
        "b",
    );
    for (mut child, name) in [(a, "a"), (b, "b")] {
        let code = wait_exit(&mut child, Duration::from_secs(120)).await;
        let err = std::fs::read_to_string(dir.path().join(format!("{name}.err"))).unwrap();
        assert_eq!(code, 0, "{name}: {err}");
    }
    assert!(clears(&sim, &ids).iter().all(|n| *n == 1), "each card once");
    let ra = read_report(&dir.path().join("a/report.csv"));
    let rb = read_report(&dir.path().join("b/report.csv"));
    assert_eq!(count(&ra, "ok") + count(&rb, "ok"), 500);
    assert_eq!(count(&ra, "skipped") + count(&rb, "skipped"), 500);
    // Whichever run came second names the first.
    let a_dir = std::fs::canonicalize(dir.path().join("a")).unwrap();
    let b_dir = std::fs::canonicalize(dir.path().join("b")).unwrap();
    for (rows, other) in [(&ra, &b_dir), (&rb, &a_dir)] {
        for r in rows.iter().filter(|r| r["status"] == "skipped") {
            assert!(
                r["error_msg"].contains(&other.display().to_string()),
                "names the other run: {r:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_over_overlapping_halves_clear_every_card_once() {
    let sim = sim_with_token(12_000, 5).await;
    let dir = tempdir();
    let state = dir.path().join("state");
    let ids = telecom_iccids(&sim, 2000);
    let issued = issued_token(&sim).await;
    let parts: [(&str, &str, std::ops::Range<usize>); 4] = [
        ("token", TOKEN, 0..1000),
        ("token", &issued, 500..1500),
        ("aksk", "", 1000..2000),
        ("iam", "", 0..2000),
    ];
    let mut children = Vec::new();
    for (i, (mode, secret, range)) in parts.iter().enumerate() {
        let input = write_csv(dir.path(), &format!("in{i}.csv"), &ids[range.clone()]);
        let run_dir = dir.path().join(format!("run{i}"));
        let cmd = clear_as((mode, secret), &input, &sim, &run_dir, &state);
        children.push((spawn_logged(cmd, dir.path(), &format!("p{i}")), i));
    }
    let mut ok = 0;
    for (mut child, i) in children {
        let code = wait_exit(&mut child, Duration::from_secs(300)).await;
        let err = std::fs::read_to_string(dir.path().join(format!("p{i}.err"))).unwrap();
        assert_eq!(code, 0, "process {i}: {err}");
        let rows = read_report(&dir.path().join(format!("run{i}/report.csv")));
        assert_eq!(rows.len(), parts[i].2.len());
        assert_eq!(
            count(&rows, "ok") + count(&rows, "skipped"),
            rows.len(),
            "process {i}: every row ok or skipped"
        );
        ok += count(&rows, "ok");
    }
    let per_card = clears(&sim, &ids);
    assert!(per_card.iter().all(|n| *n == 1), "every card cleared once");
    assert_eq!(ok, 2000);
    assert_eq!(calls_total(&sim.stats(), "clear-real-name"), 2000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_dir_used_again_is_a_new_run_that_skips_what_the_first_did() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let state = dir.path().join("state");
    let ids = telecom_iccids(&sim, 10);
    let input = write_csv(dir.path(), "in.csv", &ids);
    let run_dir = dir.path().join("runs/job");
    clear_ok(&input, &sim, &run_dir, &state).await;
    let first = std::fs::canonicalize(&run_dir).unwrap();
    // The operator removes the run dir (or moves it away) and runs the same command again.
    std::fs::rename(&run_dir, dir.path().join("moved")).unwrap();
    let mut dry = clear_as(("aksk", ""), &input, &sim, &run_dir, &state);
    dry.arg("--dry-run");
    let ran = run(dry).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(ran.stdout.contains("skipped:     10"), "{}", ran.stdout);
    clear_ok(&input, &sim, &run_dir, &state).await;
    assert!(clears(&sim, &ids).iter().all(|n| *n == 1), "each card once");
    let rows = read_report(&run_dir.join("report.csv"));
    assert_eq!(count(&rows, "skipped"), 10);
    for r in &rows {
        assert!(
            r["error_msg"].contains(&first.display().to_string()),
            "names the first run: {r:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_spelled_another_way_finds_the_same_ledger() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let state = dir.path().join("state");
    let ids = telecom_iccids(&sim, 20);
    let input = write_csv(dir.path(), "in.csv", &ids);
    let port = sim.addr().port();
    let spellings = [
        format!("http://127.0.0.1:{port}"),
        format!("HTTP://127.0.0.1.:{port}/"),
    ];
    for (i, endpoint) in spellings.iter().enumerate() {
        let mut c = clear_as(
            ("aksk", ""),
            &input,
            &sim,
            &dir.path().join(format!("r{i}")),
            &state,
        );
        c.args(["--endpoint", endpoint]);
        let ran = run(c).await;
        assert_eq!(ran.code, 0, "{endpoint}: {}", ran.stderr);
    }
    assert!(clears(&sim, &ids).iter().all(|n| *n == 1), "each card once");
    let rows = read_report(&dir.path().join("r1/report.csv"));
    assert_eq!(count(&rows, "skipped"), 20);
    assert_eq!(
        std::fs::read_dir(state.join("ledger"))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension() == Some("sqlite".as_ref()))
            .count(),
        1,
        "one ledger for both spellings"
    );

    // User info in an endpoint is refused before anything is sent, and never echoed.
    let mut c = clear_as(("aksk", ""), &input, &sim, &dir.path().join("r2"), &state);
    c.args([
        "--endpoint",
        &format!("http://ops:hunter2@127.0.0.1:{port}"),
    ]);
    let ran = run(c).await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(ran.stderr.contains("user info"), "{}", ran.stderr);
    assert!(!ran.stderr.contains("hunter2"), "{}", ran.stderr);
    assert_eq!(calls_total(&sim.stats(), "clear-real-name"), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_order_send_reaches_each_cid_once_over_two_runs() {
    let cards = sms_cards(0, 30, ORDER);
    let sim = sms_sim(cards.clone()).await;
    let dir = tempdir();
    let state = dir.path().join("state");
    let send_text = |text: &str, run_dir: &str, extra: &[&str]| {
        let mut cmd = gsl();
        cmd.arg("send-sms")
            .args(["--content", text, "--order-id", &ORDER.to_string()])
            .args(["--endpoint", &sim.url(), "--rate", "100", "--yes", "-q"])
            .arg("--run-dir")
            .arg(dir.path().join(run_dir))
            .args(extra)
            .env("GSL_STATE_DIR", &state);
        cmd
    };
    let send = |run_dir: &str, extra: &[&str]| send_text("整单通知", run_dir, extra);
    let ran = run(send("first", &[])).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let ran = run(send("plan", &["--dry-run"])).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(ran.stdout.contains("skipped:"), "{}", ran.stdout);
    assert!(ran.stdout.contains("calls:       0"), "{}", ran.stdout);
    let ran = run(send("second", &[])).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let rows = read_report(&dir.path().join("second/report.csv"));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["status"], "skipped", "{:?}", rows[0]);
    let first = std::fs::canonicalize(dir.path().join("first")).unwrap();
    assert!(rows[0]["error_msg"].contains(&first.display().to_string()));
    assert_eq!(calls(&sim.stats(), "send-sms", "ok"), 1, "one send in all");
    let sent = sent_per_cid(&sim);
    assert_eq!(sent.len(), 30);
    assert!(sent.values().all(|n| *n == 1), "each cid messaged once");

    // Another text is another message; --again sends the same one again.
    let ran = run(send_text("另一条通知", "other", &[])).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let ran = run(send("again", &["--again"])).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(calls(&sim.stats(), "send-sms", "ok"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_shorter_than_a_request_can_take_is_refused() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let state = dir.path().join("state");
    let ids = telecom_iccids(&sim, 5);
    let input = write_csv(dir.path(), "in.csv", &ids);
    for window in ["0s", "1s", "2m"] {
        let mut c = clear_as(("aksk", ""), &input, &sim, &dir.path().join("w"), &state);
        c.args(["--again-window", window]);
        let ran = run(c).await;
        assert_eq!(ran.code, 2, "{window}: {}", ran.stderr);
        assert!(ran.stderr.contains("--again-window"), "{}", ran.stderr);
    }
    assert_eq!(calls_total(&sim.stats(), "clear-real-name"), 0);
    // A window long enough is taken, and one that lets an earlier run's cards through says so.
    clear_ok(&input, &sim, &dir.path().join("a"), &state).await;
    let again = |window: &str, dry: bool| {
        let mut c = clear_as(("aksk", ""), &input, &sim, &dir.path().join("b"), &state);
        c.args([
            "--again-window",
            window,
            "--timeout",
            "0.5",
            "--max-attempts",
            "1",
        ]);
        if dry {
            c.arg("--dry-run");
        }
        c
    };
    let ran = run(again("1h", true)).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(ran.stdout.contains("skipped:     5"), "{}", ran.stdout);
    // Past a one-second window, the plan and the confirmation say the cards go out again.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let ran = run(again("1s", true)).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(
        ran.stdout
            .contains("5 cards an earlier run did more than --again-window 1s ago"),
        "{}",
        ran.stdout
    );
    // The confirmation says it too (shown, and refused, without --yes and a terminal).
    let mut c = bare();
    c.arg("clear-real-name")
        .arg(&input)
        .args([
            "--endpoint",
            &sim.url(),
            "--again-window",
            "1s",
            "--timeout",
            "0.5",
        ])
        .args(["--max-attempts", "1", "--run-dir"])
        .arg(dir.path().join("c"))
        .env("GSL_STATE_DIR", &state)
        .env("HUAWEICLOUD_SDK_AK", AK)
        .env("HUAWEICLOUD_SDK_SK", SK);
    let ran = run(c).await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(ran.stderr.contains("acted on again"), "{}", ran.stderr);
    let ran = run(again("1s", false)).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(calls_total(&sim.stats(), "clear-real-name"), 10);
}

/// Every card's decision (acted on already or not) that a new clear would get from the ledger
/// under `state`, for the run in `run_dir`'s operation.
fn decisions(state: &Path, run_dir: &Path, ids: &[String]) -> Vec<bool> {
    use gslbatch::ledger::{CardAct, Ledger};
    let journal = gslbatch::journal::Journal::open_read(run_dir).unwrap();
    let mut meta = journal.meta().unwrap();
    let op = gslbatch::ops::from_meta(&meta).unwrap();
    meta.run_id = Some("a-new-run".into());
    let key = gslbatch::ledger::key(op.as_ref(), &meta, Path::new("/nonexistent/new"));
    let ledger = Ledger::open(&Ledger::path_for(state, &meta.endpoint, false)).unwrap();
    ids.iter()
        .map(|id| {
            let act = CardAct {
                row: 1,
                card: id.clone(),
                arg: String::new(),
            };
            ledger.earlier(&key, &act).unwrap().is_some()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuilt_ledger_takes_the_same_decisions_after_a_kill_mid_run() {
    let sim = start_sim(SimConfig {
        cards: 3000,
        latency_ms: 300,
        ..SimConfig::default()
    })
    .await;
    let dir = tempdir();
    let state = dir.path().join("state");
    let ids = telecom_iccids(&sim, 300);
    let input = write_csv(dir.path(), "in.csv", &ids);
    let run_dir = dir.path().join("run");
    let cmd = clear_at(("aksk", ""), &input, &sim, &run_dir, &state, 100);
    let mut child = spawn_logged(cmd, dir.path(), "run");
    wait_until(
        "100 clears reached the simulator",
        Duration::from_secs(60),
        || calls_total(&sim.stats(), "clear-real-name") >= 100,
    )
    .await;
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let journal = gslbatch::journal::Journal::open_read(&run_dir).unwrap();
    let in_flight = journal
        .counts()
        .unwrap()
        .get("inflight")
        .copied()
        .unwrap_or(0);
    assert!(in_flight > 0, "the kill left rows in flight");
    drop(journal);
    let live = decisions(&state, &run_dir, &ids);

    // The ledger is lost; rebuilt from the run dir, it decides every card the same way.
    let old = state.join("ledger-live");
    std::fs::rename(state.join("ledger"), &old).unwrap();
    let mut rebuild = bare();
    rebuild
        .args(["ledger", "rebuild"])
        .arg(&run_dir)
        .env("GSL_STATE_DIR", &state);
    let ran = run(rebuild).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let rebuilt = decisions(&state, &run_dir, &ids);
    let acted = live.iter().filter(|d| **d).count();
    assert!(acted >= 100, "every card sent counts: {acted}");
    assert_eq!(rebuilt, live, "same decision for every card");

    // So a dry run of the cards skips the same number with either ledger.
    let plan = |state: &Path| {
        let mut c = clear_as(("aksk", ""), &input, &sim, &dir.path().join("plan"), state);
        c.arg("--dry-run");
        c
    };
    let ran = run(plan(&state)).await;
    assert!(
        ran.stdout.contains(&format!("skipped:     {acted} ")),
        "{}",
        ran.stdout
    );

    // The killed run resumed (its rows in flight now `unknown`, without a recorded try) and
    // finished: the live ledger and one rebuilt from the journal still agree on every card.
    std::fs::remove_dir_all(state.join("ledger")).unwrap();
    std::fs::rename(&old, state.join("ledger")).unwrap();
    let mut resume = gsl();
    resume
        .arg("resume")
        .arg(&run_dir)
        .args(["--rate", "500", "-q"])
        .env("GSL_STATE_DIR", &state);
    let ran = run(resume).await;
    assert_eq!(ran.code, 1, "unknown rows remain: {}", ran.stderr);
    let rows = read_report(&run_dir.join("report.csv"));
    assert_eq!(count(&rows, "unknown") as u64, in_flight);
    assert!(clears(&sim, &ids).iter().all(|n| *n <= 1), "no card twice");
    let live = decisions(&state, &run_dir, &ids);
    assert!(
        live.iter().all(|d| *d),
        "every card was or may have been cleared"
    );
    std::fs::remove_dir_all(state.join("ledger")).unwrap();
    let mut rebuild = bare();
    rebuild
        .args(["ledger", "rebuild"])
        .arg(&run_dir)
        .env("GSL_STATE_DIR", &state);
    let ran = run(rebuild).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(ran.stderr.contains("300 "), "{}", ran.stderr);
    assert_eq!(decisions(&state, &run_dir, &ids), live);
}

/// A simulator of 400 cards, a temp dir with a state dir in it, and the ICCIDs and
/// `sim_card_id`s of its first `n` China Telecom cards.
async fn telecom_by_both_ids(
    n: usize,
) -> (
    Simulator,
    tempfile::TempDir,
    std::path::PathBuf,
    Vec<String>,
    Vec<String>,
) {
    let sim = start_sim(SimConfig {
        cards: 400,
        ..SimConfig::default()
    })
    .await;
    let dir = tempdir();
    let state = dir.path().join("state");
    let (telecom, _) = split_cards(&sim);
    let cards = &telecom[..n];
    let iccids = iccids_of(cards);
    let ids = cards.iter().map(|c| c.sim_card_id.to_string()).collect();
    (sim, dir, state, iccids, ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_by_iccid_then_by_sim_card_id_is_one_card() {
    let (sim, dir, state, iccids, ids) = telecom_by_both_ids(40).await;
    // 20 cards by ICCID, then the same 20 by sim_card_id: the plan says it must match them,
    // the start reads the card list (one page) and skips all 20.
    let by_iccid = write_columns(dir.path(), "a.csv", &[("iccid", iccids[..20].to_vec())]);
    let by_id = write_columns(dir.path(), "b.csv", &[("sim_card_id", ids[..20].to_vec())]);
    clear_ok(&by_iccid, &sim, &dir.path().join("a"), &state).await;
    let mut dry = clear_as(("aksk", ""), &by_id, &sim, &dir.path().join("plan"), &state);
    dry.arg("--dry-run");
    let ran = run(dry).await;
    assert!(
        ran.stdout.contains("match:       20 acts"),
        "{}",
        ran.stdout
    );
    let ran = run(clear_as(
        ("aksk", ""),
        &by_id,
        &sim,
        &dir.path().join("b"),
        &state,
    ))
    .await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("through the card list: 1 call"),
        "{}",
        ran.stderr
    );
    let rows = read_report(&dir.path().join("b/report.csv"));
    assert_eq!(count(&rows, "skipped"), 20, "{rows:?}");
    assert_eq!(calls_total(&sim.stats(), "sim-cards"), 1);

    // The other 20 by sim_card_id first, then by ICCID: matched from what the list taught.
    let by_id = write_columns(dir.path(), "c.csv", &[("sim_card_id", ids[20..].to_vec())]);
    let by_iccid = write_columns(dir.path(), "d.csv", &[("iccid", iccids[20..].to_vec())]);
    clear_ok(&by_id, &sim, &dir.path().join("c"), &state).await;
    clear_ok(&by_iccid, &sim, &dir.path().join("d"), &state).await;
    let rows = read_report(&dir.path().join("d/report.csv"));
    assert_eq!(count(&rows, "skipped"), 20, "{rows:?}");
    assert!(
        clears(&sim, &iccids).iter().all(|n| *n == 1),
        "each card once"
    );
    assert_eq!(calls_total(&sim.stats(), "clear-real-name"), 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_input_with_both_ids_teaches_the_ledger_without_a_list_call() {
    let (sim, dir, state, iccids, ids) = telecom_by_both_ids(10).await;
    let both = write_columns(
        dir.path(),
        "both.csv",
        &[("iccid", iccids.clone()), ("sim_card_id", ids.clone())],
    );
    clear_ok(&both, &sim, &dir.path().join("a"), &state).await;
    let by_id = write_columns(dir.path(), "b.csv", &[("sim_card_id", ids)]);
    clear_ok(&by_id, &sim, &dir.path().join("b"), &state).await;
    let rows = read_report(&dir.path().join("b/report.csv"));
    assert_eq!(count(&rows, "skipped"), 10, "{rows:?}");
    assert_eq!(
        calls_total(&sim.stats(), "sim-cards"),
        0,
        "no list call needed"
    );
    assert!(clears(&sim, &iccids).iter().all(|n| *n == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_order_send_and_a_send_to_its_cids_are_one_message() {
    let mut cards = sms_cards(0, 30, ORDER);
    cards.extend(sms_cards(30, 10, ORDER + 1));
    let sim = sms_sim(cards.clone()).await;
    let dir = tempdir();
    let state = dir.path().join("state");
    let send = |run_dir: &str, order: Option<u64>, input: Option<&Path>| {
        let mut cmd = gsl();
        cmd.arg("send-sms");
        if let Some(i) = input {
            cmd.arg(i);
        }
        if let Some(o) = order {
            cmd.args(["--order-id", &o.to_string()]);
        }
        cmd.args(["--content", "同一条通知", "--endpoint", &sim.url()])
            .args(["--rate", "100", "--yes", "-q", "--run-dir"])
            .arg(dir.path().join(run_dir))
            .env("GSL_STATE_DIR", &state);
        cmd
    };
    let cid_list = |name: &str, from: usize, to: usize| {
        let ids: Vec<String> = cards[from..to].iter().map(|c| c.iccid.clone()).collect();
        write_csv(dir.path(), name, &ids)
    };
    // The whole order first, then ten of its cids by list: skipped, naming the order's run.
    let ran = run(send("whole", Some(ORDER), None)).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let ten = cid_list("ten.csv", 0, 10);
    let ran = run(send("list", None, Some(&ten))).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let rows = read_report(&dir.path().join("list/report.csv"));
    assert_eq!(count(&rows, "skipped"), 10, "{rows:?}");
    assert!(
        rows[0]["error_msg"].contains("whole order"),
        "{:?}",
        rows[0]
    );
    // Five cids of the other order by list, then that whole order: skipped, saying why.
    let five = cid_list("five.csv", 30, 35);
    let ran = run(send("five", None, Some(&five))).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let ran = run(send("whole2", Some(ORDER + 1), None)).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let rows = read_report(&dir.path().join("whole2/report.csv"));
    assert_eq!(rows[0]["status"], "skipped", "{:?}", rows[0]);
    assert!(
        rows[0]["error_msg"].contains("5 of order 778's 10 cids"),
        "{:?}",
        rows[0]
    );
    let sent = sent_per_cid(&sim);
    assert_eq!(sent.len(), 35, "the first order and five of the second");
    assert!(sent.values().all(|n| *n == 1), "each cid messaged once");
}
