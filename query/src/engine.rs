//! Running one read-only SQL statement for one tenant, within limits.
//!
//! ```text
//!  sql ─▶ size limit ─▶ guard (read-only allow list) ─▶ snapshot + versions ─▶ cache?
//!      ─▶ permit (concurrency) ─▶ plan in the tenant context ─▶ SQLOptions check ─▶ params ─▶ LIMIT row_limit + 1
//!      ─▶ run (timeout, per-query memory pool) ─▶ 413 or truncate ─▶ cache ─▶ QueryOutput
//! ```
//!
//! # Limits and what they answer
//! - SQL text over `max_sql_bytes` → 413 `sql_too_large`.
//! - More than `row_limit` rows → 413 `result_too_large`, or the first
//!   `row_limit` rows with `truncated: true` when the caller asked.
//! - Each query gets its own memory pool of `memory_limit` bytes (sorts and
//!   aggregates spill to disk first); exceeding it → 400 `memory_limit`.
//!   The collected result counts against the same limit.
//! - Longer than `timeout` → 408 `query_timeout` (the query is cancelled).
//! - At most `max_concurrent` queries run at once; a request waits up to
//!   `queue_wait` for a slot, then gets 503 `busy` with `Retry-After: 1`.
//!   Waiting briefly absorbs bursts (dashboards fire several queries at
//!   once) without turning them into errors; a 503 tells clients the
//!   service, not their request, is the problem.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake::datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use deltalake::datafusion::common::{DataFusionError, ParamValues, ScalarValue};
use deltalake::datafusion::execution::SessionState;
use deltalake::datafusion::execution::memory_pool::FairSpillPool;
use deltalake::datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use deltalake::datafusion::execution::session_state::SessionStateBuilder;
use deltalake::datafusion::logical_expr::{Expr, LogicalPlan, Volatility};
use deltalake::datafusion::prelude::{DataFrame, SQLOptions, SessionConfig, SessionContext};
use deltalake::datafusion::sql::parser::Statement;
use futures::StreamExt;
use revstream_schemas::{TableName, TenantId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::cache::{CacheKey, CacheKind, Cached, ResultCache};
use crate::catalog::{CATALOG, SCHEMA, tenant_catalog};
use crate::error::{QueryError, Result};
use crate::guard::{self, Checked};
use crate::metrics::IndexCache;
use crate::tables::{TableVersions, Tables, TablesSnapshot};

/// Limits and knobs of the query service.
#[derive(Debug, Clone)]
pub struct QueryConfig {
    /// Most rows a result may have (API.md: 413 over it unless truncated).
    pub row_limit: usize,
    /// Longest a query (or a metrics request) may run.
    pub timeout: Duration,
    /// Largest SQL text.
    pub max_sql_bytes: usize,
    /// Largest `POST /v1/query` body.
    pub max_body_bytes: usize,
    /// Memory of one query (its operators and its collected result).
    pub memory_limit: usize,
    /// Queries running at once.
    pub max_concurrent: usize,
    /// How long a request waits for a slot before 503.
    pub queue_wait: Duration,
    /// Result cache budget (0 disables it) and entry bound.
    pub cache_bytes: usize,
    pub cache_entries: usize,
    /// Budget of the `/v1/metrics` indexes held in memory (0: every
    /// metrics request queries the tables instead).
    pub metrics_index_bytes: usize,
    /// DataFusion partitions per query.
    pub target_partitions: usize,
    /// A tenant whose files add up to less than this is queried on one
    /// partition: on small data, splitting a scan and merging it again
    /// costs more than the second core gives.
    pub single_partition_below_bytes: u64,
}

impl Default for QueryConfig {
    fn default() -> Self {
        Self {
            row_limit: 100_000,
            timeout: Duration::from_secs(30),
            max_sql_bytes: 256 << 10,
            max_body_bytes: 1 << 20,
            memory_limit: 512 << 20,
            max_concurrent: 8,
            queue_wait: Duration::from_secs(2),
            cache_bytes: 64 << 20,
            cache_entries: 10_000,
            metrics_index_bytes: 64 << 20,
            target_partitions: std::thread::available_parallelism().map_or(2, |n| n.get()),
            single_partition_below_bytes: 16 << 20,
        }
    }
}

/// Query parameters: `$1, $2, …` from a JSON array, `$name` from an object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SqlParams {
    Positional(Vec<Value>),
    Named(serde_json::Map<String, Value>),
}

/// One SQL request.
#[derive(Debug, Clone, Default)]
pub struct SqlRequest {
    pub sql: String,
    pub params: Option<SqlParams>,
    /// Answer the first `row_limit` rows instead of 413.
    pub truncate: bool,
}

/// A result: at most `row_limit` rows.
#[derive(Debug)]
pub struct QueryOutput {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub row_count: usize,
    /// Rows beyond the limit were dropped (only when truncation was asked).
    pub truncated: bool,
}

