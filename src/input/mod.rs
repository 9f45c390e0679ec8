//! Streaming readers for the card lists a run works through: CSV, JSON arrays and JSON Lines,
//! from files or stdin, several in a row. They exist so the engine sees one plain sequence of
//! numbered [`Record`]s, each either a normalized key or the reason (with `file:line`) it cannot
//! be sent, no matter how the operator's spreadsheet export was shaped — and so that memory does
//! not grow with the file: records are produced one at a time and handed on.
//!
//! Two kinds of trouble are kept apart, as the spec asks: a bad *row* (wrong ICCID, missing cell,
//! invalid UTF-8, a JSON Lines line that does not parse) becomes a record whose `key` is `Err`,
//! and reading carries on; a *file* that cannot be read on (I/O error, a JSON array that breaks
//! off, a `--column` missing from the header, a header without the card column, UTF-16 without
//! a byte-order mark) is an [`InputError`], after which the iterator ends (it is fused: the
//! engine exits 2 anyway, and half-read files are not guessed at).
//!
//! Text is UTF-8, or decoded to it as it is read: UTF-16 with a byte-order mark (Excel's
//! "Unicode text"), and GB18030/GBK when the first 64 KiB are not UTF-8 (the default of Chinese
//! Windows). UTF-16 without a mark (a first line that is mostly NUL bytes) is refused as a whole
//! file with a clear reason rather than turned into thousands of baffling `invalid` rows. Every key, whichever column it comes from (`iccid`, `cid`, `sim_card_id`,
//! `--column`), is validated as an ICCID: the spec says a cid of a physical card is its ICCID.

mod csv;
mod iccid;
mod json;
mod limits;
mod sheet;
mod sheet_stream;
pub use sheet::is_spreadsheet;

pub use iccid::{validate_iccid, validate_sim_card_id, Dedupe};

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

/// Which column holds the key and how keys are validated.
#[derive(Debug, Clone)]
pub struct InputOptions {
    /// `--column`, compared case-insensitively; `None` = use `default_column`, then `iccid`,
    /// `cid`, `sim_card_id`.
    pub column: Option<String>,
    /// `"iccid"` for card operations, `"cid"` for send-sms.
    pub default_column: &'static str,
    /// Whether a `sim_card_id` column may name the card (card operations; not SMS, which
    /// addresses cids).
    pub sim_card_ids: bool,
}

/// One input record, in input order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// 1-based record number across all inputs in order; headers and blank lines not counted.
    pub row: u64,
    /// `path:line`, the physical line (1-based) where the record starts; `stdin:line` for `-`.
    pub location: String,
    /// The key cell as written (lossy UTF-8), for the report's iccid/cid column. When the key is
    /// refused, cut to 256 characters so a runaway cell does not bloat the journal.
    pub raw: String,
    /// The normalized key (trimmed, upper-cased), or why the row cannot be sent, naming
    /// `path:line`.
    pub key: Result<String, String>,
    /// This record's extra columns, aligned with [`Inputs::extra_columns`] as it was when the
    /// record was yielded (later inputs may add names; a missing value is `""`).
    pub extras: Vec<String>,
}

/// A file that cannot be read (on): exit 2 with this message.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// `location` is `path` or `path:line`.
    #[error("{location}: {source}")]
    Io {
        location: String,
        #[source]
        source: io::Error,
    },
    /// The file's shape is unusable: broken JSON array, `--column` missing, UTF-16, ...
    #[error("{location}: {reason}")]
    Unreadable { location: String, reason: String },
}

impl InputError {
    pub(crate) fn io(name: &str, line: Option<u64>, source: io::Error) -> Self {
        InputError::Io {
            location: at(name, line),
            source,
        }
    }

    /// The reason may quote the file (header cells): its control characters are escaped.
    pub(crate) fn unreadable(name: &str, line: Option<u64>, reason: impl Into<String>) -> Self {
        InputError::Unreadable {
            location: crate::cell::escape_controls(&at(name, line)),
            reason: crate::cell::escape_controls(&reason.into()),
        }
    }
}

