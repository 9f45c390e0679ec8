//! Shared helpers for the tests that drive the real binary against an in-process simulator:
//! start the simulator with known credentials, write inputs from its own cards, run `gslbatch`
//! with a clean environment (the developer's credentials never leak in), read the report back,
//! and read the simulator's stats.

#![allow(dead_code)]

use gslbatch::simulator::{Carrier, InventoryCard, SimConfig, SimCredentials, Simulator};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const AK: &str = "ENGINETESTAK00000001";
pub const SK: &str = "engine-test-secret-key";
pub const IAM_USER: &str = "ops";
pub const IAM_PASSWORD: &str = "iam-test-password";

/// Every variable the binary (or a simulator it could start) reads credentials or the endpoint
/// from: removed before each run so only what a test sets counts.
pub const ENV_VARS: &[&str] = &[
    "HUAWEICLOUD_SDK_AK",
    "HUAWEICLOUD_SDK_SK",
    "HUAWEICLOUD_SDK_PROJECT_ID",
    "HUAWEICLOUD_SDK_SECURITY_TOKEN",
    "HUAWEICLOUD_SDK_IAM_ENDPOINT",
    "GSL_AUTH_TOKEN",
    "GSL_IAM_USER",
    "GSL_IAM_PASSWORD",
    "GSL_IAM_DOMAIN",
    "GSL_ENDPOINT",
    "GSL_CA_CERT",
    "GSL_NOTIFY_URLS",
    "GSL_NOTIFY_SECRET",
    "HUAWEICLOUD_SDK_CREDENTIALS_FILE",
    "HUAWEICLOUD_SDK_REGION_GSL_CN_NORTH_4",
    "GSL_SIM_AK",
    "GSL_SIM_SK",
    "GSL_SIM_TOKEN",
    "GSL_SIM_IAM_USER",
    "GSL_SIM_IAM_PASSWORD",
    "RUST_LOG",
    "GSL_STATE_DIR",
    "XDG_STATE_HOME",
];

/// A fresh state dir (where the account lock lives) for each command, so tests running at the
/// same time with the same test credentials never hold each other's account lock. A test that
/// wants two processes to meet on the lock sets `GSL_STATE_DIR` itself.
fn isolated_state_dir() -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static BASE: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let base = BASE.get_or_init(|| tempfile::tempdir().expect("state tempdir"));
    base.path()
        .join(NEXT.fetch_add(1, Ordering::Relaxed).to_string())
}

/// The credentials every test simulator accepts.
pub fn sim_credentials() -> SimCredentials {
    SimCredentials {
        ak: Some(AK.into()),
        sk: Some(SK.into()),
        iam_user: Some(IAM_USER.into()),
        iam_password: Some(IAM_PASSWORD.into()),
        ..SimCredentials::default()
    }
}

/// Start a simulator on a free loopback port that accepts [`sim_credentials`].
pub async fn start_sim(cfg: SimConfig) -> Simulator {
    let cfg = SimConfig {
        credentials: sim_credentials(),
        ..cfg
    };
    Simulator::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("simulator starts")
}

/// The real binary with a clean environment and no credentials at all.
pub fn bare() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gslbatch"));
    for v in ENV_VARS {
        cmd.env_remove(v);
    }
    cmd.env("GSL_STATE_DIR", isolated_state_dir());
    cmd.stdin(Stdio::null());
    cmd
}

/// The real binary signing with the simulator's AK/SK.
pub fn gsl() -> Command {
    let mut cmd = bare();
    cmd.env("HUAWEICLOUD_SDK_AK", AK)
        .env("HUAWEICLOUD_SDK_SK", SK);
    cmd
}

/// What a finished run of the binary left.
#[derive(Debug)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

impl Ran {
    fn from_output(out: Output, took: Duration) -> Ran {
        Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            took,
        }
    }
}

/// Run the command to its end on a blocking thread, so the in-process simulator keeps serving.
pub async fn run(mut cmd: Command) -> Ran {
    tokio::task::spawn_blocking(move || {
        let t0 = Instant::now();
        let out = cmd.output().expect("gslbatch runs");
        Ran::from_output(out, t0.elapsed())
    })
    .await
    .expect("runner thread")
}

/// A batch command line against `sim`: `gslbatch OP INPUT --endpoint URL --run-dir DIR ...`.
pub fn batch(op: &str, input: &Path, sim: &Simulator, run_dir: &Path, rate: u32) -> Command {
    let mut cmd = gsl();
    cmd.arg(op)
        .arg(input)
        .arg("--endpoint")
        .arg(sim.url())
        .arg("--run-dir")
        .arg(run_dir)
        .arg("--rate")
        .arg(rate.to_string())
        .arg("-q");
    if op == "clear-real-name" {
        cmd.arg("--yes");
    }
    cmd
}

/// The ICCIDs of the simulator's first `n` cards.
pub fn first_iccids(sim: &Simulator, n: usize) -> Vec<String> {
    sim.cards()
        .iter()
        .take(n)
        .map(|c| c.iccid.clone())
        .collect()
}

/// The ICCIDs of the first `n` China Telecom (clearable) cards of the simulator.
pub fn telecom_iccids(sim: &Simulator, n: usize) -> Vec<String> {
    let (telecom, _) = split_cards(sim);
    let ids: Vec<String> = telecom.iter().take(n).map(|c| c.iccid.clone()).collect();
    assert_eq!(ids.len(), n, "the simulator holds {n} China Telecom cards");
    ids
}

