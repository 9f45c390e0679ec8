//! The platform's mutable truth: cards, work orders, sent SMS, tags, and what was done to each
//! card. One `Mutex<Store>` guards it; handlers hold the lock for a lookup or an update only.
//!
//! Delayed effects (a work order finishing, an SMS being delivered) are not timers: each lands
//! on a queue with its due time, and [`Store::settle`] applies whatever is due before every
//! read or write. The delay is one constant, so the queue stays in due order.

use super::inventory::{Carrier, InventoryCard, POOL_IDS};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The type the API gives real-name clearing work orders.
pub const WORK_ORDER_CLEAR_REAL_NAME: u32 = 14;
/// Work order status while its detail is processing, once it completed, and once it failed.
pub const WO_PROCESSING: u32 = 3;
pub const WO_COMPLETED: u32 = 4;
pub const WO_FAILED: u32 = 6;
/// Work order detail status: 1 success, 2 processing.
pub const DETAIL_SUCCESS: u32 = 1;
pub const DETAIL_PROCESSING: u32 = 2;
pub const DETAIL_FAILED: u32 = 3;

/// What a failed clear's work order and detail say.
pub const CLEAR_FAILED: &str = "the carrier did not clear the real-name data";

/// What a work order does to its card once it succeeds.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Type 14: the real-name data is cleared.
    ClearRealName,
    /// Stop (type 5: 14) and restore (type 4: 20): the card's new `sim_status`.
    SimStatus(u32),
    /// Type 10: the card comes into use (20).
    Activate,
    /// Cut the network (type 11) or restore it (20).
    NetCut(bool),
    /// Type 15: the speed limit in Kbps, -1 none.
    Speed(i64),
    /// Set (type 12) or cancel (21) the data cap.
    DataCap(Option<i64>),
    /// Type 13: bind to this IMEI (empty: the device in use).
    Imei(String),
}

impl Change {
    /// The work-order type the API gives this change.
    pub fn work_order_type(&self) -> u32 {
        match self {
            Change::ClearRealName => WORK_ORDER_CLEAR_REAL_NAME,
            Change::SimStatus(14) => 5,
            Change::SimStatus(_) => 4,
            Change::Activate => 10,
            Change::NetCut(true) => 11,
            Change::NetCut(false) => 20,
            Change::Speed(_) => 15,
            Change::DataCap(Some(_)) => 12,
            Change::DataCap(None) => 21,
            Change::Imei(_) => 13,
        }
    }

    /// What a failed work order of this change says.
    pub fn failure(&self) -> &'static str {
        match self {
            Change::ClearRealName => CLEAR_FAILED,
            _ => "the carrier refused the change",
        }
    }
}

/// A work order with its single detail (one card per call).
#[derive(Debug, Clone)]
pub struct WorkOrder {
    pub id: u64,
    pub detail_id: u64,
    pub work_order_type: u32,
    pub change: Change,
    /// Index of the card in [`Store::cards`].
    pub card: usize,
    pub created: DateTime<Utc>,
    pub finished: Option<DateTime<Utc>>,
    /// It ends failed: the card keeps its real-name data.
    pub fails: bool,
}

impl WorkOrder {
    /// The work-order list's status: processing, completed or failed.
    pub fn status(&self) -> u32 {
        match (self.finished, self.fails) {
            (None, _) => WO_PROCESSING,
            (Some(_), false) => WO_COMPLETED,
            (Some(_), true) => WO_FAILED,
        }
    }
}

/// One SMS sent to one card. Status 1 sending, 2 delivered, 3 failed.
#[derive(Debug, Clone)]
pub struct SmsRecord {
    pub cid: String,
    pub msisdn: String,
    pub content: Arc<str>,
    pub sent: DateTime<Utc>,
    pub received: Option<DateTime<Utc>>,
    pub status: u32,
}

/// A tag the platform knows; `accessible = false` ones are refused with GSL.00022004.
#[derive(Debug, Clone)]
pub struct Tag {
    pub id: u64,
    pub name: &'static str,
    pub status: u32,
    pub accessible: bool,
}

enum Due {
    WorkOrder(usize),
    Sms(usize),
}

