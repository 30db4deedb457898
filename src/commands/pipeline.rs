//! `revstream pipeline`: one member of the pipeline consumer group, reading
//! Kafka and committing tables under --table-uri. Run several to share the
//! partitions; when one stops, the others take its partitions over.

use anyhow::Context;
use revstream_pipeline::source::kafka::KafkaSource;

use super::output;
use crate::cli::PipelineRoleArgs;
use crate::pipeline_task;
use crate::shutdown::shutdown_signal;

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
    let registry = args.registry.open().await?;
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
    )
    .await?;
    output::note(format!(
        "revstream pipeline: group {group} on {brokers} topic {}, tables at {table_uri}",
        args.kafka.kafka_topic
    ));
    shutdown_signal().await;
    pipeline.stop().await?;
    registry.close().await;
    Ok(())
}
