//! `usage` against each card's own past: the rule, each card's series of earlier periods, the
//! marked rows and the top users of one listing (see [`super::marks`] for the judging).

use super::compare::State;
use super::marks::{Mark, Rule, Verdict};
use super::store::Store;
use super::{beside, marks, MarkArgs};
use crate::exit::Failure;
use crate::listing::ReportOut;
use crate::report::encoding::ReportEncoding;
use crate::report::layout::Cell;
use crate::report::ReportDest;
use std::collections::{BTreeMap, HashMap};

pub(super) struct Marking {
    rule: Rule,
    top: usize,
    /// Each card's `flow_used` in the job's last runs, oldest first.
    series: HashMap<String, Vec<Option<f64>>>,
    pub(super) counts: BTreeMap<&'static str, u64>,
    /// Marked rows for the marks file.
    marked: Vec<Vec<Cell>>,
    /// The top users so far: (this period's use, or flow_used without history; row).
    pub(super) top_rows: Vec<(f64, Vec<Cell>)>,
}

impl Marking {
    pub(super) fn open(
        m: &MarkArgs,
        store: &Store,
        job: &str,
        op: &str,
    ) -> Result<Marking, Failure> {
        let rule = Rule {
            factor: m.spike_factor.unwrap_or(3.0),
            periods: m.spike_periods.unwrap_or(7),
            min_mb: m.spike_min_mb.unwrap_or(10.0),
        };
        if !(rule.factor.is_finite() && rule.factor > 0.0) {
            return Err(Failure::usage("--spike-factor must be a positive number"));
        }
        if rule.periods < super::marks::MIN_PERIODS {
            return Err(Failure::usage(format!(
                "--spike-periods must be at least {}",
                super::marks::MIN_PERIODS
            )));
        }
        if !(rule.min_mb.is_finite() && rule.min_mb >= 0.0) {
            return Err(Failure::usage("--spike-min-mb must be 0 or more"));
        }
        // K periods need K + 1 readings.
        let runs = store
            .last_runs(job, op, rule.periods + 1)
            .map_err(Failure::aborted)?;
        let series = store.flow_series(&runs).map_err(Failure::aborted)?;
        Ok(Marking {
            rule,
            top: m.top.unwrap_or(5),
            series,
            counts: ["spike", "silent", "judged", "not_judged"]
                .into_iter()
                .map(|k| (k, 0))
                .collect(),
            marked: Vec::new(),
            top_rows: Vec::new(),
        })
    }

    pub(super) fn row(&mut self, key: &str, state: &State, cells: &mut Vec<Cell>) {
        let Some(now) = state.flow_used else {
            cells.push(Cell::Null);
            return;
        };
        let series = self.series.get(key);
        let verdict = series.map_or(Verdict::NotJudged, |s| marks::judge(&self.rule, s, now));
        let used = match series.and_then(|s| s.last().copied().flatten()) {
            Some(last) if now >= last => now - last,
            _ => now,
        };
        *self
            .counts
            .entry(match verdict {
                Verdict::NotJudged => "not_judged",
                _ => "judged",
            })
            .or_default() += 1;
        match verdict {
            Verdict::Marked(mark) => {
                *self.counts.entry(mark.name()).or_default() += 1;
                cells.push(Cell::Str(mark.name().into()));
                self.marked.push(cells.clone());
            }
            _ => cells.push(Cell::Null),
        }
        if self.top > 0 {
            let at = self.top_rows.partition_point(|(mb, _)| *mb >= used);
            if at < self.top {
                self.top_rows.insert(at, (used, cells.clone()));
                self.top_rows.truncate(self.top);
            }
        }
    }

    /// `NAME.marks.csv`: the marked cards (spike first), then the top users (`mark` `top`).
    pub(super) fn write(
        &mut self,
        dest: &ReportDest,
        columns: &[String],
        rehearsal: bool,
        encoding: ReportEncoding,
    ) -> Result<Option<ReportDest>, Failure> {
        let Some(path) = beside(dest, "marks.csv") else {
            return Ok(None);
        };
        let mark_at = columns.iter().position(|c| c == "mark");
        let mut rows = std::mem::take(&mut self.marked);
        rows.sort_by_key(|r| match mark_at.map(|i| &r[i]) {
            Some(Cell::Str(s)) if s == Mark::Spike.name() => 0,
            _ => 1,
        });
        for (_, row) in &self.top_rows {
            let mut row = row.clone();
            if let Some(i) = mark_at {
                row[i] = Cell::Str(match &row[i] {
                    Cell::Str(s) => format!("top; {s}"),
                    _ => "top".into(),
                });
            }
            rows.push(row);
        }
        let out = ReportOut::start_encoded(
            ReportDest::Path(path),
            columns.to_vec(),
            rehearsal,
            encoding,
        );
        let d = out.dest().clone();
        out.rows(rows)?;
        out.commit()?;
        Ok(Some(d))
    }
}