/// Send signal `name` (`INT`, `TERM`, `HUP`) to a child with `kill`.
pub fn signal(child: &std::process::Child, name: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success(), "kill -{name}");
}

/// Cards of the simulator, split into China Telecom (clearable) and the rest.
pub fn split_cards(sim: &Simulator) -> (Vec<InventoryCard>, Vec<InventoryCard>) {
    sim.cards()
        .into_iter()
        .partition(|c| c.carrier == Carrier::ChinaTelecom)
}

/// Write a CSV with an `iccid` header and one row per value.
pub fn write_csv(dir: &Path, name: &str, iccids: &[String]) -> PathBuf {
    let mut text = String::with_capacity(iccids.len() * 22 + 8);
    text.push_str("iccid\n");
    for i in iccids {
        text.push_str(i);
        text.push('\n');
    }
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write input");
    path
}

/// A report CSV as one map per row, column name → cell.
pub fn read_report(path: &Path) -> Vec<HashMap<String, String>> {
    let mut r = csv::Reader::from_path(path)
        .unwrap_or_else(|e| panic!("report {} readable: {e}", path.display()));
    let headers = r.headers().expect("report header").clone();
    r.records()
        .map(|rec| {
            let rec = rec.expect("report record");
            headers
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// Rows per status.
pub fn status_counts(rows: &[HashMap<String, String>]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for r in rows {
        *m.entry(r["status"].clone()).or_default() += 1;
    }
    m
}

pub fn count(rows: &[HashMap<String, String>], status: &str) -> usize {
    rows.iter().filter(|r| r["status"] == status).count()
}

/// Rows are numbered 1..=N in order, one per input row.
pub fn assert_rows_in_order(rows: &[HashMap<String, String>], n: usize) {
    assert_eq!(rows.len(), n, "one report row per input row");
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r["row"], (i + 1).to_string(), "report rows in input order");
    }
}

/// `calls.<api>.<outcome>` from the simulator's stats.
pub fn calls(stats: &Value, api: &str, outcome: &str) -> u64 {
    stats["calls"][api][outcome]
        .as_u64()
        .unwrap_or_else(|| panic!("stats have calls.{api}.{outcome}: {stats}"))
}

/// Every call to `api`, any outcome.
pub fn calls_total(stats: &Value, api: &str) -> u64 {
    stats["calls"][api]
        .as_object()
        .unwrap_or_else(|| panic!("stats have calls.{api}"))
        .values()
        .map(|v| v.as_u64().unwrap_or(0))
        .sum()
}

/// How many clears the simulator performed for one card.
pub fn clears_of(stats: &Value, iccid: &str) -> u64 {
    stats["clear_calls_per_card"][iccid].as_u64().unwrap_or(0)
}

pub fn stat_u64(stats: &Value, key: &str) -> u64 {
    stats[key]
        .as_u64()
        .unwrap_or_else(|| panic!("stats have {key}: {stats}"))
}

/// Wait (bounded) until `cond` holds, polling; panics with `what` on timeout.
pub async fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(
            t0.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A temporary directory for one test.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// Start the binary without waiting; its stdout and stderr go to `dir/NAME.out` and `NAME.err`.
pub fn spawn_logged(mut cmd: Command, dir: &Path, name: &str) -> std::process::Child {
    cmd.stdout(std::fs::File::create(dir.join(format!("{name}.out"))).unwrap())
        .stderr(std::fs::File::create(dir.join(format!("{name}.err"))).unwrap())
        .spawn()
        .expect("gslbatch starts")
}

/// Wait (bounded, without blocking the runtime) for the child to exit; kill it and fail if it
/// does not. Returns its exit code.
pub async fn wait_exit(child: &mut std::process::Child, limit: Duration) -> i32 {
    let t0 = Instant::now();
    loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            return st.code().unwrap_or(-1);
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("gslbatch did not exit within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A small tmpfs for the journal, to fill it up (needs root; `None` where mounting is refused).
pub struct SmallDisk(pub PathBuf);

/// Set to skip the full-disk tests where no tmpfs can be mounted (they need root); without it
/// such a machine fails them, so a run that skipped them says so.
pub const SKIP_FULL_DISK: &str = "GSL_TEST_SKIP_FULL_DISK";

impl SmallDisk {
    /// A tmpfs of `size` at `at`. Where none can be mounted the test fails, unless
    /// [`SKIP_FULL_DISK`] is set: then `None`, and the test says on stderr that it did not run.
    pub fn mount_or_skip(at: &Path, size: &str, what: &str) -> Option<SmallDisk> {
        if let Some(d) = SmallDisk::mount(at, size) {
            return Some(d);
        }
        let skip = std::env::var_os(SKIP_FULL_DISK).is_some_and(|v| !v.is_empty() && v != "0");
        assert!(
            skip,
            "cannot mount a tmpfs here (needs root), so {what} cannot run: run the tests as \
             root, or set {SKIP_FULL_DISK}=1 to skip it explicitly"
        );
        eprintln!("SKIPPED ({SKIP_FULL_DISK} is set): {what} did not run");
        None
    }

    pub fn mount(at: &Path, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| SmallDisk(at.to_path_buf()))
    }

    /// Take every free byte with a filler file.
    pub fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.0.join("filler")).unwrap();
        for chunk in [1 << 20, 4096, 1] {
            let buf = vec![0u8; chunk];
            while f.write_all(&buf).is_ok() {}
        }
    }

    pub fn grow(&self, size: &str) {
        let st = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(st.success(), "remount");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}
