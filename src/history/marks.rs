//! Unusual usage: each card against its own baseline. A period is the time between two usage
//! runs of the same job (a nightly job: a day); a period's use is the growth of `flow_used`
//! (its whole value when it fell: a new billing cycle). A card is `spike` when this period's use
//! is more than `--spike-factor` times the median of its last `--spike-periods` periods and
//! above `--spike-min-mb`; `silent` when its median use is above nothing and this period it
//! used none. A card with fewer than [`MIN_PERIODS`] periods of history is not judged.

/// Periods of history a card needs before it is judged.
pub const MIN_PERIODS: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mark {
    Spike,
    Silent,
}

impl Mark {
    pub fn name(self) -> &'static str {
        match self {
            Mark::Spike => "spike",
            Mark::Silent => "silent",
        }
    }
}

/// How a card is judged.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub factor: f64,
    pub periods: usize,
    pub min_mb: f64,
}

/// What the judging of one card came to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// Too little history.
    NotJudged,
    Normal,
    Marked(Mark),
}

fn used_in(before: f64, after: f64) -> f64 {
    if after >= before {
        after - before
    } else {
        after
    }
}

/// The periods' use from a series of readings (oldest first; `None`: not read that run). A
/// missing reading ends the periods before it: only consecutive readings make a period.
fn periods(series: &[Option<f64>]) -> Vec<f64> {
    let mut out = Vec::new();
    for w in series.windows(2) {
        match (w[0], w[1]) {
            (Some(a), Some(b)) => out.push(used_in(a, b)),
            _ => out.clear(),
        }
    }
    out
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Judge a card whose earlier readings are `series` (oldest first) and whose reading now is
/// `now`.
pub fn judge(rule: &Rule, series: &[Option<f64>], now: f64) -> Verdict {
    let Some(Some(last)) = series.last() else {
        return Verdict::NotJudged;
    };
    let past = periods(series);
    if past.len() < MIN_PERIODS {
        return Verdict::NotJudged;
    }
    let mut recent: Vec<f64> = past[past.len().saturating_sub(rule.periods)..].to_vec();
    let baseline = median(&mut recent);
    let this = used_in(*last, now);
    if this > rule.factor * baseline && this > rule.min_mb {
        Verdict::Marked(Mark::Spike)
    } else if baseline > 0.0 && this < 0.0005 {
        Verdict::Marked(Mark::Silent)
    } else {
        Verdict::Normal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: Rule = Rule {
        factor: 3.0,
        periods: 7,
        min_mb: 10.0,
    };

    fn daily(n: usize, per_day: f64) -> Vec<Option<f64>> {
        (0..n).map(|d| Some(d as f64 * per_day)).collect()
    }

    #[test]
    fn a_card_is_judged_against_its_own_median() {
        let s = daily(7, 20.0);
        assert_eq!(judge(&RULE, &s, 120.0 + 20.0), Verdict::Normal);
        assert_eq!(
            judge(&RULE, &s, 120.0 + 100.0),
            Verdict::Marked(Mark::Spike)
        );
        assert_eq!(judge(&RULE, &s, 120.0), Verdict::Marked(Mark::Silent));
        // Below the floor: a card that uses 1 MB a day using 5 MB is not a spike.
        assert_eq!(judge(&RULE, &daily(7, 1.0), 6.0 + 5.0), Verdict::Normal);
        // Two days of history: one period, not judged.
        assert_eq!(judge(&RULE, &daily(2, 20.0), 500.0), Verdict::NotJudged);
        // A new billing cycle: the reading fell, its whole value is the period's use.
        let mut s = daily(6, 20.0);
        s.push(Some(10.0));
        assert_eq!(judge(&RULE, &s, 30.0), Verdict::Normal);
    }
}
