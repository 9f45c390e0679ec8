//! `--report FILE.html` and `gslbatch report RUN --report x.html`: one self-contained page.
//! Read as text (no script, no reference to anything outside it, hostile input escaped) and
//! opened in headless Chromium behind a recording proxy on loopback: no request leaves the page,
//! and the counts in the rendered page equal `summary.json`. Without Chromium installed
//! (Debian's `chromium`; CI installs it) the browser half is skipped, saying so.

use crate::common::*;
use gslbatch::simulator::SimConfig;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// A row that would fetch if it were markup.
const HOSTILE: &str = "<img src=http://192.0.2.1/x.png>";

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join(name))
                    .find(|p| p.is_file())
            })
        })
}

/// A proxy that answers nothing and records the first line of every request it gets.
async fn recording_proxy() -> (Arc<Mutex<Vec<String>>>, u16) {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let s = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = vec![0u8; 1024];
            let n = tokio::time::timeout(Duration::from_secs(2), sock.read(&mut buf))
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or(0);
            let first = String::from_utf8_lossy(&buf[..n])
                .lines()
                .next()
                .unwrap_or("<nothing>")
                .to_string();
            s.lock().unwrap().push(first);
        }
    });
    (seen, port)
}

/// Hosts Chromium itself calls in the background whatever page it shows (its clock, component
/// updates, account and field-trial services), by exact name: a page's fetch of anything else —
/// a CDN, a font service — is caught.
const CHROMIUM_SERVICES: &[&str] = &[
    "clients2.google.com",
    "update.googleapis.com",
    "accounts.google.com",
    "clientservices.googleapis.com",
    "optimizationguide-pa.googleapis.com",
    "safebrowsingohttpgateway.googleapis.com",
    "redirector.gvt1.com",
    "edgedl.me.gvt1.com",
];

/// Whether a proxied request line (`CONNECT host:443 …`, `GET http://host/… …`) is Chromium's own.
fn chromium_service(line: &str) -> bool {
    let target = line.split_whitespace().nth(1).unwrap_or("");
    let host = target
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .split(['/', ':'])
        .next()
        .unwrap_or("");
    CHROMIUM_SERVICES.contains(&host)
}

/// Chromium's DOM of `page` after load, through the recording proxy.
async fn dump_dom(browser: &Path, page: &Path, proxy_port: u16) -> String {
    let profile = tempdir();
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-default-apps",
        "--disable-sync",
        "--disable-domain-reliability",
        "--metrics-recording-only",
        "--disable-client-side-phishing-detection",
        "--no-pings",
        "--disable-breakpad",
        "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,MediaRouter,Translate,AutofillServerCommunication",
        "--virtual-time-budget=2000",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .arg(format!("--proxy-server=http://127.0.0.1:{proxy_port}"))
    // `<-loopback>`: loopback is proxied too, so not even a local fetch goes unseen.
    .arg("--proxy-bypass-list=<-loopback>")
    .arg("--dump-dom")
    .arg(format!("file://{}", page.display()))
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("chromium starts");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).ok();
        s
    });
    let code = {
        let t0 = std::time::Instant::now();
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st.code();
            }
            if t0.elapsed() > Duration::from_secs(90) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("chromium did not exit within 90 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    assert_eq!(code, Some(0), "chromium exits 0");
    reader.join().unwrap()
}

/// The number in the element carrying `attr="value"`: `<td ... data-status="ok">34</td>`.
fn number_at(dom: &str, attr: &str, value: &str) -> u64 {
    let marker = format!("{attr}=\"{value}\"");
    let at = dom
        .find(&marker)
        .unwrap_or_else(|| panic!("{marker} in the page"));
    let rest = &dom[at..];
    let gt = rest.find('>').unwrap();
    let lt = rest[gt..].find('<').unwrap();
    rest[gt + 1..gt + lt].trim().parse().expect("a number")
}

