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
