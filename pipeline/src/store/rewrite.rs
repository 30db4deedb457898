//! Replacing the changed buckets of tenant partitions in a derived table:
//! one Delta commit that removes the buckets' old files and adds new ones.
//!
//! ```text
//!  snapshot ─ files of the rewritten tenants ─ bucket from the file name ─▶ in scope? ─▶ remove
//!  batches ─ drop tenant_id ─ Parquet (blocking thread) ─ put ─▶ add      ─┴─▶ one commit
//! ```
//!
//! Which files to remove is read from the snapshot the commit builds on,
//! never from memory: a retry after a commit whose outcome was unknown, or
//! a rewrite after a restart, removes exactly what the table holds. A new
//! file gets a fresh name, so a query still reading the previous snapshot
//! reads the old file until vacuum.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::RecordBatch;
use deltalake::kernel::transaction::CommitBuilder;
use deltalake::kernel::{Action, Add};
use deltalake::parquet::arrow::ArrowWriter;
use deltalake::parquet::basic::Compression;
use deltalake::parquet::file::properties::WriterProperties;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::{DeltaTable, DeltaTableError, Path};
use object_store::ObjectStoreExt;
use revstream_schemas::tables::TENANT_COLUMN;

use super::{PartitionRewrite, StoreError, TableRewrite, commit_properties};
use crate::buckets::{Bucket, RewriteScope};

/// One encoded bucket file, ready to put.
struct EncodedFile {
    path: Path,
    tenant: String,
    bytes: Vec<u8>,
}

/// Replaces the files of `rewrite`'s buckets in `delta`; the new handle on
/// success.
pub(super) async fn rewrite_buckets(
    delta: DeltaTable,
    rewrite: &TableRewrite,
) -> Result<DeltaTable, StoreError> {
    let table = rewrite.table;
    let delta_error = |source| StoreError::Delta { table, source };
    let removes = replaced_files(&delta, rewrite)?;

    let partitions = Arc::new(rewrite.partitions.clone());
    let files = tokio::task::spawn_blocking(move || encode(&partitions))
        .await
        .map_err(|e| delta_error(DeltaTableError::Generic(format!("encoding task: {e}"))))?
        .map_err(|e| delta_error(DeltaTableError::Generic(format!("encoding Parquet: {e}"))))?;

    let store = delta.object_store();
    let now = chrono::Utc::now().timestamp_millis();
    let adds = futures::future::try_join_all(files.into_iter().map(|file| {
        let store = store.clone();
        async move {
            let size = file.bytes.len() as i64;
            store.put(&file.path, file.bytes.into()).await?;
            Ok::<_, deltalake::ObjectStoreError>(Action::Add(Add {
                path: file.path.to_string(),
                partition_values: HashMap::from([(TENANT_COLUMN.to_owned(), Some(file.tenant))]),
                size,
                modification_time: now,
                data_change: true,
                ..Add::default()
            }))
        }
    }))
    .await
    .map_err(|e| delta_error(e.into()))?;

    let operation = DeltaOperation::Write {
        mode: SaveMode::Overwrite,
        partition_by: None,
        predicate: Some(tenants_predicate(rewrite)),
    };
    let snapshot = delta.snapshot().map_err(delta_error)?;
    let committed = CommitBuilder::from(commit_properties())
        .with_actions(removes.into_iter().chain(adds).collect())
        .build(Some(snapshot), delta.log_store(), operation)
        .await
        .map_err(delta_error)?;
    let mut updated = delta.clone();
    updated.state = Some(committed.snapshot());
    Ok(updated)
}

