//! A listing's history: the [`Recorder`] it opens before it lists, hands each row to, and
//! finishes once its report is in place (see the room's notes in [`super`]).

use super::compare::{Kind, State};
use super::marking::Marking;
use super::store::{RunRow, Store};
use super::{
    absolute, beside, change_counts, compare, fail_on, FailOn, HistoryArgs, MarkArgs, DEFAULT_KEEP,
};
use crate::exit::{self, Failure};
use crate::listing::ReportOut;
use crate::report::encoding::ReportEncoding;
use crate::report::layout::Cell;
use crate::report::ReportDest;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// What a listing's history found, for the end of the listing to tell.
#[derive(Debug, Clone, Default)]
pub struct Found {
    /// Counts per kind of change (every kind, zeros included) when the listing compared with
    /// an earlier run; `None` without a comparison, and on a job's first run.
    pub changes: Option<BTreeMap<String, u64>>,
    /// `usage`: the marks' counts (`spike`, `silent`, `judged`, `not_judged`).
    pub marks: Option<BTreeMap<String, u64>>,
}

/// What a listing tells the recorder about itself.
pub struct Setup<'a> {
    pub operation: &'static str,
    pub endpoint: &'a str,
    pub rehearsal: bool,
    /// What names the job without a job file: inputs and filters.
    pub identity: Vec<String>,
    pub dest: &'a ReportDest,
    /// `usage`: judge each card's use.
    pub marks: Option<&'a MarkArgs>,
}

/// The history's part in one listing; see the module notes.
pub struct Recorder {
    store: Store,
    job: String,
    operation: &'static str,
    keep: u32,
    keep_days: Option<u32>,
    fail_on: FailOn,
    pub(super) place: Option<String>,
    dest: ReportDest,
    /// The run compared with and its cards' states; a card seen now is taken out.
    compare: Option<(RunRow, HashMap<String, State>)>,
    marking: Option<Marking>,
    /// This run's cards, written at the end.
    seen: Vec<(String, State)>,
    changes: Option<ReportOut>,
    pending: Vec<Vec<Cell>>,
    columns: Vec<String>,
    /// Where the card's ICCID goes in a row (for the gone cards' rows).
    key_column: usize,
    counts: BTreeMap<Kind, u64>,
    changed_rows: u64,
    rehearsal: bool,
    encoding: ReportEncoding,
}

impl Recorder {
    /// Open the account's history and find the run to compare with; `None` with
    /// `--no-history`, or when there is no state directory and nothing was asked of the
    /// history (a warning says so).
    pub fn open(args: &HistoryArgs, setup: Setup) -> Result<Option<Recorder>, Failure> {
        let fail_on = fail_on(&args.fail_on_change)?;
        if args.keep == Some(0) || args.keep_days == Some(0) {
            return Err(Failure::usage("--keep and --keep-days must be at least 1"));
        }
        if !matches!(fail_on, FailOn::Never) && args.compare_with.is_none() {
            return Err(Failure::usage(
                "--fail-on-change needs --compare-with previous|RUN_DIR (or `compare` in the job file)",
            ));
        }
        if args.no_history {
            return Ok(None);
        }
        let asked = args.compare_with.is_some();
        let Some(state) = crate::lock::state_dir() else {
            if asked {
                return Err(Failure::usage(
                    "--compare-with needs the history: set HOME, XDG_STATE_HOME or GSL_STATE_DIR",
                ));
            }
            tracing::warn!("no state directory: this run leaves no history");
            return Ok(None);
        };
        let path = Store::path_for(&state, setup.endpoint, setup.rehearsal);
        let store = match Store::open(&path) {
            Ok(s) => s,
            Err(e) if asked => {
                return Err(Failure::usage(format!("the history cannot be opened: {e}")))
            }
            Err(e) => {
                tracing::warn!("the history cannot be opened ({e}): this run leaves none");
                return Ok(None);
            }
        };
        let job = args.job.clone().unwrap_or_else(|| {
            let mut parts = vec![setup.operation.to_string()];
            parts.extend(setup.identity.iter().map(|s| s.trim().to_string()));
            parts.retain(|p| !p.is_empty());
            parts.join(" ")
        });
        let op = setup.operation;
        let compare = match args.compare_with.as_deref() {
            None => None,
            Some("previous") => store.previous(&job, op).map_err(Failure::aborted)?,
            Some(at) => {
                let place = absolute(Path::new(at));
                let found = store.at_place(&place, op).map_err(Failure::aborted)?;
                if found.is_none() {
                    return Err(Failure::usage(format!(
                        "--compare-with {at}: no {op} run at that place is in the history ({})",
                        store.path().display()
                    )));
                }
                found
            }
        };
        let compare = match compare {
            Some(run) => {
                let cards = store.snapshot(run.id).map_err(Failure::aborted)?;
                Some((run, cards))
            }
            None if asked => {
                crate::say!(
                    "{op}: no earlier run of this job in the history ({}): nothing to compare with \
                     yet, every card is `new`",
                    store.path().display()
                );
                Some((
                    RunRow {
                        id: 0,
                        job: job.clone(),
                        finished_at: String::new(),
                        place: None,
                        cards: 0,
                    },
                    HashMap::new(),
                ))
            }
            None => None,
        };
        let marking = match setup.marks {
            Some(m) => Some(Marking::open(m, &store, &job, op)?),
            None => None,
        };
        let place = match setup.dest {
            ReportDest::Path(p) => Some(absolute(p).display().to_string()),
            ReportDest::Stdout(_) => None,
        };
        Ok(Some(Recorder {
            store,
            job,
            operation: op,
            keep: args.keep.unwrap_or(DEFAULT_KEEP),
            keep_days: args.keep_days,
            fail_on,
            place,
            dest: setup.dest.clone(),
            compare,
            marking,
            seen: Vec::new(),
            changes: None,
            pending: Vec::new(),
            columns: Vec::new(),
            key_column: 0,
            counts: BTreeMap::new(),
            changed_rows: 0,
            rehearsal: setup.rehearsal,
            encoding: ReportEncoding::Utf8,
        }))
    }

