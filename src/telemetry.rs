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
    #[cfg(feature = "jemalloc")]
    registry.register_collector(Box::new(heap::HeapCollector));
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

/// jemalloc's own counts of the heap, read at scrape time. `allocated` is
/// what the process uses; `resident` adds what jemalloc holds freed and has
/// not given back yet. A soak tells a leak (allocated grows) from allocator
/// retention (only resident grows) by these two.
#[cfg(feature = "jemalloc")]
mod heap {
    use prometheus_client::collector::Collector;
    use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
    use prometheus_client::metrics::gauge::ConstGauge;

    #[derive(Debug)]
    pub(super) struct HeapCollector;

    impl Collector for HeapCollector {
        fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
            // jemalloc's statistics are a snapshot taken when the epoch
            // advances; without it they would stay at the first read.
            if tikv_jemalloc_ctl::epoch::advance().is_err() {
                return Ok(());
            }
            let gauges = [
                (
                    "revstream_process_heap_allocated_bytes",
                    "Heap bytes the process has allocated and not freed (jemalloc stats.allocated)",
                    tikv_jemalloc_ctl::stats::allocated::read(),
                ),
                (
                    "revstream_process_heap_resident_bytes",
                    "Heap pages jemalloc holds resident: in use, freed and not yet returned, and its metadata \
                     (stats.resident)",
                    tikv_jemalloc_ctl::stats::resident::read(),
                ),
            ];
            for (name, help, bytes) in gauges {
                let Ok(bytes) = bytes else { continue };
                let gauge = ConstGauge::new(i64::try_from(bytes).unwrap_or(i64::MAX));
                gauge.encode(encoder.encode_descriptor(
                    name,
                    help,
                    None,
                    gauge.metric_type(),
                )?)?;
            }
            Ok(())
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

    #[cfg(feature = "jemalloc")]
    #[tokio::test]
    async fn the_heap_gauges_follow_what_the_process_allocates() {
        /// (allocated, resident) from one scrape.
        async fn heap(registry: &Registry) -> (f64, f64) {
            let body = axum::body::to_bytes(render(registry).into_body(), usize::MAX)
                .await
                .unwrap();
            let text = String::from_utf8(body.to_vec()).unwrap();
            let gauge = |name: &str| -> f64 {
                text.lines()
                    .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
                    .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
            };
            (
                gauge("revstream_process_heap_allocated_bytes"),
                gauge("revstream_process_heap_resident_bytes"),
            )
        }
        let registry = registry("serve");
        let (before, _) = heap(&registry).await;
        let held = std::hint::black_box(vec![1u8; 16 << 20]);
        let (during, resident) = heap(&registry).await;
        drop(held);
        // Other tests allocate beside this one: leave them 8 MiB of room.
        assert!(during - before >= f64::from(8 << 20), "{before} → {during}");
        assert!(
            resident >= during,
            "resident {resident} < allocated {during}"
        );
    }
}
