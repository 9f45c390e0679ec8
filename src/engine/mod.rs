//! The fan-out: pending rows from the journal, one pacer, a bounded pool of workers, retries
//! decided by [`retry::decide`], outcomes to the journal's one [`writer::Writer`].
//!
//! A unit is what one request carries: one card, or one batch of cards for batched operations
//! (SMS). Each worker owns one unit at a time from first try to last, and every card is in one
//! unit only, so no card ever has two requests in flight. For a non-idempotent operation the
//! worker records the unit's intent durably after the pacer released the request and before
//! writing it, so a crash leaves exactly the rows that were in flight without an outcome.

pub mod ingest;
pub mod operation;
pub mod pacer;
pub mod retry;
pub mod sms;
pub mod tags;
pub mod window;
pub mod writer;

use crate::gsl::{Client, GslError};
use crate::journal::{Journal, Outcome, SessionTotals};
use crate::model::Status;
use operation::Operation;
use pacer::Pacer;
use retry::Decision;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// How hard to push, from the command line or the job file.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Requests per second to the operation's API, retries included.
    pub rate: f64,
    /// Workers, and so requests in flight at most.
    pub concurrency: usize,
    /// `--concurrency` was given: the in-flight window is fixed at it instead of following
    /// the observed latency (see [`window`]).
    pub fixed_concurrency: bool,
    /// Tries per row, the first included; 429s do not count.
    pub max_attempts: u32,
    pub max_failure_rate: f64,
    pub failure_min_rows: u64,
}

/// The workers a run has unless `--concurrency` says otherwise: the SPEC's most, 256. How many
/// of them may have a request in flight follows the observed latency ([`window`]): enough to
/// sustain `--rate`, and no more while the API stops answering.
pub const DEFAULT_CONCURRENCY: usize = 256;

/// How often a live run's session totals are written to the journal.
const SESSION_EVERY: Duration = Duration::from_secs(2);

/// A 429 storm must still end: after this many throttled answers one row gives up.
const MAX_THROTTLED_PER_ROW: u32 = 100;

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
            | Stop::Fatal(m) => Some(m.clone()),
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
    pub calls: AtomicU64,
    /// Calls made after the credentials were confirmed (the paced fan-out).
    pub paced_calls: AtomicU64,
    pub throttled: AtomicU64,
    pub retries: AtomicU64,
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

/// Shared by every worker of one run.
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
    first_call_at: Mutex<Option<String>>,
    last_call_at: Mutex<Option<String>>,
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

/// Work through the run's pending rows until done, stopped, or `shutdown` resolves.
///
/// The journal comes back (for the report) unless its writer failed.
pub async fn run(
    op: Arc<dyn Operation>,
    client: Client,
    journal: Journal,
    cfg: EngineConfig,
    counters: Arc<Counters>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> (Stop, Result<Journal, String>) {
    let journal_dir: PathBuf = journal
        .path()
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default();
    let session = journal.begin_session().ok();
    let (writer, writer_thread) = writer::Writer::start(journal);
    let (stop_tx, _) = watch::channel(None);
    let shared = Arc::new(Shared {
        pacer: Pacer::new(op.name(), cfg.rate),
        window: window::Window::new(cfg.rate, cfg.concurrency, cfg.fixed_concurrency),
        op,
        client,
        cfg: cfg.clone(),
        writer: writer.clone(),
        counters: counters.clone(),
        stop_tx,
        auth_confirmed: AtomicBool::new(false),
        auth_gate: tokio::sync::Mutex::new(()),
        first_call_at: Mutex::new(None),
        last_call_at: Mutex::new(None),
    });

    // Holds only a weak reference: the run must not outlive its workers because of it.
    let on_shutdown = {
        let shared = Arc::downgrade(&shared);
        tokio::spawn(async move {
            shutdown.await;
            if let Some(shared) = shared.upgrade() {
                shared.stop(Stop::Interrupted);
            }
        })
    };

    // The session's totals go to the journal every few seconds, so that `status` shows the rate
    // of a live run and a killed process's calls still count in the summary.
    let session_ticker = session.map(|id| {
        let shared = Arc::downgrade(&shared);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(SESSION_EVERY).await;
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                shared.writer.session(id, totals(&shared), None);
            }
        })
    });

    // Units queued ahead of the workers (each worker holds one more): a batch can be 500 cards.
    let (row_tx, row_rx) = mpsc::channel::<Unit>(64);
    let dispatcher = tokio::spawn(dispatch(journal_dir, row_tx, shared.clone()));
    let row_rx = Arc::new(tokio::sync::Mutex::new(row_rx));
    let mut workers = Vec::with_capacity(cfg.concurrency);
    for _ in 0..cfg.concurrency.max(1) {
        workers.push(tokio::spawn(worker(shared.clone(), row_rx.clone())));
    }
    for w in workers {
        let _ = w.await;
    }
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
        writer.session(id, totals(&shared), None);
    }
    drop(shared);
    let journal = tokio::task::spawn_blocking(move || writer_thread.finish(writer))
        .await
        .unwrap_or_else(|_| Err("journal writer panicked".into()));
    (stop, journal)
}

