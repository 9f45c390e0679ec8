//! The README's commands, run as it prints them: the quick start, the shell examples of the
//! subcommands (against a simulator through `GSL_ENDPOINT`), and the cron line and systemd unit
//! of "Scheduled runs" (their install paths mapped into a temporary directory, nothing else
//! changed). A flag renamed in the binary, or a recipe that exports nothing, fails here.

use crate::common::*;
use gslbatch::simulator::{SimConfig, Simulator};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md")
}

/// The fenced blocks of `lang`, in order.
fn blocks(lang: &str) -> Vec<String> {
    let text = readme();
    let mut out = Vec::new();
    let mut lines = text.lines();
    let fence = format!("```{lang}");
    while let Some(line) = lines.next() {
        if line.trim_end() == fence {
            let body: Vec<&str> = lines
                .by_ref()
                .take_while(|l| !l.starts_with("```"))
                .collect();
            out.push(body.join("\n"));
        }
    }
    assert!(!out.is_empty(), "the README has a {lang} block");
    out
}

/// The `gslbatch …` lines of the sh blocks, comments dropped, as argument lists.
fn gslbatch_lines() -> Vec<Vec<String>> {
    blocks("sh")
        .iter()
        .flat_map(|b| b.lines().map(str::to_string).collect::<Vec<_>>())
        .filter_map(|l| {
            let code = l.split(" # ").next().unwrap_or(&l).trim().to_string();
            let args: Vec<String> = code.split_whitespace().map(str::to_string).collect();
            (args.first().map(String::as_str) == Some("gslbatch")).then(|| args[1..].to_vec())
        })
        .collect()
}

/// A working directory like the repository's: `samples/` and `jobs/` copied.
fn checkout_like(dir: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for sub in ["samples", "jobs"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        for f in std::fs::read_dir(root.join(sub)).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, dir.join(sub).join(f.file_name().unwrap())).unwrap();
        }
    }
}

fn sample_iccids() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/iccids.csv");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quick_start_runs_as_printed_and_a_second_run_skips_the_cleared_cards() {
    let block = blocks("sh")
        .into_iter()
        .find(|b| b.contains("cargo run --release --"))
        .expect("the quick start");
    let args: Vec<String> = block
        .split("cargo run --release --")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let dir = tempdir();
    checkout_like(dir.path());
    let state = dir.path().join("state");
    let quick_start = || {
        let mut cmd = bare();
        cmd.args(&args)
            .current_dir(dir.path())
            .env("GSL_STATE_DIR", &state);
        cmd
    };
    let ran = run(quick_start()).await;
    assert_eq!(ran.code, 1, "the README says exit 1: {}", ran.stderr);
    for said in ["ok 34", "failed 6", "invalid 1", "duplicate 1", "REHEARSAL"] {
        assert!(ran.stderr.contains(said), "{said:?} in {}", ran.stderr);
    }
    let runs: Vec<PathBuf> = std::fs::read_dir(dir.path().join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1);
    let name = runs[0].file_name().unwrap().to_string_lossy().to_string();
    assert!(
        name.starts_with("clear-real-name-") && name.ends_with("-rehearsal"),
        "{name}"
    );
    assert_eq!(read_report(&runs[0].join("report.csv")).len(), 42);

    let again = run(quick_start()).await;
    assert!(again.stderr.contains("skipped 34"), "{}", again.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subcommand_examples_run_as_printed() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let telecom = telecom_iccids(&sim, 6);
    let file = |name: &str, header: &str, rows: Vec<String>| {
        std::fs::write(
            dir.path().join(name),
            format!("{header}\n{}\n", rows.join("\n")),
        )
        .unwrap()
    };
    file("cards.csv", "iccid", first_iccids(&sim, 6));
    file("lost-shipment.csv", "iccid", telecom.clone());
    file("new-cards.csv", "iccid", telecom.clone());
    file("suspended.csv", "iccid", telecom.clone());
    file("fleet.csv", "iccid", telecom.clone());
    let devices = telecom
        .iter()
        .enumerate()
        .map(|(n, i)| format!("{i},35693803564{n:04}"))
        .collect();
    file("devices.csv", "iccid,imei", devices);

    let lines = gslbatch_lines();
    assert!(lines.len() >= 10, "{lines:?}");
    for (n, args) in lines.iter().enumerate() {
        let mut cmd = gsl();
        cmd.args(args)
            .current_dir(dir.path())
            .env("GSL_ENDPOINT", sim.url())
            .arg("--run-dir")
            .arg(dir.path().join(format!("run-{n}")))
            .args(["--yes", "--rate", "100", "-q"]);
        let ran = run(cmd).await;
        assert!(
            ran.code == 0 || ran.code == 1,
            "`gslbatch {}` as the README prints it: exit {}: {}",
            args.join(" "),
            ran.code,
            ran.stderr
        );
    }
    // Each example reached its API.
    let stats = sim.stats();
    for api in [
        "set-tags",
        "stop",
        "reset",
        "enable",
        "cut-net",
        "speed-limit",
        "exceed-cut-net",
        "bind-device",
    ] {
        assert!(calls_total(&stats, api) > 0, "no call to {api}");
    }
}

