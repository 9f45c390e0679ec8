//! The input readers: formats, line numbers, header rules, extras, validation, dedupe.

use crate::common::{input_opts, keys_of, read_records};
use gslbatch::input::{
    format_for, validate_iccid, Dedupe, Format, InputError, InputOptions, Inputs, Record,
};
use std::io::Cursor;
use std::path::Path;

const A: &str = "89860012345678901234";
const B: &str = "8986001234567890123";
const C: &str = "898600123456789012F";

fn with_column(c: &str) -> InputOptions {
    InputOptions {
        column: Some(c.to_string()),
        default_column: "iccid",
        sim_card_ids: true,
    }
}

fn read_all(data: &[u8], opts: &InputOptions) -> Vec<Result<Record, InputError>> {
    Inputs::from_reader("in", Cursor::new(data.to_vec()), opts).collect()
}

fn locations(records: &[Record]) -> Vec<&str> {
    records.iter().map(|r| r.location.as_str()).collect()
}

fn write(dir: &tempfile::TempDir, name: &str, data: &[u8]) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, data).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn csv_with_bom_crlf_and_header() {
    let data = format!("\u{feff}iccid,note\r\n{A},first\r\n\r\n{B},second\r\n");
    let recs = read_records(data.as_bytes(), &input_opts(true));
    assert_eq!(keys_of(&recs), vec![Ok(A.into()), Ok(B.into())]);
    assert_eq!(locations(&recs), vec!["in:2", "in:4"]);
    assert_eq!(recs[1].row, 2);
    assert_eq!(recs[0].extras, vec!["first"]);
    assert_eq!(recs[1].extras, vec!["second"]);
}

#[test]
fn csv_semicolons_and_tabs() {
    let semi = format!("note;ICCID\nx;{A}\ny;{B}");
    let recs = read_records(semi.as_bytes(), &input_opts(true));
    assert_eq!(keys_of(&recs), vec![Ok(A.into()), Ok(B.into())]);
    assert_eq!(recs[1].extras, vec!["y"]);
    assert_eq!(locations(&recs), vec!["in:2", "in:3"]);

    let tab = format!("iccid\tnote\n{A}\ta,b;c\n");
    let recs = read_records(tab.as_bytes(), &input_opts(true));
    assert_eq!(keys_of(&recs), vec![Ok(A.into())]);
    assert_eq!(recs[0].extras, vec!["a,b;c"]);
}

