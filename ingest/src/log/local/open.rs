//! Opening a log directory: lock, metadata, recovery, writer threads.

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use tokio::sync::mpsc;

use super::partition::{self, PartitionState};
use super::writer::Writer;
use super::{LocalLog, LocalLogOptions, OpenError, QUEUE_DEPTH, meta, recovery, segment};

impl LocalLog {
    /// Opens (or creates) the log in `dir` with `partitions` partitions,
    /// recovering the tail of every partition, and starts one writer thread
    /// per partition. Blocking: call it at start-up or in `spawn_blocking`.
    pub fn open(
        dir: impl AsRef<Path>,
        partitions: u32,
        options: LocalLogOptions,
    ) -> Result<Arc<Self>, OpenError> {
        options.validate(partitions)?;
        let dir = dir.as_ref().to_path_buf();
        if !dir.is_dir() {
            fs::create_dir_all(&dir).map_err(OpenError::io("creating", &dir))?;
            // The new directory's own entry must survive a crash too, or
            // every record fsynced inside it could vanish with it.
            segment::sync_parent(&dir).map_err(OpenError::io("syncing the parent of", &dir))?;
        }
        let lock = meta::lock(&dir)?;
        meta::ensure_partitions(&dir, partitions)?;
        let mut log = Self {
            dir,
            options,
            partitions: Vec::new(),
            senders: Vec::new(),
            writers: Vec::new(),
            fsyncs: Arc::new(AtomicU64::new(0)),
            probes: AtomicU64::new(0),
            _lock: lock,
        };
        // On an early return `log` is dropped, which stops the writers
        // already started before the lock is released.
        for id in 0..partitions {
            let dir = log.dir.join(partition::dir_name(id));
            let recovered = recovery::recover_partition(&dir)?;
            let state = Arc::new(PartitionState::new(
                id,
                dir.clone(),
                recovered.segments.clone(),
                recovered.next_offset,
            ));
            let writer = Writer::new(
                Arc::clone(&state),
                recovered,
                log.options.segment_bytes,
                Arc::clone(&log.fsyncs),
            )
            .map_err(OpenError::io("starting writer for", &dir))?;
            let (sender, queue) = mpsc::channel(QUEUE_DEPTH);
            log.writers.push(
                writer
                    .spawn(queue)
                    .map_err(OpenError::io("starting writer for", &dir))?,
            );
            log.senders.push(sender);
            log.partitions.push(state);
        }
        tracing::info!(dir = %log.dir.display(), partitions, "local log opened");
        Ok(Arc::new(log))
    }
}
