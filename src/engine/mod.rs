//! A run: pending rows from the journal, one pacer, the [`fanout`] of at most `--concurrency`
//! parcels at a time, retries decided by [`crate::flow::retry::decide`], outcomes to the
//! journal's one [`writer::Writer`].
//!
//! A parcel is what one request carries: one card, or one batch of cards for batched operations
//! (SMS); [`crate::ops::Unit`] is the kind of parcel an operation sends. Each parcel is one task of the fan-out from first try to last, and every card is in one
//! parcel only, so no card ever has two requests in flight. For a non-idempotent operation the
//! task records the parcel's intent durably after the pacer released the request and before
//! writing it, so a crash leaves exactly the rows that were in flight without an outcome.

mod parcel;
pub mod writer;

use crate::flow::pacer::Pacer;
use crate::flow::{fanout, window};
use crate::gsl::Client;
use crate::journal::{Journal, Outcome, SessionTotals};
use crate::model::Status;
use crate::ops::Operation;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How hard to push, from the command line or the job file.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Requests per second to the operation's API, retries included; where `--rate auto`
    /// starts.
    pub rate: f64,
    /// `--rate auto`: the pacer rises from `rate` while no 429 comes and holds at the quota
    /// the first one names.
    pub auto_rate: bool,
    /// Parcels worked at once (tasks of the fan-out), and so requests in flight at most.
    pub concurrency: usize,
    /// `--concurrency` was given: the in-flight window is fixed at it instead of following
    /// the observed latency (see [`window`]).
    pub fixed_concurrency: bool,
    /// Tries per row, the first included; 429s do not count.
    pub max_attempts: u32,
    pub max_failure_rate: f64,
    pub failure_min_rows: u64,
}

/// The parcels a run works at once unless `--concurrency` says otherwise, and the most it
/// allows: 256.
/// How many of them may have a request in flight follows the observed latency ([`window`]):
/// enough to sustain `--rate`, and no more while the API stops answering.
pub const DEFAULT_CONCURRENCY: usize = 256;

/// How often a live run's session totals are written to the journal.
const SESSION_EVERY: Duration = Duration::from_secs(2);

/// Why the engine stopped releasing requests.
#[derive(Debug, Clone, PartialEq)]
pub enum Stop {
    /// Every pending row was worked through.
    Finished,
    /// SIGINT / SIGTERM / SIGHUP (or the caller's shutdown future).
    Interrupted,
    /// Too many rows failed; the message says how many.
    FailureThreshold(String),
    /// Credentials rejected; the message says what to check.
    AuthRejected(String),
    /// The journal could not be written.
    JournalFailed(String),
    /// The API refused in a way every later request would be refused too.
    Fatal(String),
    /// No request can be sent: the endpoint cannot be reached (or no request can be built).
    Unreachable(String),
}

impl Stop {
    /// Why the run stopped early, in words; `None` when it finished.
    pub fn reason(&self) -> Option<String> {
        match self {
            Stop::Finished => None,
            Stop::Interrupted => Some("interrupted by a signal".to_string()),
            Stop::FailureThreshold(m)
            | Stop::AuthRejected(m)
            | Stop::JournalFailed(m)
            | Stop::Fatal(m)
            | Stop::Unreachable(m) => Some(m.clone()),
        }
    }
}

/// Live counters, shared with the progress display.
#[derive(Debug, Default)]
pub struct Counters {
    pub ok: AtomicU64,
    pub failed: AtomicU64,
    pub unknown: AtomicU64,
    /// Rows finished by this process (ok + failed + unknown).
    pub finished: AtomicU64,
    /// Rows this process found claimed by another run in the account ledger (`skipped`).
    pub skipped: AtomicU64,
    pub calls: AtomicU64,
    /// Calls made after the credentials were confirmed (the paced fan-out).
    pub paced_calls: AtomicU64,
    pub throttled: AtomicU64,
    pub retries: AtomicU64,
    /// The quota a 429 named and the pacer adopted, in thousandths of a call per second
    /// (0: none).
    pub quota_milli: AtomicU64,
}

