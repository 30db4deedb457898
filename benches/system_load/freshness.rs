//! Scenario 3: freshness under steady load — how long after `/v1/events`
//! answered 200 a batch shows in `/v1/metrics`.
//!
//! ```text
//!  T senders ─ POST /v1/events (B events, one steady rate) ─▶ ┌ ingest ─▶ LocalLog ─▶ Pipeline ┐ one process,
//!  T pollers ─ GET /v1/metrics every few ms ─────────────────▶ └ query ◀─ Tables ◀─ commits ◀──┘ as `revstream serve`
//! ```
//!
//! Every batch is B−1 events of the tenant's realistic stream plus one
//! marker: a payment of 1 cent on a day nothing else touches. A tenant's
//! batches go out one after another (each after the previous one's 200),
//! so its log partition holds them in order and a commit makes a prefix of
//! them visible: `cash_collected` on the marker day counts the visible
//! batches. Each batch's freshness is the first poll that counted it minus
//! the moment its 200 arrived; polls every [`POLL`] bound the resolution.
//!
//! The scenario runs twice with the same load: as `serve` wires it (the
//! query side answers from the pipeline's staged rows while each commit
//! runs), then as the reference, reading only the committed tables.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::ProgressBar;
use revstream_ingest::http::{IngestConfig, IngestState, finish, router};
use revstream_ingest::log::EventLog;
use revstream_ingest::log::local::{LocalLog, LocalLogOptions};
use revstream_pipeline::settings::RegistrySettings;
use revstream_pipeline::source::local::LocalSource;
use revstream_pipeline::{Pipeline, PipelineConfig, TableStore, table_root};
use revstream_query::{QueryConfig, QueryState, Tables, TablesOptions};
use revstream_registry::{MasterKey, NewTenant, Registry, Role};
use revstream_schemas::staged::StagedRows;
use serde_json::{Value, json};

use super::generator::{StreamSpec, tenant_events, tenant_id};
use super::latency::{Latencies, fmt_ms, thousands};
use super::loopback::LoopbackServer;
use super::report::{Outcome, Section, Target};
use super::settings::Settings;

const ADMIN_TOKEN: &str = "bench-admin-token-0123456789abcdef";
const MARKER_DAY: &str = "2030-01-01";
const POLL: Duration = Duration::from_millis(20);
/// After the last batch, how long everything may take to show up.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(120);
const TARGET_P99: Duration = Duration::from_secs(1);

/// One batch of one tenant.
#[derive(Debug, Clone, Copy)]
struct Batch {
    sent: Instant,
    accepted: Option<Instant>,
    visible: Option<Instant>,
}

struct TenantLoad {
    ingest_key: String,
    viewer_key: String,
    bodies: Vec<String>,
    batches: Arc<Mutex<Vec<Batch>>>,
}

/// How the query side of the measured stack sees the pipeline's work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reads {
    /// As `serve` wires it: each cycle's derived rows are staged for the
    /// query side before its Delta commits run.
    Staged,
    /// The committed tables only, refreshed on each commit (what a
    /// separate `query` node reads, without its refresh interval): the
    /// reference.
    Committed,
}

impl Reads {
    fn describe(self) -> &'static str {
        match self {
            Reads::Staged => "staged rows, then the tables (as `serve`)",
            Reads::Committed => "committed tables only (reference)",
        }
    }
}

/// One measured run of the scenario.
struct Measured {
    reads: Reads,
    commits: u64,
    send_elapsed: Duration,
    build_ms: f64,
    commit_ms: f64,
    longest_build_ms: f64,
    longest_commit_ms: f64,
    compactions: u64,
    measured_batches: u64,
    achieved: f64,
    acks: Latencies,
    freshness: Latencies,
    first_fifth: Latencies,
    last_fifth: Latencies,
}

pub(crate) async fn run(settings: &Settings, bar: &ProgressBar) -> anyhow::Result<Outcome> {
    let staged = measure(settings, bar, Reads::Staged).await?;
    let reference = measure(settings, bar, Reads::Committed).await?;
    Ok(report(settings, &staged, &reference))
}

