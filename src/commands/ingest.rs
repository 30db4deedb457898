//! `revstream ingest`: the stateless front door alone, appending to Kafka,
//! with the registry in PostgreSQL. Run as many as the traffic needs.

use std::time::Duration;

use anyhow::Context;
use revstream_ingest::http::{IngestState, finish, router};

use super::output;
use crate::cli::IngestRoleArgs;
use crate::shutdown::shutdown_signal;

pub(super) async fn run(args: IngestRoleArgs) -> anyhow::Result<()> {
    let brokers = args.kafka.kafka.clone().context(
        "`revstream ingest` needs --kafka (or REVSTREAM_KAFKA); `serve` runs without Kafka",
    )?;
    let registry = args.registry.open().await?;
    let admin = args.registry.admin_token()?;
    let log = args.kafka.connect(&brokers).await?;
    let description = log.describe();
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
    output::note(format!(
        "revstream ingest listening on http://{}; event log: {description}; registry: {}",
        listener.local_addr()?,
        args.registry.describe()
    ));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("HTTP server")?;
    registry.close().await;
    Ok(())
}
