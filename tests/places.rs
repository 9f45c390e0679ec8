//! Where operators work (issue 26): behind a company proxy, with a company CA.

use crate::common::*;
use gslbatch::simulator::SimConfig;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A forward HTTP proxy on loopback that counts what it receives. Every connection is tunnelled
/// to `upstream` whatever host it names, so an endpoint whose name resolves nowhere
/// (`gsl.proxied.invalid`) is reached only through it.
struct CountingProxy {
    addr: std::net::SocketAddr,
    connections: Arc<AtomicU64>,
    /// Every byte clients sent, to count the requests in it.
    seen: Arc<Mutex<Vec<u8>>>,
}

impl CountingProxy {
    async fn start(upstream: std::net::SocketAddr) -> CountingProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicU64::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (c, s) = (connections.clone(), seen.clone());
        tokio::spawn(async move {
            while let Ok((mut down, _)) = listener.accept().await {
                c.fetch_add(1, Ordering::Relaxed);
                let seen = s.clone();
                tokio::spawn(async move {
                    let Ok(up) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (mut up_r, mut up_w) = up.into_split();
                    let (mut down_r, mut down_w) = down.split();
                    let to_server = async {
                        let mut buf = vec![0u8; 16 * 1024];
                        loop {
                            let n = match down_r.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            seen.lock().unwrap().extend_from_slice(&buf[..n]);
                            if up_w.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                        let _ = up_w.shutdown().await;
                    };
                    let to_client = async {
                        let _ = tokio::io::copy(&mut up_r, &mut down_w).await;
                        let _ = down_w.shutdown().await;
                    };
                    tokio::join!(to_server, to_client);
                });
            }
        });
        CountingProxy {
            addr,
            connections,
            seen,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// Requests in absolute form (`GET http://host/...`), as a client sends them to a proxy.
    fn requests_to(&self, host: &str) -> usize {
        let seen = self.seen.lock().unwrap();
        let text = String::from_utf8_lossy(&seen);
        ["GET", "POST"]
            .iter()
            .map(|m| text.matches(&format!("{m} http://{host}")).count())
            .sum()
    }
}

/// The proxy variables of a company shell, all pointing at `proxy`.
fn behind_proxy(cmd: &mut std::process::Command, proxy: &str) {
    for v in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
    ] {
        cmd.env(v, proxy);
    }
    cmd.env_remove("NO_PROXY").env_remove("no_proxy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_carries_real_calls_and_never_loopback_ones() {
    let sim = start_sim(SimConfig {
        cards: 40,
        ..SimConfig::default()
    })
    .await;
    let proxy = CountingProxy::start(sim.addr()).await;
    let dir = tempdir();
    let ids = first_iccids(&sim, 12);
    let input = write_csv(dir.path(), "cards.csv", &ids);

    // A rehearsal talks to its own loopback simulator: the proxy never hears of it.
    let mut cmd = gsl();
    cmd.args(["check-real-name", "--rehearse", "-q", "--run-dir"])
        .arg(dir.path().join("rehearsal"))
        .arg(&input);
    behind_proxy(&mut cmd, &proxy.url());
    let r = run(cmd).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(proxy.connections(), 0, "a rehearsal went to the proxy");

    // A loopback endpoint (`gslbatch simulate` on this machine) is not proxied either.
    let mut cmd = batch(
        "check-real-name",
        &input,
        &sim,
        &dir.path().join("local"),
        50,
    );
    behind_proxy(&mut cmd, &proxy.url());
    let r = run(cmd).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        proxy.connections(),
        0,
        "a loopback endpoint went to the proxy"
    );
    let direct = calls_total(&sim.stats(), "real-named");
    assert_eq!(direct, 12);

    // A real endpoint (a name only the proxy can reach) goes through it, every call.
    let host = format!("gsl.proxied.invalid:{}", sim.addr().port());
    let run_dir = dir.path().join("proxied");
    let mut cmd = gsl();
    cmd.args(["check-real-name", "-q", "--rate", "50", "--endpoint"])
        .arg(format!("http://{host}"))
        .arg("--run-dir")
        .arg(&run_dir)
        .arg(&input);
    behind_proxy(&mut cmd, &proxy.url());
    let r = run(cmd).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows = read_report(&run_dir.join("report.csv"));
    assert_eq!(count(&rows, "ok"), 12, "{rows:?}");
    let through = calls_total(&sim.stats(), "real-named") - direct;
    assert_eq!(through, 12, "each card asked once, none lost");
    assert!(proxy.connections() >= 1);
    assert_eq!(
        proxy.requests_to(&host),
        12,
        "every call went through the proxy"
    );

    // NO_PROXY exempts a host, as Huawei's SDKs and curl read it: then the name must resolve.
    let mut cmd = gsl();
    cmd.args(["check-real-name", "-q", "--max-attempts", "1", "--endpoint"])
        .arg(format!("http://{host}"))
        .arg("--run-dir")
        .arg(dir.path().join("exempt"))
        .arg(&input);
    behind_proxy(&mut cmd, &proxy.url());
    cmd.env("NO_PROXY", "gsl.proxied.invalid");
    let r = run(cmd).await;
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("cannot reach"), "{}", r.stderr);
    assert_eq!(proxy.requests_to(&host), 12, "NO_PROXY was not honoured");
    sim.shutdown().await;
}

