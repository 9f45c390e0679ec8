//! The run's write-ahead record in SQLite: its settings, every input row, each row's intent and
//! outcome. The report, the summary, `status` and `resume` all read from here, never from memory.
//!
//! One connection writes (the engine's collector thread); readers open their own. WAL mode, so
//! readers never block the writer. Commits are `synchronous=NORMAL` (survives a killed process)
//! except those carrying intents, which are `synchronous=FULL` (survive a power cut): after any
//! crash, a row whose intent is recorded and whose outcome is not was in flight.

use crate::model::Status;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = "journal.sqlite";

/// The journal-only state of a row whose request may be on the wire.
pub const INFLIGHT: &str = "inflight";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rows (
    row INTEGER PRIMARY KEY,
    location TEXT NOT NULL,
    raw TEXT NOT NULL,
    key TEXT,
    status TEXT NOT NULL,
    batch INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    http_status INTEGER,
    error_code TEXT,
    error_msg TEXT,
    work_order_id INTEGER,
    real_named INTEGER,
    sim_card_id INTEGER,
    latency_ms INTEGER,
    finished_at TEXT,
    follow_status TEXT,
    follow_detail TEXT,
    follow_time1 TEXT,
    follow_time2 TEXT,
    extras TEXT
);
CREATE INDEX IF NOT EXISTS rows_status ON rows(status, row);
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY,
    pid INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    calls INTEGER NOT NULL DEFAULT 0,
    paced_calls INTEGER NOT NULL DEFAULT 0,
    throttled INTEGER NOT NULL DEFAULT 0,
    retries INTEGER NOT NULL DEFAULT 0,
    first_call_at TEXT,
    last_call_at TEXT,
    exit_code INTEGER,
    note TEXT
);
";

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {path}: {source}")]
    Sqlite {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("journal {0}: not a gslbatch run directory (no run settings)")]
    NotARun(String),
    #[error("journal {path}: {reason}")]
    Corrupt { path: String, reason: String },
}

/// The settings a run was started with: what `resume` takes from the journal.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunMeta {
    pub operation: String,
    pub endpoint: String,
    pub inputs: Vec<String>,
    pub extra_columns: Vec<String>,
    pub rehearsal: bool,
    pub created_at: String,
    /// Identifies the job, so that starting a different job on this run dir is refused.
    pub fingerprint: String,
    /// Operation-specific settings (SMS content, order id, tag ids...).
    #[serde(default)]
    pub params: serde_json::Value,
    /// Input rows read, once ingestion finished; `None` while it is still going on.
    #[serde(default)]
    pub total_rows: Option<u64>,
}

/// A row as read from the input, on its way into the journal.
#[derive(Debug, Clone)]
pub struct NewRow {
    pub row: u64,
    pub location: String,
    pub raw: String,
    pub key: Option<String>,
    pub status: Status,
    pub error_msg: Option<String>,
    pub extras: Vec<String>,
    /// The request this row is sent in, for operations that send many cards per call.
    pub batch: Option<i64>,
}

/// What became of one row's request.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub row: u64,
    pub status: Option<Status>,
    pub attempts: u32,
    pub http_status: Option<u16>,
    pub error_code: Option<String>,
    pub error_msg: Option<String>,
    pub work_order_id: Option<i64>,
    pub real_named: Option<bool>,
    pub latency_ms: Option<u64>,
    pub finished_at: Option<String>,
    /// The card's ICCID from the answer: kept (as the row's `raw`, shown under `iccid`) only
    /// for a row given by `sim_card_id`, whose input had none.
    pub iccid: Option<String>,
}

/// What `follow` learnt about one row (`None` fields keep what the journal holds).
#[derive(Debug, Clone, Default)]
pub struct FollowUpdate {
    pub row: u64,
    pub status: Option<String>,
    pub detail: Option<String>,
    pub time1: Option<String>,
    pub time2: Option<String>,
}

