//! The Kafka event log: an idempotent `acks=all` producer, records keyed by
//! tenant.
//!
//! ```text
//!  append(batch) ──send each record (key = tenant)──▶ librdkafka queue ──▶ brokers
//!       ▲                                                                   │
//!       └── Ok once every delivery report says "acknowledged by all ISRs" ◀─┘
//!           Err(Unavailable) on any timeout/outage, Err(Rejected) if too large
//! ```
//!
//! - Durability: `acks=all` plus `enable.idempotence=true` — an
//!   acknowledgement means every in-sync replica has the record, and
//!   librdkafka's internal retries never duplicate or reorder it.
//! - Bounded waiting: librdkafka fails a record that is not acknowledged
//!   within [`KafkaConfig::message_timeout`]; `append` also stops waiting
//!   shortly after that, so a request never hangs on a dead cluster.
//! - Partitioning: librdkafka's `murmur2_random` partitioner, the Java
//!   client's hash of the key, so any Kafka client agrees which partition a
//!   tenant lives in. (The local log's [`crate::log::partition_for`] is a
//!   different, local choice.)
//! - Recovery: librdkafka reconnects on its own after an outage. A producer
//!   that hit a *fatal* error (possible with idempotence) is replaced.

mod config;
mod errors;
mod topic;

use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

use rdkafka::error::KafkaError;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;

pub use config::{DEFAULT_MESSAGE_TIMEOUT, DEFAULT_PARTITIONS, DEFAULT_TOPIC, KafkaConfig};
use errors::BatchFailures;

use super::{EventLog, LogError, LogRecord, Result};

/// How long `append` keeps waiting for delivery reports past the message
/// timeout: librdkafka reports timeouts in its own rhythm (it scans queues
/// about once a second), and giving up earlier would turn a late success
/// into a needless 503.
const DELIVERY_GRACE: Duration = Duration::from_secs(2);
/// Pause before retrying a record that found librdkafka's queue full.
const QUEUE_FULL_BACKOFF: Duration = Duration::from_millis(10);
/// Upper bound of a readiness check; `/readyz` must answer quickly.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// The event log on a Kafka-compatible cluster (Apache Kafka, Redpanda,
/// tansu). Cheap to share: every request handler appends through the same
/// producer, which batches their records together.
pub struct KafkaLog {
    config: KafkaConfig,
    /// Partition count of the topic as the cluster reported it on connect.
    partitions: usize,
    /// Replaced (rarely) when librdkafka declares it fatally failed; the
    /// lock is held only to clone or swap the handle, never across awaits.
    producer: RwLock<FutureProducer>,
}

impl std::fmt::Debug for KafkaLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaLog")
            .field("config", &self.config)
            .field("partitions", &self.partitions)
            .finish_non_exhaustive()
    }
}

impl KafkaLog {
    /// Validates `config`, builds the producer and makes sure the topic
    /// exists (creating it with `config.partitions` partitions and
    /// replication factor 1 if not; see the `topic` module docs for
    /// pre-creating it with more replicas). Fails with
    /// [`LogError::Unavailable`] when the configuration is invalid or the
    /// cluster cannot be reached within `config.message_timeout`.
    pub async fn connect(config: KafkaConfig) -> Result<KafkaLog> {
        config.validate()?;
        let producer = build_producer(&config)?;
        let partitions = topic::ensure_topic(&config, &producer).await?;
        tracing::info!(
            brokers = %config.brokers,
            topic = %config.topic,
            partitions,
            "Kafka event log connected"
        );
        Ok(KafkaLog {
            config,
            partitions,
            producer: RwLock::new(producer),
        })
    }

    /// The configuration this log was connected with.
    pub fn config(&self) -> &KafkaConfig {
        &self.config
    }

    /// The topic's partition count as the cluster reported it on connect
    /// (an existing topic keeps its own count, whatever `config` says).
    pub fn partitions(&self) -> usize {
        self.partitions
    }

    fn producer(&self) -> FutureProducer {
        self.producer
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces `failed` with a fresh producer if librdkafka declared it
    /// fatally failed; a fatal producer refuses every record until the
    /// process restarts, which would turn one broker hiccup into a
    /// permanent outage.
    fn recover_if_fatal(&self, failed: &FutureProducer) {
        let Some((code, reason)) = failed.client().fatal_error() else {
            return;
        };
        let mut current = self
            .producer
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        // Another request may have replaced it already.
        if current.client().native_ptr() != failed.client().native_ptr() {
            return;
        }
        match build_producer(&self.config) {
            Ok(fresh) => {
                tracing::warn!(%code, %reason, "Kafka producer failed fatally; replaced it");
                *current = fresh;
            }
            Err(e) => {
                tracing::error!(%code, %reason, error = %e, "Kafka producer failed fatally and cannot be rebuilt")
            }
        }
    }
}

fn build_producer(config: &KafkaConfig) -> Result<FutureProducer> {
    config
        .producer_config()
        .create()
        .map_err(|e| LogError::Unavailable(format!("cannot build Kafka producer: {e}")))
}

/// Hands one record to librdkafka. A full local queue means we are
/// producing faster than the cluster acknowledges; wait for room until the
/// batch's deadline rather than failing at once.
async fn enqueue(
    producer: &FutureProducer,
    topic: &str,
    record: &LogRecord,
    deadline: Instant,
) -> std::result::Result<DeliveryFuture, KafkaError> {
    let mut future_record: FutureRecord<'_, str, [u8]> = FutureRecord::to(topic)
        .key(record.key.as_str())
        .payload(record.payload.as_slice());
    loop {
        match producer.send_result(future_record) {
            Ok(delivery) => return Ok(delivery),
            Err((
                KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull),
                back,
            )) if Instant::now() < deadline => {
                future_record = back;
                tokio::time::sleep(QUEUE_FULL_BACKOFF).await;
            }
            Err((e, _)) => return Err(e),
        }
    }
}

