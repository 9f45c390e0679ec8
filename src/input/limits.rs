//! The readers' limits. Input files come from customers and other systems, so every reader is
//! bounded: a record, a cell, the number of columns, and for spreadsheets the uncompressed size
//! of each part, the length of any XML tag or text run, the nesting depth and the number of
//! cells a sheet spans. Past a limit the file is refused (exit 2, naming it, nothing sent)
//! instead of the process growing until the allocator aborts it. The figures keep the peak
//! memory of any one input under ~150 MB while leaving room for every real card list (a list
//! past them is still read whole when saved as CSV, which is streamed).
//!
//! Spreadsheets are checked before `calamine` reads them, because `calamine` allocates what a
//! sheet spans (one cell at `XFD1048576` is 2^34 cells) and holds every shared string: the zip
//! is walked once, each part decompressed into a counter, the XML parts scanned byte by byte
//! for runaway tags, text and nesting, and an OpenDocument's `content.xml` for the cells its
//! repeat counts expand to. A `.xlsx`/`.xlsb` sheet's real extent is taken from `calamine`'s own
//! streaming cell reader before the sheet is read as a range.

use super::InputError;
use std::io::{self, Read};

/// One CSV record or JSON Lines line, or one JSON array element.
pub(crate) const MAX_RECORD: u64 = 1024 * 1024;
/// One cell (a CSV field) or one JSON field's value.
pub(crate) const MAX_CELL: usize = 64 * 1024;
/// Columns of one input (CSV header or fields met across JSON objects).
pub(crate) const MAX_COLUMNS: usize = 1000;

/// Entries of a spreadsheet's zip.
const MAX_ZIP_ENTRIES: usize = 10_000;
/// One part of a spreadsheet, uncompressed.
const MAX_PART: u64 = 256 * 1024 * 1024;
/// All parts of a spreadsheet together, uncompressed.
const MAX_PARTS: u64 = 512 * 1024 * 1024;
/// The shared strings part, which `calamine` holds in memory whole.
const MAX_SHARED_STRINGS: u64 = 48 * 1024 * 1024;
/// One XML tag or text run (one event of the XML reader, held whole).
const MAX_XML_RUN: u64 = 1024 * 1024;
/// Open XML elements at once.
const MAX_XML_DEPTH: u64 = 256;
/// Cells a sheet may span (rows × columns of the rectangle its cells fill): 32 bytes each
/// once read, so 64 MB.
pub(crate) const MAX_SHEET_CELLS: u64 = 2_000_000;

/// What a reader says when a record, cell or column count is past its limit.
pub(crate) fn too_long(what: &str, limit: u64) -> String {
    format!(
        "{what} is longer than {} (a card list's rows are short: is this the right file?); nothing was sent",
        size(limit)
    )
}

pub(crate) fn size(n: u64) -> String {
    if n >= 1024 * 1024 && n.is_multiple_of(1024 * 1024) {
        format!("{} MiB", n / (1024 * 1024))
    } else if n >= 1024 && n.is_multiple_of(1024) {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n} bytes")
    }
}

fn refuse(path: &str, why: String) -> InputError {
    InputError::unreadable(
        path,
        None,
        format!("{why}: refused as a spreadsheet bomb or a damaged file (save the card list as CSV if it is real); nothing was sent"),
    )
}

