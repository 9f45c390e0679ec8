//! The account ledger's store: never twice across runs, whoever runs them.
//!
//! A journal makes one run exactly-once; the ledger does it across runs. One SQLite file per
//! canonical endpoint under the state directory (so a renewed token, another credential mode or
//! another spelling of the URL finds the same ledger; rehearsals have one of their own) holds a
//! *claim* per destructive row: which run (by its run id, never by its path), which card, what
//! act (operation, parameters, the row's own value), when, and how it ended.
//!
//! A row claims its card right before its intent is journaled, in one `IMMEDIATE` transaction
//! that also looks for a live claim of another run and for an earlier run's `ok` or `unknown`
//! within the again-window; either makes the row `skipped`. So two processes on one machine
//! never both act on a card, whatever their credentials. A claim left `inflight` by a process
//! that died counts as that run's intent: its card may have been acted on.
//!
//! A card is known by every id the ledger learned for it: the `card_ids` table pairs an ICCID
//! with a `sim_card_id` key (from an input with both columns, an answer, or the card list), and
//! a claim on either matches.
//!
//! The ledger is an index, not the truth: [`Ledger::rebuild_from`] recreates it from journals.

mod cards;
mod migrate;
mod rebuild;

pub use migrate::legacy_run_id;
pub use rebuild::RebuildError;

use crate::journal::{Journal, PendingRow, RowState};
use crate::model::Status;
use rebuild::journal_says_maybe;
use rusqlite::{params, Connection, OpenFlags, TransactionBehavior};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS claims (
    run_id TEXT NOT NULL,
    row INTEGER NOT NULL,
    run_dir TEXT NOT NULL,
    pid INTEGER,
    card TEXT NOT NULL,
    arg TEXT NOT NULL DEFAULT '',
    operation TEXT NOT NULL,
    params TEXT NOT NULL,
    intent_at TEXT NOT NULL,
    intent_ms INTEGER NOT NULL,
    status TEXT NOT NULL,
    work_order_id INTEGER,
    PRIMARY KEY (run_id, row)
);
CREATE INDEX IF NOT EXISTS claims_card ON claims(card, operation, params, intent_ms);
CREATE INDEX IF NOT EXISTS claims_act ON claims(operation, params, intent_ms);
CREATE TABLE IF NOT EXISTS card_ids (key TEXT NOT NULL, other TEXT NOT NULL, PRIMARY KEY (key, other));
";

/// What a claim's status is while its request may be on the wire.
const INFLIGHT: &str = "inflight";

#[derive(Debug, thiserror::Error)]
#[error("ledger {path}: {source}")]
pub struct LedgerError {
    path: String,
    #[source]
    source: rusqlite::Error,
}

/// Which run a ledger write is about, and what its rows do.
#[derive(Debug, Clone)]
pub struct RunKey {
    /// Made when the run started and kept in its journal: a resume is the same run, a new run
    /// in a reused or moved directory is another.
    pub run_id: String,
    /// The run dir, absolute: names the earlier run in a `skipped` row.
    pub run_dir: String,
    pub operation: String,
    /// What must be the same for a card to count as done already (the SMS text, ...).
    pub params: String,
    /// How far back an earlier run's act counts; `None`: it never does (`--again`), and only a
    /// live claim of another run keeps a card.
    pub window: Option<std::time::Duration>,
    /// What a row without a card stands for: `order:<id>` for a send to a whole order.
    pub whole: Option<String>,
}

impl RunKey {
    /// `act` with a row without a card named as what it stands for (the whole order).
    fn named(&self, act: &CardAct) -> CardAct {
        match (&self.whole, act.card.is_empty()) {
            (Some(w), true) => CardAct {
                card: w.clone(),
                ..act.clone()
            },
            _ => act.clone(),
        }
    }

    /// The oldest intent (ms since the epoch) that still counts, now.
    fn since_ms(&self) -> i64 {
        match self.window {
            Some(w) => now_ms().saturating_sub(w.as_millis().min(i64::MAX as u128) as i64),
            None => i64::MAX,
        }
    }
}

/// One row's act as the ledger knows it: the card's key (an ICCID, `#<sim_card_id>`, or
/// `order:<id>` for a whole-order send) and the row's own value (bind-imei's IMEI), if any.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CardAct {
    pub row: u64,
    pub card: String,
    pub arg: String,
}