fn at(name: &str, line: Option<u64>) -> String {
    match line {
        Some(line) => format!("{name}:{line}"),
        None => name.to_string(),
    }
}

pub use crate::model::InputEncoding;

/// How the files' bytes are read, for every input of a run or listing (`--encoding` and
/// `--sheet`, or a job file's `encoding` and `sheet`); the default detects the encoding and
/// reads a spreadsheet's first worksheet.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadOptions {
    /// Decode text inputs from this encoding instead of detecting it.
    pub encoding: Option<InputEncoding>,
    /// Read this worksheet of spreadsheet inputs instead of their first.
    pub sheet: Option<String>,
}

/// An input's format, by extension or sniffed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
    Jsonl,
}

/// The format a path's extension promises; `None` means "sniff it like stdin".
pub fn format_for(path: &Path) -> Option<Format> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "csv" | "tsv" | "txt" => Some(Format::Csv),
        "json" => Some(Format::Json),
        "jsonl" | "ndjson" => Some(Format::Jsonl),
        _ => None,
    }
}

/// The union of all inputs' extra column names, in first-seen order.
#[derive(Debug, Default)]
pub(crate) struct Columns {
    names: Vec<String>,
    index: HashMap<String, usize>,
}

impl Columns {
    /// The slot of an input column called `name`, adding it if new. Names are matched exactly
    /// (after the `input_` prefix for clashes, which is case-insensitive: `ICCID` clashes too).
    pub(crate) fn slot(&mut self, name: &str) -> usize {
        let name = if crate::report::layout::is_report_column(name) {
            format!("input_{name}")
        } else {
            name.to_string()
        };
        if let Some(&i) = self.index.get(&name) {
            return i;
        }
        self.names.push(name.clone());
        self.index.insert(name, self.names.len() - 1);
        self.names.len() - 1
    }
}

/// What a format reader hands back for one record; [`Inputs`] numbers it and validates the key.
pub(crate) struct Parsed {
    /// Physical line where the record starts.
    pub line: u64,
    /// The key cell as written.
    pub raw: String,
    /// Set when the record is broken before its key could even be looked at (reason without
    /// location).
    pub problem: Option<String>,
    /// The key came from a `sim_card_id` column or field.
    pub by_id: bool,
    /// `(slot in Columns, value)`.
    pub extras: Vec<(usize, String)>,
}

/// One format reader over one input.
pub(crate) trait Source: Send {
    /// `None` at the end of the input. After an `Err` the source is not asked again.
    fn next_record(&mut self, cols: &mut Columns) -> Option<Result<Parsed, InputError>>;
}

/// An input not yet started: it is sniffed and its header read only when reached, so a
/// problem in the second file does not hide the first file's rows.
struct Pending {
    name: String,
    reader: Box<dyn Read + Send>,
    format: Option<Format>,
    /// Already decoded to UTF-8 from another encoding.
    decoded: bool,
}

/// Reads several inputs in order as one sequence of [`Record`]s.
pub struct Inputs {
    pending: VecDeque<Pending>,
    current: Option<(String, Box<dyn Source>)>,
    opts: InputOptions,
    /// `--encoding`: decode every text input from it.
    encoding: Option<InputEncoding>,
    columns: Columns,
    row: u64,
    /// Set after a fatal error: the iterator is fused.
    done: bool,
}

impl Inputs {
    /// Opens every path up front (`-` = stdin) so a typo fails before anything is sent; the
    /// encoding detected, a spreadsheet's first worksheet read.
    pub fn open(paths: &[String], opts: &InputOptions) -> Result<Inputs, InputError> {
        Self::open_with(paths, opts, &ReadOptions::default())
    }

