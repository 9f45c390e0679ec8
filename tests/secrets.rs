//! Secrets never leave the process: the real binary at `-vvv`, with every credential variable
//! set to a distinctive value, succeeding and failing authentication in each mode, must not
//! print one of them on stdout or stderr nor write one into any file of its run dir (report,
//! summary, journal bytes). `Debug` of every `Credentials` variant hides them too.

use crate::common::{bare_in, start_sim_as};
use gslbatch::gsl::auth::iam::IamLogin;
use gslbatch::gsl::auth::{Credentials, Secret};
use gslbatch::simulator::{SimConfig, SimCredentials, Simulator};
use std::path::{Path, PathBuf};

const AK: &str = "SECRETSTESTAK0001";
const SK: &str = "SKsecret-9c41e7b2d0";
const SECURITY_TOKEN: &str = "STsecret-5a8f03c6e1";
const AUTH_TOKEN: &str = "ATsecret-27d9b4f6a3";
const FILE_TOKEN: &str = "TFsecret-e83c1a7f54";
const IAM_USER: &str = "secrets-ops";
const IAM_PASSWORD: &str = "PWsecret-b61f92d8c7";

/// Every value that must never show, and a prefix of each (a truncated leak is a leak too).
const SECRETS: [&str; 5] = [SK, SECURITY_TOKEN, AUTH_TOKEN, FILE_TOKEN, IAM_PASSWORD];

/// What the simulator accepts: the same values the binary is given, or (`wrong`) none of them.
fn sim_creds(wrong: bool) -> SimCredentials {
    let v = |s: &str| {
        Some(if wrong {
            format!("other-{s}")
        } else {
            s.into()
        })
    };
    SimCredentials {
        ak: Some(AK.into()),
        sk: v(SK),
        token: None,
        iam_user: Some(IAM_USER.into()),
        iam_password: v(IAM_PASSWORD),
    }
}

async fn start(credentials: SimCredentials) -> Simulator {
    let cfg = SimConfig {
        cards: 30,
        credentials,
        ..SimConfig::default()
    };
    start_sim_as(cfg).await
}

#[derive(Clone, Copy, Debug)]
enum Mode {
    /// Everything set: AK/SK wins.
    AkSk,
    /// No AK/SK: `--token-file` wins over `GSL_AUTH_TOKEN`.
    TokenFile,
    /// No AK/SK, no file: `GSL_AUTH_TOKEN`.
    EnvToken,
    /// Only the IAM variables.
    Iam,
}

struct Run {
    code: i32,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    dir: tempfile::TempDir,
}

