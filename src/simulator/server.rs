//! The accept loop. axum's `serve` cannot close one connection from inside a handler, which
//! the drop fault needs, so each connection is served by hyper directly with a kill switch
//! ([`ConnKill`]) in every request's extensions; the connection task drops the socket when it
//! fires. Idle keep-alive connections are closed after 75 s, like a gateway would.

use super::gateway::ConnKill;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::Service;

/// How long a connection may sit without a complete request header.
const IDLE_CLOSE: Duration = Duration::from_secs(75);

/// Serve `router` on `listener` until `shutdown` turns true; then every connection is closed.
/// `reset.notify_waiters()` closes every connection open at that moment, without an answer to
/// whatever request it carries (tests of a gateway restart); the listener keeps accepting.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<TlsAcceptor>,
    mut shutdown: watch::Receiver<bool>,
    reset: Arc<Notify>,
) {
    let mut conns = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => break,
        };
        let stream = match accepted {
            Ok((s, _)) => s,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!("simulator accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let kill = Arc::new(Notify::new());
        let in_requests = ConnKill(kill.clone());
        let router = router.clone();
        let reset = reset.clone();
        let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(in_requests.clone());
            router.clone().call(req)
        });
        let tls = tls.clone();
        conns.spawn(async move {
            // Registered before the connection is served, so no reset can slip past it.
            let reset = reset.notified();
            let mut http = http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(IDLE_CLOSE)
                .keep_alive(true);
            let conn = async move {
                match tls {
                    None => {
                        let _ = http.serve_connection(TokioIo::new(stream), svc).await;
                    }
                    // A handshake that never completes holds the task no longer than an idle
                    // connection would.
                    Some(tls) => match tokio::time::timeout(IDLE_CLOSE, tls.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            let _ = http.serve_connection(TokioIo::new(stream), svc).await;
                        }
                        Ok(Err(e)) => tracing::debug!("simulator TLS handshake failed: {e}"),
                        Err(_) => {}
                    },
                }
            };
            tokio::select! {
                _ = conn => {}
                _ = kill.notified() => {}
                _ = reset => {}
            }
        });
        while conns.try_join_next().is_some() {}
    }
    conns.shutdown().await;
}
