//! The listings (`inventory`, `pool-members`, `usage`): [`inventory`] joins the input with the
//! fleet, [`pools`] reads a flow pool's members, [`usage`] each card's flow. What they share lives here: paging a list API at its quota, and writing a
//! report that is never half-written.
//!
//! A list call is idempotent, so every page is simply retried (429 slows the pacer, busy and
//! lost answers back off and try again) until it arrives or its attempts run out. Page 1 goes
//! out alone — it proves the credentials and tells how many pages there are — then the rest go
//! out through the same pacer with a few in flight, and are handed on strictly in page order.
//!
//! The report is written on a blocking thread through [`report::atomic_write`] and
//! [`Sink`], the same temporary-file + fsync + rename as a run's report; it only replaces the
//! destination when the command says [`ReportOut::commit`], so a listing that fails half-way
//! leaves an older report as it was.

pub mod inventory;
pub mod pools;
pub mod usage;

use crate::exit::Failure;
use crate::flags::RunOptions;
use crate::flow::fanout;
use crate::flow::pacer::Pacer;
use crate::flow::retry::{self, ReadStats};
use crate::gsl::{paging, Client, GslError};
use crate::ops::ListSettings;
use crate::report::encoding::ReportEncoding;
use crate::report::layout::Cell;
use crate::report::writer::Sink;
use crate::report::{self, ReportDest, ReportFormat, RowsError};
use crate::simulator::{SimConfig, Simulator};
use std::collections::BTreeMap;
use std::future::Future;
use std::io::{self, BufWriter, Write};
use std::ops::ControlFlow;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// Rows per list call: the most the API allows.
pub const PAGE_LIMIT: u32 = paging::LIMIT;

/// Lists run at this share of their rate; see [`Pager::new`].
const LIST_HEADROOM: f64 = 0.98;

/// The common options as the batch helpers (`real_client`, `timeout`) want them.
pub fn run_options(o: &ListSettings) -> RunOptions {
    RunOptions {
        rate: None,
        concurrency: None,
        max_attempts: o.max_attempts,
        timeout: o.timeout,
        max_failure_rate: None,
        failure_min_rows: None,
        token_file: o.token_file.clone(),
        ca_cert: o.ca_cert.clone(),
        report: o.report.clone(),
        report_encoding: None,
        tell: Default::default(),
    }
}

/// A positive, finite rate from a flag.
pub fn check_rate(flag: &str, rate: f64) -> Result<f64, Failure> {
    if rate.is_finite() && rate > 0.0 {
        Ok(rate)
    } else {
        Err(Failure::usage(format!(
            "{flag} {rate}: must be a positive number"
        )))
    }
}

pub fn max_attempts(o: &ListSettings) -> Result<u32, Failure> {
    if let Some(r) = &o.report {
        crate::report::ReportDest::check_arg(r).map_err(Failure::usage)?;
        crate::report::html::listing_refuses(r).map_err(Failure::usage)?;
    }
    match o.max_attempts.unwrap_or(5) {
        0 => Err(Failure::usage("--max-attempts must be at least 1")),
        n => Ok(n),
    }
}

/// The client for the real API, or a rehearsal simulator serving `cfg` and a client for it.
pub async fn client(
    o: &ListSettings,
    rehearsal: impl FnOnce() -> SimConfig,
) -> Result<(Client, Option<Simulator>), Failure> {
    let ro = run_options(o);
    if !o.rehearse {
        return Ok((crate::run::clients::real_client(&o.endpoint, &ro)?, None));
    }
    let timeout = crate::run::settings::timeout(&ro)?;
    let (sim, c) = crate::run::clients::start_rehearsal(rehearsal(), timeout).await?;
    Ok((c, Some(sim)))
}

/// Where the report goes: `--report`, or `<name>-<local time>.csv` in the working directory.
pub fn report_dest(arg: Option<&str>, name: &str) -> ReportDest {
    match arg {
        Some(a) => ReportDest::from_arg(a),
        None => ReportDest::Path(
            format!(
                "{name}-{}.csv",
                chrono::Local::now().format("%Y%m%d-%H%M%S")
            )
            .into(),
        ),
    }
}

/// One page as the list API answered it: the total `count` and this page's items.
pub type PageResult<T> = Result<(i64, Vec<T>), GslError>;
type PageFuture<T> = Pin<Box<dyn Future<Output = PageResult<T>> + Send>>;
/// Fetch page `offset` (a page number from 1) with `limit` rows.
pub type Fetch<T> = Arc<dyn Fn(Client, u32) -> PageFuture<T> + Send + Sync>;
/// Look up the items one key names.
pub type Lookup<T> = Arc<dyn Fn(Client, String) -> PageFuture<T> + Send + Sync>;