    /// [`Inputs::open`], the files read as `reading` says.
    pub fn open_with(
        paths: &[String],
        opts: &InputOptions,
        reading: &ReadOptions,
    ) -> Result<Inputs, InputError> {
        let mut inputs = VecDeque::with_capacity(paths.len());
        for path in paths {
            if path == "-" {
                inputs.push_back(Pending {
                    name: "stdin".to_string(),
                    reader: Box::new(io::stdin()),
                    format: None,
                    decoded: false,
                });
                continue;
            }
            let file = File::open(path).map_err(|e| InputError::io(path, None, e))?;
            let meta = file.metadata().map_err(|e| InputError::io(path, None, e))?;
            if meta.is_dir() {
                return Err(InputError::unreadable(path, None, "is a directory"));
            }
            if sheet::is_spreadsheet(Path::new(path)) {
                drop(file);
                inputs.push_back(Pending {
                    name: path.clone(),
                    reader: sheet::sheet_as_csv(path, reading.sheet.as_ref())?,
                    format: Some(Format::Csv),
                    decoded: true,
                });
                continue;
            }
            inputs.push_back(Pending {
                name: path.clone(),
                reader: Box::new(file),
                format: format_for(Path::new(path)),
                decoded: false,
            });
        }
        let mut inputs = Self::build(inputs, opts);
        inputs.encoding = reading.encoding;
        Ok(inputs)
    }

    /// One input from any reader, its format sniffed as for stdin; `name` is used in locations.
    /// This is how tests (and anything not on disk) feed the readers.
    pub fn from_reader(
        name: &str,
        reader: impl Read + Send + 'static,
        opts: &InputOptions,
    ) -> Inputs {
        Self::from_readers(vec![(name.to_string(), Box::new(reader), None)], opts)
    }

    /// Several inputs from readers, each with a known format or `None` to sniff.
    pub fn from_readers(
        readers: Vec<(String, Box<dyn Read + Send>, Option<Format>)>,
        opts: &InputOptions,
    ) -> Inputs {
        let inputs = readers
            .into_iter()
            .map(|(name, reader, format)| Pending {
                name,
                reader,
                format,
                decoded: false,
            })
            .collect();
        Self::build(inputs, opts)
    }

    fn build(pending: VecDeque<Pending>, opts: &InputOptions) -> Inputs {
        Inputs {
            pending,
            current: None,
            opts: opts.clone(),
            encoding: None,
            columns: Columns::default(),
            row: 0,
            done: false,
        }
    }

    /// The union of all inputs' extra column names met so far, in first-seen order; a name
    /// clashing with a report column carries an `input_` prefix.
    pub fn extra_columns(&self) -> &[String] {
        &self.columns.names
    }

    fn finish(&mut self, p: Parsed, name: &str) -> Record {
        self.row += 1;
        let location = format!("{name}:{}", p.line);
        let key = match p.problem {
            Some(reason) => Err(reason),
            None if !p.by_id => validate_iccid(&p.raw),
            None if self.opts.sim_card_ids => validate_sim_card_id(&p.raw),
            None => Err(format!(
                "sim_card_id {:?} cannot address this operation's cards: give the cid (ICCID)",
                iccid::shown(p.raw.trim())
            )),
        }
        .map_err(|reason| format!("{reason} ({location})"));
        let mut raw = p.raw;
        // The report's iccid column is for ICCIDs: a sim_card_id shows in its own column when
        // valid, and in the reason when not.
        if p.by_id {
            raw.clear();
        }
        if key.is_err() {
            if let Some((cut, _)) = raw.char_indices().nth(256) {
                raw.truncate(cut);
                raw.push('…');
            }
            // NUL, CR, LF and escape sequences of a refused cell do not reach the report raw.
            raw = crate::cell::escape_controls(&raw);
        }
        let key = key.map_err(|reason| crate::cell::escape_controls(&reason));
        let mut extras = vec![String::new(); self.columns.names.len()];
        for (slot, value) in p.extras {
            extras[slot] = value;
        }
        Record {
            row: self.row,
            location,
            raw,
            key,
            extras,
        }
    }
}