fn totals(shared: &Shared) -> SessionTotals {
    let c = &shared.counters;
    SessionTotals {
        calls: c.calls.load(Relaxed),
        paced_calls: c.paced_calls.load(Relaxed),
        throttled: c.throttled.load(Relaxed),
        retries: c.retries.load(Relaxed),
        first_call_at: shared.first_call_at.lock().expect("times").clone(),
        last_call_at: shared.last_call_at.lock().expect("times").clone(),
    }
}

/// One request's worth of rows: a single card, or one batch of a batched operation.
pub type Unit = Vec<(u64, String)>;

/// Feed pending rows as units, in row order, from the journal (read on a blocking thread).
///
/// Rows that share a batch number form one unit; a batch split across two reads of the
/// journal is held back until its end is seen.
async fn dispatch(dir: PathBuf, tx: mpsc::Sender<Unit>, shared: Arc<Shared>) {
    let reader = match tokio::task::spawn_blocking(move || Journal::open_read(&dir)).await {
        Ok(Ok(j)) => Arc::new(Mutex::new(j)),
        Ok(Err(e)) => {
            shared.stop(Stop::JournalFailed(e.to_string()));
            return;
        }
        Err(_) => return,
    };
    let mut after = 0u64;
    let mut open: (Option<i64>, Unit) = (None, Vec::new());
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
        for (row, key, batch) in chunk {
            after = row;
            if batch.is_none() || batch != open.0 {
                if !open.1.is_empty() {
                    ready.push(std::mem::take(&mut open.1));
                }
                open.0 = batch;
            }
            open.1.push((row, key));
            if batch.is_none() {
                ready.push(std::mem::take(&mut open.1));
            }
        }
        if last_chunk && !open.1.is_empty() {
            ready.push(std::mem::take(&mut open.1));
        }
        for unit in ready {
            tokio::select! {
                sent = tx.send(unit) => if sent.is_err() { return },
                _ = shared.stop_signal() => return,
            }
        }
        if last_chunk {
            return;
        }
    }
}

