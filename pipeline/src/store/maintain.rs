//! Keeping the number of files bounded: compaction and vacuum.
//!
//! Every cycle appends one Parquet file to `events` for each touched tenant,
//! and replaces a touched tenant's partition of a derived table (one new
//! file; the old one is only tombstoned in the Delta log). Left alone, an
//! `events` partition grows by a file per cycle and the directories keep
//! every tombstoned file. So, from time to time:
//!
//! - **compact**: an `events` partition holding more than
//!   [`MaintenancePolicy::max_files_per_partition`] files is rewritten into
//!   as few files as [`MaintenancePolicy::target_file_size`] allows (Delta
//!   `optimize`, filtered to those tenants). An optimize commit changes no
//!   rows, so readers see the same table and the offsets kept in `txn`
//!   actions stay where they were. Only tenants this process owns are
//!   compacted, so two pipeline processes never rewrite the same partition.
//!
//!   Compaction runs on its own handle of the table, outside the store's
//!   lock, so the pipeline's cycles go on while it rewrites. Delta lets the
//!   two commits land in either order: the optimize commit adds and removes
//!   files with `dataChange: false` and carries no `txn` actions, and the
//!   pipeline's append is a blind append that reads and removes nothing,
//!   so neither conflicts with the other (delta-rs `ConflictChecker`; the
//!   loser of the race re-reads the log and commits at the next version).
//! - **checkpoint**: a table whose log grew by
//!   [`MaintenancePolicy::checkpoint_every`] versions since the last
//!   checkpoint gets a new one, so that opening or refreshing it replays at
//!   most that many commits. The store's commits do not write checkpoints
//!   themselves (see `commit_properties`); a checkpoint only summarizes a
//!   version already committed, so it is written beside the cycles.
//! - **vacuum**: every table drops files that were tombstoned (or orphaned by
//!   a write that crashed before its commit) longer than
//!   [`MaintenancePolicy::vacuum_retention`] ago. The retention is what a
//!   query running on an older snapshot may still need. Only the tombstoned
//!   files are safe to delete beside writers (`vacuum_removed`); the sweep
//!   for orphans (`vacuum`) runs while nothing writes. Log entries past
//!   the table's log retention (Delta's default: 30 days) that a checkpoint
//!   covers go at the same time.
//!
//! Maintenance is housekeeping: when it fails it is logged and retried at
//! the next opportunity; it never stops the pipeline.

use std::collections::{BTreeMap, HashSet};
use std::num::NonZeroU64;
use std::time::Duration;

use deltalake::operations::vacuum::VacuumMode;
use deltalake::{DeltaTable, FilterOp, FilterValue};
use revstream_schemas::tables::TENANT_COLUMN;
use revstream_schemas::{TableName, TenantId};

use super::{Result, StoreError, TableStore, commit_properties, current};

/// When and how hard to compact, checkpoint and vacuum.
#[derive(Debug, Clone)]
pub struct MaintenancePolicy {
    /// An `events` partition with more files than this is compacted.
    pub max_files_per_partition: usize,
    /// Least time between two looks for crowded partitions.
    pub compact_every: Duration,
    /// Size of the files compaction writes.
    pub target_file_size: NonZeroU64,
    /// How long a replaced file is kept for readers of older snapshots.
    pub vacuum_retention: Duration,
    /// Least time between two vacuums.
    pub vacuum_every: Duration,
    /// A table is checkpointed once its log grew by this many versions.
    pub checkpoint_every: u64,
}

impl Default for MaintenancePolicy {
    fn default() -> Self {
        Self {
            max_files_per_partition: 16,
            compact_every: Duration::from_secs(30),
            target_file_size: NonZeroU64::new(64 << 20).unwrap_or(NonZeroU64::MIN),
            vacuum_retention: Duration::from_secs(3600),
            vacuum_every: Duration::from_secs(600),
            // Delta's own default interval.
            checkpoint_every: 100,
        }
    }
}

/// What a compaction did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactionReport {
    pub partitions: usize,
    pub files_removed: u64,
    pub files_added: u64,
}

impl TableStore {
    /// Live data files per tenant partition of `table`.
    pub async fn files_per_tenant(&self, table: TableName) -> Result<BTreeMap<String, usize>> {
        let tables = self.tables.lock().await;
        files_per_tenant(&current(&tables, table)?, table)
    }

    /// Compacts the `events` partitions of `owned` tenants that hold more
    /// than the policy's file count. The partitions are chosen and the
    /// handle taken under the store's lock; the rewrite runs without it
    /// (see the module doc for why that is safe next to the appends).
    pub async fn compact_events(
        &self,
        owned: &HashSet<TenantId>,
        policy: &MaintenancePolicy,
    ) -> Result<CompactionReport> {
        let table = TableName::Events;
        let events = current(&*self.tables.lock().await, table)?;
        let crowded: Vec<String> = files_per_tenant(&events, table)?
            .into_iter()
            .filter(|(tenant, files)| {
                *files > policy.max_files_per_partition
                    && TenantId::parse(tenant).is_ok_and(|t| owned.contains(&t))
            })
            .map(|(tenant, _)| tenant)
            .collect();
        if crowded.is_empty() {
            return Ok(CompactionReport::default());
        }
        let filters = [(
            TENANT_COLUMN,
            FilterOp::In,
            FilterValue::Set(crowded.iter().map(String::as_str).collect()),
        )];
        let (_, metrics) = events
            .optimize()
            .with_commit_properties(commit_properties())
            .with_filters(&filters)
            .with_target_size(policy.target_file_size)
            .await
            .map_err(|source| StoreError::Delta { table, source })?;
        // The store's handle learns of the rewrite now rather than at its
        // next append, so the next look for crowded partitions counts the
        // compacted files and not the ones just replaced. Read outside the
        // lock (this runs at low priority, and the cycles need the lock);
        // kept only if no append moved the store's handle past it meanwhile.
        let mut refreshed = current(&*self.tables.lock().await, table)?;
        refreshed
            .update_state()
            .await
            .map_err(|source| StoreError::Delta { table, source })?;
        self.keep_if_newer(table, refreshed).await;
        let report = CompactionReport {
            partitions: crowded.len(),
            files_removed: metrics.num_files_removed,
            files_added: metrics.num_files_added,
        };
        tracing::info!(
            partitions = report.partitions,
            files_removed = report.files_removed,
            files_added = report.files_added,
            "compacted events partitions"
        );
        Ok(report)
    }