impl Counters {
    fn count(&self, status: Status) {
        match status {
            Status::Ok => &self.ok,
            Status::Failed => &self.failed,
            Status::Unknown => &self.unknown,
            _ => return,
        }
        .fetch_add(1, Relaxed);
        self.finished.fetch_add(1, Relaxed);
    }
}

/// Shared by every task of one run.
struct Shared {
    op: Arc<dyn Operation>,
    client: Client,
    pacer: Pacer,
    window: window::Window,
    cfg: EngineConfig,
    writer: writer::Writer,
    counters: Arc<Counters>,
    stop_tx: watch::Sender<Option<Stop>>,
    /// Set once an answer other than 401 arrived: until then, one request at a time.
    auth_confirmed: AtomicBool,
    auth_gate: tokio::sync::Mutex<()>,
    /// Set once a try left this machine (any answer, or none after it was sent): the endpoint
    /// can be reached.
    reached: AtomicBool,
    /// Tries in a row, across the run, that failed before anything was sent.
    unsent_streak: AtomicU32,
    /// When the first and the latest paced call went out (milliseconds since the epoch; 0:
    /// none yet), stamped per call without a lock and formatted only for the session totals.
    first_call_ms: AtomicI64,
    last_call_ms: AtomicI64,
}

impl Shared {
    fn stopped(&self) -> bool {
        self.stop_tx.borrow().is_some()
    }

    fn stop(&self, why: Stop) {
        self.stop_tx.send_if_modified(|s| {
            if s.is_none() {
                *s = Some(why);
                true
            } else {
                false
            }
        });
    }

    fn stop_signal(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.stop_tx.subscribe();
        async move {
            let _ = rx.wait_for(|s| s.is_some()).await;
        }
    }
}

fn now_rfc3339() -> String {
    chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
}

