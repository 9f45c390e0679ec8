//! The CSV reader. Operators' lists come out of spreadsheets, databases and shell pipelines, so
//! this accepts what those produce — BOM or not, LF or CRLF, `,` `;` or tab, a header or a bare
//! column of ICCIDs — and reports every record at the physical line where it starts, so an
//! `invalid` row can be found and fixed in the file.
//!
//! Parsing is the `csv` crate's (quoting, embedded newlines), over raw bytes (`ByteRecord`) so a
//! line with invalid UTF-8 spoils only its own row. Only `\n` ends a record (a trailing `\r` is
//! dropped from the last cell): that makes the start line computable from the reader's line
//! count after the record, minus the newlines inside it. Old-Mac files ending lines with a bare
//! `\r` are therefore read as one line — not worth a guess.
//!
//! Decisions: a record whose cells are all blank (`,,,` from a spreadsheet) is a blank line,
//! skipped and not counted. Without a header the first column is the key and the others are
//! carried as `column2`, `column3`, ...; with a header, an empty header cell is named
//! `columnN` too, a repeated name gets `_2`, `_3`, ..., and cells beyond the header are
//! `columnN` after their position.

use super::limits::{too_long, MAX_CELL, MAX_COLUMNS, MAX_RECORD};
use super::{key_name, pick_key, Columns, InputError, InputOptions, Parsed, Source};
use csv::ByteRecord;
use std::io::{self, Read};

/// Picks `,`, `;` or tab: whichever occurs most often outside quotes on the first non-blank
/// line; ties and none go to `,`, then `;`.
pub(crate) fn sniff_delimiter(prefix: &[u8]) -> u8 {
    let start = prefix
        .iter()
        .position(|b| !b.is_ascii_whitespace() || *b == b'\t')
        .unwrap_or(prefix.len());
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for &b in &prefix[start..] {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => break,
            b',' if !quoted => counts[0] += 1,
            b';' if !quoted => counts[1] += 1,
            b'\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let delimiters = [b',', b';', b'\t'];
    let mut best = 0;
    for i in 1..3 {
        if counts[i] > counts[best] {
            best = i;
        }
    }
    delimiters[best]
}

/// Counts what the `csv` reader pulls through it, so a record that ends at end of input without
/// a newline can be told from one that ends with one.
struct Tracker<R> {
    inner: R,
    total: u64,
    /// Where the record being read starts (bytes): the record is cut off once it passes
    /// [`MAX_RECORD`] rather than buffered whole.
    mark: u64,
    last: Option<u8>,
    eof: bool,
}

impl<R: Read> Read for Tracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // The csv reader reads ahead at most its buffer (8 KiB) past the record it parses.
        if self.total.saturating_sub(self.mark) > MAX_RECORD + 64 * 1024 {
            return Err(io::Error::other(RecordTooLong));
        }
        let n = self.inner.read(buf)?;
        if n == 0 {
            if !buf.is_empty() {
                self.eof = true;
            }
        } else {
            self.total += n as u64;
            self.last = Some(buf[n - 1]);
        }
        Ok(n)
    }
}

/// The error [`Tracker`] stops the csv reader with.
#[derive(Debug)]
struct RecordTooLong;

impl std::fmt::Display for RecordTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&too_long("the record starting on this line", MAX_RECORD))
    }
}

impl std::error::Error for RecordTooLong {}

type Reader = csv::Reader<Tracker<Box<dyn Read + Send>>>;

pub(crate) struct CsvSource {
    name: String,
    rdr: Reader,
    rec: ByteRecord,
    /// The first record of a headerless file, read while looking for a header.
    first: Option<(ByteRecord, u64)>,
    key_col: usize,
    /// The key column's name, for "no ... cell" messages.
    key_name: String,
    /// Extras slot for each column index (`None` for the key column).
    slots: Vec<Option<usize>>,
    /// The line the next record starts on, for a record cut off by the limits.
    next_start: u64,
}

