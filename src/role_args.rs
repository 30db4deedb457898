//! Flag blocks shared by the role commands (`serve`, `ingest`).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use revstream_ingest::http::{IngestConfig, ServeOptions};
use revstream_ingest::log::EventLog;
use revstream_ingest::log::kafka::{KafkaConfig, KafkaLog};
use revstream_ingest::log::local::{LocalLog, LocalLogOptions};

/// Where the HTTP server listens.
#[derive(Debug, Clone, Args)]
pub(crate) struct HttpArgs {
    /// Address the HTTP API listens on.
    #[arg(
        long = "http",
        env = "REVSTREAM_HTTP",
        default_value = "127.0.0.1:8080"
    )]
    pub(crate) addr: SocketAddr,

    /// Longest time one request may take before it is answered 408.
    #[arg(long, env = "REVSTREAM_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub(crate) request_timeout_secs: u64,

    /// Longest a client may take to send a request's headers (and how long
    /// an idle kept-alive connection stays open) before it is dropped, so
    /// slow or silent clients cannot hold connections.
    #[arg(long, env = "REVSTREAM_HEADER_READ_TIMEOUT_SECS", default_value_t = 10)]
    pub(crate) header_read_timeout_secs: u64,
}

impl HttpArgs {
    /// Connection limits for [`serve_http`](revstream_ingest::http::serve_http).
    pub(crate) fn serve_options(&self) -> ServeOptions {
        ServeOptions {
            // Zero would drop every connection before its first byte.
            header_read_timeout: Duration::from_secs(self.header_read_timeout_secs.max(1)),
        }
    }

    /// The outermost request timeout for an app that serves queries: above
    /// the query timeout, so a slow query gets its own, more precise 408.
    pub(crate) fn timeout_above(&self, query: &QueryArgs) -> Duration {
        Duration::from_secs(self.request_timeout_secs.max(query.query_timeout_secs + 5))
    }
}

/// The Kafka event log.
#[derive(Debug, Clone, Args)]
pub(crate) struct KafkaArgs {
    /// Kafka bootstrap servers (host:port,…). Without it, `serve` uses the
    /// embedded durable log in the data dir.
    #[arg(long, env = "REVSTREAM_KAFKA")]
    pub(crate) kafka: Option<String>,

    /// Topic the events go to.
    #[arg(
        long,
        env = "REVSTREAM_KAFKA_TOPIC",
        default_value = "revstream.events"
    )]
    pub(crate) kafka_topic: String,

    /// Partitions of the topic when revstream creates it (the unit of
    /// pipeline parallelism). An existing topic keeps its count.
    #[arg(long, env = "REVSTREAM_KAFKA_PARTITIONS", default_value_t = 8)]
    pub(crate) kafka_partitions: i32,

    /// How long an append may wait for the broker before the request is
    /// answered 503.
    #[arg(long, env = "REVSTREAM_KAFKA_TIMEOUT_SECS", default_value_t = 10)]
    pub(crate) kafka_timeout_secs: u64,

    /// Extra librdkafka setting, KEY=VALUE, for the producer and the
    /// consumer (repeatable, or several separated by `;`): e.g.
    /// security.protocol=SASL_SSL;sasl.mechanisms=PLAIN.
    #[arg(
        long = "kafka-option",
        env = "REVSTREAM_KAFKA_OPTIONS",
        value_delimiter = ';',
        value_parser = parse_kafka_option
    )]
    pub(crate) kafka_options: Vec<(String, String)>,
}

fn parse_kafka_option(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.trim().to_owned()))
        }
        _ => Err(format!(
            "expected KEY=VALUE (a librdkafka setting), got {s:?}"
        )),
    }
}

impl KafkaArgs {
    pub(crate) fn source_config(
        &self,
        brokers: &str,
        group: &str,
    ) -> revstream_pipeline::source::kafka::KafkaSourceConfig {
        revstream_pipeline::source::kafka::KafkaSourceConfig {
            brokers: brokers.to_owned(),
            topic: self.kafka_topic.clone(),
            group_id: group.to_owned(),
            extra: self.kafka_options.clone(),
        }
    }

    pub(crate) async fn connect(&self, brokers: &str) -> anyhow::Result<Arc<dyn EventLog>> {
        let mut config = KafkaConfig::new(brokers);
        config.topic = self.kafka_topic.clone();
        config.partitions = self.kafka_partitions;
        config.message_timeout = Duration::from_secs(self.kafka_timeout_secs);
        config.extra = self.kafka_options.clone();
        let log = KafkaLog::connect(config)
            .await
            .with_context(|| format!("connecting to Kafka at {brokers}"))?;
        Ok(Arc::new(log))
    }
}