/// A row as the report shows it.
#[derive(Debug, Clone, Default)]
pub struct StoredRow {
    pub row: u64,
    pub location: String,
    pub raw: String,
    pub key: Option<String>,
    /// Journal status; `inflight` is mapped by the reader of the row.
    pub status: String,
    pub batch: Option<i64>,
    pub attempts: u32,
    pub http_status: Option<u16>,
    pub error_code: Option<String>,
    pub error_msg: Option<String>,
    pub work_order_id: Option<i64>,
    pub real_named: Option<bool>,
    pub sim_card_id: Option<i64>,
    pub latency_ms: Option<u64>,
    pub finished_at: Option<String>,
    pub follow_status: Option<String>,
    pub follow_detail: Option<String>,
    pub follow_time1: Option<String>,
    pub follow_time2: Option<String>,
    pub extras: Vec<String>,
}

/// Totals of one process's work on the run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SessionTotals {
    pub calls: u64,
    /// Calls from `first_call_at` on: the fan-out after the credentials were confirmed.
    pub paced_calls: u64,
    pub throttled: u64,
    pub retries: u64,
    pub first_call_at: Option<String>,
    pub last_call_at: Option<String>,
}

pub struct Journal {
    conn: Connection,
    path: PathBuf,
}

fn now() -> String {
    chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
}

