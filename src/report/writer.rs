//! The report formats over any `Write`: CSV (via the `csv` crate, so commas, quotes and
//! newlines in a field are quoted correctly), one JSON array, JSON Lines, and an Excel workbook.
//! Every format writes a row as soon as it gets it — the JSON array too, as `[`, objects joined
//! by `,\n`, `]`; the workbook's sheet through `rust_xlsxwriter`'s constant-memory mode, which
//! spills rows to a temporary file — so a million-row report never sits in memory.
//!
//! In the workbook, card numbers (ICCID, cid, MSISDN, IMEI) are text cells, never numbers Excel
//! would round, and a second sheet `summary` holds the run's totals.
//!
//! A rehearsal run is marked on every row: a last `rehearsal` column holding `REHEARSAL` in CSV,
//! `"rehearsal": true` in JSON / JSON Lines, so a rehearsal report can never pass for a real one.

use super::layout::Cell;
use super::ReportFormat;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use std::io::{self, Write};

impl Serialize for Cell {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Cell::Null => s.serialize_none(),
            Cell::Str(v) => s.serialize_str(v),
            Cell::Int(v) => s.serialize_i64(*v),
            Cell::Float(v) if v.is_finite() => s.serialize_f64(*v),
            Cell::Float(v) => s.serialize_str(&v.to_string()),
            Cell::Bool(v) => s.serialize_bool(*v),
        }
    }
}

/// One row as a JSON object whose keys keep the report's column order.
struct Object<'a> {
    columns: &'a [String],
    cells: &'a [Cell],
    rehearsal: bool,
}

impl Serialize for Object<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.cells.len() + usize::from(self.rehearsal)))?;
        for (k, v) in self.columns.iter().zip(self.cells) {
            m.serialize_entry(k, v)?;
        }
        if self.rehearsal {
            m.serialize_entry("rehearsal", &true)?;
        }
        m.end()
    }
}

/// A report being written in one format.
pub enum Sink<W: Write> {
    /// Boxed: the csv writer carries its own buffer state, far larger than the others.
    Csv(Box<csv::Writer<W>>),
    Json {
        out: W,
        first: bool,
        columns: Vec<String>,
    },
    Jsonl {
        out: W,
        columns: Vec<String>,
    },
    Xlsx {
        book: Box<rust_xlsxwriter::Workbook>,
        /// The next sheet row (0 is the header).
        row: u32,
        /// Per column: an id or card number, written as text whatever its type.
        text: Vec<bool>,
        /// The [`SIDE_SHEETS`] this report has: (column, sheet index, next row).
        sides: Vec<(usize, usize, u32)>,
        out: W,
    },
}

/// Whether a column holds an id or a card number: text in a workbook, so Excel neither rounds
/// it nor shows it as 1.00E+18, and a lookup against the operator's own text ids matches.
fn is_id_column(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == "id"
        || n.ends_with("_id")
        || n.ends_with("_ids")
        || matches!(n.as_str(), "iccid" | "cid" | "msisdn" | "imei" | "imsi")
}

/// The rows an `.xlsx` sheet holds, its header included.
const XLSX_MAX_ROWS: u32 = 1_048_576;

fn xlsx_err(e: rust_xlsxwriter::XlsxError) -> io::Error {
    io::Error::other(format!("cannot write the workbook: {e}"))
}

