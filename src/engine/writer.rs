//! The journal's one writer: a thread that owns the SQLite connection and group-commits.
//!
//! A run's tasks send intents (and wait for them to be durable) and outcomes (and go on, unless
//! the writer is a full queue behind). The thread
//! takes whatever has queued up since its last commit and writes it in one transaction, so at
//! high rates one fsync covers many rows, and at low rates each is committed within a few ms.
//! A failed write poisons the writer: every later intent is refused, so no request goes out
//! that the journal could not record.

use crate::journal::{Journal, JournalError, Outcome, SessionTotals};
use crate::ledger::store::{CardAct, LedgerSink};
use crate::model::Status;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// The rows of an intent that the account ledger refused, each with the reason.
pub type Refused = Vec<(u64, String)>;

/// Where an intent's verdict goes: the rows refused, or why nothing may be sent.
type ClaimAck = oneshot::Sender<Result<Refused, String>>;

enum Msg {
    /// Rows with their acts (for the account ledger's claims).
    Intent(Vec<CardAct>, ClaimAck),
    Outcome(Outcome),
    /// A refused batch's rows, in the parts each to be sent as a batch of its own.
    Split(Vec<Vec<u64>>, oneshot::Sender<Result<(), String>>),
    Session(i64, SessionTotals, Option<i32>),
    /// The session whose totals go into every transaction from now on, read when it is written.
    Live(i64, LiveTotals),
}

/// This process's totals as they stand; `None` once the run is over.
pub type LiveTotals = Box<dyn Fn() -> Option<SessionTotals> + Send>;

#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Msg>,
    failed: Arc<Mutex<Option<String>>>,
}

/// Handle to join the writer thread and get the journal back.
pub struct WriterThread {
    handle: std::thread::JoinHandle<Journal>,
}

/// The most messages folded into one transaction.
const MAX_GROUP: usize = 4096;
/// The most messages waiting for the writer. A run whose requests outpace the journal waits
/// here instead of queueing outcomes in memory: unbounded, a fast run's backlog grew by tens
/// of megabytes at a million rows.
const QUEUE: usize = 2 * MAX_GROUP;

impl Writer {
    pub fn start(journal: Journal, ledger: Option<LedgerSink>) -> (Writer, WriterThread) {
        let (tx, rx) = mpsc::channel::<Msg>(QUEUE);
        let failed = Arc::new(Mutex::new(None::<String>));
        let state = Committer {
            journal,
            ledger,
            ledger_failed: None,
            live: None,
            failed: failed.clone(),
        };
        let handle = std::thread::Builder::new()
            .name("journal-writer".into())
            .spawn(move || state.run(rx))
            .expect("spawn the journal writer thread");
        (Writer { tx, failed }, WriterThread { handle })
    }

    /// Record that the request for `rows` is about to be written, each row's card claimed in
    /// the account ledger first; returns once it is durable, with the rows whose card another
    /// run holds (now `skipped`: they must not be sent).
    pub async fn intent(&self, rows: Vec<CardAct>) -> Result<Refused, String> {
        let (ack, done) = oneshot::channel();
        self.tx
            .send(Msg::Intent(rows, ack))
            .await
            .map_err(|_| "journal writer stopped".to_string())?;
        done.await
            .unwrap_or_else(|_| Err("journal writer stopped".to_string()))
    }

    /// Turn a refused batch into `parts`, each a batch of its own with its rows `pending`;
    /// returns once that is durable.
    pub async fn split(&self, parts: Vec<Vec<u64>>) -> Result<(), String> {
        self.durably(|ack| Msg::Split(parts, ack)).await
    }

    /// Send a message that the writer acknowledges once it is on disk, and wait for that.
    async fn durably(
        &self,
        msg: impl FnOnce(oneshot::Sender<Result<(), String>>) -> Msg,
    ) -> Result<(), String> {
        let (ack, done) = oneshot::channel();
        self.tx
            .send(msg(ack))
            .await
            .map_err(|_| "journal writer stopped".to_string())?;
        done.await
            .unwrap_or_else(|_| Err("journal writer stopped".to_string()))
    }

    /// Queue an outcome; waits only while the writer is a full queue behind.
    pub async fn outcome(&self, o: Outcome) {
        let _ = self.tx.send(Msg::Outcome(o)).await;
    }