    /// Add the history's columns (`change`, `mark`) to the report's and start the changes
    /// file with them; `key` is the column the card's ICCID is in.
    pub fn columns(&mut self, columns: &mut Vec<String>, key: &str, encoding: ReportEncoding) {
        if self.compare.is_some() {
            columns.push("change".into());
        }
        if self.marking.is_some() {
            columns.push("mark".into());
        }
        self.key_column = columns.iter().position(|c| c == key).unwrap_or(0);
        self.columns = columns.clone();
        self.encoding = encoding;
        if self.compare.is_some() {
            if let Some(path) = beside(&self.dest, "changes.csv") {
                self.changes = Some(ReportOut::start_encoded(
                    ReportDest::Path(path),
                    columns.clone(),
                    self.rehearsal,
                    encoding,
                ));
            }
        }
    }

    /// A report row without a card (invalid, duplicate, not listed): empty history cells.
    pub fn blank(&self, cells: &mut Vec<Cell>) {
        let n = usize::from(self.compare.is_some()) + usize::from(self.marking.is_some());
        cells.extend(std::iter::repeat_n(Cell::Null, n));
    }

    /// A card's row: remember its state, add its `change` and `mark` cells, and copy the row
    /// to the changes file when it changed.
    pub fn row(&mut self, key: &str, state: State, cells: &mut Vec<Cell>) -> Result<(), Failure> {
        let mut changed = false;
        if let Some((_, before)) = &mut self.compare {
            let was = before.remove(key);
            let changes = compare::diff(was.as_ref(), &state);
            for c in &changes {
                *self.counts.entry(c.kind).or_default() += 1;
            }
            changed = !changes.is_empty();
            cells.push(match changed {
                true => Cell::Str(compare::cell_text(&changes)),
                false => Cell::Null,
            });
        }
        if let Some(m) = &mut self.marking {
            m.row(key, &state, cells);
        }
        if changed {
            self.changed_rows += 1;
            if self.changes.is_some() {
                self.pending.push(cells.clone());
                if self.pending.len() >= 1024 {
                    self.flush()?;
                }
            }
        }
        self.seen.push((key.to_string(), state));
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Failure> {
        match &self.changes {
            Some(out) => out.rows(std::mem::take(&mut self.pending)),
            None => Ok(()),
        }
    }

    /// The report is in place: the gone cards, the snapshot, the pruning, the summary. The exit
    /// code: `code`, or 5 when it is 0 and `--fail-on-change` names a change that was found.
    pub fn finish(self, code: i32) -> Result<i32, Failure> {
        self.finish_found(code).map(|(code, _)| code)
    }

    /// [`Recorder::finish`], with what was found for the end of the listing to tell.
    pub fn finish_found(mut self, code: i32) -> Result<(i32, Found), Failure> {
        let gone: Vec<String> = match &mut self.compare {
            Some((_, before)) => {
                let mut g: Vec<String> = before.drain().map(|(k, _)| k).collect();
                g.sort();
                g
            }
            None => Vec::new(),
        };
        let change_at = self.columns.iter().position(|c| c == "change");
        for key in &gone {
            *self.counts.entry(Kind::Gone).or_default() += 1;
            self.changed_rows += 1;
            if self.changes.is_some() {
                let mut row = vec![Cell::Null; self.columns.len()];
                row[self.key_column] = Cell::Str(key.clone());
                if let Some(i) = change_at {
                    row[i] = Cell::Str("gone".into());
                }
                self.pending.push(row);
            }
        }
        self.flush()?;
        let changes_path = match self.changes.take() {
            Some(out) => {
                let dest = out.dest().clone();
                out.commit()?;
                Some(dest)
            }
            None => None,
        };
        let marks_path = match &mut self.marking {
            Some(m) => m.write(&self.dest, &self.columns, self.rehearsal, self.encoding)?,
            None => None,
        };
        let run = self
            .store
            .begin_run(&self.job, self.operation, self.place.as_deref())
            .map_err(Failure::aborted)?;
        for (key, state) in &self.seen {
            self.store.add(run, key, state).map_err(Failure::aborted)?;
        }
        let pruned = self
            .store
            .commit_run(run, &self.job, self.keep, self.keep_days)
            .map_err(Failure::aborted)?;
        tracing::debug!(run, pruned, history = %self.store.path().display(), "history written");
        self.summary(changes_path.as_ref(), marks_path.as_ref())?;
        let found = |k: &Kind| self.counts.get(k).copied().unwrap_or(0) > 0;
        // The first run of a job has nothing to differ from: its cards are `new`, not an alert.
        let first = matches!(&self.compare, Some((run, _)) if run.id == 0);
        let fail = match &self.fail_on {
            _ if first => false,
            FailOn::Never => false,
            FailOn::Any => self.changed_rows > 0,
            FailOn::Kinds(kinds) => kinds.iter().any(found),
        };
        let found = Found {
            changes: (!first && self.compare.is_some()).then(|| {
                self.change_counts()
                    .into_iter()
                    .map(|(k, n)| (k.to_string(), n))
                    .collect()
            }),
            marks: self
                .marking
                .as_ref()
                .map(|m| m.counts.iter().map(|(k, n)| (k.to_string(), *n)).collect()),
        };
        let code = if code == exit::OK && fail {
            exit::CHANGED
        } else {
            code
        };
        Ok((code, found))
    }

    /// The counts per kind of change (every kind, zeros included), for summaries and charts.
    pub fn change_counts(&self) -> BTreeMap<&'static str, u64> {
        change_counts(&self.counts)
    }

