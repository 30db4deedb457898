//! Serving an app over HTTP/1.1 with a bound on how long a client may take
//! to send its request headers, and graceful shutdown.
//!
//! ```text
//!  accept ─▶ one task per connection ─▶ hyper http1 (header read timeout) ─▶ app
//!  shutdown ─▶ stop accepting ─▶ each connection finishes its request, then closes ─▶ return
//! ```
//!
//! `axum::serve` runs hyper without a timer, and hyper's header read
//! timeout only works with one: a client that trickles its headers one
//! byte at a time (slowloris), or connects and sends nothing, held its
//! connection and task forever. The request timeout of
//! [`finish`](super::finish) cannot help, as it starts only once the
//! headers are in. Here every connection gets
//! [`ServeOptions::header_read_timeout`] to deliver a complete request head
//! — the first one and each one after on a kept-alive connection, so the
//! same bound closes idle connections — after which hyper drops it.
//!
//! Oversized heads are hyper's to refuse: more than 100 headers or a head
//! over hyper's read buffer (about 400 KB, room for a `GET /v1/query?sql=`
//! at the SQL size limit) answer 431, unparsable bytes 400, and the
//! connection is closed.

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Connection-level limits of [`serve_http`].
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// Longest a client may take to send a complete request head, counted
    /// from when the server starts waiting for it (after the connection is
    /// accepted, or after the previous response on a kept-alive one).
    pub header_read_timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then stops
/// accepting, lets every connection finish the request it is serving and
/// returns once all are closed.
///
/// Every role's binary serves through this, so the limits are the same
/// everywhere. Errors of one connection (a reset, a timeout, garbage) end
/// that connection only.
pub async fn serve_http(
    listener: TcpListener,
    app: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    // Connections watch this; its sender going away (below) asks them to
    // close after their current request.
    let (stop_tx, stop_rx) = watch::channel(());
    let mut connections = JoinSet::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(&e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Reap finished connections so the set holds only live ones.
        while connections.try_join_next().is_some() {}
        // Small answers should leave at once, not wait for more to send.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(%peer, error = %e, "could not set TCP_NODELAY");
        }
        let connection =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let mut stop = stop_rx.clone();
        connections.spawn(async move {
            let mut connection = pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                _ = stop.changed() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = result {
                // Timeouts, resets and malformed requests land here; they
                // are the client's doing, so not worth more than debug.
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    drop(stop_tx);
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// An `accept` error. Most concern one connection that went away before we
/// took it; running out of file descriptors concerns all of them, and
/// retrying at once would spin, so that case waits a little.
async fn accept_failed(e: &std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::warn!(error = %e, "accepting a connection failed; retrying in 100 ms");
    tokio::time::sleep(Duration::from_millis(100)).await;
}
