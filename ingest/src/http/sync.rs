//! Sync administration with the admin token (issue #8):
//!
//! - `POST /v1/admin/tenants/{tenant}/sync/{source}` (stripe, whop,
//!   calendly) starts a pull with the tenant's stored credential → 202
//!   `{"run": {...}}`; the pull goes on in the background. 409 when a pull
//!   of that source is already running in this process.
//! - `GET /v1/admin/tenants/{tenant}/sync/runs` → `{"runs": [...]}`, newest first.
//! - `PUT /v1/admin/tenants/{tenant}/sync/{source}/schedule`
//!   `{"every_minutes": N}` (or `null` to remove) → 204.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use revstream_schemas::TenantId;
use serde::Deserialize;
use serde_json::{Value, json};

use super::IngestState;
use super::admin::tenant_id;
use super::error::{ApiError, ApiResult};
use super::json::read_json;
use revstream_registry::SyncRun;

use crate::sync::{NoProgress, Provider, PullOptions, SyncTarget, run_pull};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetSchedule {
    every_minutes: Option<i64>,
}

fn provider(raw: &str) -> ApiResult<Provider> {
    Provider::parse(raw).ok_or_else(|| {
        ApiError::not_found(
            "unknown_source",
            format!(
                "cannot pull from {raw:?}: use stripe, whop or calendly (files are imported \
                 with `revstream backfill`)"
            ),
        )
    })
}

impl IngestState {
    /// How to reach `provider`: the configured override or its API.
    pub fn pull_options(&self, provider: Provider) -> PullOptions {
        PullOptions {
            base_url: self
                .inner
                .config
                .sync_base_urls
                .get(provider.as_str())
                .cloned(),
            retry: self.inner.config.sync_retry,
        }
    }
}

/// Why a pull did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("a {source_name} sync of tenant {tenant} is already running")]
    AlreadyRunning {
        tenant: String,
        source_name: &'static str,
    },
    #[error(transparent)]
    Sync(#[from] crate::sync::SyncError),
}

impl From<StartError> for ApiError {
    fn from(e: StartError) -> Self {
        match e {
            StartError::AlreadyRunning { .. } => {
                ApiError::new(StatusCode::CONFLICT, "sync_running", e.to_string())
            }
            StartError::Sync(crate::sync::SyncError::Registry(r)) => r.into(),
            StartError::Sync(other) => ApiError::internal("starting a sync", &other),
        }
    }
}

impl IngestState {
    /// Records a new pull of `provider` for `tenant` and runs it on its own
    /// task; returns the run as started and the task, which yields the run
    /// as finished. One pull per (tenant, source) at a time in a process.
    pub async fn start_pull(
        &self,
        tenant: &TenantId,
        provider: Provider,
    ) -> Result<(SyncRun, tokio::task::JoinHandle<SyncRun>), StartError> {
        let key = (tenant.to_string(), provider.as_str());
        if !self.inner.running_syncs.try_insert(key.clone()) {
            return Err(StartError::AlreadyRunning {
                tenant: tenant.to_string(),
                source_name: provider.as_str(),
            });
        }
        let target = SyncTarget {
            registry: self.registry().clone(),
            log: self.inner.log.clone(),
            tenant: tenant.clone(),
        };
        let run = match target.start(provider.as_str(), "pull").await {
            Ok(run) => run,
            Err(e) => {
                self.inner.running_syncs.remove(&key);
                return Err(e.into());
            }
        };
        let started = run.clone();
        let options = self.pull_options(provider);
        // Released however the task ends, a panic included.
        let release = Release(self.clone(), key);
        let task = tokio::spawn(async move {
            let _release = release;
            run_pull(&target, provider, &options, run, &NoProgress).await
        });
        tracing::info!(%tenant, source = provider.as_str(), run = %started.id, "sync started");
        Ok((started, task))
    }
}

/// Frees a (tenant, source) pull slot when dropped.
struct Release(IngestState, (String, &'static str));

impl Drop for Release {
    fn drop(&mut self) {
        self.0.inner.running_syncs.remove(&self.1);
    }
}

pub(crate) async fn trigger(
    State(state): State<IngestState>,
    Path((tenant, source)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<(StatusCode, Json<Value>)> {
    state.inner.auth.require_admin(&headers)?;
    let tenant = tenant_id(&tenant)?;
    let provider = provider(&source)?;
    let (run, _task) = state.start_pull(&tenant, provider).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "run": run }))))
}

pub(crate) async fn list_runs(
    State(state): State<IngestState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    state.inner.auth.require_admin(&headers)?;
    let tenant = tenant_id(&tenant)?;
    state.registry().tenant(tenant.as_str()).await?;
    let runs = state.registry().sync_runs(&tenant).await?;
    Ok(Json(json!({ "runs": runs })))
}

pub(crate) async fn set_schedule(
    State(state): State<IngestState>,
    Path((tenant, source)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<StatusCode> {
    state.inner.auth.require_admin(&headers)?;
    let tenant = tenant_id(&tenant)?;
    let provider = provider(&source)?;
    let req: SetSchedule = read_json(&headers, body).await?;
    state
        .registry()
        .set_sync_schedule(&tenant, provider.as_str(), req.every_minutes)
        .await?;
    tracing::info!(%tenant, source, every_minutes = ?req.every_minutes, "sync schedule set");
    Ok(StatusCode::NO_CONTENT)
}