impl QueryOutput {
    fn bytes(&self) -> usize {
        self.batches
            .iter()
            .map(RecordBatch::get_array_memory_size)
            .sum()
    }
}

/// A result and how it was obtained.
#[derive(Debug, Clone)]
pub struct QueryAnswer {
    pub output: Arc<QueryOutput>,
    pub cached: bool,
    pub versions: TableVersions,
}

/// Runs SQL for tenants. Share one per process.
pub struct QueryEngine {
    tables: Arc<Tables>,
    config: QueryConfig,
    /// Functions and configuration, built once; per query it gets the
    /// tenant's catalog and its own memory pool.
    base: SessionState,
    runtime: Arc<RuntimeEnv>,
    permits: Arc<Semaphore>,
    cache: ResultCache,
    metrics_indexes: IndexCache,
    /// Gives each tenant catalog its `sync_runs` table; `None` leaves it out.
    registry: Option<revstream_registry::Registry>,
}

impl std::fmt::Debug for QueryEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryEngine")
            .field("tables", &self.tables)
            .field("config", &self.config)
            .field("available_slots", &self.permits.available_permits())
            .field("cache", &self.cache)
            .field("metrics_indexes", &self.metrics_indexes)
            .finish_non_exhaustive()
    }
}

impl QueryEngine {
    pub fn new(tables: Arc<Tables>, config: QueryConfig) -> Result<Self> {
        let session_config = SessionConfig::new()
            .with_default_catalog_and_schema(CATALOG, SCHEMA)
            .with_create_default_catalog_and_schema(false)
            .with_information_schema(false)
            .with_target_partitions(config.target_partitions.max(1));
        let runtime = RuntimeEnvBuilder::new()
            .build_arc()
            .map_err(|e| QueryError::Internal(format!("DataFusion runtime: {e}")))?;
        let mut builder = SessionStateBuilder::new()
            .with_config(session_config)
            .with_runtime_env(runtime.clone())
            .with_default_features();
        // No CREATE EXTERNAL TABLE factories, even though DDL is refused anyway.
        *builder.table_factories() = Some(Default::default());
        let base = builder.build();
        Ok(Self {
            permits: Arc::new(Semaphore::new(config.max_concurrent.max(1))),
            cache: ResultCache::new(config.cache_bytes, config.cache_entries),
            metrics_indexes: IndexCache::new(config.metrics_index_bytes),
            tables,
            config,
            base,
            runtime,
            registry: None,
        })
    }