/// Records in input order; `Err` means the current input cannot be read on, and ends the iteration.
impl Iterator for Inputs {
    type Item = Result<Record, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            if let Some((name, source)) = &mut self.current {
                match source.next_record(&mut self.columns) {
                    Some(Ok(parsed)) => {
                        let name = name.clone();
                        if let Some(why) = past_limits(&parsed, &self.columns) {
                            self.done = true;
                            let e = InputError::unreadable(&name, Some(parsed.line), why);
                            return Some(Err(e));
                        }
                        return Some(Ok(self.finish(parsed, &name)));
                    }
                    Some(Err(e)) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                    None => self.current = None,
                }
            }
            let pending = self.pending.pop_front()?;
            let name = pending.name.clone();
            match start(pending, &self.opts, self.encoding, &mut self.columns) {
                Ok(source) => self.current = Some((name, source)),
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        None
    }
}

/// Why a record is past the readers' limits (a cell too long, too many columns), if it is.
fn past_limits(p: &Parsed, cols: &Columns) -> Option<String> {
    if cols.names.len() > limits::MAX_COLUMNS {
        return Some(format!(
            "more than {} distinct columns or fields; nothing was sent",
            limits::MAX_COLUMNS
        ));
    }
    let longest = p
        .extras
        .iter()
        .map(|(_, v)| v.len())
        .chain([p.raw.len()])
        .max();
    (longest > Some(limits::MAX_CELL))
        .then(|| limits::too_long("a cell or field value", limits::MAX_CELL as u64))
}

/// How much of an input is read ahead to sniff its format and CSV delimiter.
const SNIFF_CAP: usize = 64 * 1024;

/// Reads the beginning of an input (at most [`SNIFF_CAP`]), decodes UTF-16 (with a BOM) and
/// GB18030 to UTF-8, drops a UTF-8 BOM, picks the format and builds its reader.
/// The bytes read ahead are put back in front of the rest, so nothing is lost.
fn start(
    p: Pending,
    opts: &InputOptions,
    forced: Option<InputEncoding>,
    cols: &mut Columns,
) -> Result<Box<dyn Source>, InputError> {
    let mut reader = p.reader;
    let mut prefix = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut reader_ended = false;
    while prefix.len() < SNIFF_CAP {
        match reader.read(&mut chunk) {
            Ok(0) => {
                reader_ended = true;
                break;
            }
            Ok(n) => prefix.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(InputError::io(&p.name, Some(1), e)),
        }
    }
    if prefix.starts_with(b"PK\x03\x04") || prefix.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        return Err(InputError::unreadable(
            &p.name,
            None,
            "is a spreadsheet, not text: give it its .xlsx (or .xls) name, or save it as CSV",
        ));
    }
    // The encoding to decode from, if not UTF-8: the one `--encoding` named, else UTF-16 with a
    // byte-order mark (Excel's "Unicode text"), else GB18030 / GBK (the default of Chinese
    // Windows) for bytes that are not UTF-8. Decoded to UTF-8 as they are read (a BOM still
    // wins), and the decoded text goes through the same sniffing.
    let utf16 = prefix.starts_with(&[0xFF, 0xFE]) || prefix.starts_with(&[0xFE, 0xFF]);
    let decode_from = match forced {
        _ if p.decoded => None,
        Some(InputEncoding(named)) => Some(Some(named)),
        None if utf16 => Some(None),
        None if !looks_like_utf16(&prefix) && !is_utf8_prefix(&prefix, reader_ended) => {
            tracing::info!(input = %p.name, "not UTF-8: read as GB18030 (GBK)");
            Some(Some(encoding_rs::GB18030))
        }
        None => None,
    };
    if let Some(encoding) = decode_from {
        let raw: Box<dyn Read + Send> = Box::new(io::Cursor::new(prefix).chain(reader));
        let decoded = encoding_rs_io::DecodeReaderBytesBuilder::new()
            .encoding(encoding)
            .bom_sniffing(true)
            .build(raw);
        let again = Pending {
            reader: Box::new(decoded),
            decoded: true,
            ..p
        };
        return start(again, opts, forced, cols);
    }
    if looks_like_utf16(&prefix) {
        return Err(InputError::unreadable(
            &p.name,
            Some(1),
            "the first line is mostly NUL bytes (UTF-16 without a byte-order mark?): give --encoding utf-16le (or utf-16be), or save the file as UTF-8",
        ));
    }
    if prefix.starts_with(&[0xEF, 0xBB, 0xBF]) {
        prefix.drain(..3);
    }
    let first = prefix.iter().copied().find(|b| !b.is_ascii_whitespace());
    let format = match (p.format, first) {
        (Some(Format::Csv), _) => Format::Csv,
        // A `.json` file that is not an array is read as JSON Lines: many tools write NDJSON
        // under a `.json` name, and a single object is valid JSON Lines.
        (Some(Format::Json) | None, Some(b'[')) => Format::Json,
        (Some(Format::Json), _) if one_json_value(&prefix, reader_ended) => {
            return Err(InputError::unreadable(
                &p.name,
                Some(1),
                "is one JSON value, not an array of cards nor JSON Lines: write \
                 [\"8986…\", …] or [{\"iccid\": \"8986…\"}, …], or one card per line (.jsonl); \
                 nothing was sent",
            ))
        }
        (Some(Format::Json), _) => Format::Jsonl,
        (Some(Format::Jsonl), _) => Format::Jsonl,
        (None, Some(b'{' | b'"')) => Format::Jsonl,
        (None, _) => Format::Csv,
    };
    let delimiter = csv::sniff_delimiter(&prefix);
    let joined: Box<dyn Read + Send> = Box::new(io::Cursor::new(prefix).chain(reader));
    Ok(match format {
        Format::Csv => Box::new(csv::CsvSource::new(p.name, joined, delimiter, opts, cols)?),
        Format::Json => Box::new(json::ArraySource::new(p.name, BufReader::new(joined), opts)),
        Format::Jsonl => Box::new(json::LinesSource::new(p.name, BufReader::new(joined), opts)),
    })
}

