//! The text encoding of a CSV report, for the program that opens it. Excel on Chinese Windows
//! reads a CSV without a byte-order mark as GBK, so a UTF-8 report's Chinese columns turn into
//! mojibake when the operator double-clicks it. An operator whose input came from Excel (a
//! spreadsheet, a GB18030 or UTF-16 export, a UTF-8 file with a BOM) therefore gets a BOM;
//! `--report-encoding` chooses explicitly.

pub use crate::model::ReportEncoding;
use std::io::{self, Read, Write};

/// The encoding for a run's CSV report when none was asked for: a BOM when any input looks
/// like it came from Excel (see the module doc), plain UTF-8 otherwise.
pub fn for_inputs(inputs: &[String]) -> ReportEncoding {
    if inputs.iter().any(|p| from_excel(p)) {
        ReportEncoding::Utf8Bom
    } else {
        ReportEncoding::Utf8
    }
}

/// Whether the file at `path` is a spreadsheet or text that is not BOM-less UTF-8.
fn from_excel(path: &str) -> bool {
    if path == "-" {
        return false;
    }
    if crate::input::is_spreadsheet(std::path::Path::new(path)) {
        return true;
    }
    let mut head = Vec::with_capacity(64 * 1024);
    let Ok(f) = std::fs::File::open(path) else {
        return false;
    };
    if f.take(64 * 1024).read_to_end(&mut head).is_err() {
        return false;
    }
    if head.starts_with(&[0xEF, 0xBB, 0xBF])
        || head.starts_with(&[0xFF, 0xFE])
        || head.starts_with(&[0xFE, 0xFF])
    {
        return true;
    }
    match std::str::from_utf8(&head) {
        Ok(_) => false,
        // A character cut at the end of the sample is still UTF-8.
        Err(e) => e.error_len().is_some(),
    }
}

/// Writes UTF-8 text to `W` as GB18030, carrying a character split between two writes over.
pub struct Gb18030Writer<W: Write> {
    out: W,
    carry: Vec<u8>,
}

impl<W: Write> Gb18030Writer<W> {
    pub fn new(out: W) -> Self {
        Gb18030Writer {
            out,
            carry: Vec::new(),
        }
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> Write for Gb18030Writer<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.carry.extend_from_slice(buf);
        let valid = match std::str::from_utf8(&self.carry) {
            Ok(s) => s.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "report text is not UTF-8",
                ))
            }
        };
        let text = std::str::from_utf8(&self.carry[..valid]).expect("checked above");
        let (bytes, _, _) = encoding_rs::GB18030.encode(text);
        self.out.write_all(&bytes)?;
        self.carry.drain(..valid);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gb18030_survives_a_character_split_between_writes() {
        let text = "站点,iccid\n北京,8986\n".as_bytes();
        let mut w = Gb18030Writer::new(Vec::new());
        for chunk in text.chunks(1) {
            w.write_all(chunk).unwrap();
        }
        let out = w.into_inner();
        let (back, _, bad) = encoding_rs::GB18030.decode(&out);
        assert!(!bad);
        assert_eq!(back, "站点,iccid\n北京,8986\n");
    }

    #[test]
    fn names_parse_as_the_flag_spells_them() {
        assert_eq!(
            ReportEncoding::parse("UTF-8-BOM"),
            Ok(ReportEncoding::Utf8Bom)
        );
        assert_eq!(
            ReportEncoding::parse("gb18030"),
            Ok(ReportEncoding::Gb18030)
        );
        assert!(ReportEncoding::parse("latin1").is_err());
    }
}
