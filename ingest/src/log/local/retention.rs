//! Retention by hand: deleting whole segments below an offset.

use std::fs;
use std::sync::Arc;

use super::{LocalLog, segment};
use crate::log::{LogError, Result};

impl LocalLog {
    /// Deletes the segments of `partition` that hold only offsets below
    /// `offset` (never the tail, never above the high watermark); returns
    /// the new log start. Reads below it fail with `Rejected`.
    pub async fn truncate_before(&self, partition: u32, offset: u64) -> Result<u64> {
        let part = Arc::clone(self.partition(partition)?);
        tokio::task::spawn_blocking(move || {
            let detached = part.detach_below(offset.min(part.high_watermark()));
            let failed =
                |e: std::io::Error| LogError::Unavailable(format!("local log retention: {e}"));
            // Oldest first, so whatever a failure leaves behind is still a
            // contiguous run of segments.
            for segment in &detached {
                fs::remove_file(segment.path()).map_err(failed)?;
            }
            if !detached.is_empty() {
                segment::sync_dir(part.dir()).map_err(failed)?;
                tracing::info!(
                    partition = part.id(),
                    segments = detached.len(),
                    "local log: deleted segments"
                );
            }
            Ok(part.log_start())
        })
        .await
        .map_err(|e| LogError::Unavailable(format!("local log retention task failed: {e}")))?
    }
}