/// The remove actions for the files `rewrite` replaces, read off the
/// snapshot. A partial rewrite of a partition that holds a file of no
/// bucket cannot know which rows that file holds: it fails, and the
/// pipeline derives the tenant again to rewrite it whole.
fn replaced_files(delta: &DeltaTable, rewrite: &TableRewrite) -> Result<Vec<Action>, StoreError> {
    let table = rewrite.table;
    let snapshot = delta
        .snapshot()
        .map_err(|source| StoreError::Delta { table, source })?;
    let scopes: HashMap<&str, &RewriteScope> = rewrite
        .partitions
        .iter()
        .map(|p| (p.tenant.as_str(), &p.scope))
        .collect();
    let mut removes = Vec::new();
    for file in snapshot.log_data().iter() {
        let path = file.path();
        let tenant = match tenant_of_path(&path) {
            Some(tenant) => tenant.to_owned(),
            None => match file.partition_values_map().remove(TENANT_COLUMN) {
                Some(Some(tenant)) => tenant,
                _ => continue,
            },
        };
        let Some(scope) = scopes.get(tenant.as_str()) else {
            continue;
        };
        let name = path.rsplit('/').next().unwrap_or_default();
        let replaced = match (scope, Bucket::of_file_name(name)) {
            (RewriteScope::Whole, _) => true,
            (RewriteScope::Buckets(buckets), Some(bucket)) => {
                buckets.binary_search(&bucket).is_ok()
            }
            (RewriteScope::Buckets(_), None) => {
                return Err(StoreError::Unbucketed {
                    table,
                    tenant,
                    path: path.into_owned(),
                });
            }
        };
        if replaced {
            removes.push(Action::Remove(file.remove_action(true)));
        }
    }
    Ok(removes)
}

/// The tenant a data file's path names (`tenant_id=acme/…`, as Delta
/// writers lay partitions out). Every commit walks every file of the table,
/// and a file's partition-value map is an allocation per file, which for
/// tens of thousands of small tenants costs more than the rewrite; the map
/// is read only for a path laid out otherwise.
fn tenant_of_path(path: &str) -> Option<&str> {
    let rest = path.strip_prefix(TENANT_COLUMN)?.strip_prefix('=')?;
    rest.split_once('/').map(|(tenant, _)| tenant)
}

/// The Parquet files of every bucket batch, without the partition column
/// (Delta keeps it in the log, not in the files).
fn encode(
    partitions: &[PartitionRewrite],
) -> Result<Vec<EncodedFile>, deltalake::parquet::errors::ParquetError> {
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut files = Vec::new();
    for partition in partitions {
        for (bucket, batch) in &partition.buckets {
            let stored = without_tenant(batch)?;
            let mut writer =
                ArrowWriter::try_new(Vec::new(), stored.schema(), Some(properties.clone()))?;
            writer.write(&stored)?;
            let bytes = writer.into_inner()?;
            let name = bucket.file_name(&uuid::Uuid::new_v4().to_string());
            files.push(EncodedFile {
                path: Path::from(format!("{TENANT_COLUMN}={}/{name}", partition.tenant)),
                tenant: partition.tenant.as_str().to_owned(),
                bytes,
            });
        }
    }
    Ok(files)
}

fn without_tenant(batch: &RecordBatch) -> Result<RecordBatch, arrow::error::ArrowError> {
    let schema = batch.schema();
    let kept: Vec<usize> = (0..schema.fields().len())
        .filter(|&i| schema.field(i).name() != TENANT_COLUMN)
        .collect();
    batch.project(&kept)
}

/// What the commit read, for Delta's conflict check: the rewritten tenants'
/// partitions. Tenant ids are `[a-z0-9_-]`, so they need no quoting.
fn tenants_predicate(rewrite: &TableRewrite) -> String {
    let tenants: Vec<String> = rewrite
        .partitions
        .iter()
        .map(|p| format!("'{}'", p.tenant))
        .collect();
    format!("{TENANT_COLUMN} IN ({})", tenants.join(", "))
}

#[cfg(test)]
mod tests {
    use revstream_schemas::{TableName, TenantId};

    use super::*;

    #[test]
    fn the_tenant_is_read_off_the_partition_directory() {
        assert_eq!(
            tenant_of_path("tenant_id=acme/bucket-676-x.snappy.parquet"),
            Some("acme")
        );
        assert_eq!(tenant_of_path("tenant_id=acme"), None);
        assert_eq!(tenant_of_path("tenant_idx=acme/a.parquet"), None);
        assert_eq!(tenant_of_path("other/tenant_id=acme/a.parquet"), None);
    }

    #[test]
    fn the_predicate_names_every_rewritten_tenant() {
        let partition = |t: &str| PartitionRewrite {
            tenant: TenantId::parse(t).expect("valid id"),
            scope: RewriteScope::Whole,
            buckets: Vec::new(),
        };
        let rewrite = TableRewrite {
            table: TableName::Payments,
            partitions: vec![partition("acme"), partition("beta-2")],
        };
        assert_eq!(
            tenants_predicate(&rewrite),
            "tenant_id IN ('acme', 'beta-2')"
        );
    }
}