/// A CA and a certificate for 127.0.0.1 signed by it, as PEM files in `dir`: (ca, cert, key).
fn company_ca(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Example Corp TLS inspection CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let mut leaf =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".into()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
    let paths = (
        dir.join("company-ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    );
    std::fs::write(&paths.0, ca_cert.pem()).unwrap();
    std::fs::write(&paths.1, leaf_cert.pem()).unwrap();
    std::fs::write(&paths.2, leaf_key.serialize_pem()).unwrap();
    paths
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_company_ca_is_trusted_only_when_given() {
    let dir = tempdir();
    let (ca, cert, key) = company_ca(dir.path());

    let mut sim = bare();
    sim.args([
        "simulate",
        "--listen",
        "127.0.0.1:0",
        "--cards",
        "20",
        "--seed",
        "7",
    ])
    .arg("--tls-cert")
    .arg(&cert)
    .arg("--tls-key")
    .arg(&key)
    .env("GSL_SIM_AK", AK)
    .env("GSL_SIM_SK", SK);
    let (mut child, url) = spawn_simulate(sim);
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");

    // The same cards the simulator holds (the inventory is a function of --cards and --seed).
    let twin = start_sim(SimConfig {
        cards: 20,
        seed: 7,
        ..SimConfig::default()
    })
    .await;
    let ids = first_iccids(&twin, 6);
    twin.shutdown().await;
    let input = write_csv(dir.path(), "cards.csv", &ids);
    let check = |run_dir: &str| {
        let mut cmd = gsl();
        cmd.args([
            "check-real-name",
            "-q",
            "--rate",
            "50",
            "--max-attempts",
            "1",
        ])
        .arg("--endpoint")
        .arg(&url)
        .arg("--run-dir")
        .arg(dir.path().join(run_dir))
        .arg(&input);
        cmd
    };

    let r = run(check("untrusted")).await;
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("not trusted") && r.stderr.contains("--ca-cert"),
        "the likely cause is named: {}",
        r.stderr
    );
    assert!(!r.stderr.contains(SK));

    let mut with_flag = check("flag");
    with_flag.arg("--ca-cert").arg(&ca);
    let r = run(with_flag).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows = read_report(&dir.path().join("flag").join("report.csv"));
    assert_eq!(count(&rows, "ok"), 6, "{rows:?}");

    let mut with_env = check("env");
    with_env.env("GSL_CA_CERT", &ca);
    let r = run(with_env).await;
    assert_eq!(r.code, 0, "{}", r.stderr);

    // A job file's `ca_cert`, relative to the job file.
    let job = dir.path().join("job.toml");
    std::fs::write(
        &job,
        format!(
            "operation = \"check-real-name\"\ninput = \"cards.csv\"\nrun_dir = \"job\"\n\
             endpoint = \"{url}\"\nrate = 50\nca_cert = \"company-ca.pem\"\n"
        ),
    )
    .unwrap();
    let mut cmd = gsl();
    cmd.arg("run").arg(&job).arg("-q");
    let r = run(cmd).await;
    assert_eq!(r.code, 0, "{}", r.stderr);

    // The simulator's own record: only the trusted runs reached it, each card once per run.
    let pem = std::fs::read(&ca).unwrap();
    let body = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{url}/__sim/stats"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let stats: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(calls_total(&stats, "real-named"), 18, "{stats}");

    // A CA file that is not one: exit 2 naming it, nothing sent.
    let bad = dir.path().join("not-a-ca.pem");
    std::fs::write(&bad, "hello\n").unwrap();
    let mut cmd = check("bad");
    cmd.arg("--ca-cert").arg(&bad);
    let r = run(cmd).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("not-a-ca.pem"), "{}", r.stderr);

    let _ = child.kill();
    let _ = child.wait();
}

/// The crate ships sources, not data: no tracked file over 1 MB (an old 24.6 MB report was).
#[test]
fn no_tracked_file_is_over_a_megabyte() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Ok(out) = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["ls-files", "-z"])
        .output()
    else {
        return; // no git: not a checkout
    };
    if !out.status.success() {
        return;
    }
    let big: Vec<String> = out
        .stdout
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .filter(|p| std::fs::metadata(root.join(p)).is_ok_and(|m| m.len() > 1 << 20))
        .collect();
    assert!(big.is_empty(), "tracked files over 1 MB: {big:?}");
}

