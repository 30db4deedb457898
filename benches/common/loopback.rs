//! A load harness's HTTP server: the app on 127.0.0.1:0, stopped
//! gracefully at the end (aborted if it has not stopped within 5 s).

use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub(crate) struct LoopbackServer {
    /// `http://127.0.0.1:<port>`
    pub(crate) base: String,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl LoopbackServer {
    pub(crate) async fn start(app: axum::Router) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        Ok(Self { base, stop, task })
    }

    pub(crate) async fn stop(self) {
        let _ = self.stop.send(());
        let abort = self.task.abort_handle();
        if tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
}
