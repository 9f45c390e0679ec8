//! The reads' fan-out: `follow`'s lookups, the listings' pages and per-card queries. Each item
//! becomes a task on the runtime, at most `width` at a time; each answer is handed back as it
//! arrives, and the caller can stop the rest. The pacer each task goes through sets the rate;
//! the width only bounds what is in flight.
//!
//! A run's own requests do not come through here: the engine's workers ([`super::run`]) hold
//! a unit from its durable intent to its last try, which a fire-and-collect task cannot.

use std::future::Future;
use std::ops::ControlFlow;
use tokio::task::JoinSet;

/// Run `work` on each item `next` yields, at most `width` at once, and hand each result to
/// `done` with the item's place in the order `next` yielded it. `next` is asked for another
/// item whenever there is room, so it may depend on what `done` saw; `done` returning
/// [`ControlFlow::Break`] ends the fan-out, and tasks still running are cancelled.
pub async fn each<I, T, F, Fut>(
    mut next: impl FnMut() -> Option<I>,
    width: usize,
    work: F,
    mut done: impl FnMut(usize, T) -> ControlFlow<()>,
) where
    F: Fn(I) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let mut tasks = JoinSet::new();
    let mut index = 0usize;
    loop {
        while tasks.len() < width.max(1) {
            let Some(item) = next() else { break };
            let at = index;
            index += 1;
            let fut = work(item);
            tasks.spawn(async move { (at, fut.await) });
        }
        let Some(joined) = tasks.join_next().await else {
            return;
        };
        let Ok((at, result)) = joined else {
            // A task that panicked: the runtime has reported it; its item has no answer.
            continue;
        };
        if done(at, result).is_break() {
            tasks.abort_all();
            return;
        }
    }
}

/// [`each`] over a list, every result collected in the list's order.
pub async fn collect<I, T, F, Fut>(items: Vec<I>, width: usize, work: F) -> Vec<T>
where
    F: Fn(I) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let mut out: Vec<Option<T>> = Vec::new();
    out.resize_with(items.len(), || None);
    let mut items = items.into_iter();
    each(
        || items.next(),
        width,
        work,
        |at, r| {
            out[at] = Some(r);
            ControlFlow::Continue(())
        },
    )
    .await;
    out.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn at_most_width_run_at_once_and_results_keep_the_input_order() {
        let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let out = collect((0..20u64).collect(), 3, |i| {
            let (now, most) = (now.clone(), most.clone());
            async move {
                let n = now.fetch_add(1, SeqCst) + 1;
                most.fetch_max(n, SeqCst);
                // Later items finish first: the order must come from the index.
                tokio::time::sleep(Duration::from_millis(100 - i)).await;
                now.fetch_sub(1, SeqCst);
                i * 10
            }
        })
        .await;
        assert_eq!(out, (0..20).map(|i| i * 10).collect::<Vec<_>>());
        assert_eq!(most.load(SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_break_stops_asking_for_items() {
        let mut asked = 0;
        let mut seen = 0;
        each(
            || {
                asked += 1;
                Some(asked)
            },
            2,
            |i| async move { i },
            |_, _| {
                seen += 1;
                if seen == 5 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
        )
        .await;
        assert_eq!(seen, 5);
        assert!(
            asked <= 7,
            "at most width items beyond the fifth answer: {asked}"
        );
    }
}