impl CsvSource {
    pub(crate) fn new(
        name: String,
        reader: Box<dyn Read + Send>,
        delimiter: u8,
        opts: &InputOptions,
        cols: &mut Columns,
    ) -> Result<Self, InputError> {
        let tracker = Tracker {
            inner: reader,
            total: 0,
            mark: 0,
            last: None,
            eof: false,
        };
        let rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .terminator(csv::Terminator::Any(b'\n'))
            .from_reader(tracker);
        let mut src = CsvSource {
            name,
            rdr,
            rec: ByteRecord::new(),
            first: None,
            key_col: 0,
            key_name: key_name(opts).to_string(),
            slots: Vec::new(),
            next_start: 1,
        };
        let Some(line) = src.read()? else {
            return Ok(src);
        };
        let cells: Vec<String> = (0..src.rec.len())
            .map(|i| {
                String::from_utf8_lossy(cell(&src.rec, i).unwrap_or_default())
                    .trim()
                    .to_string()
            })
            .collect();
        let names = || cells.iter().map(String::as_str);
        let is_header = names().any(|c| {
            ["iccid", "sim_card_id", "cid"]
                .iter()
                .chain(opts.column.as_deref().as_slice())
                .any(|want| c.eq_ignore_ascii_case(want))
        });
        if !is_header {
            // No header only when the first cell is itself a card: a first row of words that
            // names no card column is a header without one, and the tool never guesses which
            // column holds the cards (a destructive run must not go ahead on the first one).
            let first = cells.first().map(String::as_str).unwrap_or("");
            if is_words(first) {
                return Err(InputError::unreadable(
                    &src.name,
                    Some(line),
                    format!(
                        "the first row is a header without a card column (found: {}); say which \
                         column holds the cards with --column NAME (or name it iccid, \
                         sim_card_id or cid); nothing was sent",
                        cells.join(", ")
                    ),
                ));
            }
            src.first = Some((src.rec.clone(), line));
            return Ok(src);
        }
        src.key_col = pick_key(names(), opts).ok_or_else(|| {
            InputError::unreadable(
                &src.name,
                Some(line),
                format!(
                    "no column {} in header (columns: {})",
                    key_name(opts),
                    cells.join(", ")
                ),
            )
        })?;
        src.key_name = cells[src.key_col].clone();
        let mut seen: Vec<String> = Vec::new();
        for (i, cell) in cells.iter().enumerate() {
            if i == src.key_col {
                src.slots.push(None);
                continue;
            }
            let base = if cell.is_empty() {
                format!("column{}", i + 1)
            } else {
                cell.clone()
            };
            let mut name = base.clone();
            let mut n = 1;
            while seen.contains(&name) {
                n += 1;
                name = format!("{base}_{n}");
            }
            seen.push(name.clone());
            src.slots.push(Some(cols.slot(&name)));
        }
        Ok(src)
    }

