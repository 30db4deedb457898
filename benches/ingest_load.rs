//! Load harness for the ingest path: how many webhooks and events per
//! second one process takes, and how that compares with the event log's
//! own ceiling, measured in the same run.
//!
//! ```text
//!  N HTTP clients ──127.0.0.1──▶ axum ingest server (in process) ──append──▶ event log
//!   a) signed Stripe webhooks, one event each                                 (LocalLog in a
//!   b) /v1/events, batches of 1,000 canonical events                           temp dir, or Kafka
//!  N tasks ─────────────── EventLog::append, same envelopes ─────────────▶    with REVSTREAM_BENCH_KAFKA)
//!   c) the raw log with the same payloads, concurrency and batch size: the ceiling
//! ```
//!
//! Every scenario runs a warm-up, then a bounded measurement (time and
//! request count), and stops by itself. All traffic stays on 127.0.0.1.
//! The report is a markdown table on stdout; progress goes to stderr. Any
//! non-2xx answer (or a webhook not answered `accepted`, or a batch not
//! fully accepted) makes the run exit non-zero.
//!
//! ```sh
//! cargo bench --bench ingest_load
//! REVSTREAM_BENCH_KAFKA=127.0.0.1:9092 cargo bench --bench ingest_load
//! ```
//!
//! Files: `driver` (the bounded loops and latencies), `steps` (one request
//! or append per scenario), `workload` (bodies and envelopes), `report`;
//! shared with the other harnesses: `common/cpu.rs` (who used the cores)
//! and `common/machine.rs`.
//!
//! Knobs (environment): `REVSTREAM_BENCH_CONCURRENCY` (64),
//! `REVSTREAM_BENCH_SECS` (10 per scenario), `REVSTREAM_BENCH_WARMUP_SECS`
//! (2), `REVSTREAM_BENCH_TENANTS` (8), `REVSTREAM_BENCH_BATCH` (1000),
//! `REVSTREAM_BENCH_PARTITIONS` (4, local log), `REVSTREAM_BENCH_KAFKA`.

// The report is this program's output: it prints a table on stdout.
#![allow(clippy::print_stdout)]

/// The allocator `revstream` ships with (src/main.rs): the ingest server
/// runs in this process and should be measured as users run it.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[path = "common/cpu.rs"]
mod cpu;
#[path = "ingest_load/driver.rs"]
mod driver;
#[path = "common/env.rs"]
mod env;
#[path = "common/loopback.rs"]
mod loopback;
#[path = "common/machine.rs"]
mod machine;
#[path = "ingest_load/report.rs"]
mod report;
#[path = "ingest_load/steps.rs"]
mod steps;
#[path = "ingest_load/workload.rs"]
mod workload;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use revstream_ingest::http::{IngestConfig, IngestState, finish, router};
use revstream_ingest::log::EventLog;
use revstream_ingest::log::kafka::{KafkaConfig, KafkaLog};
use revstream_ingest::log::local::{LocalLog, LocalLogOptions};
use revstream_registry::{MasterKey, NewTenant, Registry, Role};
use revstream_schemas::TenantId;

use driver::measure;
use env::env_or;
use loopback::LoopbackServer;
use report::{Row, print_report};
use steps::{BatchStep, RawStep, WebhookStep};
use workload::{StripeTemplates, raw_batch_pool, raw_webhook_pool};

/// One request (or append) never waits longer than this; a stuck one is a failure.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const ADMIN_TOKEN: &str = "bench-admin-token-0123456789abcdef";