#[test]
fn csv_quoted_fields_keep_line_numbers() {
    let data = format!("iccid,note\n\n{A},\"two\nlines, and a comma\"\n\"{B}\",plain\n\n\n{C},\"x\r\ny\"\r\n{A}1,last");
    let recs = read_records(data.as_bytes(), &input_opts(true));
    assert_eq!(locations(&recs), vec!["in:3", "in:5", "in:8", "in:10"]);
    assert_eq!(recs[0].extras, vec!["two\nlines, and a comma"]);
    assert_eq!(recs[1].key, Ok(B.into()));
    assert_eq!(recs[2].extras, vec!["x\r\ny"]);
    assert_eq!(
        recs.iter().map(|r| r.row).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    assert_eq!(
        recs[3].key,
        Err("ICCID has 21 characters, expected 19-20 (in:10)".into())
    );
}

#[test]
fn csv_blank_and_all_empty_lines_are_not_rows() {
    let data = format!("\n\n{A}\n   \n,,\n{B}\n\n");
    let recs = read_records(data.as_bytes(), &input_opts(true));
    assert_eq!(keys_of(&recs), vec![Ok(A.into()), Ok(B.into())]);
    assert_eq!(locations(&recs), vec!["in:3", "in:6"]);
    assert_eq!(recs[1].row, 2);
}

#[test]
fn csv_headerless_carries_other_columns_as_columnn() {
    let data = format!("{A},x\n{B},y,z\n {C} \n");
    let mut inputs = Inputs::from_reader("in", Cursor::new(data.into_bytes()), &input_opts(true));
    let r1 = inputs.next().unwrap().unwrap();
    assert_eq!(r1.key, Ok(A.into()));
    assert_eq!(r1.location, "in:1");
    assert_eq!(r1.extras, vec!["x"]);
    let r2 = inputs.next().unwrap().unwrap();
    assert_eq!(r2.extras, vec!["y", "z"]);
    let r3 = inputs.next().unwrap().unwrap();
    assert_eq!(r3.raw, format!(" {C} "));
    assert_eq!(r3.key, Ok(C.into()));
    assert_eq!(r3.extras, vec!["", ""]);
    assert!(inputs.next().is_none());
    assert_eq!(inputs.extra_columns(), ["column2", "column3"]);
}

#[test]
fn csv_header_found_by_column_option() {
    let data = format!("card,note\n{A},n\n");
    let recs = read_records(data.as_bytes(), &with_column("CARD"));
    assert_eq!(keys_of(&recs), vec![Ok(A.into())]);
    assert_eq!(recs[0].location, "in:2");

    // Without --column the first row is a header without the card column: fatal, never a
    // guess at the first column (issue 12's header rule).
    let results = read_all(data.as_bytes(), &input_opts(true));
    assert_eq!(results.len(), 1);
    let err = results[0].as_ref().unwrap_err().to_string();
    assert!(
        err.contains("card, note") && err.contains("--column"),
        "{err}"
    );
}

#[test]
fn csv_column_option_missing_from_header_is_fatal() {
    let data = format!("\niccid,note\n{A},n\n");
    let results = read_all(data.as_bytes(), &with_column("card"));
    assert_eq!(results.len(), 1);
    let err = results[0].as_ref().unwrap_err().to_string();
    assert_eq!(err, "in:2: no column card in header (columns: iccid, note)");
}

#[test]
fn csv_missing_key_cell_is_an_invalid_row() {
    let data = format!("note,iccid\nonly-a-note\nx,{A}\n");
    let recs = read_records(data.as_bytes(), &input_opts(true));
    let reason = recs[0].key.as_ref().unwrap_err();
    assert!(
        reason.contains("no iccid cell") && reason.ends_with("(in:2)"),
        "{reason}"
    );
    assert_eq!(recs[1].key, Ok(A.into()));
}

#[test]
fn csv_bytes_that_are_not_utf8_are_read_as_gb18030_not_spoiled() {
    // Bytes that are not UTF-8 make the file GB18030 (the default of Chinese Windows): its
    // ASCII ICCIDs are read as they are; nothing is lost to "not valid UTF-8".
    let mut data = format!("iccid,note\n{A},ok\n").into_bytes();
    data.extend_from_slice(b"8986001234567890123,bad\xff\xfe\n");
    data.extend_from_slice(format!("{C},ok\n").as_bytes());
    let recs = read_records(&data, &input_opts(true));
    assert_eq!(recs.len(), 3);
    assert_eq!(recs[1].key, Ok(B.into()));
    assert_eq!(recs[1].raw, B);
    assert_eq!(recs[2].key, Ok(C.into()));
    assert_eq!(recs[2].location, "in:4");
}

#[test]
fn odd_bytes_never_panic() {
    let mut long = format!("iccid\n{}\n", "9".repeat(10 * 1024 * 1024)).into_bytes();
    long.extend_from_slice(format!("{A}\n").as_bytes());
    // Past the record limit (1 MiB) the file is refused, naming the line (SPEC: hostile input).
    let results = read_all(&long, &input_opts(true));
    let err = results.last().unwrap().as_ref().unwrap_err().to_string();
    assert!(err.starts_with("in:2: ") && err.contains("1 MiB"), "{err}");

    let recs = read_records(
        b"iccid\n89860\x00123\n\"unterminated,;\t\n",
        &input_opts(true),
    );
    assert!(recs.iter().all(|r| r.key.is_err()));

    let utf16: Vec<u8> = "iccid\n1\n"
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    let mut bom = vec![0xFF, 0xFE];
    bom.extend_from_slice(&utf16);
    // With its byte-order mark UTF-16 is decoded; without one it is refused, naming it.
    let recs = read_records(&bom, &input_opts(true));
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].raw, "1");
    let results = read_all(&utf16, &input_opts(true));
    let err = results.last().unwrap().as_ref().unwrap_err().to_string();
    assert!(err.starts_with("in:1: ") && err.contains("UTF-16"), "{err}");
}

