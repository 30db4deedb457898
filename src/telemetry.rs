//! `GET /metrics`: one Prometheus registry per process, in the OpenMetrics
//! text format.
//!
//! ```text
//!  command ─▶ Registry ◀─ register ─ IngestMetrics · PipelineMetrics · QueryMetrics (each role it runs)
//!                 │
//!  GET /metrics ──┴─▶ encode (counters, histograms; pipeline and cache counters read at scrape)
//! ```
//!
//! No authentication, like `/healthz`: bind the listener to a private
//! address (or keep the port off the load balancer) where the contents,
//! which carry no tenant data, should not be public.

use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// The content type of the OpenMetrics text format (Prometheus reads it).
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A registry holding the process-wide series (`revstream_build_info`);
/// the roles add theirs before it is shared with [`routes`].
pub(crate) fn registry(role: &'static str) -> Registry {
    let mut registry = Registry::default();
    registry.register(
        "revstream_build",
        "The revstream version and the role this process runs",
        Info::new(vec![("version", env!("CARGO_PKG_VERSION")), ("role", role)]),
    );
    registry
}

/// `GET /metrics` over `registry`.
pub(crate) fn routes(registry: Arc<Registry>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let registry = registry.clone();
            async move { render(&registry) }
        }),
    )
}

fn render(registry: &Registry) -> Response {
    let mut text = String::with_capacity(16 * 1024);
    match encode(&mut text, registry) {
        Ok(()) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        // Writing into a String fails only if a metric's own encoder does.
        Err(e) => {
            tracing::error!(error = %e, "encoding /metrics failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "encoding the metrics failed",
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn metrics_are_rendered_as_openmetrics_text() {
        let mut registry = registry("serve");
        let ingest = revstream_ingest::telemetry::IngestMetrics::default();
        ingest.register(&mut registry);
        ingest.rejected(
            revstream_ingest::telemetry::Route::Webhooks,
            "stripe",
            "invalid_signature",
        );
        let response = render(&registry);
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_TYPE], CONTENT_TYPE);
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(
            text.contains(r#"revstream_ingest_rejected_total{route="webhooks",source="stripe",reason="invalid_signature"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                r#"revstream_build_info{{version="{}",role="serve"}} 1"#,
                env!("CARGO_PKG_VERSION")
            )),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
