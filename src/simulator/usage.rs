//! A fleet whose usage moves: every card uses a steady amount of data a simulated day (5..50
//! MB, fixed by its `sim_card_id`), days pass when told (`POST /__sim/usage`
//! `{"advance_days": N}`, [`super::Simulator::advance_days`]) or every `--day-secs` seconds, and
//! chosen cards can be made to use a multiple of their normal (`{"factor": {"ICCID": 5}}`) or
//! nothing (`{"silent": ["ICCID"]}`) from then on. New cards can join the fleet
//! (`{"add_cards": N}`). So history, changes and unusual usage can be shown against it.

use super::inventory::{luhn_digit, InventoryCard};
use super::store::Store;
use super::Sim;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// `simulate`'s flags for a fleet whose usage moves.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SimUsageArgs {
    /// A simulated day (each card's daily use added to its flow_used) passes every this many
    /// seconds; without it days pass only when `POST /__sim/usage` says so.
    #[arg(long, value_name = "SECS")]
    pub day_secs: Option<f64>,
}

/// How the fleet's usage moves.
#[derive(Debug, Default)]
pub struct Usage {
    /// Simulated days that have passed.
    pub day: u64,
    /// A card's daily use times this (by ICCID): 0 silent, 5 a jump; absent 1.
    pub factor: HashMap<String, f64>,
    /// Real seconds a day, and when the days began.
    pub day_secs: Option<(f64, Instant)>,
}

/// MB a card uses on a normal day: 5..=50, fixed by its id.
pub fn daily_mb(card: &InventoryCard) -> f64 {
    5.0 + (card.sim_card_id.wrapping_mul(7919) % 46) as f64
}

impl Store {
    /// `n` simulated days pass: each card's flow_used grows by its daily use (times its factor).
    pub fn advance_days(&mut self, n: u64) {
        if n == 0 {
            return;
        }
        self.usage.day += n;
        for c in &mut self.cards {
            let f = self.usage.factor.get(&c.iccid).copied().unwrap_or(1.0);
            c.flow_used += daily_mb(c) * f * n as f64;
        }
    }

    /// The days due by the clock (`--day-secs`).
    pub fn advance_by_clock(&mut self) {
        if let Some((secs, since)) = self.usage.day_secs {
            let due = (since.elapsed().as_secs_f64() / secs) as u64;
            let n = due.saturating_sub(self.usage.day);
            self.advance_days(n);
        }
    }

    /// `n` new cards join the fleet (China Telecom, in use, real-named, no tags), after the
    /// others in `sim_card_id` order.
    pub fn add_cards(&mut self, n: usize) -> Vec<InventoryCard> {
        let mut added = Vec::with_capacity(n);
        let template = self.cards.last().cloned();
        let mut next_id = self.cards.last().map_or(100_000, |c| c.sim_card_id);
        for _ in 0..n {
            next_id += 1;
            let i = self.cards.len();
            let body = format!("898603999{:010}", next_id);
            let iccid = format!("{body}{}", luhn_digit(&body));
            let card = InventoryCard {
                sim_card_id: next_id,
                iccid: iccid.clone(),
                msisdn: format!("149{:010}", next_id),
                carrier: super::Carrier::ChinaTelecom,
                order_id: template.as_ref().map_or(50_000, |c| c.order_id),
                sim_status: 20,
                real_named: true,
                sms_plan: true,
                pool_id: None,
                sim_price_plan_id: 700,
                flow_used: 0.0,
                tag_ids: Vec::new(),
                state: Default::default(),
            };
            self.by_iccid.insert(iccid, i);
            self.by_id.insert(next_id, i);
            self.cards.push(card.clone());
            added.push(card);
        }
        added
    }
}

/// What `POST /__sim/usage` may say, every part optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    /// Cards (by ICCID) whose daily use is multiplied from now on (1: back to normal).
    #[serde(default)]
    pub factor: HashMap<String, f64>,
    /// Cards that use nothing from now on.
    #[serde(default)]
    pub silent: Vec<String>,
    /// New cards to add to the fleet.
    #[serde(default)]
    pub add_cards: usize,
    /// Days to pass, after the factors are set.
    #[serde(default)]
    pub advance_days: u64,
}

impl Store {
    /// Apply a [`Control`]: factors, then new cards, then days.
    pub fn control(&mut self, c: Control) -> Vec<InventoryCard> {
        self.settle();
        for (iccid, f) in c.factor {
            self.usage.factor.insert(iccid, f.max(0.0));
        }
        for iccid in c.silent {
            self.usage.factor.insert(iccid, 0.0);
        }
        let added = self.add_cards(c.add_cards);
        self.advance_days(c.advance_days);
        added
    }
}

/// `POST /__sim/usage`: see [`Control`]; answers the day and the cards added.
pub async fn control(
    State(sim): State<Arc<Sim>>,
    Json(c): Json<Control>,
) -> Result<Json<Value>, super::errors::ApiError> {
    let mut store = sim.store.lock().unwrap();
    let added = store.control(c);
    let added: Vec<&str> = added.iter().map(|c| c.iccid.as_str()).collect();
    Ok(Json(json!({"day": store.usage.day, "added": added})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_add_each_cards_daily_use_times_its_factor() {
        let cards = super::super::inventory::generate(10, 1);
        let mut s = Store::new(cards.clone(), 0.0, 0.0);
        let (a, b) = (cards[0].iccid.clone(), cards[1].iccid.clone());
        s.control(Control {
            factor: [(a.clone(), 5.0)].into(),
            silent: vec![b.clone()],
            add_cards: 2,
            advance_days: 2,
        });
        assert_eq!(s.cards.len(), 12);
        let used = |i: usize| s.cards[i].flow_used - cards.get(i).map_or(0.0, |c| c.flow_used);
        assert_eq!(used(0), daily_mb(&cards[0]) * 10.0);
        assert_eq!(used(1), 0.0);
        assert_eq!(used(2), daily_mb(&cards[2]) * 2.0);
        assert_eq!(s.cards[10].flow_used, daily_mb(&s.cards[10]) * 2.0);
        assert!(s.by_iccid.contains_key(&s.cards[11].iccid));
    }

    #[test]
    fn with_day_secs_the_days_pass_by_the_clock() {
        let cards = super::super::inventory::generate(3, 1);
        let mut s = Store::new(cards.clone(), 0.0, 0.0);
        let since = Instant::now() - std::time::Duration::from_millis(1050);
        s.usage.day_secs = Some((0.1, since));
        s.settle();
        assert_eq!(s.usage.day, 10);
        assert_eq!(
            s.cards[0].flow_used - cards[0].flow_used,
            daily_mb(&cards[0]) * 10.0
        );
        s.settle();
        assert!(s.usage.day >= 10, "days already passed are not added twice");
    }
}
