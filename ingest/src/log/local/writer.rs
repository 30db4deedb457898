//! The writer of one partition: a dedicated thread doing group commit.
//!
//! ```text
//!  append ─┐                         ┌─ write all frames ─ sync_data ─┐
//!  append ─┼─▶ queue ─▶ drain queue ─┤                                ├─▶ publish high watermark ─▶ ack all
//!  append ─┘  (bounded)              └─ (past segment_bytes: fsync, roll)
//! ```
//!
//! Every request queued while one fsync runs shares the next one, so the
//! number of fsyncs grows with time spent syncing, not with appends. A plain
//! thread, not a tokio task: `write` and `sync_data` block for milliseconds
//! and must not stall the runtime's workers.
//!
//! **Failure policy.** Every request of a failed group gets
//! [`LogError::Unavailable`] (ingest answers 503), never an ack. What
//! happens next depends on what failed:
//!
//! - **A write** (`ENOSPC`, `EDQUOT`, `EROFS`, …): nothing of it was
//!   synced, and every byte before it was (each earlier group, and each
//!   roll, ended with a successful fsync). The writer cuts the tail back
//!   to that synced length, so no torn frame stays in the middle of the
//!   file for later frames to follow, and takes appends again: a full
//!   disk heals when space comes back, without a restart.
//! - **An fsync** (or the directory fsync of a roll, or the cut itself):
//!   **poison**. The partition refuses every later append until the log
//!   is reopened. On Linux a failed fsync may already have dropped the
//!   dirty pages and cleared the error, so a later fsync that succeeds
//!   proves nothing about earlier records. Reopening runs recovery, which
//!   trusts only what is on disk. `check()` reports the poison, so
//!   `/readyz` fails and the operator (or orchestrator) restarts.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::{self, JoinHandle};

use tokio::sync::{mpsc, oneshot};

use super::frame;
use super::partition::PartitionState;
use super::recovery::Recovered;
use super::segment::{self, Segment, SparseIndex};
use crate::log::{LogError, LogRecord, Result};

/// A group stops taking queued requests past this many bytes of frames, to
/// bound the writer's buffer; the rest go into the next group.
const GROUP_MAX_BYTES: usize = 8 << 20;

/// Records of one append call for one partition; `ack` gets the offset of
/// the first, the others follow it contiguously.
#[derive(Debug)]
pub(crate) struct AppendRequest {
    pub(crate) records: Vec<LogRecord>,
    pub(crate) ack: oneshot::Sender<Result<u64>>,
}

impl AppendRequest {
    fn frame_bytes(&self) -> usize {
        self.records
            .iter()
            .map(|r| frame::frame_len(&r.key, &r.payload))
            .sum()
    }
}

/// Why a group could not be made durable.
#[derive(Debug)]
enum GroupError {
    /// A write failed; the tail was cut back to its synced length and the
    /// partition takes appends again.
    Rewound(io::Error),
    /// An fsync failed, or the cut did: the partition is poisoned.
    Fatal(io::Error),
}

#[derive(Debug)]
pub(crate) struct Writer {
    part: Arc<PartitionState>,
    file: File,
    tail: Arc<Segment>,
    /// Bytes of the tail written. Between groups all of them are synced:
    /// every group and every roll ends with an fsync, and a failed one
    /// poisons the partition.
    tail_len: u64,
    next_offset: u64,
    /// The offset of the first frame in `buf`.
    buf_first_offset: u64,
    segment_bytes: u64,
    fsyncs: Arc<AtomicU64>,
    buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn new(
        part: Arc<PartitionState>,
        recovered: Recovered,
        segment_bytes: u64,
        fsyncs: Arc<AtomicU64>,
    ) -> io::Result<Self> {
        let tail = recovered
            .segments
            .last()
            .cloned()
            .ok_or_else(|| io::Error::other("partition has no tail segment"))?;
        Ok(Self {
            part,
            file: recovered.tail_file,
            tail,
            tail_len: recovered.tail_len,
            next_offset: recovered.next_offset,
            buf_first_offset: recovered.next_offset,
            segment_bytes,
            fsyncs,
            buf: Vec::new(),
        })
    }

    pub(crate) fn spawn(self, queue: mpsc::Receiver<AppendRequest>) -> io::Result<JoinHandle<()>> {
        thread::Builder::new()
            .name(format!("revstream-log-p{}", self.part.id()))
            .spawn(move || self.run(queue))
    }