pub struct Store {
    /// In `sim_card_id` order, so list pages are slices of a scan.
    pub cards: Vec<InventoryCard>,
    pub by_iccid: HashMap<String, usize>,
    pub by_id: HashMap<u64, usize>,
    /// Card indices per pool id, in card order.
    pub pools: HashMap<u64, Vec<usize>>,
    pub work_orders: Vec<WorkOrder>,
    pub sms: Vec<SmsRecord>,
    pub tags: Vec<Tag>,
    /// How many times each card (by ICCID) was actually cleared — dropped answers included.
    pub clear_calls: HashMap<String, u32>,
    /// Work orders created per type and card (by ICCID) — dropped answers included.
    pub orders_per_card: HashMap<u32, HashMap<String, u32>>,
    pub sms_per_cid: HashMap<String, u32>,
    pending: VecDeque<(Instant, Due)>,
    delay: Duration,
    /// Share of work orders that end failed.
    fail_rate: f64,
    /// Share of cids whose messages end failed (see `SimConfig::sms_fail_rate`).
    pub sms_fail_rate: Option<f64>,
    /// The times work orders and messages carry.
    pub clock: super::clock::Clock,
    /// How the fleet's usage moves ([`super::usage`]).
    pub usage: super::usage::Usage,
}

/// First work order id handed out.
const FIRST_WORK_ORDER: u64 = 1_000_001;

impl Store {
    pub fn new(mut cards: Vec<InventoryCard>, work_order_secs: f64, fail_rate: f64) -> Store {
        cards.sort_by_key(|c| c.sim_card_id);
        let mut by_iccid = HashMap::with_capacity(cards.len());
        let mut by_id = HashMap::with_capacity(cards.len());
        let mut pools: HashMap<u64, Vec<usize>> =
            POOL_IDS.iter().map(|p| (*p, Vec::new())).collect();
        for (i, c) in cards.iter().enumerate() {
            by_iccid.insert(c.iccid.clone(), i);
            by_id.insert(c.sim_card_id, i);
            if let Some(p) = c.pool_id {
                pools.entry(p).or_default().push(i);
            }
        }
        let tag = |id, name, accessible| Tag {
            id,
            name,
            status: 1,
            accessible,
        };
        Store {
            cards,
            by_iccid,
            by_id,
            pools,
            work_orders: Vec::new(),
            sms: Vec::new(),
            tags: vec![
                tag(1, "fleet-a", true),
                tag(2, "fleet-b", true),
                tag(3, "resold", true),
                tag(4, "bench", true),
                tag(5, "restricted", false),
                tag(6, "other-tenant", false),
            ],
            clear_calls: HashMap::new(),
            orders_per_card: HashMap::new(),
            sms_per_cid: HashMap::new(),
            pending: VecDeque::new(),
            delay: Duration::from_secs_f64(work_order_secs.max(0.0)),
            fail_rate,
            sms_fail_rate: None,
            clock: super::clock::Clock::default(),
            usage: super::usage::Usage::default(),
        }
    }

    /// Apply every delayed effect that is due by now.
    pub fn settle(&mut self) {
        self.advance_by_clock();
        let now = Instant::now();
        while self.pending.front().is_some_and(|(t, _)| *t <= now) {
            let Some((_, due)) = self.pending.pop_front() else {
                break;
            };
            let at = self.clock.now();
            match due {
                Due::WorkOrder(i) => {
                    let wo = &mut self.work_orders[i];
                    wo.finished = Some(at);
                    if !wo.fails {
                        let c = &mut self.cards[wo.card];
                        match &wo.change {
                            Change::ClearRealName => c.real_named = false,
                            Change::SimStatus(s) => c.sim_status = *s,
                            Change::Activate => c.sim_status = 20,
                            Change::NetCut(cut) => c.state.net_cut = *cut,
                            Change::Speed(kbps) => c.state.speed_kbps = *kbps,
                            Change::DataCap(mb) => c.state.data_cap_mb = *mb,
                            Change::Imei(imei) => {
                                c.state.imei.clone_from(imei);
                                c.state.imei_binds += 1;
                            }
                        }
                    }
                }
                Due::Sms(i) => {
                    let s = &mut self.sms[i];
                    if s.status == 1 {
                        s.status = 2;
                        s.received = Some(at);
                    }
                }
            }
        }
    }

