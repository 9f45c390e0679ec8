//! A listing's live progress, on the terminal's bar or in progress lines, as a run's.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A listing's live progress: items listed of the count page 1 announced, on the TTY bar or
/// in a progress line every 60 s (`GSL_PROGRESS_SECS`), as a run's.
pub struct Listed {
    listed: Arc<AtomicU64>,
    total: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
    bar: Option<indicatif::ProgressBar>,
}

impl Listed {
    pub fn start(what: &'static str) -> Listed {
        let (listed, total) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let bar = crate::logging::bar(crate::logging::settings(), 0);
        let (l, t, b) = (listed.clone(), total.clone(), bar.clone());
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let mut last_log = Instant::now();
            let every = crate::run::progress::log_every();
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let (n, of) = (l.load(Relaxed), t.load(Relaxed));
                let per_sec = n as f64 / started.elapsed().as_secs_f64().max(0.001);
                if let Some(b) = &b {
                    b.set_length(of.max(n));
                    b.set_position(n);
                    b.set_message(format!("{what} · {per_sec:.0} listed/s"));
                } else if last_log.elapsed() >= every {
                    last_log = Instant::now();
                    tracing::info!(
                        target: crate::logging::PROGRESS_TARGET,
                        listed = n,
                        total = of,
                        per_sec = per_sec.round(),
                        "{what}: progress"
                    );
                }
            }
        });
        Listed {
            listed,
            total,
            task,
            bar,
        }
    }

    pub fn add(&self, n: usize) {
        self.listed.fetch_add(n as u64, Relaxed);
    }

    /// What the list says it holds (page 1's `count`).
    pub fn set_total(&self, n: u64) {
        self.total.store(n, Relaxed);
    }

    pub fn listed(&self) -> u64 {
        self.listed.load(Relaxed)
    }

    pub fn total(&self) -> u64 {
        self.total.load(Relaxed)
    }

    pub fn finish(self) {
        self.task.abort();
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}
