//! Running the real binary: a clean environment (the developer's credentials never leak in),
//! the usual command lines, and waiting for it, bounded.

use gslbatch::simulator::Simulator;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::sim::{AK, IAM_PASSWORD, IAM_USER, SK};

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
    cmd.arg(op).arg(input);
    against(&mut cmd, sim, run_dir, rate);
    if op == "clear-real-name" {
        cmd.arg("--yes");
    }
    cmd
}

/// `--endpoint URL --run-dir DIR --rate RATE -q`.
fn against(cmd: &mut Command, sim: &Simulator, run_dir: &Path, rate: u32) {
    cmd.arg("--endpoint")
        .arg(sim.url())
        .arg("--run-dir")
        .arg(run_dir)
        .args(["--rate", &rate.to_string(), "-q"]);
}

/// The binary with no credential in its environment, working in `dir` (its state dir, stdin
/// and all else as the process has them).
pub fn bare_in(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gslbatch"));
    for v in ENV_VARS {
        cmd.env_remove(v);
    }
    cmd.current_dir(dir);
    cmd
}

/// `gslbatch send-sms INPUT --content TEXT` against `sim`, confirmed, fast.
pub fn send_sms(input: &Path, sim: &Simulator, run_dir: &Path, content: &str) -> Command {
    send_sms_at(input, sim, run_dir, content, 200)
}

/// `gslbatch send-sms INPUT --content TEXT` against `sim` at `rate`, confirmed.
pub fn send_sms_at(
    input: &Path,
    sim: &Simulator,
    run_dir: &Path,
    content: &str,
    rate: u32,
) -> Command {
    let mut cmd = gsl();
    cmd.arg("send-sms").arg(input).arg("--content").arg(content);
    against(&mut cmd, sim, run_dir, rate);
    cmd.arg("--yes");
    cmd
}

/// The binary logging in as the simulator's IAM user instead of signing with AK/SK.
pub fn with_iam_login(cmd: &mut Command, sim: &Simulator) {
    cmd.env_remove("HUAWEICLOUD_SDK_AK")
        .env_remove("HUAWEICLOUD_SDK_SK")
        .env("GSL_IAM_USER", IAM_USER)
        .env("GSL_IAM_PASSWORD", IAM_PASSWORD)
        .env("GSL_IAM_DOMAIN", "ops-domain")
        .env("HUAWEICLOUD_SDK_IAM_ENDPOINT", sim.url());
}

/// Start `cmd` (a `gslbatch simulate ...`) and read the URL it says it listens on, from its
/// first line (its stderr goes nowhere). The caller stops the child.
pub fn spawn_simulate(mut cmd: Command) -> (std::process::Child, String) {
    use std::io::BufRead;
    cmd.stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = cmd.spawn().expect("simulate starts");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line: {line:?}"))
        .to_string();
    (child, url)
}

/// `gslbatch follow RUN_DIR --rate 100 -q`.
pub fn follow_cmd(run_dir: &Path) -> Command {
    let mut f = gsl();
    f.arg("follow").arg(run_dir).args(["--rate", "100", "-q"]);
    f
}

/// `gslbatch resume RUN_DIR -q` (the run's own settings).
pub fn resume_cmd(run_dir: &Path) -> Command {
    let mut cmd = gsl();
    cmd.arg("resume").arg(run_dir).arg("-q");
    cmd
}

/// `gslbatch resume RUN_DIR -q --rate RATE`.
pub fn resume_at(run_dir: &Path, rate: u32) -> Command {
    let mut cmd = resume_cmd(run_dir);
    cmd.args(["--rate", &rate.to_string()]);
    cmd
}

/// Send signal `name` (`INT`, `TERM`, `HUP`) to a child with `kill`.
pub fn signal(child: &std::process::Child, name: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success(), "kill -{name}");
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
