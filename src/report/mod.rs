//! The report and the summary, rendered from the journal — never from memory — so the same code
//! serves the end of a run, `gslbatch report RUN_DIR` at any time, and `resume` after a crash.
//!
//! A report file is never half-written: it goes to a temporary file beside the destination, is
//! fsynced, renamed over the destination, and the directory is fsynced. On any error the temporary
//! file is removed and an older report, if any, is left as it was. `-` writes to stdout, where a
//! reader that goes away (`| head`) simply ends the report.
//!
//! - [`layout`] decides the columns and each row's typed cells (and maps the journal-only
//!   `inflight` status);
//! - [`writer`] prints them as CSV, a JSON array, JSON Lines or an Excel workbook;
//! - [`summary`] is the run's totals: `summary.json` and the lines printed to stderr.

pub mod encoding;
pub mod explain;
pub mod html;
pub mod layout;
pub mod status;
pub mod summary;
pub mod tally;
pub mod writer;

pub use summary::{Outcomes, Summary};

use crate::journal::{Journal, JournalError};
use crate::model::Status;
use layout::Layout;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use writer::Sink;

/// The report's shape on disk, chosen by the destination's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    Csv,
    Json,
    Jsonl,
    /// An Excel workbook: the report sheet and a summary sheet.
    Xlsx,
    /// One self-contained HTML page: the summary, charts, errors, rate and rows not ok.
    Html,
}

impl ReportFormat {
    /// `.json` → JSON, `.jsonl` → JSON Lines, `.xlsx` → a workbook, anything else (`.csv`
    /// included) → CSV.
    pub fn from_path(path: &Path) -> ReportFormat {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .as_deref()
        {
            Some("json") => ReportFormat::Json,
            Some("jsonl") => ReportFormat::Jsonl,
            Some("xlsx") => ReportFormat::Xlsx,
            Some("html" | "htm") => ReportFormat::Html,
            _ => ReportFormat::Csv,
        }
    }
}

/// Where a report goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportDest {
    /// A file, replaced atomically; the format follows its extension.
    Path(PathBuf),
    /// Standard output, in the given format.
    Stdout(ReportFormat),
}

impl ReportDest {
    /// A `--report` argument: `-` is stdout as CSV, anything else a path.
    /// A `--report` value this build cannot write (an extension that is no report format):
    /// refused before anything is sent rather than silently written as CSV.
    pub fn check_arg(arg: &str) -> Result<(), String> {
        if arg == "-" {
            return Ok(());
        }
        let ext = Path::new(arg)
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase());
        match ext.as_deref() {
            None | Some("csv" | "json" | "jsonl" | "xlsx" | "html" | "htm") => {}
            Some(other) => {
                return Err(format!(
                    "--report {arg}: .{other} is not a report format; use .csv, .xlsx, .html, .json or .jsonl (or - for stdout)"
                ))
            }
        }
        writable(Path::new(arg))
            .map_err(|e| format!("--report {arg}: cannot write there ({e}); nothing was sent"))
    }

    pub fn from_arg(arg: &str) -> ReportDest {
        if arg == "-" {
            ReportDest::Stdout(ReportFormat::Csv)
        } else {
            ReportDest::Path(PathBuf::from(arg))
        }
    }

    pub fn format(&self) -> ReportFormat {
        match self {
            ReportDest::Path(p) => ReportFormat::from_path(p),
            ReportDest::Stdout(f) => *f,
        }
    }
}

impl std::fmt::Display for ReportDest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReportDest::Path(p) => write!(f, "{}", p.display()),
            ReportDest::Stdout(_) => f.write_str("-"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Reading the run's journal failed (the message names the journal).
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("{path}: cannot {action}: {source}")]
    Io {
        path: String,
        action: &'static str,
        #[source]
        source: io::Error,
    },
}

impl ReportError {
    /// The reader of stdout went away (`report --report - | head`): the report simply ends.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, ReportError::Io { source, .. } if broken_pipe(source))
    }

    fn io(path: &Path, action: &'static str) -> impl FnOnce(io::Error) -> ReportError {
        let path = path.display().to_string();
        move |source| ReportError::Io {
            path,
            action,
            source,
        }
    }
}

