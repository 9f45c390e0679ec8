//! The report and summary, rendered from small journals built by hand: exact columns and cells,
//! natural JSON types, the `inflight` mapping, atomic replacement, totals and the rehearsal mark.

use gslbatch::journal::{Journal, NewRow, Outcome, RunMeta, SessionTotals};
use gslbatch::model::Status;
use gslbatch::report::{render, ReportDest, ReportFormat, Summary};
use std::path::Path;

const A: &str = "89860012345678901234";
const B: &str = "8986001234567890123";
const C: &str = "898600123456789012F";

fn meta(operation: &str, extras: &[&str]) -> RunMeta {
    RunMeta {
        operation: operation.to_string(),
        endpoint: "http://127.0.0.1:1".to_string(),
        inputs: vec!["in.csv".to_string()],
        extra_columns: extras.iter().map(|s| s.to_string()).collect(),
        rehearsal: false,
        created_at: "2025-01-01T10:00:00.000+08:00".to_string(),
        fingerprint: "f".to_string(),
        params: serde_json::Value::Null,
        total_rows: Some(3),
        settings: Default::default(),
        run_id: None,
        again: false,
        again_window_secs: None,
    }
}

fn row(n: u64, raw: &str, status: Status, extras: &[&str]) -> NewRow {
    NewRow {
        batch: None,
        arg: None,
        row: n,
        location: format!("in.csv:{}", n + 1),
        raw: raw.to_string(),
        key: (status == Status::Pending).then(|| raw.to_string()),
        status,
        error_msg: (status == Status::Invalid).then(|| "bad ICCID at in.csv:3".to_string()),
        extras: extras.iter().map(|s| s.to_string()).collect(),
    }
}

/// A clear-real-name run: row 1 ok, row 2 failed with a comma in its message, row 3 invalid.
fn card_journal(dir: &Path, operation: &str) -> Journal {
    let mut j = Journal::create(dir, &meta(operation, &["note", "input_status"])).unwrap();
    j.insert_rows(&[
        row(1, A, Status::Pending, &["first, with comma", "x"]),
        row(2, B, Status::Pending, &["", "y"]),
        row(3, "123", Status::Invalid, &["third"]),
    ])
    .unwrap();
    j.write(
        &[1, 2],
        &[
            Outcome {
                row: 1,
                status: Some(Status::Ok),
                attempts: 1,
                http_status: Some(200),
                work_order_id: Some(777),
                real_named: Some(true),
                latency_ms: Some(120),
                finished_at: Some("2025-01-01T10:00:01.000+08:00".to_string()),
                ..Outcome::default()
            },
            Outcome {
                row: 2,
                status: Some(Status::Failed),
                attempts: 2,
                http_status: Some(400),
                error_code: Some("GSL.00010002".to_string()),
                error_msg: Some("card not found, or not yours".to_string()),
                latency_ms: Some(80),
                finished_at: Some("2025-01-01T10:00:02.000+08:00".to_string()),
                ..Outcome::default()
            },
        ],
        false,
    )
    .unwrap();
    j
}

fn render_to(j: &Journal, path: &Path) -> String {
    render(j, &ReportDest::Path(path.to_path_buf())).unwrap();
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn csv_has_exact_columns_cells_and_quoting() {
    let dir = tempfile::tempdir().unwrap();
    let j = card_journal(dir.path(), "clear-real-name");
    let out = dir.path().join("report.csv");
    let stats = render(&j, &ReportDest::Path(out.clone())).unwrap();
    assert_eq!(stats.rows, 3);
    assert_eq!(stats.counts[&Status::Ok], 1);
    assert_eq!(stats.counts[&Status::Failed], 1);
    assert_eq!(stats.counts[&Status::Invalid], 1);
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "row,iccid,sim_card_id,status,work_order_id,real_named,http_status,error_code,error_msg,attempts,latency_ms,finished_at,note,input_status",
            &format!("1,{A},,ok,777,true,200,,,1,120,2025-01-01T10:00:01.000+08:00,\"first, with comma\",x"),
            &format!("2,{B},,failed,,,400,GSL.00010002,\"card not found, or not yours\",2,80,2025-01-01T10:00:02.000+08:00,,y"),
            "3,123,,invalid,,,,,bad ICCID at in.csv:3,0,,,third,",
        ]
    );
    // No temporary file is left beside the report.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains("tmp"))
        .collect();
    assert!(names.is_empty(), "{names:?}");
}

