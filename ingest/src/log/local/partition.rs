//! What the writer, readers and the log handle share about one partition.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use tokio::sync::watch;

use super::segment::Segment;

/// The directory of partition `id`: `p-00003`.
pub(crate) fn dir_name(id: u32) -> String {
    format!("p-{id:05}")
}

#[derive(Debug)]
pub(crate) struct PartitionState {
    id: u32,
    dir: PathBuf,
    /// Ascending by base offset; the last one is the writer's tail.
    segments: RwLock<Vec<Arc<Segment>>>,
    /// The next offset, i.e. one past the last fsynced record. Only the
    /// writer sends, and only after `sync_data` returned: a reader bounded
    /// by it never sees a record that a crash could take back.
    high_watermark: watch::Sender<u64>,
    /// Set once, after a failed fsync; never cleared in this process.
    poison: OnceLock<String>,
    /// Fault injection for tests: the writer's next fsync fails.
    #[cfg(test)]
    pub(crate) fail_next_sync: std::sync::atomic::AtomicBool,
    /// Fault injection for tests: the writer's next write lands half its
    /// bytes, then fails as if the disk were full.
    #[cfg(test)]
    pub(crate) fail_next_write: std::sync::atomic::AtomicBool,
}

impl PartitionState {
    pub(crate) fn new(
        id: u32,
        dir: PathBuf,
        segments: Vec<Arc<Segment>>,
        high_watermark: u64,
    ) -> Self {
        Self {
            id,
            dir,
            segments: RwLock::new(segments),
            high_watermark: watch::Sender::new(high_watermark),
            poison: OnceLock::new(),
            #[cfg(test)]
            fail_next_sync: std::sync::atomic::AtomicBool::new(false),
            #[cfg(test)]
            fail_next_write: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub(crate) fn id(&self) -> u32 {
        self.id
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn high_watermark(&self) -> u64 {
        *self.high_watermark.borrow()
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.high_watermark.subscribe()
    }

    pub(crate) fn publish(&self, high_watermark: u64) {
        self.high_watermark.send_replace(high_watermark);
    }

    /// A snapshot of the segment list; cheap (reference counts only).
    pub(crate) fn segments(&self) -> Vec<Arc<Segment>> {
        self.segments
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn push_segment(&self, segment: Arc<Segment>) {
        self.segments
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(segment);
    }

    /// Detaches the segments that hold only offsets below `offset`, never
    /// the tail, and returns them for deletion.
    pub(crate) fn detach_below(&self, offset: u64) -> Vec<Arc<Segment>> {
        let mut segments = self
            .segments
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let keep_from = segments
            .iter()
            .skip(1)
            .take_while(|next| next.base() <= offset)
            .count();
        segments.drain(..keep_from).collect()
    }

    /// The first offset still on disk.
    pub(crate) fn log_start(&self) -> u64 {
        let segments = self.segments.read().unwrap_or_else(PoisonError::into_inner);
        segments.first().map_or(0, |s| s.base())
    }

    pub(crate) fn poison(&self, reason: String) {
        let _ = self.poison.set(reason);
    }

    pub(crate) fn poisoned(&self) -> Option<&str> {
        self.poison.get().map(String::as_str)
    }
}
