//! The card inventory the simulator serves: deterministic from a seed, read from a CSV, or built
//! from a list of ICCIDs for rehearsals.
//!
//! Everything a test may assert on (ids, ICCIDs, carriers, orders, flags) is a pure function of
//! the seed, so two simulators started with the same `--cards N --seed S` agree card for card.
//! Rehearsals may ask for a million cards, so building is a single pass of cheap formatting.

use serde::{Deserialize, Serialize};
use std::path::Path;

pub use crate::carrier::Carrier;

/// One card as the platform stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InventoryCard {
    pub sim_card_id: u64,
    /// 19 or 20 characters; the cid of a physical card.
    pub iccid: String,
    pub msisdn: String,
    pub carrier: Carrier,
    /// The purchase batch the card belongs to.
    pub order_id: u64,
    /// 10 testable, 11 not activated, 13 activatable, 14 stopped, 20 in use, 30 dismantled.
    pub sim_status: u32,
    pub real_named: bool,
    /// Whether the card's plan includes SMS (needed to receive one).
    pub sms_plan: bool,
    /// The flow pool the card belongs to, if any.
    pub pool_id: Option<u64>,
    pub sim_price_plan_id: u64,
    /// Flow used this billing cycle, in MB.
    pub flow_used: f64,
    /// Ids of the tags set on the card.
    #[serde(default)]
    pub tag_ids: Vec<u64>,
    /// What the card-state operations set: its network cut, speed limit, data cap and IMEI.
    #[serde(default, flatten)]
    pub state: CardState,
}

/// A card's settings that the card-state operations change (all off on a new card).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CardState {
    /// Its network is cut (断网).
    #[serde(default)]
    pub net_cut: bool,
    /// Its speed limit in Kbps; -1: none.
    #[serde(default = "no_speed_limit")]
    pub speed_kbps: i64,
    /// The data (MB) after which its network is cut; `None`: no cap.
    #[serde(default)]
    pub data_cap_mb: Option<i64>,
    /// The IMEI it is bound to, empty when none.
    #[serde(default)]
    pub imei: String,
    /// IMEI rebinds done this month (China Telecom allows two).
    #[serde(default)]
    pub imei_binds: u32,
}

fn no_speed_limit() -> i64 {
    crate::carrier::NO_SPEED_LIMIT
}

impl Default for CardState {
    fn default() -> CardState {
        CardState {
            net_cut: false,
            speed_kbps: no_speed_limit(),
            data_cap_mb: None,
            imei: String::new(),
            imei_binds: 0,
        }
    }
}

impl InventoryCard {
    /// The flow (MB) its price plan holds each cycle: 1, 2 or 3 GB by plan.
    pub fn flow_total(&self) -> f64 {
        1024.0 * (1 + self.sim_price_plan_id % 3) as f64
    }
}

/// The Luhn check digit for a string of decimal digits.
pub fn luhn_digit(digits: &str) -> char {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    char::from(b'0' + ((10 - sum % 10) % 10) as u8)
}

/// Whether a string is an ICCID the API would accept by form: 19–20 ASCII letters or digits.
pub fn is_iccid_shaped(s: &str) -> bool {
    (19..=20).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

const TELECOM: [&str; 2] = ["898603", "898611"];
const MOBILE: [&str; 4] = ["898600", "898602", "898604", "898607"];
const UNICOM: [&str; 3] = ["898601", "898606", "898609"];

/// Pools cards may belong to (ids the pool-member endpoint serves).
pub const POOL_IDS: [u64; 3] = [3001, 3002, 3003];

/// The fields of a card that do not come from its ICCID, drawn from `rng` in a fixed order.
fn card_from(i: usize, iccid: String, rng: &mut fastrand::Rng, next_id: &mut u64) -> InventoryCard {
    *next_id += rng.u64(1..=9);
    let carrier = Carrier::from_iccid(&iccid);
    let sim_status = match rng.u32(0..100) {
        0..=79 => 20,
        80..=87 => 13,
        88..=93 => 14,
        94..=97 => 11,
        _ => 10,
    };
    let pool_id = if rng.bool() {
        Some(POOL_IDS[rng.usize(0..POOL_IDS.len())])
    } else {
        None
    };
    let tag_ids = if rng.u32(0..4) == 0 {
        vec![rng.u64(1..=3)]
    } else {
        Vec::new()
    };
    InventoryCard {
        sim_card_id: *next_id,
        msisdn: format!("14{}{:010}", rng.u32(0..10), i),
        carrier,
        order_id: 50_000 + (i / 250) as u64,
        sim_status,
        real_named: rng.u32(0..10) < 7,
        sms_plan: carrier.sends_sms() && rng.u32(0..10) < 8,
        pool_id,
        sim_price_plan_id: 700 + pool_id.map_or(0, |p| p % 10),
        flow_used: (rng.u32(0..2_000_000) as f64) / 1000.0,
        tag_ids,
        iccid,
        state: CardState::default(),
    }
}

/// `n` cards deterministic from `seed`, in `sim_card_id` order; about half China Telecom.
pub fn generate(n: usize, seed: u64) -> Vec<InventoryCard> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut next_id = 100_000;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let prefix = match rng.u32(0..10) {
            0..=4 => TELECOM[rng.usize(0..TELECOM.len())],
            5..=7 => MOBILE[rng.usize(0..MOBILE.len())],
            _ => UNICOM[rng.usize(0..UNICOM.len())],
        };
        // The index makes every ICCID unique; one card in fifty has the short 19-char form.
        let body = if i % 50 == 49 {
            format!("{prefix}{:02}{:010}", rng.u32(0..100), i)
        } else {
            format!("{prefix}{:03}{:010}", rng.u32(0..1000), i)
        };
        let iccid = format!("{body}{}", luhn_digit(&body));
        out.push(card_from(i, iccid, &mut rng, &mut next_id));
    }
    out
}

