//! Each table version's data files, grouped by tenant, and a provider that
//! scans one tenant's files only.
//!
//! The Delta provider plans a scan by running the table's whole file list
//! through the partition filter: with one partition per tenant, every query
//! paid for every other tenant's files (at 10,000 tenants, `/v1/metrics`
//! took ×5.7 its time at 10). The grouping is done once per table version,
//! when the tables refresh; a query then reads its tenant's list from a hash
//! map and plans a Parquet scan over exactly those files.
//!
//! ```text
//!  refresh: DeltaTable ─ log_data() ─▶ { tenant_id → [file, …] }        (once per version)
//!  query:   TenantFilesTable(tenant) ─ scan ─▶ Parquet scan of that tenant's files
//!                                              + tenant_id as the partition value
//! ```
//!
//! The provider shows the Delta provider's schema (same columns, same
//! order, same types), so nothing above it can tell the two apart; the
//! files are adapted to it as DataFusion's listing tables adapt theirs.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use async_trait::async_trait;
use deltalake::DeltaTable;
use deltalake::datafusion::arrow::datatypes::{Schema, SchemaRef};
use deltalake::datafusion::catalog::{Session, TableProvider};
use deltalake::datafusion::common::{DFSchema, DataFusionError, ScalarValue};
use deltalake::datafusion::datasource::listing::PartitionedFile;
use deltalake::datafusion::datasource::physical_plan::parquet::CachedParquetFileReaderFactory;
use deltalake::datafusion::datasource::physical_plan::{
    FileGroup, FileScanConfigBuilder, ParquetSource,
};
use deltalake::datafusion::datasource::source::DataSourceExec;
use deltalake::datafusion::datasource::table_schema::TableSchema;
use deltalake::datafusion::execution::object_store::ObjectStoreUrl;
use deltalake::datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use deltalake::datafusion::physical_plan::ExecutionPlan;
use deltalake::datafusion::physical_plan::empty::EmptyExec;
use deltalake::logstore::ObjectStoreRef;
use revstream_schemas::TenantId;
use revstream_schemas::tables::TENANT_COLUMN;

use crate::catalog::projected;

type Result<T> = std::result::Result<T, DataFusionError>;

/// One table version's files by tenant, with what a scan of them needs.
#[derive(Debug)]
pub(crate) struct TenantFiles {
    /// What queries see: the Delta provider's schema.
    schema: SchemaRef,
    /// The columns stored in the files, and `tenant_id` after them as the
    /// partition column (DataFusion's order for a file scan).
    scan_schema: TableSchema,
    /// The table's object store (paths relative to its root), and the URL
    /// scans name it by.
    store: ObjectStoreRef,
    store_url: ObjectStoreUrl,
    by_tenant: HashMap<String, Vec<PartitionedFile>>,
}

impl TenantFiles {
    /// Groups the files of `table` (its loaded version) by tenant. `schema`
    /// is the schema its Delta provider shows.
    pub(crate) fn index(table: &DeltaTable, schema: SchemaRef) -> Result<Self> {
        let tenant_index = schema.index_of(TENANT_COLUMN)?;
        let tenant_field = Arc::new(schema.field(tenant_index).clone());
        let stored: Vec<_> = schema
            .fields()
            .iter()
            .filter(|f| f.name() != TENANT_COLUMN)
            .cloned()
            .collect();
        let scan_schema = TableSchema::builder(Arc::new(Schema::new(stored)))
            .with_table_partition_cols(vec![tenant_field])
            .build();

        let state = table
            .snapshot()
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let mut by_tenant: HashMap<String, Vec<PartitionedFile>> = HashMap::new();
        for file in state.log_data().iter() {
            let partition = file.partition_values_map();
            let Some(Some(tenant)) = partition.get(TENANT_COLUMN) else {
                // Every table is partitioned by tenant; a file without one
                // belongs to nobody a query can name.
                tracing::warn!(path = %file.path(), "a data file without a tenant_id partition value; not readable by any tenant");
                continue;
            };
            let value = ScalarValue::try_from_string(
                tenant.clone(),
                scan_schema.table_partition_cols()[0].data_type(),
            )?;
            let size = u64::try_from(file.size()).unwrap_or_default();
            let scanned = PartitionedFile::new(file.object_store_path().to_string(), size)
                .with_partition_values(vec![value]);
            by_tenant.entry(tenant.clone()).or_default().push(scanned);
        }
        let log_store = table.log_store();
        Ok(Self {
            schema,
            scan_schema,
            store: log_store.object_store(None),
            store_url: log_store.object_store_url(),
            by_tenant,
        })
    }

