//! Reading a run back: rows for the report, counts and totals for `status` and the summary.

use super::*;

/// A row's state as the journal holds it: one of the report's statuses, or in flight (a state
/// only the journal has: the report shows it as `resume` will settle it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowState {
    Is(Status),
    InFlight,
    /// Written by another build: shown as an error, never guessed.
    Unrecognized(String),
}

impl RowState {
    pub fn parse(s: String) -> RowState {
        if s == INFLIGHT {
            return RowState::InFlight;
        }
        match s.parse() {
            Ok(st) => RowState::Is(st),
            Err(_) => RowState::Unrecognized(s),
        }
    }

    /// The status a report shows: a row in flight is `pending` for an operation that is safe
    /// to repeat, `unknown` for one that is not.
    pub fn shown(&self, idempotent: bool) -> Option<Status> {
        match self {
            RowState::Is(s) => Some(*s),
            RowState::InFlight if idempotent => Some(Status::Pending),
            RowState::InFlight => Some(Status::Unknown),
            RowState::Unrecognized(_) => None,
        }
    }
}

/// A row as the report shows it.
#[derive(Debug, Clone)]
pub struct StoredRow {
    pub row: u64,
    pub location: String,
    pub raw: String,
    pub key: Option<String>,
    /// Journal status; `inflight` is mapped by the reader of the row.
    pub status: RowState,
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
    /// What the row's request carries besides its card (bind-imei's IMEI).
    pub arg: Option<String>,
}

/// What the report's outcome counts are made of: rows per status and follow-up status.
pub type FollowCounts = Vec<(String, Option<String>, u64)>;

impl Journal {
    /// Rows per (journal status, follow-up status).
    pub fn follow_counts(&self) -> Result<FollowCounts, JournalError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT status, follow_status, count(*) FROM rows GROUP BY 1, 2")
            .map_err(self.err())?;
        let rows = st
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64))
            })
            .map_err(self.err())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err())?;
        Ok(rows)
    }

    /// One row's state, `None` when the run has no such row.
    pub fn row_state(&self, row: u64) -> Result<Option<RowState>, JournalError> {
        self.conn
            .prepare_cached("SELECT status FROM rows WHERE row = ?1")
            .and_then(|mut st| {
                st.query_row([row as i64], |r| r.get::<_, String>(0))
                    .optional()
            })
            .map(|s| s.map(RowState::parse))
            .map_err(self.err())
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
                 follow_status, follow_detail, follow_time1, follow_time2, extras, arg
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
                    status: RowState::parse(r.get::<_, String>(4)?),
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
                    arg: r.get(20)?,
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
}
