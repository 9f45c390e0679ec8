//! Spreadsheets (`.xlsx`, `.xlsm`, `.xlsb`, `.xls`, `.ods`) read with `calamine`: the first
//! worksheet becomes CSV text that the CSV reader takes as it takes any file, header rule and
//! all, with each sheet row on the CSV line of the same number (so messages say `file:row`).
//!
//! Cells stored as text arrive as written. A number is written as Excel's General format shows
//! it: whole numbers up to 15 digits in full (a `sim_card_id`, an IMEI), anything longer in
//! scientific notation (`8.98603E+19`), which the ICCID rules report as a number Excel rounded:
//! Excel keeps 15 significant digits, so a 19–20 digit ICCID stored as a number has lost its end.

use super::InputError;
use calamine::{open_workbook_auto, Data, Reader};

/// The extensions read as spreadsheets.
pub fn is_spreadsheet(path: &std::path::Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        matches!(
            e.to_ascii_lowercase().as_str(),
            "xlsx" | "xlsm" | "xlsb" | "xls" | "ods"
        )
    })
}

/// The worksheet `chosen` (`--sheet`), else the first, of `path` as CSV bytes (every field
/// quoted).
pub fn sheet_as_csv(
    path: &str,
    chosen: Option<&String>,
) -> Result<Box<dyn std::io::Read + Send>, InputError> {
    let unreadable = |why: String| InputError::unreadable(path, None, why);
    super::limits::check_spreadsheet_zip(path)?;
    let mut book = open_workbook_auto(path)
        .map_err(|e| unreadable(format!("cannot read it as a spreadsheet: {e}")))?;
    let names = book.sheet_names();
    let Some(first) = (match chosen {
        Some(want) => names.iter().find(|n| *n == want).cloned(),
        None => names.first().cloned(),
    }) else {
        return Err(unreadable(match chosen {
            Some(want) => {
                format!("has no worksheet {want:?} (its sheets: {names:?}); check --sheet")
            }
            None => "the workbook has no worksheet".to_string(),
        }));
    };
    if names.len() > 1 && chosen.is_none() {
        tracing::info!(input = path, sheet = %first, "reading the first of {} worksheets", names.len());
    }
    if let Some(extent) = super::limits::check_sheet_extent(&mut book, &first, path)? {
        if let Some(csv) = super::sheet_stream::stream(&mut book, &first, &extent, path)? {
            return Ok(csv);
        }
    }
    let range = book
        .worksheet_range(&first)
        .map_err(|e| unreadable(format!("cannot read worksheet {first:?}: {e}")))?;
    let mut w = csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Always)
        .from_writer(Vec::new());
    let Some((first_row, _)) = range.start() else {
        return Ok(Box::new(std::io::empty()));
    };
    // Blank lines for the sheet's empty top rows: the CSV reader skips them, and the lines of
    // the rows that follow keep the sheet's row numbers.
    let mut out = vec![b'\n'; first_row as usize];
    for row in range.rows() {
        w.write_record(row.iter().map(text))
            .map_err(|e| unreadable(format!("cannot convert worksheet {first:?}: {e}")))?;
    }
    let body = w
        .into_inner()
        .map_err(|e| unreadable(format!("cannot convert worksheet {first:?}: {e}")))?;
    out.extend_from_slice(&body);
    Ok(Box::new(std::io::Cursor::new(out)))
}

/// A cell as Excel's General format shows it.
pub(super) fn text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => general(*f),
        Data::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        other => other.to_string(),
    }
}

/// Excel's General number format: whole numbers of up to 15 digits in full, others with up to
/// 6 significant digits in scientific notation once they pass 11 digits.
fn general(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        return format!("{f:.0}");
    }
    if f.abs() < 1e11 {
        return f.to_string();
    }
    let s = format!("{f:.5E}");
    let (mantissa, exp) = s.split_once('E').unwrap_or((&s, "0"));
    let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
    let exp = exp
        .strip_prefix('-')
        .map_or_else(|| format!("+{exp}"), |e| format!("-{e}"));
    format!("{mantissa}E{exp}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_excel_shows_them() {
        assert_eq!(general(100008.0), "100008");
        assert_eq!(general(356938035643809.0), "356938035643809");
        assert_eq!(general(89860312345678901234.0), "8.98603E+19");
        assert_eq!(general(8.986e19), "8.986E+19");
        assert_eq!(general(1.5), "1.5");
        assert!(crate::cell::excel_rounded(&general(89860312345678901234.0)));
    }
}
