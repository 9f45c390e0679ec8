//! Hostile files and hostile places (issue 25): inputs built to exhaust memory, signals while
//! the input is still open, read-only run dirs, private files. Each hostile input must end in
//! exit 2 naming the file with nothing sent — never an abort, a panic or a hang.

use crate::common::*;
use gslbatch::simulator::SimConfig;
use std::io::Write;
use std::path::{Path, PathBuf};

const CT: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>"#;
const RELS: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;
const WORKBOOK: &str = r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>"#;
const WORKBOOK_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#;
const SHEET_HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#;
const SHEET_TAIL: &str = "</sheetData></worksheet>";
const SST: &str = r#"<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>iccid</t></si></sst>"#;

/// A part's body, in pieces.
pub type Body = Box<dyn Iterator<Item = Vec<u8>>>;

/// Writes a zip of `(name, body)` parts, each body written in pieces (so a big one is never
/// held whole).
pub fn write_zip(path: &Path, parts: Vec<(&str, Body)>) {
    let file = std::fs::File::create(path).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    for (name, body) in parts {
        zip.start_file(name, opts).unwrap();
        for piece in body {
            zip.write_all(&piece).unwrap();
        }
    }
    zip.finish().unwrap();
}

fn once(s: &str) -> Box<dyn Iterator<Item = Vec<u8>>> {
    Box::new(std::iter::once(s.as_bytes().to_vec()))
}

/// A one-sheet `.xlsx` whose sheet and shared strings are given.
pub fn xlsx(
    path: &Path,
    sheet: Box<dyn Iterator<Item = Vec<u8>>>,
    sst: Box<dyn Iterator<Item = Vec<u8>>>,
) {
    write_zip(
        path,
        vec![
            ("[Content_Types].xml", once(CT)),
            ("_rels/.rels", once(RELS)),
            ("xl/workbook.xml", once(WORKBOOK)),
            ("xl/_rels/workbook.xml.rels", once(WORKBOOK_RELS)),
            ("xl/worksheets/sheet1.xml", sheet),
            ("xl/sharedStrings.xml", sst),
        ],
    );
}

/// A sheet of the header `iccid` (shared string 0) and these rows' XML.
pub fn sheet_with(rows: &str) -> Box<dyn Iterator<Item = Vec<u8>>> {
    let body =
        format!(r#"{SHEET_HEAD}<row r="1"><c r="A1" t="s"><v>0</v></c></row>{rows}{SHEET_TAIL}"#);
    Box::new(std::iter::once(body.into_bytes()))
}

pub fn plain_sst() -> Box<dyn Iterator<Item = Vec<u8>>> {
    once(SST)
}

/// A valid sheet: the header and these ICCIDs as inline strings.
pub fn xlsx_of(path: &Path, ids: &[String]) {
    let rows: String = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let r = i + 2;
            format!(r#"<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>{id}</t></is></c></row>"#)
        })
        .collect();
    xlsx(path, sheet_with(&rows), plain_sst());
}

const ODS_MANIFEST: &str = r#"<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>"#;

/// A one-table `.ods` with these rows' XML after a header row `iccid`.
pub fn ods(path: &Path, rows: &str) {
    let content = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:spreadsheet><table:table table:name="Sheet1"><table:table-row><table:table-cell office:value-type="string"><text:p>iccid</text:p></table:table-cell></table:table-row>{rows}</table:table></office:spreadsheet></office:body></office:document-content>"#
    );
    write_zip(
        path,
        vec![
            (
                "mimetype",
                once("application/vnd.oasis.opendocument.spreadsheet"),
            ),
            ("META-INF/manifest.xml", once(ODS_MANIFEST)),
            (
                "content.xml",
                Box::new(std::iter::once(content.into_bytes())),
            ),
        ],
    );
}