/// An earlier claim on a card: which run, when, how it ended, its work order.
#[derive(Debug, Clone, PartialEq)]
pub struct Act {
    pub run_dir: String,
    pub intent_at: String,
    pub status: String,
    pub work_order_id: Option<i64>,
    pub pid: Option<i64>,
    /// The claiming process still holds its run (only looked at for `inflight` claims).
    pub live: bool,
}

impl Act {
    /// The `error_msg` of a row skipped because of this act.
    pub fn skip_reason(&self) -> String {
        let how = match self.status.as_str() {
            "ok" => "did it",
            INFLIGHT if self.live => "is doing it right now",
            _ => "may have done it (its outcome never arrived)",
        };
        let order = self
            .work_order_id
            .map(|w| format!(", work order {w}"))
            .unwrap_or_default();
        let pid = match (self.live, self.pid) {
            (true, Some(p)) => format!(" (pid {p})"),
            _ => String::new(),
        };
        format!(
            "skipped: run {}{pid} {how} at {}{order}; --again sends it anyway",
            self.run_dir, self.intent_at
        )
    }
}

pub struct Ledger {
    conn: Connection,
    path: PathBuf,
}

fn now() -> String {
    chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn parse_ms(at: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(at)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// The canonical form of an endpoint URL: scheme, lower-case host without a trailing dot, the
/// port only when it is not the scheme's default; no path, no user info. `localhost` and
/// `127.0.0.1` stay different hosts (nothing here resolves names).
pub fn canonical_endpoint(raw: &str) -> Option<String> {
    let url = url::Url::parse(raw.trim()).ok()?;
    let host = url.host_str()?.trim_end_matches('.').to_ascii_lowercase();
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    Some(format!("{}://{host}{port}", url.scheme()))
}

impl Ledger {
    /// `<state dir>/ledger/endpoint-<hash of the canonical endpoint>.sqlite`, or
    /// `rehearsal.sqlite` for rehearsals: the same for every credential, token and spelling.
    pub fn path_for(state_dir: &Path, endpoint: &str, rehearsal: bool) -> PathBuf {
        let name = if rehearsal {
            "rehearsal".to_string()
        } else {
            let url = canonical_endpoint(endpoint)
                .unwrap_or_else(|| endpoint.trim().trim_end_matches('/').to_ascii_lowercase());
            format!(
                "endpoint-{}",
                hex::encode(&Sha256::digest(url.as_bytes())[..8])
            )
        };
        state_dir.join("ledger").join(format!("{name}.sqlite"))
    }

    /// Open (or create) the ledger at `path`; a ledger of an earlier version is brought up to
    /// date in place, its entries kept.
    pub fn open(path: &Path) -> Result<Ledger, LedgerError> {
        let e = |source| LedgerError {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent() {
            crate::rundir::create_private_dir(dir).map_err(|io| {
                e(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                    Some(format!("cannot create {}: {io}", dir.display())),
                ))
            })?;
        }
        crate::rundir::create_private_file(path).map_err(|io| {
            e(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                Some(format!("cannot create {}: {io}", path.display())),
            ))
        })?;
        let conn = Connection::open_with_flags(
            path,
            // As the journal's: a connection is used by one thread at a time.
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(e)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(e)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(e)?;
        conn.execute_batch(SCHEMA).map_err(e)?;
        // A file that is not a ledger (or is corrupt) fails here, before anything is sent.
        conn.query_row("SELECT count(*) FROM claims", [], |r| r.get::<_, i64>(0))
            .map_err(e)?;
        let mut ledger = Ledger {
            conn,
            path: path.to_path_buf(),
        };
        ledger.upgrade().map_err(e)?;
        Ok(ledger)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> LedgerError + '_ {
        move |source| LedgerError {
            path: self.path.display().to_string(),
            source,
        }
    }

    /// Every key the ledger knows `card` by: itself and its aliases.
    fn known_as(tx: &Connection, card: &str) -> rusqlite::Result<Vec<String>> {
        let mut st = tx.prepare_cached("SELECT other FROM card_ids WHERE key = ?1")?;
        let mut keys = vec![card.to_string()];
        for other in st.query_map([card], |r| r.get::<_, String>(0))? {
            keys.push(other?);
        }
        Ok(keys)
    }

    /// The latest claim on `act`'s card by another run that keeps this run from acting: a
    /// live run's claim whatever its age, or an `ok`, `unknown` or `inflight` one since
    /// `since_ms`.
    fn blocking(
        tx: &Connection,
        run: &RunKey,
        act: &CardAct,
        since_ms: i64,
    ) -> rusqlite::Result<Option<Act>> {
        // Claims of the same act (operation, parameters, the row's value), and any claim in
        // flight: another process acting on the card right now keeps it, whatever it does
        // (the service advises against two operations on one card at once).
        let mut st = tx.prepare_cached(
            "SELECT run_dir, intent_at, status, work_order_id, pid, intent_ms, run_id, row,
                    operation = ?2 AND params = ?3 AND arg = ?4
             FROM claims
             WHERE card = ?1 AND run_id != ?5
               AND (status = 'inflight' OR (status IN ('ok', 'unknown')
                    AND operation = ?2 AND params = ?3 AND arg = ?4))
             ORDER BY intent_ms DESC",
        )?;
        for key in Self::known_as(tx, &act.card)? {
            let found = st.query_map(
                params![key, run.operation, run.params, act.arg, run.run_id],
                |r| {
                    Ok((
                        Act {
                            run_dir: r.get(0)?,
                            intent_at: r.get(1)?,
                            status: r.get(2)?,
                            work_order_id: r.get(3)?,
                            pid: r.get(4)?,
                            live: false,
                        },
                        r.get::<_, i64>(5)?,
                        (r.get::<_, String>(6)?, r.get::<_, i64>(7)? as u64),
                        r.get::<_, bool>(8)?,
                    ))
                },
            )?;
            for f in found {
                let (mut a, ms, (id, row), same) = f?;
                if a.status == INFLIGHT {
                    // An earlier run in this same directory is not live: this process holds it.
                    a.live =
                        a.run_dir != run.run_dir && crate::rundir::is_held(Path::new(&a.run_dir));
                }
                if a.live {
                    return Ok(Some(a));
                }
                // Past the window (or another act, not live), nothing to look at further.
                if !same || ms < since_ms {
                    continue;
                }
                // A dead run's claim whose request its journal proves never left (or
                // refused) is no act.
                if a.status == INFLIGHT && !journal_says_maybe(&a.run_dir, &id, row) {
                    continue;
                }
                return Ok(Some(a));
            }
        }
        Ok(None)
    }

    /// Claim each card for `run`, durably (`synchronous=FULL`), in one transaction that no
    /// other process can interleave with: called right before the rows' intent is journaled.
    /// Returns the rows that may not be sent, each with the reason (`skipped`).
    pub fn claim(
        &mut self,
        run: &RunKey,
        acts: &[CardAct],
    ) -> Result<Vec<(u64, String)>, LedgerError> {
        let since = run.since_ms();
        let (at, ms) = (now(), now_ms());
        let pid = std::process::id() as i64;
        self.write(true, |tx| {
            let mut refused = Vec::new();
            let acts = acts.iter().map(|a| run.named(a));
            for act in acts.filter(|a| !a.card.is_empty()) {
                if let Some(earlier) = Self::blocking(tx, run, &act, since)? {
                    refused.push((act.row, earlier.skip_reason()));
                    continue;
                }
                tx.prepare_cached(
                    "INSERT INTO claims(run_id, row, run_dir, pid, card, arg, operation, params,
                     intent_at, intent_ms, status)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'inflight')
                     ON CONFLICT(run_id, row) DO UPDATE SET card = excluded.card,
                     arg = excluded.arg, run_dir = excluded.run_dir, pid = excluded.pid,
                     intent_at = excluded.intent_at, intent_ms = excluded.intent_ms,
                     status = 'inflight', work_order_id = NULL",
                )?
                .execute(params![
                    run.run_id,
                    act.row as i64,
                    run.run_dir,
                    pid,
                    act.card,
                    act.arg,
                    run.operation,
                    run.params,
                    at,
                    ms
                ])?;
            }
            Ok(refused)
        })
    }

    /// Record outcomes: `(row, status, work_order_id)` of rows whose claim is recorded.
    pub fn record_outcomes(
        &mut self,
        run: &RunKey,
        outcomes: &[(u64, Status, Option<i64>)],
    ) -> Result<(), LedgerError> {
        self.write(false, |tx| {
            let mut st = tx.prepare_cached(
                "UPDATE claims SET status = ?3, work_order_id = coalesce(?4, work_order_id)
                 WHERE run_id = ?1 AND row = ?2",
            )?;
            for (row, status, wo) in outcomes {
                st.execute(params![run.run_id, *row as i64, status.as_str(), wo])?;
            }
            Ok(())
        })
    }

    fn write<T>(
        &mut self,
        durable: bool,
        f: impl FnOnce(&rusqlite::Transaction) -> rusqlite::Result<T>,
    ) -> Result<T, LedgerError> {
        let sync = if durable { "FULL" } else { "NORMAL" };
        let path = self.path.display().to_string();
        let e = |source| LedgerError {
            path: path.clone(),
            source,
        };
        self.conn
            .pragma_update(None, "synchronous", sync)
            .map_err(e)?;
        // IMMEDIATE: the check and the claim are one step for every process on the ledger.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(e)?;
        f(&tx).and_then(|v| tx.commit().map(|()| v)).map_err(e)
    }

    /// The latest act of another run on `act`'s card that keeps `run` from acting now
    /// (see [`Ledger::claim`]); nothing is written.
    pub fn earlier(&self, run: &RunKey, act: &CardAct) -> Result<Option<Act>, LedgerError> {
        let act = run.named(act);
        if act.card.is_empty() {
            return Ok(None);
        }
        Self::blocking(&self.conn, run, &act, run.since_ms()).map_err(self.err())
    }

    /// Whether another run acted on `act`'s card (with `run`'s act) before `run`'s window: a
    /// card this run will act on again.
    pub fn before_window(&self, run: &RunKey, act: &CardAct) -> Result<bool, LedgerError> {
        let Some(_) = run.window else {
            return Ok(false);
        };
        let since = run.since_ms();
        let act = &run.named(act);
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT 1 FROM claims WHERE card = ?1 AND operation = ?2 AND params = ?3
                 AND arg = ?4 AND run_id != ?5 AND status IN ('ok', 'unknown', 'inflight')
                 AND intent_ms < ?6",
            )
            .map_err(self.err())?;
        for key in Self::known_as(&self.conn, &act.card).map_err(self.err())? {
            let hit = st
                .exists(params![
                    key,
                    run.operation,
                    run.params,
                    act.arg,
                    run.run_id,
                    since
                ])
                .map_err(self.err())?;
            if hit {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// The account ledger a destructive run also writes: each row claims its card there before
/// its intent is journaled, and a row whose card another run holds is `skipped` instead.
pub struct LedgerSink {
    pub ledger: Ledger,
    pub run: RunKey,
}

/// What the account ledger knows a row's act by: its card, and the request's own value when it
/// has one (binding a card to another IMEI is another act).
pub fn act(p: &PendingRow) -> CardAct {
    CardAct {
        row: p.row,
        card: p.key.clone(),
        arg: p.arg.clone().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::canonical_endpoint as c;

    #[test]
    fn an_endpoint_has_one_spelling() {
        let want = Some("https://gsl.cn-north-4.myhuaweicloud.com".to_string());
        assert_eq!(c("https://gsl.cn-north-4.myhuaweicloud.com"), want);
        assert_eq!(c("https://GSL.cn-north-4.myhuaweicloud.com:443/"), want);
        assert_eq!(c("https://gsl.cn-north-4.myhuaweicloud.com./v1"), want);
        assert_eq!(c(" https://gsl.cn-north-4.myhuaweicloud.com/ "), want);
        assert_eq!(c("http://127.0.0.1:80"), Some("http://127.0.0.1".into()));
        assert_eq!(
            c("http://127.0.0.1:8080/x"),
            Some("http://127.0.0.1:8080".into())
        );
        assert_eq!(
            c("http://u:p@Host.Example:81"),
            Some("http://host.example:81".into())
        );
        assert_ne!(c("http://localhost:1"), c("http://127.0.0.1:1"));
    }
}
