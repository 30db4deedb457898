//! Derived rows an in-process pipeline has built and is committing: the
//! queryable in-memory tier of DESIGN's Storage section ("keep freshness
//! with a queryable in-memory tier if persistence is slower").
//!
//! ```text
//!  pipeline cycle: derive ─▶ stage(rows, commit n) ─▶ Delta commits ─┬─ land: commit counter = n
//!                                                                    └─ fail: withdraw(n)
//!  query: snapshot = tables at counter s + view() ─── refresh to s: prune(s) (the files hold them now)
//! ```
//!
//! A cycle's rows are visible to queries once derived rather than once its
//! eight Delta commits land, which takes the commit off the freshness path.
//! Nothing is visible that the log does not hold durably: staged rows are
//! derived from acknowledged events, by the same function the commit
//! writes, so a crash loses only the early look, never a number. While a
//! commit fails its rows are withdrawn, so during a storage outage queries
//! answer what is committed.
//!
//! A staged partition replaces the tenant's committed rows of that table,
//! as the commit will. Each (tenant, table) holds its latest staging only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use arrow_array::RecordBatch;

use crate::{TableName, TenantId};

/// A staged partition older than this many commits is dropped when the
/// next one is staged, whether or not a reader pruned it: every query
/// refreshes to the latest commit before it reads, so only a reader whose
/// refresh keeps failing could still want it. Bounds the memory held for a
/// reader that is not reading.
const KEEP_COMMITS: u64 = 8;

/// The rows staged for one tenant's partition of one table.
#[derive(Debug, Clone)]
pub struct StagedPartition {
    /// The pipeline's commit counter once these rows are committed.
    pub commit: u64,
    /// Unique to one [`StagedRows::stage`] call: what caches key on.
    pub id: u64,
    /// The partition's rows, all of them (none: the partition is empty).
    pub batches: Vec<RecordBatch>,
}

impl StagedPartition {
    /// Bytes of the rows in memory.
    pub fn bytes(&self) -> usize {
        self.batches
            .iter()
            .map(RecordBatch::get_array_memory_size)
            .sum()
    }
}

/// What is staged at one moment, by tenant. Cheap to share.
#[derive(Debug, Default)]
pub struct StagedView {
    tenants: HashMap<TenantId, Vec<(TableName, StagedPartition)>>,
}

impl StagedView {
    /// The staged rows of `tenant`'s partition of `table`, if any.
    pub fn get(&self, table: TableName, tenant: &TenantId) -> Option<&StagedPartition> {
        self.tenants
            .get(tenant)?
            .iter()
            .find_map(|(t, p)| (*t == table).then_some(p))
    }

    /// Every tenant with staged partitions, and those partitions.
    pub fn tenants(&self) -> impl Iterator<Item = (&TenantId, &[(TableName, StagedPartition)])> {
        self.tenants.iter().map(|(t, p)| (t, p.as_slice()))
    }

    pub fn is_empty(&self) -> bool {
        self.tenants.is_empty()
    }
}

/// The hand-off between one pipeline (writer) and the query side
/// (reader) of the same process.
#[derive(Debug, Default)]
pub struct StagedRows {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    partitions: HashMap<(TenantId, TableName), StagedPartition>,
    next_id: u64,
    /// The view of `partitions`, until they change.
    view: Option<Arc<StagedView>>,
}

impl StagedRows {
    /// Stages rows of the commit that will bring the counter to `commit`:
    /// each (table, tenant, rows) replaces that partition's staged rows.
    pub fn stage(
        &self,
        commit: u64,
        rows: impl IntoIterator<Item = (TableName, TenantId, RecordBatch)>,
    ) {
        let mut inner = self.lock();
        let id = inner.next_id;
        inner.next_id += 1;
        inner
            .partitions
            .retain(|_, p| p.commit.saturating_add(KEEP_COMMITS) > commit);
        for (table, tenant, batch) in rows {
            let batches = if batch.num_rows() == 0 {
                Vec::new()
            } else {
                vec![batch]
            };
            inner.partitions.insert(
                (tenant, table),
                StagedPartition {
                    commit,
                    id,
                    batches,
                },
            );
        }
        inner.view = None;
    }

    /// Takes back the rows staged for `commit` (its commit failed).
    pub fn withdraw(&self, commit: u64) {
        let mut inner = self.lock();
        let before = inner.partitions.len();
        inner.partitions.retain(|_, p| p.commit != commit);
        if inner.partitions.len() != before {
            inner.view = None;
        }
    }