#[test]
fn extras_union_across_files_with_clash_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let one = write(
        &dir,
        "one.csv",
        format!("iccid,note,status\n{A},n1,s1\n").as_bytes(),
    );
    let two = write(
        &dir,
        "two.csv",
        format!("region;ICCID;note\neu;{B};n2\n").as_bytes(),
    );
    let mut inputs = Inputs::open(&[one.clone(), two.clone()], &input_opts(true)).unwrap();
    let r1 = inputs.next().unwrap().unwrap();
    assert_eq!(r1.extras, vec!["n1", "s1"]);
    assert_eq!(inputs.extra_columns(), ["note", "input_status"]);
    let r2 = inputs.next().unwrap().unwrap();
    assert_eq!(r2.row, 2);
    assert_eq!(r2.location, format!("{two}:2"));
    assert_eq!(r2.extras, vec!["n2", "", "eu"]);
    assert!(inputs.next().is_none());
    assert_eq!(inputs.extra_columns(), ["note", "input_status", "region"]);
}

#[test]
fn a_column_named_rehearsal_is_prefixed_like_the_report_columns() {
    let data = format!("iccid,Rehearsal\n{A},yes\n");
    let mut inputs = Inputs::from_reader("in", Cursor::new(data.into_bytes()), &input_opts(true));
    inputs.next().unwrap().unwrap();
    assert_eq!(inputs.extra_columns(), ["input_Rehearsal"]);
}

#[test]
fn json_array_of_strings_and_objects() {
    let data = format!("[\n  \"{A}\",\n  \"{B}\"\n]\n");
    let recs = read_records(data.as_bytes(), &input_opts(true));
    assert_eq!(keys_of(&recs), vec![Ok(A.into()), Ok(B.into())]);
    assert_eq!(locations(&recs), vec!["in:2", "in:3"]);

    let data = format!(
        "[{{\"zone\": \"b\", \"iccid\": \"{A}\", \"n\": 5, \"ok\": true, \"gone\": null}},\n{{\"ICCID\": \"{B}\", \"tags\": [1, \"x\"]}},\n{{\"zone\": \"a\"}},\n42,\n{{\"iccid\": 8986001234567890123}}]"
    );
    let mut inputs = Inputs::from_reader("in", Cursor::new(data.into_bytes()), &input_opts(true));
    let r1 = inputs.next().unwrap().unwrap();
    assert_eq!(r1.key, Ok(A.into()));
    assert_eq!(r1.extras, vec!["b", "5", "true", ""]);
    let r2 = inputs.next().unwrap().unwrap();
    assert_eq!(r2.key, Ok(B.into()));
    assert_eq!(r2.location, "in:2");
    assert_eq!(r2.extras, vec!["", "", "", "", "[1,\"x\"]"]);
    let r3 = inputs.next().unwrap().unwrap();
    assert_eq!(r3.key, Err("no iccid field in the object (in:3)".into()));
    let r4 = inputs.next().unwrap().unwrap();
    assert_eq!(
        r4.key,
        Err("expected a string or an object, found a number (in:4)".into())
    );
    let r5 = inputs.next().unwrap().unwrap();
    assert_eq!(r5.key, Ok(B.into()));
    assert!(inputs.next().is_none());
    assert_eq!(inputs.extra_columns(), ["zone", "n", "ok", "gone", "tags"]);
}

#[test]
fn json_array_cut_short_yields_rows_then_fatal() {
    let data = format!("[\"{A}\",\n\"{B}\",\n\"{C}");
    let results = read_all(data.as_bytes(), &input_opts(true));
    assert_eq!(results.len(), 3);
    assert_eq!(results[0].as_ref().unwrap().key, Ok(A.into()));
    assert_eq!(results[1].as_ref().unwrap().key, Ok(B.into()));
    let err = results[2].as_ref().unwrap_err().to_string();
    assert_eq!(err, "in:3: JSON array ends early (truncated file?)");

    let data = format!("[\"{A}\",\n{{\"iccid\": \"{B}\" \"x\"}}]");
    let results = read_all(data.as_bytes(), &input_opts(true));
    assert_eq!(results.len(), 2);
    let err = results[1].as_ref().unwrap_err().to_string();
    assert!(err.starts_with("in:2: invalid JSON"), "{err}");
}

#[test]
fn json_file_by_extension_and_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "cards.json", format!("[\"{A}\"]").as_bytes());
    let recs: Vec<Record> = Inputs::open(std::slice::from_ref(&path), &input_opts(true))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(recs[0].location, format!("{path}:1"));

    let missing = dir.path().join("nope.csv").to_str().unwrap().to_string();
    let err = Inputs::open(&[path, missing.clone()], &input_opts(true))
        .err()
        .unwrap();
    assert!(
        err.to_string().starts_with(&format!("{missing}: ")),
        "{err}"
    );
}