    /// Reads the next non-blank record into `self.rec`; returns the line it starts on.
    fn read(&mut self) -> Result<Option<u64>, InputError> {
        loop {
            match self.rdr.read_byte_record(&mut self.rec) {
                Ok(true) => {}
                Ok(false) => return Ok(None),
                Err(e) => {
                    let line = self.rdr.position().line();
                    return Err(match e.into_kind() {
                        csv::ErrorKind::Io(e)
                            if e.get_ref().is_some_and(|e| e.is::<RecordTooLong>()) =>
                        {
                            let at = Some(self.next_start);
                            InputError::unreadable(&self.name, at, e.to_string())
                        }
                        csv::ErrorKind::Io(e) => InputError::io(&self.name, Some(line), e),
                        other => {
                            InputError::unreadable(&self.name, Some(line), format!("{other:?}"))
                        }
                    });
                }
            }
            let after = self.rdr.position().clone();
            self.rdr.get_mut().mark = after.byte();
            self.next_start = after.line();
            let tracker = self.rdr.get_ref();
            let ended_by_newline =
                after.byte() < tracker.total || !tracker.eof || tracker.last == Some(b'\n');
            let inner = self.rec.as_slice().iter().filter(|&&b| b == b'\n').count() as u64;
            let line = after
                .line()
                .saturating_sub(inner + ended_by_newline as u64)
                .max(1);
            let blank = (0..self.rec.len()).all(|i| {
                cell(&self.rec, i)
                    .unwrap_or_default()
                    .trim_ascii()
                    .is_empty()
            });
            if self.rec.len() > MAX_COLUMNS {
                return Err(InputError::unreadable(
                    &self.name,
                    Some(line),
                    format!(
                        "{} cells in one record (limit {MAX_COLUMNS}); nothing was sent",
                        self.rec.len()
                    ),
                ));
            }
            if let Some(i) = (0..self.rec.len()).find(|&i| self.rec[i].len() > MAX_CELL) {
                return Err(InputError::unreadable(
                    &self.name,
                    Some(line),
                    too_long(&format!("cell {}", i + 1), MAX_CELL as u64),
                ));
            }
            if !blank {
                return Ok(Some(line));
            }
        }
    }

    fn slot(&mut self, i: usize, cols: &mut Columns) -> Option<usize> {
        while self.slots.len() <= i {
            let n = self.slots.len();
            self.slots.push(if n == self.key_col {
                None
            } else {
                Some(cols.slot(&format!("column{}", n + 1)))
            });
        }
        self.slots[i]
    }
}

impl Source for CsvSource {
    fn next_record(&mut self, cols: &mut Columns) -> Option<Result<Parsed, InputError>> {
        let line = match self.first.take() {
            Some((rec, line)) => {
                self.rec = rec;
                line
            }
            None => match self.read() {
                Ok(Some(line)) => line,
                Ok(None) => return None,
                Err(e) => return Some(Err(e)),
            },
        };
        let utf8 = std::str::from_utf8(self.rec.as_slice()).is_ok();
        let (raw, mut problem) = match cell(&self.rec, self.key_col) {
            Some(bytes) => (String::from_utf8_lossy(bytes).into_owned(), None),
            None => (
                String::new(),
                Some(format!(
                    "no {} cell (the row has {} columns)",
                    self.key_name,
                    self.rec.len()
                )),
            ),
        };
        if !utf8 {
            problem = Some("not valid UTF-8".to_string());
        }
        let mut extras = Vec::new();
        for i in 0..self.rec.len() {
            if let Some(slot) = self.slot(i, cols) {
                let value = cell(&self.rec, i).unwrap_or_default();
                extras.push((slot, String::from_utf8_lossy(value).into_owned()));
            }
        }
        Some(Ok(Parsed {
            line,
            raw,
            problem,
            by_id: self.key_name.eq_ignore_ascii_case("sim_card_id"),
            extras,
        }))
    }
}

/// Cell `i`, without the `\r` a CRLF line leaves on the last one.
fn cell(rec: &ByteRecord, i: usize) -> Option<&[u8]> {
    let bytes = rec.get(i)?;
    if i + 1 == rec.len() {
        Some(bytes.strip_suffix(b"\r").unwrap_or(bytes))
    } else {
        Some(bytes)
    }
}

/// Whether a first cell is words rather than a card: not an ICCID (digits, maybe a final hex
/// letter), not a number (`8.98603E+19` too: Excel's rendering of one), not empty, once Excel's
/// text markers (`'8986…`, `="8986…"`) are taken off.
fn is_words(cell: &str) -> bool {
    let c = super::iccid::strip_excel_markers(cell.trim().trim_start_matches('\u{feff}'));
    if c.is_empty() || c.parse::<f64>().is_ok() {
        return false;
    }
    let body = c
        .strip_suffix(|ch: char| ch.is_ascii_hexdigit())
        .unwrap_or(c);
    !(c.len() > 1 && body.bytes().all(|b| b.is_ascii_digit()))
}