/// A bar's `data-count` in the chart with id `chart`.
fn bar(dom: &str, chart: &str, label: &str) -> u64 {
    let from = dom.find(&format!("id=\"{chart}\"")).expect("the chart");
    let rest = &dom[from..];
    let at = rest
        .find(&format!("data-label=\"{label}\""))
        .unwrap_or_else(|| panic!("{chart} has a {label} bar"));
    let tail = &rest[at..];
    let c = tail.find("data-count=\"").unwrap() + "data-count=\"".len();
    tail[c..c + tail[c..].find('"').unwrap()].parse().unwrap()
}

fn assert_self_contained(html: &str) {
    let lower = html.to_ascii_lowercase();
    for bad in [
        "<script", " src=\"", " href=", "<link", "@import", "url(", "<img", "<iframe", "<object",
    ] {
        assert!(!lower.contains(bad), "the page holds {bad:?}");
    }
    assert!(
        lower.contains("content-security-policy"),
        "a CSP forbids fetches"
    );
    assert!(
        html.contains("&lt;img src=http://192.0.2.1/x.png&gt;"),
        "hostile input shown as text"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_report_is_self_contained_and_its_counts_equal_summary_json_in_chromium() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let mut ids = first_iccids(&sim, 8);
    ids.push(ids[2].clone());
    ids.push(HOSTILE.to_string());
    let input = write_csv(dir.path(), "in.csv", &ids);
    let run_dir = dir.path().join("run");
    let page = dir.path().join("report.html");
    let mut cmd = batch("check-real-name", &input, &sim, &run_dir, 50);
    cmd.arg("--report").arg(&page);
    let r = run(cmd).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("summary.json")).unwrap())
            .unwrap();
    let html = std::fs::read_to_string(&page).unwrap();
    assert_self_contained(&html);
    // Made again once summary.json was written: the page says how the run ended.
    assert_eq!(number_at(&html, "data-count", "exit_code"), 1);
    assert_eq!(summary["exit_code"], 1);
    assert!(
        html.contains("finished: every row was worked through"),
        "the stop reason"
    );

    // `report RUN --report x.html` renders the same page from the journal at any time.
    let again = dir.path().join("again.html");
    let mut cmd = bare();
    cmd.arg("report").arg(&run_dir).arg("--report").arg(&again);
    let r = run(cmd).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let html2 = std::fs::read_to_string(&again).unwrap();
    assert_self_contained(&html2);
    for (status, n) in summary["counts"].as_object().unwrap() {
        assert_eq!(
            number_at(&html2, "data-status", status),
            n.as_u64().unwrap()
        );
    }

    let Some(browser) = chromium() else {
        eprintln!(
            "SKIPPED the browser half of html_report_…: chromium is not installed \
             (apt-get install chromium; .ci/run installs it)"
        );
        return;
    };
    let (seen, port) = recording_proxy().await;
    let dom = dump_dom(&browser, &page, port).await;
    assert!(
        dom.contains("gslbatch check-real-name"),
        "the page rendered"
    );
    assert_eq!(
        number_at(&dom, "data-count", "rows"),
        summary["rows"].as_u64().unwrap()
    );
    for (status, n) in summary["counts"].as_object().unwrap() {
        let n = n.as_u64().unwrap();
        assert_eq!(number_at(&dom, "data-status", status), n, "table: {status}");
        assert_eq!(bar(&dom, "chart-status", status), n, "chart: {status}");
    }
    for (outcome, n) in summary["outcomes"].as_object().unwrap() {
        assert_eq!(
            bar(&dom, "chart-outcome", outcome),
            n.as_u64().unwrap(),
            "{outcome}"
        );
    }
    assert_eq!(
        number_at(&dom, "data-count", "calls"),
        summary["calls"].as_u64().unwrap()
    );
    assert_eq!(summary["counts"]["ok"], 8);
    assert_eq!(summary["counts"]["invalid"], 1);
    // 10 rows: all listed, the hostile one as text.
    assert!(dom.contains("&lt;img src=http://192.0.2.1/x.png&gt;"));
    let seen = seen.lock().unwrap().clone();
    let (browser_own, from_page): (Vec<&String>, Vec<&String>) =
        seen.iter().partition(|line| chromium_service(line));
    eprintln!("chromium's own background requests (not the page's): {browser_own:?}");
    assert!(
        from_page.is_empty(),
        "requests left the page: {from_page:?}"
    );
}