/// Runs `check-real-name` on `input` and asserts: exit 2, the file named, the reason given,
/// nothing sent, no run dir left.
async fn refused(input: &Path, reason: &str) {
    let sim = start_sim(SimConfig::default()).await;
    let dir = input.parent().unwrap();
    let run_dir = dir.join(format!(
        "run-{}",
        input.file_name().unwrap().to_string_lossy()
    ));
    let ran = run(batch("check-real-name", input, &sim, &run_dir, 500)).await;
    let name = input.to_string_lossy();
    assert_eq!(ran.code, 2, "{name}: exit 2: {}", ran.stderr);
    assert!(
        ran.stderr.contains(&*name) && ran.stderr.contains(reason),
        "{name}: names the file and says {reason:?}: {}",
        ran.stderr
    );
    assert!(ran.stderr.contains("nothing was sent"), "{}", ran.stderr);
    let stats = sim.stats();
    assert_eq!(
        calls_total(&stats, "real-named"),
        0,
        "nothing sent: {stats}"
    );
    assert!(!run_dir.exists(), "no run dir left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sheet_spanning_every_cell_is_refused_before_calamine_allocates_it() {
    // One cell at A1 and one at XFD1048576: 2^34 cells as a range (512 GiB), which aborted.
    let dir = tempdir();
    let input = dir.path().join("corner.xlsx");
    xlsx(
        &input,
        sheet_with(r#"<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>"#),
        plain_sst(),
    );
    refused(&input, "1048576 rows × 16384 columns").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_shared_string_or_inline_cell_is_refused() {
    let dir = tempdir();
    let big = || -> Box<dyn Iterator<Item = Vec<u8>>> {
        Box::new((0..3).map(|_| vec![b'8'; 1024 * 1024]))
    };
    let sst = dir.path().join("string.xlsx");
    let parts: Box<dyn Iterator<Item = Vec<u8>>> = Box::new(
        std::iter::once(
            br#"<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>iccid</t></si><si><t>"#
                .to_vec(),
        )
        .chain(big())
        .chain(std::iter::once(b"</t></si></sst>".to_vec())),
    );
    xlsx(
        &sst,
        sheet_with(r#"<row r="2"><c r="A2" t="s"><v>1</v></c></row>"#),
        parts,
    );
    refused(&sst, "a tag or text longer than 1 MiB").await;

    let inline = dir.path().join("inline.xlsx");
    let sheet: Box<dyn Iterator<Item = Vec<u8>>> = Box::new(
        std::iter::once(
            format!(
                r#"{SHEET_HEAD}<row r="1"><c r="A1" t="s"><v>0</v></c></row><row r="2"><c r="A2" t="inlineStr"><is><t>"#
            )
            .into_bytes(),
        )
        .chain(big())
        .chain(std::iter::once(
            format!("</t></is></c></row>{SHEET_TAIL}").into_bytes(),
        )),
    );
    xlsx(&inline, sheet, plain_sst());
    refused(&inline, "a tag or text longer than 1 MiB").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wide_row_an_ods_bomb_and_deep_xml_are_refused() {
    let dir = tempdir();
    // A row reaching column XFD over 200 rows: 3.3 million cells as a range.
    let wide = dir.path().join("wide.xlsx");
    xlsx(
        &wide,
        sheet_with(r#"<row r="200"><c r="XFD200"><v>1</v></c></row>"#),
        plain_sst(),
    );
    refused(&wide, "more than 2000000 cells").await;

    // An OpenDocument row holding a value, repeated three million times.
    let bomb = dir.path().join("repeat.ods");
    ods(
        &bomb,
        r#"<table:table-row table:number-rows-repeated="3000000"><table:table-cell office:value-type="string"><text:p>89860000000000000001</text:p></table:table-cell></table:table-row>"#,
    );
    refused(&bomb, "span more than 2000000 cells").await;

    // Elements nested a hundred thousand deep in the workbook part.
    let deep = dir.path().join("deep.xlsx");
    let nested = format!("{}{}", "<a>".repeat(100_000), "</a>".repeat(100_000));
    let wb = WORKBOOK.replace("<sheets>", &format!("{nested}<sheets>"));
    write_zip(
        &deep,
        vec![
            ("[Content_Types].xml", once(CT)),
            ("_rels/.rels", once(RELS)),
            (
                "xl/workbook.xml",
                Box::new(std::iter::once(wb.into_bytes())),
            ),
            ("xl/_rels/workbook.xml.rels", once(WORKBOOK_RELS)),
            ("xl/worksheets/sheet1.xml", sheet_with("")),
            ("xl/sharedStrings.xml", plain_sst()),
        ],
    );
    refused(&deep, "nested deeper than 256").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ods_with_empty_repeated_rows_and_columns_is_read() {
    // What LibreOffice writes: the used cells, then the rest of the sheet as empty repeats.
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let ids = first_iccids(&sim, 2);
    let input = dir.path().join("cards.ods");
    let rows: String = ids
        .iter()
        .map(|id| format!(r#"<table:table-row><table:table-cell office:value-type="string"><text:p>{id}</text:p></table:table-cell><table:table-cell table:number-columns-repeated="16383"/></table:table-row>"#))
        .collect();
    ods(
        &input,
        &format!(
            r#"{rows}<table:table-row table:number-rows-repeated="1048573"><table:table-cell table:number-columns-repeated="16384"/></table:table-row>"#
        ),
    );
    let run_dir = dir.path().join("run");
    let ran = run(batch("check-real-name", &input, &sim, &run_dir, 500)).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(calls_total(&sim.stats(), "real-named"), 2);
}

/// Writes `head`, then `n` MiB of `fill`, then `tail`, without holding the whole file.
fn big_text(path: &Path, head: &str, fill: u8, mib: usize, tail: &str) -> PathBuf {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    f.write_all(head.as_bytes()).unwrap();
    let chunk = vec![fill; 1024 * 1024];
    for _ in 0..mib {
        f.write_all(&chunk).unwrap();
    }
    f.write_all(tail.as_bytes()).unwrap();
    f.flush().unwrap();
    path.to_path_buf()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_inputs_past_the_record_cell_and_column_limits_are_refused() {
    let dir = tempdir();
    let d = dir.path();
    let id = "89860000000000000001";
    let line = big_text(
        &d.join("line.csv"),
        &format!("iccid\n{id}\n"),
        b'8',
        20,
        "\n",
    );
    refused(
        &line,
        "line.csv:3: the record starting on this line is longer than 1 MiB",
    )
    .await;
    let quoted = big_text(&d.join("quoted.csv"), "iccid\n\"", b'\n', 3, "\"\n");
    refused(&quoted, "quoted.csv:2: the record").await;
    let cell = d.join("cell.csv");
    std::fs::write(&cell, format!("iccid,note\n{id},{}\n", "x".repeat(70_000))).unwrap();
    refused(&cell, "cell.csv:2: cell 2 is longer than 64 KiB").await;
    let wide = d.join("wide.csv");
    std::fs::write(&wide, format!("iccid{}\n{id}\n", ",x".repeat(1500))).unwrap();
    refused(&wide, "wide.csv:1: 1501 cells in one record (limit 1000)").await;

    let jsonl = big_text(
        &d.join("long.jsonl"),
        &format!("{{\"iccid\":\"{id}\"}}\n\""),
        b'8',
        20,
        "\"\n",
    );
    refused(&jsonl, "long.jsonl:2: the line is longer than 1 MiB").await;
    let array = big_text(
        &d.join("long.json"),
        &format!("[\"{id}\",\""),
        b'8',
        20,
        "\"]",
    );
    refused(&array, "long.json:1: the JSON array element").await;
    let fields = d.join("fields.jsonl");
    let text: String = (0..1100)
        .map(|i| format!("{{\"iccid\":\"{id}\",\"f{i}\":1}}\n"))
        .collect();
    std::fs::write(&fields, text).unwrap();
    refused(
        &fields,
        "fields.jsonl:1001: more than 1000 distinct columns",
    )
    .await;
    let value = d.join("value.jsonl");
    std::fs::write(
        &value,
        format!(
            "{{\"iccid\":\"{id}\",\"note\":\"{}\"}}\n",
            "x".repeat(70_000)
        ),
    )
    .unwrap();
    refused(
        &value,
        "value.jsonl:1: a cell or field value is longer than 64 KiB",
    )
    .await;
}

mod fuzz {
    //! Malformed and hostile spreadsheets beside the text formats' fuzzing (`tests/fuzz.rs`):
    //! whatever the bytes, reading ends in records or an error naming the file — no panic, no
    //! abort, no hang.
    use super::*;
    use gslbatch::input::{InputOptions, Inputs};
    use proptest::prelude::*;

    fn read(path: &Path) {
        let opts = InputOptions {
            column: None,
            default_column: "iccid",
            sim_card_ids: true,
        };
        let name = path.to_string_lossy().to_string();
        match Inputs::open(std::slice::from_ref(&name), &opts) {
            Err(e) => assert!(e.to_string().starts_with(&name), "{e}"),
            Ok(inputs) => {
                for item in inputs.take(10_000) {
                    if let Err(e) = item {
                        assert!(e.to_string().starts_with(&name), "{e}");
                        break;
                    }
                }
            }
        }
    }

    fn sample(dir: &Path, ods_file: bool) -> Vec<u8> {
        let ids: Vec<String> = (0..5).map(|i| format!("8986000000000000000{i}")).collect();
        let path = dir.join(if ods_file { "s.ods" } else { "s.xlsx" });
        if ods_file {
            let rows: String = ids.iter().map(|id| format!(r#"<table:table-row><table:table-cell office:value-type="string"><text:p>{id}</text:p></table:table-cell></table:table-row>"#)).collect();
            ods(&path, &rows);
        } else {
            xlsx_of(&path, &ids);
        }
        std::fs::read(path).unwrap()
    }

    /// Cell references and repeat counts anywhere in the legal range and past it.
    fn place() -> impl Strategy<Value = (u64, u64)> {
        (
            prop_oneof![1u64..20, 1_000_000u64..1_048_577, Just(u64::from(u32::MAX))],
            prop_oneof![0u64..5, 16_000u64..16_384, Just(100_000u64)],
        )
    }

    fn column(mut c: u64) -> String {
        let mut s = Vec::new();
        loop {
            s.push(b'A' + (c % 26) as u8);
            if c < 26 {
                break;
            }
            c = c / 26 - 1;
        }
        s.reverse();
        String::from_utf8(s).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        #[test]
        fn mutated_spreadsheets_never_abort(
            ods_file in any::<bool>(),
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
            cut in prop::option::of(any::<prop::sample::Index>()),
        ) {
            let dir = tempdir();
            let mut bytes = sample(dir.path(), ods_file);
            for (at, b) in flips {
                let i = at.index(bytes.len());
                bytes[i] = b;
            }
            if let Some(at) = cut {
                bytes.truncate(at.index(bytes.len()));
            }
            let path = dir.path().join(if ods_file { "m.ods" } else { "m.xlsx" });
            std::fs::write(&path, bytes).unwrap();
            read(&path);
        }

        #[test]
        fn hostile_sheets_never_abort(
            cells in prop::collection::vec(place(), 1..6),
            repeats in prop::collection::vec(place(), 1..4),
            text in 0usize..3_000_000,
            depth in 0usize..2_000,
        ) {
            let dir = tempdir();
            let xl = dir.path().join("h.xlsx");
            let mut rows = String::new();
            for (r, c) in &cells {
                rows.push_str(&format!(r#"<row r="{r}"><c r="{}{r}"><v>1</v></c></row>"#, column(*c)));
            }
            rows.push_str(&format!(
                r#"<row><c t="inlineStr"><is>{}<t>{}</t>{}</is></c></row>"#,
                "<r>".repeat(depth),
                "8".repeat(text),
                "</r>".repeat(depth)
            ));
            xlsx(&xl, sheet_with(&rows), plain_sst());
            read(&xl);

            let od = dir.path().join("h.ods");
            let rows: String = repeats.iter().map(|(r, c)| format!(
                r#"<table:table-row table:number-rows-repeated="{r}"><table:table-cell table:number-columns-repeated="{c}" office:value-type="string"><text:p>8986</text:p></table:table-cell></table:table-row>"#
            )).collect();
            ods(&od, &rows);
            read(&od);
        }
    }
}

/// Starts `clear-real-name INPUT` with stdin a pipe that stays open, waits until it is reading,
/// sends `sig`, and returns its exit code and stderr.
async fn signalled_while_reading(
    sim: &gslbatch::simulator::Simulator,
    input: &Path,
    run_dir: &Path,
    sig: &str,
    dir: &Path,
    name: &str,
) -> (i32, String) {
    let mut cmd = batch("clear-real-name", input, sim, run_dir, 500);
    cmd.stdin(std::process::Stdio::piped());
    let mut child = spawn_logged(cmd, dir, name);
    // Hold stdin open (no writer closes it) for as long as the child lives.
    let _stdin = child.stdin.take();
    // The process catches SIGINT once its handler is in (the `SigCgt` mask of /proc), and
    // a start reading stdin has made its run dir.
    let pid = child.id();
    let stdin = input == Path::new("-");
    let rd = run_dir.to_path_buf();
    wait_until(
        "the start to catch signals",
        std::time::Duration::from_secs(30),
        || {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let caught = status
                .lines()
                .find_map(|l| l.strip_prefix("SigCgt:"))
                .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
                .is_some_and(|m| m & 2 != 0);
            caught && (!stdin || rd.join("journal.sqlite").exists())
        },
    )
    .await;
    signal(&child, sig);
    let code = wait_exit(&mut child, std::time::Duration::from_secs(30)).await;
    let err = std::fs::read_to_string(dir.join(format!("{name}.err"))).unwrap();
    (code, err)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_while_the_input_is_still_open_ends_the_run_and_leaves_nothing_in_the_way() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let d = dir.path();
    let fifo = d.join("cards.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    for (n, (input, sig)) in [
        (Path::new("-"), "INT"),
        (Path::new("-"), "TERM"),
        (Path::new("-"), "HUP"),
        (fifo.as_path(), "INT"),
    ]
    .into_iter()
    .enumerate()
    {
        let run_dir = d.join(format!("run{n}"));
        let (code, err) =
            signalled_while_reading(&sim, input, &run_dir, sig, d, &format!("sig{n}")).await;
        assert_eq!(code, 130, "SIG{sig} on {}: {err}", input.display());
        assert!(
            err.contains("signal received before anything was sent")
                && err.contains("nothing was sent"),
            "{err}"
        );
        assert!(!run_dir.exists(), "SIG{sig}: no run dir left: {err}");
    }
    assert_eq!(
        calls_total(&sim.stats(), "clear-real-name"),
        0,
        "nothing sent"
    );

    // The same command with its input then starts and runs.
    let ids = telecom_iccids(&sim, 2);
    let run_dir = d.join("run0");
    let mut cmd = batch("clear-real-name", Path::new("-"), &sim, &run_dir, 500);
    cmd.stdin(std::process::Stdio::piped());
    let ran = tokio::task::spawn_blocking(move || {
        let mut child = cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "iccid\n{}\n{}", ids[0], ids[1]).unwrap();
        drop(stdin);
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(
        ran.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    assert_eq!(calls_total(&sim.stats(), "clear-real-name"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_report_elsewhere_read_a_run_dir_on_read_only_media() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let Some(disk) =
        SmallDisk::mount_or_skip(&dir.path().join("media"), "16m", "read-only run dir")
    else {
        return;
    };
    let ids = first_iccids(&sim, 3);
    let input = write_csv(dir.path(), "cards.csv", &ids);
    let run_dir = disk.0.join("run");
    let ran = run(batch("check-real-name", &input, &sim, &run_dir, 500)).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let remounted = std::process::Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(&disk.0)
        .status()
        .unwrap();
    assert!(remounted.success(), "remount read-only");
    assert!(
        std::fs::write(run_dir.join("probe"), "x").is_err(),
        "read-only now"
    );

    let status = run({
        let mut c = bare();
        c.arg("status").arg(&run_dir);
        c
    })
    .await;
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert!(status.stdout.contains("rows:       3"), "{}", status.stdout);
    let json = run({
        let mut c = bare();
        c.arg("status").arg("--json").arg(&run_dir);
        c
    })
    .await;
    assert_eq!(json.code, 0, "{}", json.stderr);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["counts"]["ok"], 3, "{v}");
    let elsewhere = dir.path().join("elsewhere.csv");
    let report = run({
        let mut c = bare();
        c.arg("report")
            .arg(&run_dir)
            .arg("--report")
            .arg(&elsewhere);
        c
    })
    .await;
    assert_eq!(report.code, 0, "{}", report.stderr);
    let rows = read_report(&elsewhere);
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r["status"] == "ok"), "{rows:?}");
    assert_eq!(
        calls_total(&sim.stats(), "real-named"),
        3,
        "read, not sent again"
    );
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_and_run_dirs_are_private_whatever_the_umask_and_reports_are_not() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let ids = telecom_iccids(&sim, 2);
    let input = write_csv(dir.path(), "cards.csv", &ids);
    let state = dir.path().join("home/state/gslbatch");
    let run_dir = dir.path().join("runs/run");
    // The binary under umask 000: everything it makes would be world-writable by default.
    let inner = batch("clear-real-name", &input, &sim, &run_dir, 500);
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg("umask 000; exec \"$@\"")
        .arg("sh")
        .arg(inner.get_program())
        .args(inner.get_args());
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.env("GSL_STATE_DIR", &state)
        .stdin(std::process::Stdio::null());
    let ran = run(cmd).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(calls_total(&sim.stats(), "clear-real-name"), 2);

    // Every directory made for state or a run: 0700; every file holding card data: 0600.
    for d in [
        dir.path().join("home"),
        dir.path().join("home/state"),
        state.clone(),
        state.join("locks"),
        state.join("ledger"),
        dir.path().join("runs"),
        run_dir.clone(),
    ] {
        assert_eq!(mode(&d), 0o700, "{}", d.display());
    }
    let mut private = vec![run_dir.join("journal.sqlite"), run_dir.join("run.lock")];
    for sub in ["locks", "ledger"] {
        for f in std::fs::read_dir(state.join(sub)).unwrap() {
            private.push(f.unwrap().path());
        }
    }
    assert!(
        private.len() >= 4,
        "a lock and a ledger in the state dir: {private:?}"
    );
    for f in &private {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    // Reports are meant to be shared: they keep the umask.
    assert_eq!(mode(&run_dir.join("report.csv")), 0o666);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_on_every_interface_without_credentials_is_refused_unless_asked_for() {
    let ran = run({
        let mut c = bare();
        c.args(["simulate", "--listen", "0.0.0.0:0"]);
        c
    })
    .await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("not a loopback address")
            && ran.stderr.contains("--allow-any-credential"),
        "{}",
        ran.stderr
    );

    // (Serving with the flag or with credentials is not tried here: test servers bind
    // loopback only.) On loopback, without credentials, it serves as before.
    let mut c = bare();
    c.args(["simulate", "--listen", "127.0.0.1:0"]);
    let d = tempdir();
    let mut child = spawn_logged(c, d.path(), "sim");
    let out = d.path().join("sim.out");
    wait_until(
        "the simulator to start",
        std::time::Duration::from_secs(30),
        || !std::fs::read_to_string(&out).unwrap_or_default().is_empty(),
    )
    .await;
    assert!(child.try_wait().unwrap().is_none(), "serves on loopback");
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_ones_one_json_value_escapes_and_the_empty_input_named() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let d = dir.path();
    let ids = first_iccids(&sim, 2);

    // A .json file holding one object or one string is not a card list: exit 2.
    for (name, text) in [
        ("object.json", format!("{{\"iccid\": \"{}\"}}\n", ids[0])),
        ("string.json", format!("\"{}\"", ids[0])),
        (
            "pretty.json",
            format!("{{\n  \"iccid\": \"{}\"\n}}\n", ids[0]),
        ),
    ] {
        let input = d.join(name);
        std::fs::write(&input, text).unwrap();
        refused(
            &input,
            "is one JSON value, not an array of cards nor JSON Lines",
        )
        .await;
    }
    // JSON Lines under a .json name is still read.
    let lines = d.join("lines.json");
    std::fs::write(
        &lines,
        format!(
            "{{\"iccid\": \"{}\"}}\n{{\"iccid\": \"{}\"}}\n",
            ids[0], ids[1]
        ),
    )
    .unwrap();
    let ran = run(batch(
        "check-real-name",
        &lines,
        &sim,
        &d.join("run-lines"),
        500,
    ))
    .await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(calls_total(&sim.stats(), "real-named"), 2);

    // Escape sequences in a header reach the terminal escaped.
    let header = d.join("header.csv");
    std::fs::write(&header, format!("\x1b[2J\x1b[31mold,site\n{},x\n", ids[0])).unwrap();
    let ran = run(batch(
        "check-real-name",
        &header,
        &sim,
        &d.join("run-h"),
        500,
    ))
    .await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(!ran.stderr.contains('\x1b'), "raw escape: {:?}", ran.stderr);
    assert!(ran.stderr.contains("\\u{1b}[31mold"), "{}", ran.stderr);

    // An input without a data row: exit 2 naming it.
    let empty = d.join("empty-export.csv");
    std::fs::write(&empty, "iccid\n").unwrap();
    let ran = run(batch(
        "check-real-name",
        &empty,
        &sim,
        &d.join("run-e"),
        500,
    ))
    .await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(ran.stderr.contains("empty-export.csv"), "{}", ran.stderr);

    // NUL, CR and LF inside a quoted ICCID cell: the row is invalid and its cell escaped.
    let nasty = d.join("nasty.csv");
    std::fs::write(&nasty, format!("iccid\n\"89\r\n86\x00\x1b\"\n{}\n", ids[1])).unwrap();
    let run_dir = d.join("run-n");
    let ran = run(batch("check-real-name", &nasty, &sim, &run_dir, 500)).await;
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let rows = read_report(&run_dir.join("report.csv"));
    assert_eq!(rows[0]["status"], "invalid");
    assert_eq!(rows[0]["iccid"], "89\\r\\n86\\u{0}\\u{1b}");
    assert!(
        !rows[0]["error_msg"].chars().any(char::is_control),
        "{:?}",
        rows[0]["error_msg"]
    );
    assert_eq!(rows[1]["status"], "ok");
    assert_eq!(
        calls_total(&sim.stats(), "real-named"),
        3,
        "only the valid cards were sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_xlsx_report_past_its_row_limit_is_refused_before_anything_is_sent() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    // 1,048,576 data rows: one more than an .xlsx sheet holds under its header.
    let input = dir.path().join("million.csv");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
    writeln!(f, "iccid").unwrap();
    for i in 0..1_048_576u64 {
        writeln!(f, "8986{i:016}").unwrap();
    }
    f.flush().unwrap();
    drop(f);
    let run_dir = dir.path().join("run");
    let mut cmd = batch("check-real-name", &input, &sim, &run_dir, 500);
    cmd.arg("--report").arg(dir.path().join("out.xlsx"));
    let ran = run(cmd).await;
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("at most 1048575 rows") && ran.stderr.contains("nothing was sent"),
        "{}",
        ran.stderr
    );
    assert_eq!(calls_total(&sim.stats(), "real-named"), 0);
    assert!(!run_dir.exists());
}

#[test]
fn a_streamed_sheet_keeps_its_row_numbers_and_first_column() {
    use gslbatch::input::{InputOptions, Inputs};
    let dir = tempdir();
    let path = dir.path().join("offset.xlsx");
    let (a, b) = ("89860000000000000001", "89860000000000000002");
    let rows = format!(
        r#"<row r="3"><c r="B3" t="inlineStr"><is><t>iccid</t></is></c><c r="C3" t="inlineStr"><is><t>note</t></is></c></row><row r="5"><c r="B5" t="inlineStr"><is><t>{a}</t></is></c><c r="D5" t="inlineStr"><is><t>far</t></is></c></row><row r="6"><c r="B6" t="inlineStr"><is><t>{b}</t></is></c><c r="C6"><v>42</v></c></row>"#
    );
    // The header row 1 of `sheet_with` is replaced: these rows only.
    let body = format!("{SHEET_HEAD}{rows}{SHEET_TAIL}");
    xlsx(
        &path,
        Box::new(std::iter::once(body.into_bytes())),
        plain_sst(),
    );
    let opts = InputOptions {
        column: None,
        default_column: "iccid",
        sim_card_ids: true,
    };
    let name = path.to_string_lossy().to_string();
    let mut inputs = Inputs::open(std::slice::from_ref(&name), &opts).unwrap();
    let recs: Vec<_> = inputs.by_ref().map(|r| r.unwrap()).collect();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0].location, format!("{name}:5"));
    assert_eq!(recs[0].key, Ok(a.to_string()));
    assert_eq!(recs[1].location, format!("{name}:6"));
    assert_eq!(recs[1].key, Ok(b.to_string()));
    assert_eq!(inputs.extra_columns(), ["note", "column3"]);
    assert_eq!(recs[0].extras, ["", "far"]);
    assert_eq!(recs[1].extras[0], "42");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_journal_is_said_once() {
    let dir = tempdir();
    let Some(disk) = SmallDisk::mount_or_skip(&dir.path().join("disk"), "600k", "journal full")
    else {
        return;
    };
    let sim = start_sim(SimConfig {
        cards: 4500,
        ..SimConfig::default()
    })
    .await;
    let ids = telecom_iccids(&sim, 2000);
    let input = write_csv(dir.path(), "in.csv", &ids);
    let ran = run(batch(
        "clear-real-name",
        &input,
        &sim,
        &disk.0.join("run"),
        400,
    ))
    .await;
    assert_eq!(ran.code, 3, "{}", ran.stderr);
    assert_eq!(
        ran.stderr.matches("journal write failed").count(),
        1,
        "one message: {}",
        ran.stderr
    );
    assert!(ran.stderr.contains("gslbatch resume"), "{}", ran.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_that_cannot_be_written_still_leaves_the_summary_and_the_way_to_write_it() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let Some(disk) = SmallDisk::mount_or_skip(&dir.path().join("disk"), "64k", "report disk full")
    else {
        return;
    };
    disk.fill();
    let ids = first_iccids(&sim, 50);
    let input = write_csv(dir.path(), "in.csv", &ids);
    let run_dir = dir.path().join("run");
    let dest = disk.0.join("out.csv");
    let mut cmd = batch("check-real-name", &input, &sim, &run_dir, 500);
    cmd.arg("--report").arg(&dest);
    let ran = run(cmd).await;
    assert_eq!(ran.code, 3, "{}", ran.stderr);
    assert_eq!(calls_total(&sim.stats(), "real-named"), 50);
    let again = format!(
        "gslbatch report {} --report {}",
        run_dir.display(),
        dest.display()
    );
    assert!(
        ran.stderr.contains("the report could not be written") && ran.stderr.contains(&again),
        "{}",
        ran.stderr
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["counts"]["ok"], 50, "{summary}");

    // Once there is room, the command it named writes the report; nothing is sent again.
    disk.grow("8m");
    let _ = std::fs::remove_file(disk.0.join("filler"));
    let ran = run({
        let mut c = bare();
        c.arg("report").arg(&run_dir).arg("--report").arg(&dest);
        c
    })
    .await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(read_report(&dest).len(), 50);
    assert_eq!(calls_total(&sim.stats(), "real-named"), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_still_leaves_the_report_with_stderr_a_dead_pipe() {
    // Answers after 1.5-4.5 s: the second signal lands while requests are in flight.
    let sim = start_sim(SimConfig {
        latency_ms: 3000,
        ..SimConfig::default()
    })
    .await;
    let ids = telecom_iccids(&sim, 100);
    let dir = tempdir();
    let input = write_csv(dir.path(), "in.csv", &ids);
    let run_dir = dir.path().join("run");
    let mut cmd = batch("clear-real-name", &input, &sim, &run_dir, 20);
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    // Nobody reads stderr: every message the process writes there goes to a dead pipe.
    drop(child.stderr.take());
    wait_until("10 clears", std::time::Duration::from_secs(30), || {
        calls(&sim.stats(), "clear-real-name", "ok") >= 10
    })
    .await;
    signal(&child, "INT");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    signal(&child, "INT");
    let code = wait_exit(&mut child, std::time::Duration::from_secs(30)).await;
    assert_eq!(code, 130);
    // The process rendered the report itself; what was in flight is unknown, never lost.
    let rows = read_report(&run_dir.join("report.csv"));
    assert_rows_in_order(&rows, 100);
    assert!(count(&rows, "ok") >= 10, "{:?}", status_counts(&rows));
    // Every clear the simulator did is `ok` or (in flight at the exit) `unknown`.
    let done = calls(&sim.stats(), "clear-real-name", "ok");
    let (ok, unknown) = (count(&rows, "ok") as u64, count(&rows, "unknown") as u64);
    assert!(
        ok <= done && ok + unknown >= done,
        "{done} clears done: {:?}",
        status_counts(&rows)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_and_report_remember_the_runs_report_file() {
    let sim = start_sim(SimConfig::default()).await;
    let dir = tempdir();
    let ids = first_iccids(&sim, 3);
    let input = write_csv(dir.path(), "in.csv", &ids);
    let run_dir = dir.path().join("run");
    let elsewhere = dir.path().join("shared/elsewhere.csv");
    std::fs::create_dir_all(elsewhere.parent().unwrap()).unwrap();
    let mut cmd = batch("check-real-name", &input, &sim, &run_dir, 500);
    cmd.arg("--report").arg(&elsewhere);
    let ran = run(cmd).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(read_report(&elsewhere).len(), 3);

    for sub in ["report", "resume"] {
        std::fs::remove_file(&elsewhere).unwrap();
        let mut cmd = gsl();
        cmd.arg(sub).arg(&run_dir);
        let ran = run(cmd).await;
        assert_eq!(ran.code, 0, "{sub}: {}", ran.stderr);
        assert_eq!(
            read_report(&elsewhere).len(),
            3,
            "{sub} wrote the run's --report"
        );
        assert!(
            !run_dir.join("report.csv").exists(),
            "{sub}: not RUN_DIR/report.csv"
        );
    }
    assert_eq!(
        calls_total(&sim.stats(), "real-named"),
        3,
        "nothing sent again"
    );
}
