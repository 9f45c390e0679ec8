//! Hand-made nasty input files, each through the real binary's `--dry-run` (read, validate and
//! count everything, send nothing) with an asserted outcome.

use crate::common::{bare, tempdir};
use std::io::Write;
use std::path::Path;

const GOOD: &str = "89860312345678901234";

/// `(exit code, stdout, stderr)` of a dry run of a rehearsal over `file`.
fn dry_run(file: &Path) -> (i32, String, String) {
    let out = bare()
        .args(["check-real-name", "--rehearse", "--dry-run", "-q"])
        .arg(file)
        .output()
        .expect("gslbatch runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The plan's `rows: N (valid V, invalid I, duplicate D)` numbers.
fn counts(plan: &str) -> (u64, u64, u64, u64) {
    let line = plan
        .lines()
        .find(|l| l.trim_start().starts_with("rows:"))
        .expect("rows line");
    let nums: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    (nums[0], nums[1], nums[2], nums[3])
}

#[test]
fn nul_bytes_make_rows_invalid_not_the_file() {
    let dir = tempdir();
    let f = dir.path().join("nul.csv");
    std::fs::write(
        &f,
        format!("iccid\n{GOOD}\n8986\u{0}0312345678901234\n89860312345678901235\n"),
    )
    .unwrap();
    let (code, out, err) = dry_run(&f);
    assert_eq!(code, 0, "{err}");
    assert_eq!(counts(&out), (3, 2, 1, 0));
}

#[test]
fn a_ten_megabyte_line_is_one_invalid_row() {
    let dir = tempdir();
    let f = dir.path().join("long.csv");
    let mut file = std::fs::File::create(&f).unwrap();
    writeln!(file, "iccid,note\n{GOOD},x").unwrap();
    writeln!(file, "{},y", "9".repeat(10 * 1024 * 1024)).unwrap();
    writeln!(file, "89860312345678901235,z").unwrap();
    drop(file);
    let (code, out, err) = dry_run(&f);
    assert_eq!(code, 0, "{err}");
    assert_eq!(counts(&out), (3, 2, 1, 0));
}

#[test]
fn mixed_delimiters_follow_the_first_line() {
    let dir = tempdir();
    let f = dir.path().join("mixed.csv");
    // Semicolons on the header; a comma line later is one cell that is not an ICCID.
    std::fs::write(
        &f,
        format!("iccid;site\n{GOOD};a\n89860312345678901235,b\n89860312345678901236;c\n"),
    )
    .unwrap();
    let (code, out, err) = dry_run(&f);
    assert_eq!(code, 0, "{err}");
    assert_eq!(counts(&out), (3, 2, 1, 0));
}

#[test]
fn utf16_is_refused_as_a_whole_file_naming_it() {
    let dir = tempdir();
    let f = dir.path().join("utf16.csv");
    let mut bytes = vec![0xFF, 0xFE];
    for u in format!("iccid\n{GOOD}\n").encode_utf16() {
        bytes.extend(u.to_le_bytes());
    }
    std::fs::write(&f, bytes).unwrap();
    let (code, out, err) = dry_run(&f);
    assert_eq!(code, 2, "{out}");
    assert!(err.contains("utf16.csv") && err.contains("UTF-16"), "{err}");
}

#[test]
fn a_json_array_that_ends_early_is_exit_2_naming_the_line() {
    let dir = tempdir();
    let f = dir.path().join("cut.json");
    std::fs::write(
        &f,
        format!("[\n\"{GOOD}\",\n\"89860312345678901235\",\n\"8986031"),
    )
    .unwrap();
    let (code, out, err) = dry_run(&f);
    assert_eq!(code, 2, "{out}");
    assert!(err.contains("cut.json:"), "{err}");
}

#[test]
fn a_million_copies_of_one_card_are_one_valid_row_and_duplicates() {
    let dir = tempdir();
    let f = dir.path().join("dups.csv");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&f).unwrap());
    for _ in 0..1_000_000 {
        writeln!(file, "{GOOD}").unwrap();
    }
    drop(file);
    let (code, out, err) = dry_run(&f);
    assert_eq!(code, 0, "{err}");
    assert_eq!(counts(&out), (1_000_000, 1, 0, 999_999));
}