#[test]
fn json_has_natural_types_and_column_order() {
    let dir = tempfile::tempdir().unwrap();
    let j = card_journal(dir.path(), "clear-real-name");
    let text = render_to(&j, &dir.path().join("r.json"));
    assert!(text.starts_with('['));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    let r = &rows[0];
    assert_eq!(r["row"], 1);
    assert_eq!(r["iccid"], A);
    assert_eq!(r["sim_card_id"], serde_json::Value::Null);
    assert_eq!(r["work_order_id"], 777);
    assert_eq!(r["real_named"], true);
    assert_eq!(r["http_status"], 200);
    assert_eq!(r["latency_ms"], 120);
    assert_eq!(r["note"], "first, with comma");
    assert!(r.get("rehearsal").is_none());
    assert_eq!(rows[2]["input_status"], serde_json::Value::Null);
    // Keys keep the report's column order.
    let first_line = text.lines().nth(1).unwrap();
    assert!(
        first_line.starts_with("{\"row\":1,\"iccid\":"),
        "{first_line}"
    );
}

#[test]
fn empty_json_report_is_an_empty_array() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::create(dir.path(), &meta("check-real-name", &[])).unwrap();
    let text = render_to(&j, &dir.path().join("r.json"));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&text).unwrap(),
        serde_json::json!([])
    );
}

#[test]
fn jsonl_is_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let j = card_journal(dir.path(), "clear-real-name");
    let text = render_to(&j, &dir.path().join("r.jsonl"));
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[1]["status"], "failed");
    assert_eq!(lines[1]["attempts"], 2);
    assert_eq!(lines[2]["status"], "invalid");
}

#[test]
fn format_follows_extension() {
    assert_eq!(
        ReportFormat::from_path(Path::new("a.csv")),
        ReportFormat::Csv
    );
    assert_eq!(
        ReportFormat::from_path(Path::new("a.JSON")),
        ReportFormat::Json
    );
    assert_eq!(
        ReportFormat::from_path(Path::new("a.jsonl")),
        ReportFormat::Jsonl
    );
    assert_eq!(
        ReportFormat::from_path(Path::new("a.txt")),
        ReportFormat::Csv
    );
    assert_eq!(
        ReportDest::from_arg("-"),
        ReportDest::Stdout(ReportFormat::Csv)
    );
    assert_eq!(
        ReportDest::from_arg("x.jsonl").format(),
        ReportFormat::Jsonl
    );
}

/// Row 1 is left in flight, as after `kill -9`.
fn crashed(dir: &Path, operation: &str) -> Journal {
    let mut j = Journal::create(dir, &meta(operation, &[])).unwrap();
    j.insert_rows(&[
        row(1, A, Status::Pending, &[]),
        row(2, B, Status::Pending, &[]),
    ])
    .unwrap();
    j.record_intents(&[1]).unwrap();
    j
}

#[test]
fn inflight_is_unknown_for_a_non_idempotent_operation() {
    let dir = tempfile::tempdir().unwrap();
    let j = crashed(dir.path(), "clear-real-name");
    let text = render_to(&j, &dir.path().join("r.jsonl"));
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["status"], "unknown");
    assert_eq!(
        first["error_msg"],
        "in flight when the process stopped: it may or may not have happened"
    );
    let s = Summary::build(&j, dir.path()).unwrap();
    assert_eq!(s.counts[&Status::Unknown], 1);
    assert_eq!(s.counts[&Status::Pending], 1);
}

#[test]
fn inflight_is_pending_for_an_idempotent_operation() {
    let dir = tempfile::tempdir().unwrap();
    let j = crashed(dir.path(), "check-real-name");
    let stats = render(&j, &ReportDest::Path(dir.path().join("r.csv"))).unwrap();
    assert_eq!(stats.counts[&Status::Pending], 2);
    assert!(!stats.counts.contains_key(&Status::Unknown));
    let text = std::fs::read_to_string(dir.path().join("r.csv")).unwrap();
    assert!(
        text.lines().nth(1).unwrap().contains(",pending,,,,,,0,,"),
        "{text}"
    );
}

#[test]
fn an_existing_report_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let j = card_journal(dir.path(), "clear-real-name");
    let out = dir.path().join("report.csv");
    std::fs::write(&out, "old report\n").unwrap();
    let text = render_to(&j, &out);
    assert!(text.starts_with("row,iccid,"));
    assert!(!text.contains("old report"));
}

#[test]
fn a_missing_directory_fails_naming_the_path_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let j = card_journal(dir.path(), "clear-real-name");
    let out = dir.path().join("no-such-dir").join("report.csv");
    let err = render(&j, &ReportDest::Path(out.clone())).unwrap_err();
    assert!(
        err.to_string().contains(&out.display().to_string()),
        "{err}"
    );
    assert!(!dir.path().join("no-such-dir").exists());
}