impl<W: Write> Sink<W> {
    /// Start a report (the CSV header, the JSON `[`).
    pub fn start(
        format: ReportFormat,
        mut out: W,
        columns: &[String],
        rehearsal: bool,
    ) -> io::Result<Sink<W>> {
        let mut columns = columns.to_vec();
        Ok(match format {
            ReportFormat::Csv => {
                let mut w = csv::WriterBuilder::new().from_writer(out);
                if rehearsal {
                    columns.push("rehearsal".to_string());
                }
                w.write_record(&columns)?;
                Sink::Csv(Box::new(w))
            }
            ReportFormat::Json => {
                out.write_all(b"[")?;
                Sink::Json {
                    out,
                    first: true,
                    columns,
                }
            }
            ReportFormat::Jsonl => Sink::Jsonl { out, columns },
            // A page of a run's journal (`report::html`), not a stream of rows: a listing
            // refuses `.html` before it starts.
            ReportFormat::Html => return Err(io::Error::other(
                "an HTML report is made from a run's journal; write this report as .csv or .xlsx",
            )),
            ReportFormat::Xlsx => {
                let mut book = Box::new(rust_xlsxwriter::Workbook::new());
                let bold = rust_xlsxwriter::Format::new().set_bold();
                let sheet = book
                    .add_worksheet_with_constant_memory()
                    .map_err(xlsx_err)?;
                sheet.set_name("report").map_err(xlsx_err)?;
                if rehearsal {
                    columns.push("rehearsal".to_string());
                }
                header(sheet, &columns, &bold)?;
                let mut sides = Vec::new();
                for (column, name) in SIDE_SHEETS {
                    // The last column of that name: history's, after the input's own columns.
                    let Some(at) = columns.iter().rposition(|c| c == column) else {
                        continue;
                    };
                    let side = book
                        .add_worksheet_with_constant_memory()
                        .map_err(xlsx_err)?;
                    side.set_name(*name).map_err(xlsx_err)?;
                    header(side, &columns, &bold)?;
                    sides.push((at, sides.len() + 1, 1));
                }
                let text = columns.iter().map(|c| is_id_column(c)).collect();
                Sink::Xlsx {
                    book,
                    row: 1,
                    text,
                    sides,
                    out,
                }
            }
        })
    }

    pub fn row(&mut self, cells: &[Cell], rehearsal: bool) -> io::Result<()> {
        match self {
            Sink::Csv(w) => {
                for c in cells {
                    match c {
                        Cell::Null => w.write_field("")?,
                        Cell::Str(s) => w.write_field(s)?,
                        Cell::Int(i) => w.write_field(i.to_string())?,
                        Cell::Float(f) => w.write_field(f.to_string())?,
                        Cell::Bool(b) => w.write_field(if *b { "true" } else { "false" })?,
                    }
                }
                if rehearsal {
                    w.write_field("REHEARSAL")?;
                }
                w.write_record(None::<&[u8]>)?;
            }
            Sink::Json {
                out,
                first,
                columns,
            } => {
                out.write_all(if *first { b"\n" } else { b",\n" })?;
                *first = false;
                let obj = Object {
                    columns,
                    cells,
                    rehearsal,
                };
                serde_json::to_writer(&mut *out, &obj)?;
            }
            Sink::Jsonl { out, columns } => {
                let obj = Object {
                    columns,
                    cells,
                    rehearsal,
                };
                serde_json::to_writer(&mut *out, &obj)?;
                out.write_all(b"\n")?;
            }
            Sink::Xlsx {
                book,
                row,
                text,
                sides,
                ..
            } => {
                if *row >= XLSX_MAX_ROWS {
                    return Err(io::Error::other(format!(
                        "an .xlsx sheet holds at most {} rows; write this report as .csv",
                        XLSX_MAX_ROWS - 1
                    )));
                }
                let sheet = book.worksheet_from_index(0).map_err(xlsx_err)?;
                write_cells(sheet, *row, cells, text, rehearsal)?;
                *row += 1;
                for (at, index, next) in sides.iter_mut() {
                    let marked = match cells.get(*at) {
                        Some(Cell::Str(s)) => !s.is_empty(),
                        Some(Cell::Null) | None => false,
                        Some(_) => true,
                    };
                    if marked {
                        let side = book.worksheet_from_index(*index).map_err(xlsx_err)?;
                        write_cells(side, *next, cells, text, rehearsal)?;
                        *next += 1;
                    }
                }
            }
        }
        Ok(())
    }

