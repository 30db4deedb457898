//! The signal that starts an ordered shutdown: SIGINT (Ctrl-C) or SIGTERM.
//!
//! One listener for the whole process, installed by [`listen`] as `main`
//! starts, keeps what it heard: a signal that arrives while a command is
//! still starting up (joining the consumer group, opening the tables) is
//! seen by the [`shutdown_signal`] it awaits later. A listener per call
//! would miss it: once tokio has installed its handler, a signal with no
//! live listener is gone (seen: a `pipeline` stopped during start-up ran on
//! until it was signalled again).

use std::sync::OnceLock;

use tokio::sync::watch;

static SHUTDOWN: OnceLock<watch::Receiver<bool>> = OnceLock::new();

/// Starts listening for SIGINT and SIGTERM (once; later calls do nothing).
/// Must run inside the tokio runtime.
pub(crate) fn listen() {
    heard();
}

/// Resolves once SIGINT or SIGTERM has arrived, also if it arrived before
/// this was called (after [`listen`]).
pub(crate) async fn shutdown_signal() {
    let mut receiver = heard().clone();
    if receiver.wait_for(|&heard| heard).await.is_err() {
        // The listener task is gone (the runtime is shutting down).
        std::future::pending::<()>().await;
    }
}

/// Whether a signal has arrived, from the one listener (started here on
/// first use).
fn heard() -> &'static watch::Receiver<bool> {
    SHUTDOWN.get_or_init(|| {
        let (heard, receiver) = watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            let _ = heard.send(true);
        });
        receiver
    })
}

async fn wait_for_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT: shutting down"),
        () = terminate => tracing::info!("SIGTERM: shutting down"),
    }
}