async fn worker(shared: Arc<Shared>, units: Arc<tokio::sync::Mutex<mpsc::Receiver<Unit>>>) {
    loop {
        if shared.stopped() {
            return;
        }
        let next = {
            let mut rx = units.lock().await;
            tokio::select! {
                r = rx.recv() => r,
                _ = shared.stop_signal() => None,
            }
        };
        let Some(unit) = next else { return };
        let Some(outcome) = work_unit(&shared, &unit).await else {
            continue;
        };
        for (row, _) in &unit {
            if let Some(st) = outcome.status {
                shared.counters.count(st);
            }
            shared.writer.outcome(Outcome {
                row: *row,
                ..outcome.clone()
            });
        }
        check_stops(&shared);
    }
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

/// Fill an outcome's error fields from a failure.
fn with_error(mut o: Outcome, err: &GslError) -> Outcome {
    o.http_status = err.http_status();
    o.error_code = Some(err.error_code());
    o.error_msg = Some(err.error_msg());
    o
}

/// One unit from first try to last; the outcome applies to each of its rows (its `row` field
/// is left 0 for the caller to fill in). `None`: nothing to record (stopped before any try).
async fn work_unit(shared: &Shared, unit: &[(u64, String)]) -> Option<Outcome> {
    let row = 0;
    let keys: Vec<String> = unit.iter().map(|(_, k)| k.clone()).collect();
    let first_row = unit.first().map(|(r, _)| *r).unwrap_or_default();
    let idempotent = shared.op.idempotent();
    let mut attempts = 0u32;
    let mut throttled = 0u32;
    let mut intent_recorded = false;
    let mut last_err: Option<GslError> = None;
    // Leave the row as it was, or — once its intent is recorded — explicitly `pending`:
    // everything that happened so far provably did nothing.
    let not_done = |attempts: u32, last_err: &Option<GslError>| {
        let o = Outcome {
            row,
            status: Some(Status::Pending),
            attempts,
            ..Outcome::default()
        };
        Some(match last_err {
            Some(e) => with_error(o, e),
            None => o,
        })
    };
    loop {
        if shared.stopped() {
            return if intent_recorded || attempts > 0 {
                not_done(attempts, &last_err)
            } else {
                None
            };
        }
        // Until an answer shows the credentials work, one request at a time.
        let gate = if shared.auth_confirmed.load(Relaxed) {
            None
        } else {
            let g = shared.auth_gate.lock().await;
            if shared.auth_confirmed.load(Relaxed) {
                None
            } else {
                Some(g)
            }
        };
        // A place in the in-flight window first, then the pacer's slot: a worker waiting for
        // a place holds no slot.
        let slot = tokio::select! {
            s = shared.window.enter() => s,
            _ = shared.stop_signal() => continue,
        };
        tokio::select! {
            _ = shared.pacer.acquire() => {}
            _ = shared.stop_signal() => continue,
        }
        if shared.stopped() {
            continue;
        }
        if !idempotent && !intent_recorded {
            if let Err(msg) = shared
                .writer
                .intent(unit.iter().map(|(r, _)| *r).collect())
                .await
            {
                shared.stop(Stop::JournalFailed(msg));
                return None;
            }
            intent_recorded = true;
        }
        let stamp = now_rfc3339();
        if gate.is_none() {
            // The achieved rate is measured from the fan-out on: the one-at-a-time calls
            // before the credentials were confirmed are not paced traffic.
            shared
                .first_call_at
                .lock()
                .expect("times")
                .get_or_insert_with(|| stamp.clone());
            shared.counters.paced_calls.fetch_add(1, Relaxed);
        }
        *shared.last_call_at.lock().expect("times") = Some(stamp);
        shared.counters.calls.fetch_add(1, Relaxed);
        let t0 = Instant::now();
        let result = shared.op.perform(&shared.client, &keys).await;
        drop(slot);
        let latency = t0.elapsed();
        let latency_ms = latency.as_millis() as u64;
        let answered = !matches!(
            &result,
            Err(GslError::Connect(_) | GslError::Timeout(_) | GslError::Closed(_))
                | Err(GslError::Unauthorized { .. } | GslError::Auth(_))
        );
        if answered {
            shared.auth_confirmed.store(true, Relaxed);
            shared.window.answered(latency);
        }
        // `gate` is held until this try's decision is taken: after a 401 the run is stopped
        // before the next worker may send.
        let base = Outcome {
            row,
            attempts: attempts + 1,
            latency_ms: Some(latency_ms),
            finished_at: Some(now_rfc3339()),
            ..Outcome::default()
        };
        let err = match result {
            Ok(done) => {
                return Some(Outcome {
                    status: Some(Status::Ok),
                    work_order_id: done.work_order_id,
                    real_named: done.real_named,
                    iccid: done.iccid,
                    ..base
                })
            }
            Err(e) => e,
        };
        if let Some(msg) = shared.op.fatal(&err) {
            shared.stop(Stop::Fatal(msg));
            // Refused before any work was done: the rows stay `pending` for a resume.
            return Some(with_error(
                Outcome {
                    status: Some(Status::Pending),
                    attempts,
                    ..base
                },
                &err,
            ));
        }
        let decision = retry::decide(&err, idempotent, attempts + 1, shared.cfg.max_attempts);
        tracing::debug!(row = first_row, rows = unit.len(), error = %err, ?decision, "try failed");
        match decision {
            Decision::Throttled(retry_after) => {
                shared.counters.throttled.fetch_add(1, Relaxed);
                shared.pacer.throttled(retry_after);
                throttled += 1;
                if throttled >= MAX_THROTTLED_PER_ROW {
                    return Some(with_error(
                        Outcome {
                            status: Some(Status::Failed),
                            attempts,
                            ..base
                        },
                        &err,
                    ));
                }
                last_err = Some(err);
            }
            Decision::Retry(why) => {
                attempts += 1;
                shared.counters.retries.fetch_add(1, Relaxed);
                tracing::debug!(row = first_row, attempt = attempts, why, "retrying");
                last_err = Some(err);
                tokio::select! {
                    _ = tokio::time::sleep(retry::backoff(attempts)) => {}
                    _ = shared.stop_signal() => {}
                }
            }
            Decision::Fail(why) => {
                tracing::debug!(row = first_row, why, "failed");
                return Some(with_error(
                    Outcome {
                        status: Some(Status::Failed),
                        ..base
                    },
                    &err,
                ));
            }
            Decision::Unknown(why) => {
                tracing::warn!(row = first_row, rows = unit.len(), error = %err, why, "outcome unknown: not sending again");
                return Some(with_error(
                    Outcome {
                        status: Some(Status::Unknown),
                        ..base
                    },
                    &err,
                ));
            }
            Decision::Abort => {
                shared.stop(Stop::AuthRejected(auth_message(shared, &err)));
                return with_error(
                    Outcome {
                        status: Some(Status::Pending),
                        attempts,
                        ..base
                    },
                    &err,
                )
                .into();
            }
        }
    }
}

/// The operator-facing explanation of a 401, with the clock hint in AK/SK mode.
fn auth_message(shared: &Shared, err: &GslError) -> String {
    format!(
        "{}; check the credentials, then resume the run",
        err.rejection(shared.client.credentials().mode())
    )
}
