//! `revstream pipeline`: one member of the pipeline consumer group, reading
//! Kafka and committing tables under --table-uri. Run several to share the
//! partitions; when one stops, the others take its partitions over.
//!
//! It serves no API, only the operations routes on `--http`: `/metrics`,
//! `/healthz` and `/readyz` (the loop runs and the registry answers).

use std::sync::Arc;

use anyhow::Context;
use revstream_ingest::http::{ReadinessCheck, ServeOptions, serve_http};
use revstream_pipeline::source::kafka::KafkaSource;

use super::output;
use crate::cli::PipelineRoleArgs;
use crate::pipeline_task;
use crate::shutdown::shutdown_signal;
use crate::telemetry;

pub(super) async fn run(args: PipelineRoleArgs) -> anyhow::Result<()> {
    let brokers = args
        .kafka
        .kafka
        .clone()
        .context("`revstream pipeline` needs --kafka (or REVSTREAM_KAFKA)")?;
    let table_uri = args
        .tables
        .table_uri
        .clone()
        .context("`revstream pipeline` needs --table-uri (or REVSTREAM_TABLE_URI)")?;
    // Bound first: a taken port fails the start, not a running pipeline.
    let listener = tokio::net::TcpListener::bind(args.http)
        .await
        .with_context(|| format!("binding {} (--http, the operations listener)", args.http))?;
    let addr = listener.local_addr()?;
    let registry = args.registry.open_waiting().await?;
    let root = args.tables.root(&args.registry.data_dir)?;
    let group = &args.tables.kafka_group;
    let source = KafkaSource::connect(args.kafka.source_config(&brokers, group))
        .await
        .context("joining the pipeline consumer group")?;
    let pipeline = pipeline_task::spawn(
        source,
        &root,
        registry.clone(),
        args.tables.pipeline_config(),
        // No query side in this process to show staged rows to.
        None,
    )
    .await?;

    let mut prometheus = telemetry::registry("pipeline");
    pipeline.metrics.register(&mut prometheus);
    let app = telemetry::routes(Arc::new(prometheus))
        .merge(health_routes(pipeline.readiness(), registry.clone()));
    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_http(
        listener,
        app,
        ServeOptions::default(),
        async move {
            let _ = http_stopped.await;
        },
    ));
    output::note(format!(
        "revstream pipeline: group {group} on {brokers} topic {}, tables at {table_uri}; /metrics on http://{}",
        args.kafka.kafka_topic, addr
    ));
    shutdown_signal().await;
    // Metrics stay up while the last cycle commits.
    let stopped = pipeline.stop().await;
    let _ = stop_http.send(());
    match server.await {
        Ok(served) => served.context("operations HTTP server")?,
        Err(e) => tracing::warn!(error = %e, "operations HTTP server task failed"),
    }
    stopped?;
    registry.close().await;
    Ok(())
}

/// `/healthz` (up) and `/readyz` (the pipeline loop runs and the registry
/// answers) for a pipeline process.
fn health_routes(
    pipeline: Arc<dyn ReadinessCheck>,
    registry: revstream_registry::Registry,
) -> axum::Router {
    use axum::Json;
    use axum::http::StatusCode;
    use axum::routing::get;
    use serde_json::json;

    axum::Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route(
            "/readyz",
            get(move || {
                let (pipeline, registry) = (pipeline.clone(), registry.clone());
                async move {
                    let pipeline = pipeline.check().await;
                    let registry = registry.ping().await.map_err(|e| e.to_string());
                    let ready = pipeline.is_ok() && registry.is_ok();
                    let show = |r: Result<(), String>| r.err().unwrap_or_else(|| "ok".into());
                    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
                    (status, Json(json!({"ready": ready, "checks": {"pipeline": show(pipeline), "registry": show(registry)}})))
                }
            }),
        )
}
