//! `revstream serve`: every role in one process on embedded defaults — the
//! local durable log, SQLite and a local data dir — or on Kafka and
//! PostgreSQL when given. A real single-node deployment: durable and
//! restartable.

use std::time::Duration;

use anyhow::Context;
use revstream_ingest::http::{IngestState, finish, router};
use revstream_registry::AdminToken;

use super::output;
use crate::cli::ServeArgs;
use crate::shutdown::shutdown_signal;

pub(super) async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let registry = args.registry.open().await?;
    let data_dir = &args.registry.data_dir;
    let admin = AdminToken::load_or_create(
        std::env::var("REVSTREAM_ADMIN_TOKEN").ok().as_deref(),
        data_dir,
    )
    .context("loading the admin token")?;
    let log = match &args.kafka.kafka {
        Some(brokers) => args.kafka.connect(brokers).await?,
        None => args.local_log.open(data_dir)?,
    };
    let log_description = log.describe();

    let state = IngestState::new(
        registry.clone(),
        log,
        admin.token.clone(),
        args.ingest.config(),
    );
    let app = finish(
        router(state),
        Duration::from_secs(args.http.request_timeout_secs),
    );

    let listener = tokio::net::TcpListener::bind(args.http.addr)
        .await
        .with_context(|| format!("binding {}", args.http.addr))?;
    let addr = listener.local_addr()?;
    output::note(format!("revstream listening on http://{addr}"));
    output::note(format!("  event log: {log_description}"));
    output::note(format!("  registry:  {}", args.registry.describe()));
    match &admin.file {
        Some(path) => output::note(format!("  admin token: in {}", path.display())),
        None => output::note("  admin token: from REVSTREAM_ADMIN_TOKEN"),
    }
    tracing::info!(%addr, log = %log_description, "serving");

    // Ordered shutdown: stop accepting, let in-flight requests finish (each
    // answers only after its append is durable), then close the registry.
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("HTTP server")?;
    registry.close().await;
    tracing::info!("stopped");
    Ok(())
}
