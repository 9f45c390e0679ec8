//! The run's write path: input rows in, then each row's intent and outcome, and after a crash
//! what was in flight.

use super::*;

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
    /// What the row's request carries besides its card (bind-imei's IMEI), checked on input.
    pub arg: Option<String>,
}

/// A row waiting to be sent: its number, card key, batch and request value.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingRow {
    pub row: u64,
    pub key: String,
    pub batch: Option<i64>,
    pub arg: Option<String>,
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

impl Journal {
    /// Insert input rows in one transaction (the caller chunks them).
    pub fn insert_rows(&mut self, rows: &[NewRow]) -> Result<(), JournalError> {
        self.in_transaction(|tx| {
            let mut st = tx.prepare_cached(
                "INSERT INTO rows(row, location, raw, key, status, error_msg, extras, batch, arg)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
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
                    r.batch,
                    r.arg
                ])?;
            }
            Ok(())
        })
    }

    /// Up to `limit` rows with `status = pending` after `after`, in row order.
    pub fn pending_after(&self, after: u64, limit: usize) -> Result<Vec<PendingRow>, JournalError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT row, key, batch, arg FROM rows WHERE status = 'pending' AND row > ?1
                 ORDER BY row LIMIT ?2",
            )
            .map_err(self.err())?;
        let rows = st
            .query_map(params![after as i64, limit as i64], |r| {
                Ok(PendingRow {
                    row: r.get::<_, i64>(0)? as u64,
                    key: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                    batch: r.get::<_, Option<i64>>(2)?,
                    arg: r.get::<_, Option<String>>(3)?,
                })
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
        let sync = if durable { "FULL" } else { "NORMAL" };
        self.conn
            .pragma_update(None, "synchronous", sync)
            .map_err(self.err())?;
        self.in_transaction(|tx| {
            let mut st = tx.prepare_cached("UPDATE rows SET status = 'inflight' WHERE row = ?1")?;
            for r in intents {
                st.execute(params![*r as i64])?;
            }
            let mut st = tx.prepare_cached(
                "UPDATE rows SET status = coalesce(?2, status), attempts = ?3,
                 http_status = ?4, error_code = ?5, error_msg = ?6, work_order_id = ?7,
                 real_named = ?8, latency_ms = ?9, finished_at = ?10,
                 raw = CASE WHEN ?11 IS NOT NULL AND key LIKE '#%' THEN ?11 ELSE raw END
                 WHERE row = ?1",
            )?;
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
                ])?;
            }
            Ok(())
        })
    }

    /// A batch the API refused as a whole is sent again in parts: each part of `parts` becomes
    /// a batch of its own (a new number past every batch of the run), and its rows `pending`,
    /// durably — nothing of the refused call was sent, so a crash now repeats nothing.
    pub fn split_batches(&mut self, parts: &[Vec<u64>]) -> Result<(), JournalError> {
        self.conn
            .pragma_update(None, "synchronous", "FULL")
            .map_err(self.err())?;
        self.in_transaction(|tx| {
            let mut next: i64 =
                tx.query_row("SELECT coalesce(max(batch), 0) FROM rows", [], |r| r.get(0))?;
            let mut st =
                tx.prepare_cached("UPDATE rows SET status = 'pending', batch = ?2 WHERE row = ?1")?;
            for part in parts {
                next += 1;
                for r in part {
                    st.execute(params![*r as i64, next])?;
                }
            }
            Ok(())
        })
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

    /// Rows not to send because an earlier run did them (the account ledger): `skipped`, with
    /// the reason naming that run.
    pub fn mark_skipped(&mut self, rows: &[(u64, String)]) -> Result<(), JournalError> {
        let at = now();
        self.in_transaction(|tx| {
            let mut st = tx.prepare_cached(
                "UPDATE rows SET status = 'skipped', error_msg = ?2, finished_at = ?3
                 WHERE row = ?1 AND status = 'pending'",
            )?;
            for (row, why) in rows {
                st.execute(params![*row as i64, why, at])?;
            }
            Ok(())
        })
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
}
