//! A `.xlsx`/`.xlsb` worksheet converted to CSV as `calamine`'s cell reader yields it, into an
//! unlinked temporary file: neither the sheet as a range (32 bytes a cell) nor its CSV text is
//! held in memory, so a million-row sheet reads in a fraction of the memory. The CSV is the
//! same as the range's would be: columns from the sheet's first used one, each sheet row on the
//! CSV line of its number. Cells out of row order (which Excel does not write) are left to the
//! range.

use super::limits::Extent;
use super::InputError;
use calamine::{Data, Sheets};
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, Write};

/// The CSV of `sheet`, or `None` when it is to be read as a range (cells out of order, no
/// temporary file to be had, a format without a cell reader).
pub(crate) fn stream(
    book: &mut Sheets<BufReader<File>>,
    sheet: &str,
    extent: &Extent,
    path: &str,
) -> Result<Option<Box<dyn Read + Send>>, InputError> {
    if extent.unordered {
        return Ok(None);
    }
    let Ok(file) = scratch() else {
        return Ok(None);
    };
    let mut out = Rows::new(file, extent.min.1);
    let bad = |e: String| InputError::unreadable(path, None, format!("cannot read worksheet: {e}"));
    // The two formats' cell readers are of different types with the same methods.
    macro_rules! each_cell {
        ($book:expr) => {{
            let mut cells = $book
                .worksheet_cells_reader(sheet)
                .map_err(|e| bad(e.to_string()))?;
            while let Some(cell) = cells.next_cell().map_err(|e| bad(e.to_string()))? {
                let (r, c) = cell.get_position();
                out.cell(r, c, &Data::from(cell.get_value().clone()))
                    .map_err(|e| InputError::io(path, None, e))?;
            }
        }};
    }
    match book {
        Sheets::Xlsx(x) => each_cell!(x),
        Sheets::Xlsb(x) => each_cell!(x),
        _ => return Ok(None),
    }
    let mut file = out.finish().map_err(|e| InputError::io(path, None, e))?;
    file.rewind().map_err(|e| InputError::io(path, None, e))?;
    Ok(Some(Box::new(BufReader::new(file))))
}

/// A file in the temporary directory that no name reaches (made 0600, then unlinked).
fn scratch() -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let path = std::env::temp_dir().join(format!(
        ".gslbatch-sheet-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(file)
}

/// Cells in row-major order written as CSV records, one line per sheet row.
struct Rows<W: Write> {
    w: csv::Writer<W>,
    /// The first column written (the sheet's first used one).
    first_col: u32,
    /// Sheet lines written so far (row `n` is line `n + 1`).
    lines: u32,
    row: Option<u32>,
    fields: Vec<String>,
}

impl<W: Write> Rows<W> {
    fn new(w: W, first_col: u32) -> Self {
        Rows {
            w: csv::WriterBuilder::new()
                .flexible(true)
                .quote_style(csv::QuoteStyle::Always)
                .from_writer(w),
            first_col,
            lines: 0,
            row: None,
            fields: Vec::new(),
        }
    }

    fn cell(&mut self, r: u32, c: u32, value: &Data) -> io::Result<()> {
        if self.row != Some(r) {
            self.flush_row()?;
            // Blank lines for the rows without cells: the CSV reader skips them and the rows
            // that follow keep their numbers.
            while self.lines < r {
                self.w.write_record([""])?;
                self.lines += 1;
            }
            self.row = Some(r);
        }
        let at = (c - self.first_col) as usize;
        if self.fields.len() <= at {
            self.fields.resize(at + 1, String::new());
        }
        self.fields[at] = super::sheet::text(value);
        Ok(())
    }

    fn flush_row(&mut self) -> io::Result<()> {
        if self.row.take().is_some() {
            self.w.write_record(&self.fields)?;
            self.fields.clear();
            self.lines += 1;
        }
        Ok(())
    }

    fn finish(mut self) -> io::Result<W> {
        self.flush_row()?;
        self.w.flush()?;
        self.w.into_inner().map_err(|e| e.into_error())
    }
}
