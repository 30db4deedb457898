//! Housekeeping between cycles: compaction of crowded `events` partitions
//! and vacuum of replaced files (see `store::maintain` for the why).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use revstream_schemas::TenantId;

use super::Pipeline;
use crate::source::LogSource;

impl<S: LogSource> Pipeline<S> {
    /// Compacts this process's crowded `events` partitions and vacuums,
    /// each at most as often as the policy says. Failures are logged and
    /// left for the next time: maintenance never stops the pipeline.
    pub(super) async fn maintain_if_due(&mut self) {
        let policy = &self.config.maintenance;
        let due =
            |last: Option<Instant>, every: Duration| last.is_none_or(|t| t.elapsed() >= every);
        if due(self.last_compaction, policy.compact_every) {
            self.last_compaction = Some(Instant::now());
            let owned: HashSet<TenantId> = self.partition_of.keys().cloned().collect();
            if let Err(e) = self.store.compact_events(&owned, policy).await {
                tracing::warn!(error = %e, "compaction failed; will retry");
            }
        }
        if due(self.last_vacuum, policy.vacuum_every) {
            self.last_vacuum = Some(Instant::now());
            if let Err(e) = self.store.vacuum(policy).await {
                tracing::warn!(error = %e, "vacuum failed; will retry");
            }
        }
    }
}
