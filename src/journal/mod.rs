//! The run's write-ahead record in SQLite: its settings, every input row, each row's intent and
//! outcome. The report, the summary, `status` and `resume` all read from here, never from memory.
//!
//! One connection writes (the engine's journal writer thread); readers open their own. WAL mode, so
//! readers never block the writer. Commits are `synchronous=NORMAL` (survives a killed process)
//! except those carrying intents, which are `synchronous=FULL` (survive a power cut): after any
//! crash, a row whose intent is recorded and whose outcome is not was in flight.

use crate::model::Status;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod follow;
pub mod ingest;
mod read;
mod rows;
mod sessions;

pub use follow::FollowUpdate;
pub use read::{FollowCounts, RowState, StoredRow};
pub use rows::{NewRow, Outcome, PendingRow};
pub use sessions::SessionTotals;

pub const FILE_NAME: &str = "journal.sqlite";

/// Refuse a directory that holds no journal before anything is made in it (`resume` and
/// `follow` would otherwise leave their lock file behind in a directory that is not a run's).
pub fn require_run_dir(dir: &std::path::Path) -> Result<(), String> {
    match dir.is_dir() && !dir.join(FILE_NAME).is_file() {
        true => Err(format!(
            "{} is not a gslbatch run directory (no {FILE_NAME} in it): nothing was changed",
            dir.display()
        )),
        false => Ok(()),
    }
}

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
    extras TEXT,
    arg TEXT
);
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
    note TEXT,
    clock_offset_ms INTEGER,
    clock_error_ms INTEGER
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
    #[error("run dir {0}: no such directory")]
    NoDir(String),
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
    /// How hard the run pushes, as it was started (or last resumed) with: `resume` carries on
    /// with these unless given new ones.
    #[serde(default)]
    pub settings: Settings,
    /// Made when the run started: what the account ledger knows this run by, whatever its
    /// directory is called later. `None` in journals written before runs had ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// `--again`: the run acts on cards an earlier run already did (only a live claim of
    /// another run keeps a card from it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub again: bool,
    /// `--again-window` in seconds, when given: how far back an earlier run's act counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub again_window_secs: Option<u64>,
}

/// A new run's id: its start time and 64 random bits, never made twice.
pub fn new_run_id() -> String {
    format!(
        "{}-{:016x}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
        fastrand::u64(..) ^ u64::from(std::process::id()).rotate_left(40)
    )
}

/// The run's settings that `resume` keeps: each one as given (on the command line or in the job
/// file), `None` where the default applies.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Settings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<crate::model::Rate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_failure_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_min_rows: Option<u64>,
    /// The quota a 429 named, when it was below the rate asked for (then `rate` is it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<f64>,
    /// `--report FILE` (a file, not `-`): `resume` and `report` write there unless told
    /// otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
    /// How the CSV report's text is encoded (`--report-encoding`, else chosen from the input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_encoding: Option<crate::model::ReportEncoding>,
}

impl Settings {
    /// These settings with every value given in `newer` replacing the stored one.
    pub fn updated(&self, newer: &Settings) -> Settings {
        Settings {
            rate: newer.rate.or(self.rate),
            concurrency: newer.concurrency.or(self.concurrency),
            max_attempts: newer.max_attempts.or(self.max_attempts),
            timeout: newer.timeout.or(self.timeout),
            max_failure_rate: newer.max_failure_rate.or(self.max_failure_rate),
            failure_min_rows: newer.failure_min_rows.or(self.failure_min_rows),
            quota: newer.quota.or(self.quota),
            report: newer.report.clone().or_else(|| self.report.clone()),
            report_encoding: newer.report_encoding.or(self.report_encoding),
        }
    }
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

    /// Run `f` in one transaction and commit it; any SQLite error names the journal's file.
    fn in_transaction(
        &mut self,
        f: impl FnOnce(&rusqlite::Transaction) -> rusqlite::Result<()>,
    ) -> Result<(), JournalError> {
        let tx = self
            .conn
            .transaction()
            .map_err(|source| JournalError::Sqlite {
                path: self.path.display().to_string(),
                source,
            })?;
        f(&tx).and_then(|()| tx.commit()).map_err(self.err())
    }

    fn connect(path: &Path, flags: OpenFlags) -> Result<Connection, JournalError> {
        let e = |source| JournalError::Sqlite {
            path: path.display().to_string(),
            source,
        };
        // No per-call mutex: a `Connection` is never shared between threads (it is not
        // `Sync`), and SQLite's serialized mode locked one on every column read of a report.
        let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .map_err(e)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(e)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(e)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(e)?;
        Ok(conn)
    }