/// The recipes' files laid out under `root` as the README puts them on a server: the
/// checkout in `srv/gslbatch`, the env file with the simulator's credentials (and endpoint),
/// and `gslbatch` on a PATH of its own.
struct Server {
    root: tempfile::TempDir,
    sim: Simulator,
}

impl Server {
    async fn new() -> Server {
        let sim = start_sim(SimConfig::from_iccids(&sample_iccids())).await;
        let root = tempdir();
        checkout_like(&root.path().join("srv/gslbatch"));
        let bin = root.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_gslbatch"), bin.join("gslbatch")).unwrap();
        Server { root, sim }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.root.path().join(p.trim_start_matches('/'))
    }

    /// An env file as the README shows it: `KEY=value` lines, no `export`.
    fn env_file(&self, at: &str) -> PathBuf {
        let path = self.path(at);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let creds = gsl();
        let mut text = String::from("# credentials (chmod 600)\n");
        for (k, v) in creds.get_envs() {
            if let (Some(v), true) = (v, k.to_string_lossy().starts_with("HUAWEICLOUD")) {
                text.push_str(&format!(
                    "{}={}\n",
                    k.to_string_lossy(),
                    v.to_string_lossy()
                ));
            }
        }
        text.push_str(&format!("GSL_ENDPOINT={}\n", self.sim.url()));
        std::fs::write(&path, text).unwrap();
        path
    }

