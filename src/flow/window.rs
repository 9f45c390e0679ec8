//! How many requests may be in flight at once: enough to sustain `--rate` at the latency the
//! API is showing, and no more.
//!
//! The pacer alone would keep `rate × latency` requests in flight, however many tasks wait.
//! That is right while answers come back, and wrong while the API hangs: every request sent
//! into a hang ends in a timeout, and for a non-idempotent operation each of those is an
//! `unknown` row. So the window grows only with latencies that were *answered* (an average
//! over recent answers, doubled for headroom) and never with timeouts: when the API stops
//! answering, the window stays where healthy answers left it and acts as a circuit breaker.
//! `--concurrency N` given explicitly fixes the window at N.

use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{Semaphore, SemaphorePermit};

/// Share of each new answer in the latency average.
const ALPHA: f64 = 0.2;
/// The window holds this many times `rate × latency`: answers vary around their average.
const HEADROOM: f64 = 2.0;
/// The smallest window: enough for answers of up to this long before anything is observed.
const FLOOR_SECS: f64 = 4.0;

pub struct Window {
    /// The most in flight: the run's concurrency.
    max: usize,
    /// The least in flight (`--concurrency` given: `max`).
    floor: usize,
    /// One permit a place. A narrower window takes free permits away at once and the rest as
    /// the requests holding them end ([`Sizing::debt`]).
    places: Semaphore,
    sizing: Mutex<Sizing>,
}

struct Sizing {
    /// The pacer's rate (it moves under `--rate auto`).
    rate: f64,
    limit: usize,
    /// Permits still to be taken away as requests end, after the window narrowed below what
    /// was in flight.
    debt: usize,
    /// Average latency of answered requests, in seconds.
    latency: Option<f64>,
}

/// A place in the window; gives it back when dropped (or retires it, when the window has
/// narrowed since).
pub struct Slot<'a> {
    window: &'a Window,
    permit: Option<SemaphorePermit<'a>>,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let Some(permit) = self.permit.take() else {
            return;
        };
        let mut s = self.window.sizing.lock().expect("window sizing");
        if s.debt > 0 {
            s.debt -= 1;
            permit.forget();
        }
    }
}

impl Window {
    /// `concurrency` is the run's; `fixed` when the operator set it.
    pub fn new(rate: f64, concurrency: usize, fixed: bool) -> Window {
        let max = concurrency.max(1);
        let floor = if fixed {
            max
        } else {
            ((rate * FLOOR_SECS).ceil() as usize).clamp(8, 256).min(max)
        };
        Window {
            max,
            floor,
            places: Semaphore::new(floor),
            sizing: Mutex::new(Sizing {
                rate,
                limit: floor,
                debt: 0,
                latency: None,
            }),
        }
    }

    /// How many requests may be in flight now.
    pub fn limit(&self) -> usize {
        self.sizing.lock().expect("window sizing").limit
    }

    /// Wait for a place. Cancel-safe: dropping the future takes nothing.
    pub async fn enter(&self) -> Slot<'_> {
        let permit = self
            .places
            .acquire()
            .await
            .expect("the window is never closed");
        Slot {
            window: self,
            permit: Some(permit),
        }
    }

    /// The pacer's rate changed (`--rate auto`): the next answer sizes the window for it.
    pub fn set_rate(&self, rate: f64) {
        self.sizing.lock().expect("window sizing").rate = rate;
    }

    /// An answer arrived after `latency` (not a timeout, not a lost connection): the window
    /// follows the average.
    pub fn answered(&self, latency: Duration) {
        if self.floor == self.max {
            return;
        }
        let secs = latency.as_secs_f64();
        let mut s = self.sizing.lock().expect("window sizing");
        let avg = s.latency.map_or(secs, |a| a + ALPHA * (secs - a));
        s.latency = Some(avg);
        let want = ((s.rate * avg * HEADROOM).ceil() as usize).clamp(self.floor, self.max);
        if want > s.limit {
            let grow = want - s.limit;
            let forgiven = grow.min(s.debt);
            s.debt -= forgiven;
            self.places.add_permits(grow - forgiven);
        } else if want < s.limit {
            let shrink = s.limit - want;
            let taken = self.places.forget_permits(shrink);
            s.debt += shrink - taken;
        }
        s.limit = want;
    }

    /// Places free now (for tests).
    #[cfg(test)]
    fn free(&self) -> usize {
        self.places.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_follows_answered_latency_between_its_floor_and_the_concurrency() {
        let w = Window::new(5.0, 256, false);
        assert_eq!(
            w.limit(),
            20,
            "4 s of answers at 5/s before anything is seen"
        );
        for _ in 0..50 {
            w.answered(Duration::from_secs(8));
        }
        assert_eq!(w.limit(), 80, "5/s x 8 s x 2");
        for _ in 0..100 {
            w.answered(Duration::from_millis(100));
        }
        assert_eq!(w.limit(), 20, "back to the floor");
        for _ in 0..50 {
            w.answered(Duration::from_secs(600));
        }
        assert_eq!(w.limit(), 256, "never above the concurrency");
        let fixed = Window::new(5.0, 3, true);
        fixed.answered(Duration::from_secs(30));
        assert_eq!(fixed.limit(), 3, "--concurrency fixes it");
    }

    #[tokio::test]
    async fn a_narrower_window_retires_places_as_their_requests_end() {
        let w = Window::new(1.0, 64, false);
        w.answered(Duration::from_secs(10));
        assert_eq!(w.limit(), 20);
        let held = enter_n(&w, 20).await;
        for _ in 0..100 {
            w.answered(Duration::from_millis(10));
        }
        assert_eq!(w.limit(), 8, "back to the floor");
        assert_eq!(w.free(), 0);
        drop(held);
        assert_eq!(w.free(), 8, "12 places retired, 8 free");
    }

    #[tokio::test(start_paused = true)]
    async fn entering_waits_for_a_place_and_a_wider_window_lets_waiters_in() {
        let w = std::sync::Arc::new(Window::new(1.0, 64, false));
        assert_eq!(w.limit(), 8);
        let held: Vec<Slot> = enter_n(&w, 8).await;
        let w2 = w.clone();
        let waiter = tokio::spawn(async move {
            let _slot = w2.enter().await;
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!waiter.is_finished(), "the window is full");
        // Slow answers widen it: 1/s x 10 s x 2 = 20.
        w.answered(Duration::from_secs(10));
        tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .expect("let in")
            .unwrap();
        drop(held);
        assert_eq!(w.free(), w.limit(), "every place is back");
    }

    async fn enter_n(w: &Window, n: usize) -> Vec<Slot<'_>> {
        let mut v = Vec::new();
        for _ in 0..n {
            v.push(w.enter().await);
        }
        v
    }
}
