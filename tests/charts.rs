//! The `.xlsx` report's summary sheet carries native Excel charts — rows per status, rows per
//! outcome — read back here from the workbook's own chart XML: each chart's category and value
//! ranges point at real cells of the `summary` sheet, and those cells equal `summary.json`.

use crate::common::*;
use calamine::{Data, Reader};
use gslbatch::simulator::SimConfig;
use serde_json::Value;
use std::io::Read;
use std::path::Path;

/// Every `xl/charts/chartN.xml` of the workbook: its title and its `<c:f>` range formulas.
fn chart_parts(path: &Path) -> Vec<(String, Vec<String>)> {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let names: Vec<String> = zip
        .file_names()
        .filter_map(|n| n.ok().map(|n| n.into_owned()))
        .filter(|n| n.starts_with("xl/charts/chart") && n.ends_with(".xml"))
        .collect();
    let mut out = Vec::new();
    for name in names {
        let mut xml = String::new();
        zip.by_name(&name)
            .unwrap()
            .read_to_string(&mut xml)
            .unwrap();
        let between = |open: &str, close: &str| -> Vec<String> {
            xml.split(open)
                .skip(1)
                .filter_map(|s| s.split(close).next().map(str::to_string))
                .collect()
        };
        let title = between("<a:t>", "</a:t>")
            .into_iter()
            .next()
            .unwrap_or_default();
        out.push((title, between("<c:f>", "</c:f>")));
    }
    out.sort();
    out
}

/// `summary!$A$2:$A$8` → (sheet, column index, first row, last row), 0-based rows.
fn range(f: &str) -> (String, u32, u32, u32) {
    let (sheet, cells) = f.split_once('!').expect("sheet!range");
    let (a, b) = cells.split_once(':').expect("a range");
    let cell = |c: &str| {
        let parts: Vec<&str> = c.split('$').filter(|p| !p.is_empty()).collect();
        let col = parts[0].bytes().next().unwrap() - b'A';
        (u32::from(col), parts[1].parse::<u32>().unwrap() - 1)
    };
    let ((c0, r0), (c1, r1)) = (cell(a), cell(b));
    assert_eq!(c0, c1, "one column");
    (sheet.trim_matches('\'').to_string(), c0, r0, r1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xlsx_summary_sheet_charts_point_at_cells_equal_to_summary_json() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let mut ids = first_iccids(&sim, 7);
    ids.push(ids[1].clone());
    ids.push("12345".to_string());
    let input = write_csv(dir.path(), "in.csv", &ids);
    let run_dir = dir.path().join("run");
    let xlsx = dir.path().join("report.xlsx");
    let mut cmd = batch("check-real-name", &input, &sim, &run_dir, 50);
    cmd.arg("--report").arg(&xlsx);
    let r = run(cmd).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("summary.json")).unwrap())
            .unwrap();

    let charts = chart_parts(&xlsx);
    let titles: Vec<&str> = charts.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        titles,
        ["Rows per outcome", "Rows per status"],
        "one chart per series"
    );

    let mut book = calamine::open_workbook_auto(&xlsx).unwrap();
    let sheet = book.worksheet_range("summary").unwrap();
    let cell = |r: u32, c: u32| sheet.get_value((r, c)).cloned().unwrap_or(Data::Empty);
    for (title, refs) in &charts {
        // The series name, its categories, its values.
        let (cats, vals) = (range(&refs[refs.len() - 2]), range(&refs[refs.len() - 1]));
        assert_eq!(
            (cats.0.as_str(), cats.1),
            ("summary", 0),
            "{title}: categories in column A"
        );
        assert_eq!(
            (vals.0.as_str(), vals.1),
            ("summary", 1),
            "{title}: values in column B"
        );
        assert_eq!((cats.2, cats.3), (vals.2, vals.3), "{title}: the same rows");
        let group = if title.contains("status") {
            "counts"
        } else {
            "outcomes"
        };
        let want = summary[group].as_object().unwrap();
        assert_eq!(
            (vals.3 - vals.2 + 1) as usize,
            want.len(),
            "{title}: every {group} key"
        );
        for row in vals.2..=vals.3 {
            let Data::String(label) = cell(row, 0) else {
                panic!("{title}: a label in A{}", row + 1)
            };
            let key = label
                .strip_prefix(&format!("{group}."))
                .expect("group label");
            let value = match cell(row, 1) {
                Data::Float(f) => f,
                Data::Int(i) => i as f64,
                other => panic!("{title}: a number in B{}, not {other:?}", row + 1),
            };
            assert_eq!(value, want[key].as_f64().unwrap(), "{title}: {label}");
        }
    }
    assert_eq!(summary["counts"]["ok"], 7);
    assert_eq!(summary["counts"]["duplicate"], 1);
    assert_eq!(summary["counts"]["invalid"], 1);
}

