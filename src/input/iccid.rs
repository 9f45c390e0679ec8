//! The ICCID rules and duplicate detection, kept apart from the readers because both the readers
//! (to mark a row `invalid`) and the engine (to mark a row `duplicate`) lean on them, and because a
//! run over millions of cards must remember every key it has seen without its memory growing
//! like the input file.

pub use crate::cell::{excel_rounded, shown, strip_excel_markers};

use std::collections::HashMap;

/// Checks one key cell: surrounding whitespace trimmed, 19–20 characters, all digits except that
/// the last may be a hex letter (some carriers end ICCIDs with `F`). Returns the upper-cased key,
/// or the reason it is refused (without a location: the caller knows where the cell came from).
pub fn validate_iccid(raw: &str) -> Result<String, String> {
    let key = strip_excel_markers(raw.trim());
    if key.is_empty() {
        return Err("ICCID is empty".to_string());
    }
    if excel_rounded(key) {
        return Err(format!(
            "ICCID {key:?} is a number Excel rounded (scientific notation): its last digits are \
             lost; format the column as Text in Excel (or export it as text) and export again"
        ));
    }
    let len = key.chars().count();
    if !(19..=20).contains(&len) {
        return Err(format!("ICCID has {len} characters, expected 19-20"));
    }
    for (i, c) in key.chars().enumerate() {
        let last = i + 1 == len;
        if c.is_ascii_digit() || (last && c.is_ascii_hexdigit()) {
            continue;
        }
        return Err(if last {
            format!("ICCID ends with {c:?}, expected a digit or a hex letter A-F")
        } else {
            format!(
                "ICCID has {c:?} at position {}, expected a digit (only the last character may be a hex letter)",
                i + 1
            )
        });
    }
    Ok(key.to_ascii_uppercase())
}

/// Checks a `sim_card_id` cell: surrounding whitespace trimmed, a whole number from 1 (0 means
/// "by ICCID" to the API). Returns the card's journal key `#<id>`, or the reason it is refused.
pub fn validate_sim_card_id(raw: &str) -> Result<String, String> {
    let cell = raw.trim();
    if cell.is_empty() {
        return Err("sim_card_id is empty".to_string());
    }
    if !cell.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "sim_card_id {:?} is not a whole number",
            shown(cell)
        ));
    }
    // The API's ids are signed 64-bit.
    match cell.parse::<i64>() {
        Ok(0) => Err("sim_card_id 0 names no card".to_string()),
        Ok(id) => Ok(crate::gsl::CardRef::id_key(id.unsigned_abs())),
        Err(_) => Err(format!("sim_card_id {:?} is too large", shown(cell))),
    }
}

/// Remembers every key seen in a run and the row it first appeared on.
///
/// A valid ICCID is at most 20 hex nibbles, so it packs into 96 bits together with its length
/// (the length keeps `0123…` and `123…` apart), and with a 32-bit row an entry is 16 bytes
/// aligned to 4 — half of a `(u128, u64)` entry, which is what keeps a 1,000,000-row run
/// under 100 MB while the table doubles. Keys that do not pack (longer than 22 characters or
/// not hex — the engine should only pass valid keys, but this must not panic or lie) fall back
/// to a string map.
#[derive(Debug, Default)]
pub struct Dedupe {
    packed: HashMap<[u32; 3], u32>,
    other: HashMap<String, u64>,
}

impl Dedupe {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `key` (trimmed, compared case-insensitively) as seen on `row`; if it was seen
    /// before, returns the row it first appeared on and keeps that first row.
    pub fn check(&mut self, key: &str, row: u64) -> Option<u64> {
        let key = key.trim();
        match pack(key) {
            Some(p) => match self.packed.entry(p) {
                std::collections::hash_map::Entry::Occupied(e) => Some(u64::from(*e.get())),
                std::collections::hash_map::Entry::Vacant(e) => {
                    // Past 4 billion rows the first row's number saturates; the card is still
                    // found (no real input is that long).
                    e.insert(u32::try_from(row).unwrap_or(u32::MAX));
                    None
                }
            },
            None => {
                let key = key.to_ascii_uppercase();
                match self.other.get(&key) {
                    Some(first) => Some(*first),
                    None => {
                        self.other.insert(key, row);
                        None
                    }
                }
            }
        }
    }

    /// How many distinct keys have been seen.
    pub fn len(&self) -> usize {
        self.packed.len() + self.other.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One nibble per hex character in the low 88 bits, the length above them; as three `u32`s.
fn pack(key: &str) -> Option<[u32; 3]> {
    if key.len() > 22 {
        return None;
    }
    let mut v: u128 = 0;
    for b in key.bytes() {
        let nibble = (b as char).to_digit(16)?;
        v = (v << 4) | nibble as u128;
    }
    let v = v | ((key.len() as u128) << 88);
    Some([v as u32, (v >> 32) as u32, (v >> 64) as u32])
}
