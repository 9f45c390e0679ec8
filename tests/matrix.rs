//! The fault-injection matrix: every operation (check-real-name, clear-real-name, send-sms)
//! against every fault the simulator can inject (busy answers, dropped connections, slow answers
//! past the client's timeout, latency, throttling below the client's rate, a token expiring
//! mid-run, every connection reset mid-run, the journal's filesystem filling up), each its own
//! test. Each asserts the run ends, one report row per input row in order, and that the report
//! agrees with what the simulator performed: nothing done twice, nothing done and reported
//! `failed` or `pending`, `ok` only for work done exactly once.

use crate::common::*;
use gslbatch::journal::Journal;
use gslbatch::simulator::{Carrier, InventoryCard, SimConfig, Simulator};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Rows per card case, cids per SMS case, SMS batch size.
const CARDS: usize = 300;
const CIDS: usize = 600;
const BATCH: usize = 20;
/// How long any one process may take before the case fails (and the process is killed).
const LIMIT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Check,
    Clear,
    Sms,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    Busy,
    Drop,
    Slow,
    Latency,
    Throttle,
    TokenExpiry,
    Reset,
    DiskFull,
}

impl Op {
    fn api(self) -> &'static str {
        match self {
            Op::Check => "real-named",
            Op::Clear => "clear-real-name",
            Op::Sms => "send-sms",
        }
    }

    /// Requests the run needs without faults.
    fn calls(self) -> u64 {
        match self {
            Op::Sms => CIDS.div_ceil(BATCH) as u64,
            _ => CARDS as u64,
        }
    }

    /// The client's `--rate`: a couple of seconds per case.
    fn rate(self) -> u32 {
        match self {
            Op::Sms => 20,
            _ => 200,
        }
    }
}

impl Fault {
    /// Whether the fault can leave a row's outcome unknown (sent, answer lost).
    fn ambiguous(self) -> bool {
        matches!(
            self,
            Fault::Drop | Fault::Slow | Fault::Reset | Fault::DiskFull
        )
    }
}

/// The simulator's config for `fault` (the cards are set by the caller).
fn sim_config(op: Op, fault: Fault) -> SimConfig {
    let base = SimConfig::default();
    match fault {
        Fault::Busy => SimConfig {
            busy_rate: 0.3,
            ..base
        },
        Fault::Drop => SimConfig {
            drop_rate: 0.1,
            ..base
        },
        Fault::Slow => SimConfig {
            slow_rate: 0.05,
            slow_ms: 6000,
            ..base
        },
        Fault::Latency => SimConfig {
            latency_ms: 80,
            ..base
        },
        // Half the client's rate.
        Fault::Throttle => SimConfig {
            rate: Some(op.rate() / 2),
            ..base
        },
        // Some latency so requests are in flight when the connections go.
        Fault::Reset => SimConfig {
            latency_ms: if op == Op::Sms { 100 } else { 20 },
            ..base
        },
        Fault::TokenExpiry | Fault::DiskFull => base,
    }
}

/// The simulator's cards (SMS-capable cards of one order for SMS, a generated fleet otherwise).
fn sim_cards(op: Op, cfg: SimConfig) -> SimConfig {
    match op {
        Op::Sms => SimConfig {
            cards: 0,
            inventory: Some(sms_cards(0, CIDS, ORDER)),
            ..cfg
        },
        _ => SimConfig { cards: 2000, ..cfg },
    }
}

/// The input: for cards, 1 in 6 not China Telecom (a clear the simulator refuses); for SMS,
/// every cid of the order.
fn input_ids(op: Op, cards: &[InventoryCard]) -> Vec<String> {
    if op == Op::Sms {
        return iccids_of(cards);
    }
    let (telecom, other) = split_cards_of(cards);
    let mut t = telecom.into_iter();
    let mut o = other.into_iter();
    let ids: Vec<String> = (0..CARDS)
        .map(|i| if i % 6 == 5 { o.next() } else { t.next() })
        .map(|c| c.expect("enough cards").iccid.clone())
        .collect();
    ids
}

fn split_cards_of(cards: &[InventoryCard]) -> (Vec<&InventoryCard>, Vec<&InventoryCard>) {
    cards
        .iter()
        .partition(|c| c.carrier == Carrier::ChinaTelecom)
}

/// A child process with its output in files, waited for without blocking the runtime.
struct Proc {
    child: std::process::Child,
    err: PathBuf,
    t0: Instant,
}

fn spawn(mut cmd: Command, dir: &Path, name: &str) -> Proc {
    let err = dir.join(format!("{name}.err"));
    cmd.stdout(Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap());
    Proc {
        child: cmd.spawn().expect("gslbatch starts"),
        err,
        t0: Instant::now(),
    }
}

