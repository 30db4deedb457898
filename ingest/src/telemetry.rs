//! Ingest's Prometheus metrics: what was answered 200, what was refused and
//! why, how many events went in, and how long the event log took to make
//! appends durable.
//!
//! ```text
//!  webhook / batch handler ─▶ requests{route, source, status} | rejected{route, source, reason}
//!                          └▶ events{route, status}      append_duration_seconds ◀─ EventLog::append
//! ```
//!
//! Every handle is a clone of shared atomics; labels are `&'static str`s
//! (route, provider, error code), so their number is bounded by the code,
//! never by what a caller sends. The binary registers the handles once in
//! the process's registry ([`IngestMetrics::register`]).

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// The ingest route a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `POST /v1/webhooks/{source}/{tenant}`.
    Webhooks,
    /// `POST /v1/events`.
    Events,
}

impl Route {
    fn as_str(self) -> &'static str {
        match self {
            Route::Webhooks => "webhooks",
            Route::Events => "events",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    source: &'static str,
    status: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RejectLabels {
    route: &'static str,
    source: &'static str,
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    route: &'static str,
    status: &'static str,
}

/// The ingest metrics. Cheap to clone; clones count into the same series.
#[derive(Debug, Clone)]
pub struct IngestMetrics {
    requests: Family<RequestLabels, Counter>,
    rejected: Family<RejectLabels, Counter>,
    events: Family<EventLabels, Counter>,
    append: Histogram,
}

impl Default for IngestMetrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            rejected: Family::default(),
            events: Family::default(),
            // 0.5 ms (a local fsync) to ~16 s (a broker at its timeout).
            append: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
        }
    }
}

impl IngestMetrics {
    /// Adds these metrics to the process's registry (once per process).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "revstream_ingest_requests",
            "Ingest requests answered 200, by route, source and status (accepted, duplicate, ignored)",
            self.requests.clone(),
        );
        registry.register(
            "revstream_ingest_rejected",
            "Ingest requests refused, by route, source and reason (the error code of the answer)",
            self.rejected.clone(),
        );
        registry.register(
            "revstream_ingest_events",
            "Events in ingest requests, by route and status: accepted (appended durably), duplicate, invalid (batch rows refused)",
            self.events.clone(),
        );
        registry.register_with_unit(
            "revstream_ingest_append_duration",
            "Time the event log took to make one append durable (Kafka acks=all, local log fsync), failures included",
            Unit::Seconds,
            self.append.clone(),
        );
    }

    /// A request answered 200 with `status` (accepted, duplicate, ignored).
    pub fn answered(&self, route: Route, source: &'static str, status: &'static str) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.as_str(),
                source,
                status,
            })
            .inc();
    }

    /// A request refused with the error code `reason`.
    pub fn rejected(&self, route: Route, source: &'static str, reason: &'static str) {
        self.rejected
            .get_or_create(&RejectLabels {
                route: route.as_str(),
                source,
                reason,
            })
            .inc();
    }

    /// `n` events of an answered request ended as `status` (accepted,
    /// duplicate, invalid).
    pub fn events(&self, route: Route, status: &'static str, n: usize) {
        if n == 0 {
            return;
        }
        self.events
            .get_or_create(&EventLabels {
                route: route.as_str(),
                status,
            })
            .inc_by(n as u64);
    }

    /// One `EventLog::append` took `elapsed`.
    pub fn append_took(&self, elapsed: Duration) {
        self.append.observe(elapsed.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(metrics: &IngestMetrics) -> String {
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        out
    }

    #[test]
    fn answers_refusals_events_and_appends_show_with_their_labels() {
        let m = IngestMetrics::default();
        m.answered(Route::Webhooks, "stripe", "accepted");
        m.answered(Route::Webhooks, "stripe", "accepted");
        m.answered(Route::Webhooks, "whop", "duplicate");
        m.rejected(Route::Webhooks, "calendly", "invalid_signature");
        m.rejected(Route::Events, "api", "rate_limited");
        m.events(Route::Events, "accepted", 3);
        m.events(Route::Events, "invalid", 1);
        m.events(Route::Events, "duplicate", 0);
        m.append_took(Duration::from_millis(3));
        m.append_took(Duration::from_millis(40));

        let text = text(&m);
        for line in [
            r#"revstream_ingest_requests_total{route="webhooks",source="stripe",status="accepted"} 2"#,
            r#"revstream_ingest_requests_total{route="webhooks",source="whop",status="duplicate"} 1"#,
            r#"revstream_ingest_rejected_total{route="webhooks",source="calendly",reason="invalid_signature"} 1"#,
            r#"revstream_ingest_rejected_total{route="events",source="api",reason="rate_limited"} 1"#,
            r#"revstream_ingest_events_total{route="events",status="accepted"} 3"#,
            r#"revstream_ingest_events_total{route="events",status="invalid"} 1"#,
            "# TYPE revstream_ingest_append_duration_seconds histogram",
            "revstream_ingest_append_duration_seconds_count 2",
            r#"revstream_ingest_append_duration_seconds_bucket{le="0.004"} 1"#,
            r#"revstream_ingest_append_duration_seconds_bucket{le="0.064"} 2"#,
        ] {
            assert!(text.contains(line), "missing {line:?} in:\n{text}");
        }
        assert!(
            !text.contains(r#"status="duplicate"} 0"#),
            "zero counts create no series:\n{text}"
        );
        // Clones count into the same series.
        m.clone().answered(Route::Webhooks, "stripe", "accepted");
        assert!(text_contains(
            &m,
            r#"revstream_ingest_requests_total{route="webhooks",source="stripe",status="accepted"} 3"#
        ));
    }

    fn text_contains(m: &IngestMetrics, line: &str) -> bool {
        text(m).contains(line)
    }
}