    /// Forgets the rows of commits up to `committed`: a reader whose
    /// tables include that commit reads them from its files.
    pub fn prune(&self, committed: u64) {
        let mut inner = self.lock();
        let before = inner.partitions.len();
        inner.partitions.retain(|_, p| p.commit > committed);
        if inner.partitions.len() != before {
            inner.view = None;
        }
    }

    /// What is staged now.
    pub fn view(&self) -> Arc<StagedView> {
        let mut inner = self.lock();
        if let Some(view) = &inner.view {
            return view.clone();
        }
        let mut tenants: HashMap<TenantId, Vec<(TableName, StagedPartition)>> = HashMap::new();
        for ((tenant, table), partition) in &inner.partitions {
            tenants
                .entry(tenant.clone())
                .or_default()
                .push((*table, partition.clone()));
        }
        for partitions in tenants.values_mut() {
            partitions.sort_by_key(|(t, _)| *t);
        }
        let view = Arc::new(StagedView { tenants });
        inner.view = Some(view.clone());
        view
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The data stays consistent under a panic elsewhere: every change
        // is one map operation.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Int64Array, RecordBatch};
    use arrow_schema::{DataType, Field, Schema};

    use super::*;

    fn tenant(name: &str) -> TenantId {
        TenantId::parse(name).unwrap_or_else(|e| panic!("{e}"))
    }

    fn rows(n: i64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let values: Vec<i64> = (0..n).collect();
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(values))])
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn staged_rows(view: &StagedView, table: TableName, t: &TenantId) -> Option<usize> {
        view.get(table, t)
            .map(|p| p.batches.iter().map(RecordBatch::num_rows).sum())
    }

    #[test]
    fn a_later_staging_replaces_the_partition_and_keeps_the_others() {
        let staged = StagedRows::default();
        let (a, b) = (tenant("a"), tenant("b"));
        staged.stage(
            1,
            [
                (TableName::Payments, a.clone(), rows(3)),
                (TableName::Calls, a.clone(), rows(2)),
                (TableName::Payments, b.clone(), rows(1)),
            ],
        );
        staged.stage(2, [(TableName::Payments, a.clone(), rows(0))]);
        let view = staged.view();
        // Zero rows stage an empty partition, not "nothing staged".
        assert_eq!(staged_rows(&view, TableName::Payments, &a), Some(0));
        assert_eq!(staged_rows(&view, TableName::Calls, &a), Some(2));
        assert_eq!(staged_rows(&view, TableName::Payments, &b), Some(1));
        assert_eq!(staged_rows(&view, TableName::Customers, &a), None);
        let id = |table| view.get(table, &a).map(|p| p.id);
        assert_ne!(
            id(TableName::Payments),
            id(TableName::Calls),
            "each staging has its own id"
        );
    }

    #[test]
    fn pruning_forgets_committed_rows_and_withdrawing_the_failed_ones() {
        let staged = StagedRows::default();
        let (a, b) = (tenant("a"), tenant("b"));
        staged.stage(1, [(TableName::Payments, a.clone(), rows(3))]);
        staged.stage(2, [(TableName::Payments, b.clone(), rows(1))]);
        let before = staged.view();
        staged.prune(1);
        let after = staged.view();
        assert_eq!(staged_rows(&after, TableName::Payments, &a), None);
        assert_eq!(staged_rows(&after, TableName::Payments, &b), Some(1));
        // A view taken earlier is unchanged by later pruning.
        assert_eq!(staged_rows(&before, TableName::Payments, &a), Some(3));
        staged.withdraw(2);
        assert!(staged.view().is_empty());
    }

    #[test]
    fn partitions_long_committed_go_even_when_no_reader_prunes() {
        let staged = StagedRows::default();
        let a = tenant("a");
        staged.stage(1, [(TableName::Payments, a.clone(), rows(3))]);
        for commit in 2..=KEEP_COMMITS {
            staged.stage(commit, [(TableName::Calls, tenant("b"), rows(1))]);
        }
        assert!(staged.view().get(TableName::Payments, &a).is_some());
        staged.stage(KEEP_COMMITS + 1, [(TableName::Calls, tenant("b"), rows(1))]);
        assert!(staged.view().get(TableName::Payments, &a).is_none());
    }

    #[test]
    fn the_view_is_shared_until_something_changes() {
        let staged = StagedRows::default();
        staged.stage(1, [(TableName::Payments, tenant("a"), rows(3))]);
        let first = staged.view();
        assert!(Arc::ptr_eq(&first, &staged.view()));
        staged.prune(0);
        assert!(Arc::ptr_eq(&first, &staged.view()), "nothing was pruned");
        staged.withdraw(1);
        assert!(!Arc::ptr_eq(&first, &staged.view()));
    }
}
