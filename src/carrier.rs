//! The carriers behind the cards, told apart by ICCID prefix, and what each allows: the rules the
//! tool checks before sending and the simulator enforces when it answers.

use serde::{Deserialize, Serialize};

/// The operator behind a card, decided by its ICCID prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Carrier {
    ChinaTelecom,
    ChinaMobile,
    ChinaUnicom,
    /// A prefix none of the three uses: clear-real-name and SMS refuse it.
    Other,
}

/// Kbps in one Mbps, as the speed-limit API counts them.
const MBPS: i64 = 1024;

/// The speed limits China Telecom allows, in Kbps: 1, 64, 256, 512 Kbps; 1, 3, 5, 7, 10 Mbps,
/// then every 10 Mbps from 20 to 150.
const TELECOM_KBPS: &[i64] = &[
    1,
    64,
    256,
    512,
    MBPS,
    3 * MBPS,
    5 * MBPS,
    7 * MBPS,
    10 * MBPS,
    20 * MBPS,
    30 * MBPS,
    40 * MBPS,
    50 * MBPS,
    60 * MBPS,
    70 * MBPS,
    80 * MBPS,
    90 * MBPS,
    100 * MBPS,
    110 * MBPS,
    120 * MBPS,
    130 * MBPS,
    140 * MBPS,
    150 * MBPS,
];

/// China Unicom's: 256, 512 Kbps; 1, 2 and 7.25 Mbps.
const UNICOM_KBPS: &[i64] = &[256, 512, MBPS, 2 * MBPS, 7424];

/// "No speed limit" in the API's `speed_value`.
pub const NO_SPEED_LIMIT: i64 = -1;

impl Carrier {
    /// The carrier of an ICCID, from its first six characters.
    pub fn from_iccid(iccid: &str) -> Carrier {
        match iccid.get(..6).unwrap_or("") {
            "898603" | "898611" => Carrier::ChinaTelecom,
            "898600" | "898602" | "898604" | "898607" => Carrier::ChinaMobile,
            "898601" | "898606" | "898609" => Carrier::ChinaUnicom,
            _ => Carrier::Other,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Carrier::ChinaTelecom => "China Telecom",
            Carrier::ChinaMobile => "China Mobile",
            Carrier::ChinaUnicom => "China Unicom",
            Carrier::Other => "an unknown carrier",
        }
    }

    /// Whether the platform can send SMS to this carrier's cards.
    pub fn sends_sms(self) -> bool {
        matches!(self, Carrier::ChinaTelecom | Carrier::ChinaMobile)
    }

    /// The speed limits (Kbps) this carrier's cards can be given; empty when it has none.
    pub fn speed_values(self) -> &'static [i64] {
        match self {
            Carrier::ChinaTelecom => TELECOM_KBPS,
            Carrier::ChinaUnicom => UNICOM_KBPS,
            Carrier::ChinaMobile | Carrier::Other => &[],
        }
    }

    /// Why a card of this carrier cannot get the speed limit `kbps`, naming what it offers.
    pub fn check_speed(self, kbps: i64) -> Result<(), String> {
        let values = self.speed_values();
        if values.is_empty() {
            Err(format!(
                "{} cards cannot be speed-limited (China Telecom and China Unicom only)",
                self.name()
            ))
        } else if self.allows_speed(kbps) {
            Ok(())
        } else {
            Err(format!(
                "{} does not offer a {} limit ({kbps} Kbps): it offers {}, or none",
                self.name(),
                speed_words(kbps),
                speeds_words(values)
            ))
        }
    }

    /// Why a card of this carrier cannot be bound to a device: IMEI binding is China Telecom's,
    /// and China Mobile's to the device in use only (`by_device`).
    pub fn check_imei_binding(self, by_device: bool) -> Result<(), String> {
        match self {
            Carrier::ChinaTelecom => Ok(()),
            Carrier::ChinaMobile if by_device => Ok(()),
            Carrier::ChinaMobile => {
                Err("China Mobile cards rebind only to the device in use (--bind-type 1)".into())
            }
            c => Err(format!(
                "{} cards cannot be bound to an IMEI (China Telecom and China Mobile only)",
                c.name()
            )),
        }
    }

    /// Whether `kbps` is a speed this carrier allows (`-1`, no limit, for those that limit).
    pub fn allows_speed(self, kbps: i64) -> bool {
        let values = self.speed_values();
        !values.is_empty() && (kbps == NO_SPEED_LIMIT || values.contains(&kbps))
    }
}

/// A list of speeds in words: `1, 64 Kbps; 1, 3, 7.25 Mbps`.
pub fn speeds_words(values: &[i64]) -> String {
    let (kbps, mbps): (Vec<i64>, Vec<i64>) = values.iter().partition(|k| **k < MBPS);
    let mut parts = Vec::new();
    if !kbps.is_empty() {
        let v: Vec<String> = kbps.iter().map(i64::to_string).collect();
        parts.push(format!("{} Kbps", v.join(", ")));
    }
    if !mbps.is_empty() {
        let v: Vec<String> = mbps
            .iter()
            .map(|k| speed_words(*k).trim_end_matches(" Mbps").to_string())
            .collect();
        parts.push(format!("{} Mbps", v.join(", ")));
    }
    parts.join("; ")
}

/// A speed in words: `512 Kbps`, `7.25 Mbps`.
pub fn speed_words(kbps: i64) -> String {
    if kbps >= MBPS {
        let mbps = kbps as f64 / MBPS as f64;
        format!("{} Mbps", (mbps * 100.0).round() / 100.0)
    } else {
        format!("{kbps} Kbps")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speeds_per_carrier() {
        assert!(Carrier::ChinaUnicom.allows_speed(7424));
        assert!(!Carrier::ChinaTelecom.allows_speed(7424));
        assert!(Carrier::ChinaTelecom.allows_speed(150 * MBPS));
        assert!(Carrier::ChinaTelecom.allows_speed(NO_SPEED_LIMIT));
        assert!(!Carrier::ChinaMobile.allows_speed(NO_SPEED_LIMIT));
        assert_eq!(speed_words(7424), "7.25 Mbps");
        assert_eq!(speed_words(512), "512 Kbps");
        assert_eq!(
            speeds_words(Carrier::ChinaUnicom.speed_values()),
            "256, 512 Kbps; 1, 2, 7.25 Mbps"
        );
    }
}