/// Run `check-real-name -vvv` over a few cards of `sim` in `mode`.
async fn run(sim: &Simulator, mode: Mode) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let cards: Vec<String> = sim.cards().into_iter().take(3).map(|c| c.iccid).collect();
    std::fs::write(
        dir.path().join("cards.csv"),
        format!("iccid\n{}\n", cards.join("\n")),
    )
    .unwrap();
    std::fs::write(dir.path().join("token.txt"), format!("{FILE_TOKEN}\n")).unwrap();
    std::fs::write(
        dir.path().join("job.toml"),
        "operation = \"check-real-name\"\ninput = \"cards.csv\"\nrun_dir = \"job-run\"\n",
    )
    .unwrap();
    let mut cmd = bare_in(dir.path());
    cmd.args([
        "-vvv",
        "check-real-name",
        "cards.csv",
        "--endpoint",
        &sim.url(),
    ]);
    cmd.args(["--run-dir", "run", "--max-attempts", "2", "--timeout", "5"]);
    let iam_endpoint = sim.url();
    let mut env: Vec<(&str, &str)> = vec![
        ("GSL_AUTH_TOKEN", AUTH_TOKEN),
        ("GSL_IAM_USER", IAM_USER),
        ("GSL_IAM_PASSWORD", IAM_PASSWORD),
        ("GSL_IAM_DOMAIN", "acme"),
        ("HUAWEICLOUD_SDK_IAM_ENDPOINT", &iam_endpoint),
    ];
    match mode {
        Mode::AkSk => {
            env.extend([
                ("HUAWEICLOUD_SDK_AK", AK),
                ("HUAWEICLOUD_SDK_SK", SK),
                ("HUAWEICLOUD_SDK_SECURITY_TOKEN", SECURITY_TOKEN),
                ("HUAWEICLOUD_SDK_PROJECT_ID", "secrets-project"),
            ]);
            cmd.args(["--token-file", "token.txt"]);
        }
        Mode::TokenFile => {
            cmd.args(["--token-file", "token.txt"]);
        }
        Mode::EnvToken => {}
        Mode::Iam => env.retain(|(k, _)| *k != "GSL_AUTH_TOKEN"),
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: out.stderr,
        dir,
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// No secret (nor an IAM-issued token, which starts `MIIsim`) in any output or run-dir file.
#[track_caller]
fn assert_clean(run: &Run, what: &str) {
    let mut blobs: Vec<(String, Vec<u8>)> = vec![
        ("stdout".into(), run.stdout.clone()),
        ("stderr".into(), run.stderr.clone()),
    ];
    let run_dir = run.dir.path().join("run");
    assert!(run_dir.is_dir(), "{what}: the run wrote its run dir");
    let files = files_under(&run_dir);
    assert!(
        files
            .iter()
            .any(|p| p.file_name().unwrap() == "journal.sqlite"),
        "{what}: {files:?}"
    );
    for f in files {
        blobs.push((f.display().to_string(), std::fs::read(&f).unwrap()));
    }
    for (name, bytes) in &blobs {
        for secret in SECRETS.iter().copied().chain(["MIIsim"]) {
            assert!(
                !contains(bytes, secret),
                "{what}: {secret} leaked into {name}:\n{}",
                String::from_utf8_lossy(bytes)
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_output_or_run_dir_when_auth_succeeds() {
    for mode in [Mode::AkSk, Mode::TokenFile, Mode::EnvToken, Mode::Iam] {
        let mut creds = sim_creds(false);
        creds.token = Some(
            match mode {
                Mode::EnvToken => AUTH_TOKEN,
                _ => FILE_TOKEN,
            }
            .into(),
        );
        let sim = start(creds).await;
        let r = run(&sim, mode).await;
        let what = format!("{mode:?} ok");
        assert_eq!(r.code, 0, "{what}: {}", String::from_utf8_lossy(&r.stderr));
        assert_eq!(sim.stats()["calls"]["real-named"]["ok"], 3, "{what}");
        assert!(!r.stderr.is_empty(), "{what}: -vvv logs something");
        assert_clean(&r, &what);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_output_or_run_dir_when_auth_fails() {
    for mode in [Mode::AkSk, Mode::TokenFile, Mode::EnvToken, Mode::Iam] {
        let mut creds = sim_creds(true);
        creds.token = Some("a-token-nobody-has".into());
        let sim = start(creds).await;
        let r = run(&sim, mode).await;
        let what = format!("{mode:?} refused");
        assert_eq!(
            r.code,
            3,
            "{what}: authentication rejected aborts: {}",
            String::from_utf8_lossy(&r.stderr)
        );
        assert!(
            sim.stats()["auth_failures"].as_u64().unwrap() >= 1,
            "{what}"
        );
        assert_eq!(sim.stats()["calls"]["real-named"]["ok"], 0, "{what}");
        assert_clean(&r, &what);
    }
}

#[test]
fn debug_of_credentials_hides_secrets() {
    let variants = [
        Credentials::AkSk {
            ak: AK.into(),
            sk: Secret::new(SK),
            project_id: Some("p".into()),
            security_token: Some(Secret::new(SECURITY_TOKEN)),
        },
        Credentials::Token {
            token: Secret::new(AUTH_TOKEN),
            file: None,
        },
        Credentials::Token {
            token: Secret::new(FILE_TOKEN),
            file: Some("token.txt".into()),
        },
        Credentials::Iam(IamLogin {
            user: IAM_USER.into(),
            password: Secret::new(IAM_PASSWORD),
            domain: "acme".into(),
            endpoint: url::Url::parse("https://iam.example").unwrap(),
        }),
    ];
    for c in &variants {
        for text in [
            format!("{c:?}"),
            format!("{c:#?}"),
            c.identity(),
            c.mode().into(),
        ] {
            for s in SECRETS {
                assert!(!text.contains(s), "{s} in {text}");
            }
        }
    }
    assert!(
        format!("{:?}", variants[0]).contains(AK),
        "the AK is an identifier"
    );
    assert_eq!(format!("{}", Secret::new(SK)), "<redacted>");
    let sim = format!("{:?}", sim_creds(false));
    for s in SECRETS {
        assert!(!sim.contains(s), "{s} in {sim}");
    }
}

/// Every other command, in AK/SK mode with every credential variable set (and a token file),
/// at `-vvv`: nothing it prints or writes holds a secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_from_any_command() {
    let mut creds = sim_creds(false);
    creds.token = Some(FILE_TOKEN.into());
    let sim = Simulator::start(
        SimConfig {
            cards: 200,
            credentials: creds,
            work_order_secs: 0.1,
            ..SimConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cards = sim.cards();
    let all: Vec<String> = cards.iter().take(20).map(|c| c.iccid.clone()).collect();
    let sms: Vec<String> = cards
        .iter()
        .filter(|c| c.sms_plan && c.carrier.sends_sms())
        .take(5)
        .map(|c| c.iccid.clone())
        .collect();
    std::fs::write(
        dir.path().join("cards.csv"),
        format!("iccid\n{}\n", all.join("\n")),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("cids.csv"),
        format!("cid\n{}\n", sms.join("\n")),
    )
    .unwrap();
    std::fs::write(dir.path().join("token.txt"), format!("{FILE_TOKEN}\n")).unwrap();
    std::fs::write(
        dir.path().join("job.toml"),
        "operation = \"check-real-name\"\ninput = \"cards.csv\"\nrun_dir = \"job-run\"\n",
    )
    .unwrap();
    let url = sim.url();
    let cycle = chrono::Local::now().format("%Y-%m").to_string();
    let commands: Vec<Vec<&str>> = vec![
        vec![
            "clear-real-name",
            "cards.csv",
            "--run-dir",
            "clear",
            "--yes",
        ],
        vec!["follow", "clear"],
        vec!["resume", "clear"],
        vec!["status", "clear", "--json"],
        vec!["report", "clear", "--report", "clear.json"],
        vec![
            "send-sms",
            "cids.csv",
            "--content",
            "maintenance at 22:00",
            "--run-dir",
            "sms",
            "--yes",
        ],
        vec![
            "set-tags",
            "cards.csv",
            "--tag",
            "fleet-a",
            "--run-dir",
            "tags",
            "--yes",
        ],
        vec!["inventory", "--report", "inventory.csv"],
        vec![
            "pool-members",
            "--pool",
            "3001",
            "--billing-cycle",
            &cycle,
            "--report",
            "pool.csv",
        ],
        vec!["check-real-name", "cards.csv", "--dry-run"],
        vec!["run", "job.toml"],
    ];
    let mut blobs: Vec<(String, Vec<u8>)> = Vec::new();
    for args in &commands {
        let mut cmd = bare_in(dir.path());
        cmd.arg("-vvv").args(args);
        // follow and resume take the endpoint from the journal.
        if !matches!(args[0], "status" | "report" | "follow" | "resume") {
            cmd.args(["--endpoint", &url]);
        }
        if !matches!(args[0], "status" | "report" | "check-real-name") {
            cmd.args(["--token-file", "token.txt"]);
        }
        cmd.env("GSL_STATE_DIR", dir.path().join("state"));
        for (k, v) in [
            ("HUAWEICLOUD_SDK_AK", AK),
            ("HUAWEICLOUD_SDK_SK", SK),
            ("HUAWEICLOUD_SDK_SECURITY_TOKEN", SECURITY_TOKEN),
            ("GSL_AUTH_TOKEN", AUTH_TOKEN),
            ("GSL_IAM_USER", IAM_USER),
            ("GSL_IAM_PASSWORD", IAM_PASSWORD),
            ("GSL_IAM_DOMAIN", "acme"),
        ] {
            cmd.env(k, v);
        }
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        let code = out.status.code().unwrap_or(-1);
        // 4: follow found work orders still processing.
        assert!(
            code == 0 || code == 1 || code == 4,
            "{args:?} exited {code}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        blobs.push((format!("{args:?} stdout"), out.stdout));
        blobs.push((format!("{args:?} stderr"), out.stderr));
    }
    for f in files_under(dir.path()) {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        if name != "token.txt" {
            blobs.push((f.display().to_string(), std::fs::read(&f).unwrap()));
        }
    }
    assert!(blobs.len() > 25, "every command ran and wrote its files");
    for (name, bytes) in &blobs {
        for secret in SECRETS {
            assert!(
                !contains(bytes, secret),
                "{secret} leaked into {name}:\n{}",
                String::from_utf8_lossy(bytes)
            );
        }
    }
}

/// `simulate -vvv` with its accepted credentials in its environment, answering a good and a
/// refused request: neither its output nor its log holds one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_from_the_simulator_process() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let err_path = dir.path().join("sim.err");
    let mut sim = bare_in(dir.path())
        .args([
            "-vvv",
            "simulate",
            "--listen",
            "127.0.0.1:0",
            "--cards",
            "50",
        ])
        .env("GSL_SIM_AK", AK)
        .env("GSL_SIM_SK", SK)
        .env("GSL_SIM_TOKEN", AUTH_TOKEN)
        .env("GSL_SIM_IAM_USER", IAM_USER)
        .env("GSL_SIM_IAM_PASSWORD", IAM_PASSWORD)
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let mut first = String::new();
    let mut out = BufReader::new(sim.stdout.take().unwrap());
    let read = tokio::task::spawn_blocking(move || {
        out.read_line(&mut first).unwrap();
        (first, out)
    });
    let (first, mut out) = tokio::time::timeout(std::time::Duration::from_secs(30), read)
        .await
        .expect("the simulator says where it listens")
        .unwrap();
    let url = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{first}"))
        .to_string();
    // One run it accepts (the token) and one it refuses (a wrong SK).
    std::fs::write(
        dir.path().join("cards.csv"),
        "iccid\n89860312345678901234\n",
    )
    .unwrap();
    let token: &[(&str, &str)] = &[("GSL_AUTH_TOKEN", AUTH_TOKEN)];
    let wrong_sk: &[(&str, &str)] = &[
        ("HUAWEICLOUD_SDK_AK", AK),
        ("HUAWEICLOUD_SDK_SK", "wrong-sk"),
    ];
    // Accepted: the card is not in its inventory, so the row fails (exit 1); refused: exit 3.
    for (i, (env, want)) in [(token, 1), (wrong_sk, 3)].into_iter().enumerate() {
        let mut cmd = bare_in(dir.path());
        cmd.args([
            "check-real-name",
            "cards.csv",
            "-q",
            "--endpoint",
            &url,
            "--run-dir",
        ])
        .arg(dir.path().join(format!("run{i}")));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let done = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        assert_eq!(
            done.status.code(),
            Some(want),
            "{}",
            String::from_utf8_lossy(&done.stderr)
        );
    }
    let _ = sim.kill();
    let _ = sim.wait();
    let mut rest = Vec::new();
    std::io::Read::read_to_end(&mut out, &mut rest).unwrap();
    let log = std::fs::read(&err_path).unwrap();
    assert!(!log.is_empty(), "-vvv logs something");
    for (name, bytes) in [
        ("stdout", [first.as_bytes(), &rest].concat()),
        ("stderr", log),
    ] {
        for secret in SECRETS {
            assert!(
                !contains(&bytes, secret),
                "{secret} leaked into the simulator's {name}:\n{}",
                String::from_utf8_lossy(&bytes)
            );
        }
    }
}
