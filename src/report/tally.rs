//! A listing's figures for its workbook's `summary` sheet, gathered as its rows stream past
//! (a listing has no journal and no `summary.json`): `inventory` counts cards per `sim_status`
//! and per carrier (by ICCID prefix), `usage` keeps the 20 cards that used the most data. The
//! sheet's charts range over these rows (see [`super::writer::CHARTED`]).

use super::layout::Cell;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// How many cards the usage chart shows.
pub const TOP: usize = 20;

/// What a listing's rows add up to.
#[derive(Debug, Default)]
pub struct Tally {
    rows: u64,
    sim_status: Option<usize>,
    iccid: Option<usize>,
    /// Usage: the `flow_used` column (a usage report has `flow_left`; inventory does not).
    flow_used: Option<usize>,
    per_status: BTreeMap<i64, u64>,
    per_carrier: BTreeMap<&'static str, u64>,
    /// At most [`TOP`] `(card, MB used)`.
    top: Vec<(String, f64)>,
}

impl Tally {
    pub fn new(columns: &[String]) -> Tally {
        let at = |name: &str| columns.iter().position(|c| c == name);
        let usage = at("flow_left").is_some();
        Tally {
            sim_status: at("sim_status"),
            iccid: at("iccid"),
            flow_used: at("flow_used").filter(|_| usage),
            ..Tally::default()
        }
    }

    pub fn row(&mut self, cells: &[Cell]) {
        self.rows += 1;
        let iccid = self.iccid.and_then(|i| match cells.get(i) {
            Some(Cell::Str(s)) => Some(s.as_str()),
            _ => None,
        });
        if let Some(i) = self.sim_status {
            if let Some(Cell::Int(st)) = cells.get(i) {
                *self.per_status.entry(*st).or_default() += 1;
            }
            if let Some(id) = iccid {
                *self
                    .per_carrier
                    .entry(crate::carrier::Carrier::from_iccid(id).name())
                    .or_default() += 1;
            }
        }
        if let (Some(i), Some(id)) = (self.flow_used, iccid) {
            if let Some(Cell::Float(used)) = cells.get(i) {
                self.keep_top(id, *used);
            }
        }
    }

    fn keep_top(&mut self, id: &str, used: f64) {
        if self.top.len() < TOP {
            self.top.push((id.to_string(), used));
            return;
        }
        // The order of the chart: more used first, then the lower card number; the last kept
        // card by that order makes way for a better one, so ties are kept the same every run.
        let worse = |a: &(String, f64), b: &(String, f64)| {
            a.1.total_cmp(&b.1).then_with(|| b.0.cmp(&a.0)).is_lt()
        };
        let mut last = 0;
        for i in 1..self.top.len() {
            if worse(&self.top[i], &self.top[last]) {
                last = i;
            }
        }
        let new = (id.to_string(), used);
        if worse(&self.top[last], &new) {
            self.top[last] = new;
        }
    }

    /// The summary sheet's `field, value` rows, each group's rows together and in chart order
    /// (the top cards by use, most first).
    pub fn rows(&self) -> Vec<(String, Value)> {
        let mut out = vec![("rows".to_string(), json!(self.rows))];
        for (st, n) in &self.per_status {
            out.push((format!("sim_status.{st}"), json!(n)));
        }
        for (c, n) in &self.per_carrier {
            out.push((format!("carrier.{c}"), json!(n)));
        }
        let mut top = self.top.clone();
        top.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        for (id, used) in top {
            out.push((format!("top_used.{id}"), json!(used)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_top_20_are_the_most_used_with_ties_broken_by_card_whatever_the_order() {
        let columns: Vec<String> = ["iccid", "flow_used", "flow_left"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let cards: Vec<(String, f64)> = (0..40)
            .map(|i| (format!("898600000000000000{i:02}"), f64::from(i % 7)))
            .collect();
        let mut want = cards.clone();
        want.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        want.truncate(TOP);
        for order in [cards.clone(), cards.iter().rev().cloned().collect()] {
            let mut t = Tally::new(&columns);
            for (id, used) in &order {
                t.row(&[Cell::Str(id.clone()), Cell::Float(*used), Cell::Float(0.0)]);
            }
            let got: Vec<(String, f64)> = t
                .rows()
                .into_iter()
                .filter_map(|(k, v)| {
                    k.strip_prefix("top_used.")
                        .map(|id| (id.to_string(), v.as_f64().unwrap()))
                })
                .collect();
            assert_eq!(got, want);
        }
    }
}
