//! The per-request catalog: a `SessionContext` whose only catalog
//! (`datafusion`) and schema (`public`) hold the caller's tenant-scoped
//! tables — `events`, `subscriptions`, `mrr_movements`, `metrics_daily`,
//! `calls`, `payments`, `refunds`, `customers` — plus, when the engine has
//! the registry, `sync_runs` (read from it at scan time) — and nothing else.
//!
//! ```text
//!  SQL ─▶ planner ─▶ datafusion.public.<table> ─▶ TenantTable(tenant, the tenant's files)
//!                                                   scan(filters) = FilterExec[tenant_id = '<tenant>']
//!                                                                     └─ Parquet scan of that tenant's files
//! ```
//!
//! The tenant filter is part of the table, not of the SQL text: no query can
//! name a table without it. The scan below reads only the tenant's files
//! (grouped per table version by `tenant_files`, so latency stays
//! flat with many tenants; the Delta provider, used when the grouping is
//! not available, gets the filter pushed down), and the filter is evaluated
//! again on top of the scan, so correctness never depends on what the
//! provider below does. No whole-table statistics are exposed.
//! Raw paths never appear: tables are reached only by name.

use std::borrow::Cow;
use std::sync::Arc;

use async_trait::async_trait;
use deltalake::datafusion::arrow::datatypes::SchemaRef;
use deltalake::datafusion::catalog::{
    CatalogProvider, CatalogProviderList, SchemaProvider, Session, TableProvider,
};
use deltalake::datafusion::common::{DFSchema, DataFusionError};
use deltalake::datafusion::execution::SessionState;
use deltalake::datafusion::logical_expr::{
    Expr, LogicalPlan, TableProviderFilterPushDown, TableType,
};
use deltalake::datafusion::physical_plan::ExecutionPlan;
use deltalake::datafusion::physical_plan::filter::FilterExecBuilder;
use deltalake::datafusion::prelude::{SessionContext, col, lit};
use revstream_registry::Registry;
use revstream_schemas::tables::TENANT_COLUMN;
use revstream_schemas::{TableName, TenantId};

use crate::sync_runs::{SYNC_RUNS, SyncRunsTable};
use crate::tables::TablesSnapshot;

/// The only catalog name a query can use.
pub const CATALOG: &str = "datafusion";
/// The only schema name a query can use.
pub const SCHEMA: &str = "public";

/// A context for one tenant over one snapshot of the tables. `state` brings
/// the configuration and runtime (memory pool); its catalogs are replaced.
pub fn tenant_context(
    snapshot: Arc<TablesSnapshot>,
    tenant: &TenantId,
    state: SessionState,
) -> SessionContext {
    let mut state = state;
    state.register_catalog_list(tenant_catalog(snapshot, tenant, None));
    SessionContext::new_with_state(state)
}

/// The catalog list of [`tenant_context`]: one catalog, one schema, the
/// tenant's tables (and its `sync_runs` when `registry` is given).
pub fn tenant_catalog(
    snapshot: Arc<TablesSnapshot>,
    tenant: &TenantId,
    registry: Option<&Registry>,
) -> Arc<dyn CatalogProviderList> {
    Arc::new(TenantCatalogList {
        catalog: Arc::new(TenantCatalog {
            schema: Arc::new(TenantSchema {
                tenant: tenant.clone(),
                snapshot,
                registry: registry.cloned(),
            }),
        }),
    })
}

#[derive(Debug)]
struct TenantCatalogList {
    catalog: Arc<TenantCatalog>,
}

impl CatalogProviderList for TenantCatalogList {
    fn register_catalog(
        &self,
        name: String,
        _catalog: Arc<dyn CatalogProvider>,
    ) -> Option<Arc<dyn CatalogProvider>> {
        // Read-only: DDL is refused before planning; this is a backstop.
        tracing::warn!(catalog = %name, "refused to register a catalog in a tenant context");
        None
    }

    fn catalog_names(&self) -> Vec<String> {
        vec![CATALOG.to_owned()]
    }

