//! The pipeline's Prometheus metrics.
//!
//! ```text
//!  PipelineStats (atomics, read at scrape) ─▶ records_read, events_committed, duplicates, undecodable, commits, commit_failures
//!  derive + batches (CPU threads) ─▶ build_duration_seconds
//!  commit ─▶ commit_duration_seconds          commit time − each new event's received_at ─▶ freshness_seconds
//!  LogSource::lag() at the start of a cycle ─▶ consumer_lag_records{partition}
//! ```
//!
//! Freshness is measured at the commit: that is when an event becomes
//! visible. In `serve` the commit ticks the query side's watch channel, and
//! the next query refreshes its tables before planning, so it sees the
//! commit; a separate `query` node sees it within its refresh interval
//! (500 ms) on top. Measuring that last step on the query node would mean
//! reading `received_at` back out of the table files (compaction rewrites
//! them, so their stats say nothing about when they became visible), so it
//! is left out.
//!
//! `received_at` is stamped by the ingest process and compared with this
//! process's clock: across hosts, clock skew shows up here (negative
//! values count as 0).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::runner::PipelineStats;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PartitionLabels {
    partition: u32,
}

/// The pipeline metrics. Cheap to clone; clones share every series.
#[derive(Debug, Clone)]
pub struct PipelineMetrics {
    stats: Arc<PipelineStats>,
    build: Histogram,
    commit: Histogram,
    freshness: Histogram,
    lag: Family<PartitionLabels, Gauge>,
    /// The partitions `lag` has series for (called once per cycle, so the
    /// lock is never contended).
    lag_partitions: Arc<Mutex<Vec<u32>>>,
}

impl PipelineMetrics {
    /// Metrics over `stats` (its counters are read at each scrape).
    pub fn new(stats: Arc<PipelineStats>) -> Self {
        Self {
            stats,
            // 1 ms to ~65 s, both: a big tenant's derivation and a slow
            // object store commit are still in range.
            build: Histogram::new(exponential_buckets(0.001, 2.0, 17)),
            commit: Histogram::new(exponential_buckets(0.001, 2.0, 17)),
            // 10 ms to ~44 min: a pipeline catching up on a backlog too.
            freshness: Histogram::new(exponential_buckets(0.01, 2.0, 19)),
            lag: Family::default(),
            lag_partitions: Arc::default(),
        }
    }

    /// Adds these metrics to the process's registry (once per process).
    pub fn register(&self, registry: &mut Registry) {
        registry.register_collector(Box::new(StatsCollector(self.stats.clone())));
        registry.register_with_unit(
            "revstream_pipeline_build_duration",
            "Time one cycle spent deriving its touched tenants and building the Arrow batches to commit",
            Unit::Seconds,
            self.build.clone(),
        );
        registry.register_with_unit(
            "revstream_pipeline_commit_duration",
            "Time one successful table commit took (tables and offsets together)",
            Unit::Seconds,
            self.commit.clone(),
        );
        registry.register_with_unit(
            "revstream_pipeline_freshness",
            "Time from ingest accepting an event (received_at) to the commit that makes it visible to queries, per new event",
            Unit::Seconds,
            self.freshness.clone(),
        );
        registry.register(
            "revstream_pipeline_consumer_lag_records",
            "Records behind the end of the log, per partition this process owns, at the start of a cycle",
            self.lag.clone(),
        );
    }

    /// A cycle's rows were derived and built in `elapsed`.
    pub(crate) fn build_took(&self, elapsed: Duration) {
        let micros = micros(elapsed);
        self.stats.build_micros.fetch_add(micros, Ordering::Relaxed);
        self.stats
            .longest_build_micros
            .fetch_max(micros, Ordering::Relaxed);
        self.build.observe(elapsed.as_secs_f64());
    }

    /// A commit succeeded after `elapsed`.
    pub(crate) fn commit_took(&self, elapsed: Duration) {
        let micros = micros(elapsed);
        self.stats
            .last_commit_micros
            .store(micros, Ordering::Relaxed);
        self.stats
            .commit_micros
            .fetch_add(micros, Ordering::Relaxed);
        self.stats
            .longest_commit_micros
            .fetch_max(micros, Ordering::Relaxed);
        self.commit.observe(elapsed.as_secs_f64());
    }

    /// Events accepted by ingest at `received` became visible at `now`.
    pub(crate) fn visible(
        &self,
        received: impl Iterator<Item = DateTime<Utc>>,
        now: DateTime<Utc>,
    ) {
        for at in received {
            let seconds = (now - at).num_microseconds().unwrap_or(i64::MAX).max(0) as f64 / 1e6;
            self.freshness.observe(seconds);
        }
    }