/// A list paged at its quota through one pacer.
pub struct Pager {
    client: Client,
    pacer: Arc<Pacer>,
    max_attempts: u32,
    /// Pages in flight at most after the first.
    window: usize,
    pub stats: Arc<ReadStats>,
}

impl Pager {
    pub fn new(client: Client, api: &str, rate: f64, max_attempts: u32) -> Pager {
        Pager {
            client,
            // A listing is a few dozen to a few thousand calls, where one 429 is a whole wasted
            // slot of a 1/s quota; 2% spacing (20 ms a second) absorbs the arrival jitter that
            // the pacer's own 0.7% headroom (7 ms) does not.
            pacer: Arc::new(Pacer::new(api, rate * LIST_HEADROOM)),
            max_attempts,
            window: ((rate * 2.0).ceil() as usize).clamp(2, 64),
            stats: Arc::default(),
        }
    }

    /// One call, retried as an idempotent call is: 429s do not count as attempts.
    pub async fn call<T>(&self, fetch: &Fetch<T>, page: u32) -> PageResult<T> {
        call(
            &self.client,
            &self.pacer,
            &self.stats,
            self.max_attempts,
            fetch,
            page,
        )
        .await
    }

    /// Every page, handed to `on_page` in page order. Stops at the first short page, or at the
    /// last page the counts announce. A failing page (after its retries) ends the listing.
    pub async fn each_page<T: Send + 'static>(
        &self,
        fetch: Fetch<T>,
        on_page: impl FnMut(Vec<T>) -> Result<(), Failure>,
    ) -> Result<Result<(), GslError>, Failure> {
        match self.call(&fetch, 1).await {
            Ok(first) => self.pages_after(fetch, first, on_page).await,
            Err(e) => Ok(Err(e)),
        }
    }

    /// [`Self::each_page`] once page 1 (`first`, with the list's count) is in hand. The pages
    /// after it are fetched up to [`Pager::window`] ahead, as far as [`paging::Walk`] allows,
    /// and handed on strictly in page order.
    pub async fn pages_after<T: Send + 'static>(
        &self,
        fetch: Fetch<T>,
        (count, first): (i64, Vec<T>),
        mut on_page: impl FnMut(Vec<T>) -> Result<(), Failure>,
    ) -> Result<Result<(), GslError>, Failure> {
        let mut pages = paging::Walk::new();
        pages.next_page();
        let last = pages.took(first.len(), count);
        on_page(first)?;
        if last {
            return Ok(Ok(()));
        }
        let pages = std::cell::RefCell::new(pages);
        let mut arrived: BTreeMap<u32, (i64, Vec<T>)> = BTreeMap::new();
        let mut next_emit = 2u32;
        let mut end: Result<Result<(), GslError>, Failure> = Ok(Ok(()));
        fanout::each(
            || {
                let mut w = pages.borrow_mut();
                match w.ahead() < self.window as u32 {
                    true => w.next_page(),
                    false => None,
                }
            },
            self.window,
            |page| {
                let (client, pacer, stats, fetch) = (
                    self.client.clone(),
                    self.pacer.clone(),
                    self.stats.clone(),
                    fetch.clone(),
                );
                let max = self.max_attempts;
                async move { (page, call(&client, &pacer, &stats, max, &fetch, page).await) }
            },
            |_, (page, result)| {
                match result {
                    Ok(answer) => arrived.insert(page, answer),
                    Err(e) => {
                        end = Ok(Err(e));
                        return ControlFlow::Break(());
                    }
                };
                while let Some((count, items)) = arrived.remove(&next_emit) {
                    let last = pages.borrow_mut().took(items.len(), count);
                    next_emit += 1;
                    if let Err(f) = on_page(items) {
                        end = Err(f);
                        return ControlFlow::Break(());
                    }
                    if last {
                        // The end of the list: pages still in flight are past it.
                        return ControlFlow::Break(());
                    }
                }
                ControlFlow::Continue(())
            },
        )
        .await;
        end
    }

    /// One call per key (`lookup` answers the cards it names), through the same pacer with the
    /// same pages in flight; each answer goes to `on_found` as it arrives. A failing call
    /// (after its retries) ends the lookups.
    pub async fn each_lookup<T: Send + 'static>(
        &self,
        keys: Vec<String>,
        lookup: Lookup<T>,
        mut on_found: impl FnMut(Vec<T>) -> Result<(), Failure>,
    ) -> Result<Result<(), GslError>, Failure> {
        let mut keys = keys.into_iter();
        let mut end: Result<Result<(), GslError>, Failure> = Ok(Ok(()));
        fanout::each(
            || keys.next(),
            self.window,
            |key| {
                let (client, pacer, stats, lookup) = (
                    self.client.clone(),
                    self.pacer.clone(),
                    self.stats.clone(),
                    lookup.clone(),
                );
                let max = self.max_attempts;
                async move {
                    retry::read(&pacer, max, &stats, || lookup(client.clone(), key.clone())).await
                }
            },
            |_, result| {
                end = match result {
                    Ok((_, items)) => on_found(items).map(Ok),
                    Err(e) => Ok(Err(e)),
                };
                match &end {
                    Ok(Ok(())) => ControlFlow::Continue(()),
                    _ => ControlFlow::Break(()),
                }
            },
        )
        .await;
        end
    }
}

