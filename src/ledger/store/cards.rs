//! What the ledger knows of cards beyond their claims: the ids that name the same card, and
//! the lookups that match a run's cards with acts naming them another way (by the other id,
//! or as a whole order).

use super::*;

impl Ledger {
    /// Learn that `a` and `b` name the same card (an ICCID and a `#<sim_card_id>` key).
    pub fn learn_aliases(&mut self, pairs: &[(String, String)]) -> Result<(), LedgerError> {
        if pairs.is_empty() {
            return Ok(());
        }
        self.write(false, |tx| {
            let mut st =
                tx.prepare_cached("INSERT OR IGNORE INTO card_ids(key, other) VALUES (?1, ?2)")?;
            for (a, b) in pairs.iter().filter(|(a, b)| !a.is_empty() && !b.is_empty()) {
                st.execute(params![a, b])?;
                st.execute(params![b, a])?;
            }
            Ok(())
        })
    }

    /// Whether `card` has an alias.
    pub fn has_alias(&self, card: &str) -> Result<bool, LedgerError> {
        self.conn
            .prepare_cached("SELECT 1 FROM card_ids WHERE key = ?1")
            .and_then(|mut st| st.exists([card]))
            .map_err(self.err())
    }

    /// The whole orders (`order:<id>` claims) another run sent `run`'s act to within the
    /// window (or is sending now), each with its latest act.
    pub fn orders_done(&self, run: &RunKey) -> Result<Vec<(i64, Act)>, LedgerError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT DISTINCT card FROM claims WHERE card >= 'order:' AND card < 'order;'
                 AND operation = ?1 AND params = ?2 AND run_id != ?3",
            )
            .map_err(self.err())?;
        let orders: Vec<String> = st
            .query_map(params![run.operation, run.params, run.run_id], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .map_err(self.err())?;
        let mut out = Vec::new();
        for card in orders {
            let Some(id) = card.strip_prefix("order:").and_then(|i| i.parse().ok()) else {
                continue;
            };
            let act = CardAct {
                row: 0,
                card,
                arg: String::new(),
            };
            if let Some(a) =
                Self::blocking(&self.conn, run, &act, run.since_ms()).map_err(self.err())?
            {
                out.push((id, a));
            }
        }
        Ok(out)
    }

    /// Whether another run acted with `run`'s act on any single card (not a whole order)
    /// within the window.
    pub fn any_card_done(&self, run: &RunKey) -> Result<bool, LedgerError> {
        self.conn
            .prepare_cached(
                "SELECT 1 FROM claims WHERE card NOT LIKE 'order:%' AND operation = ?1
                 AND params = ?2 AND run_id != ?3 AND status IN ('ok', 'unknown', 'inflight')
                 AND intent_ms >= ?4 LIMIT 1",
            )
            .and_then(|mut st| {
                st.exists(params![
                    run.operation,
                    run.params,
                    run.run_id,
                    run.since_ms()
                ])
            })
            .map_err(self.err())
    }

    /// How many claims of other runs with `run`'s act and within its window name their card
    /// the other way than `by_id` says (by ICCID when `by_id`) and have no alias yet: cards
    /// that only the card list can tell apart from this run's.
    pub fn unresolved_other_kind(&self, run: &RunKey, by_id: bool) -> Result<u64, LedgerError> {
        let since = match run.window {
            Some(_) => run.since_ms(),
            None => return Ok(0),
        };
        let kind = if by_id { "NOT LIKE '#%'" } else { "LIKE '#%'" };
        self.conn
            .query_row(
                &format!(
                    "SELECT count(*) FROM claims WHERE operation = ?1 AND params = ?2
                     AND run_id != ?3 AND status IN ('ok', 'unknown', 'inflight')
                     AND intent_ms >= ?4 AND card {kind} AND card NOT LIKE 'order:%'
                     AND card NOT IN (SELECT key FROM card_ids)"
                ),
                params![run.operation, run.params, run.run_id, since],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(self.err())
    }
}
