//! Housekeeping: compaction of crowded `events` partitions, checkpoints of
//! the tables' logs and vacuum of replaced files (see `store::maintain` for
//! the why).
//!
//! Compaction and checkpoints run as a task of their own beside the cycles,
//! every `compact_every`, at the lowest CPU priority (`background`).
//! Rewriting every crowded partition takes a while (two seconds for ten
//! busy tenants on two cores), and so do the eight tables' checkpoints; a
//! cycle waiting for them would hold back every event that arrived
//! meanwhile. Vacuum runs in the same task, every `vacuum_every`: between
//! cycles it was a pause (a 30-minute soak's freshness spiked at the
//! 10-minute vacuums, when the full mode listed every table's files, tens
//! of thousands in a long run). Beside writers it deletes only the files
//! the log marks removed. The one vacuum that also sweeps files no commit
//! references (a crashed write's) runs at start, between cycles and before
//! any task: beside writers it could not tell their files in flight from a
//! crash's.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use revstream_schemas::TenantId;

use super::{Pipeline, background};
use crate::source::LogSource;

impl<S: LogSource> Pipeline<S> {
    /// Sweeps the tables once at start, then starts the maintenance task
    /// (compaction of this process's crowded `events` partitions,
    /// checkpoints, and vacuum when that is due) when it is due and not in
    /// flight. Failures are logged and left for the next time: maintenance
    /// never stops the pipeline.
    pub(super) async fn maintain_if_due(&mut self) {
        let policy = &self.config.maintenance;
        let due =
            |last: Option<Instant>, every: Duration| last.is_none_or(|t| t.elapsed() >= every);
        if self.last_vacuum.is_none() && !self.maintaining() {
            self.last_vacuum = Some(Instant::now());
            if let Err(e) = self.store.vacuum(policy).await {
                tracing::warn!(error = %e, "vacuum at start failed; replaced files go at the next vacuum, unreferenced ones at the next start");
            }
        }
        if !self.maintaining() && due(self.last_compaction, policy.compact_every) {
            self.last_compaction = Some(Instant::now());
            let vacuum = due(self.last_vacuum, policy.vacuum_every);
            if vacuum {
                self.last_vacuum = Some(Instant::now());
            }
            let owned: HashSet<TenantId> = self.partition_of.keys().cloned().collect();
            let store = self.store.clone();
            let policy = policy.clone();
            let stats = self.stats.clone();
            self.maintenance_task = background::spawn(async move {
                match store.compact_events(&owned, &policy).await {
                    Ok(report) if report.partitions > 0 => {
                        stats.compactions.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        stats.compaction_failures.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(error = %e, "compaction failed; will retry");
                    }
                }
                if let Err(e) = store.checkpoint_if_due(&policy).await {
                    tracing::warn!(error = %e, "writing table checkpoints failed; will retry");
                }
                if vacuum && let Err(e) = store.vacuum_removed(&policy).await {
                    tracing::warn!(error = %e, "vacuum failed; will retry");
                }
            });
        }
    }

    /// Whether the maintenance task (compaction, checkpoints) started by
    /// this pipeline is still running.
    pub fn maintaining(&self) -> bool {
        self.maintenance_task
            .as_ref()
            .is_some_and(|task| !task.is_finished())
    }

    /// Waits for the maintenance task in flight, if any: at shutdown, so
    /// the process does not leave a half-written rewrite behind, and in
    /// tests that look at the files.
    pub async fn finish_maintenance(&mut self) {
        if let Some(task) = self.maintenance_task.take()
            && let Err(e) = task.await
        {
            tracing::warn!(error = %e, "maintenance task ended abnormally");
        }
    }
}
