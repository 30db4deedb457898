//! The query service's Prometheus metrics: latency of every request by
//! route and status, refusals by error code, and result cache hits and
//! misses.
//!
//! ```text
//!  request ─▶ track (layer on the query routes) ─▶ handler ─▶ response
//!               └─ request_duration_seconds{route, status}, rejected{route, code} (ErrorCode extension)
//!  scrape ─▶ cache hits / misses read from the engine's ResultCache counters
//! ```
//!
//! Latency runs until the response head: a query is planned, run and
//! collected by then; only encoding the rows streams after.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use revstream_ingest::http::ErrorCode;

use crate::http::QueryState;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RejectLabels {
    route: &'static str,
    code: &'static str,
}

type Latency = Family<RequestLabels, Histogram, fn() -> Histogram>;

/// The query metrics. Cheap to clone; clones share every series.
#[derive(Debug, Clone)]
pub struct QueryMetrics {
    requests: Latency,
    rejected: Family<RejectLabels, Counter>,
}

impl Default for QueryMetrics {
    fn default() -> Self {
        Self {
            requests: Family::new_with_constructor(latency_histogram),
            rejected: Family::default(),
        }
    }
}

/// 1 ms (a cache hit) to ~33 s (past the default query timeout).
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

impl QueryMetrics {
    /// Adds these metrics, and the result cache counters of `state`, to the
    /// process's registry (once per process).
    pub fn register(&self, registry: &mut Registry, state: &QueryState) {
        registry.register_with_unit(
            "revstream_query_request_duration",
            "Time to answer a query route (until the response head), by route and HTTP status",
            Unit::Seconds,
            self.requests.clone(),
        );
        registry.register(
            "revstream_query_rejected",
            "Query requests refused, by route and error code (invalid_sql, forbidden_statement, query_timeout, result_too_large, …)",
            self.rejected.clone(),
        );
        registry.register_collector(Box::new(CacheCollector(state.clone())));
    }

    /// A request to `route` was answered `status` after `elapsed`, refused
    /// with `code` when it is an error.
    pub fn observe(
        &self,
        route: &'static str,
        status: u16,
        code: Option<&'static str>,
        elapsed: Duration,
    ) {
        self.requests
            .get_or_create(&RequestLabels { route, status })
            .observe(elapsed.as_secs_f64());
        if let Some(code) = code {
            self.rejected
                .get_or_create(&RejectLabels { route, code })
                .inc();
        }
    }
}

/// The route label: the query routes by name, never the caller's path.
fn route_label(path: Option<&MatchedPath>) -> &'static str {
    match path.map(MatchedPath::as_str) {
        Some("/v1/query") => "query",
        Some("/v1/metrics") => "metrics",
        Some("/v1/tables") => "tables",
        _ => "other",
    }
}

/// The middleware on the query routes that times and counts them.
pub(crate) async fn track(
    State(metrics): State<QueryMetrics>,
    request: Request,
    next: Next,
) -> Response {
    let route = route_label(request.extensions().get::<MatchedPath>());
    let started = Instant::now();
    let response = next.run(request).await;
    let code = response.extensions().get::<ErrorCode>().map(|c| c.0);
    metrics.observe(route, response.status().as_u16(), code, started.elapsed());
    response
}

/// The result cache counters, read at scrape time.
#[derive(Debug)]
struct CacheCollector(QueryState);

impl Collector for CacheCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stats = self.0.engine().cache().stats();
        for (name, help, value) in [
            (
                "revstream_query_cache_hits",
                "Query and /v1/metrics answers served from the result cache",
                &stats.hits,
            ),
            (
                "revstream_query_cache_misses",
                "Query and /v1/metrics answers computed (not in the result cache)",
                &stats.misses,
            ),
        ] {
            let counter = ConstCounter::new(value.load(Ordering::Relaxed));
            let metric = encoder.encode_descriptor(name, help, None, counter.metric_type())?;
            counter.encode(metric)?;
        }
        let cached =
            ConstGauge::new(i64::try_from(self.0.engine().cache().bytes()).unwrap_or(i64::MAX));
        cached.encode(encoder.encode_descriptor(
            "revstream_query_cache_bytes",
            "Memory the cached query and /v1/metrics answers take (about)",
            None,
            cached.metric_type(),
        )?)?;
        let indexes = self.0.engine().metrics_indexes();
        let builds = ConstCounter::new(indexes.builds());
        builds.encode(encoder.encode_descriptor(
            "revstream_query_metrics_index_builds",
            "/v1/metrics indexes built (one per tenant, kind and version of its files asked)",
            None,
            builds.metric_type(),
        )?)?;
        let (_, bytes) = indexes.usage();
        let held = ConstGauge::new(i64::try_from(bytes).unwrap_or(i64::MAX));
        held.encode(encoder.encode_descriptor(
            "revstream_query_metrics_index_bytes",
            "Memory the held /v1/metrics indexes take (about)",
            None,
            held.metric_type(),
        )?)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_and_refusals_show_with_their_labels() {
        let m = QueryMetrics::default();
        m.observe("query", 200, None, Duration::from_millis(3));
        m.observe("query", 200, None, Duration::from_millis(300));
        m.observe("query", 400, Some("invalid_sql"), Duration::from_millis(2));
        m.observe(
            "metrics",
            401,
            Some("unauthorized"),
            Duration::from_micros(500),
        );

        let mut registry = Registry::default();
        registry.register_with_unit(
            "revstream_query_request_duration",
            "",
            Unit::Seconds,
            m.requests.clone(),
        );
        registry.register("revstream_query_rejected", "", m.rejected.clone());
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for line in [
            r#"revstream_query_request_duration_seconds_count{route="query",status="200"} 2"#,
            r#"revstream_query_request_duration_seconds_bucket{le="0.004",route="query",status="200"} 1"#,
            r#"revstream_query_request_duration_seconds_count{route="query",status="400"} 1"#,
            r#"revstream_query_request_duration_seconds_count{route="metrics",status="401"} 1"#,
            r#"revstream_query_rejected_total{route="query",code="invalid_sql"} 1"#,
            r#"revstream_query_rejected_total{route="metrics",code="unauthorized"} 1"#,
        ] {
            assert!(text.contains(line), "missing {line:?} in:\n{text}");
        }
        assert!(!text.contains(r#"code="none""#));
    }
}
