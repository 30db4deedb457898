//! `revstream serve`: every role in one process on embedded defaults — the
//! local durable log, SQLite and a local data dir — or on Kafka and
//! PostgreSQL when given. A real single-node deployment: durable and
//! restartable.

use std::sync::Arc;

use anyhow::Context;
use revstream_ingest::http::{IngestState, ReadinessCheck, finish, router, serve_http};
use revstream_ingest::log::EventLog;
use revstream_ingest::sync::schedule::Scheduler;
use revstream_pipeline::source::kafka::KafkaSource;
use revstream_pipeline::source::local::LocalSource;
use revstream_query::{QueryState, Tables, TablesOptions};
use revstream_schemas::staged::StagedRows;

use super::output;
use crate::cli::ServeArgs;
use crate::pipeline_task::{self, PipelineHandle};
use crate::shutdown::shutdown_signal;
use crate::telemetry;

pub(super) async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let registry = args.registry.open_waiting().await?;
    let data_dir = &args.registry.data_dir;
    let admin = args.registry.admin_token()?;
    let root = args.tables.root(data_dir)?;
    let config = args.tables.pipeline_config();
    // Queries answer from each cycle's derived rows while its commit runs.
    let staged = Some(Arc::new(StagedRows::default()));
    let (log, pipeline): (Arc<dyn EventLog>, PipelineHandle) = match &args.kafka.kafka {
        Some(brokers) => {
            let log = args.kafka.connect(brokers).await?;
            let group = &args.tables.kafka_group;
            let source = KafkaSource::connect(args.kafka.source_config(brokers, group))
                .await
                .context("joining the pipeline consumer group")?;
            (
                log,
                pipeline_task::spawn(source, &root, registry.clone(), config, staged.clone())
                    .await?,
            )
        }
        None => {
            let log = args.local_log.open(data_dir)?;
            let source = LocalSource::new(log.clone()).context("reading the local log")?;
            (
                log,
                pipeline_task::spawn(source, &root, registry.clone(), config, staged.clone())
                    .await?,
            )
        }
    };
    let log_description = log.describe();

    let tables = Arc::new(
        Tables::open(
            root.clone(),
            TablesOptions {
                commits: Some(pipeline.commits.clone()),
                staged,
                ..TablesOptions::default()
            },
        )
        .await
        .context("opening the tables for queries")?,
    );
    let readiness: Vec<Arc<dyn ReadinessCheck>> = vec![tables.clone(), pipeline.readiness()];
    let ingest = IngestState::with_readiness(
        registry.clone(),
        log,
        admin.token.clone(),
        args.ingest.config(),
        readiness,
    );
    let query = QueryState::new(tables, ingest.auth(), registry.clone(), args.query.config())
        .context("starting the query service")?;
    let mut prometheus = telemetry::registry("serve");
    ingest.metrics().register(&mut prometheus);
    pipeline.metrics.register(&mut prometheus);
    query.metrics().register(&mut prometheus, &query);
    let request_timeout = args.http.timeout_above(&args.query);
    let app = finish(
        router(ingest.clone())
            .merge(revstream_query::router(query))
            .merge(telemetry::routes(Arc::new(prometheus))),
        request_timeout,
    );

    // Periodic sync pulls (issue #8); a pull cut short resumes next time.
    let scheduler = Scheduler {
        state: ingest,
        tick: std::time::Duration::from_secs(60),
    }
    .spawn();
    let listener = tokio::net::TcpListener::bind(args.http.addr)
        .await
        .with_context(|| format!("binding {}", args.http.addr))?;
    let addr = listener.local_addr()?;
    output::note(format!("revstream listening on http://{addr}"));
    output::note(format!("  event log: {log_description}"));
    output::note(format!("  registry:  {}", args.registry.describe()));
    output::note(format!("  tables:    {root}"));
    match &admin.file {
        Some(path) => output::note(format!("  admin token: in {}", path.display())),
        None => output::note("  admin token: from REVSTREAM_ADMIN_TOKEN"),
    }
    tracing::info!(%addr, log = %log_description, "serving");

    // Ordered shutdown: stop accepting, let in-flight requests finish (each
    // answers only after its append is durable), let the pipeline finish
    // and commit its cycle, then close the registry.
    serve_http(listener, app, args.http.serve_options(), shutdown_signal())
        .await
        .context("HTTP server")?;
    scheduler.abort();
    tracing::info!("HTTP drained; stopping the pipeline");
    pipeline.stop().await?;
    registry.close().await;
    tracing::info!("stopped");
    Ok(())
}
