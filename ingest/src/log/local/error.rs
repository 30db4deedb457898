//! Why a local log could not be opened.

use std::io;
use std::path::PathBuf;

/// Why [`LocalLog::open`](super::LocalLog::open) failed. Every variant names
/// the path involved; none of them is retried by waiting.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("local log: {what} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. "recovering segment".
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "local log at {} has {on_disk} partitions but was opened with {requested}; the partition \
         count is fixed when the log is created (changing it would move tenants to other \
         partitions and break their order)",
        dir.display()
    )]
    PartitionCountMismatch {
        dir: PathBuf,
        on_disk: u32,
        requested: u32,
    },
    #[error("local log at {} is in use by another process (lock file {})", dir.display(), lock.display())]
    Locked { dir: PathBuf, lock: PathBuf },
    #[error("local log metadata {} is unusable: {reason}", path.display())]
    Metadata { path: PathBuf, reason: String },
    #[error("invalid local log options: {0}")]
    Options(String),
}

impl OpenError {
    pub(crate) fn io(
        what: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { what, path, source }
    }
}