    /// Adds the `sync_runs` table, read from `registry`, to every tenant's
    /// catalog.
    pub fn with_registry(mut self, registry: revstream_registry::Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    pub fn tables(&self) -> &Arc<Tables> {
        &self.tables
    }

    pub fn config(&self) -> &QueryConfig {
        &self.config
    }

    pub fn cache(&self) -> &ResultCache {
        &self.cache
    }

    /// The `/v1/metrics` indexes (see [`crate::metrics`]).
    pub fn metrics_indexes(&self) -> &IndexCache {
        &self.metrics_indexes
    }

    /// A `SessionContext` holding only `tenant`'s tables at the current
    /// versions, with this engine's configuration and a fresh memory pool.
    /// Limits other than memory are the caller's to apply.
    pub async fn context(&self, tenant: &TenantId) -> Result<SessionContext> {
        let snapshot = self.tables.snapshot().await;
        Ok(SessionContext::new_with_state(
            self.tenant_state(snapshot, tenant)?,
        ))
    }

    /// Every table and its schema as a query sees it (the same for every
    /// tenant: the tenant filter removes rows, not columns).
    pub async fn table_schemas(&self) -> Vec<(TableName, SchemaRef)> {
        let snapshot = self.tables.snapshot().await;
        TableName::ALL
            .into_iter()
            .map(|t| (t, snapshot.provider(t).schema()))
            .collect()
    }

    /// Runs one read-only statement for `tenant`.
    pub async fn sql(&self, tenant: &TenantId, request: &SqlRequest) -> Result<QueryAnswer> {
        let sql = request.sql.trim();
        if sql.len() > self.config.max_sql_bytes {
            return Err(QueryError::SqlTooLarge {
                size: sql.len(),
                limit: self.config.max_sql_bytes,
            });
        }
        let checked = guard::check(sql)?;
        let params = request.params.as_ref().map(param_values).transpose()?;
        let snapshot = self.tables.snapshot().await;
        let versions = snapshot.versions();
        let key = CacheKey {
            tenant: tenant.clone(),
            kind: CacheKind::Sql,
            request: canonical_request(sql, request)?,
            files: snapshot.tenant_fingerprint(tenant, &TableName::ALL),
        };
        if let Some(Cached::Sql(output)) = self.cache.get(&key) {
            return Ok(QueryAnswer {
                output,
                cached: true,
                versions,
            });
        }

        // Cache hits above do not wait for a slot.
        let _permit = self.permit().await?;
        let run = Run {
            state: self.tenant_state(snapshot, tenant)?,
            row_limit: self.config.row_limit,
            truncate: request.truncate,
            memory_limit: self.config.memory_limit,
            tables: self.tables.clone(),
        };
        let (output, deterministic) = self
            .with_timeout(async move { run.execute(checked, params).await })
            .await?;
        let output = Arc::new(output);
        if deterministic {
            self.cache
                .insert(key, Cached::Sql(output.clone()), output.bytes());
        }
        Ok(QueryAnswer {
            output,
            cached: false,
            versions,
        })
    }

    /// A concurrency slot, waiting at most `queue_wait`.
    pub(crate) async fn permit(&self) -> Result<OwnedSemaphorePermit> {
        match tokio::time::timeout(self.config.queue_wait, self.permits.clone().acquire_owned())
            .await
        {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_closed)) => Err(QueryError::Internal("query slots closed".into())),
            Err(_elapsed) => Err(QueryError::Busy),
        }
    }

    /// Runs `work` on its own task, cancelled after the timeout.
    pub(crate) async fn with_timeout<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        let mut task = tokio::spawn(work);
        match tokio::time::timeout(self.config.timeout, &mut task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(QueryError::Internal(format!("query task failed: {join}"))),
            Err(_elapsed) => {
                task.abort();
                Err(QueryError::Timeout(self.config.timeout))
            }
        }
    }

    /// The session state of one query: shared functions, configuration,
    /// object stores and caches; its own memory pool.
    pub(crate) fn query_state(&self) -> Result<SessionState> {
        let runtime = RuntimeEnvBuilder::from_runtime_env(&self.runtime)
            .with_memory_pool(Arc::new(FairSpillPool::new(self.config.memory_limit)))
            .build_arc()
            .map_err(|e| QueryError::Internal(format!("query runtime: {e}")))?;
        Ok(SessionStateBuilder::new_from_existing(self.base.clone())
            .with_runtime_env(runtime)
            .build())
    }

    pub(crate) fn tenant_state(
        &self,
        snapshot: Arc<TablesSnapshot>,
        tenant: &TenantId,
    ) -> Result<SessionState> {
        let mut state = self.query_state()?;
        if snapshot.tenant_bytes(tenant) < self.config.single_partition_below_bytes {
            state.config_mut().options_mut().execution.target_partitions = 1;
        }
        state.register_catalog_list(tenant_catalog(snapshot, tenant, self.registry.as_ref()));
        // Fixes now() and friends for the query (and the optimizer needs it).
        state.mark_start_execution();
        Ok(state)
    }
}

/// One query's execution, movable onto its own task.
struct Run {
    state: SessionState,
    row_limit: usize,
    truncate: bool,
    memory_limit: usize,
    tables: Arc<Tables>,
}

impl Run {
    fn error(&self, e: &DataFusionError, planning: bool) -> QueryError {
        let tables = &self.tables;
        QueryError::from_datafusion(e, planning, self.memory_limit, &|m| tables.redact(m))
    }