    fn catalog(&self, name: &str) -> Option<Arc<dyn CatalogProvider>> {
        (name == CATALOG).then(|| self.catalog.clone() as Arc<dyn CatalogProvider>)
    }
}

#[derive(Debug)]
struct TenantCatalog {
    schema: Arc<TenantSchema>,
}

impl CatalogProvider for TenantCatalog {
    fn schema_names(&self) -> Vec<String> {
        vec![SCHEMA.to_owned()]
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        (name == SCHEMA).then(|| self.schema.clone() as Arc<dyn SchemaProvider>)
    }
}

#[derive(Debug)]
struct TenantSchema {
    tenant: TenantId,
    snapshot: Arc<TablesSnapshot>,
    registry: Option<Registry>,
}

#[async_trait]
impl SchemaProvider for TenantSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = TableName::ALL
            .iter()
            .map(|t| t.as_str().to_owned())
            .collect();
        if self.registry.is_some() {
            names.push(SYNC_RUNS.to_owned());
        }
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>, DataFusionError> {
        if name == SYNC_RUNS
            && let Some(registry) = &self.registry
        {
            return Ok(Some(Arc::new(SyncRunsTable::new(
                registry.clone(),
                self.tenant.clone(),
            ))));
        }
        Ok(TableName::parse(name).map(|t| {
            Arc::new(TenantTable::new(
                self.snapshot.tenant_provider(t, &self.tenant),
                self.tenant.clone(),
            )) as Arc<dyn TableProvider>
        }))
    }

    fn table_exist(&self, name: &str) -> bool {
        TableName::parse(name).is_some() || (name == SYNC_RUNS && self.registry.is_some())
    }
}

/// The columns a scan asked for: its projection, or every column of
/// `schema`.
pub(crate) fn projected(projection: Option<&Vec<usize>>, schema: &SchemaRef) -> Vec<usize> {
    match projection {
        Some(p) => p.clone(),
        None => (0..schema.fields().len()).collect(),
    }
}

/// A table provider that shows one tenant's rows of another provider.
#[derive(Debug)]
pub struct TenantTable {
    inner: Arc<dyn TableProvider>,
    tenant: TenantId,
}

impl TenantTable {
    /// `inner` must have a `tenant_id` column (every table does).
    pub fn new(inner: Arc<dyn TableProvider>, tenant: TenantId) -> Self {
        Self { inner, tenant }
    }

    fn tenant_filter(&self) -> Expr {
        col(TENANT_COLUMN).eq(lit(self.tenant.as_str()))
    }
}

#[async_trait]
impl TableProvider for TenantTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn get_table_definition(&self) -> Option<&str> {
        None
    }

    fn get_logical_plan(&self) -> Option<Cow<'_, LogicalPlan>> {
        None
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>, DataFusionError> {
        let schema = self.inner.schema();
        let tenant_index = schema.index_of(TENANT_COLUMN)?;
        let wanted = projected(projection, &schema);
        let mut inner_projection = wanted.clone();
        if !inner_projection.contains(&tenant_index) {
            inner_projection.push(tenant_index);
        }

        // Pushed down: Delta prunes every other tenant's partition.
        let mut pushed = filters.to_vec();
        pushed.push(self.tenant_filter());
        // The limit is not passed on: rows are counted after our filter.
        let input = self
            .inner
            .scan(state, Some(&inner_projection), &pushed, None)
            .await?;

        // Enforced: evaluated on whatever the scan returns.
        let input_schema = input.schema();
        let predicate = state.create_physical_expr(
            self.tenant_filter(),
            &DFSchema::try_from(input_schema.as_ref().clone())?,
        )?;
        let output: Vec<usize> = wanted
            .iter()
            .map(|&i| input_schema.index_of(schema.field(i).name()))
            .collect::<Result<_, _>>()?;
        let filtered = FilterExecBuilder::new(predicate, input)
            .apply_projection(Some(output))?
            .with_fetch(limit)
            .build()?;
        Ok(Arc::new(filtered))
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>, DataFusionError> {
        // The caller's filters reach the inner scan unchanged.
        self.inner.supports_filters_pushdown(filters)
    }
}
