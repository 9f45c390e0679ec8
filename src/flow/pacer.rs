//! One pacer per API: every request to that API, retries included, waits here for its slot.
//!
//! Slots are spaced evenly at slightly under the rate, because the gateway counts a rolling
//! one-second window and a burst only buys 429s. Waiters queue on a fair mutex, so a change of
//! pace (after a 429) applies to the very next slot instead of to slots reserved long ago.
//! Written on `tokio::time` rather than `governor` because the rate must change at runtime and
//! tests drive it under `tokio::time::pause()`.

use std::sync::Mutex as StdMutex;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Slots are this share of the nominal interval longer, so that a request arriving up to
/// `1 s × 0.7% = 7 ms` late never pushes a rolling one-second window over the quota.
const HEADROOM: f64 = 1.007;
/// After a 429 the interval grows by this factor (up to [`MAX_SLOWDOWN`] times the target):
/// gentle, because one 429 is more often jitter than a quota lower than `--rate`; repeated
/// ones compound.
const BACKOFF: f64 = 1.1;
const MAX_SLOWDOWN: f64 = 4.0;
/// The slowdown halves every this long without another 429.
const RECOVERY_HALF_LIFE: Duration = Duration::from_secs(1);
/// How far behind schedule the pacer may catch up (a few timer ticks).
const CATCH_UP: Duration = Duration::from_millis(3);
/// `--rate auto` rises by this factor a second while no 429 comes: from 5/s it passes 50/s in
/// 13 s and 500/s in 25 s, and overshoots a quota by at most 20% for the one second before the
/// gateway says so.
const AUTO_GROWTH: f64 = 1.2;
/// `--rate auto` never rises past this: far above any quota a 429 names, it bounds a run
/// against an API that never answers one.
const AUTO_MAX: f64 = 10_000.0;
/// A 429 that names no quota ends an auto ramp this far below the pace that drew it.
const AUTO_HOLD: f64 = 0.8;

struct State {
    /// The next free slot.
    next: Instant,
    /// The current spacing; `target` when nothing was throttled lately.
    interval: Duration,
    target: Duration,
    last_adjust: Instant,
    paused_until: Option<Instant>,
    /// The quota a 429 named, once adopted (calls per second).
    adopted: Option<f64>,
    /// `--rate auto` still rising: since when, and from what rate.
    ramp: Option<(Instant, f64)>,
}

pub struct Pacer {
    name: String,
    queue: Mutex<()>,
    state: StdMutex<State>,
}

impl Pacer {
    /// A pacer for `rate` requests per second.
    pub fn new(name: &str, rate: f64) -> Pacer {
        Pacer::with_ramp(name, rate, false)
    }

    /// `--rate auto`: start at `rate`, rise by [`AUTO_GROWTH`] a second while no 429 comes, and
    /// hold at the quota the first 429 names.
    pub fn auto(name: &str, rate: f64) -> Pacer {
        Pacer::with_ramp(name, rate, true)
    }