/// What Excel on Chinese Windows does with a CSV: a UTF-8 byte-order mark means UTF-8, anything
/// else is read as GBK.
fn as_excel_reads(bytes: &[u8]) -> String {
    match bytes.strip_prefix("\u{feff}".as_bytes()) {
        Some(utf8) => String::from_utf8(utf8.to_vec()).expect("UTF-8 after the BOM"),
        None => encoding_rs::GBK.decode(bytes).0.into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_open_right_in_excel() {
    use calamine::{open_workbook, Data, Reader, Xlsx};
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let ids = telecom_iccids(&sim, 5);
    let text = with_site_column(&ids);
    let gbk = dir.path().join("export.csv");
    std::fs::write(&gbk, encoding_rs::GBK.encode(&text).0).unwrap();

    // A GBK export in: the report carries a BOM, and Excel reads the column right.
    let run_dir = dir.path().join("gbk");
    let r = run(batch("clear-real-name", &gbk, &sim, &run_dir, 50)).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let bytes = std::fs::read(run_dir.join("report.csv")).unwrap();
    assert!(bytes.starts_with(&[0xEF, 0xBB, 0xBF]), "{:?}", &bytes[..8]);
    let shown = as_excel_reads(&bytes);
    let mut lines = shown.lines();
    assert!(lines.next().unwrap().contains("站点"));
    assert!(lines.next().unwrap().contains("武汉仓库0"));

    // A plain UTF-8 input keeps a plain UTF-8 report (scripts read it); asked for, GB18030.
    let utf8 = write_csv(dir.path(), "plain.csv", &first_iccids(&sim, 3));
    let r = run(batch(
        "check-real-name",
        &utf8,
        &sim,
        &dir.path().join("plain"),
        50,
    ))
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let bytes = std::fs::read(dir.path().join("plain").join("report.csv")).unwrap();
    assert!(
        bytes.starts_with(b"row,") || bytes[0].is_ascii_alphabetic(),
        "no BOM"
    );
    let mut cmd = batch("check-real-name", &gbk, &sim, &dir.path().join("gb"), 50);
    cmd.args(["--report-encoding", "gb18030"]);
    let r = run(cmd).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let bytes = std::fs::read(dir.path().join("gb").join("report.csv")).unwrap();
    assert!(!bytes.starts_with(&[0xEF, 0xBB, 0xBF]));
    assert!(as_excel_reads(&bytes).contains("武汉仓库4"));

    // The workbook: ids are text, the summary sheet a table of numbers.
    let xlsx = dir.path().join("report.xlsx");
    render_report(&run_dir, &xlsx);
    let mut book: Xlsx<_> = open_workbook(&xlsx).unwrap();
    let sheet = book.worksheet_range("report").unwrap();
    let header: Vec<String> = sheet
        .rows()
        .next()
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    let wo = header
        .iter()
        .position(|h| h == "work_order_id")
        .expect("work_order_id");
    let body: Vec<&[Data]> = sheet.rows().skip(1).collect();
    assert_eq!(body.len(), 5);
    for row in &body {
        assert!(
            matches!(&row[wo], Data::String(s) if s.parse::<u64>().is_ok()),
            "work_order_id as text: {:?}",
            row[wo]
        );
    }
    let summary = book.worksheet_range("summary").unwrap();
    let rows: Vec<&[Data]> = summary.rows().collect();
    assert_eq!(rows[0][0], Data::String("field".into()));
    assert!(rows.iter().all(|r| r.len() == 2));
    assert!(
        !rows.iter().any(|r| r[1].to_string().starts_with('{')),
        "no JSON in a cell: {rows:?}"
    );
    let ok = rows
        .iter()
        .find(|r| r[0].to_string().ends_with(".ok"))
        .unwrap_or_else(|| panic!("a row for the ok count: {rows:?}"));
    assert_eq!(ok[1], Data::Float(5.0));

    // --sheet reads a workbook's other sheet; a missing one is exit 2 naming it.
    let book_path = dir.path().join("cards.xlsx");
    let mut wb = rust_xlsxwriter::Workbook::new();
    let notes = wb.add_worksheet();
    notes.set_name("说明").unwrap();
    notes.write_string(0, 0, "这张表没有卡号").unwrap();
    let cards = wb.add_worksheet();
    cards.set_name("卡片").unwrap();
    cards.write_string(0, 0, "iccid").unwrap();
    let some = first_iccids(&sim, 4);
    for (n, i) in some.iter().enumerate() {
        cards.write_string(n as u32 + 1, 0, i.as_str()).unwrap();
    }
    wb.save(&book_path).unwrap();
    let before = calls_total(&sim.stats(), "real-named");
    let mut cmd = batch(
        "check-real-name",
        &book_path,
        &sim,
        &dir.path().join("sheet"),
        50,
    );
    cmd.args(["--sheet", "卡片"]);
    let r = run(cmd).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows = read_report(&dir.path().join("sheet").join("report.csv"));
    assert_eq!(count(&rows, "ok"), 4, "{rows:?}");
    assert_eq!(calls_total(&sim.stats(), "real-named") - before, 4);
    let mut cmd = batch(
        "check-real-name",
        &book_path,
        &sim,
        &dir.path().join("nosheet"),
        50,
    );
    cmd.args(["--sheet", "Cards"]);
    let r = run(cmd).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("Cards"), "{}", r.stderr);
    assert_eq!(calls_total(&sim.stats(), "real-named") - before, 4);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huaweis_credentials_file_and_region_variable() {
    let sim = start_sim(SimConfig {
        cards: 30,
        ..SimConfig::default()
    })
    .await;
    let dir = tempdir();
    let input = write_csv(dir.path(), "cards.csv", &first_iccids(&sim, 5));
    let before = calls_total(&sim.stats(), "real-named");

    // The file HUAWEICLOUD_SDK_CREDENTIALS_FILE names, and the endpoint from the SDKs' region
    // variable (no --endpoint, no GSL_ENDPOINT, no HUAWEICLOUD_SDK_AK in the environment).
    let file = dir.path().join("credentials");
    std::fs::write(
        &file,
        format!("[global]\nak = NOT-THIS-ONE\nsk = nope\n\n[basic]\r\nak = {AK}\r\nsk = {SK}\r\nproject_id = p-1\r\n"),
    )
    .unwrap();
    let run_dir = dir.path().join("file");
    let mut cmd = bare();
    cmd.args(["check-real-name", "-q", "--rate", "50", "--run-dir"])
        .arg(&run_dir)
        .arg(&input)
        .env("HUAWEICLOUD_SDK_CREDENTIALS_FILE", &file)
        .env(
            "HUAWEICLOUD_SDK_REGION_GSL_CN_NORTH_4",
            format!("{},https://gsl.backup.invalid", sim.url()),
        );
    let r = run(cmd).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(count(&read_report(&run_dir.join("report.csv")), "ok"), 5);
    assert_eq!(calls_total(&sim.stats(), "real-named") - before, 5);
    // Which gslbatch wrote a run: in summary.json and `status --json`.
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["gslbatch_version"], env!("CARGO_PKG_VERSION"));
    let status = bare()
        .arg("status")
        .arg(&run_dir)
        .arg("--json")
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["gslbatch_version"], env!("CARGO_PKG_VERSION"));

    // The default place, ~/.huaweicloud/credentials.
    let home = dir.path().join("home");
    std::fs::create_dir_all(home.join(".huaweicloud")).unwrap();
    std::fs::copy(&file, home.join(".huaweicloud").join("credentials")).unwrap();
    let mut cmd = bare();
    cmd.args(["check-real-name", "-q", "--rate", "50", "--run-dir"])
        .arg(dir.path().join("home-run"))
        .arg("--endpoint")
        .arg(sim.url())
        .arg(&input)
        .env("HOME", &home);
    let r = run(cmd).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(calls_total(&sim.stats(), "real-named") - before, 10);

    // A value the file mangled is refused as the environment's are, naming file and key.
    let bad = dir.path().join("bad-credentials");
    std::fs::write(&bad, format!("[basic]\nak = {AK}\nsk = {SK}\u{7}x\n")).unwrap();
    let mut cmd = bare();
    cmd.args(["check-real-name", "-q", "--endpoint"])
        .arg(sim.url())
        .arg("--run-dir")
        .arg(dir.path().join("bad"))
        .arg(&input)
        .env("HUAWEICLOUD_SDK_CREDENTIALS_FILE", &bad);
    let r = run(cmd).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("`sk` in credentials file") && r.stderr.contains("bad-credentials"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains(SK), "{}", r.stderr);

    // A named file that is not there is exit 2 too, naming it.
    let mut cmd = bare();
    cmd.args(["check-real-name", "-q", "--endpoint"])
        .arg(sim.url())
        .arg("--run-dir")
        .arg(dir.path().join("missing"))
        .arg(&input)
        .env(
            "HUAWEICLOUD_SDK_CREDENTIALS_FILE",
            dir.path().join("nowhere"),
        );
    let r = run(cmd).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("nowhere"), "{}", r.stderr);
    assert_eq!(calls_total(&sim.stats(), "real-named") - before, 10);
    sim.shutdown().await;
}

