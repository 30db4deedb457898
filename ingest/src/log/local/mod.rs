//! The embedded durable local log: partitioned segment files, CRC-framed
//! records, group-committed fsync. The default log of `revstream serve`.
//!
//! ```text
//!  DIR/
//!    .lock  revstream-log.json                      (see meta.rs)
//!    p-00000/00000000000000000000.log               sealed segment
//!            00000000000000042000.log               tail segment
//!    p-00001/…
//!
//!  append ─▶ route by partition_for(key) ─▶ queue ─▶ writer thread of the partition
//!                                                      write frames, sync_data once per group,
//!   Ok(())  ◀── ack ◀── publish high watermark ◀───────┘ (invariant 1: ack means fsynced)
//!
//!  read(partition, from, max) ─▶ segments ≤ high watermark ─▶ [StoredRecord]
//!  wait_for / subscribe ◀── high watermark changes
//! ```
//!
//! Partitions work like Kafka's: offsets count from 0 per partition, a
//! tenant's records share one partition and keep their order, and the
//! partition count is fixed when the log is created.
//!
//! Files, one concept each: `frame` (the record format), `segment` (files
//! and the sparse index), `writer` (group commit, and the failure policy: a
//! failed write is cut off and the partition goes on once the disk has room;
//! a failed fsync poisons the partition until reopen), `recovery`
//! (torn-tail truncation), `reader` (reads bounded by the high watermark),
//! `meta` (lock and partition count), `open`, `append`, `retention`.
//!
//! Retention is not automatic. [`LocalLog::truncate_before`] deletes whole
//! segments below an offset; whoever knows what the pipeline has committed
//! decides when to call it.

mod append;
mod error;
mod frame;
mod meta;
mod open;
mod options;
mod partition;
mod reader;
mod recovery;
mod retention;
mod segment;
mod writer;

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use tokio::sync::{mpsc, watch};

pub use error::OpenError;
pub use options::LocalLogOptions;

use super::{LogError, Result};
use partition::PartitionState;
use writer::AppendRequest;

/// Append requests a partition queues before `append` waits for room.
const QUEUE_DEPTH: usize = 1024;

/// A record as read back, with the offset the log gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub offset: u64,
    pub key: String,
    pub payload: Vec<u8>,
}

/// Where an appended record landed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordPosition {
    pub partition: u32,
    pub offset: u64,
}

/// The local log. Open it once per directory (a lock file enforces that),
/// share the `Arc`. Dropping the last handle stops the writer threads after
/// they finish what is queued.
pub struct LocalLog {
    dir: PathBuf,
    options: LocalLogOptions,
    partitions: Vec<Arc<PartitionState>>,
    senders: Vec<mpsc::Sender<AppendRequest>>,
    writers: Vec<JoinHandle<()>>,
    fsyncs: Arc<AtomicU64>,
    probes: AtomicU64,
    _lock: fs::File,
}

impl LocalLog {
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn partitions(&self) -> u32 {
        self.partitions.len() as u32
    }

    /// The largest record (key + payload) `append` takes.
    pub fn max_record_bytes(&self) -> usize {
        self.options.max_record_bytes
    }

    /// The next offset of `partition`: every offset below it is durable and readable.
    pub fn high_watermark(&self, partition: u32) -> Result<u64> {
        Ok(self.partition(partition)?.high_watermark())
    }

    /// The first offset of `partition` still on disk (0 until retention runs).
    pub fn log_start(&self, partition: u32) -> Result<u64> {
        Ok(self.partition(partition)?.log_start())
    }

    /// Up to `max_records` durable records of `partition` from `from_offset`
    /// on, in offset order; empty when `from_offset` is at the high watermark.
    pub async fn read(
        &self,
        partition: u32,
        from_offset: u64,
        max_records: usize,
    ) -> Result<Vec<StoredRecord>> {
        let part = Arc::clone(self.partition(partition)?);
        if from_offset >= part.high_watermark() || max_records == 0 {
            return Ok(Vec::new());
        }
        tokio::task::spawn_blocking(move || reader::read(&part, from_offset, max_records))
            .await
            .map_err(|e| LogError::Unavailable(format!("local log read task failed: {e}")))?
    }

    /// The high watermark of `partition`, updated after every durable group.
    pub fn subscribe(&self, partition: u32) -> Result<watch::Receiver<u64>> {
        Ok(self.partition(partition)?.subscribe())
    }

    /// Waits until `offset` of `partition` is durable; returns the high
    /// watermark then (greater than `offset`).
    pub async fn wait_for(&self, partition: u32, offset: u64) -> Result<u64> {
        let mut updates = self.partition(partition)?.subscribe();
        let high_watermark = *updates
            .wait_for(|hw| *hw > offset)
            .await
            .map_err(|_| LogError::Unavailable("local log closed".into()))?;
        Ok(high_watermark)
    }

    /// fsyncs the writers made since open; one per group commit (plus one per
    /// segment roll), so under concurrency far fewer than appends.
    pub fn fsync_count(&self) -> u64 {
        self.fsyncs.load(Ordering::Relaxed)
    }

    pub(crate) fn partition(&self, partition: u32) -> Result<&Arc<PartitionState>> {
        self.partitions.get(partition as usize).ok_or_else(|| {
            LogError::Rejected(format!(
                "no partition {partition}: the local log has {}",
                self.partitions.len()
            ))
        })
    }

    pub(crate) fn stopped(&self, partition: u32) -> LogError {
        LogError::Unavailable(format!(
            "local log writer of partition {partition} has stopped"
        ))
    }
}

impl fmt::Debug for LocalLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalLog")
            .field("dir", &self.dir)
            .field("partitions", &self.partitions.len())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Drop for LocalLog {
    fn drop(&mut self) {
        // Closing the queues ends each writer's loop once it has drained
        // them; joining makes a reopen right after the drop safe.
        self.senders.clear();
        for writer in self.writers.drain(..) {
            if writer.join().is_err() {
                tracing::error!("local log writer thread panicked");
            }
        }
    }
}
