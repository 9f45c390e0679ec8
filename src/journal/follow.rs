//! What `follow` writes: follow-up columns, and `unknown` rows settled on evidence.

use super::*;

/// What `follow` learnt about one row (`None` fields keep what the journal holds).
#[derive(Debug, Clone, Default)]
pub struct FollowUpdate {
    pub row: u64,
    pub status: Option<String>,
    pub detail: Option<String>,
    pub time1: Option<String>,
    pub time2: Option<String>,
}

impl Journal {
    /// Record what `follow` learnt about rows, in one transaction: the follow-up status, its
    /// detail and two times (SMS sent / received), each `None` leaving the stored value.
    pub fn set_follow(&mut self, updates: &[FollowUpdate]) -> Result<(), JournalError> {
        self.in_transaction(|tx| {
            let mut st = tx.prepare_cached(
                "UPDATE rows SET follow_status = coalesce(?2, follow_status),
                 follow_detail = coalesce(?3, follow_detail),
                 follow_time1 = coalesce(?4, follow_time1),
                 follow_time2 = coalesce(?5, follow_time2) WHERE row = ?1",
            )?;
            for u in updates {
                st.execute(params![u.row as i64, u.status, u.detail, u.time1, u.time2])?;
            }
            Ok(())
        })
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

    /// An `unknown` row proven never to have happened: `pending` again, so that `resume` sends
    /// it, with `note` saying what proved it. Rows no longer `unknown` are left alone.
    pub fn unknown_to_pending(&mut self, row: u64, note: &str) -> Result<bool, JournalError> {
        let n = self
            .conn
            .execute(
                "UPDATE rows SET status = 'pending', error_msg = ?2, error_code = NULL,
                 http_status = NULL, finished_at = NULL WHERE row = ?1 AND status = 'unknown'",
                params![row as i64, note],
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
}