    fn with_ramp(name: &str, rate: f64, auto: bool) -> Pacer {
        let target = interval_for(rate);
        let now = Instant::now();
        Pacer {
            name: name.to_string(),
            queue: Mutex::new(()),
            state: StdMutex::new(State {
                next: now,
                interval: target,
                target,
                last_adjust: now,
                paused_until: None,
                adopted: None,
                ramp: auto.then_some((now, rate)),
            }),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The calls per second aimed at now (slowdowns after a 429 aside).
    pub fn rate(&self) -> f64 {
        HEADROOM / self.state.lock().expect("pacer").target.as_secs_f64()
    }

    /// The spacing now in force.
    pub fn interval(&self) -> Duration {
        self.state.lock().expect("pacer").interval
    }

    /// Wait for the next slot. Cancel-safe: dropping the future gives up the place in the queue.
    pub async fn acquire(&self) {
        let _turn = self.queue.lock().await;
        loop {
            let at = self.reserve();
            if at > Instant::now() {
                tokio::time::sleep_until(at).await;
            }
            // A 429 that paused the pacer while this slot was waiting closed the window the
            // slot was in: wait for a slot after the pause instead of drawing another 429.
            let paused = self.state.lock().expect("pacer").paused_until;
            if paused.is_none_or(|p| p <= Instant::now()) {
                return;
            }
        }
    }

    fn reserve(&self) -> Instant {
        let mut s = self.state.lock().expect("pacer");
        let now = Instant::now();
        if let Some((since, from)) = s.ramp {
            let rate = from * AUTO_GROWTH.powf(now.duration_since(since).as_secs_f64());
            let target = interval_for(rate.min(AUTO_MAX));
            if s.interval == s.target {
                s.interval = target;
            }
            s.target = target;
        }
        // Let the slowdown decay toward the target.
        if s.interval > s.target {
            let dt = now.duration_since(s.last_adjust).as_secs_f64();
            let excess = (s.interval - s.target).as_secs_f64()
                * 0.5f64.powf(dt / RECOVERY_HALF_LIFE.as_secs_f64());
            s.interval = s.target + Duration::from_secs_f64(excess);
            s.last_adjust = now;
        }
        // Keep the schedule when we are only a little behind (the timer wakes us up to a
        // millisecond late, and above 1,000/s slots are closer than that); after an idle spell
        // start afresh from now, so idle time never turns into a burst.
        let tolerance = s.interval.max(CATCH_UP);
        let mut slot = if s.next + tolerance >= now {
            s.next
        } else {
            now
        };
        if let Some(p) = s.paused_until {
            if p > slot {
                slot = p;
            } else {
                s.paused_until = None;
            }
        }
        s.next = slot + s.interval;
        slot
    }

    /// A 429 named the real quota, `limit` calls per second, below the pace in force: adopt it
    /// at once (a wrong `--rate` must cost a 429 or two, not most of the calls), and wait out
    /// the one-second window the calls before the 429 already filled. Returns whether it was
    /// adopted now.
    /// An auto ramp takes the quota whatever it is, and stops rising.
    pub fn adopt_quota(&self, limit: f64) -> bool {
        let mut s = self.state.lock().expect("pacer");
        let target = interval_for(limit);
        let ramping = s.ramp.take().is_some();
        if target <= s.target && !ramping {
            return false;
        }
        let now = Instant::now();
        s.target = target;
        s.interval = target;
        s.last_adjust = now;
        s.adopted = Some(limit);
        let until = now + Duration::from_secs(1);
        s.paused_until = Some(s.paused_until.map_or(until, |p| p.max(until)));
        if ramping {
            tracing::info!(api = %self.name, quota = limit, "--rate auto: the gateway named its quota; holding at it");
        } else {
            tracing::warn!(api = %self.name, quota = limit, "the gateway's quota is lower than --rate: adopting it");
        }
        true
    }

    /// The quota adopted from a 429, if any.
    pub fn adopted(&self) -> Option<f64> {
        self.state.lock().expect("pacer").adopted
    }

    /// A 429 arrived: slow down, and pause for `retry_after` when the gateway said so.
    /// An auto ramp stops rising, a little below the pace that drew the 429.
    pub fn throttled(&self, retry_after: Option<Duration>) {
        let mut s = self.state.lock().expect("pacer");
        let now = Instant::now();
        if s.ramp.take().is_some() {
            s.target = s.target.div_f64(AUTO_HOLD);
            s.interval = s.interval.max(s.target);
            tracing::info!(api = %self.name, rate = HEADROOM / s.target.as_secs_f64(), "--rate auto: a 429 without a quota; holding below the pace that drew it");
        }
        let max = s.target.mul_f64(MAX_SLOWDOWN);
        s.interval = s.interval.mul_f64(BACKOFF).min(max);
        s.last_adjust = now;
        if let Some(ra) = retry_after {
            let until = now + ra;
            s.paused_until = Some(s.paused_until.map_or(until, |p| p.max(until)));
        }
        tracing::debug!(api = %self.name, interval_ms = s.interval.as_secs_f64() * 1e3, "throttled: slowing down");
    }
}

/// The spacing for `rate` calls per second, with the headroom.
fn interval_for(rate: f64) -> Duration {
    Duration::from_secs_f64(HEADROOM / rate.max(0.001))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slots for `n` acquires, as offsets from the start, under a paused clock.
    async fn slots(p: &Pacer, n: usize) -> Vec<Duration> {
        let start = Instant::now();
        let mut out = Vec::new();
        for _ in 0..n {
            p.acquire().await;
            out.push(start.elapsed());
        }
        out
    }

    #[tokio::test(start_paused = true)]
    async fn spaces_requests_evenly_just_under_the_rate() {
        let p = Pacer::new("t", 10.0);
        let s = slots(&p, 51).await;
        let span = (s[50] - s[0]).as_secs_f64();
        // 50 intervals of 100.7 ms: 99.3% of the rate, never a burst.
        assert!((span - 5.035).abs() < 0.01, "span {span}");
        for w in s.windows(2) {
            let gap = (w[1] - w[0]).as_secs_f64();
            assert!((gap - 0.1007).abs() < 0.002, "gap {gap}");
        }
        // Any rolling one-second window holds at most 10.
        for (i, t) in s.iter().enumerate() {
            let in_window = s[i..]
                .iter()
                .filter(|u| **u - *t < Duration::from_secs(1))
                .count();
            assert!(in_window <= 10, "{in_window} in the window from {t:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn idle_time_never_becomes_a_burst() {
        let p = Pacer::new("t", 10.0);
        slots(&p, 3).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        let s = slots(&p, 3).await;
        assert!(s[1] - s[0] >= Duration::from_millis(100));
        assert!(s[2] - s[1] >= Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_slows_down_then_the_rate_recovers() {
        let p = Pacer::new("t", 10.0);
        let target = p.interval();
        p.throttled(None);
        let slowed = p.interval();
        assert!(slowed > target.mul_f64(1.05), "{slowed:?} vs {target:?}");
        for _ in 0..30 {
            p.throttled(None);
        }
        assert!(p.interval() <= target.mul_f64(MAX_SLOWDOWN) + Duration::from_micros(1));
        // Twenty seconds later (ten half-lives) the slowdown is gone.
        tokio::time::sleep(Duration::from_secs(20)).await;
        p.acquire().await;
        let back = p.interval();
        assert!(back < target.mul_f64(1.01), "{back:?} vs {target:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn auto_rises_about_a_fifth_a_second_then_holds_at_the_named_quota() {
        let p = Pacer::auto("t", 5.0);
        let start = Instant::now();
        let s = slots(&p, 40).await;
        // Slots get closer as the rate rises: 5/s at first, about 5 × 1.2^t after t seconds.
        let first = (s[1] - s[0]).as_secs_f64();
        assert!((first - 0.2014).abs() < 0.01, "first gap {first}");
        tokio::time::sleep(Duration::from_secs(10)).await;
        p.acquire().await;
        let rate = p.rate();
        let at = start.elapsed().as_secs_f64();
        let expected = 5.0 * AUTO_GROWTH.powf(at);
        assert!(
            rate > 0.9 * expected && rate < 1.1 * expected,
            "{rate}/s after {at:.1}s, expected about {expected:.1}"
        );
        // The first 429 names 20/s (below the pace): held there, and no longer rising.
        assert!(p.adopt_quota(20.0));
        assert_eq!(p.adopted(), Some(20.0));
        tokio::time::sleep(Duration::from_secs(30)).await;
        p.acquire().await;
        assert!((p.rate() - 20.0).abs() < 0.01, "{}", p.rate());
    }

    #[tokio::test(start_paused = true)]
    async fn auto_takes_a_named_quota_above_its_pace_and_a_bare_429_ends_the_rise() {
        let p = Pacer::auto("t", 5.0);
        // A quota above the pace (the gateway's window counted a burst): taken all the same.
        assert!(p.adopt_quota(8.0));
        assert!((p.rate() - 8.0).abs() < 0.01);
        // A fixed pacer never raises itself to a named quota.
        let fixed = Pacer::new("t", 5.0);
        assert!(!fixed.adopt_quota(8.0));
        assert!((fixed.rate() - 5.0).abs() < 0.01);

        let p = Pacer::auto("t", 5.0);
        tokio::time::sleep(Duration::from_secs(5)).await;
        p.acquire().await;
        let drew = p.rate();
        p.throttled(None);
        let held = p.rate();
        assert!((held - drew * AUTO_HOLD).abs() < 0.01, "{held} vs {drew}");
        tokio::time::sleep(Duration::from_secs(30)).await;
        p.acquire().await;
        assert!((p.rate() - held).abs() < 0.01, "no longer rising");
    }

    #[tokio::test(start_paused = true)]
    async fn a_slot_waiting_when_a_quota_is_adopted_waits_out_the_pause() {
        let p = std::sync::Arc::new(Pacer::new("t", 1.0));
        p.acquire().await;
        let start = Instant::now();
        let waiter = {
            let p = p.clone();
            tokio::spawn(async move {
                p.acquire().await;
                Instant::now()
            })
        };
        // The waiter holds the slot at +1 s; a 429 at +0.5 s names a quota of 0.5/s.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(p.adopt_quota(0.5));
        let sent = waiter.await.unwrap();
        assert!(
            sent.duration_since(start) >= Duration::from_millis(1500),
            "sent {:?} after the first slot, inside the window the 429 closed",
            sent.duration_since(start)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_honoured() {
        let p = Pacer::new("t", 100.0);
        p.acquire().await;
        let start = Instant::now();
        p.throttled(Some(Duration::from_secs(3)));
        p.acquire().await;
        assert!(start.elapsed() >= Duration::from_secs(3));
    }
}