    fn run(mut self, mut queue: mpsc::Receiver<AppendRequest>) {
        // `None` once every sender is gone: the log was dropped.
        while let Some(first) = queue.blocking_recv() {
            let mut bytes = first.frame_bytes();
            let mut group = vec![first];
            while bytes < GROUP_MAX_BYTES {
                match queue.try_recv() {
                    Ok(request) => {
                        bytes += request.frame_bytes();
                        group.push(request);
                    }
                    Err(_) => break,
                }
            }
            self.commit_group(group);
        }
    }

    fn commit_group(&mut self, group: Vec<AppendRequest>) {
        if let Some(reason) = self.part.poisoned() {
            let reason = reason.to_string();
            return fail_all(group, &reason);
        }
        let start_offset = self.next_offset;
        match self.write_and_sync(&group) {
            Ok(()) => {
                // Publish before acknowledging: whoever hears "durable" can read it.
                self.part.publish(self.next_offset);
                let mut offset = start_offset;
                for request in group {
                    let first = offset;
                    offset += request.records.len() as u64;
                    let _ = request.ack.send(Ok(first));
                }
            }
            Err(GroupError::Rewound(e)) => {
                // Frames a roll synced before the failure are durable: make
                // them readable (as a restart would), though their appends
                // are refused; the producer's retry is a duplicate the
                // pipeline drops.
                if self.next_offset > self.part.high_watermark() {
                    self.part.publish(self.next_offset);
                }
                let reason = format!(
                    "partition {}: writing offsets from {start_offset} failed ({e}); \
                     nothing of it was acknowledged, retry later",
                    self.part.id()
                );
                tracing::warn!(partition = self.part.id(), error = %e, "local log: {reason}");
                fail_all(group, &reason);
            }
            Err(GroupError::Fatal(e)) => {
                let reason = format!(
                    "partition {} poisoned: syncing offsets from {start_offset} failed \
                     ({e}); no further appends until the log is reopened",
                    self.part.id()
                );
                tracing::error!(partition = self.part.id(), error = %e, "local log: {reason}");
                self.part.poison(reason.clone());
                fail_all(group, &reason);
            }
        }
    }

    /// Frames the group, rolling segments as needed, and makes it durable.
    fn write_and_sync(&mut self, group: &[AppendRequest]) -> Result<(), GroupError> {
        self.buf.clear();
        self.buf_first_offset = self.next_offset;
        for record in group.iter().flat_map(|r| &r.records) {
            let len = frame::frame_len(&record.key, &record.payload) as u64;
            let position = self.tail_len + self.buf.len() as u64;
            if position > 0 && position + len > self.segment_bytes {
                self.roll()?;
            }
            let position = self.tail_len + self.buf.len() as u64;
            self.tail.observe(self.next_offset, position);
            frame::encode(
                &mut self.buf,
                self.next_offset,
                &record.key,
                &record.payload,
            );
            self.next_offset += 1;
        }
        self.flush()?;
        self.sync().map_err(GroupError::Fatal)
    }

    /// Writes `buf` to the tail. On failure the tail is cut back to its
    /// synced length and the frames of `buf` are forgotten.
    fn flush(&mut self) -> Result<(), GroupError> {
        match self.write_buf() {
            Ok(()) => {
                self.tail_len += self.buf.len() as u64;
                self.buf.clear();
                self.buf_first_offset = self.next_offset;
                Ok(())
            }
            Err(e) => {
                self.rewind().map_err(GroupError::Fatal)?;
                Err(GroupError::Rewound(e))
            }
        }
    }

    fn write_buf(&mut self) -> io::Result<()> {
        #[cfg(test)]
        if self.part.fail_next_write.swap(false, Ordering::Relaxed) {
            // A short write, then the disk is full: half a frame lands.
            let half = self.buf.len() / 2;
            self.file.write_all(&self.buf[..half])?;
            return Err(io::Error::from(io::ErrorKind::StorageFull));
        }
        self.file.write_all(&self.buf)
    }

