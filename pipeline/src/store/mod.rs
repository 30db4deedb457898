//! The tables on disk: one Delta table per [`TableName`], partitioned by
//! `tenant_id`, under one root (a local directory or an object store URL).
//!
//! ```text
//!  <root>/events/_delta_log/…          append-only; each commit carries the consumed log offsets
//!  <root>/events/tenant_id=acme/*.parquet
//!  <root>/subscriptions/…              derived: a tenant's partition is rewritten when its rows change
//!  …
//! ```
//!
//! A commit rewrites the touched tenants' partitions of the derived tables
//! first, then appends the new events together with the offsets (Delta
//! `txn` actions, one app id per log partition). So a commit's derived rows
//! land before its events: if the process dies in between, the derived
//! tables are ahead of `events`; the restarted pipeline re-reads from the
//! committed offsets, derives the same rows from the same set of events and
//! overwrites them again — a deterministic function applied twice gives
//! the same tables. A commit may also carry no derived rows for tenants it
//! has events of (the pipeline leaves them for later while it catches up
//! on a backlog): the derived tables then lag `events` until a later
//! commit, or a restart, which derives every tenant it loads.
//!
//! The `events` commit is the fence: Delta rejects it when another writer
//! committed offsets of the same log partition since our snapshot, so a
//! pipeline that lost a partition in a rebalance finds out (see
//! `Pipeline`), reloads it from the tables and derives its tenants again.
//!
//! A commit is staged: each step that lands is taken out of the
//! [`Commit`], so a retry redoes only what is left and never appends the
//! same events twice.

mod maintain;
mod open;
mod reload;

pub use maintain::{CompactionReport, MaintenancePolicy};
pub use open::table_root;

use std::collections::HashMap;

use arrow::array::RecordBatch;
use deltalake::DeltaTable;
use deltalake::datafusion::prelude::{col, lit};
use deltalake::kernel::Transaction;
use deltalake::kernel::transaction::{CommitProperties, TransactionError};
use deltalake::parquet::basic::Compression;
use deltalake::parquet::file::properties::WriterProperties;
use deltalake::parquet::schema::types::ColumnPath;
use deltalake::protocol::SaveMode;
use revstream_schemas::{TableName, TenantId};
use tokio::sync::Mutex;

pub use reload::StoredEvent;

/// Why the table store failed. Every variant is an outage of the storage
/// or a concurrent writer, not bad input: the pipeline pauses and retries.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("delta table {table}: {source}")]
    Delta {
        table: TableName,
        #[source]
        source: deltalake::DeltaTableError,
    },
    #[error("building rows for {table}: {source}")]
    Arrow {
        table: TableName,
        #[source]
        source: arrow::error::ArrowError,
    },
    #[error("reading {table}: {message}")]
    Read { table: TableName, message: String },
    #[error("table location {0:?} is not a valid URL or directory")]
    Location(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The rows of one table to write for a set of tenants.
#[derive(Debug, Clone)]
pub struct TableRewrite {
    pub table: TableName,
    /// Tenants whose partition is replaced; a tenant listed here with no
    /// rows in `batches` ends up with an empty partition.
    pub tenants: Vec<TenantId>,
    pub batches: Vec<RecordBatch>,
}

/// Everything one pipeline cycle commits.
#[derive(Debug, Clone, Default)]
pub struct Commit {
    pub rewrites: Vec<TableRewrite>,
    /// New rows of the `events` table.
    pub events: Vec<RecordBatch>,
    /// (log partition, next offset to read) for every partition consumed.
    pub offsets: Vec<(u32, i64)>,
    /// Whether the `events` step (rows and offsets) has landed.
    pub events_committed: bool,
}

/// The Delta tables, opened once and kept at their latest version.
#[derive(Debug)]
pub struct TableStore {
    /// Identifies the log the offsets belong to ("local", or the topic).
    log_id: String,
    tables: Mutex<HashMap<TableName, DeltaTable>>,
    /// The version each table was last checkpointed at by this store.
    checkpointed: std::sync::Mutex<HashMap<TableName, u64>>,
}

impl StoreError {
    /// Whether another writer's commit got in first (retry at once, after a
    /// refresh), rather than storage being unavailable (back off).
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            StoreError::Delta {
                source: deltalake::DeltaTableError::Transaction {
                    source: TransactionError::CommitConflict(_)
                        | TransactionError::VersionAlreadyExists(_)
                        | TransactionError::MaxCommitAttempts(_),
                } | deltalake::DeltaTableError::VersionAlreadyExists(_),
                ..
            }
        )
    }
}