/// Walks the zip of a `.xlsx`/`.xlsm`/`.xlsb`/`.ods` before `calamine` opens it. A file that
/// is not a zip is left to `calamine` (which says so); the `.xls` format is not a zip.
pub(crate) fn check_spreadsheet_zip(path: &str) -> Result<(), InputError> {
    let ext = std::path::Path::new(path)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    if !matches!(ext.as_str(), "xlsx" | "xlsm" | "xlsb" | "ods") {
        return Ok(());
    }
    let file = std::fs::File::open(path).map_err(|e| InputError::io(path, None, e))?;
    let Ok(mut zip) = zip::ZipArchive::new(io::BufReader::new(file)) else {
        return Ok(());
    };
    if zip.len() > MAX_ZIP_ENTRIES {
        return Err(refuse(
            path,
            format!("{} parts in the zip (limit {MAX_ZIP_ENTRIES})", zip.len()),
        ));
    }
    let mut total = 0u64;
    for i in 0..zip.len() {
        let Ok(mut entry) = zip.by_index(i) else {
            // A damaged entry: calamine reports it if it needs it.
            continue;
        };
        let name = entry.name().map(|n| n.to_string()).unwrap_or_default();
        let lower = name.to_ascii_lowercase();
        let shown = crate::cell::escape_controls(&name);
        let part_limit =
            if lower.ends_with("sharedstrings.xml") || lower.ends_with("sharedstrings.bin") {
                MAX_SHARED_STRINGS
            } else {
                MAX_PART
            };
        if entry.size() > part_limit {
            return Err(refuse(
                path,
                format!(
                    "part {shown} declares {} bytes uncompressed (limit {})",
                    entry.size(),
                    size(part_limit)
                ),
            ));
        }
        let xml = lower.ends_with(".xml") || lower.ends_with(".rels") || lower.ends_with(".vml");
        let mut scan = XmlScan::new(lower == "content.xml" && ext == "ods");
        let mut buf = vec![0u8; 64 * 1024];
        let mut read = 0u64;
        loop {
            let n = match entry.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // A broken part: calamine says what is wrong with it, if it reads it.
                Err(_) => break,
            };
            read += n as u64;
            if read > part_limit {
                return Err(refuse(
                    path,
                    format!(
                        "part {shown} is larger than {} uncompressed",
                        size(part_limit)
                    ),
                ));
            }
            if xml {
                scan.feed(&buf[..n])
                    .map_err(|why| refuse(path, format!("part {shown}: {why}")))?;
            }
        }
        total += read;
        if total > MAX_PARTS {
            return Err(refuse(
                path,
                format!("its parts are larger than {} uncompressed", size(MAX_PARTS)),
            ));
        }
    }
    Ok(())
}

/// A byte-level pass over XML that bounds what an XML reader would hold at once, and for an
/// OpenDocument `content.xml` counts the cells its repeat attributes expand to.
struct XmlScan {
    in_tag: bool,
    quote: Option<u8>,
    run: u64,
    depth: u64,
    /// The current tag's first bytes (enough for the names and attributes looked at).
    tag: Vec<u8>,
    ods: Option<OdsCount>,
}

#[derive(Default)]
struct OdsCount {
    /// Rows of the current table so far (repeats expanded).
    rows: u64,
    /// Rows up to the last one holding a value, and the widest such row.
    used_rows: u64,
    width: u64,
    /// The current row: its repeat count, column reached, last column holding a value.
    row_repeat: u64,
    col: u64,
    row_width: u64,
    /// Cells of the tables finished so far.
    cells: u64,
}

impl XmlScan {
    fn new(ods_content: bool) -> Self {
        XmlScan {
            in_tag: false,
            quote: None,
            run: 0,
            depth: 0,
            tag: Vec::new(),
            ods: ods_content.then(OdsCount::default),
        }
    }

