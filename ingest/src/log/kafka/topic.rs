//! Making sure the topic exists, and reading its shape from metadata.
//!
//! `connect` creates the topic with replication factor 1, which is what a
//! single-broker setup (or tansu, or a test) can satisfy. In production,
//! create it beforehand with the replication you want; `connect` then finds
//! it and leaves it alone:
//!
//! ```text
//! kafka-topics.sh --bootstrap-server BROKERS --create --topic revstream.events \
//!     --partitions 8 --replication-factor 3 --config min.insync.replicas=2
//! ```
//!
//! With `min.insync.replicas=2`, `acks=all` means at least two copies before
//! ingest answers 2xx.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::metadata::Metadata;
use rdkafka::producer::{FutureProducer, Producer};

use super::config::KafkaConfig;
use super::errors::humanize;
use crate::log::LogError;

/// Slack on top of librdkafka's own timeouts before we stop waiting for it.
const GRACE: Duration = Duration::from_secs(2);
/// Pause between metadata polls while a new topic propagates.
const METADATA_POLL: Duration = Duration::from_millis(200);

/// Creates the topic unless it exists, then returns its partition count as
/// the cluster reports it.
pub(super) async fn ensure_topic(
    config: &KafkaConfig,
    producer: &FutureProducer,
) -> Result<usize, LogError> {
    let timeout = config.message_timeout;
    let created = create_topic(config, timeout).await;
    // Even when creation failed (no permission, a broker without the admin
    // API), a topic that someone created beforehand is all we need.
    match wait_for_partitions(producer, &config.topic, timeout).await {
        Ok(partitions) => {
            match &created {
                Ok(true) => {
                    tracing::info!(topic = %config.topic, partitions, "created Kafka topic")
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(topic = %config.topic, error = %e, "could not create Kafka topic; it exists, using it")
                }
            }
            if partitions != config.partitions as usize {
                // Repartitioning would move tenants between partitions and
                // break their order in flight, so it stays an operator's call.
                tracing::warn!(
                    topic = %config.topic,
                    partitions,
                    configured = config.partitions,
                    "existing Kafka topic has a different partition count; keeping it"
                );
            }
            Ok(partitions)
        }
        Err(metadata_error) => Err(LogError::Unavailable(match created {
            Err(create_error) => format!("{create_error}; {metadata_error}"),
            Ok(_) => metadata_error,
        })),
    }
}

/// `Ok(true)` when this call created the topic, `Ok(false)` when it existed.
async fn create_topic(config: &KafkaConfig, timeout: Duration) -> Result<bool, String> {
    let admin: AdminClient<DefaultClientContext> = config
        .admin_config()
        .create()
        .map_err(|e| format!("cannot build Kafka admin client: {e}"))?;
    let topic = NewTopic::new(&config.topic, config.partitions, TopicReplication::Fixed(1));
    let options = AdminOptions::new()
        .request_timeout(Some(timeout))
        .operation_timeout(Some(timeout));
    let results = tokio::time::timeout(timeout + GRACE, admin.create_topics([&topic], &options))
        .await
        .map_err(|_| {
            format!(
                "creating topic {} timed out after {}",
                config.topic,
                humanize(timeout)
            )
        })?
        .map_err(|e| format!("creating topic {} failed: {e}", config.topic))?;
    match results.into_iter().next() {
        Some(Ok(_)) => Ok(true),
        Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) => Ok(false),
        Some(Err((_, code))) => Err(format!("creating topic {} failed: {code}", config.topic)),
        None => Err(format!(
            "creating topic {}: no result from the broker",
            config.topic
        )),
    }
}

/// Polls cluster metadata until the topic shows up with partitions (a new
/// topic takes a moment to reach every broker), up to `timeout`.
async fn wait_for_partitions(
    producer: &FutureProducer,
    topic: &str,
    timeout: Duration,
) -> Result<usize, String> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        // All topics, not just ours: asking for one topic by name may make
        // a broker with `auto.create.topics.enable` create it with its
        // default partition count.
        let outcome = fetch_metadata(producer, None, left.max(Duration::from_millis(100)))
            .await
            .and_then(|metadata| partitions_in(&metadata, topic));
        match outcome {
            Ok(partitions) => return Ok(partitions),
            Err(e) if Instant::now() + METADATA_POLL >= deadline => {
                return Err(format!(
                    "Kafka topic {topic} not usable after {}: {e}",
                    humanize(timeout)
                ));
            }
            Err(_) => tokio::time::sleep(METADATA_POLL).await,
        }
    }
}

/// Fetches metadata on a blocking thread: librdkafka's call blocks until
/// the broker answers or `timeout` passes.
pub(super) async fn fetch_metadata(
    producer: &FutureProducer,
    topic: Option<&str>,
    timeout: Duration,
) -> Result<Metadata, String> {
    let producer = producer.clone();
    let topic = topic.map(str::to_owned);
    tokio::task::spawn_blocking(move || producer.client().fetch_metadata(topic.as_deref(), timeout))
        .await
        .map_err(|e| format!("metadata request did not finish: {e}"))?
        .map_err(|e| format!("metadata request failed: {e}"))
}

/// The topic's partition count, if the cluster knows it and every partition
/// has a leader (a partition without one cannot take writes).
pub(super) fn partitions_in(metadata: &Metadata, topic: &str) -> Result<usize, String> {
    let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
        return Err(format!("topic {topic} does not exist"));
    };
    if let Some(err) = found.error() {
        return Err(format!("topic {topic}: {}", RDKafkaErrorCode::from(err)));
    }
    let partitions = found.partitions();
    if partitions.is_empty() {
        return Err(format!("topic {topic} has no partitions yet"));
    }
    if let Some(p) = partitions
        .iter()
        .find(|p| p.leader() < 0 || p.error().is_some())
    {
        return Err(format!(
            "partition {} of topic {topic} has no leader",
            p.id()
        ));
    }
    Ok(partitions.len())
}