/// The embedded durable log of `serve`.
#[derive(Debug, Clone, Args)]
pub(crate) struct LocalLogArgs {
    /// Partitions of the embedded log (fixed once the log exists).
    #[arg(long, env = "REVSTREAM_LOG_PARTITIONS", default_value_t = 4)]
    pub(crate) log_partitions: u32,
}

impl LocalLogArgs {
    pub(crate) fn open(&self, data_dir: &Path) -> anyhow::Result<Arc<LocalLog>> {
        let dir = data_dir.join("log");
        let log = LocalLog::open(&dir, self.log_partitions, LocalLogOptions::default())
            .with_context(|| format!("opening the local event log at {}", dir.display()))?;
        Ok(log)
    }
}

/// Limits of the ingest routes.
#[derive(Debug, Clone, Args)]
pub(crate) struct IngestArgs {
    /// Largest webhook body in bytes (413 above).
    #[arg(long, env = "REVSTREAM_WEBHOOK_BODY_LIMIT", default_value_t = 1 << 20)]
    pub(crate) webhook_body_limit: usize,

    /// Largest /v1/events body in bytes (413 above).
    #[arg(long, env = "REVSTREAM_BATCH_BODY_LIMIT", default_value_t = 16 << 20)]
    pub(crate) batch_body_limit: usize,

    /// Most events in one /v1/events request.
    #[arg(long, env = "REVSTREAM_BATCH_MAX_EVENTS", default_value_t = 50_000)]
    pub(crate) batch_max_events: usize,

    /// Per-tenant sustained ingest rate (webhooks count 1, batches their
    /// rows); 429 with Retry-After above it.
    #[arg(long, env = "REVSTREAM_RATE_LIMIT", default_value_t = 50_000.0)]
    pub(crate) rate_limit: f64,

    /// Per-tenant burst allowance.
    #[arg(long, env = "REVSTREAM_RATE_BURST", default_value_t = 100_000.0)]
    pub(crate) rate_burst: f64,

    /// Sync pulls: a provider API's base URL instead of its production one,
    /// as PROVIDER=URL (repeatable, or comma-separated in the variable), for
    /// an egress proxy or a test double.
    #[arg(
        long = "sync-base-url",
        env = "REVSTREAM_SYNC_BASE_URLS",
        value_delimiter = ',',
        value_parser = parse_sync_base_url
    )]
    pub(crate) sync_base_urls: Vec<(String, String)>,
}

fn parse_sync_base_url(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((provider, url))
            if ["stripe", "whop", "calendly"].contains(&provider.trim())
                && (url.starts_with("http://") || url.starts_with("https://")) =>
        {
            Ok((provider.trim().to_owned(), url.trim().to_owned()))
        }
        _ => Err(format!(
            "{s:?} must read PROVIDER=URL with PROVIDER stripe, whop or calendly and an http(s) URL"
        )),
    }
}

impl IngestArgs {
    pub(crate) fn config(&self) -> IngestConfig {
        IngestConfig {
            webhook_body_limit: self.webhook_body_limit,
            batch_body_limit: self.batch_body_limit,
            batch_max_events: self.batch_max_events,
            rate_per_sec: self.rate_limit,
            rate_burst: self.rate_burst,
            sync_base_urls: self.sync_base_urls.iter().cloned().collect(),
            ..IngestConfig::default()
        }
    }
}

/// Where the tables live and how the pipeline batches.
#[derive(Debug, Clone, Args)]
pub(crate) struct TableArgs {
    /// Table location: a directory, or a URL delta-rs understands. `serve`
    /// defaults to `<data-dir>/tables`.
    #[arg(long, env = "REVSTREAM_TABLE_URI")]
    pub(crate) table_uri: Option<String>,

    /// Most events the pipeline reads and commits in one cycle.
    #[arg(long, env = "REVSTREAM_PIPELINE_MAX_BATCH", default_value_t = 100_000)]
    pub(crate) pipeline_max_batch: usize,

    /// While the pipeline catches up on a backlog (cycles that read a full
    /// batch), it commits events every cycle but derives the metric tables
    /// at most once per this many milliseconds; 0 derives every cycle.
    #[arg(
        long,
        env = "REVSTREAM_PIPELINE_BACKLOG_DERIVE_MS",
        default_value_t = 5_000
    )]
    pub(crate) pipeline_backlog_derive_ms: u64,

    /// Consumer group of the pipeline processes (Kafka only).
    #[arg(
        long,
        env = "REVSTREAM_KAFKA_GROUP",
        default_value = "revstream-pipeline"
    )]
    pub(crate) kafka_group: String,

    /// Compact an `events` tenant partition once it holds more files than
    /// this (one file lands per touched tenant per pipeline cycle).
    #[arg(long, env = "REVSTREAM_COMPACT_MAX_FILES", default_value_t = 16)]
    pub(crate) compact_max_files: usize,

    /// Minutes a replaced table file is kept for queries on older snapshots
    /// before vacuum deletes it.
    #[arg(long, env = "REVSTREAM_VACUUM_RETENTION_MINS", default_value_t = 60)]
    pub(crate) vacuum_retention_mins: u64,
}

