//! A listing's report, written on a blocking thread through [`report::atomic_write`] and
//! [`Sink`], the same temporary-file + fsync + rename as a run's report; it only replaces the
//! destination when the command says [`ReportOut::commit`], so a listing that fails half-way
//! leaves an older report as it was.

use crate::exit::Failure;
use crate::report::encoding::ReportEncoding;
use crate::report::layout::Cell;
use crate::report::writer::Sink;
use crate::report::{self, ReportDest, ReportFormat, RowsError};
use std::io::{self, BufWriter, Write};
use std::sync::mpsc;

enum Msg {
    Rows(Vec<Vec<Cell>>),
    /// Put the report in place; `true`: it was cut short, and goes to its partial path.
    Commit(bool),
}

/// A report being written on its own thread; see the module notes.
pub struct ReportOut {
    tx: Option<mpsc::SyncSender<Msg>>,
    thread: std::thread::JoinHandle<Result<u64, String>>,
    dest: ReportDest,
}

impl ReportOut {
    pub fn start(dest: ReportDest, columns: Vec<String>, rehearsal: bool) -> ReportOut {
        Self::start_encoded(dest, columns, rehearsal, ReportEncoding::Utf8)
    }

    /// [`Self::start`] with a CSV report in `encoding` (a BOM, or GB18030, for Excel).
    pub fn start_encoded(
        dest: ReportDest,
        columns: Vec<String>,
        rehearsal: bool,
        encoding: ReportEncoding,
    ) -> ReportOut {
        let (tx, rx) = mpsc::sync_channel::<Msg>(64);
        let d = dest.clone();
        let thread =
            std::thread::spawn(move || write_report(&d, &columns, rehearsal, encoding, rx));
        ReportOut {
            tx: Some(tx),
            thread,
            dest,
        }
    }

    /// Queue rows; `Err` when the writer has stopped (its error comes out of [`Self::commit`]).
    pub fn rows(&self, rows: Vec<Vec<Cell>>) -> Result<(), Failure> {
        let tx = self.tx.as_ref().expect("report open");
        if tx.send(Msg::Rows(rows)).is_ok() {
            return Ok(());
        }
        Err(Failure::aborted(format!(
            "the report {} could not be written",
            self.dest
        )))
    }

    /// Finish the report and put it in place; the number of rows written.
    pub fn commit(mut self) -> Result<u64, Failure> {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Msg::Commit(false));
        }
        self.join()
    }

    /// The listing was cut short (a signal): what was listed goes to the partial path beside
    /// the destination ([`report::partial_path`]), which stays as it was. The rows written, and
    /// where they went.
    pub fn commit_partial(mut self) -> Result<(u64, ReportDest), Failure> {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Msg::Commit(true));
        }
        let dest = partial_dest(&self.dest);
        Ok((self.join()?, dest))
    }

    /// Give up: the destination stays as it was.
    pub fn abandon(mut self) {
        self.tx.take();
        let _ = self.join();
    }

    fn join(self) -> Result<u64, Failure> {
        drop(self.tx);
        self.thread
            .join()
            .expect("report thread")
            .map_err(Failure::aborted)
    }

    pub fn dest(&self) -> &ReportDest {
        &self.dest
    }
}

fn write_report(
    dest: &ReportDest,
    columns: &[String],
    rehearsal: bool,
    encoding: ReportEncoding,
    rx: mpsc::Receiver<Msg>,
) -> Result<u64, String> {
    match dest {
        ReportDest::Path(path) => report::atomic_write_or(
            path,
            &report::partial_path(path),
            |out: BufWriter<std::fs::File>| {
                pump_encoded(dest.format(), out, columns, rehearsal, encoding, &rx)
            },
        )
        .map_err(|e| e.to_string()),
        ReportDest::Stdout(format) => {
            match pump_encoded(
                *format,
                BufWriter::new(io::stdout().lock()),
                columns,
                rehearsal,
                encoding,
                &rx,
            ) {
                Ok((n, _, _)) => Ok(n),
                // The reader went away (`| head`): drain so the listing ends normally.
                // The CSV writer wraps the pipe's error in its own: look inside.
                Err(RowsError::Io(e)) if report::broken_pipe(&e) => {
                    while let Ok(Msg::Rows(_)) = rx.recv() {}
                    Ok(0)
                }
                Err(RowsError::Io(e)) => Err(format!("<stdout>: cannot write: {e}")),
                Err(RowsError::Journal(e)) => Err(e.to_string()),
            }
        }
    }
}

/// The rows a listing hands over, into `out` in `format`; a CSV report in `encoding`.
fn pump_encoded<W: Write>(
    format: ReportFormat,
    mut out: W,
    columns: &[String],
    rehearsal: bool,
    encoding: ReportEncoding,
    rx: &mpsc::Receiver<Msg>,
) -> Result<(u64, W, bool), RowsError> {
    if format == ReportFormat::Csv {
        match encoding {
            ReportEncoding::Utf8Bom => out.write_all("\u{feff}".as_bytes())?,
            ReportEncoding::Gb18030 => {
                let gb = crate::report::encoding::Gb18030Writer::new(out);
                let (n, gb, partial) = pump(format, gb, columns, rehearsal, rx)?;
                return Ok((n, gb.into_inner(), partial));
            }
            ReportEncoding::Utf8 => {}
        }
    }
    pump(format, out, columns, rehearsal, rx)
}

/// The rows a listing hands over, into `out` in `format`, until it commits (or gives up).
fn pump<W: Write>(
    format: ReportFormat,
    out: W,
    columns: &[String],
    rehearsal: bool,
    rx: &mpsc::Receiver<Msg>,
) -> Result<(u64, W, bool), RowsError> {
    let mut sink = Sink::start(format, out, columns, rehearsal)?;
    let mut tally =
        (format == ReportFormat::Xlsx).then(|| crate::report::tally::Tally::new(columns));
    let mut n = 0;
    let partial = loop {
        match rx.recv() {
            Ok(Msg::Rows(rows)) => {
                for r in rows {
                    tally.iter_mut().for_each(|t| t.row(&r));
                    sink.row(&r, rehearsal)?;
                    n += 1;
                }
            }
            Ok(Msg::Commit(partial)) => break partial,
            // The command gave up: do not put a partial report in place.
            Err(_) => return Err(io::Error::other("the listing did not finish").into()),
        }
    };
    if let Some(t) = tally {
        sink.summary_rows(&t.rows())?;
    }
    Ok((n, sink.finish()?, partial))
}

/// Where a report cut short goes: beside the destination, or stdout as it was.
pub fn partial_dest(dest: &ReportDest) -> ReportDest {
    match dest {
        ReportDest::Path(p) => ReportDest::Path(report::partial_path(p)),
        other => other.clone(),
    }
}
