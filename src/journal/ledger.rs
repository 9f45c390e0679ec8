//! The account ledger: never twice across runs.
//!
//! A journal makes one run exactly-once; the ledger does it across runs. Every destructive
//! request's intent (before the journal's own, durably) and outcome are also recorded here, one
//! SQLite file per endpoint under the state directory (so a renewed token or another credential
//! mode finds the same ledger; rehearsals have one of their own). Before a destructive run is
//! confirmed, each card is looked up: one that an earlier run did — or may have done (`ok`,
//! `unknown`, or in flight when it stopped) — with the same operation and parameters within the
//! again-window is `skipped`. An intent that provably never left (`pending`) or a refusal
//! (`failed`) does not count.
//!
//! The ledger is an index, not the truth: [`Ledger::rebuild_from`] recreates it from journals.

use super::{Journal, JournalError, RowState};
use crate::model::Status;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS acts (
    run_dir TEXT NOT NULL,
    row INTEGER NOT NULL,
    card TEXT NOT NULL,
    operation TEXT NOT NULL,
    params TEXT NOT NULL,
    intent_at TEXT NOT NULL,
    status TEXT NOT NULL,
    work_order_id INTEGER,
    PRIMARY KEY (run_dir, row)
);
CREATE INDEX IF NOT EXISTS acts_card ON acts(card, operation, params, intent_at);
";

/// What a ledger entry's status is while its request may be on the wire.
const INFLIGHT: &str = "inflight";

#[derive(Debug, thiserror::Error)]
#[error("ledger {path}: {source}")]
pub struct LedgerError {
    path: String,
    #[source]
    source: rusqlite::Error,
}

/// Which run's rows a ledger write is about, and what they do.
#[derive(Debug, Clone)]
pub struct RunKey {
    /// The run dir, absolute: names the earlier run in a `skipped` row.
    pub run_dir: String,
    pub operation: String,
    /// What must be the same for a card to count as done already (the SMS text, ...).
    pub params: String,
}

/// An earlier act on a card: which run, when, how it ended, its work order.
#[derive(Debug, Clone, PartialEq)]
pub struct Act {
    pub run_dir: String,
    pub intent_at: String,
    pub status: String,
    pub work_order_id: Option<i64>,
}

impl Act {
    /// The `error_msg` of a row skipped because of this act.
    pub fn skip_reason(&self) -> String {
        let how = match self.status.as_str() {
            "ok" => "did it",
            _ => "may have done it (its outcome never arrived)",
        };
        let order = self
            .work_order_id
            .map(|w| format!(", work order {w}"))
            .unwrap_or_default();
        format!(
            "skipped: run {} {how} at {}{order}; --again sends it anyway",
            self.run_dir, self.intent_at
        )
    }
}

pub struct Ledger {
    conn: Connection,
    path: PathBuf,
}

fn now() -> String {
    chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
}

impl Ledger {
    /// `<state dir>/ledger/<endpoint>.sqlite`, or `rehearsal.sqlite` for rehearsals. The name
    /// is a hash of the endpoint URL: the same for every credential and token.
    pub fn path_for(state_dir: &Path, endpoint: &str, rehearsal: bool) -> PathBuf {
        let name = if rehearsal {
            "rehearsal".to_string()
        } else {
            let url = endpoint.trim().trim_end_matches('/').to_ascii_lowercase();
            format!(
                "endpoint-{}",
                hex::encode(&Sha256::digest(url.as_bytes())[..8])
            )
        };
        state_dir.join("ledger").join(format!("{name}.sqlite"))
    }