    fn feed(&mut self, bytes: &[u8]) -> Result<(), String> {
        for &b in bytes {
            self.run += 1;
            if self.run > MAX_XML_RUN {
                return Err(format!("a tag or text longer than {}", size(MAX_XML_RUN)));
            }
            if !self.in_tag {
                if b == b'<' {
                    self.in_tag = true;
                    self.run = 1;
                    self.tag.clear();
                    self.tag.push(b);
                }
                continue;
            }
            if self.tag.len() < 4096 {
                self.tag.push(b);
            }
            match (self.quote, b) {
                (Some(q), _) if q == b => self.quote = None,
                (Some(_), _) => {}
                (None, b'"' | b'\'') if !self.tag.starts_with(b"<!") => self.quote = Some(b),
                (None, b'>') => {
                    self.in_tag = false;
                    self.run = 0;
                    self.end_tag()?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn end_tag(&mut self) -> Result<(), String> {
        let tag = std::mem::take(&mut self.tag);
        let closing = tag.starts_with(b"</");
        let special = tag.starts_with(b"<?") || tag.starts_with(b"<!");
        let self_closing = tag.ends_with(b"/>");
        if closing {
            self.depth = self.depth.saturating_sub(1);
        } else if !special && !self_closing {
            self.depth += 1;
            if self.depth > MAX_XML_DEPTH {
                return Err(format!("XML nested deeper than {MAX_XML_DEPTH} elements"));
            }
        }
        if let Some(ods) = &mut self.ods {
            if !special {
                ods.tag(&tag, closing, self_closing)?;
            }
        }
        self.tag = tag;
        Ok(())
    }
}

impl OdsCount {
    fn tag(&mut self, tag: &[u8], closing: bool, self_closing: bool) -> Result<(), String> {
        let name_end = tag
            .iter()
            .position(|b| b.is_ascii_whitespace() || *b == b'>' || *b == b'/')
            .map_or(tag.len(), |p| p.max(1));
        let name = if closing {
            &tag[2..tag.len().saturating_sub(1).max(2)]
        } else {
            &tag[1..name_end.max(1)]
        };
        let name = name.trim_ascii();
        match (name, closing) {
            (b"table:table", false) => {
                self.rows = 0;
                self.used_rows = 0;
                self.width = 0;
            }
            (b"table:table", true) => {
                self.cells = self
                    .cells
                    .saturating_add(self.used_rows.saturating_mul(self.width));
                self.used_rows = 0;
                self.width = 0;
            }
            (b"table:table-row", false) => {
                self.row_repeat = attr_u64(tag, b"table:number-rows-repeated").unwrap_or(1);
                self.col = 0;
                self.row_width = 0;
                if self_closing {
                    self.end_row();
                }
            }
            (b"table:table-row", true) => self.end_row(),
            (b"table:table-cell" | b"table:covered-table-cell", false) => {
                let repeat = attr_u64(tag, b"table:number-columns-repeated").unwrap_or(1);
                self.col = self.col.saturating_add(repeat);
                let valued = !self_closing || find(tag, b"office:value-type").is_some();
                if valued {
                    self.row_width = self.col;
                }
            }
            _ => {}
        }
        let spanned = self
            .cells
            .saturating_add(self.used_rows.saturating_mul(self.width));
        if spanned > MAX_SHEET_CELLS {
            return Err(format!(
                "its tables span more than {MAX_SHEET_CELLS} cells once repeated cells are counted"
            ));
        }
        Ok(())
    }

    fn end_row(&mut self) {
        self.rows = self.rows.saturating_add(self.row_repeat);
        if self.row_width > 0 {
            self.used_rows = self.rows;
            self.width = self.width.max(self.row_width);
        }
        self.row_repeat = 1;
        self.row_width = 0;
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The number in `name="N"` within a tag; a value that is not a number counts as huge.
fn attr_u64(tag: &[u8], name: &[u8]) -> Option<u64> {
    let at = find(tag, name)? + name.len();
    let rest = tag[at..]
        .trim_ascii_start()
        .strip_prefix(b"=")?
        .trim_ascii_start();
    let quote = *rest.first()?;
    let body = &rest[1..];
    let end = body.iter().position(|&b| b == quote).unwrap_or(body.len());
    Some(
        std::str::from_utf8(&body[..end])
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(u64::MAX),
    )
}

/// The rectangle a worksheet's cells span, from `calamine`'s streaming cell reader (no range is
/// built), checked before the sheet is read whole. `.xls` and `.ods` sheets are read when the
/// workbook is opened, so they are not looked at here (`.ods` was bounded by the zip walk).
pub(crate) fn check_sheet_extent(
    book: &mut calamine::Sheets<io::BufReader<std::fs::File>>,
    sheet: &str,
    path: &str,
) -> Result<Option<Extent>, InputError> {
    let mut extent = Extent::default();
    let over = |e: &Extent| {
        refuse(
            path,
            format!(
                "worksheet {:?} spans {} rows × {} columns ({} cells met so far), more than {MAX_SHEET_CELLS} cells",
                crate::cell::escape_controls(sheet),
                e.rows(),
                e.cols(),
                e.count
            ),
        )
    };
    match book {
        calamine::Sheets::Xlsx(x) => {
            let Ok(mut cells) = x.worksheet_cells_reader(sheet) else {
                return Ok(None);
            };
            while let Ok(Some(cell)) = cells.next_cell() {
                if extent.add(cell.get_position()) {
                    return Err(over(&extent));
                }
            }
        }
        calamine::Sheets::Xlsb(x) => {
            let Ok(mut cells) = x.worksheet_cells_reader(sheet) else {
                return Ok(None);
            };
            while let Ok(Some(cell)) = cells.next_cell() {
                if extent.add(cell.get_position()) {
                    return Err(over(&extent));
                }
            }
        }
        _ => return Ok(None),
    }
    Ok(Some(extent))
}

/// The rectangle a sheet's cells span, and whether they came in row-major order (each cell
/// after the one before), which lets the sheet be converted as it is read.
#[derive(Default)]
pub(crate) struct Extent {
    /// Cells met (the reader may name one place many times).
    count: u64,
    seen: bool,
    pub(crate) min: (u32, u32),
    max: (u32, u32),
    last: (u32, u32),
    pub(crate) unordered: bool,
}

impl Extent {
    /// Adds a cell; true once the rectangle is past the limit.
    fn add(&mut self, (r, c): (u32, u32)) -> bool {
        self.count += 1;
        if self.seen && (r, c) <= self.last {
            self.unordered = true;
        }
        self.last = (r, c);
        if self.seen {
            self.min = (self.min.0.min(r), self.min.1.min(c));
            self.max = (self.max.0.max(r), self.max.1.max(c));
        } else {
            self.seen = true;
            self.min = (r, c);
            self.max = (r, c);
        }
        self.count > MAX_SHEET_CELLS || self.rows().saturating_mul(self.cols()) > MAX_SHEET_CELLS
    }
    fn rows(&self) -> u64 {
        u64::from(self.max.0 - self.min.0) + 1
    }
    fn cols(&self) -> u64 {
        u64::from(self.max.1 - self.min.1) + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ods_repeats_are_counted() {
        let mut scan = XmlScan::new(true);
        let doc = br#"<?xml version="1.0"?><office:document-content><table:table table:name="a"><table:table-row table:number-rows-repeated="3000000"><table:table-cell office:value-type="string"><text:p>x</text:p></table:table-cell></table:table-row></table:table></office:document-content>"#;
        assert!(scan.feed(doc).unwrap_err().contains("span more than"));
        let mut scan = XmlScan::new(true);
        let ok = br#"<table:table><table:table-row><table:table-cell office:value-type="string"><text:p>x</text:p></table:table-cell><table:table-cell table:number-columns-repeated="16383"/></table:table-row><table:table-row table:number-rows-repeated="1048575"><table:table-cell table:number-columns-repeated="16384"/></table:table-row></table:table>"#;
        scan.feed(ok).unwrap();
    }

    #[test]
    fn runs_and_depth_are_bounded() {
        let mut scan = XmlScan::new(false);
        let deep = "<a>".repeat(300);
        assert!(scan.feed(deep.as_bytes()).unwrap_err().contains("nested"));
        let mut scan = XmlScan::new(false);
        let mut text = b"<t>".to_vec();
        text.extend(std::iter::repeat_n(b'x', 2 * 1024 * 1024));
        assert!(scan.feed(&text).unwrap_err().contains("longer than"));
        let mut scan = XmlScan::new(false);
        scan.feed(br#"<a b=">"><c/><d>text</d></a>"#).unwrap();
        assert_eq!(scan.depth, 0);
    }
}