/// A stamp taken with [`now_ms`] as [`now_rfc3339`] writes it; `None` for 0 (never stamped).
fn rfc3339_ms(ms: i64) -> Option<String> {
    use chrono::TimeZone;
    match ms {
        0 => None,
        ms => chrono::Local
            .timestamp_millis_opt(ms)
            .single()
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, false)),
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Work through the run's pending rows until done, stopped, or `shutdown` resolves.
///
/// The journal comes back (for the report) unless its writer failed.
pub async fn run(
    op: Arc<dyn Operation>,
    client: Client,
    journal: Journal,
    cfg: EngineConfig,
    counters: Arc<Counters>,
    ledger: Option<crate::ledger::store::LedgerSink>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> (Stop, Result<Journal, String>) {
    let journal_dir: PathBuf = journal
        .path()
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default();
    let session = journal.begin_session().ok();
    let (writer, writer_thread) = writer::Writer::start(journal, ledger);
    let shared = Arc::new(Shared::new(
        op,
        client,
        cfg.clone(),
        writer.clone(),
        counters,
    ));
    let on_shutdown = stop_on(&shared, shutdown);
    let session_ticker = match session {
        Some(id) => Some(keep_session_totals(&shared, id).await),
        None => None,
    };
    // Parcels queued ahead of the fan-out (each task holds one more): a batch can be 500 cards.
    let (row_tx, mut row_rx) = mpsc::channel::<Parcel>(64);
    let dispatcher = tokio::spawn(dispatch(journal_dir, row_tx, shared.clone()));
    let stop = shared.stop_signal();
    let tasks = shared.clone();
    fanout::arriving(&mut row_rx, cfg.concurrency, stop, move |parcel| {
        work_parcel(tasks.clone(), parcel)
    })
    .await;
    drop(row_rx);
    let _ = dispatcher.await;
    on_shutdown.abort();
    if let Some(t) = session_ticker {
        t.abort();
    }
    shared.stop(Stop::Finished);
    let stop = shared.stop_tx.borrow().clone().unwrap_or(Stop::Finished);
    let stop = match writer.failure() {
        Some(msg) => Stop::JournalFailed(msg),
        None => stop,
    };
    if let Some(id) = session {
        writer.session(id, totals(&shared), None).await;
    }
    drop(shared);
    let journal = tokio::task::spawn_blocking(move || writer_thread.finish(writer))
        .await
        .unwrap_or_else(|_| Err("journal writer panicked".into()));
    (stop, journal)
}

impl Shared {
    fn new(
        op: Arc<dyn Operation>,
        client: Client,
        cfg: EngineConfig,
        writer: writer::Writer,
        counters: Arc<Counters>,
    ) -> Shared {
        let (stop_tx, _) = watch::channel(None);
        Shared {
            pacer: match cfg.auto_rate {
                true => Pacer::auto(op.name(), cfg.rate),
                false => Pacer::new(op.name(), cfg.rate),
            },
            window: window::Window::new(cfg.rate, cfg.concurrency, cfg.fixed_concurrency),
            op,
            client,
            cfg,
            writer,
            counters,
            stop_tx,
            auth_confirmed: AtomicBool::new(false),
            auth_gate: tokio::sync::Mutex::new(()),
            reached: AtomicBool::new(false),
            unsent_streak: AtomicU32::new(0),
            first_call_ms: AtomicI64::new(0),
            last_call_ms: AtomicI64::new(0),
        }
    }
}

/// Stop the run when `shutdown` resolves. Holds only a weak reference: the run must not
/// outlive its tasks because of it.
fn stop_on(
    shared: &Arc<Shared>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    let shared = Arc::downgrade(shared);
    tokio::spawn(async move {
        shutdown.await;
        if let Some(shared) = shared.upgrade() {
            shared.stop(Stop::Interrupted);
        }
    })
}

/// The session's totals go to the journal with every intent and outcome written, so that a
/// killed process's calls still count in the summary, and every few seconds besides (the
/// returned task), so that `status` shows the rate of a live run whose answers are slow to come.
async fn keep_session_totals(shared: &Arc<Shared>, id: i64) -> tokio::task::JoinHandle<()> {
    let weak = Arc::downgrade(shared);
    let read = move || weak.upgrade().map(|s| totals(&s));
    shared.writer.live_session(id, Box::new(read)).await;
    let shared = Arc::downgrade(shared);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(SESSION_EVERY).await;
            let Some(shared) = shared.upgrade() else {
                return;
            };
            shared.writer.session(id, totals(&shared), None).await;
        }
    })
}

fn totals(shared: &Shared) -> SessionTotals {
    let c = &shared.counters;
    SessionTotals {
        calls: c.calls.load(Relaxed),
        paced_calls: c.paced_calls.load(Relaxed),
        throttled: c.throttled.load(Relaxed),
        retries: c.retries.load(Relaxed),
        first_call_at: rfc3339_ms(shared.first_call_ms.load(Relaxed)),
        last_call_at: rfc3339_ms(shared.last_call_ms.load(Relaxed)),
        clock: shared.client.clock_offset(),
    }
}

/// One request's worth of rows: a single card, or one batch of a batched operation.
pub type Parcel = Vec<crate::journal::PendingRow>;

/// Feed pending rows as parcels, in row order, from the journal (read on a blocking thread).
///
/// Rows that share a batch number form one parcel; a batch split across two reads of the
/// journal is held back until its end is seen.
async fn dispatch(dir: PathBuf, tx: mpsc::Sender<Parcel>, shared: Arc<Shared>) {
    let reader = match tokio::task::spawn_blocking(move || Journal::open_read(&dir)).await {
        Ok(Ok(j)) => Arc::new(Mutex::new(j)),
        Ok(Err(e)) => {
            shared.stop(Stop::JournalFailed(e.to_string()));
            return;
        }
        Err(_) => return,
    };
    let mut after = 0u64;
    let mut open: (Option<i64>, Parcel) = (None, Vec::new());
    loop {
        if shared.stopped() {
            return;
        }
        let r = reader.clone();
        let chunk = tokio::task::spawn_blocking(move || {
            r.lock().expect("reader").pending_after(after, 1024)
        })
        .await;
        let chunk = match chunk {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                shared.stop(Stop::JournalFailed(e.to_string()));
                return;
            }
            Err(_) => return,
        };
        let last_chunk = chunk.is_empty();
        let mut ready = Vec::new();
        for p in chunk {
            after = p.row;
            let batch = p.batch;
            if batch.is_none() || batch != open.0 {
                if !open.1.is_empty() {
                    ready.push(std::mem::take(&mut open.1));
                }
                open.0 = batch;
            }
            open.1.push(p);
            if batch.is_none() {
                ready.push(std::mem::take(&mut open.1));
            }
        }
        if last_chunk && !open.1.is_empty() {
            ready.push(std::mem::take(&mut open.1));
        }
        for parcel in ready {
            tokio::select! {
                sent = tx.send(parcel) => if sent.is_err() { return },
                _ = shared.stop_signal() => return,
            }
        }
        if last_chunk {
            return;
        }
    }
}

