//! Scenario 2: how fast the pipeline turns a backlog into committed tables.
//!
//! ```text
//!  generator ─▶ LocalLog (temp dir, pre-filled, not timed)
//!                 ├─▶ LocalSource drained alone ............ the ceiling: reading the log
//!                 └─▶ Pipeline::cycle until every event is committed (dedupe, derive,
//!                     Arrow, Delta commits with offsets, compaction as configured)
//! ```
//!
//! Both readers run over the same log in the same run, one after the other.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::ProgressBar;
use revstream_ingest::log::local::{LocalLog, LocalLogOptions};
use revstream_ingest::log::{EventLog, LogEnvelope, LogRecord};
use revstream_pipeline::settings::FixedSettings;
use revstream_pipeline::source::LogSource;
use revstream_pipeline::source::local::LocalSource;
use revstream_pipeline::{Pipeline, PipelineConfig, TableStore, table_root};
use revstream_schemas::{CanonicalEvent, TableName, TenantId};

use super::cpu::{CpuSnapshot, CpuUse};
use super::generator::{StreamSpec, stream};
use super::latency::thousands;
use super::report::{Outcome, Section, Target};
use super::settings::Settings;

/// Records per append while pre-filling (one fsync each).
const FILL_BATCH: usize = 1_000;
const TARGET_EVENTS_PER_SEC: f64 = 500_000.0;

