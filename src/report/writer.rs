//! The three report formats over any `Write`: CSV (via the `csv` crate, so commas, quotes and
//! newlines in a field are quoted correctly), one JSON array, and JSON Lines. Every format writes
//! a row as soon as it gets it — the JSON array too, as `[`, objects joined by `,\n`, `]` — so a
//! million-row report never sits in memory.
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
        }
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
        };
        out.flush()?;
        Ok(out)
    }
}
