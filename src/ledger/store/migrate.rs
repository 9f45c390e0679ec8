//! Ledgers written by earlier versions: the first version's `acts` table brought into
//! `claims` in place, and a ledger kept for another spelling of the endpoint taken in.

use super::*;

impl Ledger {
    /// Where an earlier version kept the ledger of `endpoint` as spelled (the URL trimmed and
    /// lower-cased, not made canonical): `None` when that is the canonical ledger's file too.
    pub fn legacy_path(state_dir: &Path, endpoint: &str) -> Option<PathBuf> {
        let url = endpoint.trim().trim_end_matches('/').to_ascii_lowercase();
        let name = format!(
            "endpoint-{}",
            hex::encode(&Sha256::digest(url.as_bytes())[..8])
        );
        let old = state_dir.join("ledger").join(format!("{name}.sqlite"));
        (old != Self::path_for(state_dir, endpoint, false)).then_some(old)
    }

    /// Take in every claim of the ledger file at `other` (an earlier version's ledger of
    /// another spelling of this endpoint), then set that file aside as `*.merged`.
    pub fn absorb(&mut self, other: &Path) -> Result<u64, LedgerError> {
        if !other.exists() {
            return Ok(0);
        }
        // Opening brings its entries up to the current form.
        drop(Ledger::open(other)?);
        let path = other.display().to_string();
        // Attached outside the transaction (SQLite refuses it inside one).
        self.conn
            .execute("ATTACH DATABASE ?1 AS old", [&path])
            .map_err(self.err())?;
        let n = self.write(true, |tx| {
            let n = tx.execute("INSERT OR IGNORE INTO claims SELECT * FROM old.claims", [])?;
            tx.execute(
                "INSERT OR IGNORE INTO card_ids SELECT * FROM old.card_ids",
                [],
            )?;
            Ok(n as u64)
        });
        let _ = self.conn.execute("DETACH DATABASE old", []);
        let n = n?;
        for ext in ["", "-wal", "-shm"] {
            let from = PathBuf::from(format!("{path}{ext}"));
            if from.exists() {
                let _ = std::fs::rename(&from, format!("{path}.merged{ext}"));
            }
        }
        Ok(n)
    }

    /// Bring the entries of the first ledger version (`acts`, keyed by run dir, a card and its
    /// value in one string, local times compared as text) into `claims`.
    pub(super) fn upgrade(&mut self) -> rusqlite::Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let old: i64 = tx.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'acts'",
            [],
            |r| r.get(0),
        )?;
        if old > 0 {
            let acts = {
                let mut st = tx.prepare(
                    "SELECT run_dir, row, card, operation, params, intent_at, status,
                     work_order_id FROM acts",
                )?;
                let rows = st.query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                        r.get::<_, Option<i64>>(7)?,
                    ))
                })?;
                rows.collect::<rusqlite::Result<Vec<_>>>()?
            };
            let mut st = tx.prepare(
                "INSERT OR IGNORE INTO claims(run_id, row, run_dir, card, arg, operation, params,
                 intent_at, intent_ms, status, work_order_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            for (dir, row, card, op, params, at, status, wo) in acts {
                let (card, arg) = match card.split_once(' ') {
                    Some((c, a)) => (c.to_string(), a.to_string()),
                    None => (card, String::new()),
                };
                let ms = parse_ms(&at).unwrap_or_else(now_ms);
                st.execute(params![
                    legacy_run_id(&dir),
                    row,
                    dir,
                    card,
                    arg,
                    op,
                    params,
                    at,
                    ms,
                    status,
                    wo
                ])?;
            }
            drop(st);
            tx.execute_batch("DROP TABLE acts")?;
        }
        tx.commit()
    }
}

/// The run id of a run whose journal was written before runs had ids: its directory.
pub fn legacy_run_id(run_dir: &str) -> String {
    format!("dir:{run_dir}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_earlier_versions_ledger_of_another_spelling_is_taken_in() {
        let state = std::env::temp_dir().join(format!("gsl-ledger-absorb-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&state);
        let spelled = "https://GSL.example.com:443/";
        let old = Ledger::legacy_path(&state, spelled).expect("another file than the canonical");
        std::fs::create_dir_all(old.parent().unwrap()).unwrap();
        // The first version's table, as it wrote it.
        let conn = Connection::open(&old).unwrap();
        conn.execute_batch(
            "CREATE TABLE acts (run_dir TEXT NOT NULL, row INTEGER NOT NULL, card TEXT NOT NULL,
             operation TEXT NOT NULL, params TEXT NOT NULL, intent_at TEXT NOT NULL,
             status TEXT NOT NULL, work_order_id INTEGER, PRIMARY KEY (run_dir, row));",
        )
        .unwrap();
        let at = chrono::Local::now().to_rfc3339();
        conn.execute(
            "INSERT INTO acts VALUES ('/runs/a', 1, '89860312345678901234', 'an-op',
             'null', ?1, 'ok', 7)",
            [&at],
        )
        .unwrap();
        drop(conn);
        let mut ledger =
            Ledger::open(&Ledger::path_for(&state, "https://gsl.example.com", false)).unwrap();
        assert_eq!(ledger.absorb(&old).unwrap(), 1);
        assert!(!old.exists(), "set aside");
        let run = RunKey {
            run_id: "new".into(),
            run_dir: "/runs/b".into(),
            operation: "an-op".into(),
            params: "null".into(),
            window: Some(std::time::Duration::from_secs(3600)),
            whole: None,
        };
        let act = CardAct {
            row: 1,
            card: "89860312345678901234".into(),
            arg: String::new(),
        };
        let earlier = ledger
            .earlier(&run, &act)
            .unwrap()
            .expect("the old act counts");
        assert_eq!(earlier.work_order_id, Some(7));
        let _ = std::fs::remove_dir_all(&state);
    }
}