/// Whether an error is (or wraps, as the CSV writer's do) a write to a pipe whose reader left.
pub(crate) fn broken_pipe(e: &io::Error) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            if io.kind() == io::ErrorKind::BrokenPipe {
                return true;
            }
            // An io::Error wrapping another error hides it from `source()`.
            if let Some(inner) = io.get_ref() {
                cur = Some(inner);
                continue;
            }
        }
        if let Some(csv) = err.downcast_ref::<csv::Error>() {
            if let csv::ErrorKind::Io(io) = csv.kind() {
                if io.kind() == io::ErrorKind::BrokenPipe {
                    return true;
                }
            }
        }
        cur = err.source();
    }
    false
}

/// What a render wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderStats {
    pub rows: u64,
    /// Rows per status as shown in the report (after the `inflight` mapping).
    pub counts: BTreeMap<Status, u64>,
}

/// Render the run's report from its journal to `dest`, streaming row by row.
pub fn render(journal: &Journal, dest: &ReportDest) -> Result<RenderStats, ReportError> {
    if let ReportDest::Path(path) = dest {
        if dest.format() == ReportFormat::Html {
            return html::render(journal, path);
        }
    }
    let meta = journal.meta()?;
    let layout = Layout::new(&meta, has_follow(journal)?);
    let format = dest.format();
    match dest {
        ReportDest::Path(path) => atomic_write(path, |out| {
            let (stats, out) = write_rows(journal, &layout, format, out)?;
            Ok((stats, out))
        }),
        ReportDest::Stdout(_) => {
            let out = BufWriter::new(io::stdout().lock());
            match write_rows(journal, &layout, format, out) {
                Ok((stats, _)) => Ok(stats),
                Err(RowsError::Io(e)) => Err(ReportError::io(Path::new("<stdout>"), "write")(e)),
                Err(RowsError::Journal(e)) => Err(e.into()),
            }
        }
    }
}

/// Whether `follow` has recorded anything, so the follow columns belong in the report. A first
/// pass over the rows, stopped at the first hit; the journal has no narrower query for it.
fn has_follow(journal: &Journal) -> Result<bool, ReportError> {
    let mut found = false;
    let _stopped = journal.for_each_row(|r| {
        if r.follow_status.is_some() {
            found = true;
            return Err(io::Error::other("found"));
        }
        Ok(())
    })?;
    Ok(found)
}

pub(crate) enum RowsError {
    Io(io::Error),
    Journal(JournalError),
}

impl From<io::Error> for RowsError {
    fn from(e: io::Error) -> Self {
        RowsError::Io(e)
    }
}

/// The rows in `format`; a CSV report in the run's text encoding (see [`encoding`]).
fn write_rows<W: Write>(
    journal: &Journal,
    layout: &Layout,
    format: ReportFormat,
    mut out: W,
) -> Result<(RenderStats, W), RowsError> {
    use encoding::ReportEncoding;
    if format == ReportFormat::Csv {
        match journal
            .meta()
            .map_err(RowsError::Journal)?
            .settings
            .report_encoding
        {
            Some(ReportEncoding::Utf8Bom) => out.write_all("\u{feff}".as_bytes())?,
            Some(ReportEncoding::Gb18030) => {
                let gb = encoding::Gb18030Writer::new(out);
                let (stats, gb) = write_rows_as(journal, layout, format, gb)?;
                return Ok((stats, gb.into_inner()));
            }
            Some(ReportEncoding::Utf8) | None => {}
        }
    }
    write_rows_as(journal, layout, format, out)
}