    /// From now on every transaction also writes session `id`'s totals as `f` reads them.
    pub async fn live_session(&self, id: i64, f: LiveTotals) {
        let _ = self.tx.send(Msg::Live(id, f)).await;
    }

    pub async fn session(&self, id: i64, totals: SessionTotals, exit_code: Option<i32>) {
        let _ = self.tx.send(Msg::Session(id, totals, exit_code)).await;
    }

    /// The first write failure, if any.
    pub fn failure(&self) -> Option<String> {
        self.failed.lock().expect("writer flag").clone()
    }
}

impl WriterThread {
    /// Wait until everything sent so far is written; the journal comes back.
    pub fn finish(self, writer: Writer) -> Result<Journal, String> {
        let failed = writer.failed.clone();
        drop(writer);
        let journal = self
            .handle
            .join()
            .map_err(|_| "journal writer thread panicked".to_string())?;
        let failure = failed.lock().expect("writer flag").clone();
        match failure {
            Some(msg) => Err(msg),
            None => Ok(journal),
        }
    }
}

/// What one transaction carries: the messages queued since the last one.
#[derive(Default)]
struct Group {
    claims: Vec<(Vec<CardAct>, ClaimAck)>,
    outcomes: Vec<Outcome>,
    splits: Vec<Vec<u64>>,
    acks: Vec<oneshot::Sender<Result<(), String>>>,
    sessions: Vec<(i64, SessionTotals, Option<i32>)>,
}

/// The writer thread: it owns the journal (and the ledger) and commits a [`Group`] at a time.
struct Committer {
    journal: Journal,
    ledger: Option<LedgerSink>,
    /// A ledger that could not be written refuses every later intent (nothing more is sent),
    /// while the journal goes on recording the answers that arrive.
    ledger_failed: Option<String>,
    /// The session whose totals go into every transaction.
    live: Option<(i64, LiveTotals)>,
    /// The first write failure: the writer is poisoned.
    failed: Arc<Mutex<Option<String>>>,
}

impl Committer {
    fn run(mut self, mut rx: mpsc::Receiver<Msg>) -> Journal {
        while let Some(first) = rx.blocking_recv() {
            let mut group = Group::default();
            let mut n = 1;
            self.take(&mut group, first);
            while n < MAX_GROUP {
                match rx.try_recv() {
                    Ok(m) => self.take(&mut group, m),
                    Err(_) => break,
                }
                n += 1;
            }
            self.commit(group);
        }
        self.journal
    }

    fn take(&mut self, g: &mut Group, m: Msg) {
        match m {
            Msg::Intent(rows, ack) => g.claims.push((rows, ack)),
            Msg::Outcome(o) => g.outcomes.push(o),
            Msg::Split(parts, ack) => {
                g.splits.extend(parts);
                g.acks.push(ack);
            }
            Msg::Session(id, t, code) => g.sessions.push((id, t, code)),
            Msg::Live(id, f) => self.live = Some((id, f)),
        }
    }

    /// The group in one transaction, the ledger's claims first, then every sender answered.
    fn commit(&mut self, mut g: Group) {
        let poisoned = self.failed.lock().expect("writer flag").clone();
        let refused = self.claim(&mut g, poisoned.is_some());
        let mut claimed = Vec::new();
        let result = match &poisoned {
            Some(_) => Ok(()),
            None => self.write(&mut g, refused, &mut claimed),
        };
        if result.is_ok() && poisoned.is_none() {
            self.record_outcomes(&g);
        }
        let verdict = match (poisoned, result) {
            (Some(msg), _) => Err(msg),
            (None, Ok(())) => Ok(()),
            (None, Err(msg)) => {
                // Said once, by the command's error (with what to do next).
                tracing::debug!("{msg}");
                *self.failed.lock().expect("writer flag") = Some(msg.clone());
                Err(msg)
            }
        };
        for ack in g.acks.drain(..) {
            let _ = ack.send(verdict.clone());
        }
        // Intents whose claims were not reached (a poisoned writer) are refused with the same
        // verdict: nothing of theirs may be sent.
        for (_, ack) in g.claims.drain(..) {
            let why = verdict.clone().err();
            let _ = ack.send(Err(why.unwrap_or_else(|| "ledger not written".into())));
        }
        for (refused, ack) in claimed {
            let _ = ack.send(verdict.clone().map(|()| refused));
        }
    }

