//! Running the pipeline as a background task of a role, and stopping it in
//! order: the cycle in progress finishes and commits, then the task ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use revstream_ingest::http::ReadinessCheck;
use revstream_pipeline::settings::RegistrySettings;
use revstream_pipeline::source::LogSource;
use revstream_pipeline::telemetry::PipelineMetrics;
use revstream_pipeline::{Pipeline, PipelineConfig, TableStore};
use revstream_registry::Registry;
use revstream_schemas::staged::StagedRows;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub(crate) struct PipelineHandle {
    stop: Arc<AtomicBool>,
    task: JoinHandle<Result<(), revstream_pipeline::PipelineError>>,
    pub(crate) commits: watch::Receiver<u64>,
    pub(crate) metrics: PipelineMetrics,
    /// Set when the loop has ended (stopped, or failed): for `/readyz`.
    ended: Arc<AtomicBool>,
}

impl std::fmt::Debug for PipelineHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineHandle").finish_non_exhaustive()
    }
}

/// Starts a pipeline over `source` writing under `root`; with `staged`,
/// it stages each cycle's derived rows there for a query side in this
/// process (see `Pipeline::stage_into`).
pub(crate) async fn spawn<S: LogSource + Sync + 'static>(
    source: S,
    root: &url::Url,
    registry: Registry,
    config: PipelineConfig,
    staged: Option<Arc<StagedRows>>,
) -> anyhow::Result<PipelineHandle> {
    let log_id = source.log_id();
    let store = TableStore::open(root, &log_id)
        .await
        .with_context(|| format!("opening the tables at {root}"))?;
    let mut pipeline = Pipeline::new(
        source,
        Arc::new(store),
        Arc::new(RegistrySettings::new(registry)),
        config,
    );
    if let Some(tier) = staged {
        pipeline.stage_into(tier);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let commits = pipeline.commits();
    let metrics = pipeline.metrics();
    let ended = Arc::new(AtomicBool::new(false));
    let run = pipeline.run(stop.clone());
    let task = tokio::spawn({
        let ended = ended.clone();
        async move {
            let result = run.await;
            ended.store(true, Ordering::Relaxed);
            result
        }
    });
    Ok(PipelineHandle {
        stop,
        task,
        commits,
        metrics,
        ended,
    })
}

impl PipelineHandle {
    /// The `/readyz` check that the loop still runs.
    pub(crate) fn readiness(&self) -> Arc<dyn ReadinessCheck> {
        Arc::new(PipelineRunning(self.ended.clone()))
    }

    /// Asks the loop to stop after its current cycle and waits for it.
    pub(crate) async fn stop(self) -> anyhow::Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        match self.task.await {
            Ok(result) => result.context("pipeline"),
            Err(e) => Err(anyhow::anyhow!("pipeline task failed: {e}")),
        }
    }
}

/// Ready while the pipeline loop runs: once it has ended (stopped, or
/// failed on an error it could not retry) nothing new becomes queryable.
#[derive(Debug)]
struct PipelineRunning(Arc<AtomicBool>);

#[async_trait::async_trait]
impl ReadinessCheck for PipelineRunning {
    fn name(&self) -> &'static str {
        "pipeline"
    }

    async fn check(&self) -> Result<(), String> {
        if self.0.load(Ordering::Relaxed) {
            Err("the pipeline loop has ended; see the log".to_owned())
        } else {
            Ok(())
        }
    }
}
