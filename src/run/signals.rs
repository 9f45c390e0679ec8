//! SIGINT / SIGTERM / SIGHUP: the first stops the run gracefully, a second exits at once.
//!
//! Exiting at once is safe: the journal already holds every intent, so `resume` knows which
//! rows were in flight.

use std::future::Future;
use tokio::signal::unix::{signal, SignalKind};

/// A future that resolves on the first signal; a second signal ends the process with 130,
/// telling the operator `then` (what carries on).
pub fn shutdown(then: &'static str) -> impl Future<Output = ()> + Send + 'static {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            tracing::warn!("cannot install signal handlers");
            return;
        };
        let mut tx = Some(tx);
        loop {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
                _ = hup.recv() => {}
            }
            match tx.take() {
                Some(tx) => {
                    tracing::warn!("signal received: stopping after the requests in flight (signal again to exit at once)");
                    let _ = tx.send(());
                }
                None => {
                    render_on_exit();
                    crate::say!("second signal: exiting now; {then}");
                    std::process::exit(crate::exit::INTERRUPTED);
                }
            }
        }
    });
    async move {
        let _ = rx.await;
    }
}

/// The run dir and `--report` of the run being driven: a second signal renders its report
/// from the journal before the process exits (the report is rendered at every exit).
static DRIVEN: std::sync::OnceLock<(std::path::PathBuf, Option<String>)> =
    std::sync::OnceLock::new();

/// Says which run a second signal renders the report of.
pub fn render_on_second_signal(run_dir: &std::path::Path, report: Option<&str>) {
    let _ = DRIVEN.set((run_dir.to_path_buf(), report.map(str::to_string)));
}

fn render_on_exit() {
    let Some((dir, report)) = DRIVEN.get() else {
        return;
    };
    let dest = super::finish::report_dest(dir, report.as_deref());
    match crate::journal::Journal::open_read(dir) {
        Ok(j) => {
            if let Err(e) = crate::report::render(&j, &dest) {
                crate::say!("error: the report could not be written: {e}");
            }
        }
        Err(e) => crate::say!("error: the report could not be written: {e}"),
    }
}

/// Watches for SIGINT / SIGTERM / SIGHUP while a run is being set up — its inputs opened and
/// read, a FIFO without a writer or a pipe that has not ended included, the plan confirmed —
/// when nothing has been sent: the first signal ends the process at once (exit 130), saying so,
/// and takes away the run dir it made (or the journal it made in an existing dir), so the same
/// command starts again. Dropped (or [`BeforeSending::disarm`]ed) before anything is sent.
pub struct BeforeSending {
    task: tokio::task::JoinHandle<()>,
    made: std::sync::Arc<std::sync::Mutex<Option<(std::path::PathBuf, bool)>>>,
}

/// Starts the watch; see [`BeforeSending`].
pub fn before_sending() -> BeforeSending {
    let made = std::sync::Arc::new(std::sync::Mutex::new(None::<(std::path::PathBuf, bool)>));
    let seen = made.clone();
    // Installed here, not in the task: a signal that comes before the task first runs counts.
    let handlers = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    );
    let task = tokio::spawn(async move {
        let (Ok(mut int), Ok(mut term), Ok(mut hup)) = handlers else {
            tracing::warn!("cannot install signal handlers");
            return;
        };
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
            _ = hup.recv() => {}
        }
        let made = seen.lock().map(|m| m.clone()).unwrap_or(None);
        let left = match made {
            Some((dir, true)) => {
                let _ = std::fs::remove_dir_all(&dir);
                format!("; run dir {} removed", dir.display())
            }
            Some((dir, false)) => {
                for f in ["", "-wal", "-shm", ".new", ".new-journal"] {
                    let name = format!("{}{f}", crate::journal::FILE_NAME);
                    let _ = std::fs::remove_file(dir.join(name));
                }
                format!("; its journal removed from {}", dir.display())
            }
            None => String::new(),
        };
        crate::say!("signal received before anything was sent: stopped, nothing was sent{left}");
        std::process::exit(crate::exit::INTERRUPTED);
    });
    BeforeSending { task, made }
}

impl BeforeSending {
    /// The run dir this start made (`created`) or made its journal in: removed on a signal.
    pub fn made(&self, dir: &std::path::Path, created: bool) {
        if let Ok(mut m) = self.made.lock() {
            *m = Some((dir.to_path_buf(), created));
        }
    }

    /// Sending starts: signals are the engine's from here on.
    pub fn disarm(self) {}
}

impl Drop for BeforeSending {
    fn drop(&mut self) {
        self.task.abort();
    }
}