/// `cmd` under a pseudo-terminal (util-linux `script`), its terminal output; `None` without
/// `script`.
fn under_pty(cmd: &str, env: &[(&str, &str)]) -> Option<String> {
    let mut c = std::process::Command::new("script");
    c.args(["-qec", cmd, "/dev/null"])
        .stdin(std::process::Stdio::null());
    c.env_remove("NO_COLOR");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn no_color_and_the_cli_conventions() {
    let dir = tempdir();
    // A GBK input: reading it logs an INFO line, coloured on a terminal.
    let input = dir.path().join("gbk.csv");
    std::fs::write(
        &input,
        encoding_rs::GBK
            .encode("iccid,站点\n89860359200000000046,武汉\n")
            .0,
    )
    .unwrap();
    let line = format!(
        "{} check-real-name {} --rehearse --dry-run",
        env!("CARGO_BIN_EXE_gslbatch"),
        input.display()
    );
    if let Some(coloured) = under_pty(&line, &[]) {
        assert!(coloured.contains("INFO"), "{coloured}");
        assert!(
            coloured.contains('\u{1b}'),
            "a terminal gets colours: {coloured:?}"
        );
        let plain = under_pty(&line, &[("NO_COLOR", "1")]).unwrap();
        assert!(plain.contains("INFO"), "{plain}");
        assert!(!plain.contains('\u{1b}'), "NO_COLOR: {plain:?}");
        let never = under_pty(&format!("{line} --color never"), &[]).unwrap();
        assert!(!never.contains('\u{1b}'), "--color never: {never:?}");
    }
    let always = bare()
        .arg("check-real-name")
        .arg(&input)
        .args(["--rehearse", "--dry-run", "--color", "always"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&always.stderr).contains('\u{1b}'));

    // --version on every subcommand; completions and a man page from the same definitions.
    for sub in ["status", "report", "simulate", "clear-real-name", "ledger"] {
        let out = bare().args([sub, "--version"]).output().unwrap();
        assert!(out.status.success(), "{sub} --version");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(env!("CARGO_PKG_VERSION")), "{sub}: {text}");
    }
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = bare().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("clear-real-name"),
            "{shell}"
        );
    }
    let man = bare().arg("man").output().unwrap();
    assert!(man.status.success());
    let man = String::from_utf8_lossy(&man.stdout);
    assert!(
        man.contains(".TH gslbatch 1") && man.contains("check\\-real\\-name"),
        "{man}"
    );
    let help = bare().args(["--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for want in [
        "Environment:",
        "HUAWEICLOUD_SDK_CREDENTIALS_FILE",
        "Exit codes:",
        "130",
    ] {
        assert!(help.contains(want), "--help names {want}: {help}");
    }
}

