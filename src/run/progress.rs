//! Live progress: the TTY bar, or a log line every 60 s for schedulers (`GSL_PROGRESS_SECS`
//! sets another interval). The line's target is [`logging::PROGRESS_TARGET`], which `-q` keeps.

use crate::engine::Counters;
use crate::logging::{self, LogSettings};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Seconds between progress lines without a bar, unless `GSL_PROGRESS_SECS` says otherwise.
const LOG_EVERY_SECS: f64 = 60.0;

pub(crate) fn log_every() -> Duration {
    std::env::var("GSL_PROGRESS_SECS")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 1.0)
        .map_or(Duration::from_secs_f64(LOG_EVERY_SECS), |s| {
            // At most a day: a larger number is someone's "never".
            Duration::from_secs_f64(s.min(86_400.0))
        })
}

/// A running progress display; [`Progress::finish`] clears it before the summary prints.
pub struct Progress {
    task: tokio::task::JoinHandle<()>,
    bar: Option<indicatif::ProgressBar>,
}

/// Rows of the whole run that earlier processes already finished, per status: the progress
/// shows the whole run's counts after a resume, not this process's alone.
#[derive(Debug, Clone, Copy, Default)]
pub struct Earlier {
    pub ok: u64,
    pub failed: u64,
    pub unknown: u64,
}

/// `done`: rows already finished before this process; `todo`: rows it will work on.
pub fn start(
    log: LogSettings,
    counters: Arc<Counters>,
    done: u64,
    todo: u64,
    earlier: Earlier,
) -> Progress {
    let total = done + todo;
    let bar = logging::bar(log, total);
    let bar2 = bar.clone();
    let task = tokio::spawn(async move {
        let started = Instant::now();
        let mut last_log = Instant::now();
        let every = log_every();
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            // Rows another run turned out to hold are done here too: skipped.
            let finished = counters.finished.load(Relaxed) + counters.skipped.load(Relaxed);
            let ok = earlier.ok + counters.ok.load(Relaxed);
            let failed = earlier.failed + counters.failed.load(Relaxed);
            let unknown = earlier.unknown + counters.unknown.load(Relaxed);
            if let Some(b) = &bar2 {
                let rate = finished as f64 / started.elapsed().as_secs_f64().max(0.001);
                b.set_position(done + finished);
                b.set_message(format!(
                    "{rate:.1} rows/s · ok {ok} failed {failed} unknown {unknown}"
                ));
            } else if last_log.elapsed() >= every {
                last_log = Instant::now();
                let secs = started.elapsed().as_secs_f64().max(0.001);
                let rate = finished as f64 / secs;
                let left = todo.saturating_sub(finished);
                let eta_secs = (rate > 0.0).then(|| (left as f64 / rate).round());
                tracing::info!(
                    target: logging::PROGRESS_TARGET,
                    done = done + finished,
                    total,
                    ok,
                    failed,
                    unknown,
                    rows_per_sec = (rate * 10.0).round() / 10.0,
                    eta_secs,
                    "progress"
                );
            }
        }
    });
    Progress { task, bar }
}

impl Progress {
    pub fn finish(self) {
        self.task.abort();
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}
