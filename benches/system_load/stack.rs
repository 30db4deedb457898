//! The query side of scenarios 4 and 5: tables built by the real pipeline
//! from the embedded log, and the query service over real HTTP.
//!
//! ```text
//!  generator ─▶ LocalLog ─▶ Pipeline (drained) ─▶ Delta tables ─▶ Tables ─▶ QueryState ─▶ axum on 127.0.0.1:0
//!                                                        └──────────────▶ Parquet file lists for DuckDB
//! ```
//!
//! Tenants are added in steps (`add`), each step drained to the end and the
//! tables refreshed before anything is measured. The result cache is off,
//! so every SQL request plans and scans; `/v1/metrics` is answered from
//! the metrics indexes as shipped, and by a second server with the indexes
//! off (`reference_base`) for the reference rows.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::ProgressBar;
use revstream_ingest::http::{Auth, finish};
use revstream_ingest::log::local::{LocalLog, LocalLogOptions};
use revstream_ingest::log::{EventLog, LogEnvelope, LogRecord};
use revstream_pipeline::settings::FixedSettings;
use revstream_pipeline::source::local::LocalSource;
use revstream_pipeline::{Pipeline, PipelineConfig, TableStore, table_root};
use revstream_query::{QueryConfig, QueryState, Tables, TablesOptions};
use revstream_registry::{MasterKey, NewTenant, Registry, Role};
use revstream_schemas::{CanonicalEvent, TableName, TenantId};
use url::Url;

use super::latency::thousands;
use super::loopback::LoopbackServer;

const ADMIN_TOKEN: &str = "bench-admin-token-0123456789abcdef";
/// The tenant every query is asked for.
pub(crate) const BUSY: &str = "busy";
const APPEND_BATCH: usize = 1_000;

pub(crate) struct QueryStack {
    log: Arc<LocalLog>,
    pipeline: Pipeline<LocalSource>,
    pub(crate) root: Url,
    pub(crate) tables: Arc<Tables>,
    pub(crate) store: Arc<TableStore>,
    pub(crate) state: QueryState,
    pub(crate) base: String,
    pub(crate) client: reqwest::Client,
    pub(crate) key: String,
    pub(crate) busy: TenantId,
    /// Distinct tenants in the tables so far.
    pub(crate) tenants: u64,
    /// The same service with the `/v1/metrics` indexes off.
    pub(crate) reference_base: String,
    server: LoopbackServer,
    reference: LoopbackServer,
    _dir: tempfile::TempDir,
}

impl QueryStack {
    pub(crate) async fn start(partitions: u32) -> anyhow::Result<Self> {
        let dir = super::bench_dir("query")?;
        let log = LocalLog::open(
            dir.path().join("log"),
            partitions,
            LocalLogOptions::default(),
        )
        .context("opening the local log")?;
        let root = table_root(
            dir.path()
                .join("tables")
                .to_str()
                .context("a UTF-8 temp dir")?,
        )?;
        let store = Arc::new(TableStore::open(&root, "local").await?);
        let pipeline = Pipeline::new(
            LocalSource::new(log.clone())?,
            store.clone(),
            Arc::new(FixedSettings::default()),
            PipelineConfig {
                max_wait: Duration::from_millis(10),
                ..PipelineConfig::default()
            },
        );
        let registry = Registry::open_in_data_dir(dir.path(), MasterKey::generate()?).await?;
        let busy = TenantId::parse(BUSY)?;
        registry
            .create_tenant(NewTenant {
                id: busy.clone(),
                name: Some("A busy tenant".to_owned()),
                timezone: None,
                churn_recognition: None,
            })
            .await?;
        let key = registry.create_key(&busy, Role::Analyst).await?.key;
        // Refreshed by hand after each step: nothing changes while measuring.
        let tables = Arc::new(
            Tables::open(
                root.clone(),
                TablesOptions {
                    max_staleness: Duration::from_secs(24 * 3600),
                    commits: None,
                    staged: None,
                },
            )
            .await?,
        );
        let auth = Arc::new(Auth::new(
            registry.clone(),
            ADMIN_TOKEN.to_owned(),
            Duration::from_secs(3600),
            Duration::ZERO,
        ));
        let config = QueryConfig {
            // Every request must do the work, not read a cached answer.
            cache_bytes: 0,
            timeout: Duration::from_secs(120),
            // Requests beyond the concurrent-query limit wait for a slot
            // (their wait counts in the latency) rather than fail.
            queue_wait: Duration::from_secs(120),
            ..QueryConfig::default()
        };
        // The reference answers every /v1/metrics request with queries, as
        // before the metrics indexes; both read the same tables.
        let reference = QueryState::new(
            tables.clone(),
            auth.clone(),
            registry.clone(),
            QueryConfig {
                metrics_index_bytes: 0,
                ..config.clone()
            },
        )?;
        let state = QueryState::new(tables.clone(), auth, registry, config)?;
        let serve = |state| {
            LoopbackServer::start(finish(
                revstream_query::router(state),
                Duration::from_secs(180),
            ))
        };
        let reference = serve(reference).await?;
        let server = serve(state.clone()).await?;
        let (base, reference_base) = (server.base.clone(), reference.base.clone());
        let client = reqwest::Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(64)
            .timeout(Duration::from_secs(180))
            .build()?;
        Ok(Self {
            log,
            pipeline,
            root,
            tables,
            store,
            state,
            base,
            reference_base,
            client,
            key,
            busy,
            tenants: 0,
            server,
            reference,
            _dir: dir,
        })
    }

    /// Appends the events of `tenants` new tenants, runs the pipeline until
    /// all are committed and refreshes the query side.
    pub(crate) async fn add(
        &mut self,
        events: Vec<(TenantId, CanonicalEvent)>,
        new_tenants: u64,
        bar: &ProgressBar,
    ) -> anyhow::Result<()> {
        let total = events.len() as u64;
        let received_at = chrono::Utc::now();
        let records: Vec<LogRecord> = events
            .into_iter()
            .map(|(tenant, event)| {
                LogEnvelope {
                    tenant,
                    received_at,
                    event,
                }
                .to_record()
            })
            .collect();
        for chunk in records.chunks(APPEND_BATCH) {
            self.log.append(chunk.to_vec()).await?;
        }
        let stats = self.pipeline.stats();
        let before = stats
            .events_committed
            .load(std::sync::atomic::Ordering::Relaxed);
        let stop = AtomicBool::new(false);
        loop {
            let report = self.pipeline.cycle(&stop).await?;
            let done = stats
                .events_committed
                .load(std::sync::atomic::Ordering::Relaxed)
                - before;
            bar.set_message(format!(
                "building tables: {} / {} events committed",
                thousands(done),
                thousands(total)
            ));
            if report.records == 0 && !report.committed && !report.assigned {
                if done != total {
                    bail!("the pipeline committed {done} of {total} events");
                }
                break;
            }
        }
        self.tenants += new_tenants;
        self.tables.refresh().await;
        Ok(())
    }

    /// Live data files of `table` (every tenant).
    pub(crate) async fn files(&self, table: TableName) -> anyhow::Result<usize> {
        Ok(self.store.files_per_tenant(table).await?.values().sum())
    }

    pub(crate) async fn stop(self) {
        self.server.stop().await;
        self.reference.stop().await;
    }
}