    /// A command with the environment cron or systemd gives: nothing but a PATH (and what the
    /// caller adds), no terminal.
    fn bare_env(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin", self.path("bin").display()),
            )
            .stdin(Stdio::null());
        cmd
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cron_line_runs_as_printed_twice_in_a_night_sending_once() {
    let server = Server::new().await;
    let cron = blocks("cron").remove(0);
    let line = cron.lines().find(|l| !l.starts_with('#')).unwrap();
    // The five schedule fields, then the command cron hands to /bin/sh.
    let command = line.splitn(6, ' ').nth(5).unwrap();
    let command = command.replace(
        "/srv/gslbatch",
        &server.path("srv/gslbatch").display().to_string(),
    );
    server.env_file("srv/gslbatch/gsl.env");
    let home = server.path("home");
    std::fs::create_dir_all(&home).unwrap();
    for _ in 0..2 {
        let out = server
            .bare_env("/bin/sh")
            .arg("-c")
            .arg(&command)
            .env("HOME", &home)
            .env("SHELL", "/bin/sh")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let logs: Vec<PathBuf> = std::fs::read_dir(server.path("srv/gslbatch/logs"))
        .expect("the cron line keeps its log")
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(logs.len(), 1, "one log a night: {logs:?}");
    let log = std::fs::read_to_string(&logs[0]).unwrap();
    let exits: Vec<&str> = log.lines().filter(|l| l.starts_with("exit ")).collect();
    // The sample has an invalid and a duplicate row: exit 1; the second start finds the run
    // finished and exits 0 at once (SPEC: "or exits 0 at once if it is finished").
    assert_eq!(exits, ["exit 1", "exit 0"], "{log}");
    for l in log.lines().filter(|l| !l.starts_with("exit ")) {
        serde_json::from_str::<serde_json::Value>(l)
            .unwrap_or_else(|e| panic!("a JSON log line: {l:?}: {e}"));
    }
    // The second start the same night found the run done and sent nothing.
    assert_eq!(calls_total(&server.sim.stats(), "real-named"), 40);
}

/// The `[Service]` section of the README's unit, as `key → values`.
fn service_unit() -> HashMap<String, Vec<String>> {
    let ini = blocks("ini").remove(0);
    let mut keys: HashMap<String, Vec<String>> = HashMap::new();
    let mut in_service = false;
    for line in ini.lines().map(str::trim) {
        if line.starts_with('[') {
            in_service = line == "[Service]";
        } else if let (true, Some((k, v))) = (in_service, line.split_once('=')) {
            if !line.starts_with('#') {
                keys.entry(k.to_string()).or_default().push(v.to_string());
            }
        }
    }
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_systemd_unit_runs_as_printed_for_a_user_without_a_home() {
    let server = Server::new().await;
    let unit = service_unit();
    let one = |k: &str| unit[k][0].clone();
    // What systemd does before ExecStart: the state directory, the env file, the Environment=
    // lines; a service user has no home (systemd's HOME for it does not exist).
    let state_dir = format!("/var/lib/{}", one("StateDirectory"));
    std::fs::create_dir_all(server.path(&state_dir)).unwrap();
    let env_file = server.env_file(&one("EnvironmentFile"));
    let map = |v: &str| {
        v.replace(&state_dir, &server.path(&state_dir).display().to_string())
            .replace(
                "/srv/gslbatch",
                &server.path("srv/gslbatch").display().to_string(),
            )
    };
    let exec: Vec<String> = one("ExecStart")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(exec[0], "/usr/local/bin/gslbatch");
    let allowed: Vec<i32> = std::iter::once(0)
        .chain(unit["SuccessExitStatus"].iter().map(|c| c.parse().unwrap()))
        .collect();
    // The unit as printed, then the same unit running the clear job as a rehearsal: that one
    // needs the state dir (the account ledger), which is where a homeless user failed.
    let clear = [
        "run",
        "jobs/clear-real-name-migration.toml",
        "--rehearse",
        "--yes",
        "--log-format",
        "json",
    ];
    for args in [exec[1..].to_vec(), clear.map(str::to_string).to_vec()] {
        let mut cmd = server.bare_env(env!("CARGO_BIN_EXE_gslbatch"));
        cmd.args(&args)
            .current_dir(map(&one("WorkingDirectory")))
            .env("HOME", "/nonexistent");
        for line in std::fs::read_to_string(&env_file).unwrap().lines() {
            if let Some((k, v)) = line.split_once('=').filter(|_| !line.starts_with('#')) {
                cmd.env(k, v);
            }
        }
        for kv in unit.get("Environment").into_iter().flatten() {
            let (k, v) = kv.split_once('=').unwrap();
            cmd.env(k, map(v));
        }
        let out = cmd.output().unwrap();
        let code = out.status.code().unwrap_or(-1);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(allowed.contains(&code), "{args:?}: exit {code}: {stderr}");
        for l in stderr.lines() {
            serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| {
                panic!("{args:?}: a JSON log line for the journal: {l:?}: {e}")
            });
        }
        assert!(out.stdout.is_empty(), "nothing on stdout for the journal");
    }
    let kept: Vec<_> = walk(&server.path(&state_dir));
    assert!(
        kept.iter().any(|p| p.to_string_lossy().contains("ledger")),
        "the ledger lives in the state directory: {kept:?}"
    );
    assert!(calls_total(&server.sim.stats(), "real-named") > 0);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}