#[test]
fn follow_columns_appear_once_follow_has_run() {
    let dir = tempfile::tempdir().unwrap();
    let j = card_journal(dir.path(), "clear-real-name");
    drop(j);
    // `follow` fills these in; its journal writer is not built yet, so set them directly.
    rusqlite::Connection::open(dir.path().join("journal.sqlite"))
        .unwrap()
        .execute(
            "UPDATE rows SET follow_status = 'success', follow_detail = 'done' WHERE row = 1",
            [],
        )
        .unwrap();
    let j = Journal::open_read(dir.path()).unwrap();
    let text = render_to(&j, &dir.path().join("r.csv"));
    let header = text.lines().next().unwrap();
    assert!(
        header.ends_with(
            "finished_at,work_order_status,work_order_detail,outcome,outcome_detail,note,input_status"
        ),
        "{header}"
    );
    assert!(text.lines().nth(1).unwrap().contains(",success,done,"));
}

#[test]
fn sms_columns_carry_batch_and_order_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = meta("send-sms", &[]);
    m.params = serde_json::json!({"order_id": "ORD-1", "content": "hi"});
    let mut j = Journal::create(dir.path(), &m).unwrap();
    j.insert_rows(&[row(1, "1234567890", Status::Pending, &[])])
        .unwrap();
    j.write(
        &[],
        &[Outcome {
            row: 1,
            status: Some(Status::Ok),
            attempts: 1,
            http_status: Some(200),
            ..Outcome::default()
        }],
        false,
    )
    .unwrap();
    let text = render_to(&j, &dir.path().join("r.csv"));
    assert_eq!(
        text,
        "row,cid,batch,order_id,status,http_status,error_code,error_msg,attempts,latency_ms,finished_at\n\
         1,1234567890,,ORD-1,ok,200,,,1,,\n"
    );
}

#[test]
fn an_sms_report_in_json_has_a_numeric_order_id_and_a_null_cid_for_a_whole_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = meta("send-sms", &[]);
    m.params = serde_json::json!({"order_id": 20261126, "content": "hi"});
    let mut j = Journal::create(dir.path(), &m).unwrap();
    j.insert_rows(&[row(1, "", Status::Pending, &[])]).unwrap();
    let jl = render_to(&j, &dir.path().join("r.jsonl"));
    let v: serde_json::Value = serde_json::from_str(jl.lines().next().unwrap()).unwrap();
    assert_eq!(v["order_id"], 20261126, "{v}");
    assert_eq!(v["cid"], serde_json::Value::Null, "{v}");
}

#[test]
fn rehearsal_is_marked_in_report_and_summary() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = meta("check-real-name", &[]);
    m.rehearsal = true;
    let mut j = Journal::create(dir.path(), &m).unwrap();
    j.insert_rows(&[row(1, A, Status::Pending, &[])]).unwrap();
    let csv = render_to(&j, &dir.path().join("r.csv"));
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].ends_with(",finished_at,rehearsal"), "{}", lines[0]);
    assert!(lines[1].ends_with(",REHEARSAL"), "{}", lines[1]);
    let jl = render_to(&j, &dir.path().join("r.jsonl"));
    let v: serde_json::Value = serde_json::from_str(jl.lines().next().unwrap()).unwrap();
    assert_eq!(v["rehearsal"], true);
    let s = Summary::build(&j, dir.path()).unwrap();
    assert!(s.rehearsal);
    assert!(s.to_text().starts_with("REHEARSAL"), "{}", s.to_text());
    let path = s.write_json(dir.path()).unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(v["rehearsal"], true);
}