    async fn plan(&self, statement: Statement) -> Result<LogicalPlan> {
        let plan = self
            .state
            .statement_to_plan(statement)
            .await
            .map_err(|e| self.error(&e, true))?;
        // Backstop for queries that plan into writes (`SELECT … INTO`).
        SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false)
            .verify_plan(&plan)
            .map_err(|e| {
                QueryError::Forbidden(format!(
                    "{}; queries are read-only",
                    e.strip_backtrace()
                        .trim_start_matches("Error during planning: ")
                ))
            })?;
        Ok(plan)
    }

    /// The output and whether it may be cached.
    async fn execute(
        self,
        checked: Checked,
        params: Option<ParamValues>,
    ) -> Result<(QueryOutput, bool)> {
        let (statement, explain) = match checked {
            Checked::Query(s) => (s, false),
            Checked::Explain(s) => (s, true),
        };
        let mut plan = self.plan(statement).await?;
        if let Some(params) = params {
            plan = plan
                .with_param_values(params)
                .map_err(|e| self.error(&e, true))?;
        }
        if explain {
            return Ok((self.explain(&plan)?, true));
        }
        let deterministic = deterministic(&plan);
        let frame = DataFrame::new(self.state.clone(), plan)
            .limit(0, Some(self.row_limit.saturating_add(1)))
            .map_err(|e| self.error(&e, true))?;
        let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
        let mut stream = frame
            .execute_stream()
            .await
            .map_err(|e| self.error(&e, true))?;
        let mut batches = Vec::new();
        let mut rows = 0usize;
        let mut bytes = 0usize;
        let mut truncated = false;
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| self.error(&e, false))?;
            let room = self.row_limit - rows;
            if batch.num_rows() > room {
                if !self.truncate {
                    return Err(QueryError::ResultTooLarge {
                        limit: self.row_limit,
                    });
                }
                truncated = true;
                if room > 0 {
                    batches.push(batch.slice(0, room));
                }
                rows += room;
                break;
            }
            rows += batch.num_rows();
            bytes += batch.get_array_memory_size();
            if bytes > self.memory_limit {
                return Err(QueryError::MemoryLimit {
                    limit_mib: self.memory_limit >> 20,
                    detail: "the result itself is too large".into(),
                });
            }
            if batch.num_rows() > 0 {
                batches.push(batch);
            }
        }
        Ok((
            QueryOutput {
                schema,
                batches,
                row_count: rows,
                truncated,
            },
            deterministic,
        ))
    }

    /// The optimized logical plan, as text: table names and expressions,
    /// never storage paths.
    fn explain(&self, plan: &LogicalPlan) -> Result<QueryOutput> {
        let optimized = self
            .state
            .optimize(plan)
            .map_err(|e| self.error(&e, true))?;
        let text = self.tables.redact(&optimized.display_indent().to_string());
        let schema = Arc::new(Schema::new(vec![
            Field::new("plan_type", DataType::Utf8, false),
            Field::new("plan", DataType::Utf8, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec!["logical_plan"])),
                Arc::new(StringArray::from(vec![text])),
            ],
        )
        .map_err(|e| QueryError::Internal(e.to_string()))?;
        Ok(QueryOutput {
            schema,
            batches: vec![batch],
            row_count: 1,
            truncated: false,
        })
    }
}

/// No function whose value changes between runs (`now()`, `random()`) and
/// no scan of `sync_runs` (registry rows, not versioned tables): only then
/// may the result be cached.
fn deterministic(plan: &LogicalPlan) -> bool {
    let mut found = false;
    let walked = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && scan.table_name.table() == crate::sync_runs::SYNC_RUNS
        {
            found = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                if let Expr::ScalarFunction(f) = e
                    && f.func.signature().volatility != Volatility::Immutable
                {
                    found = true;
                    return Ok(TreeNodeRecursion::Stop);
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    });
    walked.is_ok() && !found
}

/// The cache key text of a request: the trimmed SQL, the params in
/// canonical JSON (object keys sorted) and the truncation flag. The format
/// is not part of it: the output is encoded per request.
fn canonical_request(sql: &str, request: &SqlRequest) -> Result<String> {
    let params = serde_json::to_string(&request.params)
        .map_err(|e| QueryError::Internal(format!("params: {e}")))?;
    Ok(format!("{}\u{0}{params}\u{0}{}", sql, request.truncate))
}

fn param_values(params: &SqlParams) -> Result<ParamValues> {
    Ok(match params {
        SqlParams::Positional(values) => ParamValues::from(
            values
                .iter()
                .enumerate()
                .map(|(i, v)| scalar(v, &format!("${}", i + 1)))
                .collect::<Result<Vec<_>>>()?,
        ),
        SqlParams::Named(values) => ParamValues::from(
            values
                .iter()
                .map(|(k, v)| Ok((k.clone(), scalar(v, &format!("${k}"))?)))
                .collect::<Result<Vec<_>>>()?,
        ),
    })
}

fn scalar(value: &Value, name: &str) -> Result<ScalarValue> {
    Ok(match value {
        Value::Null => ScalarValue::Null,
        Value::Bool(b) => ScalarValue::Boolean(Some(*b)),
        Value::String(s) => ScalarValue::Utf8(Some(s.clone())),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                ScalarValue::Int64(Some(i))
            } else if let Some(u) = n.as_u64() {
                ScalarValue::UInt64(Some(u))
            } else if let Some(f) = n.as_f64() {
                ScalarValue::Float64(Some(f))
            } else {
                return Err(QueryError::InvalidRequest(format!(
                    "parameter {name}: {n} is not a representable number"
                )));
            }
        }
        Value::Array(_) | Value::Object(_) => {
            return Err(QueryError::InvalidRequest(format!(
                "parameter {name} must be a string, number, boolean or null"
            )));
        }
    })
}

/// Used by the metrics endpoint: one statement of ours (not the caller's)
/// in a tenant context, collected.
pub(crate) async fn collect(
    state: &SessionState,
    sql: &str,
    params: Vec<ScalarValue>,
) -> std::result::Result<Vec<RecordBatch>, DataFusionError> {
    let plan = state.create_logical_plan(sql).await?;
    let plan = plan.with_param_values(params)?;
    DataFrame::new(state.clone(), plan).collect().await
}

/// Elapsed milliseconds since `start`, for answers.
pub(crate) fn elapsed_ms(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}