impl TableArgs {
    /// The table root: `--table-uri`, else `<data-dir>/tables`.
    pub(crate) fn root(&self, data_dir: &Path) -> anyhow::Result<url::Url> {
        let location = match &self.table_uri {
            Some(uri) => uri.clone(),
            None => data_dir.join("tables").display().to_string(),
        };
        revstream_pipeline::table_root(&location)
            .with_context(|| format!("table location {location}"))
    }

    pub(crate) fn pipeline_config(&self) -> revstream_pipeline::PipelineConfig {
        let defaults = revstream_pipeline::PipelineConfig::default();
        revstream_pipeline::PipelineConfig {
            max_batch: self.pipeline_max_batch,
            backlog_derive_interval: Duration::from_millis(self.pipeline_backlog_derive_ms),
            maintenance: revstream_pipeline::MaintenancePolicy {
                max_files_per_partition: self.compact_max_files.max(1),
                vacuum_retention: Duration::from_secs(
                    self.vacuum_retention_mins.saturating_mul(60),
                ),
                ..defaults.maintenance.clone()
            },
            ..defaults
        }
    }
}

/// Limits of the query routes.
#[derive(Debug, Clone, Args)]
pub(crate) struct QueryArgs {
    /// Most rows in one SQL result (413 above, unless the request asks for
    /// truncation).
    #[arg(long, env = "REVSTREAM_QUERY_ROW_LIMIT", default_value_t = 100_000)]
    pub(crate) query_row_limit: usize,

    /// Longest one query may run (408 after).
    #[arg(long, env = "REVSTREAM_QUERY_TIMEOUT_SECS", default_value_t = 20)]
    pub(crate) query_timeout_secs: u64,

    /// Memory one query may use before spilling or failing, in MiB.
    #[arg(long, env = "REVSTREAM_QUERY_MEMORY_MB", default_value_t = 512)]
    pub(crate) query_memory_mb: usize,

    /// Queries running at once; more wait briefly, then get 503.
    #[arg(long, env = "REVSTREAM_QUERY_CONCURRENCY", default_value_t = 8)]
    pub(crate) query_concurrency: usize,

    /// Memory for the `/v1/metrics` indexes, in MiB: each tenant's daily
    /// sums kept in memory and rebuilt when its data changes (0: every
    /// request runs its queries instead).
    #[arg(long, env = "REVSTREAM_METRICS_INDEX_MB", default_value_t = 64)]
    pub(crate) metrics_index_mb: usize,

    /// A tenant with less data than this (MiB of its table files) is
    /// queried on one thread, which is faster on small data.
    #[arg(
        long,
        env = "REVSTREAM_QUERY_SINGLE_PARTITION_BELOW_MB",
        default_value_t = 16
    )]
    pub(crate) query_single_partition_below_mb: u64,
}

impl QueryArgs {
    pub(crate) fn config(&self) -> revstream_query::QueryConfig {
        revstream_query::QueryConfig {
            row_limit: self.query_row_limit,
            timeout: Duration::from_secs(self.query_timeout_secs),
            memory_limit: self.query_memory_mb << 20,
            max_concurrent: self.query_concurrency,
            metrics_index_bytes: self.metrics_index_mb << 20,
            single_partition_below_bytes: self.query_single_partition_below_mb << 20,
            ..revstream_query::QueryConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::QueryArgs;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        query: QueryArgs,
    }

    #[test]
    fn query_flags_reach_the_query_config() {
        let set = Cli::try_parse_from([
            "revstream",
            "--metrics-index-mb",
            "0",
            "--query-single-partition-below-mb",
            "2",
        ])
        .unwrap()
        .query
        .config();
        assert_eq!(set.metrics_index_bytes, 0);
        assert_eq!(set.single_partition_below_bytes, 2 << 20);
        let defaults = Cli::try_parse_from(["revstream"]).unwrap().query.config();
        assert_eq!(defaults.metrics_index_bytes, 64 << 20);
        assert_eq!(defaults.single_partition_below_bytes, 16 << 20);
    }
}
