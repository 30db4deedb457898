//! What the Kafka log needs to know, and the librdkafka settings derived
//! from it.
//!
//! The producer settings are what make invariant 1 hold: `acks=all` with the
//! idempotent producer means a delivery report is an acknowledgement by every
//! in-sync replica, and a retried batch is never written twice. `extra` may
//! tune anything else, but not those two (see [`KafkaConfig::validate`]).

use std::time::Duration;

use rdkafka::ClientConfig;

use crate::log::LogError;

/// The topic ingest appends to unless told otherwise.
pub const DEFAULT_TOPIC: &str = "revstream.events";
/// Partitions of a topic that `connect` creates: the upper bound of pipeline
/// workers in one consumer group.
pub const DEFAULT_PARTITIONS: i32 = 8;
/// How long an append waits for acknowledgements before it fails (and the
/// HTTP layer answers 503).
pub const DEFAULT_MESSAGE_TIMEOUT: Duration = Duration::from_secs(10);

/// Batching delay: a few milliseconds let concurrent requests share one
/// produce request without adding noticeable latency to an acknowledgement.
const LINGER_MS: &str = "5";
/// Upper bound of one partition's record batch before compression. Half of
/// the broker's default `message.max.bytes` (1 MiB), so a full batch is never
/// refused by a broker left at defaults, yet large enough for hundreds of
/// events per produce request.
const BATCH_SIZE: &str = "524288";
/// librdkafka backs off exponentially between reconnect attempts (default
/// cap 10 s). A lower cap brings ingest back within ~2 s of a broker restart
/// instead of answering 503 for up to 10 s longer than necessary.
const RECONNECT_BACKOFF_MAX_MS: &str = "2000";
/// librdkafka's own cap for a produce request; shorter when the message
/// timeout is, since waiting past it is pointless.
const MAX_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Where and how the Kafka event log writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    /// `bootstrap.servers`: comma-separated `host:port` list.
    pub brokers: String,
    /// Topic to append to; created on connect if missing.
    pub topic: String,
    /// Partition count used when the topic is created. An existing topic
    /// keeps its own count (changing it would move tenants between
    /// partitions and break their per-partition order).
    pub partitions: i32,
    /// How long an append waits for every acknowledgement before failing
    /// with [`LogError::Unavailable`] (librdkafka's `message.timeout.ms`).
    pub message_timeout: Duration,
    /// librdkafka overrides applied last (security settings, tuning). They
    /// may not weaken durability: `acks` must stay `all` and
    /// `enable.idempotence` `true`; the delivery timeout is `message_timeout`.
    pub extra: Vec<(String, String)>,
}

impl KafkaConfig {
    /// Defaults for everything but the brokers.
    pub fn new(brokers: impl Into<String>) -> Self {
        KafkaConfig {
            brokers: brokers.into(),
            topic: DEFAULT_TOPIC.to_owned(),
            partitions: DEFAULT_PARTITIONS,
            message_timeout: DEFAULT_MESSAGE_TIMEOUT,
            extra: Vec::new(),
        }
    }