    /// Undoes a failed write: whatever part of `buf` reached the file is
    /// cut off (a partial frame would be damage below a later high
    /// watermark), the file position and the next offset go back to the
    /// first frame of `buf`, and the index forgets its frames. Cutting only
    /// frees space, so it works on a full disk.
    fn rewind(&mut self) -> io::Result<()> {
        self.file.set_len(self.tail_len)?;
        self.file.seek(SeekFrom::Start(self.tail_len))?;
        self.tail.forget_from(self.buf_first_offset);
        self.next_offset = self.buf_first_offset;
        self.buf.clear();
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        #[cfg(test)]
        if self.part.fail_next_sync.swap(false, Ordering::Relaxed) {
            return Err(io::Error::other("injected fsync failure"));
        }
        self.file.sync_data()?;
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Seals the tail (its frames durable first) and starts a segment at
    /// `next_offset`. The directory is synced so the new file survives a
    /// crash; if it does not, recovery finds the sealed one as the tail.
    ///
    /// If the new file cannot be created, the old tail stays the tail, whole
    /// and synced: the failure is [`GroupError::Rewound`].
    fn roll(&mut self) -> Result<(), GroupError> {
        // With nothing buffered, the tail was fully synced by the previous
        // group (or by the previous roll in this one).
        if !self.buf.is_empty() {
            self.flush()?;
            self.sync().map_err(GroupError::Fatal)?;
        }
        let dir = self.part.dir().to_path_buf();
        let path = dir.join(segment::file_name(self.next_offset));
        let file = OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&path)
            .map_err(GroupError::Rewound)?;
        segment::sync_dir(&dir).map_err(GroupError::Fatal)?;
        tracing::debug!(partition = self.part.id(), segment = %path.display(), "local log: rolled segment");
        let tail = Arc::new(Segment::new(
            self.next_offset,
            path,
            SparseIndex::complete(),
        ));
        self.part.push_segment(Arc::clone(&tail));
        self.file = file;
        self.tail = tail;
        self.tail_len = 0;
        Ok(())
    }
}

fn fail_all(group: Vec<AppendRequest>, reason: &str) {
    for request in group {
        let _ = request
            .ack
            .send(Err(LogError::Unavailable(reason.to_string())));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use crate::log::local::{LocalLog, LocalLogOptions};
    use crate::log::{EventLog, LogError, LogRecord};

    fn record(payload: &str) -> Vec<LogRecord> {
        vec![LogRecord {
            key: "acme".into(),
            payload: payload.into(),
        }]
    }

    #[tokio::test]
    async fn a_failed_fsync_poisons_the_partition_until_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let log = LocalLog::open(dir.path(), 1, LocalLogOptions::default()).unwrap();
        log.append(record("durable")).await.unwrap();
        log.partitions[0]
            .fail_next_sync
            .store(true, Ordering::Relaxed);
        let failed = log.append(record("unsure")).await;
        assert!(
            matches!(failed, Err(LogError::Unavailable(ref m)) if m.contains("poisoned")),
            "{failed:?}"
        );
        assert_eq!(
            log.high_watermark(0).unwrap(),
            1,
            "readers never see the unsynced record"
        );
        // The next fsync would succeed, but it would prove nothing about
        // the pages the failed one lost: later appends fail too.
        assert!(matches!(
            log.append(record("later")).await,
            Err(LogError::Unavailable(_))
        ));
        assert!(log.check().await.is_err());
        drop(log);

        let log = LocalLog::open(dir.path(), 1, LocalLogOptions::default()).unwrap();
        log.check().await.unwrap();
        let records = log.read(0, 0, 10).await.unwrap();
        assert_eq!(records[0].payload, b"durable");
        log.append(record("after reopen")).await.unwrap();
        let last = log.read(0, 0, 10).await.unwrap().pop().unwrap();
        assert_eq!(last.payload, b"after reopen");
    }

    #[tokio::test]
    async fn a_failed_write_is_cut_off_and_the_partition_heals() {
        let dir = tempfile::tempdir().unwrap();
        let log = LocalLog::open(dir.path(), 1, LocalLogOptions::default()).unwrap();
        log.append(record("durable")).await.unwrap();
        log.partitions[0]
            .fail_next_write
            .store(true, Ordering::Relaxed);
        let failed = log.append(record("refused")).await;
        assert!(
            matches!(failed, Err(LogError::Unavailable(ref m)) if !m.contains("poisoned")),
            "{failed:?}"
        );
        assert_eq!(
            log.high_watermark(0).unwrap(),
            1,
            "nothing refused is readable"
        );
        // No restart: the disk has room again and appends go on, right after
        // the last acknowledged record (the half frame is gone).
        log.append(record("after")).await.unwrap();
        log.check().await.unwrap();
        let payloads = |records: Vec<crate::log::local::StoredRecord>| {
            records
                .into_iter()
                .map(|r| (r.offset, String::from_utf8(r.payload).unwrap()))
                .collect::<Vec<_>>()
        };
        let want = vec![(0, "durable".to_owned()), (1, "after".to_owned())];
        assert_eq!(payloads(log.read(0, 0, 10).await.unwrap()), want);
        drop(log);

        // Recovery finds nothing to cut and the same records.
        let log = LocalLog::open(dir.path(), 1, LocalLogOptions::default()).unwrap();
        assert_eq!(payloads(log.read(0, 0, 10).await.unwrap()), want);
        assert_eq!(log.high_watermark(0).unwrap(), 2);
    }
}