    fn summary(
        &self,
        changes: Option<&ReportDest>,
        marks: Option<&ReportDest>,
    ) -> Result<(), Failure> {
        let mut doc = serde_json::Map::new();
        doc.insert("gslbatch_version".into(), json!(env!("CARGO_PKG_VERSION")));
        doc.insert("operation".into(), json!(self.operation));
        doc.insert("job".into(), json!(self.job));
        doc.insert(
            "history".into(),
            json!(self.store.path().display().to_string()),
        );
        doc.insert("cards".into(), json!(self.seen.len()));
        let op = self.operation;
        if let Some((run, _)) = &self.compare {
            let counts = self.change_counts();
            doc.insert(
                "compared_with".into(),
                match run.id {
                    0 => serde_json::Value::Null,
                    _ => json!({"finished_at": run.finished_at, "place": run.place, "cards": run.cards}),
                },
            );
            doc.insert("changes".into(), json!(counts));
            doc.insert("changed_cards".into(), json!(self.changed_rows));
            doc.insert("changes_file".into(), json!(changes.map(|d| d.to_string())));
            let parts: Vec<String> = counts
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(k, n)| format!("{n} {k}"))
                .collect();
            let since = match run.id {
                0 => "nothing (no earlier run of this job)".to_string(),
                _ => format!(
                    "the run finished {}{}",
                    run.finished_at,
                    run.place
                        .as_deref()
                        .map(|p| format!(" ({p})"))
                        .unwrap_or_default()
                ),
            };
            crate::say!(
                "{op}: changes since {since}: {} cards changed{}{}",
                self.changed_rows,
                match parts.is_empty() {
                    true => String::new(),
                    false => format!(" ({})", parts.join(", ")),
                },
                changes
                    .map(|d| format!("; changes: {d}"))
                    .unwrap_or_default()
            );
        }
        if let Some(m) = &self.marking {
            doc.insert("marks".into(), json!(m.counts));
            doc.insert("marks_file".into(), json!(marks.map(|d| d.to_string())));
            let top: Vec<serde_json::Value> = m
                .top_rows
                .iter()
                .map(|(mb, row)| json!({"card": cell_text(&row[self.key_column]), "mb": (mb * 1000.0).round() / 1000.0}))
                .collect();
            doc.insert("top".into(), json!(top));
            let n = |k: &str| m.counts.get(k).copied().unwrap_or(0);
            crate::say!(
                "{op}: against each card's own history: {} spike, {} silent, {} judged, {} not \
                 judged (too little history){}",
                n("spike"),
                n("silent"),
                n("judged"),
                n("not_judged"),
                marks.map(|d| format!("; marks: {d}")).unwrap_or_default()
            );
        }
        if let Some(path) = beside(&self.dest, "summary.json") {
            let text = serde_json::to_string_pretty(&serde_json::Value::Object(doc))
                .expect("JSON of plain values");
            crate::report::atomic_write(&path, |mut out| {
                use std::io::Write;
                out.write_all(text.as_bytes())?;
                out.write_all(b"\n")?;
                Ok(((), out))
            })
            .map_err(|e| Failure::aborted(e.to_string()))?;
        }
        Ok(())
    }
}

fn cell_text(c: &Cell) -> String {
    match c {
        Cell::Str(s) => s.clone(),
        Cell::Int(i) => i.to_string(),
        _ => String::new(),
    }
}
