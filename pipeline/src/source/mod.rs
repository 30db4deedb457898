//! Where the pipeline reads events from: the embedded local log, or a Kafka
//! consumer group. Either way the pipeline, not the log, decides where to
//! start: at the offsets committed with the tables.

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

/// A reader of the event log.
#[async_trait::async_trait]
pub trait LogSource: Send {
    /// Names the log in committed offsets, so offsets of one log are never
    /// applied to another.
    fn log_id(&self) -> String;

    /// The partitions this reader owns.
    fn partitions(&self) -> Vec<u32>;

    /// Where to continue in each partition (next offset to read); partitions
    /// not named start at the beginning.
    fn seek(&mut self, positions: &HashMap<u32, i64>);

    /// Up to `max` records, waiting at most `wait` for the first one.
    async fn next_batch(
        &mut self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<SourceRecord>, SourceError>;
}
