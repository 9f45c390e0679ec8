//! The history's SQLite file: one per account (endpoint) under the state directory, beside the
//! ledger and named as it is (`<state>/history/endpoint-<hash>.sqlite`, rehearsals
//! `rehearsal.sqlite`).
//!
//! A run is a row of `runs`; what it learned of each card a row of `snapshots`, keyed by the run
//! and the card's number in `cards` (an ICCID is stored once, not once a run), with the state in
//! small integers: 100,000 cards × 30 runs stay near 100 MB. A run's rows are written in one
//! transaction with its `runs` row, so a run cut short (a signal, an error) leaves nothing, and
//! only finished runs are ever compared with.

use super::compare::State;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    job TEXT NOT NULL,
    operation TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    -- the run dir, or the report's path (absolute), for --compare-with RUN_DIR
    place TEXT,
    cards INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS runs_by_job ON runs (job, operation, id);
CREATE TABLE IF NOT EXISTS cards (id INTEGER PRIMARY KEY, iccid TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS snapshots (
    run INTEGER NOT NULL,
    card INTEGER NOT NULL,
    sim_status INTEGER,
    real_named INTEGER,
    tags TEXT,
    -- MB × 1000: an integer takes 1..4 bytes where a REAL takes 8
    flow_used INTEGER,
    flow_total INTEGER,
    PRIMARY KEY (run, card)
) WITHOUT ROWID;
";

/// A run in the history.
#[derive(Debug, Clone)]
pub struct RunRow {
    pub id: i64,
    pub job: String,
    pub finished_at: String,
    pub place: Option<String>,
    pub cards: i64,
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

fn milli(v: Option<f64>) -> Option<i64> {
    v.map(|f| (f * 1000.0).round() as i64)
}

fn unmilli(v: Option<i64>) -> Option<f64> {
    v.map(|i| i as f64 / 1000.0)
}

impl Store {
    /// The history file of `endpoint`'s account: the ledger's name, in `history/`.
    pub fn path_for(state_dir: &Path, endpoint: &str, rehearsal: bool) -> PathBuf {
        let ledger = crate::ledger::store::Ledger::path_for(state_dir, endpoint, rehearsal);
        let name = ledger.file_name().expect("the ledger's path has a name");
        state_dir.join("history").join(name)
    }

    pub fn open(path: &Path) -> Result<Store, String> {
        let e = |err: &dyn std::fmt::Display| format!("{}: {err}", path.display());
        if let Some(dir) = path.parent() {
            crate::rundir::create_private_dir(dir).map_err(|io| e(&io))?;
        }
        crate::rundir::create_private_file(path).map_err(|io| e(&io))?;
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|x| e(&x))?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(|x| e(&x))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|x| e(&x))?;
        // A lost snapshot costs one comparison, not a card acted on twice: no fsync per commit.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|x| e(&x))?;
        conn.execute_batch(SCHEMA).map_err(|x| e(&x))?;
        conn.query_row("SELECT count(*) FROM runs", [], |r| r.get::<_, i64>(0))
            .map_err(|x| e(&x))?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> String + '_ {
        move |x| format!("{}: {x}", self.path.display())
    }

    /// The last finished run of `job` (same operation).
    pub fn previous(&self, job: &str, operation: &str) -> Result<Option<RunRow>, String> {
        self.conn
            .query_row(
                "SELECT id, job, finished_at, place, cards FROM runs
                 WHERE job = ?1 AND operation = ?2 ORDER BY id DESC LIMIT 1",
                params![job, operation],
                run_row,
            )
            .optional()
            .map_err(self.err())
    }

    /// The newest run of `operation` whose place is `place` or inside it.
    pub fn at_place(&self, place: &Path, operation: &str) -> Result<Option<RunRow>, String> {
        let mut st = self
            .conn
            .prepare(
                "SELECT id, job, finished_at, place, cards FROM runs
                 WHERE operation = ?1 AND place IS NOT NULL ORDER BY id DESC",
            )
            .map_err(self.err())?;
        let rows = st
            .query_map([operation], run_row)
            .map_err(self.err())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err())?;
        Ok(rows.into_iter().find(|r| {
            let p = Path::new(r.place.as_deref().unwrap_or_default());
            p == place || p.parent() == Some(place)
        }))
    }

    /// Every card's state in run `run`.
    pub fn snapshot(&self, run: i64) -> Result<HashMap<String, State>, String> {
        let mut st = self
            .conn
            .prepare(
                "SELECT c.iccid, s.sim_status, s.real_named, s.tags, s.flow_used, s.flow_total
                 FROM snapshots s JOIN cards c ON c.id = s.card WHERE s.run = ?1",
            )
            .map_err(self.err())?;
        let mut out = HashMap::new();
        let mut rows = st.query([run]).map_err(self.err())?;
        while let Some(r) = rows.next().map_err(self.err())? {
            let state = (|| {
                Ok::<_, rusqlite::Error>(State {
                    sim_status: r.get(1)?,
                    real_named: r.get::<_, Option<i64>>(2)?.map(|v| v != 0),
                    tags: r.get(3)?,
                    flow_used: unmilli(r.get(4)?),
                    flow_total: unmilli(r.get(5)?),
                })
            })()
            .map_err(self.err())?;
            out.insert(r.get(0).map_err(self.err())?, state);
        }
        Ok(out)
    }

    /// The last `n` finished runs of `job` before now, oldest first.
    pub fn last_runs(&self, job: &str, operation: &str, n: usize) -> Result<Vec<i64>, String> {
        let mut st = self
            .conn
            .prepare(
                "SELECT id FROM runs WHERE job = ?1 AND operation = ?2 ORDER BY id DESC LIMIT ?3",
            )
            .map_err(self.err())?;
        let mut ids = st
            .query_map(params![job, operation, n as i64], |r| r.get::<_, i64>(0))
            .map_err(self.err())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err())?;
        ids.reverse();
        Ok(ids)
    }

    /// Each card's `flow_used` in `runs` (oldest first): `None` where a run lacks the card.
    pub fn flow_series(&self, runs: &[i64]) -> Result<HashMap<String, Vec<Option<f64>>>, String> {
        let mut out: HashMap<String, Vec<Option<f64>>> = HashMap::new();
        let mut st = self
            .conn
            .prepare(
                "SELECT c.iccid, s.flow_used FROM snapshots s JOIN cards c ON c.id = s.card
                 WHERE s.run = ?1",
            )
            .map_err(self.err())?;
        for (i, run) in runs.iter().enumerate() {
            let mut rows = st.query([run]).map_err(self.err())?;
            while let Some(r) = rows.next().map_err(self.err())? {
                let key: String = r.get(0).map_err(self.err())?;
                let v = unmilli(r.get(1).map_err(self.err())?);
                out.entry(key).or_insert_with(|| vec![None; runs.len()])[i] = v;
            }
        }
        Ok(out)
    }

    /// Start writing a run: its rows are invisible (and dropped with the store) until
    /// [`Store::commit_run`].
    pub fn begin_run(
        &mut self,
        job: &str,
        operation: &str,
        place: Option<&str>,
    ) -> Result<i64, String> {
        self.conn.execute_batch("BEGIN").map_err(self.err())?;
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        self.conn
            .execute(
                "INSERT INTO runs (job, operation, started_at, finished_at, place)
                 VALUES (?1, ?2, ?3, ?3, ?4)",
                params![job, operation, now, place],
            )
            .map_err(self.err())?;
        Ok(self.conn.last_insert_rowid())
    }

    /// One card's state in the run being written; a card seen twice keeps its last state.
    pub fn add(&mut self, run: i64, iccid: &str, s: &State) -> Result<(), String> {
        let card: i64 = self
            .conn
            .prepare_cached(
                "INSERT INTO cards (iccid) VALUES (?1)
                 ON CONFLICT (iccid) DO UPDATE SET iccid = excluded.iccid RETURNING id",
            )
            .and_then(|mut st| st.query_row([iccid], |r| r.get(0)))
            .map_err(self.err())?;
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO snapshots
                 (run, card, sim_status, real_named, tags, flow_used, flow_total)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .and_then(|mut st| {
                st.execute(params![
                    run,
                    card,
                    s.sim_status,
                    s.real_named.map(i64::from),
                    s.tags,
                    milli(s.flow_used),
                    milli(s.flow_total)
                ])
            })
            .map_err(self.err())?;
        Ok(())
    }

    /// The run is finished: it becomes visible, and the job's runs beyond the newest `keep`
    /// (and, with `keep_days`, those finished longer ago than that) are deleted with their
    /// snapshots. The runs pruned.
    pub fn commit_run(
        &mut self,
        run: i64,
        job: &str,
        keep: u32,
        keep_days: Option<u32>,
    ) -> Result<u64, String> {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        self.conn
            .execute(
                "UPDATE runs SET finished_at = ?2,
                 cards = (SELECT count(*) FROM snapshots WHERE run = ?1) WHERE id = ?1",
                params![run, now],
            )
            .map_err(self.err())?;
        // Times are RFC 3339 in UTC with milliseconds: their text sorts as they do.
        let before = keep_days.map_or_else(String::new, |d| {
            (chrono::Utc::now() - chrono::Duration::days(i64::from(d)))
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        });
        let old: Vec<i64> = {
            let mut st = self
                .conn
                .prepare(
                    "SELECT id FROM runs WHERE job = ?1 AND id != ?3
                     AND (id IN (SELECT id FROM runs WHERE job = ?1 ORDER BY id DESC
                                 LIMIT -1 OFFSET ?2)
                          OR finished_at < ?4)",
                )
                .map_err(self.err())?;
            let ids = st
                .query_map(params![job, keep as i64, run, before], |r| r.get(0))
                .map_err(self.err())?
                .collect::<Result<_, _>>()
                .map_err(self.err())?;
            ids
        };
        for id in &old {
            self.conn
                .execute("DELETE FROM snapshots WHERE run = ?1", [id])
                .map_err(self.err())?;
            self.conn
                .execute("DELETE FROM runs WHERE id = ?1", [id])
                .map_err(self.err())?;
        }
        self.conn.execute_batch("COMMIT").map_err(self.err())?;
        // Fold the write-ahead log back into the file, so the file's size is the history's: a
        // busy checkpoint (another run reading) is left for the next run.
        let _ = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        Ok(old.len() as u64)
    }
}

