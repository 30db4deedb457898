//! Committing one cycle: retries while storage is down, and the fence that
//! keeps a pipeline that lost a partition from writing it.
//!
//! A failed commit is retried with what is left of it (see
//! [`Commit`](crate::store::Commit)): at once after a conflict with another
//! writer, with backoff while storage is unavailable. Before each retry the
//! tables are refreshed and the committed offsets of the cycle's partitions
//! compared with what this pipeline expects. If another writer moved them
//! (a rebalance gave the partition away, or this process stalled past the
//! group's patience), the cycle is abandoned for those partitions: their
//! state is rebuilt from the tables and reading resumes at the tables'
//! positions. Delta rejects an `events` commit whose offsets another writer
//! updated meanwhile, so a stale writer always gets here before its events
//! land; derived rows it wrote just before are rewritten from the full,
//! reloaded set on its next cycle.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use revstream_schemas::TenantId;

use super::{Pipeline, PipelineError};
use crate::source::LogSource;
use crate::store::{Commit, TableStore};

/// How a cycle's commit ended.
#[derive(Debug)]
pub(super) enum CommitOutcome {
    Committed,
    /// Another writer committed these partitions since this pipeline last
    /// did: nothing of this cycle may be written for them.
    Lost(Vec<u32>),
}

/// Conflicts are retried at once this many times before backing off.
const QUICK_CONFLICT_RETRIES: u32 = 5;

impl<S: LogSource> Pipeline<S> {
    pub(super) async fn commit_with_retry(
        &mut self,
        mut commit: Commit,
        touched: &BTreeSet<TenantId>,
        stop: &AtomicBool,
    ) -> Result<CommitOutcome, PipelineError> {
        let mut backoff = Duration::from_millis(100);
        let mut conflicts = 0;
        loop {
            let started = Instant::now();
            let result = self.store.commit(&mut commit).await;
            if commit.events_committed {
                // The offsets landed: they are what the tables hold now,
                // whatever happens to the derived steps.
                for &(p, next) in &commit.offsets {
                    self.positions.insert(p, next);
                }
            }
            let error = match result {
                Ok(()) => {
                    self.staged_commit = None;
                    self.stats.commits.fetch_add(1, Ordering::Relaxed);
                    self.metrics.commit_took(started.elapsed());
                    self.committed.send_modify(|n| *n += 1);
                    return Ok(CommitOutcome::Committed);
                }
                Err(e) => e,
            };
            // Withdrawn before the failure is counted: whoever sees the
            // count sees the rows gone.
            self.withdraw_staged();
            self.stats.commit_failures.fetch_add(1, Ordering::Relaxed);
            if stop.load(Ordering::Relaxed) {
                // Nothing was acknowledged from this cycle; the log still
                // holds it for the next start.
                self.invalidate(touched);
                return Err(error.into());
            }
            // Owned copies: a borrow of `self` (and so of the source) must
            // not live across an await, or the pipeline's future is not Send.
            let expected = commit
                .offsets
                .iter()
                .map(|&(p, _)| (p, self.positions.get(&p).copied()))
                .collect();
            let lost =
                taken_over(self.store.clone(), self.source.partition_count(), expected).await;
            if !lost.is_empty() {
                tracing::warn!(partitions = ?lost, "another pipeline committed these partitions; reloading them from the tables");
                self.invalidate(touched);
                let all: Vec<u32> = commit.offsets.iter().map(|&(p, _)| p).collect();
                return Ok(CommitOutcome::Lost(all));
            }
            if error.is_conflict() && conflicts < QUICK_CONFLICT_RETRIES {
                conflicts += 1;
                tracing::debug!(error = %error, "table commit conflicted with another writer; retrying");
                continue;
            }
            tracing::warn!(error = %error, retry_in_ms = backoff.as_millis() as u64, "table commit failed; pausing");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(self.config.max_backoff);
        }
    }

    /// Takes this cycle's staged rows back: until its commit lands,
    /// queries answer what is committed (a storage outage shows nothing
    /// that the tables do not hold).
    fn withdraw_staged(&mut self) {
        if let (Some(tier), Some(commit)) = (&self.staged, self.staged_commit.take()) {
            tier.withdraw(commit);
        }
    }

    /// Forgets the fingerprints of these tenants, so their tables are all
    /// written again on the next successful commit.
    pub(super) fn invalidate(&mut self, tenants: &BTreeSet<TenantId>) {
        for t in tenants {
            if let Some(s) = self.state.tenants.get_mut(t) {
                s.invalidate();
            }
        }
    }
}

/// Partitions whose committed offsets are no longer the `expected` ones.
/// Empty when storage cannot be read: an outage is not a takeover, and the
/// retry loop backs off instead.
async fn taken_over(
    store: Arc<TableStore>,
    partitions: u32,
    expected: Vec<(u32, Option<i64>)>,
) -> Vec<u32> {
    if let Err(e) = store.refresh().await {
        tracing::debug!(error = %e, "refreshing the tables after a failed commit");
        return Vec::new();
    }
    let Ok(held) = store.committed_offsets(partitions).await else {
        return Vec::new();
    };
    expected
        .into_iter()
        .filter(|(p, want)| held.get(p).copied() != *want)
        .map(|(p, _)| p)
        .collect()
}
