//! The ledger is an index, not the truth: a run's claims recreated from its journal, and a
//! dead run's claim checked against what its journal says of the row.

use super::*;
use crate::journal::JournalError;

impl Ledger {
    /// Recreate the claims of one run from its journal (`gslbatch ledger rebuild`): every row
    /// that got as far as an intent, in the state the live ledger holds for it (`inflight` for
    /// a row the journal still has in flight). Returns how many entries were written.
    pub fn rebuild_from(&mut self, run: &RunKey, journal: &Journal) -> Result<u64, RebuildError> {
        let mut claims = Vec::new();
        journal
            .for_each_row(|r| {
                // What may have happened counts whatever its attempts: a row in flight at a
                // crash has none recorded, in flight or (after a resume) `unknown`. A refusal
                // counts only when a request went out; `pending` rows were never sent.
                let status = match &r.status {
                    RowState::Is(s @ (Status::Ok | Status::Unknown)) => s.as_str(),
                    RowState::Is(Status::Failed) if r.attempts > 0 => Status::Failed.as_str(),
                    RowState::InFlight => INFLIGHT,
                    _ => return Ok(()),
                };
                let act = run.named(&CardAct {
                    row: r.row,
                    card: r.key.clone().unwrap_or_default(),
                    arg: r.arg.clone().unwrap_or_default(),
                });
                if act.card.is_empty() {
                    return Ok(());
                }
                let at = r.finished_at.clone().unwrap_or_else(now);
                claims.push((act, status.to_string(), r.work_order_id, at));
                Ok(())
            })?
            .expect("the closure never fails");
        let n = claims.len() as u64;
        self.write(true, |tx| {
            let mut st = tx.prepare_cached(
                "INSERT INTO claims(run_id, row, run_dir, card, arg, operation, params,
                 intent_at, intent_ms, status, work_order_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT(run_id, row) DO UPDATE SET card = excluded.card,
                 arg = excluded.arg, run_dir = excluded.run_dir, intent_at = excluded.intent_at,
                 intent_ms = excluded.intent_ms, status = excluded.status,
                 work_order_id = excluded.work_order_id",
            )?;
            for (act, status, wo, at) in &claims {
                st.execute(params![
                    run.run_id,
                    act.row as i64,
                    run.run_dir,
                    act.card,
                    act.arg,
                    run.operation,
                    run.params,
                    at,
                    parse_ms(at).unwrap_or_else(now_ms),
                    status,
                    wo
                ])?;
            }
            Ok(())
        })?;
        Ok(n)
    }
}

/// Whether the journal of run `run_id` in `run_dir` leaves open that `row`'s request was
/// performed: in flight, `unknown` or `ok`; and whenever the journal cannot tell (gone, another
/// run's, unreadable). A claim is written just before its row's intent, so a crash between
/// the two leaves a claim whose row the journal still has `pending`: never sent.
pub(super) fn journal_says_maybe(run_dir: &str, run_id: &str, row: u64) -> bool {
    let Ok(journal) = Journal::open_read(Path::new(run_dir)) else {
        return true;
    };
    let same_run = journal.meta().ok().is_some_and(|m| {
        m.run_id
            .unwrap_or_else(|| legacy_run_id(run_dir))
            .eq(run_id)
    });
    if !same_run {
        return true;
    }
    !matches!(
        journal.row_state(row),
        Ok(Some(RowState::Is(
            Status::Pending | Status::Failed | Status::Skipped
        )))
    )
}

#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}