    /// Hashes the identity of `tenant`'s files into `hasher`: their paths
    /// and sizes. Data files are never rewritten in place, so equal
    /// identities read equal rows.
    pub(crate) fn hash_tenant(&self, tenant: &TenantId, hasher: &mut impl Hasher) {
        let files = self
            .by_tenant
            .get(tenant.as_str())
            .map_or(&[][..], Vec::as_slice);
        files.len().hash(hasher);
        for f in files {
            f.object_meta.location.as_ref().hash(hasher);
            f.object_meta.size.hash(hasher);
        }
    }

    /// The bytes of `tenant`'s files.
    pub(crate) fn tenant_bytes(&self, tenant: &TenantId) -> u64 {
        self.by_tenant
            .get(tenant.as_str())
            .map_or(0, |files| files.iter().map(|f| f.object_meta.size).sum())
    }

    /// The provider of `tenant`'s rows of this table version.
    pub(crate) fn provider(self: &Arc<Self>, tenant: &TenantId) -> Arc<dyn TableProvider> {
        Arc::new(TenantFilesTable {
            files: self.clone(),
            tenant: tenant.as_str().to_owned(),
        })
    }
}

/// One tenant's rows of one table version, read from its files alone.
#[derive(Debug)]
struct TenantFilesTable {
    files: Arc<TenantFiles>,
    tenant: String,
}

#[async_trait]
impl TableProvider for TenantFilesTable {
    fn schema(&self) -> SchemaRef {
        self.files.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let files = &self.files;
        let shown = &files.schema;
        let wanted = projected(projection, shown);
        let Some(tenant_files) = files.by_tenant.get(&self.tenant) else {
            return Ok(Arc::new(EmptyExec::new(Arc::new(shown.project(&wanted)?))));
        };
        // The files are read through the table's own object store (paths
        // relative to the table root), which the session may not know yet.
        let runtime = state.runtime_env();
        if runtime.object_store(&files.store_url).is_err() {
            runtime.register_object_store(files.store_url.as_ref(), files.store.clone());
        }
        let scanned = files.scan_schema.table_schema();
        let indices = wanted
            .iter()
            .map(|&i| scanned.index_of(shown.field(i).name()))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        // Footers and page indexes come from the runtime's metadata cache
        // (bounded, least recently used first out; shared by all queries):
        // a table file never changes once written, and parsing its footer
        // again on every query was a good part of a small query's time.
        let reader = CachedParquetFileReaderFactory::new(
            runtime.object_store(&files.store_url)?,
            runtime.cache_manager.get_file_metadata_cache(),
        );
        let mut source = ParquetSource::new(files.scan_schema.clone())
            .with_table_parquet_options(state.table_options().parquet.clone())
            .with_parquet_file_reader_factory(Arc::new(reader));
        // The filters prune row groups by their statistics; rows are still
        // filtered above the scan (the pushdown is inexact). The tenant
        // filter has nothing to prune here: every file is the tenant's.
        let pruning = filters
            .iter()
            .filter(|f| !f.column_refs().iter().any(|c| c.name == TENANT_COLUMN))
            .cloned()
            .reduce(Expr::and);
        if let Some(pruning) = pruning {
            let schema = DFSchema::try_from(scanned.as_ref().clone())?;
            source = source.with_predicate(state.create_physical_expr(pruning, &schema)?);
        }
        let config = FileScanConfigBuilder::new(files.store_url.clone(), Arc::new(source))
            .with_file_group(FileGroup::new(tenant_files.clone()))
            .with_projection_indices(Some(indices))?
            .with_limit(limit)
            .build();
        Ok(DataSourceExec::from_data_source(config))
    }
}