/// One parcel from its first try to its outcome, as a task of the fan-out.
async fn work_parcel(shared: Arc<Shared>, parcel: Parcel) {
    // A refused batch comes back as its halves, worked here one after the other: the
    // same task keeps the cards, so none has two requests in flight.
    let mut todo = vec![parcel];
    while let Some(mut parcel) = todo.pop() {
        let Some(outcome) = parcel::work(&shared, &mut parcel).await else {
            continue;
        };
        if refused_whole(&shared, &parcel, &outcome) {
            let (a, b) = parcel.split_at(parcel.len() / 2);
            let parts = vec![a.to_vec(), b.to_vec()];
            let rows = parts
                .iter()
                .map(|p| p.iter().map(|p| p.row).collect())
                .collect();
            if let Err(msg) = shared.writer.split(rows).await {
                shared.stop(Stop::JournalFailed(msg));
                return;
            }
            tracing::info!(
                row = parcel[0].row,
                rows = parcel.len(),
                code = outcome.error_code.as_deref().unwrap_or_default(),
                "batch refused as a whole: sending it in halves"
            );
            todo.extend(parts.into_iter().rev());
            continue;
        }
        if let Some(st) = outcome.status {
            for _ in &parcel {
                shared.counters.count(st);
            }
        }
        // One outcome a row; the last row takes it without a copy.
        if let Some((last, rest)) = parcel.split_last() {
            for p in rest {
                shared
                    .writer
                    .outcome(Outcome {
                        row: p.row,
                        ..outcome.clone()
                    })
                    .await;
            }
            shared
                .writer
                .outcome(Outcome {
                    row: last.row,
                    ..outcome
                })
                .await;
        }
        check_stops(&shared);
    }
}

/// One bad cid never sinks a batch: a batch of more than one card that the API refused as a
/// whole with a 400 (nothing was sent) is split in halves until the refused cards stand alone.
/// Each bad card costs at most 2·⌈log2(batch size)⌉ extra calls.
fn refused_whole(shared: &Shared, parcel: &Parcel, outcome: &Outcome) -> bool {
    parcel.len() > 1
        && shared.op.spec().batched()
        && outcome.status == Some(Status::Failed)
        && outcome.http_status == Some(400)
}

/// After each outcome: stop on a journal write failure (even an idempotent run, which records
/// no intents, must not go on sending what it cannot record) or past the failure threshold.
fn check_stops(shared: &Shared) {
    if let Some(msg) = shared.writer.failure() {
        shared.stop(Stop::JournalFailed(msg));
        return;
    }
    let c = &shared.counters;
    let finished = c.finished.load(Relaxed);
    let bad = c.failed.load(Relaxed) + c.unknown.load(Relaxed);
    if finished >= shared.cfg.failure_min_rows
        && finished > 0
        && bad as f64 / finished as f64 > shared.cfg.max_failure_rate
    {
        shared.stop(Stop::FailureThreshold(format!(
            "{bad} of {finished} rows finished in this process failed or ended unknown, more than --max-failure-rate {}",
            shared.cfg.max_failure_rate
        )));
    }
}
