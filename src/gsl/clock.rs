//! How far the API's clock is from ours, read from the `Date` header of its answers.
//!
//! `follow` compares the API's record times (work orders, SMS) with times this machine wrote in
//! the journal, so it must know the difference. A `Date` header has one-second resolution and
//! was written somewhere between our sending the request and our reading the answer, so each
//! answer bounds the offset to an interval: `[date - received, date + 1 s - sent]`. The gauge
//! keeps the hull of every interval it saw (not their intersection): a clock stepped in the
//! middle of a run widens it, and whoever relies on it sees the whole range.
//!
//! Cheap enough for a 20,000 calls/s run: one atomic add per call; only the first answers and
//! then every [`EVERY`]th take the time and parse the header.

use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Answers measured in full at the start.
const FIRST: u64 = 8;
/// Then one answer in this many.
const EVERY: u64 = 64;

/// The API's clock less ours, within `[lo_ms, hi_ms]` milliseconds (positive: the API is
/// ahead).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ClockOffset {
    pub lo_ms: i64,
    pub hi_ms: i64,
}

impl ClockOffset {
    /// The interval one answer proves: sent at `sent`, received at `received`, dated `date`.
    pub fn from_answer(sent: DateTime<Utc>, received: DateTime<Utc>, date: DateTime<Utc>) -> Self {
        let date = date.timestamp_millis();
        ClockOffset {
            lo_ms: date - received.timestamp_millis(),
            hi_ms: date + 1000 - sent.timestamp_millis(),
        }
    }

    /// From a middle and a half-width (as the journal keeps it).
    pub fn from_mid(offset_ms: i64, error_ms: i64) -> Self {
        let e = error_ms.abs();
        ClockOffset {
            lo_ms: offset_ms - e,
            hi_ms: offset_ms + e,
        }
    }

    /// The middle of the interval.
    pub fn mid_ms(&self) -> i64 {
        self.lo_ms + (self.hi_ms - self.lo_ms) / 2
    }

    /// Half the interval's width (rounded up): `mid ± error` covers it.
    pub fn error_ms(&self) -> i64 {
        (self.hi_ms - self.lo_ms + 1) / 2
    }

    /// The smallest interval holding both.
    pub fn hull(self, other: ClockOffset) -> ClockOffset {
        ClockOffset {
            lo_ms: self.lo_ms.min(other.lo_ms),
            hi_ms: self.hi_ms.max(other.hi_ms),
        }
    }

    /// The farthest the two clocks may be apart, either way.
    pub fn max_abs_ms(&self) -> i64 {
        self.lo_ms.abs().max(self.hi_ms.abs())
    }

    pub fn lo(&self) -> chrono::Duration {
        chrono::Duration::milliseconds(self.lo_ms)
    }

    pub fn hi(&self) -> chrono::Duration {
        chrono::Duration::milliseconds(self.hi_ms)
    }
}

/// Parse an HTTP `Date` header (IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn parse_http_date(v: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(v.trim())
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// Shared by every clone of a client: what its answers said about the API's clock.
#[derive(Debug, Default)]
pub struct ClockGauge {
    answers: AtomicU64,
    seen: Mutex<Option<ClockOffset>>,
}

impl ClockGauge {
    /// Called before each request: `Some(now)` when this one's answer is to be measured.
    pub fn start(&self) -> Option<DateTime<Utc>> {
        let n = self.answers.fetch_add(1, Ordering::Relaxed);
        (n < FIRST || n.is_multiple_of(EVERY)).then(Utc::now)
    }

    /// An answer to a measured request arrived with this `Date` header.
    pub fn answer(&self, sent: DateTime<Utc>, date: Option<&str>) {
        let Some(date) = date.and_then(parse_http_date) else {
            return;
        };
        self.record(ClockOffset::from_answer(sent, Utc::now(), date));
    }

    pub fn record(&self, o: ClockOffset) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        *seen = Some(seen.map_or(o, |s| s.hull(o)));
    }

    /// Every offset measured so far, `None` before the first dated answer.
    pub fn offset(&self) -> Option<ClockOffset> {
        *self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_bounds_the_offset_by_its_latency_and_the_second() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        // The API is 11 minutes behind; the answer took 200 ms.
        let o = ClockOffset::from_answer(
            t("2026-01-01T12:11:00.300Z"),
            t("2026-01-01T12:11:00.500Z"),
            parse_http_date("Thu, 01 Jan 2026 12:00:00 GMT").unwrap(),
        );
        assert_eq!(o.lo_ms, -660_500);
        assert_eq!(o.hi_ms, -659_300);
        assert!(o.lo_ms <= -660_000 && -660_000 <= o.hi_ms);
        assert_eq!(o.max_abs_ms(), 660_500);
        let g = ClockGauge::default();
        assert_eq!(g.offset(), None);
        g.record(o);
        g.record(ClockOffset::from_mid(0, 500));
        assert_eq!(
            g.offset(),
            Some(ClockOffset {
                lo_ms: -660_500,
                hi_ms: 500
            }),
            "a stepped clock widens what is known"
        );
        assert_eq!(ClockOffset::from_mid(-660_000, 600).mid_ms(), -660_000);
        assert_eq!(ClockOffset::from_mid(-660_000, 600).error_ms(), 600);
    }

    #[test]
    fn the_first_answers_then_one_in_every_64_are_measured() {
        let g = ClockGauge::default();
        let measured = (0..256).filter(|_| g.start().is_some()).count();
        assert_eq!(measured, 8 + 3);
    }
}