fn main() -> ExitCode {
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("ingest_load: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("ingest_load: cannot start tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(settings)) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(failures) => {
            eprintln!("ingest_load: FAILED: {failures} requests were not accepted (see above)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("ingest_load: FAILED: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug, Clone)]
struct Settings {
    concurrency: usize,
    duration: Duration,
    warmup: Duration,
    tenants: usize,
    batch_size: usize,
    local_partitions: u32,
    kafka: Option<String>,
}

impl Settings {
    fn from_env() -> anyhow::Result<Self> {
        let settings = Self {
            concurrency: env_or("REVSTREAM_BENCH_CONCURRENCY", 64)?,
            duration: Duration::from_secs(env_or("REVSTREAM_BENCH_SECS", 10)?),
            warmup: Duration::from_secs(env_or("REVSTREAM_BENCH_WARMUP_SECS", 2)?),
            tenants: env_or("REVSTREAM_BENCH_TENANTS", 8)?,
            batch_size: env_or("REVSTREAM_BENCH_BATCH", 1000)?,
            local_partitions: env_or("REVSTREAM_BENCH_PARTITIONS", 4)?,
            kafka: std::env::var("REVSTREAM_BENCH_KAFKA")
                .ok()
                .filter(|s| !s.trim().is_empty()),
        };
        if !(1..=4096).contains(&settings.concurrency) {
            bail!("REVSTREAM_BENCH_CONCURRENCY must be 1 to 4096");
        }
        if settings.duration.is_zero() || settings.duration > Duration::from_secs(3600) {
            bail!("REVSTREAM_BENCH_SECS must be 1 to 3600");
        }
        if settings.warmup > Duration::from_secs(600) {
            bail!("REVSTREAM_BENCH_WARMUP_SECS must be at most 600");
        }
        if !(1..=1000).contains(&settings.tenants) {
            bail!("REVSTREAM_BENCH_TENANTS must be 1 to 1000");
        }
        if !(1..=50_000).contains(&settings.batch_size) {
            bail!("REVSTREAM_BENCH_BATCH must be 1 to 50000");
        }
        if let Some(kafka) = &settings.kafka {
            // Only this machine is a target.
            let local = kafka.split(',').all(|a| {
                let host = a.trim().rsplit_once(':').map_or(a.trim(), |(h, _)| h);
                host == "localhost" || host.starts_with("127.") || host == "[::1]"
            });
            if !local {
                bail!(
                    "REVSTREAM_BENCH_KAFKA must name brokers on 127.0.0.1/localhost, got {kafka}"
                );
            }
        }
        Ok(settings)
    }
}

/// The log under test, kept concrete for the numbers only it knows.
enum Backend {
    Local(Arc<LocalLog>),
    Kafka(Arc<KafkaLog>),
}

impl Backend {
    fn log(&self) -> Arc<dyn EventLog> {
        match self {
            Backend::Local(log) => log.clone(),
            Backend::Kafka(log) => log.clone(),
        }
    }

    fn fsyncs(&self) -> Option<u64> {
        match self {
            Backend::Local(log) => Some(log.fsync_count()),
            Backend::Kafka(_) => None,
        }
    }
}

struct Tenant {
    id: TenantId,
    stripe_secret: String,
    ingest_key: String,
}

async fn run(settings: Settings) -> anyhow::Result<u64> {
    // Whatever else runs on the machine competes for the same cores.
    let load_before = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let dir = tempfile::Builder::new()
        .prefix("revstream-bench-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .context("creating the bench data dir")?;
    let backend = match &settings.kafka {
        None => {
            let path = dir.path().join("log");
            let partitions = settings.local_partitions;
            let log = tokio::task::spawn_blocking(move || {
                LocalLog::open(path, partitions, LocalLogOptions::default())
            })
            .await?
            .context("opening the local log")?;
            Backend::Local(log)
        }
        Some(brokers) => {
            let config = KafkaConfig {
                topic: unique_topic(),
                ..KafkaConfig::new(brokers.clone())
            };
            let log = KafkaLog::connect(config)
                .await
                .with_context(|| format!("connecting to Kafka at {brokers}"))?;
            Backend::Kafka(Arc::new(log))
        }
    };
    let log = backend.log();
    let registry = Registry::open_in_data_dir(dir.path(), MasterKey::generate()?).await?;
    let tenants = create_tenants(&registry, settings.tenants).await?;
    let server = start_server(registry, log.clone()).await?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(settings.concurrency)
        .timeout(REQUEST_TIMEOUT)
        .build()?;
    let tenants = Arc::new(tenants);
    let templates = Arc::new(StripeTemplates::load()?);
    let events = Arc::new(AtomicU64::new(0));

    let total = 4;

    let webhooks = Arc::new(WebhookStep {
        client: client.clone(),
        base: server.base.clone(),
        tenants: tenants.clone(),
        templates: templates.clone(),
        next: events.clone(),
    });
    let http_hooks = measure(
        &settings,
        &backend,
        1,
        total,
        "signed Stripe webhooks",
        webhooks,
    )
    .await?;

    let raw_hooks = Arc::new(RawStep::new(
        log.clone(),
        raw_webhook_pool(&tenants, &templates)?,
    ));
    let raw_hooks = measure(
        &settings,
        &backend,
        2,
        total,
        "raw log, 1 envelope per append",
        raw_hooks,
    )
    .await?;

    let batches = Arc::new(BatchStep {
        client: client.clone(),
        url: format!("{}/v1/events", server.base),
        tenants: tenants.clone(),
        batch_size: settings.batch_size,
        next: events.clone(),
    });
    let batch_name = format!("/v1/events, {} events per request", settings.batch_size);
    let http_batches = measure(&settings, &backend, 3, total, &batch_name, batches).await?;

    let raw_batches = Arc::new(RawStep::new(
        log.clone(),
        raw_batch_pool(&tenants, settings.batch_size)?,
    ));
    let raw_name = format!("raw log, {} envelopes per append", settings.batch_size);
    let raw_batches = measure(&settings, &backend, 4, total, &raw_name, raw_batches).await?;

    let rows = [
        Row::new(
            "HTTP: signed Stripe webhooks (1 event each)",
            &http_hooks,
            Some(&raw_hooks),
        ),
        Row::new(
            "raw log: append 1 envelope (ceiling for the row above)",
            &raw_hooks,
            None,
        ),
        Row::new(
            &format!(
                "HTTP: /v1/events, {} events per request",
                settings.batch_size
            ),
            &http_batches,
            Some(&raw_batches),
        ),
        Row::new(
            &format!(
                "raw log: append {} envelopes (ceiling for the row above)",
                settings.batch_size
            ),
            &raw_batches,
            None,
        ),
    ];

    // Idle keep-alive connections would hold up the graceful shutdown.
    drop(client);
    server.stop().await;
    print_report(&settings, &backend, dir.path(), load_before.trim(), &rows);

    let outcomes = [&http_hooks, &raw_hooks, &http_batches, &raw_batches];
    let failures: u64 = outcomes.iter().map(|o| o.failures).sum();
    for outcome in outcomes {
        for why in &outcome.first_failures {
            eprintln!("  failure: {why}");
        }
    }
    drop(log);
    drop(backend);
    Ok(failures)
}

async fn create_tenants(registry: &Registry, count: usize) -> anyhow::Result<Vec<Tenant>> {
    let mut tenants = Vec::with_capacity(count);
    for i in 0..count {
        let id = TenantId::parse(&format!("bench-{i:03}"))?;
        registry
            .create_tenant(NewTenant {
                id: id.clone(),
                name: None,
                timezone: None,
                churn_recognition: None,
            })
            .await?;
        let stripe_secret = format!("whsec_bench_stripe_secret_{i:03}");
        registry
            .add_webhook_secret(&id, "stripe", &stripe_secret)
            .await?;
        let ingest_key = registry.create_key(&id, Role::Ingest).await?.key;
        tenants.push(Tenant {
            id,
            stripe_secret,
            ingest_key,
        });
    }
    Ok(tenants)
}

fn unique_topic() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("revstream-bench-{}-{nanos:x}", std::process::id())
}

/// The ingest server on 127.0.0.1:0, wired like `revstream serve` and the
/// HTTP tests, with rate limits out of the way.
async fn start_server(
    registry: Registry,
    log: Arc<dyn EventLog>,
) -> anyhow::Result<LoopbackServer> {
    let config = IngestConfig {
        rate_per_sec: 1e12,
        rate_burst: 1e12,
        ..IngestConfig::default()
    };
    let state = IngestState::new(registry, log, ADMIN_TOKEN.to_owned(), config);
    LoopbackServer::start(finish(router(state), REQUEST_TIMEOUT)).await
}