    /// A workbook's second sheet: the run's summary as a two-column table, one `field, value`
    /// row per figure — nested tables flattened (`counts.ok`, `outcomes.done`), lists joined —
    /// so every count is a number in a cell Excel can sum and chart, never JSON text. Other
    /// formats have `summary.json` beside them and ignore this.
    pub fn summary(&mut self, summary: &serde_json::Value) -> io::Result<()> {
        let mut rows = Vec::new();
        flatten("", summary, &mut rows);
        self.summary_rows(&rows)
    }

    /// The summary sheet from `field, value` rows as they are (a listing's [`super::tally`]),
    /// with a chart for each group of [`CHARTED`] among them.
    pub fn summary_rows(&mut self, rows: &[(String, serde_json::Value)]) -> io::Result<()> {
        let Sink::Xlsx { book, .. } = self else {
            return Ok(());
        };
        let sheet = book.add_worksheet();
        sheet.set_name(SUMMARY_SHEET).map_err(xlsx_err)?;
        let bold = rust_xlsxwriter::Format::new().set_bold();
        sheet
            .write_string_with_format(0, 0, "field", &bold)
            .and_then(|s| s.write_string_with_format(0, 1, "value", &bold))
            .map_err(xlsx_err)?;
        for (i, (k, v)) in rows.iter().enumerate() {
            let r = i as u32 + 1;
            sheet.write_string(r, 0, k.as_str()).map_err(xlsx_err)?;
            match v {
                serde_json::Value::Null => Ok(&mut *sheet),
                serde_json::Value::Bool(b) => sheet.write_boolean(r, 1, *b),
                serde_json::Value::Number(n) => {
                    sheet.write_number(r, 1, n.as_f64().unwrap_or_default())
                }
                serde_json::Value::String(s) => sheet.write_string(r, 1, s.as_str()),
                other => sheet.write_string(r, 1, other.to_string()),
            }
            .map_err(xlsx_err)?;
        }
        charts(sheet, rows)?;
        sheet.set_column_width(0, 28).map_err(xlsx_err)?;
        sheet.set_column_width(1, 24).map_err(xlsx_err)?;
        sheet
            .autofilter(0, 0, rows.len() as u32, 1)
            .map_err(xlsx_err)?;
        sheet.set_freeze_panes(1, 0).map_err(xlsx_err)?;
        Ok(())
    }

    /// End the report (the JSON `]`), flush, and hand back the underlying writer.
    pub fn finish(self) -> io::Result<W> {
        let mut out = match self {
            Sink::Csv(w) => w.into_inner().map_err(|e| e.into_error())?,
            Sink::Json { mut out, first, .. } => {
                out.write_all(if first { b"]\n" } else { b"\n]\n" })?;
                out
            }
            Sink::Jsonl { out, .. } => out,
            Sink::Xlsx {
                mut book, mut out, ..
            } => {
                out.write_all(&book.save_to_buffer().map_err(xlsx_err)?)?;
                out
            }
        };
        out.flush()?;
        Ok(out)
    }
}

/// The summary sheet's charts: one per group of counts in [`CHARTED`] that has rows, its
/// categories and values ranges over the sheet's own `field` / `value` cells (the rows
/// `counts.ok`, `counts.failed`… lie together: `flatten` walks a table's keys in order), so
/// the chart is the table, never a copy of it.
fn charts(
    sheet: &mut rust_xlsxwriter::Worksheet,
    rows: &[(String, serde_json::Value)],
) -> io::Result<()> {
    let mut placed = 0u32;
    for (group, title) in CHARTED {
        let prefix = format!("{group}.");
        let Some(first) = rows.iter().position(|(k, _)| k.starts_with(&prefix)) else {
            continue;
        };
        let n = rows[first..]
            .iter()
            .take_while(|(k, v)| k.starts_with(&prefix) && v.is_number())
            .count();
        if n == 0 {
            continue;
        }
        // Sheet rows: the header is row 0, `rows[i]` is row i + 1.
        let (r0, r1) = (first as u32 + 1, (first + n) as u32);
        let mut chart = rust_xlsxwriter::Chart::new(rust_xlsxwriter::ChartType::Column);
        chart
            .add_series()
            .set_name(*title)
            .set_categories((SUMMARY_SHEET, r0, 0, r1, 0))
            .set_values((SUMMARY_SHEET, r0, 1, r1, 1))
            .set_data_label(rust_xlsxwriter::ChartDataLabel::new().show_value());
        chart.title().set_name(*title);
        chart.legend().set_hidden();
        sheet
            .insert_chart(1 + placed * 16, 3, &chart)
            .map_err(xlsx_err)?;
        placed += 1;
    }
    Ok(())
}