fn run_row(r: &rusqlite::Row) -> rusqlite::Result<RunRow> {
    Ok(RunRow {
        id: r.get(0)?,
        job: r.get(1)?,
        finished_at: r.get(2)?,
        place: r.get(3)?,
        cards: r.get(4)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_is_seen_once_committed_and_old_runs_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("h.sqlite")).unwrap();
        let state = State {
            sim_status: Some(20),
            real_named: Some(true),
            tags: Some("a,b".into()),
            flow_used: Some(12.345),
            flow_total: None,
        };
        for i in 0..4 {
            let run = s.begin_run("job", "a-listing", Some("/r")).unwrap();
            s.add(run, "8986", &state).unwrap();
            let pruned = s.commit_run(run, "job", 2, Some(30)).unwrap();
            assert_eq!(pruned, u64::from(i >= 2));
        }
        let prev = s.previous("job", "a-listing").unwrap().unwrap();
        assert_eq!(prev.cards, 1);
        assert_eq!(s.snapshot(prev.id).unwrap()["8986"], state);
        assert_eq!(s.last_runs("job", "a-listing", 9).unwrap().len(), 2);
        assert!(s.previous("other", "a-listing").unwrap().is_none());
        // Runs older than the days kept go too, whatever --keep says; the run itself stays.
        s.conn
            .execute(
                "UPDATE runs SET finished_at = '2020-01-01T00:00:00.000Z'",
                [],
            )
            .unwrap();
        let run = s.begin_run("job", "a-listing", None).unwrap();
        assert_eq!(s.commit_run(run, "job", 30, Some(7)).unwrap(), 2);
        assert_eq!(s.last_runs("job", "a-listing", 9).unwrap(), [run]);
    }
}
