//! Where the pipeline reads events from: the embedded local log, or a Kafka
//! consumer group. Either way the pipeline, not the log, decides where to
//! start: at the offsets committed with the tables.

pub mod kafka;
pub mod local;

use std::collections::HashMap;
use std::time::Duration;

/// One record read from the log.
#[derive(Debug, Clone)]
pub struct SourceRecord {
    pub partition: u32,
    pub offset: u64,
    pub payload: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
#[error("event log: {0}")]
pub struct SourceError(pub String);

/// What one read returned: records, and changes of ownership that happened
/// before them (a consumer-group rebalance, or the first call).
#[derive(Debug, Clone, Default)]
pub struct SourceBatch {
    /// Partitions this reader now owns and has not reported before. The
    /// pipeline loads their state and positions them ([`LogSource::seek`])
    /// before any of their records is returned.
    pub assigned: Vec<u32>,
    /// Partitions taken away. Records of these partitions that are not yet
    /// committed must be dropped: the new owner reads them again.
    pub revoked: Vec<u32>,
    pub records: Vec<SourceRecord>,
}

/// A reader of the event log.
#[async_trait::async_trait]
pub trait LogSource: Send {
    /// Names the log in committed offsets, so offsets of one log are never
    /// applied to another.
    fn log_id(&self) -> String;

    /// The partition count of the log (not only the owned ones).
    fn partition_count(&self) -> u32;

    /// Continue each of `partitions` at its offset in `positions` (the
    /// next offset to read, as committed with the tables), or at the start
    /// of the partition when it has none. The tables are the truth: a
    /// log's own bookkeeping (Kafka group offsets) is overridden.
    fn seek(&mut self, partitions: &[u32], positions: &HashMap<u32, i64>);

    /// Up to `max` records, waiting at most `wait` for the first one.
    async fn next_batch(&mut self, max: usize, wait: Duration) -> Result<SourceBatch, SourceError>;

    /// Called after the tables committed these positions.
    async fn committed(&mut self, _positions: &[(u32, i64)]) {}

    /// Records behind the end of the log per partition this reader owns,
    /// as last known (for `/metrics`); empty when the source cannot tell.
    /// Cheap and without I/O: called once per cycle.
    fn lag(&self) -> Vec<(u32, u64)> {
        Vec::new()
    }
}
