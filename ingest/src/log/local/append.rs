//! Appending: admission, routing to partitions, waiting for the fsyncs.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot};

use super::writer::AppendRequest;
use super::{LocalLog, RecordPosition};
use crate::log::{EventLog, LogError, LogRecord, Result, partition_for};

impl LocalLog {
    /// Like [`EventLog::append`], returning where each record landed, in
    /// the order given.
    pub async fn append_with_offsets(
        &self,
        records: Vec<LogRecord>,
    ) -> Result<Vec<RecordPosition>> {
        for (i, record) in records.iter().enumerate() {
            self.admit(i, record)?;
        }
        let count = records.len();
        let mut routed: BTreeMap<u32, (Vec<LogRecord>, Vec<usize>)> = BTreeMap::new();
        for (i, record) in records.into_iter().enumerate() {
            let (batch, indices) = routed
                .entry(partition_for(&record.key, self.partitions()))
                .or_default();
            batch.push(record);
            indices.push(i);
        }
        let mut pending = Vec::with_capacity(routed.len());
        for (partition, (records, indices)) in routed {
            let sender = self
                .senders
                .get(partition as usize)
                .ok_or_else(|| self.stopped(partition))?;
            let (ack, acked) = oneshot::channel();
            sender
                .send(AppendRequest { records, ack })
                .await
                .map_err(|_| self.stopped(partition))?;
            pending.push((partition, indices, acked));
        }
        let mut positions = vec![RecordPosition::default(); count];
        let mut failure = None;
        for (partition, indices, acked) in pending {
            match acked.await {
                Ok(Ok(first)) => {
                    for (offset, i) in (first..).zip(indices) {
                        positions[i] = RecordPosition { partition, offset };
                    }
                }
                Ok(Err(e)) => _ = failure.get_or_insert(e),
                Err(_) => _ = failure.get_or_insert(self.stopped(partition)),
            }
        }
        failure.map_or(Ok(positions), Err)
    }

    fn admit(&self, i: usize, record: &LogRecord) -> Result<()> {
        if record.key.len() > usize::from(u16::MAX) {
            return Err(LogError::Rejected(format!(
                "record {i}: key of {} bytes is longer than the local log's limit of {} bytes",
                record.key.len(),
                u16::MAX
            )));
        }
        let size = record.key.len() + record.payload.len();
        if size > self.options.max_record_bytes {
            return Err(LogError::Rejected(format!(
                "record {i} is {size} bytes (key + payload), larger than the local log's maximum of {} bytes",
                self.options.max_record_bytes
            )));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl EventLog for LocalLog {
    /// All records are checked against the limits first: one oversize record
    /// rejects the batch before anything is written.
    async fn append(&self, records: Vec<LogRecord>) -> Result<()> {
        self.append_with_offsets(records).await.map(drop)
    }

    async fn check(&self) -> Result<()> {
        for (i, part) in self.partitions.iter().enumerate() {
            if let Some(reason) = part.poisoned() {
                return Err(LogError::Unavailable(reason.to_string()));
            }
            let dead = self.writers.get(i).is_none_or(JoinHandle::is_finished);
            if dead || self.senders.get(i).is_none_or(mpsc::Sender::is_closed) {
                return Err(self.stopped(part.id()));
            }
        }
        let probe = self.dir.join(format!(
            ".probe-{}",
            self.probes.fetch_add(1, Ordering::Relaxed)
        ));
        let dir = self.dir.clone();
        // One byte, not an empty file: an empty file needs only an inode, so
        // a full disk would pass. The probe is removed whatever happens.
        tokio::task::spawn_blocking(move || {
            let written = fs::File::create(&probe).and_then(|mut f| f.write_all(b"p"));
            let removed = fs::remove_file(&probe);
            written.and(removed)
        })
        .await
        .map_err(|e| LogError::Unavailable(format!("local log check task failed: {e}")))?
        .map_err(|e| {
            LogError::Unavailable(format!(
                "local log directory {} is not writable: {e}",
                dir.display()
            ))
        })
    }

    fn describe(&self) -> String {
        format!(
            "local log at {} ({} partitions)",
            self.dir.display(),
            self.partitions.len()
        )
    }
}
