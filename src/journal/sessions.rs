//! One record per process that worked on the run: its calls, 429s, retries and exit code.

use super::*;
use crate::gsl::clock::ClockOffset;

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
    /// The API's clock less this process's, from the `Date` of its answers: `follow` reckons
    /// the times this session wrote in the API's clock. `None`: no answer was dated.
    pub clock: Option<ClockOffset>,
}

impl Journal {
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
                 clock_offset_ms = ?10, clock_error_ms = ?11,
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
                    t.paced_calls as i64,
                    t.clock.map(|c| c.mid_ms()),
                    t.clock.map(|c| c.error_ms()),
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
                 last_call_at, exit_code, paced_calls, clock_offset_ms, clock_error_ms
                 FROM sessions ORDER BY id",
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
                        clock: match (r.get(9)?, r.get(10)?) {
                            (Some(mid), Some(err)) => Some(ClockOffset::from_mid(mid, err)),
                            _ => None,
                        },
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