async fn call<T>(
    client: &Client,
    pacer: &Pacer,
    stats: &ReadStats,
    max_attempts: u32,
    fetch: &Fetch<T>,
    page: u32,
) -> PageResult<T> {
    retry::read(pacer, max_attempts, stats, || fetch(client.clone(), page)).await
}

/// The exit for a list query that could not be answered: 3 when the credentials were refused
/// (like a run's abort), otherwise 1 with the API's words.
pub fn query_failure(what: &str, err: &GslError, client: &Client) -> Failure {
    match err {
        GslError::Unauthorized { .. } | GslError::Auth(_) => Failure::aborted(format!(
            "{what}: {}; check the credentials",
            err.rejection(client.credentials().mode())
        )),
        GslError::Refused(f) => Failure::failed(format!(
            "{what}: the API refused the query: {} {} {}",
            f.http_status, f.error_code, f.error_msg
        )),
        other => Failure::failed(format!("{what}: no answer after retries: {other}")),
    }
}

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
fn partial_dest(dest: &ReportDest) -> ReportDest {
    match dest {
        ReportDest::Path(p) => ReportDest::Path(report::partial_path(p)),
        other => other.clone(),
    }
}

/// A listing's live progress: items listed of the count page 1 announced, on the TTY bar or
/// in a progress line every 60 s (`GSL_PROGRESS_SECS`), as a run's.
pub struct Listed {
    listed: Arc<AtomicU64>,
    total: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
    bar: Option<indicatif::ProgressBar>,
}

impl Listed {
    pub fn start(what: &'static str) -> Listed {
        let (listed, total) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let bar = crate::logging::bar(crate::logging::settings(), 0);
        let (l, t, b) = (listed.clone(), total.clone(), bar.clone());
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let mut last_log = Instant::now();
            let every = crate::run::progress::log_every();
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let (n, of) = (l.load(Relaxed), t.load(Relaxed));
                let per_sec = n as f64 / started.elapsed().as_secs_f64().max(0.001);
                if let Some(b) = &b {
                    b.set_length(of.max(n));
                    b.set_position(n);
                    b.set_message(format!("{what} · {per_sec:.0} listed/s"));
                } else if last_log.elapsed() >= every {
                    last_log = Instant::now();
                    tracing::info!(
                        target: crate::logging::PROGRESS_TARGET,
                        listed = n,
                        total = of,
                        per_sec = per_sec.round(),
                        "{what}: progress"
                    );
                }
            }
        });
        Listed {
            listed,
            total,
            task,
            bar,
        }
    }

    pub fn add(&self, n: usize) {
        self.listed.fetch_add(n as u64, Relaxed);
    }

    /// What the list says it holds (page 1's `count`).
    pub fn set_total(&self, n: u64) {
        self.total.store(n, Relaxed);
    }

    pub fn listed(&self) -> u64 {
        self.listed.load(Relaxed)
    }

    pub fn total(&self) -> u64 {
        self.total.load(Relaxed)
    }

    pub fn finish(self) {
        self.task.abort();
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}

/// A float cell. The report's [`Cell`] has no float variant, so the number goes as text.
/// Rounded to a millionth: the API's MB have three decimals, and a value it (or the simulator)
/// computed as a difference must not print as `728.2919999999999`.
pub fn float_cell(v: Option<f64>) -> Cell {
    v.map_or(Cell::Null, |f| Cell::Float((f * 1e6).round() / 1e6))
}

pub fn str_cell(v: Option<&str>) -> Cell {
    v.map_or(Cell::Null, |s| Cell::Str(s.to_string()))
}

pub fn int_cell(v: Option<i64>) -> Cell {
    v.map_or(Cell::Null, Cell::Int)
}
