//! Input files and the options the input readers take.

use gslbatch::input::{InputOptions, Inputs, Record};
use std::io::Cursor;
use std::path::{Path, PathBuf};

/// A temporary directory for one test.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// Write a CSV with an `iccid` header and one row per value.
pub fn write_csv(dir: &Path, name: &str, iccids: &[String]) -> PathBuf {
    let mut text = String::with_capacity(iccids.len() * 22 + 8);
    text.push_str("iccid\n");
    for i in iccids {
        text.push_str(i);
        text.push('\n');
    }
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write input");
    path
}

/// A CSV of `(header, values)` columns.
pub fn write_columns(dir: &Path, name: &str, cols: &[(&str, Vec<String>)]) -> PathBuf {
    let mut text = cols.iter().map(|c| c.0).collect::<Vec<_>>().join(",") + "\n";
    for i in 0..cols[0].1.len() {
        text += &(cols
            .iter()
            .map(|c| c.1[i].clone())
            .collect::<Vec<_>>()
            .join(",")
            + "\n");
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Options of a card-list input: column `iccid` by default, sim card ids read as such when
/// `sim_card_ids` (else the default column is `cid`, as for SMS).
pub fn input_opts(sim_card_ids: bool) -> InputOptions {
    InputOptions {
        column: None,
        default_column: if sim_card_ids { "iccid" } else { "cid" },
        sim_card_ids,
    }
}

/// A CSV text of `ids` with a Chinese column: `iccid,站点`, then `ID,武汉仓库N` (N from 0).
pub fn with_site_column(ids: &[String]) -> String {
    std::iter::once("iccid,站点\n".to_string())
        .chain(
            ids.iter()
                .enumerate()
                .map(|(n, i)| format!("{i},武汉仓库{n}\n")),
        )
        .collect()
}

/// Reads `data` as stdin would be read (format sniffed); panics on a fatal error.
pub fn read_records(data: &[u8], opts: &InputOptions) -> Vec<Record> {
    Inputs::from_reader("in", Cursor::new(data.to_vec()), opts)
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Each record's card key, or why it has none.
pub fn keys_of(records: &[Record]) -> Vec<Result<String, String>> {
    records.iter().map(|r| r.key.clone()).collect()
}
