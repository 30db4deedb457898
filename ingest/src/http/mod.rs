//! The ingest HTTP routes (API.md): webhooks, batch events, tenant admin,
//! health. Handlers are thin: read the body with a limit, authenticate,
//! hand off to verify/normalize, append, answer.

mod admin;
pub mod auth;
pub mod batch;
pub mod body;
mod error;
mod events;
mod health;
mod json;
mod rate_limit;
mod serve;
mod sync;
mod ttl_cache;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{delete, get, post, put};
use revstream_registry::Registry;

pub use auth::Auth;
pub use error::{ApiError, ApiResult, ErrorCode};
pub use health::ReadinessCheck;
pub use serve::{ServeOptions, serve_http};

use crate::log::{EventLog, LogEnvelope};
use crate::recent::RecentIds;
use crate::telemetry::{IngestMetrics, Route};
use rate_limit::RateLimiter;
use revstream_schemas::{CanonicalEvent, TenantId};
pub use ttl_cache::TtlCache;

/// Limits and knobs of the ingest routes.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Largest webhook body (API.md: 1 MiB).
    pub webhook_body_limit: usize,
    /// Largest `/v1/events` body.
    pub batch_body_limit: usize,
    /// Most rows in one `/v1/events` request.
    pub batch_max_events: usize,
    /// Per-tenant sustained rate: webhooks count 1, batches their rows.
    pub rate_per_sec: f64,
    /// Per-tenant burst.
    pub rate_burst: f64,
    /// How long a key or secret lookup is cached; changes made through
    /// another process show up within this time.
    pub auth_cache_ttl: Duration,
    /// How long past its TTL a cached key or secret still stands in while
    /// the registry cannot be reached (stale-if-error). A key revoked
    /// through another process can work this long into an outage; zero
    /// turns it off (then an outage answers 503 after one TTL).
    pub auth_stale_if_unavailable: Duration,
    /// How many recent event ids are remembered to answer `duplicate`.
    pub recent_ids: usize,
    /// Sync pulls: provider name → base URL replacing its production API
    /// (tests, egress proxies).
    pub sync_base_urls: std::collections::BTreeMap<String, String>,
    /// Sync pulls: retries and backoff against providers.
    pub sync_retry: crate::sync::RetryPolicy,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            webhook_body_limit: 1 << 20,
            batch_body_limit: 16 << 20,
            batch_max_events: 50_000,
            rate_per_sec: 50_000.0,
            rate_burst: 100_000.0,
            auth_cache_ttl: Duration::from_secs(10),
            auth_stale_if_unavailable: Duration::from_secs(3600),
            recent_ids: 1_000_000,
            sync_base_urls: std::collections::BTreeMap::new(),
            sync_retry: crate::sync::RetryPolicy::default(),
        }
    }
}

/// Everything the handlers share. Cheap to clone.
#[derive(Debug, Clone)]
pub struct IngestState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    registry: Registry,
    log: Arc<dyn EventLog>,
    auth: Arc<Auth>,
    config: IngestConfig,
    secrets: TtlCache<(String, &'static str), Arc<Vec<String>>>,
    limiter: RateLimiter,
    recent: RecentIds,
    /// (tenant, source) of the pulls this process runs, one at a time each.
    running_syncs: RunningSyncs,
    extra_readiness: Vec<Arc<dyn ReadinessCheck>>,
    metrics: IngestMetrics,
}

impl IngestState {
    pub fn new(
        registry: Registry,
        log: Arc<dyn EventLog>,
        admin_token: String,
        config: IngestConfig,
    ) -> Self {
        Self::with_readiness(registry, log, admin_token, config, Vec::new())
    }