    /// Checkpoints every table whose log grew by the policy's interval
    /// since this store last checkpointed it (or, the first time, that has
    /// at least that many versions). Returns how many it wrote. Runs on
    /// handles taken under the lock, without holding it.
    pub async fn checkpoint_if_due(&self, policy: &MaintenancePolicy) -> Result<usize> {
        let mut written = 0;
        for (table, delta) in self.handles().await {
            let Some(version) = delta.version() else {
                continue;
            };
            let last = self.checkpointed_at(table);
            let since = version.saturating_sub(last.unwrap_or(0));
            if since < policy.checkpoint_every {
                continue;
            }
            deltalake::checkpoints::create_checkpoint(&delta, None)
                .await
                .map_err(|source| StoreError::Delta { table, source })?;
            self.checkpointed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(table, version);
            written += 1;
        }
        if written > 0 {
            tracing::debug!(tables = written, "wrote table checkpoints");
        }
        Ok(written)
    }

    /// The version this store last checkpointed `table` at.
    pub fn checkpointed_at(&self, table: TableName) -> Option<u64> {
        self.checkpointed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&table)
            .copied()
    }

    /// Deletes files no live version needs that were replaced longer than
    /// the retention ago, in every table, and files no commit references
    /// (a write that crashed before its commit) as old. Returns how many
    /// were deleted. The sweep for unreferenced files cannot tell a crashed
    /// write from one in flight: run it only while nothing writes the
    /// tables (the pipeline does, at start, between cycles).
    pub async fn vacuum(&self, policy: &MaintenancePolicy) -> Result<usize> {
        self.vacuum_with(policy, VacuumMode::Full).await
    }

    /// Deletes only the files the log marks removed longer than the
    /// retention ago, in every table. Safe beside writers: a removed file
    /// is never one a cycle or a compaction is writing.
    pub async fn vacuum_removed(&self, policy: &MaintenancePolicy) -> Result<usize> {
        self.vacuum_with(policy, VacuumMode::Lite).await
    }

    async fn vacuum_with(&self, policy: &MaintenancePolicy, mode: VacuumMode) -> Result<usize> {
        let retention =
            chrono::Duration::from_std(policy.vacuum_retention).unwrap_or(chrono::Duration::MAX);
        let mut deleted = 0;
        for (table, delta) in self.handles().await {
            let (vacuumed, metrics) = delta
                .vacuum()
                .with_commit_properties(commit_properties())
                .with_mode(mode.clone())
                .with_retention_period(retention)
                // Delta refuses retentions under 7 days by default, to
                // protect readers of week-old versions; ours are told by
                // the policy instead.
                .with_enforce_retention_duration(false)
                .await
                .map_err(|source| StoreError::Delta { table, source })?;
            deleted += metrics.files_deleted.len();
            // The commits leave expired log entries alone (they would list
            // the whole log each time); they go here, every vacuum.
            deltalake::checkpoints::cleanup_metadata(&vacuumed, None)
                .await
                .map_err(|source| StoreError::Delta { table, source })?;
            self.keep_if_newer(table, vacuumed).await;
        }
        if deleted > 0 {
            tracing::info!(files = deleted, "vacuumed replaced table files");
        }
        Ok(deleted)
    }

    /// A handle to every table, taken under the lock, for work that runs
    /// without it.
    async fn handles(&self) -> Vec<(TableName, DeltaTable)> {
        let tables = self.tables.lock().await;
        tables.iter().map(|(t, d)| (*t, d.clone())).collect()
    }

    /// Keeps `newer` as the store's handle of `table` unless a commit of
    /// the pipeline moved the held one past it meanwhile.
    async fn keep_if_newer(&self, table: TableName, newer: DeltaTable) {
        let mut tables = self.tables.lock().await;
        if tables.get(&table).and_then(DeltaTable::version) < newer.version() {
            tables.insert(table, newer);
        }
    }
}

/// Live data files per tenant partition in `delta`'s snapshot.
fn files_per_tenant(delta: &DeltaTable, table: TableName) -> Result<BTreeMap<String, usize>> {
    let snapshot = delta
        .snapshot()
        .map_err(|source| StoreError::Delta { table, source })?;
    let mut counts = BTreeMap::new();
    for file in snapshot.log_data().iter() {
        if let Some(Some(tenant)) = file.partition_values_map().remove(TENANT_COLUMN) {
            *counts.entry(tenant).or_insert(0) += 1;
        }
    }
    Ok(counts)
}
