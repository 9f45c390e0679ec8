//! The one fan-out: each item becomes a task on the runtime, at most `width` at a time. The
//! pacer each task goes through sets the rate; the width only bounds what is in flight.
//!
//! - [`each`] and [`collect`]: the reads (`follow`'s lookups, the listings' pages and per-card
//!   queries). Each answer is handed back as it arrives, and the caller can cancel the rest.
//! - [`arriving`]: a run's parcels ([`crate::engine::run`]), as the journal's reader hands them over. A
//!   task holds its parcel from the durable intent to the last try and records the outcome
//!   itself; a stop ends the intake and waits for the tasks, never cancels one (a request in
//!   flight must be answered and journaled, or it would become `unknown`).

use std::collections::VecDeque;
use std::future::Future;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
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

/// Run `work` on each item that arrives on `items`, at most `width` at once, until `items` is
/// closed or `stop` completes; then wait for the tasks still running. An item is taken only
/// when there is room for it, so what waits in the channel is not started after a stop.
///
/// Items start in the order they arrived: a task takes the oldest item waiting when the runtime
/// first runs it, not the one it was spawned for. (The runtime does not run new tasks in the
/// order they were spawned, and a run's rows should reach the pacer in row order.)
pub async fn arriving<I, F, Fut>(
    items: &mut mpsc::Receiver<I>,
    width: usize,
    stop: impl Future<Output = ()>,
    work: F,
) where
    I: Send + 'static,
    F: Fn(I) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let work = Arc::new(work);
    let waiting = Arc::new(Mutex::new(VecDeque::new()));
    let mut tasks = JoinSet::new();
    let mut open = true;
    tokio::pin!(stop);
    while open || !tasks.is_empty() {
        tokio::select! {
            biased;
            () = &mut stop, if open => open = false,
            item = items.recv(), if open && tasks.len() < width.max(1) => match item {
                Some(item) => {
                    waiting.lock().expect("fan-out queue").push_back(item);
                    let (work, waiting) = (work.clone(), waiting.clone());
                    tasks.spawn(async move {
                        // One task is spawned per item pushed, so there is one to take;
                        // `work` is called under the lock, so calls keep the items' order.
                        let next = {
                            let mut queue = waiting.lock().expect("fan-out queue");
                            queue.pop_front().map(|item| work(item))
                        };
                        if let Some(fut) = next {
                            fut.await;
                        }
                    });
                }
                None => open = false,
            },
            // A task that panicked: the runtime has reported it; its rows stay in flight in the
            // journal and are settled on resume.
            _ = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
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

    #[tokio::test(start_paused = true)]
    async fn arriving_items_run_at_most_width_at_once_and_a_stop_lets_the_running_finish() {
        let (tx, mut rx) = mpsc::channel(100);
        for i in 0..100u64 {
            tx.send(i).await.unwrap();
        }
        let (now, most, finished) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            // Past the first 4 x 2 items (100 ms each), inside the next 4.
            tokio::time::sleep(Duration::from_millis(250)).await;
            let _ = stop_tx.send(());
        });
        let (now2, most2, finished2) = (now.clone(), most.clone(), finished.clone());
        let work = move |_: u64| {
            let (now, most, finished) = (now2.clone(), most2.clone(), finished2.clone());
            async move {
                let n = now.fetch_add(1, SeqCst) + 1;
                most.fetch_max(n, SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
                now.fetch_sub(1, SeqCst);
                finished.fetch_add(1, SeqCst);
            }
        };
        arriving(&mut rx, 4, async { stop_rx.await.unwrap_or(()) }, work).await;
        assert_eq!(most.load(SeqCst), 4);
        assert_eq!(now.load(SeqCst), 0, "every task started has finished");
        assert_eq!(
            finished.load(SeqCst),
            12,
            "three rounds of 4, none cut short"
        );
        assert_eq!(rx.len(), 88, "what waited in the channel was not taken");
    }

    #[tokio::test(start_paused = true)]
    async fn arriving_ends_when_the_channel_closes() {
        let (tx, mut rx) = mpsc::channel(10);
        let done = Arc::new(AtomicUsize::new(0));
        let feeder = tokio::spawn(async move {
            for i in 0..30u64 {
                tx.send(i).await.unwrap();
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        });
        let d = done.clone();
        arriving(&mut rx, 3, std::future::pending(), move |i| {
            let d = d.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(i % 7)).await;
                d.fetch_add(1, SeqCst);
            }
        })
        .await;
        feeder.await.unwrap();
        assert_eq!(done.load(SeqCst), 30);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn arriving_items_start_in_the_order_they_arrived() {
        let (tx, mut rx) = mpsc::channel(1000);
        for i in 0..1000u64 {
            tx.send(i).await.unwrap();
        }
        drop(tx);
        let started = Arc::new(Mutex::new(Vec::new()));
        let s = started.clone();
        arriving(&mut rx, 64, std::future::pending(), move |i| {
            // What a parcel does first (the window, the pacer's queue) happens in its first poll.
            s.lock().unwrap().push(i);
            async move { tokio::task::yield_now().await }
        })
        .await;
        assert_eq!(*started.lock().unwrap(), (0..1000).collect::<Vec<_>>());
    }
}
