//! The log directory's own files: the lock and the metadata.
//!
//! ```text
//!  DIR/
//!    .lock                 held (flock-style) while a process has the log open
//!    revstream-log.json    {"format": 1, "partitions": 8}, written once, atomically
//!    p-00000/ … p-00007/
//! ```
//!
//! The partition count is fixed at creation: `partition_for` maps a tenant
//! by `hash % partitions`, so another count would move tenants to other
//! partitions and interleave their old and new events out of order.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::OpenError;
use super::segment::sync_dir;

const LOCK_FILE: &str = ".lock";
const META_FILE: &str = "revstream-log.json";
const FORMAT: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    format: u32,
    partitions: u32,
}

/// Takes the directory's exclusive lock, so two processes never append to
/// the same segments. The OS drops it when the process dies, SIGKILL
/// included, so a crash never leaves a stale lock behind.
pub(crate) fn lock(dir: &Path) -> Result<File, OpenError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(OpenError::io("creating lock file", &path))?;
    // A handle of this same process that is being dropped (its writer
    // threads finishing on another thread) releases the lock within
    // moments; wait briefly for that before reporting another owner.
    let mut attempts = 0;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(TryLockError::WouldBlock) if attempts < LOCK_ATTEMPTS => {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(OpenError::Locked {
                    dir: dir.to_path_buf(),
                    lock: path,
                });
            }
            Err(TryLockError::Error(e)) => return Err(OpenError::io("locking", path)(e)),
        }
    }
}

/// How many times (20 ms apart) to retry a held lock: one second in all.
const LOCK_ATTEMPTS: u32 = 50;

/// Checks the persisted partition count, writing it on first open.
pub(crate) fn ensure_partitions(dir: &Path, partitions: u32) -> Result<(), OpenError> {
    let path = dir.join(META_FILE);
    match fs::read(&path) {
        Ok(bytes) => {
            let meta: Meta = serde_json::from_slice(&bytes).map_err(|e| OpenError::Metadata {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            if meta.format != FORMAT {
                let reason = format!(
                    "format {} is not the supported format {FORMAT}",
                    meta.format
                );
                return Err(OpenError::Metadata { path, reason });
            }
            if meta.partitions != partitions {
                return Err(OpenError::PartitionCountMismatch {
                    dir: dir.to_path_buf(),
                    on_disk: meta.partitions,
                    requested: partitions,
                });
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            refuse_orphan_partitions(dir, &path)?;
            write_atomically(
                dir,
                &path,
                &Meta {
                    format: FORMAT,
                    partitions,
                },
            )
        }
        Err(e) => Err(OpenError::io("reading", path)(e)),
    }
}

/// Partition directories without metadata mean the metadata was lost, not
/// that this is a new log: guessing the count could reshuffle tenants.
fn refuse_orphan_partitions(dir: &Path, meta: &Path) -> Result<(), OpenError> {
    let entries = fs::read_dir(dir).map_err(OpenError::io("listing", dir))?;
    for entry in entries {
        let entry = entry.map_err(OpenError::io("listing", dir))?;
        if entry.file_name().to_string_lossy().starts_with("p-") {
            return Err(OpenError::Metadata {
                path: meta.to_path_buf(),
                reason: "missing, but partition directories exist; restore it with the original \
                         partition count"
                    .into(),
            });
        }
    }
    Ok(())
}

/// Write to a temporary name, fsync, rename, fsync the directory: a crash
/// leaves either no metadata or the whole of it.
fn write_atomically(dir: &Path, path: &Path, meta: &Meta) -> Result<(), OpenError> {
    let tmp: PathBuf = dir.join(format!("{META_FILE}.tmp"));
    let bytes = serde_json::to_vec(meta).map_err(|e| OpenError::Metadata {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let write = || -> std::io::Result<()> {
        let mut file = File::create(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        sync_dir(dir)
    };
    write().map_err(OpenError::io("writing", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_is_written_once_and_then_enforced() {
        let dir = tempfile::tempdir().unwrap();
        ensure_partitions(dir.path(), 4).unwrap();
        ensure_partitions(dir.path(), 4).unwrap();
        let err = ensure_partitions(dir.path(), 8).unwrap_err();
        assert!(matches!(
            err,
            OpenError::PartitionCountMismatch {
                on_disk: 4,
                requested: 8,
                ..
            }
        ));
        assert!(
            err.to_string()
                .contains("has 4 partitions but was opened with 8"),
            "{err}"
        );
    }

    #[test]
    fn garbage_or_missing_metadata_is_an_error_not_a_guess() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(META_FILE), b"\x00not json").unwrap();
        assert!(matches!(
            ensure_partitions(dir.path(), 4),
            Err(OpenError::Metadata { .. })
        ));
        fs::remove_file(dir.path().join(META_FILE)).unwrap();
        fs::create_dir(dir.path().join("p-00000")).unwrap();
        assert!(matches!(
            ensure_partitions(dir.path(), 4),
            Err(OpenError::Metadata { .. })
        ));
    }

    #[test]
    fn a_second_lock_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let held = lock(dir.path()).unwrap();
        assert!(matches!(lock(dir.path()), Err(OpenError::Locked { .. })));
        drop(held);
        lock(dir.path()).unwrap();
    }
}