/// Whether a `.json` input that is not an array is one JSON document (an object or string
/// spread over lines, or alone in the file) rather than JSON Lines: its first line does not
/// parse alone, or nothing but white space follows it.
fn one_json_value(prefix: &[u8], ended: bool) -> bool {
    let text = prefix.trim_ascii_start();
    let Some(end) = text.iter().position(|&b| b == b'\n') else {
        // One line: the whole file when it ended, else too long to tell (read as lines).
        return ended && !text.trim_ascii().is_empty();
    };
    let (first, rest) = text.split_at(end);
    serde_json::from_slice::<serde_json::Value>(first.trim_ascii()).is_err()
        || (ended && rest.trim_ascii().is_empty())
}

/// Whether the first bytes of an input are UTF-8 (a character cut at the end of the prefix,
/// when more follows, does not count against it).
fn is_utf8_prefix(prefix: &[u8], ended: bool) -> bool {
    match std::str::from_utf8(prefix) {
        Ok(_) => true,
        Err(e) => !ended && e.error_len().is_none(),
    }
}

/// ASCII text saved as UTF-16 has a NUL beside every character; real UTF-8 CSV practically
/// never does.
fn looks_like_utf16(prefix: &[u8]) -> bool {
    let line = match prefix.iter().position(|&b| b == b'\n') {
        Some(end) => &prefix[..end],
        None => prefix,
    };
    let nuls = line.iter().filter(|&&b| b == 0).count();
    nuls >= 4 && nuls * 3 >= line.len()
}

/// The key field/column to use among `names` (matched case-insensitively): `--column` if given,
/// else the default column, else `iccid`, `cid`, `sim_card_id` in that order.
pub(crate) fn pick_key<'a>(
    names: impl Iterator<Item = &'a str> + Clone,
    opts: &InputOptions,
) -> Option<usize> {
    let find = |want: &str| {
        names
            .clone()
            .position(|n| n.trim().eq_ignore_ascii_case(want))
    };
    match &opts.column {
        Some(column) => find(column),
        None => [opts.default_column, "iccid", "cid", "sim_card_id"]
            .into_iter()
            .find_map(find),
    }
}

/// The name of the key column as an operator would write it in a message.
pub(crate) fn key_name(opts: &InputOptions) -> &str {
    opts.column.as_deref().unwrap_or(opts.default_column)
}
