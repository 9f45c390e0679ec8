//! Input safety: a header without the card column, or input without one valid card, sends
//! nothing, exits 2 and leaves no run directory behind.

use crate::common::*;
use gslbatch::simulator::SimConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_without_the_card_column_is_exit_2_listing_the_headers() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let ids = telecom_iccids(&sim, 3);
    for (name, header) in [
        ("migr.csv", "old_iccid,new_iccid"),
        ("num.csv", "ICCID Number,site"),
    ] {
        let body: String = ids.iter().map(|i| format!("{i},{i}\n")).collect();
        let input = dir.path().join(name);
        std::fs::write(&input, format!("{header}\n{body}")).unwrap();
        let run_dir = dir.path().join(format!("run-{name}"));
        let ran = run(batch("clear-real-name", &input, &sim, &run_dir, 100)).await;
        assert_eq!(ran.code, 2, "{}", ran.stderr);
        for h in header.split(',') {
            assert!(ran.stderr.contains(h), "lists {h}: {}", ran.stderr);
        }
        assert!(ran.stderr.contains("--column"), "{}", ran.stderr);
        assert!(!run_dir.exists(), "no run dir left behind");
    }
    assert_eq!(calls_total(&sim.stats(), "clear-real-name"), 0);

    // Naming the column makes it a run.
    let input = dir.path().join("migr.csv");
    let run_dir = dir.path().join("named");
    let mut cmd = batch("clear-real-name", &input, &sim, &run_dir, 100);
    cmd.args(["--column", "old_iccid"]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(calls_total(&sim.stats(), "clear-real-name"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_header_only_and_all_invalid_inputs_are_exit_2_with_nothing_left() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    for (name, text) in [
        ("empty.csv", ""),
        ("header.csv", "iccid,site\n"),
        ("invalid.csv", "iccid\n123\n8986\n"),
    ] {
        let input = dir.path().join(name);
        std::fs::write(&input, text).unwrap();
        for op in ["check-real-name", "clear-real-name"] {
            let run_dir = dir.path().join(format!("{op}-{name}"));
            let ran = run(batch(op, &input, &sim, &run_dir, 100)).await;
            assert_eq!(ran.code, 2, "{op} {name}: {}", ran.stderr);
            assert!(!run_dir.exists(), "{op} {name}: no run dir left behind");
        }
    }
    let stats = sim.stats();
    assert_eq!(
        calls_total(&stats, "clear-real-name") + calls_total(&stats, "real-named"),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gb18030_and_utf16_files_are_read_and_their_chinese_columns_reach_the_report() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let ids = first_iccids(&sim, 12);
    let text = with_site_column(&ids);
    let gbk = encoding_rs::GB18030.encode(&text).0.into_owned();
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    let mut total = 0;
    for (name, bytes) in [("gbk.csv", gbk), ("utf16.csv", utf16)] {
        let input = dir.path().join(name);
        std::fs::write(&input, bytes).unwrap();
        let run_dir = dir.path().join(format!("run-{name}"));
        let ran = run(batch("check-real-name", &input, &sim, &run_dir, 500)).await;
        assert_eq!(ran.code, 0, "{name}: {}", ran.stderr);
        total += 12;
        assert_eq!(
            calls_total(&sim.stats(), "real-named"),
            total,
            "{name}: each card once"
        );
        let rows = read_report(&run_dir.join("report.csv"));
        assert_eq!(count(&rows, "ok"), 12);
        for (n, r) in rows.iter().enumerate() {
            assert_eq!(r["iccid"], ids[n]);
            assert_eq!(
                r["站点"],
                format!("武汉仓库{n}"),
                "{name}: UTF-8 in the report"
            );
        }
    }
}

/// A workbook as Excel saves it: a header row, ICCIDs as text, one ICCID typed in as a number
/// (Excel keeps 15 digits of it), and a Chinese column.
fn workbook_with_one_number(path: &std::path::Path, ids: &[String]) {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.write_string(0, 0, "iccid").unwrap();
    sheet.write_string(0, 1, "站点").unwrap();
    for (n, id) in ids.iter().enumerate() {
        let r = n as u32 + 1;
        if n == 2 {
            sheet
                .write_number(r, 0, id.parse::<f64>().unwrap())
                .unwrap();
        } else {
            sheet.write_string(r, 0, id.as_str()).unwrap();
        }
        sheet.write_string(r, 1, format!("武汉仓库{n}")).unwrap();
    }
    book.save(path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_xlsx_input_sends_its_text_iccids_and_names_the_one_excel_rounded() {
    use calamine::{open_workbook, Data, Reader, Xlsx};
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let ids = first_iccids(&sim, 6);
    let input = dir.path().join("cards.xlsx");
    workbook_with_one_number(&input, &ids);
    let run_dir = dir.path().join("run");
    let ran = run(batch("check-real-name", &input, &sim, &run_dir, 500)).await;
    assert_eq!(ran.code, 1, "one invalid row: {}", ran.stderr);

    let stats = sim.stats();
    assert_eq!(
        calls_total(&stats, "real-named"),
        5,
        "the five text ICCIDs, once each"
    );
    let rows = read_report(&run_dir.join("report.csv"));
    assert_eq!(rows.len(), 6);
    for (n, r) in rows.iter().enumerate() {
        assert_eq!(r["站点"], format!("武汉仓库{n}"));
        if n == 2 {
            assert_eq!(r["status"], "invalid");
            assert!(
                r["error_msg"].contains("Excel rounded") && r["error_msg"].contains("as Text"),
                "{}",
                r["error_msg"]
            );
        } else {
            assert_eq!(r["status"], "ok", "{r:?}");
            assert_eq!(r["iccid"], ids[n]);
        }
    }

    // The .xlsx report: ICCIDs are text cells equal to the input, and a summary sheet.
    render_report(&run_dir, &dir.path().join("report.xlsx"));
    let mut book: Xlsx<_> = open_workbook(dir.path().join("report.xlsx")).unwrap();
    assert_eq!(book.sheet_names(), ["report", "summary"]);
    let sheet = book.worksheet_range("report").unwrap();
    let header: Vec<String> = sheet
        .rows()
        .next()
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    let iccid = header.iter().position(|h| h == "iccid").unwrap();
    let status = header.iter().position(|h| h == "status").unwrap();
    let body: Vec<&[Data]> = sheet.rows().skip(1).collect();
    assert_eq!(body.len(), 6);
    for (n, row) in body.iter().enumerate() {
        assert_eq!(row[status], Data::String(rows[n]["status"].clone()));
        if n != 2 {
            assert_eq!(
                row[iccid],
                Data::String(ids[n].clone()),
                "row {n}: text, as given"
            );
        }
    }
    let summary = book.worksheet_range("summary").unwrap();
    let rows_line = summary
        .rows()
        .find(|r| r[0] == Data::String("rows".into()))
        .expect("a rows line");
    assert_eq!(rows_line[1], Data::Float(6.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encoding_names_what_detection_cannot_see() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let ids = first_iccids(&sim, 12);
    let text = with_site_column(&ids);
    // UTF-16 without a byte-order mark (some exporters write it so): not detectable.
    let input = dir.path().join("no-bom.csv");
    std::fs::write(
        &input,
        text.encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    let ran = run(batch(
        "check-real-name",
        &input,
        &sim,
        &dir.path().join("run0"),
        1000,
    ))
    .await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(ran.stderr.contains("--encoding utf-16le"), "{}", ran.stderr);
    assert_eq!(calls_total(&sim.stats(), "real-named"), 0);

    let run_dir = dir.path().join("run");
    let mut cmd = batch("check-real-name", &input, &sim, &run_dir, 1000);
    cmd.args(["--encoding", "utf-16le"]);
    let ran = run(cmd).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let rows = read_report(&run_dir.join("report.csv"));
    assert_eq!(count(&rows, "ok"), 12);
    for (n, r) in rows.iter().enumerate() {
        assert_eq!(r["iccid"], ids[n]);
        assert_eq!(r["站点"], format!("武汉仓库{n}"));
    }
    assert_eq!(calls_total(&sim.stats(), "real-named"), 12);

    let mut bad = batch(
        "check-real-name",
        &input,
        &sim,
        &dir.path().join("run2"),
        1000,
    );
    bad.args(["--encoding", "klingon"]);
    let ran = run(bad).await;
    assert_eq!(ran.code, 2);
    assert!(ran.stderr.contains("not an encoding"), "{}", ran.stderr);
    assert_eq!(calls_total(&sim.stats(), "real-named"), 12, "nothing sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clears_plan_and_confirmation_count_the_cards_of_other_carriers() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let (telecom, others) = split_cards(&sim);
    let ids: Vec<String> = telecom
        .iter()
        .take(3)
        .chain(others.iter().take(2))
        .map(|c| c.iccid.clone())
        .collect();
    let input = write_csv(dir.path(), "mixed.csv", &ids);
    let mut plan = gsl();
    plan.arg("clear-real-name")
        .arg(&input)
        .arg("--endpoint")
        .arg(sim.url())
        .arg("--dry-run");
    let ran = run(plan).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let note = "(2 of the input's cards are not China Telecom by ICCID prefix: GSL refuses those)";
    assert!(ran.stdout.contains(note), "{}", ran.stdout);
    // Without a terminal and without --yes the confirmation is refused, naming them too.
    let mut ask = gsl();
    ask.arg("clear-real-name")
        .arg(&input)
        .arg("--endpoint")
        .arg(sim.url())
        .arg("--run-dir")
        .arg(dir.path().join("run"));
    let ran = run(ask).await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(ran.stderr.contains(note), "{}", ran.stderr);
    assert_eq!(calls_total(&sim.stats(), "clear-real-name"), 0);
}
