//! Tunables of the local log.

use super::error::OpenError;
use super::frame::MAX_RECORD_BYTES_LIMIT;

/// The most partitions one log may have: each has its own writer thread.
pub(crate) const MAX_PARTITIONS: u32 = 1024;

/// How the local log sizes its files and records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalLogOptions {
    /// A segment is sealed and a new one started once appending the next
    /// record would take it past this many bytes. A record larger than this
    /// still gets a segment of its own. Default 128 MiB.
    pub segment_bytes: u64,
    /// The largest record, key plus payload, that `append` takes; larger ones
    /// are [`LogError::Rejected`](crate::log::LogError::Rejected). Default
    /// 1 MiB, at most 64 MiB.
    pub max_record_bytes: usize,
}

impl Default for LocalLogOptions {
    fn default() -> Self {
        Self {
            segment_bytes: 128 << 20,
            max_record_bytes: 1 << 20,
        }
    }
}

impl LocalLogOptions {
    pub(crate) fn validate(&self, partitions: u32) -> Result<(), OpenError> {
        if partitions == 0 || partitions > MAX_PARTITIONS {
            return Err(OpenError::Options(format!(
                "partitions must be between 1 and {MAX_PARTITIONS}, got {partitions}"
            )));
        }
        if self.segment_bytes == 0 {
            return Err(OpenError::Options("segment_bytes must be positive".into()));
        }
        if self.max_record_bytes == 0 || self.max_record_bytes > MAX_RECORD_BYTES_LIMIT {
            return Err(OpenError::Options(format!(
                "max_record_bytes must be between 1 and {MAX_RECORD_BYTES_LIMIT}, got {}",
                self.max_record_bytes
            )));
        }
        Ok(())
    }
}
