//! The event log: where ingest puts accepted events and the pipeline reads
//! them from.
//!
//! ```text
//!  ingest ──append(batch)──▶ EventLog ──▶ Kafka topic (rdkafka, acks=all, idempotent)
//!            ◀── Ok only when durable      or the local log (segment files, fsync)
//! ```
//!
//! Invariant 1 lives here: `append` returns `Ok` only after every record of
//! the batch is durable — acknowledged by all in-sync replicas, or fsynced
//! to disk. Anything else is an error, and the HTTP layer answers 503.
//!
//! Records are keyed by tenant, so one tenant's events share a partition
//! and keep their arrival order there.

pub mod envelope;
pub mod kafka;
pub mod local;

use std::fmt::Debug;

pub use envelope::LogEnvelope;

/// One record to append: the partition key (the tenant id) and the payload
/// (a serialized [`LogEnvelope`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    pub key: String,
    pub payload: Vec<u8>,
}

/// Why an append did not become durable.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The log cannot take writes right now (broker down, disk full, …).
    /// Nothing in the batch may be reported as accepted; retry later.
    #[error("event log unavailable: {0}")]
    Unavailable(String),
    /// A record the log will never take (larger than its maximum).
    #[error("record rejected by the event log: {0}")]
    Rejected(String),
}

pub type Result<T, E = LogError> = std::result::Result<T, E>;

/// Where accepted events go. Shared by every request handler.
#[async_trait::async_trait]
pub trait EventLog: Send + Sync + Debug {
    /// Appends a batch and returns once every record in it is durable. On
    /// error, some records may have been written; they carry their event ids,
    /// so the pipeline's dedupe makes a retry safe.
    async fn append(&self, records: Vec<LogRecord>) -> Result<()>;

    /// Whether the log can take writes now; for `/readyz`.
    async fn check(&self) -> Result<()>;

    /// A short description for start-up messages ("kafka 127.0.0.1:9092 topic revstream.events").
    fn describe(&self) -> String;
}

/// The partition a key goes to among `partitions`: FNV-1a, stable across
/// processes and releases, so a tenant's events always share a partition.
pub fn partition_for(key: &str, partitions: u32) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for b in key.bytes() {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_stable_and_in_range() {
        assert_eq!(partition_for("acme", 8), partition_for("acme", 8));
        for key in ["a", "acme", "beta", "", "tenant-with-a-long-name"] {
            assert!(partition_for(key, 8) < 8);
        }
        assert_eq!(partition_for("acme", 0), 0);
    }
}