    /// The ledger's claims of the group's intents, so that it is never behind the journal: the
    /// rows another run holds, with why. A ledger write that fails refuses these intents and
    /// every later one. A poisoned writer claims nothing.
    fn claim(&mut self, g: &mut Group, poisoned: bool) -> Refused {
        let refused = match (poisoned, &self.ledger_failed, self.ledger.as_mut()) {
            (false, None, Some(l)) if !g.claims.is_empty() => {
                let all: Vec<CardAct> = g
                    .claims
                    .iter()
                    .flat_map(|(r, _)| r.iter().cloned())
                    .collect();
                l.ledger
                    .claim(&l.run, &all)
                    .map_err(|e| format!("ledger write failed: {e}"))
            }
            _ => Ok(Vec::new()),
        };
        let refused = refused.unwrap_or_else(|msg| {
            tracing::error!("{msg}");
            self.ledger_failed = Some(msg);
            Vec::new()
        });
        if let Some(msg) = &self.ledger_failed {
            for (_, ack) in g.claims.drain(..) {
                let _ = ack.send(Err(msg.clone()));
            }
        }
        refused
    }

    /// The group's intents (a row another run holds becomes a `skipped` outcome), outcomes,
    /// split batches and session totals, in one transaction; `claimed` gets each intent's
    /// refused rows and its sender.
    fn write(
        &mut self,
        g: &mut Group,
        refused: Refused,
        claimed: &mut Vec<(Refused, ClaimAck)>,
    ) -> Result<(), String> {
        let refused: std::collections::HashMap<u64, String> = refused.into_iter().collect();
        let at = super::now_rfc3339();
        let mut intents = Vec::new();
        // Requests about to be written: each intent not wholly refused is one, not yet in the
        // counters read below.
        let mut calling = 0u64;
        for (rows, ack) in g.claims.drain(..) {
            let mut mine = Vec::new();
            let rows_len = rows.len();
            for r in rows {
                match refused.get(&r.row) {
                    Some(why) => {
                        g.outcomes.push(Outcome {
                            row: r.row,
                            status: Some(Status::Skipped),
                            error_msg: Some(why.clone()),
                            finished_at: Some(at.clone()),
                            ..Outcome::default()
                        });
                        mine.push((r.row, why.clone()));
                    }
                    None => intents.push(r.row),
                }
            }
            calling += u64::from(mine.len() < rows_len);
            claimed.push((mine, ack));
        }
        // The calls made so far, in the same transaction as the intents and outcomes: a
        // SIGKILL loses none that the journal shows were made (the periodic totals alone lost
        // up to two seconds' worth).
        let live = self.live.as_ref().and_then(|(id, f)| {
            f().map(|mut t| {
                t.calls += calling;
                (*id, t)
            })
        });
        let journal = &mut self.journal;
        journal
            .write(&intents, &g.outcomes, !intents.is_empty())
            .and_then(|_| match g.splits.is_empty() {
                true => Ok(()),
                false => journal.split_batches(&g.splits),
            })
            .and_then(|_| {
                g.sessions
                    .iter()
                    .map(|(id, t, c)| (id, t, *c))
                    .chain(live.iter().map(|(id, t)| (id, t, None)))
                    .try_for_each(|(id, t, c)| journal.update_session(*id, t, c))
            })
            .map_err(|e: JournalError| format!("journal write failed: {e}"))
    }

    /// The group's outcomes in the ledger. A split batch's rows are no longer in flight:
    /// nothing of the refused call was sent. A skipped row has no claim of this run.
    fn record_outcomes(&mut self, g: &Group) {
        let Some(l) = self.ledger.as_mut() else {
            return;
        };
        let done: Vec<_> = g
            .outcomes
            .iter()
            .filter(|o| o.status != Some(Status::Skipped))
            .filter_map(|o| o.status.map(|s| (o.row, s, o.work_order_id)))
            .chain(
                g.splits
                    .iter()
                    .flatten()
                    .map(|r| (*r, Status::Pending, None)),
            )
            .collect();
        if !done.is_empty() {
            if let Err(e) = l.ledger.record_outcomes(&l.run, &done) {
                // The claim is there, so the card still counts as maybe done.
                tracing::warn!("ledger outcome not recorded: {e}");
            }
        }
    }
}
