//! `revstream query`: the query role alone, over shared tables.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use revstream_ingest::http::{Auth, finish, serve_http};
use revstream_query::{QueryState, Tables, TablesOptions};

use super::output;
use crate::cli::QueryRoleArgs;
use crate::shutdown::shutdown_signal;
use crate::telemetry;

/// How often a standalone query node looks for new table versions; the
/// pipeline runs elsewhere, so there is no commit signal to wait on.
const REFRESH_EVERY: Duration = Duration::from_millis(500);

pub(super) async fn run(args: QueryRoleArgs) -> anyhow::Result<()> {
    let table_uri = args
        .tables
        .table_uri
        .clone()
        .context("`revstream query` needs --table-uri (or REVSTREAM_TABLE_URI)")?;
    let registry = args.registry.open_waiting().await?;
    let admin = args.registry.admin_token()?;
    let root = args.tables.root(&args.registry.data_dir)?;
    let tables = Arc::new(
        Tables::open(root, TablesOptions::default())
            .await
            .with_context(|| format!("opening the tables at {table_uri}"))?,
    );
    let refresher = tables.spawn_refresher(REFRESH_EVERY);
    let health = health_routes(tables.clone(), registry.clone());
    // Keys as ingest caches them: 10 s fresh, and an hour more while the
    // registry is down, so dashboards keep answering from the tables.
    let defaults = revstream_ingest::http::IngestConfig::default();
    let auth = Arc::new(Auth::new(
        registry.clone(),
        admin.token.clone(),
        defaults.auth_cache_ttl,
        defaults.auth_stale_if_unavailable,
    ));
    let state = QueryState::new(tables, auth, registry.clone(), args.query.config())
        .context("starting the query service")?;
    let mut prometheus = telemetry::registry("query");
    state.metrics().register(&mut prometheus, &state);
    let timeout = args.http.timeout_above(&args.query);
    let app = finish(
        revstream_query::router(state)
            .merge(health)
            .merge(telemetry::routes(Arc::new(prometheus))),
        timeout,
    );
    let listener = tokio::net::TcpListener::bind(args.http.addr)
        .await
        .with_context(|| format!("binding {}", args.http.addr))?;
    output::note(format!(
        "revstream query listening on http://{}; tables at {table_uri}",
        listener.local_addr()?
    ));
    serve_http(listener, app, args.http.serve_options(), shutdown_signal())
        .await
        .context("HTTP server")?;
    refresher.abort();
    registry.close().await;
    Ok(())
}

/// `/healthz` and `/readyz` for a query node: up, and tables and registry
/// reachable.
fn health_routes(tables: Arc<Tables>, registry: revstream_registry::Registry) -> axum::Router {
    use axum::Json;
    use axum::http::StatusCode;
    use axum::routing::get;
    use serde_json::json;

    axum::Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route(
            "/readyz",
            get(move || {
                let (tables, registry) = (tables.clone(), registry.clone());
                async move {
                    let tables = tables.check().await;
                    let registry = registry.ping().await.map_err(|e| e.to_string());
                    let ready = tables.is_ok() && registry.is_ok();
                    let show = |r: Result<(), String>| r.err().unwrap_or_else(|| "ok".into());
                    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
                    (status, Json(json!({"ready": ready, "checks": {"tables": show(tables), "registry": show(registry)}})))
                }
            }),
        )
}
