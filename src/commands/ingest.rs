//! `revstream ingest`: the stateless front door alone, appending to Kafka,
//! with the registry in PostgreSQL. Run as many as the traffic needs.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use revstream_ingest::http::{IngestState, finish, router, serve_http};
use revstream_ingest::sync::schedule::Scheduler;

use super::output;
use crate::cli::IngestRoleArgs;
use crate::shutdown::shutdown_signal;
use crate::telemetry;

pub(super) async fn run(args: IngestRoleArgs) -> anyhow::Result<()> {
    let brokers = args.kafka.kafka.clone().context(
        "`revstream ingest` needs --kafka (or REVSTREAM_KAFKA); `serve` runs without Kafka",
    )?;
    let registry = args.registry.open_waiting().await?;
    let admin = args.registry.admin_token()?;
    let log = args.kafka.connect(&brokers).await?;
    let description = log.describe();
    let state = IngestState::new(
        registry.clone(),
        log,
        admin.token.clone(),
        args.ingest.config(),
    );
    let mut prometheus = telemetry::registry("ingest");
    state.metrics().register(&mut prometheus);
    let app = finish(
        router(state.clone()).merge(telemetry::routes(Arc::new(prometheus))),
        Duration::from_secs(args.http.request_timeout_secs),
    );
    // Periodic sync pulls (issue #8); a pull cut short resumes next time.
    let scheduler = Scheduler {
        state,
        tick: std::time::Duration::from_secs(60),
    }
    .spawn();
    let listener = tokio::net::TcpListener::bind(args.http.addr)
        .await
        .with_context(|| format!("binding {}", args.http.addr))?;
    output::note(format!(
        "revstream ingest listening on http://{}; event log: {description}; registry: {}",
        listener.local_addr()?,
        args.registry.describe()
    ));
    serve_http(listener, app, args.http.serve_options(), shutdown_signal())
        .await
        .context("HTTP server")?;
    scheduler.abort();
    registry.close().await;
    Ok(())
}