    /// Open (or create) the ledger at `path`.
    pub fn open(path: &Path) -> Result<Ledger, LedgerError> {
        let e = |source| LedgerError {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|io| {
                e(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                    Some(format!("cannot create {}: {io}", dir.display())),
                ))
            })?;
        }
        let conn = Connection::open_with_flags(
            path,
            // As the journal's: a connection is used by one thread at a time.
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(e)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(e)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(e)?;
        conn.execute_batch(SCHEMA).map_err(e)?;
        // A file that is not a ledger (or is corrupt) fails here, before anything is sent.
        conn.query_row("SELECT count(*) FROM acts", [], |r| r.get::<_, i64>(0))
            .map_err(e)?;
        Ok(Ledger {
            conn,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> LedgerError + '_ {
        move |source| LedgerError {
            path: self.path.display().to_string(),
            source,
        }
    }

    /// Record intents durably (`synchronous=FULL`): called before the journal's own.
    pub fn record_intents(
        &mut self,
        run: &RunKey,
        rows: &[(u64, String)],
    ) -> Result<(), LedgerError> {
        let at = now();
        self.write(true, |tx| {
            let mut st = tx.prepare_cached(
                "INSERT INTO acts(run_dir, row, card, operation, params, intent_at, status)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'inflight')
                 ON CONFLICT(run_dir, row) DO UPDATE SET card = excluded.card,
                 intent_at = excluded.intent_at, status = 'inflight', work_order_id = NULL",
            )?;
            for (row, card) in rows.iter().filter(|(_, c)| !c.is_empty()) {
                st.execute(params![
                    run.run_dir,
                    *row as i64,
                    card,
                    run.operation,
                    run.params,
                    at
                ])?;
            }
            Ok(())
        })
    }

    /// Record outcomes: `(row, status, work_order_id)` of rows whose intent is recorded.
    pub fn record_outcomes(
        &mut self,
        run: &RunKey,
        outcomes: &[(u64, Status, Option<i64>)],
    ) -> Result<(), LedgerError> {
        self.write(false, |tx| {
            let mut st = tx.prepare_cached(
                "UPDATE acts SET status = ?3, work_order_id = coalesce(?4, work_order_id)
                 WHERE run_dir = ?1 AND row = ?2",
            )?;
            for (row, status, wo) in outcomes {
                st.execute(params![run.run_dir, *row as i64, status.as_str(), wo])?;
            }
            Ok(())
        })
    }

    fn write(
        &mut self,
        durable: bool,
        f: impl FnOnce(&rusqlite::Transaction) -> rusqlite::Result<()>,
    ) -> Result<(), LedgerError> {
        let sync = if durable { "FULL" } else { "NORMAL" };
        let path = self.path.display().to_string();
        let e = |source| LedgerError {
            path: path.clone(),
            source,
        };
        self.conn
            .pragma_update(None, "synchronous", sync)
            .map_err(e)?;
        let tx = self.conn.transaction().map_err(e)?;
        f(&tx).and_then(|()| tx.commit()).map_err(e)
    }

    /// The latest act on `card` by another run with the same operation and parameters since
    /// `since` that did, or may have, happened.
    pub fn earlier(
        &self,
        run: &RunKey,
        card: &str,
        since: &str,
    ) -> Result<Option<Act>, LedgerError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT run_dir, intent_at, status, work_order_id FROM acts
                 WHERE card = ?1 AND operation = ?2 AND params = ?3 AND intent_at >= ?4
                   AND run_dir != ?5 AND status IN ('ok', 'unknown', 'inflight')
                 ORDER BY intent_at DESC LIMIT 1",
            )
            .map_err(self.err())?;
        st.query_row(
            params![card, run.operation, run.params, since, run.run_dir],
            |r| {
                Ok(Act {
                    run_dir: r.get(0)?,
                    intent_at: r.get(1)?,
                    status: r.get(2)?,
                    work_order_id: r.get(3)?,
                })
            },
        )
        .optional()
        .map_err(self.err())
    }

    /// Recreate the entries of one run from its journal (`gslbatch ledger rebuild`): every row
    /// that got as far as an intent. Returns how many entries were written.
    pub fn rebuild_from(&mut self, run: &RunKey, journal: &Journal) -> Result<u64, RebuildError> {
        let mut acts = Vec::new();
        journal
            .for_each_row(|r| {
                let status = match &r.status {
                    RowState::Is(s @ (Status::Ok | Status::Unknown | Status::Failed)) => s.as_str(),
                    RowState::InFlight => INFLIGHT,
                    _ => return Ok(()),
                };
                // A failed row without attempts was refused before sending: nothing to record.
                if r.attempts == 0 && status != INFLIGHT {
                    return Ok(());
                }
                if let Some(key) = r.key.filter(|k| !k.is_empty()) {
                    let at = r.finished_at.unwrap_or_else(now);
                    acts.push((r.row, key, status.to_string(), r.work_order_id, at));
                }
                Ok(())
            })?
            .expect("the closure never fails");
        let n = acts.len() as u64;
        self.write(true, |tx| {
            let mut st = tx.prepare_cached(
                "INSERT INTO acts(run_dir, row, card, operation, params, intent_at, status,
                 work_order_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT(run_dir, row) DO UPDATE SET card = excluded.card,
                 intent_at = excluded.intent_at, status = excluded.status,
                 work_order_id = excluded.work_order_id",
            )?;
            for (row, card, status, wo, at) in &acts {
                st.execute(params![
                    run.run_dir,
                    *row as i64,
                    card,
                    run.operation,
                    run.params,
                    at,
                    status,
                    wo
                ])?;
            }
            Ok(())
        })?;
        Ok(n)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}
