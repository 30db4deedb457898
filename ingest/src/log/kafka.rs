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
//!   whose records timed out, that hit a fatal error, or whose producer
//!   id/epoch the cluster refuses is replaced by a fresh one before the
//!   next append (see `errors::spoils_producer` for why: tansu).

mod config;
mod errors;
mod topic;

use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

use rdkafka::error::KafkaError;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer, PurgeConfig};
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
/// A producer is not replaced before it is this old (or the message
/// timeout, if shorter): a fresh one needs a moment to connect and get its
/// producer id, and a cluster that refuses every producer should not make
/// us churn through producer ids.
const MIN_PRODUCER_AGE: Duration = Duration::from_secs(5);

/// The event log on a Kafka-compatible cluster (Apache Kafka, Redpanda,
/// tansu). Cheap to share: every request handler appends through the same
/// producer, which batches their records together.
pub struct KafkaLog {
    config: KafkaConfig,
    /// Partition count of the topic as the cluster reported it on connect.
    partitions: usize,
    /// Replaced (rarely) when the cluster stops accepting it; the lock is
    /// held only to clone or swap the handle, never across awaits.
    producer: RwLock<ProducerSlot>,
}

/// The producer in use and since when, so that a replacement is not
/// replaced again before it had a chance to work.
struct ProducerSlot {
    producer: FutureProducer,
    since: Instant,
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
        let slot = ProducerSlot {
            producer,
            since: Instant::now(),
        };
        Ok(KafkaLog {
            config,
            partitions,
            producer: RwLock::new(slot),
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
            .producer
            .clone()
    }

    /// Swaps `failed` for a fresh producer: one in librdkafka's fatal state,
    /// or one whose idempotence state the cluster refuses, would fail every
    /// append until the process restarts, turning one outage into a
    /// permanent one. A new producer id loses idempotence across the swap
    /// only for batches already reported as failed; their retries carry
    /// the same event ids, which the pipeline dedupes.
    fn replace_producer(&self, failed: FutureProducer, why: &str) {
        let mut slot = self
            .producer
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if !same_producer(&slot.producer, &failed) {
            // An earlier request replaced it already.
            drop(slot);
            return dispose(failed);
        }
        // A young producer may still be settling (connecting, getting its
        // id), and a cluster that refuses every producer should not make us
        // churn through producer ids. One whose records timed out is always
        // old enough.
        if slot.since.elapsed() < MIN_PRODUCER_AGE.min(self.config.message_timeout) {
            return;
        }
        match build_producer(&self.config) {
            Ok(fresh) => {
                tracing::warn!(reason = why, "replaced the Kafka producer");
                let fresh = ProducerSlot {
                    producer: fresh,
                    since: Instant::now(),
                };
                let old = std::mem::replace(&mut *slot, fresh);
                drop(slot);
                // Nothing queued in the old producer may reach the cluster
                // with its (possibly bumped) epoch; those appends fail now
                // instead of at their timeout, as they would anyway.
                old.producer
                    .purge(PurgeConfig::default().queue().inflight());
                dispose((old.producer, failed));
            }
            Err(e) => {
                tracing::error!(reason = why, error = %e, "Kafka producer needs replacing but cannot be rebuilt");
            }
        }
    }

    /// Lets go of a producer handle after a request; if it has been replaced
    /// meanwhile, this may be its last handle, whose drop blocks.
    fn release(&self, producer: FutureProducer) {
        let current = self.producer.read().unwrap_or_else(PoisonError::into_inner);
        if !same_producer(&current.producer, &producer) {
            drop(current);
            dispose(producer);
        }
    }
}

fn same_producer(a: &FutureProducer, b: &FutureProducer) -> bool {
    a.client().native_ptr() == b.client().native_ptr()
}

/// Drops a producer off the async threads: librdkafka's teardown purges,
/// flushes for up to 500 ms and joins its threads. (Requests still holding
/// a clone finish with it first; the last clone does the teardown.)
fn dispose<T: Send + 'static>(doomed: T) {
    let spawned = std::thread::Builder::new()
        .name("kafka-producer-drop".to_owned())
        .spawn(move || drop(doomed));
    if let Err(e) = spawned {
        // The closure, and the producer with it, was dropped right here.
        tracing::warn!(error = %e, "no thread to drop the old Kafka producer on; dropped it inline");
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
            self.release(producer);
            return Ok(());
        }
        if failures.producer_spoiled() || producer.client().fatal_error().is_some() {
            self.replace_producer(
                producer,
                "records timed out or the cluster refused the producer",
            );
        } else {
            self.release(producer);
        }
        let error = failures.into_error(&self.describe(), self.config.message_timeout);
        tracing::warn!(error = %error, "Kafka append failed");
        Err(error)
    }

    async fn check(&self) -> Result<()> {
        let producer = self.producer();
        if let Some((code, reason)) = producer.client().fatal_error() {
            self.replace_producer(producer, "producer in fatal state");
            return Err(LogError::Unavailable(format!(
                "Kafka producer failed fatally ({code}: {reason})"
            )));
        }
        let timeout = CHECK_TIMEOUT.min(self.config.message_timeout);
        let topic = &self.config.topic;
        let outcome = topic::fetch_metadata(&producer, Some(topic), timeout)
            .await
            .and_then(|metadata| topic::partitions_in(&metadata, topic));
        self.release(producer);
        outcome
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
        let slot = self
            .producer
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        let _ = slot.producer.flush(Timeout::After(Duration::from_secs(1)));
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