async fn measure(settings: &Settings, bar: &ProgressBar, reads: Reads) -> anyhow::Result<Measured> {
    let dir = super::bench_dir("freshness")?;
    let tenants = settings.freshness_tenants;
    let batch = settings.freshness_batch;
    // Per tenant: one batch every `interval` gives the total rate.
    let interval = Duration::from_secs_f64(batch as f64 * tenants as f64 / settings.rate as f64);
    let batches_per_tenant =
        (settings.freshness_duration().as_secs_f64() / interval.as_secs_f64()).ceil() as usize + 1;

    bar.set_message("freshness: registering tenants and preparing batches");
    let registry = Registry::open_in_data_dir(dir.path(), MasterKey::generate()?).await?;
    let spec = StreamSpec::new(
        (batch - 1) * batches_per_tenant,
        settings.days,
        settings.seed,
    );
    let mut loads = Vec::new();
    for t in 0..tenants {
        let id = tenant_id("f", t)?;
        registry
            .create_tenant(NewTenant {
                id: id.clone(),
                name: None,
                timezone: None,
                churn_recognition: None,
            })
            .await?;
        let ingest_key = registry.create_key(&id, Role::Ingest).await?.key;
        let viewer_key = registry.create_key(&id, Role::Viewer).await?.key;
        let events = tenant_events(&spec, t)?;
        let mut bodies = Vec::with_capacity(batches_per_tenant);
        for (k, chunk) in events.chunks(batch - 1).enumerate() {
            let mut rows = chunk
                .iter()
                .map(serde_json::to_string)
                .collect::<Result<Vec<_>, _>>()?;
            rows.push(marker(k).to_string());
            bodies.push(format!("[{}]", rows.join(",")));
        }
        loads.push(TenantLoad {
            ingest_key,
            viewer_key,
            bodies,
            batches: Arc::new(Mutex::new(Vec::new())),
        });
    }

    // The stack, wired as `revstream serve` wires it.
    let log = LocalLog::open(
        dir.path().join("log"),
        settings.partitions,
        LocalLogOptions::default(),
    )
    .context("opening the local log")?;
    let root = table_root(
        dir.path()
            .join("tables")
            .to_str()
            .context("a UTF-8 temp dir")?,
    )?;
    let store = Arc::new(TableStore::open(&root, "local").await?);
    let mut pipeline = Pipeline::new(
        LocalSource::new(log.clone())?,
        store,
        Arc::new(RegistrySettings::new(registry.clone())),
        PipelineConfig::default(),
    );
    let staged = (reads == Reads::Staged).then(|| Arc::new(StagedRows::default()));
    if let Some(tier) = &staged {
        pipeline.stage_into(tier.clone());
    }
    let commits = pipeline.commits();
    let pipeline_stats = pipeline.stats();
    let stop_pipeline = Arc::new(AtomicBool::new(false));
    let pipeline_task = tokio::spawn(pipeline.run(stop_pipeline.clone()));
    let tables = Arc::new(
        Tables::open(
            root,
            TablesOptions {
                commits: Some(commits),
                staged,
                ..TablesOptions::default()
            },
        )
        .await?,
    );
    let event_log: Arc<dyn EventLog> = log.clone();
    let ingest = IngestState::new(
        registry.clone(),
        event_log,
        ADMIN_TOKEN.to_owned(),
        IngestConfig {
            rate_per_sec: 1e12,
            rate_burst: 1e12,
            ..IngestConfig::default()
        },
    );
    let query = QueryState::new(
        tables,
        ingest.auth(),
        registry.clone(),
        QueryConfig::default(),
    )?;
    let app = finish(
        router(ingest).merge(revstream_query::router(query)),
        Duration::from_secs(60),
    );
    let server = LoopbackServer::start(app).await?;
    let base = server.base.clone();
    let client = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(60))
        .build()?;

    bar.set_message(format!(
        "freshness, reading {}: {} events/s for {} s ({} s warm-up)",
        reads.describe(),
        thousands(settings.rate),
        settings.freshness_secs,
        settings.warmup_secs
    ));
    let started = Instant::now();
    let measured_from = started + Duration::from_secs(settings.warmup_secs);
    let deadline = started + settings.freshness_duration();
    let senders_done = Arc::new(AtomicBool::new(false));
    let mut senders = tokio::task::JoinSet::new();
    let mut pollers = tokio::task::JoinSet::new();
    let all_batches: Vec<_> = loads.iter().map(|l| l.batches.clone()).collect();
    for load in loads {
        let (sender_client, sender_base) = (client.clone(), base.clone());
        let batches = load.batches.clone();
        let ingest_key = load.ingest_key.clone();
        let bodies = load.bodies;
        senders.spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            for body in bodies {
                ticker.tick().await;
                if Instant::now() >= deadline {
                    break;
                }
                let sent = Instant::now();
                if let Ok(mut b) = batches.lock() {
                    b.push(Batch {
                        sent,
                        accepted: None,
                        visible: None,
                    });
                }
                let accepted =
                    post_batch(&sender_client, &sender_base, &ingest_key, body, batch).await?;
                if let Ok(mut b) = batches.lock()
                    && let Some(last) = b.last_mut()
                {
                    last.accepted = Some(accepted);
                }
            }
            anyhow::Ok(())
        });
        let (client, base, done) = (client.clone(), base.clone(), senders_done.clone());
        let batches = load.batches.clone();
        let viewer_key = load.viewer_key;
        pollers.spawn(async move { poll(&client, &base, &viewer_key, &batches, &done).await });
    }
    while let Some(joined) = senders.join_next().await {
        joined.context("a sender panicked")??;
    }
    let send_elapsed = started.elapsed();
    senders_done.store(true, Ordering::Relaxed);
    bar.set_message("freshness: waiting for the last batches to show");
    while let Some(joined) = pollers.join_next().await {
        joined.context("a poller panicked")??;
    }

    stop_pipeline.store(true, Ordering::Relaxed);
    pipeline_task
        .await
        .context("the pipeline task panicked")?
        .context("the pipeline failed")?;
    drop(client);
    server.stop().await;
    let commits = pipeline_stats.commits.load(Ordering::Relaxed);
    let per_commit_ms = |micros: &std::sync::atomic::AtomicU64| {
        micros.load(Ordering::Relaxed) as f64 / 1000.0 / commits.max(1) as f64
    };
    let build_ms = per_commit_ms(&pipeline_stats.build_micros);
    let commit_ms = per_commit_ms(&pipeline_stats.commit_micros);
    let longest_ms =
        |micros: &std::sync::atomic::AtomicU64| micros.load(Ordering::Relaxed) as f64 / 1000.0;
    let longest_build_ms = longest_ms(&pipeline_stats.longest_build_micros);
    let longest_commit_ms = longest_ms(&pipeline_stats.longest_commit_micros);
    let compactions = pipeline_stats.compactions.load(Ordering::Relaxed);

    // Only batches sent after the warm-up count.
    let mut freshness = Vec::new();
    let mut acks = Vec::new();
    let mut measured_batches = 0u64;
    // (sent, freshness) of every measured batch, sent counted from the
    // start of the window: for the fifths below and the trace.
    let mut timeline: Vec<(Duration, Duration)> = Vec::new();
    for batches in &all_batches {
        let batches = batches
            .lock()
            .map_err(|_| anyhow::anyhow!("a sender panicked"))?;
        for b in batches.iter().filter(|b| b.sent >= measured_from) {
            let (Some(accepted), Some(visible)) = (b.accepted, b.visible) else {
                bail!("a batch was neither answered nor seen");
            };
            measured_batches += 1;
            acks.push(accepted.saturating_duration_since(b.sent));
            // A poll may count a batch before its sender has read the 200.
            let fresh = visible.saturating_duration_since(accepted);
            freshness.push(fresh);
            timeline.push((b.sent.duration_since(measured_from), fresh));
        }
    }
    // Freshness of the batches sent in the first and in the last fifth of
    // the window: whether it holds steady as the tenants' history grows.
    let fifth = Duration::from_secs(settings.freshness_secs) / 5;
    let in_window = |keep: &dyn Fn(Duration) -> bool| {
        Latencies::new(
            timeline
                .iter()
                .filter(|(sent, _)| keep(*sent))
                .map(|&(_, fresh)| fresh)
                .collect(),
        )
    };
    let first_fifth = in_window(&|sent| sent < fifth);
    let last_fifth = in_window(&|sent| sent >= 4 * fifth);
    // The trace is of the run as `serve` wires it.
    if reads == Reads::Staged
        && let Ok(path) = std::env::var("REVSTREAM_BENCH_FRESHNESS_TRACE")
    {
        write_trace(&path, &timeline)?;
    }
    if measured_batches == 0 {
        bail!("no batch was sent after the warm-up: raise REVSTREAM_BENCH_FRESHNESS_SECS");
    }
    // Senders stop at the deadline: the measured window is exactly this long.
    let achieved = measured_batches as f64 * batch as f64 / settings.freshness_secs as f64;
    Ok(Measured {
        reads,
        commits,
        send_elapsed,
        build_ms,
        commit_ms,
        longest_build_ms,
        longest_commit_ms,
        compactions,
        measured_batches,
        achieved,
        acks: Latencies::new(acks),
        freshness: Latencies::new(freshness),
        first_fifth,
        last_fifth,
    })
}