impl TableStore {
    /// The application id of a log partition in Delta `txn` actions.
    fn app_id(&self, partition: u32) -> String {
        format!("revstream-pipeline/{}/{partition}", self.log_id)
    }

    /// Next offset to read per log partition, as last committed.
    pub async fn committed_offsets(&self, partitions: u32) -> Result<HashMap<u32, i64>> {
        let tables = self.tables.lock().await;
        let events = tables.get(&TableName::Events).ok_or(StoreError::Read {
            table: TableName::Events,
            message: "not open".into(),
        })?;
        let snapshot = events.snapshot().map_err(|source| StoreError::Delta {
            table: TableName::Events,
            source,
        })?;
        let mut out = HashMap::new();
        for p in 0..partitions {
            let version = snapshot
                .transaction_version(events.log_store().as_ref(), self.app_id(p))
                .await
                .map_err(|source| StoreError::Delta {
                    table: TableName::Events,
                    source,
                })?;
            if let Some(v) = version {
                out.insert(p, v);
            }
        }
        Ok(out)
    }

    /// Writes what is left of one cycle: the derived tables first, then
    /// `events` with the offsets. Each step that lands is removed from
    /// `pending`; on error, retry with what is left.
    ///
    /// The derived tables do not depend on each other, so their rewrites
    /// run at once: Parquet encoding spreads over the cores (delta-rs
    /// encodes on tasks of its own) and one table's storage round trips
    /// overlap another's. `events` waits for all of them, which keeps the
    /// order the restart argument above relies on.
    pub async fn commit(&self, pending: &mut Commit) -> Result<()> {
        let mut tables = self.tables.lock().await;
        let writes = pending
            .rewrites
            .iter()
            .filter(|rewrite| !rewrite.tenants.is_empty())
            .map(|rewrite| Ok((rewrite, current(&tables, rewrite.table)?)))
            .collect::<Result<Vec<_>>>()?;
        let written =
            futures::future::join_all(writes.into_iter().map(|(rewrite, delta)| async move {
                (rewrite.table, rewrite_partitions(delta, rewrite).await)
            }))
            .await;
        let mut failed = Vec::new();
        let mut first_error = None;
        for (table, result) in written {
            if let Err(e) = put(&mut tables, table, result).await {
                failed.push(table);
                first_error.get_or_insert(e);
            }
        }
        pending.rewrites.retain(|r| failed.contains(&r.table));
        if let Some(e) = first_error {
            return Err(e);
        }
        if !pending.events_committed {
            let txns = pending
                .offsets
                .iter()
                .map(|&(p, next)| Transaction::new(self.app_id(p), next))
                .collect();
            let current = current(&tables, TableName::Events)?;
            let batches = if pending.events.is_empty() {
                vec![RecordBatch::new_empty(TableName::Events.schema())]
            } else {
                pending.events.clone()
            };
            let written = current
                .write(batches)
                .with_save_mode(SaveMode::Append)
                .with_writer_properties(events_writer_properties())
                .with_commit_properties(commit_properties().with_application_transactions(txns))
                .await;
            put(&mut tables, TableName::Events, written).await?;
            pending.events_committed = true;
            pending.events.clear();
        }

        Ok(())
    }