fn write_rows_as<W: Write>(
    journal: &Journal,
    layout: &Layout,
    format: ReportFormat,
    out: W,
) -> Result<(RenderStats, W), RowsError> {
    let mut sink = Sink::start(format, out, &layout.columns, layout.rehearsal)?;
    let mut stats = RenderStats::default();
    journal
        .for_each_row(|r| {
            let row = r.row;
            let status = r.status.clone();
            let (shown, cells) = layout.cells(r).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("journal row {row} has an unknown status {status:?}"),
                )
            })?;
            sink.row(&cells, layout.rehearsal)?;
            stats.rows += 1;
            *stats.counts.entry(shown).or_default() += 1;
            Ok(())
        })
        .map_err(RowsError::Journal)??;
    if format == ReportFormat::Xlsx {
        let dir = journal.path().parent().unwrap_or(Path::new("."));
        let summary =
            summary::Summary::build(journal, dir).map_err(|e| io::Error::other(e.to_string()))?;
        sink.summary(&serde_json::to_value(&summary).map_err(io::Error::other)?)?;
    }
    let out = sink.finish()?;
    Ok((stats, out))
}

/// Whether a report can be written to `dest` as [`atomic_write`] writes it: a temporary file
/// created (and removed again) in its directory. Checked before a run sends anything, so that
/// a report that cannot be written is not found out after the last call.
fn writable(dest: &Path) -> std::io::Result<()> {
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let probe = dir.join(format!(".gslbatch-report-check-{}", std::process::id()));
    File::create(&probe)?;
    std::fs::remove_file(&probe)
}

/// Write `dest` through a temporary file in its directory: written by `f`, fsynced, renamed over
/// `dest`, directory fsynced. On error the temporary file is removed and `dest` is untouched.
pub(crate) fn atomic_write<T>(
    dest: &Path,
    f: impl FnOnce(BufWriter<File>) -> Result<(T, BufWriter<File>), RowsError>,
) -> Result<T, ReportError> {
    atomic_write_or(dest, dest, |out| f(out).map(|(v, out)| (v, out, false)))
}

/// [`atomic_write`], but `f` may say (`true`) that what it wrote belongs at `alt` instead (a
/// partial report beside the destination), leaving `dest` untouched.
pub(crate) fn atomic_write_or<T>(
    dest: &Path,
    alt: &Path,
    f: impl FnOnce(BufWriter<File>) -> Result<(T, BufWriter<File>, bool), RowsError>,
) -> Result<T, ReportError> {
    let name = dest
        .file_name()
        .ok_or_else(|| ReportError::Io {
            path: dest.display().to_string(),
            action: "write a report to it",
            source: io::Error::new(io::ErrorKind::InvalidInput, "not a file name"),
        })?
        .to_string_lossy();
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let file = File::create(&tmp).map_err(ReportError::io(dest, "create a temporary file"))?;
    let result = (|| {
        let (value, out, to_alt) = f(BufWriter::new(file)).map_err(|e| match e {
            RowsError::Io(e) => ReportError::io(dest, "write")(e),
            RowsError::Journal(e) => e.into(),
        })?;
        let dest = if to_alt { alt } else { dest };
        let file = out
            .into_inner()
            .map_err(|e| ReportError::io(dest, "write")(e.into_error()))?;
        file.sync_all().map_err(ReportError::io(dest, "fsync"))?;
        drop(file);
        std::fs::rename(&tmp, dest).map_err(ReportError::io(dest, "rename the temporary file"))?;
        Ok(value)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return result;
    }
    sync_dir(&dir)?;
    result
}

/// Where a report cut short goes: `cards.csv` → `cards.partial.csv`, beside it, so a script
/// that reads `cards.csv` never mistakes it for the whole list.
pub fn partial_path(dest: &Path) -> PathBuf {
    let stem = dest
        .file_stem()
        .map_or_else(|| "report".into(), |s| s.to_string_lossy());
    let name = match dest.extension() {
        Some(ext) => format!("{stem}.partial.{}", ext.to_string_lossy()),
        None => format!("{stem}.partial"),
    };
    dest.with_file_name(name)
}

/// Make the rename durable: on Unix a rename is only on disk once its directory is.
fn sync_dir(dir: &Path) -> Result<(), ReportError> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(ReportError::io(dir, "fsync the directory"))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