#[async_trait::async_trait]
impl EventLog for KafkaLog {
    async fn append(&self, records: Vec<LogRecord>) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let producer = self.producer();
        let deadline = Instant::now() + self.config.message_timeout;
        let mut failures = BatchFailures::new(records.len());

        // Hand every record over before waiting for any, so the whole batch
        // travels in as few produce requests as linger.ms allows.
        let mut in_flight = Vec::with_capacity(records.len());
        for (index, record) in records.iter().enumerate() {
            match enqueue(&producer, &self.config.topic, record, deadline).await {
                Ok(delivery) => in_flight.push((index, delivery)),
                Err(e) => {
                    // The batch has failed; sending the rest would only
                    // write records the caller is told were not accepted.
                    failures.kafka(index, &record.key, record.payload.len(), &e);
                    failures.not_sent(records.len() - index - 1);
                    break;
                }
            }
        }

        // Wait for every report, even after a failure: the error should
        // describe the batch, and librdkafka answers within the timeout.
        let give_up = tokio::time::Instant::from_std(deadline + DELIVERY_GRACE);
        for (index, delivery) in in_flight {
            let record = &records[index];
            match tokio::time::timeout_at(give_up, delivery).await {
                Ok(Ok(Ok(_acknowledged))) => {}
                Ok(Ok(Err((e, _message)))) => {
                    failures.kafka(index, &record.key, record.payload.len(), &e)
                }
                Ok(Err(_canceled)) => failures.other(
                    index,
                    &record.key,
                    record.payload.len(),
                    "producer shut down".to_owned(),
                ),
                Err(_elapsed) => failures.other(
                    index,
                    &record.key,
                    record.payload.len(),
                    "no delivery report from librdkafka".to_owned(),
                ),
            }
        }

        if failures.is_empty() {
            return Ok(());
        }
        self.recover_if_fatal(&producer);
        let error = failures.into_error(&self.describe(), self.config.message_timeout);
        tracing::warn!(error = %error, "Kafka append failed");
        Err(error)
    }

    async fn check(&self) -> Result<()> {
        let producer = self.producer();
        if let Some((code, reason)) = producer.client().fatal_error() {
            self.recover_if_fatal(&producer);
            return Err(LogError::Unavailable(format!(
                "Kafka producer failed fatally ({code}: {reason})"
            )));
        }
        let timeout = CHECK_TIMEOUT.min(self.config.message_timeout);
        let topic = &self.config.topic;
        topic::fetch_metadata(&producer, Some(topic), timeout)
            .await
            .and_then(|metadata| topic::partitions_in(&metadata, topic))
            .map(|_| ())
            .map_err(|e| LogError::Unavailable(format!("{}: {e}", self.describe())))
    }

    fn describe(&self) -> String {
        format!(
            "kafka {} topic {} ({} partitions)",
            self.config.brokers, self.config.topic, self.partitions
        )
    }
}

impl Drop for KafkaLog {
    /// Gives records still in librdkafka's queue (from appends whose caller
    /// went away) a moment to reach the broker; their outcome no longer
    /// matters to anyone, so a short bound is enough.
    fn drop(&mut self) {
        let producer = self
            .producer
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        let _ = producer.flush(Timeout::After(Duration::from_secs(1)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A port nothing listens on: bind one, then let it go.
    fn closed_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    #[tokio::test]
    async fn connect_to_nothing_fails_as_unavailable_within_the_timeout() {
        let mut config = KafkaConfig::new(format!("127.0.0.1:{}", closed_port()));
        config.message_timeout = Duration::from_secs(1);
        let started = Instant::now();
        let err = KafkaLog::connect(config)
            .await
            .expect_err("no broker there");
        assert!(matches!(err, LogError::Unavailable(_)), "{err:?}");
        // Creation and metadata each wait at most the timeout (+ grace).
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "took {:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn connect_refuses_invalid_config_before_dialing() {
        let mut config = KafkaConfig::new("127.0.0.1:1");
        config.extra.push(("acks".into(), "1".into()));
        let started = Instant::now();
        let err = KafkaLog::connect(config)
            .await
            .expect_err("acks=1 is not durable");
        assert!(err.to_string().contains("acks=1"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn unknown_librdkafka_settings_fail_connect_with_the_key() {
        let mut config = KafkaConfig::new("127.0.0.1:1");
        config.extra.push(("no.such.setting".into(), "1".into()));
        let err = KafkaLog::connect(config).await.expect_err("unknown key");
        assert!(err.to_string().contains("no.such.setting"), "{err}");
    }
}