/// Each chart of the workbook: its title and its `(category, value)` points, read from the
/// cells its ranges name.
fn charted(xlsx: &Path) -> Vec<(String, Vec<(String, f64)>)> {
    let mut book = calamine::open_workbook_auto(xlsx).unwrap();
    let sheet = book.worksheet_range("summary").unwrap();
    chart_parts(xlsx)
        .into_iter()
        .map(|(title, refs)| {
            let (cats, vals) = (range(&refs[refs.len() - 2]), range(&refs[refs.len() - 1]));
            assert_eq!((cats.0.as_str(), vals.0.as_str()), ("summary", "summary"));
            assert_eq!((cats.2, cats.3), (vals.2, vals.3), "{title}: the same rows");
            let points = (vals.2..=vals.3)
                .map(|r| {
                    let label = match sheet.get_value((r, cats.1)) {
                        Some(Data::String(s)) => s.clone(),
                        other => panic!("{title}: a label, not {other:?}"),
                    };
                    let v = match sheet.get_value((r, vals.1)) {
                        Some(Data::Float(f)) => *f,
                        Some(Data::Int(i)) => *i as f64,
                        other => panic!("{title}: a number, not {other:?}"),
                    };
                    (label, v)
                })
                .collect();
            (title, points)
        })
        .collect()
}

/// The report sheet as maps of column → cell text.
fn report_sheet(xlsx: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut book = calamine::open_workbook_auto(xlsx).unwrap();
    let sheet = book.worksheet_range("report").unwrap();
    let mut rows = sheet.rows();
    let header: Vec<String> = rows.next().unwrap().iter().map(|c| c.to_string()).collect();
    rows.map(|r| {
        header
            .iter()
            .cloned()
            .zip(r.iter().map(|c| c.to_string()))
            .collect()
    })
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventory_and_usage_workbooks_chart_cards_per_status_carrier_and_the_top_20_users() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();

    let inv = dir.path().join("inventory.xlsx");
    let mut cmd = gsl();
    cmd.args([
        "inventory",
        "--endpoint",
        &sim.url(),
        "--list-rate",
        "100",
        "--report",
    ])
    .arg(&inv);
    let r = run(cmd).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows = report_sheet(&inv);
    let charts = charted(&inv);
    let titles: Vec<&str> = charts.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(titles, ["Cards per carrier", "Cards per sim_status"]);
    let mut per_status = std::collections::BTreeMap::<String, f64>::new();
    let mut per_carrier = std::collections::BTreeMap::<String, f64>::new();
    for row in &rows {
        *per_status
            .entry(format!("sim_status.{}", row["sim_status"]))
            .or_default() += 1.0;
        let carrier = gslbatch::carrier::Carrier::from_iccid(&row["iccid"]).name();
        *per_carrier.entry(format!("carrier.{carrier}")).or_default() += 1.0;
    }
    let as_map = |points: &[(String, f64)]| {
        points
            .iter()
            .cloned()
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    assert_eq!(
        as_map(&charts[0].1),
        per_carrier,
        "cards per carrier = the report's rows"
    );
    assert_eq!(
        as_map(&charts[1].1),
        per_status,
        "cards per sim_status = the report's rows"
    );
    assert_eq!(per_status.values().sum::<f64>() as usize, rows.len());
    assert!(per_carrier.len() >= 2, "{per_carrier:?}");

    let ids: Vec<String> = sim.cards().iter().map(|c| c.iccid.clone()).collect();
    let input = write_csv(dir.path(), "in.csv", &ids);
    let usage = dir.path().join("usage.xlsx");
    let mut cmd = gsl();
    cmd.arg("usage")
        .arg(&input)
        .args(["--endpoint", &sim.url(), "--rate", "100", "--report"])
        .arg(&usage);
    let r = run(cmd).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows = report_sheet(&usage);
    let charts = charted(&usage);
    assert_eq!(charts.len(), 1);
    assert_eq!(charts[0].0, "Top 20 cards by data used (MB)");
    let mut used: Vec<(String, f64)> = rows
        .iter()
        .map(|r| {
            (
                format!("top_used.{}", r["iccid"]),
                r["flow_used"].parse().unwrap(),
            )
        })
        .collect();
    used.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    used.truncate(20);
    assert!(rows.len() > 20, "more cards than the chart shows");
    assert_eq!(
        charts[0].1, used,
        "the 20 largest flow_used of the report, most first"
    );
}