    /// Brings every table to its latest version: what other writers
    /// committed becomes visible to this store's reads and commits.
    pub async fn refresh(&self) -> Result<()> {
        let mut tables = self.tables.lock().await;
        for (&table, delta) in tables.iter_mut() {
            delta
                .update_state()
                .await
                .map_err(|source| StoreError::Delta { table, source })?;
        }
        Ok(())
    }

    /// The latest version of a table, for readers that want to know whether
    /// anything changed.
    pub async fn version(&self, table: TableName) -> Option<u64> {
        self.tables
            .lock()
            .await
            .get(&table)
            .and_then(DeltaTable::version)
    }
}

/// Replaces the partitions of `rewrite.tenants` in `delta` with
/// `rewrite.batches` (an empty partition when there are none).
async fn rewrite_partitions(
    delta: DeltaTable,
    rewrite: &TableRewrite,
) -> Result<DeltaTable, deltalake::DeltaTableError> {
    let batches = if rewrite.batches.is_empty() {
        vec![RecordBatch::new_empty(rewrite.table.schema())]
    } else {
        rewrite.batches.clone()
    };
    let tenants = rewrite.tenants.iter().map(|t| lit(t.as_str())).collect();
    delta
        .write(batches)
        .with_save_mode(SaveMode::Overwrite)
        .with_commit_properties(commit_properties())
        .with_replace_where(col(revstream_schemas::tables::TENANT_COLUMN).in_list(tenants, false))
        .await
}

/// The properties of every commit the store makes. By default a Delta
/// commit's post-commit hook writes a checkpoint when its version is a
/// multiple of the checkpoint interval, and lists the whole `_delta_log`
/// directory to clean up expired entries; both on the committing path. The
/// listing grows with every commit (a long run has thousands of entries
/// per table, listed on each of its commits), and the checkpoint is written
/// inside the commit that reaches the interval, for all eight tables in the
/// same cycle as they move together. Both are housekeeping, done beside
/// the cycles instead (`maintain`).
fn commit_properties() -> CommitProperties {
    CommitProperties::default()
        .with_create_checkpoint(false)
        .with_cleanup_expired_logs(Some(false))
}

/// How `events` files are encoded: delta-rs's defaults (Snappy), except
/// that the columns unique per event skip dictionary encoding. The writer
/// tries a dictionary for every column and only gives up once it is full,
/// after hashing every value; for ids, payloads and offsets that hashing
/// cost about as much as the Snappy compression in a profile of a backlog.
fn events_writer_properties() -> WriterProperties {
    let unique = ["event_id", "payload", "raw", "log_offset", "occurred_at"];
    unique
        .into_iter()
        .fold(
            WriterProperties::builder().set_compression(Compression::SNAPPY),
            |props, column| props.set_column_dictionary_enabled(ColumnPath::from(column), false),
        )
        .build()
}

/// A handle to a table for a consuming operation (cheap: the state is
/// shared); the map keeps the old one until the operation succeeds.
fn current(tables: &HashMap<TableName, DeltaTable>, table: TableName) -> Result<DeltaTable> {
    tables.get(&table).cloned().ok_or(StoreError::Read {
        table,
        message: "not open".into(),
    })
}

/// Keeps the new version after a successful write. After a failed one the
/// old handle is refreshed from storage (another writer, or a partial
/// failure, may have moved the table on) so the retry starts from the truth.
async fn put(
    tables: &mut HashMap<TableName, DeltaTable>,
    table: TableName,
    written: Result<DeltaTable, deltalake::DeltaTableError>,
) -> Result<()> {
    match written {
        Ok(t) => {
            tables.insert(table, t);
            Ok(())
        }
        Err(source) => {
            let refreshed = match tables.get_mut(&table) {
                Some(t) => t.update_state().await,
                None => Ok(()),
            };
            if let Err(e) = refreshed {
                tracing::warn!(%table, error = %e, "refreshing a table after a failed write");
            }
            Err(StoreError::Delta { table, source })
        }
    }
}
