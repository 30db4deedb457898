//! Periodic pulls: `PUT /v1/admin/tenants/{tenant}/sync/{source}/schedule
//! {"every_minutes": N}` stores a schedule; every ingest process (`serve`,
//! `ingest`) runs a [`Scheduler`] that wakes every `tick` (a minute), finds
//! the due schedules and runs their pulls one after another.
//!
//! Several ingest nodes may run the scheduler: a schedule is claimed with a
//! compare-and-set on its `last_run_ms` before its pull starts, so one pull
//! runs per due time whichever node wins. A pull interrupted by a shutdown
//! resumes from its saved cursor at the next due time.

use std::time::Duration;

use revstream_registry::{SyncRun, SyncSchedule};

use super::snapshot::Provider;
use crate::http::IngestState;

/// Runs due schedules through an ingest state (its log, registry, provider
/// options and its one-pull-per-source guard).
#[derive(Debug, Clone)]
pub struct Scheduler {
    pub state: IngestState,
    pub tick: Duration,
}

/// Whether `s` is due at `now_ms`.
pub fn is_due(s: &SyncSchedule, now_ms: i64) -> bool {
    match s.last_run_ms {
        None => true,
        Some(last) => now_ms.saturating_sub(last) >= s.every_minutes.saturating_mul(60_000),
    }
}

impl Scheduler {
    /// One pass: claims and runs every due schedule; returns the finished runs.
    pub async fn run_due(&self, now_ms: i64) -> Vec<SyncRun> {
        let registry = self.state.registry();
        let schedules = match registry.sync_schedules().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read sync schedules");
                return Vec::new();
            }
        };
        let mut runs = Vec::new();
        for s in schedules.iter().filter(|s| is_due(s, now_ms)) {
            let Some(provider) = Provider::parse(&s.source) else {
                continue;
            };
            match registry.claim_sync_schedule(s, now_ms).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot claim a sync schedule");
                    continue;
                }
            }
            match self.state.start_pull(&s.tenant, provider).await {
                Ok((_, task)) => match task.await {
                    Ok(run) => runs.push(run),
                    Err(e) => tracing::error!(error = %e, "scheduled sync task failed"),
                },
                Err(e) => {
                    tracing::warn!(tenant = %s.tenant, source = %s.source, error = %e, "scheduled sync did not start");
                }
            }
        }
        runs
    }

    /// Starts ticking on its own task; abort the handle to stop.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(self.tick).await;
                self.run_due(chrono::Utc::now().timestamp_millis()).await;
            }
        })
    }
}
