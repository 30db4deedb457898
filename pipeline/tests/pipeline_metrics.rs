//! The pipeline's Prometheus metrics on real parts (the embedded local log,
//! Delta tables in a temp dir): consumer lag before and after a cycle,
//! commit latency, freshness and the counters, as a scrape shows them.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns unwrap too

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use prometheus_client::registry::Registry;
use revstream_ingest::log::local::{LocalLog, LocalLogOptions};
use revstream_ingest::log::{EventLog, LogEnvelope, partition_for};
use revstream_pipeline::settings::FixedSettings;
use revstream_pipeline::source::local::LocalSource;
use revstream_pipeline::telemetry::PipelineMetrics;
use revstream_pipeline::{Pipeline, PipelineConfig, TableStore, table_root};
use revstream_schemas::{CanonicalEvent, TenantId};
use serde_json::json;

fn payment(id: &str) -> CanonicalEvent {
    let v = json!({"id": id, "type": "payment.succeeded", "occurred_at": "2026-01-05T11:00:00Z",
        "source": "stripe", "payment": {"id": format!("ch_{id}"), "amount": 4900, "currency": "usd",
        "paid_at": "2026-01-05T11:00:00Z"}});
    CanonicalEvent::from_json(v.to_string().as_bytes()).unwrap()
}

/// Appends `ids` for `tenant`, accepted by "ingest" `age` ago.
async fn append(log: &LocalLog, tenant: &str, ids: &[&str], age: chrono::Duration) {
    let tenant = TenantId::parse(tenant).unwrap();
    let records = ids
        .iter()
        .map(|id| {
            LogEnvelope {
                tenant: tenant.clone(),
                received_at: chrono::Utc::now() - age,
                event: payment(id),
            }
            .to_record()
        })
        .collect();
    log.append(records).await.unwrap();
}

fn scrape(metrics: &PipelineMetrics) -> String {
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    text
}

fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn lag_commits_and_freshness_are_measured() {
    let (log_dir, tables) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let log = LocalLog::open(log_dir.path(), 2, LocalLogOptions::default()).unwrap();
    let root = table_root(tables.path().to_str().unwrap()).unwrap();
    let store = Arc::new(TableStore::open(&root, "local").await.unwrap());
    let mut pipeline = Pipeline::new(
        LocalSource::new(log.clone()).unwrap(),
        store,
        Arc::new(FixedSettings::default()),
        PipelineConfig::default(),
    );
    let metrics = pipeline.metrics();
    let stop = AtomicBool::new(false);
    let p = partition_for("acme", 2);
    let lag = |text: &str, partition: u32| {
        value(
            text,
            &format!(r#"revstream_pipeline_consumer_lag_records{{partition="{partition}"}}"#),
        )
    };

    // First cycle: the source reports ownership; nothing is read yet.
    append(&log, "acme", &["a", "b", "c"], chrono::Duration::seconds(2)).await;
    let report = pipeline.cycle(&stop).await.unwrap();
    assert!(report.assigned);
    // Second cycle: lag is measured before reading (3 behind), then all is
    // committed, with a duplicate in the same batch dropped.
    append(&log, "acme", &["a"], chrono::Duration::zero()).await;
    let report = pipeline.cycle(&stop).await.unwrap();
    assert_eq!((report.records, report.new_events), (4, 3));
    let text = scrape(&metrics);
    assert_eq!(lag(&text, p), Some(4.0), "{text}");
    assert_eq!(lag(&text, 1 - p), Some(0.0), "{text}");
    assert_eq!(
        value(&text, "revstream_pipeline_records_read_total"),
        Some(4.0)
    );
    assert_eq!(
        value(&text, "revstream_pipeline_events_committed_total"),
        Some(3.0)
    );
    assert_eq!(
        value(&text, "revstream_pipeline_duplicates_total"),
        Some(1.0)
    );
    assert_eq!(value(&text, "revstream_pipeline_commits_total"), Some(1.0));
    assert_eq!(
        value(&text, "revstream_pipeline_commit_duration_seconds_count"),
        Some(1.0)
    );
    // Three new events, each accepted 2 s before it was committed.
    assert_eq!(
        value(&text, "revstream_pipeline_freshness_seconds_count"),
        Some(3.0)
    );
    assert_eq!(
        value(
            &text,
            r#"revstream_pipeline_freshness_seconds_bucket{le="1.28"}"#
        ),
        Some(0.0),
        "{text}"
    );
    let sum = value(&text, "revstream_pipeline_freshness_seconds_sum").unwrap();
    assert!((6.0..60.0).contains(&sum), "freshness sum {sum}");

    // Caught up: the next cycle measures no lag.
    pipeline.cycle(&stop).await.unwrap();
    assert_eq!(lag(&scrape(&metrics), p), Some(0.0));
}