    /// Create the journal of a new run in `dir` (which must exist).
    ///
    /// The file appears whole or not at all: it is made under another name, its tables and
    /// settings written and synced, then renamed into place. A process killed in its first
    /// milliseconds leaves no journal without settings, which nothing could open or resume.
    pub fn create(dir: &Path, meta: &RunMeta) -> Result<Journal, JournalError> {
        let path = dir.join(FILE_NAME);
        let fresh = dir.join(format!("{FILE_NAME}.new"));
        let e = |source| JournalError::Sqlite {
            path: path.display().to_string(),
            source,
        };
        let io = |err: std::io::Error| {
            e(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                Some(err.to_string()),
            ))
        };
        for f in [&fresh, &dir.join(format!("{FILE_NAME}.new-journal"))] {
            let _ = std::fs::remove_file(f);
        }
        crate::rundir::create_private_file(&fresh).map_err(io)?;
        {
            let conn = Connection::open_with_flags(
                &fresh,
                OpenFlags::SQLITE_OPEN_READ_WRITE
                    | OpenFlags::SQLITE_OPEN_CREATE
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(e)?;
            conn.pragma_update(None, "synchronous", "FULL").map_err(e)?;
            conn.execute_batch(SCHEMA).map_err(e)?;
            let staged = Journal {
                conn,
                path: fresh.clone(),
            };
            staged.set_meta(meta)?;
        }
        std::fs::rename(&fresh, &path).map_err(io)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        let conn = Self::connect(&path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        Ok(Journal { conn, path })
    }

    /// Open an existing run's journal for writing.
    pub fn open(dir: &Path) -> Result<Journal, JournalError> {
        Self::open_with(dir, OpenFlags::SQLITE_OPEN_READ_WRITE)
    }

    /// Open an existing run's journal to read it (while another process may be writing).
    ///
    /// A run dir the user cannot write (read-only media, another user's finished run) is read
    /// as an immutable file, as long as no write-ahead log holds rows not yet in it: SQLite
    /// would otherwise need to make its `-shm` file beside the journal.
    pub fn open_read(dir: &Path) -> Result<Journal, JournalError> {
        let err = match Self::open_with(dir, OpenFlags::SQLITE_OPEN_READ_WRITE) {
            Ok(j) => return Ok(j),
            Err(e) => e,
        };
        let path = dir.join(FILE_NAME);
        let wal = dir.join(format!("{FILE_NAME}-wal"));
        let wal_empty = std::fs::metadata(&wal).map_or(true, |m| m.len() == 0);
        // Only the errors of a place that cannot be written: anything else stands.
        let read_only = matches!(&err, JournalError::Sqlite { source, .. }
            if matches!(source.sqlite_error_code(),
                Some(rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::CannotOpen)));
        if !path.exists() || !wal_empty || !read_only {
            return Err(err);
        }
        let e = |source| JournalError::Sqlite {
            path: path.display().to_string(),
            source,
        };
        let absolute = std::path::absolute(&path).unwrap_or_else(|_| path.clone());
        let mut uri = url::Url::from_file_path(&absolute).map_err(|()| err)?;
        uri.set_query(Some("immutable=1"));
        let conn = Connection::open_with_flags(
            uri.as_str(),
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(e)?;
        let j = Journal { conn, path };
        j.meta()?;
        Ok(j)
    }

    fn open_with(dir: &Path, flags: OpenFlags) -> Result<Journal, JournalError> {
        let path = dir.join(FILE_NAME);
        if !dir.exists() {
            return Err(JournalError::NoDir(dir.display().to_string()));
        }
        if !path.exists() {
            return Err(JournalError::NotARun(path.display().to_string()));
        }
        let conn = Self::connect(&path, flags)?;
        let j = Journal { conn, path };
        j.meta()?;
        j.add_arg_column()?;
        j.add_clock_columns()?;
        Ok(j)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A journal written before rows had their own request value (bind-imei's IMEI) gets the
    /// column, empty: none of its operations has one.
    fn add_arg_column(&self) -> Result<(), JournalError> {
        let has: bool = self
            .conn
            .query_row(
                "SELECT count(*) FROM pragma_table_info('rows') WHERE name = 'arg'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(self.err())?
            > 0;
        if !has {
            self.conn
                .execute_batch("ALTER TABLE rows ADD COLUMN arg TEXT")
                .map_err(self.err())?;
        }
        Ok(())
    }

    /// A journal written before sessions recorded the API's clock gets the columns, empty: its
    /// sessions measured nothing (so `follow` proves nothing absent by their times).
    fn add_clock_columns(&self) -> Result<(), JournalError> {
        let has: bool = self
            .conn
            .query_row(
                "SELECT count(*) FROM pragma_table_info('sessions') WHERE name = 'clock_offset_ms'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(self.err())?
            > 0;
        if has {
            return Ok(());
        }
        for column in ["clock_offset_ms", "clock_error_ms"] {
            let added = self
                .conn
                .execute_batch(&format!("ALTER TABLE sessions ADD COLUMN {column} INTEGER"));
            match added {
                // Another process (`status` beside the run) may have added it just now.
                Err(e) if e.to_string().contains("duplicate column") => {}
                r => r.map_err(self.err())?,
            }
        }
        Ok(())
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
}