/// The section and the target, from the run as `serve` wires it next to
/// the reference.
fn report(settings: &Settings, staged: &Measured, reference: &Measured) -> Outcome {
    let Measured {
        commits,
        send_elapsed,
        build_ms,
        commit_ms,
        longest_build_ms,
        longest_commit_ms,
        compactions,
        achieved,
        freshness,
        first_fifth,
        last_fifth,
        ..
    } = staged;
    let (tenants, batch) = (settings.freshness_tenants, settings.freshness_batch);
    let interval = Duration::from_secs_f64(batch as f64 * tenants as f64 / settings.rate as f64);
    let mut section = Section::new(
        "Freshness under steady load (scenario 3)",
        &[
            "queries read",
            "offered events/s",
            "achieved events/s",
            "batches measured",
            "POST p50 / p99 ms",
            "freshness p50 ms",
            "p99 ms",
            "max ms",
        ],
    );
    section.note(format!(
        "ingest, pipeline and query in one process as `revstream serve` wires them (local log with {} partitions, \
         Delta tables; queries answer from each cycle's derived rows, staged in memory, while its Delta commits \
         run, and from the refreshed tables once they land), default pipeline and query config. The reference \
         row runs the same stack, load and seed again right after, without the staged rows: queries read the \
         committed tables, refreshed on each commit",
        settings.partitions
    ));
    section.note(format!(
        "{tenants} tenants, each posting a batch of {batch} events (its realistic stream + 1 marker payment) every \
         {:.0} ms, one after another; {} s warm-up not counted, then {} s measured; {commits} pipeline commits \
         in {:.0} s",
        interval.as_secs_f64() * 1000.0,
        settings.warmup_secs,
        settings.freshness_secs,
        send_elapsed.as_secs_f64()
    ));
    section.note(format!(
        "freshness = first `/v1/metrics` poll (every {} ms per tenant, so up to that much is polling delay) \
         that counts the batch's marker − the moment its 200 arrived",
        POLL.as_millis()
    ));
    section.note(format!(
        "as `serve`, per pipeline commit, on average over the run: {build_ms:.0} ms deriving the touched tenants and \
         building batches, {commit_ms:.0} ms committing (Parquet encoding and Delta writes); an event waits \
         for the cycle under way to end, then for its own to be derived and staged (the commit runs after \
         that, so it delays the next cycle rather than this one's rows). Longest: {longest_build_ms:.0} ms deriving, \
         {longest_commit_ms:.0} ms committing (warm-up included); {compactions} compactions of `events` \
         partitions ran beside the cycles. The reference: {:.0} ms deriving, {:.0} ms committing, {} commits",
        reference.build_ms,
        reference.commit_ms,
        reference.commits,
    ));
    section.note(format!(
        "as `serve`, freshness p50 / p99 of the batches sent in the first fifth of the measured window: {} / {} ms; \
         in the last fifth: {} / {} ms (the reference: {} / {} and {} / {} ms). Each cycle derives its touched \
         tenants from all their events, so cycles lengthen as the tenants' history grows",
        fmt_ms(first_fifth.p50()),
        fmt_ms(first_fifth.p99()),
        fmt_ms(last_fifth.p50()),
        fmt_ms(last_fifth.p99()),
        fmt_ms(reference.first_fifth.p50()),
        fmt_ms(reference.first_fifth.p99()),
        fmt_ms(reference.last_fifth.p50()),
        fmt_ms(reference.last_fifth.p99()),
    ));
    section.note(format!(
        "freshness p50 / p99 as `serve` ÷ the reference: {:.2} / {:.2}",
        staged.freshness.p50() / reference.freshness.p50().max(f64::MIN_POSITIVE),
        staged.freshness.p99() / reference.freshness.p99().max(f64::MIN_POSITIVE),
    ));
    for run in [staged, reference] {
        section.row(vec![
            run.reads.describe().to_owned(),
            thousands(settings.rate),
            thousands(run.achieved as u64),
            thousands(run.measured_batches),
            format!("{} / {}", fmt_ms(run.acks.p50()), fmt_ms(run.acks.p99())),
            fmt_ms(run.freshness.p50()),
            fmt_ms(run.freshness.p99()),
            fmt_ms(run.freshness.max()),
        ]);
    }
    let p99 = freshness.p99();
    // The target holds only at the rate it names.
    let rate_held = *achieved >= 0.95 * settings.rate as f64;
    let target = Target::new(
        &format!(
            "Freshness p99 at {} events/s offered",
            thousands(settings.rate)
        ),
        "≤ 1 s at 5,000 events/s",
        format!(
            "p50 {} ms, p99 {} ms at {} events/s achieved",
            fmt_ms(freshness.p50()),
            fmt_ms(p99),
            thousands(*achieved as u64)
        ),
        // Below the target's rate the run says nothing about the target.
        (settings.rate >= 5_000).then_some(p99 <= TARGET_P99.as_secs_f64() * 1000.0 && rate_held),
    );
    Outcome {
        sections: vec![section],
        targets: vec![target],
    }
}