#[test]
fn summary_counts_percentiles_and_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = Journal::create(dir.path(), &meta("check-real-name", &[])).unwrap();
    let rows: Vec<NewRow> = (1..=100)
        .map(|n| row(n, &format!("{:020}", n), Status::Pending, &[]))
        .collect();
    j.insert_rows(&rows).unwrap();
    j.insert_rows(&[row(101, C, Status::Duplicate, &[])])
        .unwrap();
    let outcomes: Vec<Outcome> = (1..=100)
        .map(|n| Outcome {
            row: n,
            status: Some(if n <= 90 { Status::Ok } else { Status::Failed }),
            attempts: 1,
            error_code: (n > 90).then(|| if n > 97 { "B" } else { "A" }.to_string()),
            latency_ms: Some(n * 10),
            finished_at: Some("2025-01-01T10:00:30.000+08:00".to_string()),
            ..Outcome::default()
        })
        .collect();
    j.write(&[], &outcomes, false).unwrap();
    // Two sessions: 51 calls over 10 s, then 50 calls over 9.8 s.
    for (first, last, calls) in [
        (
            "2025-01-01T10:00:00.000+08:00",
            "2025-01-01T10:00:10.000+08:00",
            51,
        ),
        (
            "2025-01-01T11:00:00.000+08:00",
            "2025-01-01T11:00:09.800+08:00",
            50,
        ),
    ] {
        let id = j.begin_session().unwrap();
        let t = SessionTotals {
            calls,
            paced_calls: calls,
            throttled: 1,
            retries: 2,
            first_call_at: Some(first.to_string()),
            last_call_at: Some(last.to_string()),
            ..SessionTotals::default()
        };
        j.update_session(id, &t, None).unwrap();
    }
    let s = Summary::build(&j, dir.path()).unwrap();
    assert_eq!(s.rows, 101);
    assert_eq!(s.counts[&Status::Ok], 90);
    assert_eq!(s.counts[&Status::Failed], 10);
    assert_eq!(s.counts[&Status::Duplicate], 1);
    assert_eq!(s.counts[&Status::Unknown], 0);
    assert_eq!(s.counts.len(), 7, "every status, zeros included");
    assert_eq!(
        s.top_errors,
        vec![("A".to_string(), 7), ("B".to_string(), 3)]
    );
    assert_eq!((s.calls, s.throttled, s.retries), (101, 2, 4));
    // 99 intervals over 19.8 s.
    assert!(
        (s.achieved_rate.unwrap() - 5.0).abs() < 1e-9,
        "{:?}",
        s.achieved_rate
    );
    assert_eq!(
        (s.latency_ms.p50, s.latency_ms.p95, s.latency_ms.p99),
        (Some(500), Some(950), Some(990))
    );
    assert_eq!(s.exit_code, None);
    let text = s.to_text();
    assert!(text.contains("ok 90"), "{text}");
    assert!(text.contains("A ×7"), "{text}");
    assert!(text.contains("p95 950 ms"), "{text}");
    let v: serde_json::Value = serde_json::to_value(&s).unwrap();
    assert_eq!(v["counts"]["pending"], 0);
    assert_eq!(v["latency_ms"]["p99"], 990);
    let per_api = v["achieved_rate_per_api"].as_object().unwrap();
    assert_eq!(per_api.len(), 1, "{v}");
    let (api, rate) = per_api.iter().next().unwrap();
    assert!(
        api.starts_with("GET /v1/sim-cards/") || api.starts_with("POST /v1/"),
        "{api}"
    );
    assert!((rate.as_f64().unwrap() - 5.0).abs() < 1e-9);
}

#[test]
fn a_failed_render_leaves_the_old_report_and_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let j = card_journal(dir.path(), "clear-real-name");
    drop(j);
    // A status this build does not know makes the render fail part-way through.
    rusqlite::Connection::open(dir.path().join("journal.sqlite"))
        .unwrap()
        .execute("UPDATE rows SET status = 'bogus' WHERE row = 2", [])
        .unwrap();
    let j = Journal::open_read(dir.path()).unwrap();
    let out = dir.path().join("report.csv");
    std::fs::write(&out, "old report\n").unwrap();
    let err = render(&j, &ReportDest::Path(out.clone())).unwrap_err();
    assert!(
        err.to_string().contains(&out.display().to_string()),
        "{err}"
    );
    assert!(err.to_string().contains("bogus"), "{err}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "old report\n");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains("tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A million rows render with flat memory (run by hand: `cargo test --test tests million -- --ignored`).
#[test]
#[ignore]
fn a_million_rows_stream() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = Journal::create(dir.path(), &meta("check-real-name", &["note"])).unwrap();
    for chunk in 0..100u64 {
        let rows: Vec<NewRow> = (1..=10_000)
            .map(|n| {
                let n = chunk * 10_000 + n;
                row(n, &format!("{n:020}"), Status::Pending, &["x"])
            })
            .collect();
        j.insert_rows(&rows).unwrap();
    }
    let hwm = || {
        std::fs::read_to_string("/proc/self/status")
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with("VmHWM"))
            .map(str::to_string)
    };
    let before = hwm();
    let started = std::time::Instant::now();
    let stats = render(&j, &ReportDest::Path(dir.path().join("r.jsonl"))).unwrap();
    assert_eq!(stats.rows, 1_000_000);
    eprintln!(
        "rendered 1,000,000 rows in {:?}; peak memory {before:?} before, {:?} after",
        started.elapsed(),
        hwm()
    );
}