pub(crate) async fn run(settings: &Settings, bar: &ProgressBar) -> anyhow::Result<Outcome> {
    let dir = super::bench_dir("pipeline")?;
    let spec = StreamSpec::new(settings.events_per_tenant, settings.days, settings.seed);
    bar.set_message(format!(
        "pipeline: generating {} tenants × {} events",
        settings.tenants, settings.events_per_tenant
    ));
    let events = {
        let tenants = settings.tenants;
        tokio::task::spawn_blocking(move || stream(&spec, "t", tenants)).await??
    };
    let total = events.len() as u64;
    let log = LocalLog::open(
        dir.path().join("log"),
        settings.partitions,
        LocalLogOptions::default(),
    )
    .context("opening the local log")?;
    prefill(&log, events, bar).await?;
    let log_bytes = dir_size(&dir.path().join("log"));

    // The ceiling: the same records read back with nothing else to do.
    bar.set_message("pipeline: draining the log raw (the ceiling)");
    let mut source = LocalSource::new(log.clone())?;
    let started = Instant::now();
    let mut read = 0u64;
    while read < total {
        let batch = source
            .next_batch(
                PipelineConfig::default().max_batch,
                Duration::from_millis(10),
            )
            .await?;
        if batch.records.is_empty() && batch.assigned.is_empty() {
            bail!("the raw reader stopped at {read} of {total} records");
        }
        read += batch.records.len() as u64;
    }
    let raw_elapsed = started.elapsed();
    drop(source);

    // The reference first: the same log, deriving on every cycle as the
    // pipeline did before it learnt to leave tenants for later on a backlog.
    let every_cycle = consume(
        &dir,
        &log,
        "every-cycle",
        PipelineConfig {
            backlog_derive_interval: Duration::ZERO,
            ..bench_config()
        },
        total,
        bar,
    )
    .await?;
    let shipped = consume(&dir, &log, "shipped", bench_config(), total, bar).await?;
    let max_batch = bench_config().max_batch;

    let raw_rate = total as f64 / raw_elapsed.as_secs_f64().max(1e-9);
    let rate = shipped.rate(total);

    let mut section = Section::new(
        "Pipeline: pre-filled log → committed tables (scenario 2)",
        &[
            "reader",
            "events",
            "seconds",
            "events/s",
            "vs raw read",
            "cycles / derivations",
            "derive + build / commit / rest s",
            "cores busy: process / machine",
        ],
    );
    section.note(format!(
        "{} events of {} tenants ({} per tenant over {} days: subscriptions with upgrades, downgrades and cancels, \
         payments with failures and refunds, booked calls with outcomes), {} log partitions, {:.0} MB of log",
        thousands(total),
        settings.tenants,
        thousands(settings.events_per_tenant as u64),
        settings.days,
        settings.partitions,
        log_bytes as f64 / 1e6
    ));
    section.note(format!(
        "pipeline: default config ({} records per cycle, compaction as shipped); each derivation derives a touched \
         tenant from its whole event set and rewrites its changed partitions. While a cycle reads a full batch \
         (a backlog) the shipped pipeline derives at most every {:.0} s and commits only events and offsets \
         in between; the reference row derives on every cycle (`backlog_derive_interval` 0). Both end with \
         identical tables: the run stops at the first derivation after the last event is committed",
        thousands(max_batch as u64),
        PipelineConfig::default().backlog_derive_interval.as_secs_f64()
    ));
    section.note(
        "time split: deriving and building batches runs on the pipeline's CPU threads (tenants spread over the cores); \
         committing is Parquet encoding and Delta writes; the rest is reading and decoding the log and dedupe (compaction runs beside the cycles, on the same cores)",
    );
    section.note(format!(
        "files per tenant partition after the shipped run: `events` max {}, mean {:.1} \
         over {} partitions; `payments` max {}",
        shipped.max_files, shipped.mean_files, shipped.partitions, shipped.max_payment_files
    ));
    section.row(vec![
        "raw LocalSource read (ceiling)".to_owned(),
        thousands(total),
        format!("{:.2}", raw_elapsed.as_secs_f64()),
        thousands(raw_rate as u64),
        "100 %".to_owned(),
        "-".to_owned(),
        "-".to_owned(),
        "-".to_owned(),
    ]);
    for (label, run) in [
        ("Pipeline, deriving every cycle (reference)", &every_cycle),
        ("Pipeline as shipped", &shipped),
    ] {
        section.row(vec![
            label.to_owned(),
            thousands(total),
            format!("{:.2}", run.elapsed.as_secs_f64()),
            thousands(run.rate(total) as u64),
            format!("{:.1} %", 100.0 * run.rate(total) / raw_rate.max(1e-9)),
            format!("{} / {}", run.cycles, run.derivations),
            format!(
                "{:.2} / {:.2} / {:.2}",
                run.build_secs,
                run.commit_secs,
                (run.elapsed.as_secs_f64() - run.build_secs - run.commit_secs).max(0.0)
            ),
            format!("{:.2} / {:.2}", run.cpu.process, run.cpu.machine),
        ]);
    }
    let target = Target::new(
        "Pipeline events/s (pre-filled log → committed tables)",
        "≥ 500,000 events/s",
        format!(
            "{} events/s ({:.1} % of the raw read's {}; {:.2}× deriving every cycle)",
            thousands(rate as u64),
            100.0 * rate / raw_rate.max(1e-9),
            thousands(raw_rate as u64),
            rate / every_cycle.rate(total).max(1e-9)
        ),
        Some(rate >= TARGET_EVENTS_PER_SEC),
    );
    Ok(Outcome {
        sections: vec![section],
        targets: vec![target],
    })
}

/// What one pipeline run over the pre-filled log measured.
struct Consumed {
    elapsed: Duration,
    cpu: CpuUse,
    cycles: u64,
    derivations: u64,
    build_secs: f64,
    commit_secs: f64,
    max_files: usize,
    mean_files: f64,
    partitions: usize,
    max_payment_files: usize,
}