    /// The lag of every owned partition; partitions not listed (given up
    /// in a rebalance) disappear from the output.
    pub(crate) fn set_lag(&self, lag: &[(u32, u64)]) {
        let mut reported = self
            .lag_partitions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for gone in reported
            .iter()
            .filter(|p| !lag.iter().any(|(q, _)| q == *p))
        {
            self.lag.remove(&PartitionLabels { partition: *gone });
        }
        reported.clear();
        for &(partition, records) in lag {
            reported.push(partition);
            self.lag
                .get_or_create(&PartitionLabels { partition })
                .set(i64::try_from(records).unwrap_or(i64::MAX));
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// The runner's counters, encoded at scrape time: the runner keeps counting
/// into its atomics and pays nothing more for `/metrics`.
#[derive(Debug)]
struct StatsCollector(Arc<PipelineStats>);

impl Collector for StatsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = &self.0;
        let counters: [(&str, &str, &AtomicU64); 8] = [
            (
                "revstream_pipeline_records_read",
                "Log records read by the pipeline",
                &s.records_read,
            ),
            (
                "revstream_pipeline_events_committed",
                "New distinct events committed to the tables",
                &s.events_committed,
            ),
            (
                "revstream_pipeline_duplicates",
                "Records dropped as duplicates of events already in the tables (redelivery, provider retries)",
                &s.duplicates,
            ),
            (
                "revstream_pipeline_undecodable",
                "Log records skipped because they are not a valid envelope",
                &s.undecodable,
            ),
            (
                "revstream_pipeline_commits",
                "Successful table commits",
                &s.commits,
            ),
            (
                "revstream_pipeline_commit_failures",
                "Failed table commit attempts (retried with backoff)",
                &s.commit_failures,
            ),
            (
                "revstream_pipeline_compactions",
                "Compactions of events partitions that rewrote at least one partition",
                &s.compactions,
            ),
            (
                "revstream_pipeline_compaction_failures",
                "Compactions that failed (logged, retried at the next due time)",
                &s.compaction_failures,
            ),
        ];
        for (name, help, value) in counters {
            let counter = ConstCounter::new(value.load(Ordering::Relaxed));
            let metric = encoder.encode_descriptor(name, help, None, counter.metric_type())?;
            counter.encode(metric)?;
        }
        let held = ConstGauge::new(
            i64::try_from(s.state_events.load(Ordering::Relaxed)).unwrap_or(i64::MAX),
        );
        held.encode(encoder.encode_descriptor(
            "revstream_pipeline_state_events",
            "Events held in the pipeline's per-tenant state (every tenant is derived from all its events)",
            None,
            held.metric_type(),
        )?)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(metrics: &PipelineMetrics) -> String {
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        out
    }

    fn assert_lines(text: &str, lines: &[&str]) {
        for line in lines {
            assert!(text.contains(line), "missing {line:?} in:\n{text}");
        }
    }

    #[test]
    fn counters_histograms_and_lag_show_with_their_labels() {
        let stats = Arc::new(PipelineStats::default());
        let m = PipelineMetrics::new(stats.clone());
        stats.records_read.fetch_add(5, Ordering::Relaxed);
        stats.events_committed.fetch_add(4, Ordering::Relaxed);
        stats.duplicates.fetch_add(1, Ordering::Relaxed);
        stats.commits.fetch_add(2, Ordering::Relaxed);
        stats.state_events.store(4, Ordering::Relaxed);
        m.commit_took(Duration::from_millis(30));
        m.build_took(Duration::from_millis(3));
        let now = Utc::now();
        m.visible(
            [
                now - chrono::Duration::milliseconds(50),
                now - chrono::Duration::seconds(3),
                // Clock skew: received "after" the commit counts as 0.
                now + chrono::Duration::seconds(1),
            ]
            .into_iter(),
            now,
        );
        m.set_lag(&[(0, 7), (3, 0)]);
        assert_eq!(stats.build_micros.load(Ordering::Relaxed), 3_000);
        assert_eq!(stats.commit_micros.load(Ordering::Relaxed), 30_000);
        assert_eq!(stats.last_commit_micros.load(Ordering::Relaxed), 30_000);

        assert_lines(
            &text(&m),
            &[
                "revstream_pipeline_records_read_total 5",
                "revstream_pipeline_events_committed_total 4",
                "revstream_pipeline_duplicates_total 1",
                "revstream_pipeline_undecodable_total 0",
                "revstream_pipeline_commits_total 2",
                "revstream_pipeline_commit_failures_total 0",
                "revstream_pipeline_compactions_total 0",
                "revstream_pipeline_state_events 4",
                "revstream_pipeline_commit_duration_seconds_count 1",
                r#"revstream_pipeline_commit_duration_seconds_bucket{le="0.032"} 1"#,
                r#"revstream_pipeline_commit_duration_seconds_bucket{le="0.016"} 0"#,
                "revstream_pipeline_build_duration_seconds_count 1",
                r#"revstream_pipeline_build_duration_seconds_bucket{le="0.004"} 1"#,
                r#"revstream_pipeline_build_duration_seconds_bucket{le="0.002"} 0"#,
                "revstream_pipeline_freshness_seconds_count 3",
                r#"revstream_pipeline_freshness_seconds_bucket{le="0.01"} 1"#,
                r#"revstream_pipeline_freshness_seconds_bucket{le="0.08"} 2"#,
                r#"revstream_pipeline_freshness_seconds_bucket{le="5.12"} 3"#,
                r#"revstream_pipeline_consumer_lag_records{partition="0"} 7"#,
                r#"revstream_pipeline_consumer_lag_records{partition="3"} 0"#,
            ],
        );

        // Counters are read live; a partition given up disappears.
        stats.records_read.fetch_add(1, Ordering::Relaxed);
        m.set_lag(&[(0, 2)]);
        let after = text(&m);
        assert_lines(
            &after,
            &[
                "revstream_pipeline_records_read_total 6",
                r#"revstream_pipeline_consumer_lag_records{partition="0"} 2"#,
            ],
        );
        assert!(!after.contains(r#"partition="3""#), "{after}");
    }
}