    /// Rejects settings that cannot work or would break "ack means durable",
    /// before any client is built.
    pub(super) fn validate(&self) -> Result<(), LogError> {
        let invalid = |why: String| {
            Err(LogError::Unavailable(format!(
                "invalid Kafka configuration: {why}"
            )))
        };
        if self.brokers.trim().is_empty() {
            return invalid("brokers is empty".to_owned());
        }
        if let Err(why) = validate_topic_name(&self.topic) {
            return invalid(format!("topic {:?} {why}", self.topic));
        }
        if self.partitions < 1 {
            return invalid(format!("partitions must be ≥ 1, got {}", self.partitions));
        }
        let timeout_ms = self.message_timeout.as_millis();
        // librdkafka requires message.timeout.ms > linger.ms and fits it in an i32.
        if timeout_ms <= 5 || timeout_ms > i32::MAX as u128 {
            return invalid(format!(
                "message_timeout must be between 6 ms and {} ms, got {timeout_ms} ms",
                i32::MAX
            ));
        }
        for (key, value) in &self.extra {
            let value = value.trim();
            match key.as_str() {
                "acks" | "request.required.acks" if value != "all" && value != "-1" => {
                    return invalid(format!(
                        "{key}={value} would acknowledge appends before every in-sync replica has them; only `all` keeps acks durable"
                    ));
                }
                "enable.idempotence" if value != "true" => {
                    return invalid(format!(
                        "{key}={value}: the idempotent producer keeps retried batches from being written twice"
                    ));
                }
                "message.timeout.ms" | "delivery.timeout.ms" => {
                    return invalid(format!("{key} is set by message_timeout; set that instead"));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Settings of the producer that appends.
    pub(super) fn producer_config(&self) -> ClientConfig {
        let request_timeout = self.message_timeout.min(MAX_REQUEST_TIMEOUT);
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("client.id", "revstream-ingest")
            .set("enable.idempotence", "true")
            .set("acks", "all")
            // librdkafka bundles its own lz4, so this needs no system library.
            .set("compression.type", "lz4")
            .set("linger.ms", LINGER_MS)
            .set("batch.size", BATCH_SIZE)
            // The Java client's hash: every Kafka client (and Kafka Streams)
            // puts a tenant in the same partition as we do. `_random` only
            // applies to records without a key, which we never send.
            .set("partitioner", "murmur2_random")
            .set(
                "message.timeout.ms",
                self.message_timeout.as_millis().to_string(),
            )
            .set(
                "request.timeout.ms",
                request_timeout.as_millis().to_string(),
            )
            .set("reconnect.backoff.max.ms", RECONNECT_BACKOFF_MAX_MS);
        self.apply_extra(&mut config);
        config
    }

    /// Settings of the short-lived admin client that creates the topic:
    /// the same brokers and overrides (security settings apply to both).
    pub(super) fn admin_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("client.id", "revstream-ingest-admin");
        self.apply_extra(&mut config);
        config
    }

    fn apply_extra(&self, config: &mut ClientConfig) {
        for (key, value) in &self.extra {
            config.set(key, value);
        }
    }
}

impl Default for KafkaConfig {
    /// A broker on this machine, Kafka's conventional address.
    fn default() -> Self {
        KafkaConfig::new("127.0.0.1:9092")
    }
}

/// Kafka's own rule for topic names (legal characters and length), checked
/// here so a typo fails with a clear message rather than a broker error code.
fn validate_topic_name(topic: &str) -> Result<(), &'static str> {
    if topic.is_empty() {
        return Err("is empty");
    }
    if topic.len() > 249 {
        return Err("is longer than 249 characters");
    }
    if topic == "." || topic == ".." {
        return Err("may not be `.` or `..`");
    }
    if !topic
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err("may only contain ASCII letters, digits, `.`, `_` and `-`");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_extra(key: &str, value: &str) -> KafkaConfig {
        let mut config = KafkaConfig::new("127.0.0.1:9092");
        config.extra.push((key.to_owned(), value.to_owned()));
        config
    }

    #[test]
    fn defaults_match_the_documented_ones() {
        let config = KafkaConfig::new("b:9092");
        assert_eq!(config.topic, "revstream.events");
        assert_eq!(config.partitions, 8);
        assert_eq!(config.message_timeout, Duration::from_secs(10));
        assert!(config.extra.is_empty());
        assert!(config.validate().is_ok());
        assert_eq!(KafkaConfig::default().brokers, "127.0.0.1:9092");
    }

    #[test]
    fn producer_is_durable_and_keyed_like_java_clients() {
        let mut config = KafkaConfig::new("b1:9092,b2:9092");
        config.message_timeout = Duration::from_secs(3);
        let producer = config.producer_config();
        assert_eq!(producer.get("bootstrap.servers"), Some("b1:9092,b2:9092"));
        assert_eq!(producer.get("enable.idempotence"), Some("true"));
        assert_eq!(producer.get("acks"), Some("all"));
        assert_eq!(producer.get("partitioner"), Some("murmur2_random"));
        assert_eq!(producer.get("message.timeout.ms"), Some("3000"));
        assert_eq!(producer.get("request.timeout.ms"), Some("3000"));
        assert_eq!(producer.get("linger.ms"), Some("5"));
        assert_eq!(producer.get("compression.type"), Some("lz4"));
    }

    #[test]
    fn request_timeout_is_capped() {
        let mut config = KafkaConfig::new("b:9092");
        config.message_timeout = Duration::from_secs(120);
        assert_eq!(
            config.producer_config().get("request.timeout.ms"),
            Some("30000")
        );
    }

    #[test]
    fn extra_overrides_win_and_reach_both_clients() {
        let config = with_extra("linger.ms", "20");
        assert_eq!(config.producer_config().get("linger.ms"), Some("20"));
        let config = with_extra("security.protocol", "ssl");
        assert!(config.validate().is_ok());
        assert_eq!(
            config.producer_config().get("security.protocol"),
            Some("ssl")
        );
        assert_eq!(config.admin_config().get("security.protocol"), Some("ssl"));
    }

    #[test]
    fn overrides_that_weaken_durability_are_refused() {
        for (key, value) in [
            ("acks", "1"),
            ("acks", "0"),
            ("request.required.acks", "1"),
            ("enable.idempotence", "false"),
            ("message.timeout.ms", "60000"),
            ("delivery.timeout.ms", "60000"),
        ] {
            let err = with_extra(key, value).validate().expect_err(key);
            assert!(err.to_string().contains(key), "{err}");
        }
        assert!(with_extra("acks", "all").validate().is_ok());
        assert!(with_extra("acks", "-1").validate().is_ok());
        assert!(with_extra("enable.idempotence", "true").validate().is_ok());
    }

    #[test]
    fn nonsense_is_refused_with_a_reason() {
        let base = KafkaConfig::new("b:9092");
        let cases = [
            KafkaConfig {
                brokers: " ".into(),
                ..base.clone()
            },
            KafkaConfig {
                topic: String::new(),
                ..base.clone()
            },
            KafkaConfig {
                topic: "a/b".into(),
                ..base.clone()
            },
            KafkaConfig {
                topic: "x".repeat(250),
                ..base.clone()
            },
            KafkaConfig {
                topic: "..".into(),
                ..base.clone()
            },
            KafkaConfig {
                partitions: 0,
                ..base.clone()
            },
            KafkaConfig {
                message_timeout: Duration::from_millis(5),
                ..base.clone()
            },
            KafkaConfig {
                message_timeout: Duration::from_secs(u64::MAX / 4),
                ..base.clone()
            },
        ];
        for config in cases {
            let err = config.validate().expect_err("invalid config");
            assert!(
                matches!(err, LogError::Unavailable(ref m) if m.starts_with("invalid Kafka configuration")),
                "{err}"
            );
        }
        let ok = KafkaConfig {
            topic: "tenant_events-v2.x".into(),
            ..base
        };
        assert!(ok.validate().is_ok());
    }
}