    /// The card with this ICCID, or this `sim_card_id` (0 = by ICCID).
    pub fn find(&self, sim_card_id: u64, iccid: Option<&str>) -> Option<usize> {
        if sim_card_id == 0 {
            return iccid.and_then(|i| self.by_iccid.get(i)).copied();
        }
        let idx = *self.by_id.get(&sim_card_id)?;
        match iccid {
            Some(i) if self.cards[idx].iccid != i => None,
            _ => Some(idx),
        }
    }

    /// Clear a card's real-name data: a new work order, finishing after the configured delay.
    pub fn clear_real_name(&mut self, card: usize) -> u64 {
        let id = self.work_order_for(card, Change::ClearRealName);
        *self
            .clear_calls
            .entry(self.cards[card].iccid.clone())
            .or_default() += 1;
        id
    }

    /// A new work order that makes `change` to `card` when it succeeds, after the configured
    /// delay (unless it is one of the share that fail, chosen at random).
    pub fn work_order_for(&mut self, card: usize, change: Change) -> u64 {
        let n = self.work_orders.len();
        let id = FIRST_WORK_ORDER + n as u64;
        let work_order_type = change.work_order_type();
        *self
            .orders_per_card
            .entry(work_order_type)
            .or_default()
            .entry(self.cards[card].iccid.clone())
            .or_default() += 1;
        self.work_orders.push(WorkOrder {
            id,
            detail_id: 5_000_001 + n as u64,
            work_order_type,
            change,
            card,
            created: self.clock.now(),
            finished: None,
            fails: fastrand::f64() < self.fail_rate,
        });
        self.pending
            .push_back((Instant::now() + self.delay, Due::WorkOrder(n)));
        id
    }

    /// The work order with this id.
    pub fn work_order(&self, id: u64) -> Option<&WorkOrder> {
        let i = id.checked_sub(FIRST_WORK_ORDER)?;
        self.work_orders.get(usize::try_from(i).ok()?)
    }

    /// Whether a card can receive SMS at all.
    pub fn sms_eligible(&self, card: usize) -> bool {
        let c = &self.cards[card];
        c.carrier.sends_sms() && c.sms_plan
    }

    /// Whether messages to this card fail delivery: reproducibly per cid, the configured
    /// share of them, or (by default) the cards whose `sim_card_id` ends in 7.
    pub fn sms_fails(&self, card: usize) -> bool {
        let c = &self.cards[card];
        match self.sms_fail_rate {
            None => c.sim_card_id % 10 == 7,
            Some(p) => {
                // FNV-1a of the cid: the same cids fail in every run and every process.
                let h = c.iccid.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                    (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
                });
                ((h >> 11) as f64 / (1u64 << 53) as f64) < p
            }
        }
    }

    /// Send one SMS. Cards that [`Store::sms_fails`] fail delivery; the rest are delivered when
    /// the delay passes.
    pub fn send_sms(&mut self, card: usize, content: &Arc<str>) {
        let fails = self.sms_fails(card);
        let c = &self.cards[card];
        let now = self.clock.now();
        self.sms.push(SmsRecord {
            cid: c.iccid.clone(),
            msisdn: c.msisdn.clone(),
            content: content.clone(),
            sent: now,
            received: None,
            status: 1,
        });
        let i = self.sms.len() - 1;
        if fails {
            self.sms[i].status = 3;
        } else {
            self.pending
                .push_back((Instant::now() + self.delay, Due::Sms(i)));
        }
        *self.sms_per_cid.entry(c.iccid.clone()).or_default() += 1;
    }

    /// Names of a card's tags, comma-joined as the card list shows them.
    pub fn tag_names(&self, card: usize) -> String {
        self.cards[card]
            .tag_ids
            .iter()
            .filter_map(|id| self.tags.iter().find(|t| t.id == *id))
            .map(|t| t.name)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Whether a carrier is the one clear-real-name serves.
    pub fn clearable(&self, card: usize) -> bool {
        self.cards[card].carrier == Carrier::ChinaTelecom
    }
}

/// Times as the API writes them: RFC 3339, UTC, whole seconds.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
