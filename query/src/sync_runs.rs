//! `sync_runs`: the caller's sync runs (issue #8) as a queryable table.
//!
//! The runs live in the tenant registry, not in Delta: the table reads the
//! registry when a query scans it (never at planning, so queries that do
//! not name it cost nothing), for the catalog's tenant only, and a query
//! that scans it is never served from the result cache, because table
//! versions do not change when a run does.
//!
//! Columns: `tenant_id`, `run_id`, `source`, `mode` (pull | file),
//! `status` (running | succeeded | failed), `records_seen`, `created`,
//! `updated`, `unchanged`, `deleted`, `failed`, `error`, `started_at`,
//! `finished_at` (UTC millisecond timestamps).

use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use deltalake::datafusion::arrow::array::{
    ArrayRef, Int64Array, StringArray, TimestampMillisecondArray,
};
use deltalake::datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use deltalake::datafusion::arrow::record_batch::RecordBatch;
use deltalake::datafusion::catalog::{Session, TableProvider};
use deltalake::datafusion::common::DataFusionError;
use deltalake::datafusion::datasource::MemTable;
use deltalake::datafusion::logical_expr::{Expr, TableType};
use deltalake::datafusion::physical_plan::ExecutionPlan;
use revstream_registry::{Registry, SyncRun};
use revstream_schemas::TenantId;

/// The table's name in every tenant catalog that has a registry.
pub const SYNC_RUNS: &str = "sync_runs";

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let ts = || DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    let count = |name: &str| Field::new(name, DataType::Int64, false);
    Arc::new(Schema::new(vec![
        Field::new("tenant_id", DataType::Utf8, false),
        Field::new("run_id", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("mode", DataType::Utf8, false),
        Field::new("status", DataType::Utf8, false),
        count("records_seen"),
        count("created"),
        count("updated"),
        count("unchanged"),
        count("deleted"),
        count("failed"),
        Field::new("error", DataType::Utf8, true),
        Field::new("started_at", ts(), false),
        Field::new("finished_at", ts(), true),
    ]))
});

/// The schema of `sync_runs`.
pub fn schema() -> SchemaRef {
    SCHEMA.clone()
}

/// One tenant's runs, read from the registry at scan time.
#[derive(Debug)]
pub struct SyncRunsTable {
    registry: Registry,
    tenant: TenantId,
}

impl SyncRunsTable {
    pub fn new(registry: Registry, tenant: TenantId) -> Self {
        Self { registry, tenant }
    }
}

fn batch(runs: &[SyncRun]) -> Result<RecordBatch, DataFusionError> {
    let strings = |f: &dyn Fn(&SyncRun) -> Option<String>| -> ArrayRef {
        Arc::new(runs.iter().map(f).collect::<StringArray>())
    };
    let ints = |f: &dyn Fn(&SyncRun) -> i64| -> ArrayRef {
        Arc::new(runs.iter().map(f).collect::<Int64Array>())
    };
    let times = |f: &dyn Fn(&SyncRun) -> Option<i64>| -> ArrayRef {
        Arc::new(
            runs.iter()
                .map(f)
                .collect::<TimestampMillisecondArray>()
                .with_timezone("UTC"),
        )
    };
    let columns = vec![
        strings(&|r| Some(r.tenant.to_string())),
        strings(&|r| Some(r.id.clone())),
        strings(&|r| Some(r.source.clone())),
        strings(&|r| Some(r.mode.clone())),
        strings(&|r| Some(r.status.as_str().to_owned())),
        ints(&|r| r.counts.seen),
        ints(&|r| r.counts.created),
        ints(&|r| r.counts.updated),
        ints(&|r| r.counts.unchanged),
        ints(&|r| r.counts.deleted),
        ints(&|r| r.counts.failed),
        strings(&|r| r.error.clone()),
        times(&|r| Some(r.started_at_ms)),
        times(&|r| r.finished_at_ms),
    ];
    Ok(RecordBatch::try_new(schema(), columns)?)
}

#[async_trait]
impl TableProvider for SyncRunsTable {
    fn schema(&self) -> SchemaRef {
        schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>, DataFusionError> {
        let runs = self
            .registry
            .sync_runs(&self.tenant)
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        // The registry query is already per tenant; nothing else is read.
        let table = MemTable::try_new(schema(), vec![vec![batch(&runs)?]])?;
        table.scan(state, projection, filters, limit).await
    }
}
