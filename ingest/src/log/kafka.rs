//! The Kafka event log (rdkafka): idempotent producer, acks=all, key = tenant.
