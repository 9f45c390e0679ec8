//! Hand-made nasty input files, each through the real binary's `--dry-run` (read, validate and
//! count everything, send nothing) with an asserted outcome. The small ones live in
//! `tests/data/nasty/`; the 10 MB line and the million duplicates are written by their tests.

use crate::common::{bare, tempdir};
use std::io::Write;
use std::path::Path;

const GOOD: &str = "89860312345678901234";

/// A file under `tests/data/nasty/`.
fn nasty(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/nasty")
        .join(name)
}

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
    // A NUL inside the second card's ICCID.
    let f = nasty("nul.csv");
    let (code, out, err) = dry_run(&f);
    assert_eq!(code, 0, "{err}");
    assert_eq!(counts(&out), (3, 2, 1, 0));
}

#[test]
fn a_ten_megabyte_line_is_refused_naming_its_line() {
    let dir = tempdir();
    let f = dir.path().join("long.csv");
    let mut file = std::fs::File::create(&f).unwrap();
    writeln!(file, "iccid,note\n{GOOD},x").unwrap();
    writeln!(file, "{},y", "9".repeat(10 * 1024 * 1024)).unwrap();
    writeln!(file, "89860312345678901235,z").unwrap();
    drop(file);
    // Past the readers' record limit: exit 2 naming the file and line (SPEC: hostile input).
    let (code, _, err) = dry_run(&f);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("long.csv:3: the record") && err.contains("1 MiB"),
        "{err}"
    );
}

#[test]
fn mixed_delimiters_follow_the_first_line() {
    // Semicolons on the header; a comma line later is one cell that is not an ICCID.
    let f = nasty("mixed.csv");
    let (code, out, err) = dry_run(&f);
    assert_eq!(code, 0, "{err}");
    assert_eq!(counts(&out), (3, 2, 1, 0));
}

#[test]
fn utf16_with_its_byte_order_mark_is_read() {
    // UTF-16 LE with its byte-order mark (Excel's "Unicode text"): decoded, not refused.
    let f = nasty("utf16.csv");
    let (code, out, err) = dry_run(&f);
    assert_eq!(code, 0, "{err}");
    let (rows, valid, _, _) = counts(&out);
    assert!(rows > 0 && valid > 0, "{out}");
}

#[test]
fn a_json_array_that_ends_early_is_exit_2_naming_the_line() {
    // Two cards, then a third cut off mid-string with no closing bracket.
    let f = nasty("cut.json");
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