/// The marker event of batch `k`: 1 cent, on a day only markers use.
fn marker(k: usize) -> Value {
    let at = format!("{MARKER_DAY}T12:00:00Z");
    json!({"id": format!("marker_{k}"), "type": "payment.succeeded", "occurred_at": at,
        "source": "bench", "payment": {"id": format!("mk_{k}"), "amount": 1, "currency": "usd",
        "paid_at": at}})
}

/// Posts one batch; the instant its 200 arrived.
async fn post_batch(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    body: String,
    size: usize,
) -> anyhow::Result<Instant> {
    let response = client
        .post(format!("{base}/v1/events"))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .context("POST /v1/events")?;
    let status = response.status();
    let answer = response.bytes().await?;
    let accepted_at = Instant::now();
    let accepted = serde_json::from_slice::<Value>(&answer)
        .ok()
        .and_then(|v| v["accepted"].as_u64());
    if !status.is_success() || accepted != Some(size as u64) {
        bail!(
            "/v1/events: {status} {}",
            String::from_utf8_lossy(&answer)
                .chars()
                .take(400)
                .collect::<String>()
        );
    }
    Ok(accepted_at)
}

/// Polls the marker day's `cash_collected` until every batch sent is
/// visible; marks each batch at the first poll that counts it.
async fn poll(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    batches: &Mutex<Vec<Batch>>,
    senders_done: &AtomicBool,
) -> anyhow::Result<()> {
    let url = format!(
        "{base}/v1/metrics?from={MARKER_DAY}&to={MARKER_DAY}&metrics=cash_collected&currency=usd"
    );
    let mut done_at: Option<Instant> = None;
    loop {
        let finished = senders_done.load(Ordering::Relaxed);
        let response = client.get(&url).bearer_auth(key).send().await?;
        let status = response.status();
        let body = response.bytes().await?;
        let seen_at = Instant::now();
        if !status.is_success() {
            bail!(
                "/v1/metrics: {status} {}",
                String::from_utf8_lossy(&body)
                    .chars()
                    .take(400)
                    .collect::<String>()
            );
        }
        let answer: Value = serde_json::from_slice(&body).context("/v1/metrics: not JSON")?;
        let visible = answer["totals"]["cash_collected"].as_u64().unwrap_or(0) as usize;
        let all_visible = {
            let mut b = batches
                .lock()
                .map_err(|_| anyhow::anyhow!("a sender panicked"))?;
            if visible > b.len() {
                bail!(
                    "{visible} markers visible but only {} batches sent",
                    b.len()
                );
            }
            for batch in b.iter_mut().take(visible) {
                batch.visible.get_or_insert(seen_at);
            }
            visible == b.len()
        };
        if finished {
            if all_visible {
                return Ok(());
            }
            let since = *done_at.get_or_insert(seen_at);
            if since.elapsed() > DRAIN_TIMEOUT {
                bail!("batches still not visible {DRAIN_TIMEOUT:?} after the load stopped");
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Every measured batch as a CSV row: ms since the measured window began
/// when it was sent, and its freshness in ms.
fn write_trace(path: &str, timeline: &[(Duration, Duration)]) -> anyhow::Result<()> {
    let mut rows: Vec<(u128, u128)> = timeline
        .iter()
        .map(|(sent, fresh)| (sent.as_millis(), fresh.as_millis()))
        .collect();
    rows.sort_unstable();
    let mut csv = String::from("sent_ms,freshness_ms\n");
    for (sent, fresh) in rows {
        csv.push_str(&format!("{sent},{fresh}\n"));
    }
    std::fs::write(path, csv).with_context(|| format!("writing {path}"))
}