/// `--encoding` and `--sheet` are shown, and taken, only by the commands that read INPUT files.
#[test]
fn input_flags_are_shown_only_where_they_apply() {
    let help = |args: &[&str]| {
        let out = bare().args(args).arg("--help").output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    for cmd in [
        vec!["check-real-name"],
        vec!["send-sms"],
        vec!["run"],
        vec!["inventory"],
        vec!["usage"],
        vec!["set-tags"],
    ] {
        let h = help(&cmd);
        assert!(
            h.contains("--encoding") && h.contains("--sheet"),
            "{cmd:?}: {h}"
        );
    }
    for cmd in [
        vec!["status"],
        vec!["report"],
        vec!["simulate"],
        vec!["follow"],
        vec!["resume"],
        vec!["pool-members"],
        vec!["ledger", "rebuild"],
    ] {
        let h = help(&cmd);
        assert!(
            !h.contains("--encoding") && !h.contains("--sheet"),
            "{cmd:?}: {h}"
        );
    }
    let out = bare()
        .args(["status", "nowhere", "--encoding", "gbk"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown flag is a usage error"
    );
}

/// The listings' CSV reports open right in Excel too: a BOM when the input came from Excel (GBK
/// here), none when asked for plain UTF-8, and the extra column reads back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_of_an_excel_input_writes_a_report_excel_opens_right() {
    let dir = tempdir();
    let ids = ["89860321000000000078", "89860329900000000055"];
    let text = format!("ICCID,站点\r\n{},武汉\r\n{},上海\r\n", ids[0], ids[1]);
    let (gbk, _, _) = encoding_rs::GBK.encode(&text);
    let input = dir.path().join("gbk.csv");
    std::fs::write(&input, &gbk).unwrap();
    for (name, flag, bom) in [("a.csv", None, true), ("b.csv", Some("utf-8"), false)] {
        let out = dir.path().join(name);
        let mut cmd = bare();
        cmd.arg("inventory")
            .arg(&input)
            .args(["--rehearse", "-q", "--report"])
            .arg(&out);
        if let Some(f) = flag {
            cmd.args(["--report-encoding", f]);
        }
        let ran = run(cmd).await;
        assert_eq!(ran.code, 0, "{}", ran.stderr);
        let bytes = std::fs::read(&out).unwrap();
        assert_eq!(bytes.starts_with(b"\xef\xbb\xbf"), bom, "{name}");
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains("武汉") && text.contains("上海"), "{text}");
    }
}