impl Consumed {
    fn rate(&self, total: u64) -> f64 {
        total as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

fn bench_config() -> PipelineConfig {
    PipelineConfig {
        max_wait: Duration::from_millis(10),
        ..PipelineConfig::default()
    }
}

/// Runs a pipeline over the whole log into tables of its own, until every
/// event is committed and a derivation has followed the last of them.
async fn consume(
    dir: &tempfile::TempDir,
    log: &Arc<LocalLog>,
    name: &str,
    config: PipelineConfig,
    total: u64,
    bar: &ProgressBar,
) -> anyhow::Result<Consumed> {
    bar.set_message(format!("pipeline ({name}): consuming into Delta tables"));
    let root = table_root(
        dir.path()
            .join(format!("tables-{name}"))
            .to_str()
            .context("a UTF-8 temp dir")?,
    )?;
    let store = Arc::new(TableStore::open(&root, "local").await?);
    let mut pipeline = Pipeline::new(
        LocalSource::new(log.clone())?,
        store.clone(),
        Arc::new(FixedSettings::default()),
        config,
    );
    let stats = pipeline.stats();
    let stop = AtomicBool::new(false);
    let cpu_before = CpuSnapshot::now();
    let started = Instant::now();
    let mut cycles = 0u64;
    let mut derivations = 0u64;
    loop {
        let report = pipeline.cycle(&stop).await?;
        cycles += 1;
        derivations += u64::from(report.committed && report.derived);
        let committed = stats.events_committed.load(Ordering::Relaxed);
        bar.set_message(format!(
            "pipeline ({name}): {} / {} events committed",
            thousands(committed),
            thousands(total)
        ));
        if committed >= total && report.derived {
            break;
        }
        if report.records == 0 && !report.committed && !report.assigned {
            bail!("the pipeline stopped at {committed} of {total} events committed");
        }
    }
    let elapsed = started.elapsed();
    let cpu = CpuSnapshot::now().since(cpu_before, elapsed);
    let duplicates = stats.duplicates.load(Ordering::Relaxed);
    let undecodable = stats.undecodable.load(Ordering::Relaxed);
    if duplicates + undecodable > 0 {
        bail!(
            "{duplicates} duplicates and {undecodable} undecodable records in a stream of distinct events"
        );
    }
    let files = store.files_per_tenant(TableName::Events).await?;
    let payments_files = store.files_per_tenant(TableName::Payments).await?;
    let (max_files, mean_files) = spread(&files);
    let (max_payment_files, _) = spread(&payments_files);
    Ok(Consumed {
        elapsed,
        cpu,
        cycles,
        derivations,
        build_secs: stats.build_micros.load(Ordering::Relaxed) as f64 / 1e6,
        commit_secs: stats.commit_micros.load(Ordering::Relaxed) as f64 / 1e6,
        max_files,
        mean_files,
        partitions: files.len(),
        max_payment_files,
    })
}

async fn prefill(
    log: &Arc<LocalLog>,
    events: Vec<(TenantId, CanonicalEvent)>,
    bar: &ProgressBar,
) -> anyhow::Result<()> {
    let total = events.len();
    let received_at = chrono::Utc::now();
    let mut chunk: Vec<LogRecord> = Vec::with_capacity(FILL_BATCH);
    for (i, (tenant, event)) in events.into_iter().enumerate() {
        chunk.push(
            LogEnvelope {
                tenant,
                received_at,
                event,
            }
            .to_record(),
        );
        if chunk.len() == FILL_BATCH || i + 1 == total {
            log.append(std::mem::take(&mut chunk)).await?;
            if i % (FILL_BATCH * 50) < FILL_BATCH {
                bar.set_message(format!(
                    "pipeline: pre-filling the log {} / {}",
                    thousands(i as u64 + 1),
                    thousands(total as u64)
                ));
            }
        }
    }
    Ok(())
}

/// Max and mean of the per-partition counts.
fn spread(counts: &std::collections::BTreeMap<String, usize>) -> (usize, f64) {
    let max = counts.values().copied().max().unwrap_or(0);
    let mean = counts.values().sum::<usize>() as f64 / counts.len().max(1) as f64;
    (max, mean)
}

/// Bytes of the files under `dir`, recursively.
fn dir_size(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.metadata() {
                Ok(m) if m.is_dir() => stack.push(entry.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}