#[test]
fn jsonl_skips_blank_lines_and_survives_a_broken_one() {
    let data = format!("{{\"iccid\": \"{A}\"}}\n\n  \n{{\"iccid\": \"{B}\"\n\"{C}\"\n");
    let recs = read_records(data.as_bytes(), &input_opts(true));
    assert_eq!(recs.len(), 3);
    assert_eq!(locations(&recs), vec!["in:1", "in:4", "in:5"]);
    let reason = recs[1].key.as_ref().unwrap_err();
    assert!(
        reason.starts_with("not valid JSON") && reason.ends_with("(in:4)"),
        "{reason}"
    );
    assert_eq!(recs[2].key, Ok(C.into()));
    assert_eq!(recs[2].row, 3);
}

#[test]
fn sniffing_picks_the_format() {
    assert_eq!(
        read_records(format!("  \n[\"{A}\"]").as_bytes(), &input_opts(true))[0].location,
        "in:2"
    );
    assert_eq!(
        read_records(format!("\"{A}\"\n").as_bytes(), &input_opts(true))[0].key,
        Ok(A.into())
    );
    assert_eq!(
        read_records(format!("{{\"cid\":\"{A}\"}}").as_bytes(), &input_opts(true))[0].key,
        Ok(A.into())
    );
    assert_eq!(
        read_records(format!("cid\n{A}").as_bytes(), &input_opts(true))[0].key,
        Ok(A.into())
    );
    assert!(read_records(b"", &input_opts(true)).is_empty());
    assert_eq!(format_for(Path::new("x.TSV")), Some(Format::Csv));
    assert_eq!(format_for(Path::new("x.ndjson")), Some(Format::Jsonl));
    assert_eq!(format_for(Path::new("x.json")), Some(Format::Json));
    assert_eq!(format_for(Path::new("x.dat")), None);
}

#[test]
fn send_sms_default_column_is_cid() {
    let sms = InputOptions {
        column: None,
        default_column: "cid",
        sim_card_ids: false,
    };
    let data = format!("iccid,cid\n{A},{B}\n");
    let recs = read_records(data.as_bytes(), &sms);
    assert_eq!(recs[0].key, Ok(B.into()));
    assert_eq!(recs[0].extras, vec![A]);
}

#[test]
fn iccid_rules() {
    assert_eq!(
        validate_iccid("898600123456789012"),
        Err("ICCID has 18 characters, expected 19-20".into())
    );
    assert_eq!(validate_iccid(B), Ok(B.into()));
    assert_eq!(validate_iccid(A), Ok(A.into()));
    assert!(validate_iccid("898600123456789012345")
        .unwrap_err()
        .contains("21 characters"));
    assert_eq!(validate_iccid(C), Ok(C.into()));
    assert_eq!(validate_iccid("898600123456789012f"), Ok(C.into()));
    assert_eq!(validate_iccid("  8986001234567890123\t"), Ok(B.into()));
    assert!(validate_iccid("89860012345678A0123")
        .unwrap_err()
        .contains("position 15"));
    assert!(validate_iccid("898600123456789012G")
        .unwrap_err()
        .contains("ends with 'G'"));
    assert_eq!(validate_iccid("  "), Err("ICCID is empty".into()));
}

#[test]
fn dedupe_is_case_and_space_insensitive() {
    let mut d = Dedupe::new();
    assert_eq!(d.check(C, 1), None);
    assert_eq!(d.check(" 898600123456789012f ", 2), Some(1));
    assert_eq!(d.check(B, 3), None);
    assert_eq!(
        d.check(&format!("0{B}"), 4),
        None,
        "a leading zero is a different card"
    );
    assert_eq!(d.check("not-hex-at-all", 5), None);
    assert_eq!(d.check("NOT-HEX-AT-ALL", 6), Some(5));
    assert_eq!(d.check(B, 7), Some(3));
    assert_eq!(d.len(), 4);
}

#[test]
fn excel_text_markers_are_stripped_and_its_rounded_numbers_explained() {
    let data = format!("iccid\n'{A}\n=\"{C}\"\n8.98603E+19\n");
    let recs = read_records(data.as_bytes(), &input_opts(true));
    assert_eq!(recs[0].key, Ok(A.into()));
    assert_eq!(recs[1].key, Ok(C.into()));
    let why = recs[2].key.as_ref().unwrap_err();
    assert!(why.contains("Excel") && why.contains("Text"), "{why}");
}