impl Proc {
    fn exited(&mut self) -> Option<i32> {
        self.child
            .try_wait()
            .unwrap()
            .map(|s| s.code().unwrap_or(-1))
    }

    /// Wait (bounded) for the exit; returns the code and stderr.
    async fn wait(mut self) -> (i32, String) {
        loop {
            if let Some(code) = self.exited() {
                return (code, std::fs::read_to_string(&self.err).unwrap_or_default());
            }
            if self.t0.elapsed() > LIMIT {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "gslbatch still running after {LIMIT:?}: {}",
                    std::fs::read_to_string(&self.err).unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Poll until `cond` holds or the process exits; whether `cond` held first.
async fn until(p: &mut Proc, mut cond: impl FnMut() -> bool) -> bool {
    loop {
        if cond() {
            return true;
        }
        if p.exited().is_some() || p.t0.elapsed() > LIMIT {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Rows of the run with an outcome, as its journal says (0 until the journal exists).
fn settled_rows(run_dir: &Path, journal: &mut Option<Journal>) -> u64 {
    if journal.is_none() {
        *journal = Journal::open_read(run_dir).ok();
    }
    let Some(counts) = journal.as_ref().and_then(|j| j.counts().ok()) else {
        return 0;
    };
    counts
        .iter()
        .filter(|(status, _)| !["pending", "inflight"].contains(&status.as_str()))
        .map(|(_, n)| n)
        .sum()
}

fn ok_calls(sim: &Simulator, api: &str) -> u64 {
    calls(&sim.stats(), api, "ok")
}

async fn case(op: Op, fault: Fault) {
    let t0 = Instant::now();
    let dir = tempdir();
    let disk = if fault == Fault::DiskFull {
        let what = format!("{op:?} x {fault:?}");
        match SmallDisk::mount_or_skip(&dir.path().join("disk"), "16m", &what) {
            Some(d) => Some(d),
            None => return,
        }
    } else {
        None
    };
    let sim = Arc::new(start_sim(sim_cards(op, sim_config(op, fault))).await);
    let cards = sim.cards();
    let ids = input_ids(op, &cards);
    let input = write_csv(dir.path(), "input.csv", &ids);
    let run_dir = match &disk {
        Some(d) => d.0.join("run"),
        None => dir.path().join("run"),
    };
    let op_name = match op {
        Op::Check => "check-real-name",
        Op::Clear => "clear-real-name",
        Op::Sms => "send-sms",
    };
    let mut cmd = batch(op_name, &input, &sim, &run_dir, op.rate());
    // 20 tries: a row gives up after 20 busy answers in a row, 0.3^20 = 3.5e-11.
    cmd.args(["--max-attempts", "20"]);
    if op == Op::Sms {
        cmd.args(["--content", "Maintenance tonight 22:00-23:00", "--yes"])
            .args(["--order-id", &ORDER.to_string()])
            .args(["--batch-size", &BATCH.to_string()]);
    }
    if fault == Fault::Slow {
        // Far above any normal answer on a loaded machine, far below a slow one.
        cmd.args(["--timeout", "2"]);
    }
    if fault == Fault::TokenExpiry {
        with_iam_login(&mut cmd, &sim);
    }

    let api = op.api();
    let total = op.calls();
    let mut p = spawn(cmd, dir.path(), "run");
    let (code, stderr) = match fault {
        Fault::TokenExpiry => {
            let hit = until(&mut p, || ok_calls(&sim, api) >= total / 3).await;
            sim.expire_tokens();
            assert!(hit, "the run ended before a third of its calls");
            p.wait().await
        }
        Fault::Reset => {
            // Progress is read from the journal, not from the simulator's `ok` answers: each
            // reset cuts off every request in flight, and on a loaded machine that can be so
            // many clears (never re-sent) that three quarters of them are never answered `ok`.
            let mut journal = None;
            for k in 1..=3 {
                let hit = until(&mut p, || {
                    settled_rows(&run_dir, &mut journal) >= ids.len() as u64 * k / 4
                })
                .await;
                assert!(hit, "the run ended before reset {k}");
                sim.reset_connections();
            }
            p.wait().await
        }
        Fault::DiskFull => {
            let disk = disk.as_ref().unwrap();
            let hit = until(&mut p, || ok_calls(&sim, api) >= total / 4).await;
            assert!(hit, "the run ended before a quarter of its calls");
            disk.fill();
            let (code, stderr) = p.wait().await;
            assert_eq!(code, 3, "a full journal disk aborts: {stderr}");
            assert!(!stderr.contains("panicked"), "{stderr}");
            disk.grow("64m");
            let counts = Journal::open_read(&run_dir)
                .and_then(|j| j.counts())
                .expect("journal readable after the abort");
            let pending = counts.get("pending").copied().unwrap_or(0);
            assert!(pending > 0, "sending stopped before the end: {counts:?}");
            if op != Op::Check {
                // Intent before request: nothing was sent for a row still pending.
                let per_call = if op == Op::Sms { BATCH as u64 } else { 1 };
                let sent = calls_total(&sim.stats(), api) * per_call;
                let past = ids.len() as u64 - pending;
                assert!(sent <= past, "{sent} sent, {past} rows got past pending");
            }
            let mut resume = gsl();
            resume
                .arg("resume")
                .arg(&run_dir)
                .args(["--rate", &op.rate().to_string(), "-q"]);
            spawn(resume, dir.path(), "resume").wait().await
        }
        _ => p.wait().await,
    };
    assert!(!stderr.contains("panicked"), "{stderr}");

    let rows = read_report(&run_dir.join("report.csv"));
    assert_rows_in_order(&rows, ids.len());
    let key = if op == Op::Sms { "cid" } else { "iccid" };
    for (r, id) in rows.iter().zip(&ids) {
        assert_eq!(&r[key], id, "report rows in input order");
        assert!(
            ["ok", "failed", "unknown"].contains(&r["status"].as_str()),
            "{op:?} x {fault:?}: no row left {}: {r:?}",
            r["status"]
        );
    }
    let stats = sim.stats();
    fault_fired(op, fault, &stats);
    attempts_agree(op, fault, &rows, &stats);
    eprintln!(
        "matrix {op:?} x {fault:?}: {:?}, exit {code}, {:?}",
        t0.elapsed(),
        status_counts(&rows)
    );
    let by_id: HashMap<&str, &InventoryCard> =
        cards.iter().map(|c| (c.iccid.as_str(), c)).collect();
    match op {
        Op::Check => check_agrees(&rows, &stats, code, &stderr),
        Op::Clear => clear_agrees(&rows, &stats, &by_id, fault, code, &stderr),
        Op::Sms => sms_agrees(&rows, &stats, fault, code, &stderr),
    }
    if let Ok(sim) = Arc::try_unwrap(sim) {
        sim.shutdown().await;
    }
}

/// The fault did happen during the run, where chance makes that certain enough (an expected
/// count of at least 12, so a miss is under 1e-5); a note otherwise.
fn fault_fired(op: Op, fault: Fault, stats: &Value) {
    let api = op.api();
    let (outcome, share) = match fault {
        Fault::Busy => ("busy", 0.3),
        Fault::Drop => ("dropped", 0.1),
        Fault::Slow => ("slow", 0.05),
        Fault::Throttle => ("throttled", 1.0),
        Fault::TokenExpiry => {
            assert!(calls(stats, api, "unauthorized") >= 1, "{stats}");
            assert!(
                calls(stats, "iam-tokens", "ok") >= 2,
                "a new login: {stats}"
            );
            return;
        }
        Fault::Latency | Fault::Reset | Fault::DiskFull => return,
    };
    let n = calls(stats, api, outcome);
    if op.calls() as f64 * share >= 12.0 {
        assert!(n > 0, "{op:?} x {fault:?}: no call was {outcome}: {stats}");
    } else if n == 0 {
        eprintln!("note: {op:?} x {fault:?}: by chance no call was {outcome} this time");
    }
}

/// Every attempt a row reports is a call the simulator answered (429s and 401s, refused before
/// any work, do not count as attempts), where every request reached it and one run did all the
/// work.
fn attempts_agree(op: Op, fault: Fault, rows: &[HashMap<String, String>], stats: &Value) {
    if matches!(fault, Fault::Reset | Fault::DiskFull) {
        return;
    }
    let api = op.api();
    let per_call = if op == Op::Sms { BATCH as u64 } else { 1 };
    let tries: u64 = rows
        .iter()
        .map(|r| r["attempts"].parse::<u64>().expect("attempts"))
        .sum();
    let answered = calls_total(stats, api)
        - calls(stats, api, "throttled")
        - calls(stats, api, "unauthorized");
    assert_eq!(
        tries,
        answered * per_call,
        "{op:?} x {fault:?}: the report's attempts are the simulator's calls: {stats}"
    );
}

fn check_agrees(rows: &[HashMap<String, String>], stats: &Value, code: i32, stderr: &str) {
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(count(rows, "ok"), rows.len(), "every check ends ok");
    for r in rows {
        assert!(!r["real_named"].is_empty(), "{r:?}");
    }
    assert!(
        calls(stats, "real-named", "ok") >= rows.len() as u64,
        "{stats}"
    );
}

fn clear_agrees(
    rows: &[HashMap<String, String>],
    stats: &Value,
    cards: &HashMap<&str, &InventoryCard>,
    fault: Fault,
    code: i32,
    stderr: &str,
) {
    assert!(code == 0 || code == 1, "{stderr}");
    assert!(
        stat_u64(stats, "max_clear_calls_per_card") <= 1,
        "no card cleared twice: {stats}"
    );
    let mut orders = HashSet::new();
    for r in rows {
        let iccid = r["iccid"].as_str();
        let cleared = clears_of(stats, iccid);
        let telecom = cards[iccid].carrier == Carrier::ChinaTelecom;
        match r["status"].as_str() {
            "ok" => {
                assert_eq!(cleared, 1, "an ok row's card was cleared once: {r:?}");
                assert!(
                    orders.insert(r["work_order_id"].clone()) && !r["work_order_id"].is_empty(),
                    "a distinct work order per ok row: {r:?}"
                );
            }
            "unknown" => {
                assert!(fault.ambiguous(), "{fault:?} leaves nothing unknown: {r:?}");
                assert!(cleared <= 1, "{r:?}");
            }
            "failed" => {
                assert!(
                    !telecom,
                    "a Telecom card failed under {fault:?} (a fault, not a refusal): {r:?}"
                );
                assert_eq!(cleared, 0, "a refused card was not cleared: {r:?}");
                assert!(!r["error_code"].is_empty(), "{r:?}");
            }
            s => panic!("row left {s}: {r:?}"),
        }
    }
    if !fault.ambiguous() {
        let telecom = rows
            .iter()
            .filter(|r| cards[r["iccid"].as_str()].carrier == Carrier::ChinaTelecom)
            .count();
        assert_eq!(count(rows, "ok"), telecom, "every Telecom card cleared");
        assert_eq!(
            count(rows, "failed"),
            rows.len() - telecom,
            "the rest refused"
        );
    }
    let performed: u64 = rows.iter().map(|r| clears_of(stats, &r["iccid"])).sum();
    assert_eq!(
        performed,
        stat_u64(stats, "work_orders_created"),
        "every work order is one of the input's cards: {stats}"
    );
}

fn sms_agrees(
    rows: &[HashMap<String, String>],
    stats: &Value,
    fault: Fault,
    code: i32,
    stderr: &str,
) {
    assert!(code == 0 || code == 1, "{stderr}");
    let sent = |cid: &str| stats["sms_sent_per_cid"][cid].as_u64().unwrap_or(0);
    let per = stats["sms_sent_per_cid"]
        .as_object()
        .expect("sms_sent_per_cid");
    for (cid, n) in per {
        assert!(n.as_u64().unwrap() <= 1, "cid {cid} messaged {n} times");
    }
    for r in rows {
        let n = sent(&r["cid"]);
        match r["status"].as_str() {
            "ok" => assert_eq!(n, 1, "an ok cid was messaged once: {r:?}"),
            "unknown" => {
                assert!(fault.ambiguous(), "{fault:?} leaves nothing unknown: {r:?}");
                assert!(n <= 1, "{r:?}");
            }
            s => panic!("{fault:?}: no SMS is refused here, yet a row is {s}: {r:?}"),
        }
    }
    let total: u64 = per.values().map(|n| n.as_u64().unwrap()).sum();
    let from_input: u64 = rows.iter().map(|r| sent(&r["cid"])).sum();
    assert_eq!(total, from_input, "every SMS went to an input cid: {stats}");
    if !fault.ambiguous() {
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(count(rows, "ok"), rows.len());
    }
}

macro_rules! matrix {
    ($($name:ident: $op:ident x $fault:ident;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            case(Op::$op, Fault::$fault).await;
        }
    )*};
}

matrix! {
    check_busy: Check x Busy;
    check_drop: Check x Drop;
    check_slow: Check x Slow;
    check_latency: Check x Latency;
    check_throttled: Check x Throttle;
    check_token_expiry: Check x TokenExpiry;
    check_connection_reset: Check x Reset;
    check_disk_full: Check x DiskFull;
    clear_busy: Clear x Busy;
    clear_drop: Clear x Drop;
    clear_slow: Clear x Slow;
    clear_latency: Clear x Latency;
    clear_throttled: Clear x Throttle;
    clear_token_expiry: Clear x TokenExpiry;
    clear_connection_reset: Clear x Reset;
    clear_disk_full: Clear x DiskFull;
    sms_busy: Sms x Busy;
    sms_drop: Sms x Drop;
    sms_slow: Sms x Slow;
    sms_latency: Sms x Latency;
    sms_throttled: Sms x Throttle;
    sms_token_expiry: Sms x TokenExpiry;
    sms_connection_reset: Sms x Reset;
    sms_disk_full: Sms x DiskFull;
}