    /// Like [`IngestState::new`], with more checks for `/readyz` (the table
    /// store, say) supplied by the binary that wires the roles together.
    pub fn with_readiness(
        registry: Registry,
        log: Arc<dyn EventLog>,
        admin_token: String,
        config: IngestConfig,
        extra_readiness: Vec<Arc<dyn ReadinessCheck>>,
    ) -> Self {
        let (ttl, stale) = (config.auth_cache_ttl, config.auth_stale_if_unavailable);
        Self {
            inner: Arc::new(Inner {
                auth: Arc::new(Auth::new(registry.clone(), admin_token, ttl, stale)),
                secrets: TtlCache::new(ttl, stale, 100_000),
                limiter: RateLimiter::new(config.rate_per_sec, config.rate_burst),
                recent: RecentIds::new(config.recent_ids),
                running_syncs: RunningSyncs::default(),
                registry,
                log,
                config,
                extra_readiness,
                metrics: IngestMetrics::default(),
            }),
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// Appends events of one tenant and returns once they are durable; only
    /// then are their ids remembered as seen (so a `duplicate` answer never
    /// stands for an event that was not persisted) and counted as accepted
    /// on `route`.
    ///
    /// Once the records are handed to the log, the append and its
    /// bookkeeping run to the end on their own task, even when the request
    /// is dropped (a client gone, the request timeout): the events may well
    /// become durable, and then the recent ids must know them (a retry is
    /// answered `duplicate`) and the accepted counter must count them (the
    /// soak found ingest counting 100 fewer events than the log held after
    /// batches timed out mid-append).
    async fn append_durably(
        &self,
        route: Route,
        tenant: &TenantId,
        events: &[&CanonicalEvent],
    ) -> ApiResult<()> {
        let received_at = chrono::Utc::now();
        let records = events
            .iter()
            .map(|&event| {
                LogEnvelope {
                    tenant: tenant.clone(),
                    received_at,
                    event: event.clone(),
                }
                .to_record()
            })
            .collect();
        let keys: Vec<(String, String)> = events
            .iter()
            .map(|e| (e.source.as_str().to_owned(), e.id.as_str().to_owned()))
            .collect();
        let state = self.clone();
        let tenant = tenant.clone();
        let append = tokio::spawn(async move {
            let inner = &state.inner;
            let started = std::time::Instant::now();
            let appended = inner.log.append(records).await;
            inner.metrics.append_took(started.elapsed());
            appended?;
            inner.recent.insert_all(
                keys.iter()
                    .map(|(source, id)| (tenant.as_str(), source.as_str(), id.as_str())),
            );
            inner.metrics.events(route, "accepted", keys.len());
            Ok(())
        });
        append
            .await
            .map_err(|e| ApiError::internal("appending to the event log", &e))?
    }

    /// This state's metrics; the binary registers them for `/metrics`.
    pub fn metrics(&self) -> &IngestMetrics {
        &self.inner.metrics
    }

    /// The authenticator, to share with other roles' routes.
    pub fn auth(&self) -> Arc<Auth> {
        self.inner.auth.clone()
    }
}

/// The set of (tenant, source) pulls running in this process.
#[derive(Debug, Default)]
struct RunningSyncs(std::sync::Mutex<std::collections::HashSet<(String, &'static str)>>);

impl RunningSyncs {
    /// Adds `key`; false when it was already there.
    fn try_insert(&self, key: (String, &'static str)) -> bool {
        self.0.lock().map(|mut s| s.insert(key)).unwrap_or(false)
    }

    fn remove(&self, key: &(String, &'static str)) {
        if let Ok(mut s) = self.0.lock() {
            s.remove(key);
        }
    }
}

/// The ingest routes. Compose with other roles' routers, then apply
/// [`finish`].
pub fn router(state: IngestState) -> Router {
    Router::new()
        .route("/v1/webhooks/{source}/{tenant}", post(webhooks::receive))
        .route("/v1/events", post(events::receive))
        .route(
            "/v1/admin/tenants",
            post(admin::create_tenant).get(admin::list_tenants),
        )
        .route("/v1/admin/tenants/{tenant}/keys", post(admin::create_key))
        .route(
            "/v1/admin/tenants/{tenant}/secrets/{source}",
            put(admin::add_secret).get(admin::list_secrets),
        )
        .route(
            "/v1/admin/tenants/{tenant}/secrets/{source}/{n}",
            delete(admin::delete_secret),
        )
        .route(
            "/v1/admin/tenants/{tenant}/credentials/{source}",
            put(admin::set_credential),
        )
        .route("/v1/admin/tenants/{tenant}/sync/runs", get(sync::list_runs))
        .route(
            "/v1/admin/tenants/{tenant}/sync/{source}",
            post(sync::trigger),
        )
        .route(
            "/v1/admin/tenants/{tenant}/sync/{source}/schedule",
            put(sync::set_schedule),
        )
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .with_state(state)
}

/// The outermost layers, applied once to the composed app of all roles:
/// unknown routes and methods answer in the JSON error format, and every
/// request is bounded by `request_timeout` (408), so a slow client or a
/// stuck dependency cannot hold a connection forever. The clock starts once
/// the request head is in; the head itself is bounded by [`serve_http`].
pub fn finish(router: Router, request_timeout: Duration) -> Router {
    router
        .fallback(|| async {
            ApiError::not_found("not_found", "no such route; see API.md for the routes")
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
        .layer(axum::middleware::from_fn(
            move |req, next: axum::middleware::Next| async move {
                match tokio::time::timeout(request_timeout, next.run(req)).await {
                    Ok(response) => response,
                    Err(_) => axum::response::IntoResponse::into_response(ApiError::new(
                        axum::http::StatusCode::REQUEST_TIMEOUT,
                        "timeout",
                        format!(
                            "the request took longer than {} s",
                            request_timeout.as_secs_f64()
                        ),
                    )),
                }
            },
        ))
}
