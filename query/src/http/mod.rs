//! The query routes (API.md, "Query"):
//!
//! ```text
//!  POST /v1/query   {"sql", "params"?, "format"?, "truncate"?}    ─┐
//!  GET  /v1/query?sql=…&format=…&truncate=…&params=<json>          ├─▶ caller's tenant ─▶ QueryEngine
//!  GET  /v1/metrics?from=…&to=…[&interval][&metrics][&group_by][&currency]
//!  GET  /v1/tables                                                 ─┘
//! ```
//!
//! Every route takes a Bearer key with role viewer, analyst or admin (the
//! tenant is the key's), or the deployment admin token with `?tenant=ID`.
//! Errors are `ApiError`s. No fallbacks here: the binary composes the roles'
//! routers and adds them once (`revstream_ingest::http::finish`).

mod caller;
mod metrics;
mod query;
mod tables;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use chrono_tz::Tz;
use revstream_ingest::http::{Auth, TtlCache};
use revstream_registry::Registry;
use revstream_schemas::TenantId;

use crate::engine::{QueryConfig, QueryEngine};
use crate::error::Result;
use crate::tables::Tables;
use crate::telemetry::{self, QueryMetrics};

/// Everything the query handlers share. Cheap to clone.
#[derive(Debug, Clone)]
pub struct QueryState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    engine: QueryEngine,
    auth: Arc<Auth>,
    registry: Registry,
    /// Each tenant's timezone, which every dashboard request needs: asked
    /// of the registry at most every [`TIMEZONE_TTL`], and kept for
    /// [`TIMEZONE_STALE`] more to answer through a registry outage.
    timezones: TtlCache<TenantId, Tz>,
    metrics: QueryMetrics,
}

const TIMEZONE_TTL: Duration = Duration::from_secs(10);
const TIMEZONE_STALE: Duration = Duration::from_secs(3600);

impl QueryState {
    /// `auth` is shared with the other roles' routes
    /// (`IngestState::auth()`), so keys are verified and cached one way.
    pub fn new(
        tables: Arc<Tables>,
        auth: Arc<Auth>,
        registry: Registry,
        config: QueryConfig,
    ) -> Result<QueryState> {
        Ok(QueryState {
            inner: Arc::new(Inner {
                engine: QueryEngine::new(tables, config)?.with_registry(registry.clone()),
                auth,
                registry,
                timezones: TtlCache::new(TIMEZONE_TTL, TIMEZONE_STALE, 100_000),
                metrics: QueryMetrics::default(),
            }),
        })
    }

    pub fn engine(&self) -> &QueryEngine {
        &self.inner.engine
    }

    /// This state's metrics; the binary registers them for `/metrics`
    /// (`metrics().register(&mut registry, &state)`).
    pub fn metrics(&self) -> &QueryMetrics {
        &self.inner.metrics
    }
}

/// The query routes with their state applied, each timed and counted
/// ([`telemetry`]).
pub fn router(state: QueryState) -> Router {
    let prometheus = state.metrics().clone();
    Router::new()
        .route("/v1/query", get(query::get).post(query::post))
        .route("/v1/metrics", get(metrics::get))
        .route("/v1/tables", get(tables::get))
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(
            prometheus,
            telemetry::track,
        ))
}