impl Journal {
    fn err(&self) -> impl Fn(rusqlite::Error) -> JournalError + '_ {
        move |source| JournalError::Sqlite {
            path: self.path.display().to_string(),
            source,
        }
    }

    fn connect(path: &Path, flags: OpenFlags) -> Result<Connection, JournalError> {
        let e = |source| JournalError::Sqlite {
            path: path.display().to_string(),
            source,
        };
        let conn = Connection::open_with_flags(path, flags).map_err(e)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(e)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(e)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(e)?;
        Ok(conn)
    }

    /// Create the journal of a new run in `dir` (which must exist).
    pub fn create(dir: &Path, meta: &RunMeta) -> Result<Journal, JournalError> {
        let path = dir.join(FILE_NAME);
        let conn = Self::connect(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        )?;
        let j = Journal { conn, path };
        j.conn.execute_batch(SCHEMA).map_err(j.err())?;
        j.set_meta(meta)?;
        Ok(j)
    }

    /// Open an existing run's journal for writing.
    pub fn open(dir: &Path) -> Result<Journal, JournalError> {
        Self::open_with(dir, OpenFlags::SQLITE_OPEN_READ_WRITE)
    }

    /// Open an existing run's journal to read it (while another process may be writing).
    pub fn open_read(dir: &Path) -> Result<Journal, JournalError> {
        Self::open_with(dir, OpenFlags::SQLITE_OPEN_READ_WRITE)
    }

    fn open_with(dir: &Path, flags: OpenFlags) -> Result<Journal, JournalError> {
        let path = dir.join(FILE_NAME);
        if !path.exists() {
            return Err(JournalError::NotARun(path.display().to_string()));
        }
        let conn = Self::connect(&path, flags)?;
        let j = Journal { conn, path };
        j.meta()?;
        Ok(j)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn set_meta(&self, meta: &RunMeta) -> Result<(), JournalError> {
        let json = serde_json::to_string(meta).expect("meta serialises");
        self.conn
            .execute(
                "INSERT INTO meta(key, value) VALUES ('run', ?1)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![json],
            )
            .map_err(self.err())?;
        Ok(())
    }

    pub fn meta(&self) -> Result<RunMeta, JournalError> {
        let json: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'run'", [], |r| r.get(0))
            .optional()
            .map_err(self.err())?;
        let json = json.ok_or_else(|| JournalError::NotARun(self.path.display().to_string()))?;
        serde_json::from_str(&json).map_err(|e| JournalError::Corrupt {
            path: self.path.display().to_string(),
            reason: format!("run settings: {e}"),
        })
    }

    /// Insert input rows in one transaction (the caller chunks them).
    pub fn insert_rows(&mut self, rows: &[NewRow]) -> Result<(), JournalError> {
        let path = self.path.clone();
        let e = |source| JournalError::Sqlite {
            path: path.display().to_string(),
            source,
        };
        let tx = self.conn.transaction().map_err(e)?;
        {
            let mut st = tx
                .prepare_cached(
                    "INSERT INTO rows(row, location, raw, key, status, error_msg, extras, batch)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(e)?;
            for r in rows {
                let extras = if r.extras.is_empty() {
                    None
                } else {
                    Some(serde_json::to_string(&r.extras).expect("strings serialise"))
                };
                st.execute(params![
                    r.row as i64,
                    r.location,
                    r.raw,
                    r.key,
                    r.status.as_str(),
                    r.error_msg,
                    extras,
                    r.batch
                ])
                .map_err(e)?;
            }
        }
        tx.commit().map_err(e)?;
        Ok(())
    }

    /// Up to `limit` rows with `status = pending` after `after`, in row order: (row, key, batch).
    pub fn pending_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, String, Option<i64>)>, JournalError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT row, key, batch FROM rows WHERE status = 'pending' AND row > ?1
                 ORDER BY row LIMIT ?2",
            )
            .map_err(self.err())?;
        let rows = st
            .query_map(params![after as i64, limit as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)? as u64,
                    r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                    r.get::<_, Option<i64>>(2)?,
                ))
            })
            .map_err(self.err())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err())?;
        Ok(rows)
    }

    /// Every valid card key of the run (for a rehearsal's simulator).
    pub fn keys(&self) -> Result<Vec<String>, JournalError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT key FROM rows WHERE key IS NOT NULL AND status != 'duplicate' ORDER BY row",
            )
            .map_err(self.err())?;
        let keys = st
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(self.err())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err())?;
        Ok(keys)
    }

    /// Mark rows in flight, durably (`synchronous=FULL`) — before their request is written.
    pub fn record_intents(&mut self, rows: &[u64]) -> Result<(), JournalError> {
        self.write(rows, &[], true)
    }

    /// Record outcomes (and any intents) in one transaction.
    pub fn write(
        &mut self,
        intents: &[u64],
        outcomes: &[Outcome],
        durable: bool,
    ) -> Result<(), JournalError> {
        let path = self.path.clone();
        let e = |source| JournalError::Sqlite {
            path: path.display().to_string(),
            source,
        };
        let sync = if durable { "FULL" } else { "NORMAL" };
        self.conn
            .pragma_update(None, "synchronous", sync)
            .map_err(e)?;
        let tx = self.conn.transaction().map_err(e)?;
        {
            let mut st = tx
                .prepare_cached("UPDATE rows SET status = 'inflight' WHERE row = ?1")
                .map_err(e)?;
            for r in intents {
                st.execute(params![*r as i64]).map_err(e)?;
            }
            let mut st = tx
                .prepare_cached(
                    "UPDATE rows SET status = coalesce(?2, status), attempts = ?3,
                     http_status = ?4, error_code = ?5, error_msg = ?6, work_order_id = ?7,
                     real_named = ?8, latency_ms = ?9, finished_at = ?10,
                     raw = CASE WHEN ?11 IS NOT NULL AND key LIKE '#%' THEN ?11 ELSE raw END
                     WHERE row = ?1",
                )
                .map_err(e)?;
            for o in outcomes {
                st.execute(params![
                    o.row as i64,
                    o.status.map(|s| s.as_str()),
                    o.attempts,
                    o.http_status,
                    o.error_code,
                    o.error_msg,
                    o.work_order_id,
                    o.real_named,
                    o.latency_ms.map(|l| l as i64),
                    o.finished_at,
                    o.iccid,
                ])
                .map_err(e)?;
            }
        }
        tx.commit().map_err(e)?;
        Ok(())
    }

    /// After a crash: rows left in flight become `pending` (idempotent operations: safe to send
    /// again) or `unknown` (non-idempotent: they may have happened). Returns how many.
    pub fn settle_inflight(&mut self, idempotent: bool) -> Result<usize, JournalError> {
        let n = if idempotent {
            self.conn.execute(
                "UPDATE rows SET status = 'pending' WHERE status = 'inflight'",
                [],
            )
        } else {
            self.conn.execute(
                "UPDATE rows SET status = 'unknown', error_code = 'INTERRUPTED',
                 error_msg = 'in flight when the process stopped: it may or may not have happened',
                 finished_at = ?1 WHERE status = 'inflight'",
                params![now()],
            )
        }
        .map_err(self.err())?;
        Ok(n)
    }

    /// Put rows of one status back to `pending` (resume `--retry-failed`, `--resend-unknown`).
    pub fn requeue(&mut self, from: Status) -> Result<usize, JournalError> {
        self.conn
            .execute(
                "UPDATE rows SET status = 'pending' WHERE status = ?1",
                params![from.as_str()],
            )
            .map_err(self.err())
    }

    /// Record what `follow` learnt about rows, in one transaction: the follow-up status, its
    /// detail and two times (SMS sent / received), each `None` leaving the stored value.
    pub fn set_follow(&mut self, updates: &[FollowUpdate]) -> Result<(), JournalError> {
        let path = self.path.clone();
        let e = |source| JournalError::Sqlite {
            path: path.display().to_string(),
            source,
        };
        let tx = self.conn.transaction().map_err(e)?;
        {
            let mut st = tx
                .prepare_cached(
                    "UPDATE rows SET follow_status = coalesce(?2, follow_status),
                     follow_detail = coalesce(?3, follow_detail),
                     follow_time1 = coalesce(?4, follow_time1),
                     follow_time2 = coalesce(?5, follow_time2) WHERE row = ?1",
                )
                .map_err(e)?;
            for u in updates {
                st.execute(params![u.row as i64, u.status, u.detail, u.time1, u.time2])
                    .map_err(e)?;
            }
        }
        tx.commit().map_err(e)?;
        Ok(())
    }

    /// An `unknown` row proven done by `follow`: `ok`, with the work order found (if any) and
    /// `note` saying what proved it (after the lost answer's message); the lost answer's
    /// `error_code` and `http_status` go, since the row did not fail. Rows no longer `unknown`
    /// are left alone; returns whether the row changed.
    pub fn settle_unknown(
        &mut self,
        row: u64,
        work_order_id: Option<i64>,
        note: &str,
    ) -> Result<bool, JournalError> {
        let n = self
            .conn
            .execute(
                "UPDATE rows SET status = 'ok', work_order_id = coalesce(?2, work_order_id),
                 error_msg = ?3, error_code = NULL, http_status = NULL
                 WHERE row = ?1 AND status = 'unknown'",
                params![row as i64, work_order_id, note],
            )
            .map_err(self.err())?;
        Ok(n > 0)
    }

    /// Replace a row's `error_msg` (follow's reason why an `unknown` row stays unknown).
    pub fn set_error_msg(&mut self, row: u64, msg: &str) -> Result<(), JournalError> {
        self.conn
            .execute(
                "UPDATE rows SET error_msg = ?2 WHERE row = ?1",
                params![row as i64, msg],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Row counts per journal status (`inflight` included).
    pub fn counts(&self) -> Result<BTreeMap<String, u64>, JournalError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT status, count(*) FROM rows GROUP BY status")
            .map_err(self.err())?;
        let out = st
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
            })
            .map_err(self.err())?
            .collect::<Result<BTreeMap<_, _>, _>>()
            .map_err(self.err())?;
        Ok(out)
    }

    /// Every row in input order, one at a time (memory stays flat for any size).
    pub fn for_each_row(
        &self,
        mut f: impl FnMut(StoredRow) -> std::io::Result<()>,
    ) -> Result<std::io::Result<()>, JournalError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT row, location, raw, key, status, batch, attempts, http_status, error_code,
                 error_msg, work_order_id, real_named, sim_card_id, latency_ms, finished_at,
                 follow_status, follow_detail, follow_time1, follow_time2, extras
                 FROM rows ORDER BY row",
            )
            .map_err(self.err())?;
        let mut rows = st.query([]).map_err(self.err())?;
        while let Some(r) = rows.next().map_err(self.err())? {
            let extras: Option<String> = r.get(19).map_err(self.err())?;
            let row = (|| -> rusqlite::Result<StoredRow> {
                Ok(StoredRow {
                    row: r.get::<_, i64>(0)? as u64,
                    location: r.get(1)?,
                    raw: r.get(2)?,
                    key: r.get(3)?,
                    status: r.get(4)?,
                    batch: r.get(5)?,
                    attempts: r.get::<_, i64>(6)? as u32,
                    http_status: r.get::<_, Option<i64>>(7)?.map(|v| v as u16),
                    error_code: r.get(8)?,
                    error_msg: r.get(9)?,
                    work_order_id: r.get(10)?,
                    real_named: r.get(11)?,
                    sim_card_id: r.get(12)?,
                    latency_ms: r.get::<_, Option<i64>>(13)?.map(|v| v as u64),
                    finished_at: r.get(14)?,
                    follow_status: r.get(15)?,
                    follow_detail: r.get(16)?,
                    follow_time1: r.get(17)?,
                    follow_time2: r.get(18)?,
                    extras: extras
                        .as_deref()
                        .and_then(|s| serde_json::from_str(s).ok())
                        .unwrap_or_default(),
                })
            })()
            .map_err(self.err())?;
            if let Err(io) = f(row) {
                return Ok(Err(io));
            }
        }
        Ok(Ok(()))
    }

    /// Latency percentiles (ms) over rows that got an answer.
    pub fn latency_percentiles(&self, ps: &[f64]) -> Result<Vec<Option<u64>>, JournalError> {
        let n: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM rows WHERE latency_ms IS NOT NULL",
                [],
                |r| r.get(0),
            )
            .map_err(self.err())?;
        let mut out = Vec::new();
        for p in ps {
            if n == 0 {
                out.push(None);
                continue;
            }
            let k = (((n as f64) * p).ceil() as i64 - 1).clamp(0, n - 1);
            let v: i64 = self
                .conn
                .query_row(
                    "SELECT latency_ms FROM rows WHERE latency_ms IS NOT NULL
                     ORDER BY latency_ms LIMIT 1 OFFSET ?1",
                    params![k],
                    |r| r.get(0),
                )
                .map_err(self.err())?;
            out.push(Some(v as u64));
        }
        Ok(out)
    }

    /// The most common error codes among failed / unknown rows.
    pub fn top_errors(&self, limit: usize) -> Result<Vec<(String, u64)>, JournalError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT error_code, count(*) AS n FROM rows
                 WHERE status IN ('failed', 'unknown') AND error_code IS NOT NULL
                 GROUP BY error_code ORDER BY n DESC, error_code LIMIT ?1",
            )
            .map_err(self.err())?;
        let out = st
            .query_map(params![limit as i64], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
            })
            .map_err(self.err())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err())?;
        Ok(out)
    }

    /// The latest `finished_at` of any row.
    pub fn last_update(&self) -> Result<Option<String>, JournalError> {
        self.conn
            .query_row("SELECT max(finished_at) FROM rows", [], |r| r.get(0))
            .map_err(self.err())
    }

    /// Start a session record for this process; returns its id.
    pub fn begin_session(&self) -> Result<i64, JournalError> {
        self.conn
            .execute(
                "INSERT INTO sessions(pid, started_at) VALUES (?1, ?2)",
                params![std::process::id(), now()],
            )
            .map_err(self.err())?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Update this process's session totals.
    pub fn update_session(
        &self,
        id: i64,
        t: &SessionTotals,
        exit_code: Option<i32>,
    ) -> Result<(), JournalError> {
        self.conn
            .execute(
                "UPDATE sessions SET calls = ?2, throttled = ?3, retries = ?4, first_call_at = ?5,
                 last_call_at = ?6, exit_code = ?7, paced_calls = ?9,
                 ended_at = CASE WHEN ?7 IS NULL THEN NULL ELSE ?8 END
                 WHERE id = ?1",
                params![
                    id,
                    t.calls as i64,
                    t.throttled as i64,
                    t.retries as i64,
                    t.first_call_at,
                    t.last_call_at,
                    exit_code,
                    now(),
                    t.paced_calls as i64
                ],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Every session of the run: (started_at, ended_at, totals, exit code).
    #[allow(clippy::type_complexity)]
    pub fn sessions(
        &self,
    ) -> Result<Vec<(String, Option<String>, SessionTotals, Option<i32>)>, JournalError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT started_at, ended_at, calls, throttled, retries, first_call_at,
                 last_call_at, exit_code, paced_calls FROM sessions ORDER BY id",
            )
            .map_err(self.err())?;
        let out = st
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    SessionTotals {
                        calls: r.get::<_, i64>(2)? as u64,
                        paced_calls: r.get::<_, i64>(8)? as u64,
                        throttled: r.get::<_, i64>(3)? as u64,
                        retries: r.get::<_, i64>(4)? as u64,
                        first_call_at: r.get(5)?,
                        last_call_at: r.get(6)?,
                    },
                    r.get(7)?,
                ))
            })
            .map_err(self.err())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err())?;
        Ok(out)
    }
}