/// Cards for the given ICCIDs (rehearsals): the carrier from each prefix, the rest deterministic.
/// A key `#<id>` (an input row given by `sim_card_id`) becomes a China Telecom card with that id.
/// Strings that are not ICCID-shaped and repeats are skipped: the run will see them as unknown.
pub fn from_iccids(iccids: &[String]) -> Vec<InventoryCard> {
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let mut next_id = 100_000;
    let given: std::collections::HashSet<u64> = iccids
        .iter()
        .filter_map(|k| k.trim().strip_prefix('#')?.parse().ok())
        .collect();
    let mut seen = std::collections::HashSet::with_capacity(iccids.len());
    // ICCIDs taken: the input's, then each one made up for a `#<id>` key.
    let mut taken: std::collections::HashSet<String> = iccids
        .iter()
        .map(|k| k.trim().to_string())
        .filter(|k| is_iccid_shaped(k))
        .collect();
    let mut out = Vec::with_capacity(iccids.len());
    for key in iccids {
        let key = key.trim();
        if !seen.insert(key) {
            continue;
        }
        let i = out.len();
        if let Some(id) = key.strip_prefix('#').and_then(|n| n.parse::<u64>().ok()) {
            let iccid = (0u64..)
                .map(|n| {
                    let body = format!(
                        "{}{:013}",
                        TELECOM[0],
                        id.wrapping_add(n) % 10_000_000_000_000
                    );
                    format!("{body}{}", luhn_digit(&body))
                })
                .find(|c| !taken.contains(c))
                .expect("a free ICCID among 10^13");
            taken.insert(iccid.clone());
            let mut card = card_from(i, iccid, &mut rng, &mut 0);
            card.sim_card_id = id;
            out.push(card);
        } else if is_iccid_shaped(key) {
            let mut card = card_from(i, key.to_string(), &mut rng, &mut next_id);
            while given.contains(&card.sim_card_id) {
                next_id += 1;
                card.sim_card_id = next_id;
            }
            out.push(card);
        }
    }
    out
}

/// Read an inventory CSV with a header row. Columns (by name): `iccid` (required), and optionally
/// `sim_card_id`, `msisdn`, `order_id`, `sim_status`, `real_named`, `sms_plan`, `pool_id`,
/// `flow_used`; missing values are filled in deterministically as for [`from_iccids`].
pub fn load_inventory_csv(path: &Path) -> std::io::Result<Vec<InventoryCard>> {
    let bad = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
    let mut rdr =
        csv::Reader::from_path(path).map_err(|e| bad(format!("{}: {e}", path.display())))?;
    let headers = rdr
        .headers()
        .map_err(|e| bad(format!("{}: {e}", path.display())))?
        .clone();
    let col = |name: &str| headers.iter().position(|h| h.trim() == name);
    let iccid_col =
        col("iccid").ok_or_else(|| bad(format!("{}: no `iccid` column", path.display())))?;
    let mut rows = Vec::new();
    for rec in rdr.records() {
        rows.push(rec.map_err(|e| bad(format!("{}: {e}", path.display())))?);
    }
    // Only ICCID-shaped cells make cards (a `#<id>` rehearsal key is not one here).
    let iccids: Vec<String> = rows
        .iter()
        .map(|r| r.get(iccid_col).unwrap_or("").trim().to_string())
        .filter(|c| is_iccid_shaped(c))
        .collect();
    let mut cards = from_iccids(&iccids);
    let by_iccid: std::collections::HashMap<&str, usize> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (r.get(iccid_col).unwrap_or("").trim(), i))
        .collect();
    let field = |r: &csv::StringRecord, name: &str| {
        col(name)
            .and_then(|c| r.get(c))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    for card in &mut cards {
        let Some(&i) = by_iccid.get(card.iccid.as_str()) else {
            continue;
        };
        let r = &rows[i];
        let parse_err = |n: &str, v: &str| {
            bad(format!(
                "{}: bad {n} {v:?} for {}",
                path.display(),
                card.iccid
            ))
        };
        if let Some(v) = field(r, "sim_card_id") {
            card.sim_card_id = v.parse().map_err(|_| parse_err("sim_card_id", &v))?;
        }
        if let Some(v) = field(r, "msisdn") {
            card.msisdn = v;
        }
        if let Some(v) = field(r, "order_id") {
            card.order_id = v.parse().map_err(|_| parse_err("order_id", &v))?;
        }
        if let Some(v) = field(r, "sim_status") {
            card.sim_status = v.parse().map_err(|_| parse_err("sim_status", &v))?;
        }
        if let Some(v) = field(r, "real_named") {
            card.real_named = matches!(v.as_str(), "true" | "1" | "yes");
        }
        if let Some(v) = field(r, "sms_plan") {
            card.sms_plan = matches!(v.as_str(), "true" | "1" | "yes");
        }
        if let Some(v) = field(r, "pool_id") {
            card.pool_id = Some(v.parse().map_err(|_| parse_err("pool_id", &v))?);
        }
        if let Some(v) = field(r, "flow_used") {
            card.flow_used = v.parse().map_err(|_| parse_err("flow_used", &v))?;
        }
    }
    cards.sort_by_key(|c| c.sim_card_id);
    Ok(cards)
}