/// The summary sheet's name, as chart ranges name it.
pub const SUMMARY_SHEET: &str = "summary";

/// A workbook's sheets of the rows that stand out: a report with a `change` column (a listing
/// compared with an earlier run) gets a `changes` sheet of the rows that changed, one with a
/// `mark` column (usage against each card's own history) a `marks` sheet of the marked rows —
/// the same rows as `NAME.changes.csv` and the marked ones of `NAME.marks.csv`, in the workbook
/// a manager opens.
pub const SIDE_SHEETS: &[(&str, &str)] = &[("change", "changes"), ("mark", "marks")];

/// A sheet's bold header row, frozen.
fn header(
    sheet: &mut rust_xlsxwriter::Worksheet,
    columns: &[String],
    bold: &rust_xlsxwriter::Format,
) -> io::Result<()> {
    for (i, c) in columns.iter().enumerate() {
        sheet
            .write_string_with_format(0, i as u16, c, bold)
            .map_err(xlsx_err)?;
    }
    sheet.set_freeze_panes(1, 0).map_err(xlsx_err)?;
    Ok(())
}

/// One row's cells into sheet row `r`: ids as text (see [`is_id_column`]).
fn write_cells(
    sheet: &mut rust_xlsxwriter::Worksheet,
    r: u32,
    cells: &[Cell],
    text: &[bool],
    rehearsal: bool,
) -> io::Result<()> {
    for (i, c) in cells.iter().enumerate() {
        let col = i as u16;
        match c {
            Cell::Null => continue,
            Cell::Str(s) => sheet.write_string(r, col, s.as_str()),
            Cell::Int(v) if text.get(i).copied().unwrap_or(false) => {
                sheet.write_string(r, col, v.to_string())
            }
            Cell::Int(v) if v.unsigned_abs() < 1 << 53 => sheet.write_number(r, col, *v as f64),
            Cell::Int(v) => sheet.write_string(r, col, v.to_string()),
            Cell::Float(v) => sheet.write_number(r, col, *v),
            Cell::Bool(b) => sheet.write_boolean(r, col, *b),
        }
        .map_err(xlsx_err)?;
    }
    if rehearsal {
        sheet
            .write_string(r, cells.len() as u16, "REHEARSAL")
            .map_err(xlsx_err)?;
    }
    Ok(())
}

/// The summary tables that get a chart, and its title: rows per status, per outcome, and
/// changes per kind once a run's summary holds them (the changes between runs).
pub const CHARTED: &[(&str, &str)] = &[
    ("counts", "Rows per status"),
    ("outcomes", "Rows per outcome"),
    ("changes", "Changes per kind"),
    ("sim_status", "Cards per sim_status"),
    ("carrier", "Cards per carrier"),
    ("top_used", "Top 20 cards by data used (MB)"),
];

/// `value`'s scalars as `(dotted.key, scalar)` rows; a list of scalars is one row, joined.
fn flatten(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, serde_json::Value)>) {
    use serde_json::Value;
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match value {
        Value::Object(fields) => {
            for (k, v) in fields {
                flatten(&key(k), v, out);
            }
        }
        Value::Array(items) if items.iter().all(|v| !v.is_object() && !v.is_array()) => {
            let joined: Vec<String> = items
                .iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            out.push((prefix.to_string(), Value::String(joined.join(", "))));
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&key(&(i + 1).to_string()), v, out);
            }
        }
        scalar => out.push((prefix.to_string(), scalar.clone())),
    }
}
