//! The system load harness: the whole of revstream under realistic
//! multi-tenant load, measured against the targets of issue #7, with the
//! results written to BENCHMARKS.md.
//!
//! ```text
//!  generator (tenants, customers, subscription lifecycles, payments, refunds, calls; seeded)
//!     │
//!     ├─ 2 pipeline  : pre-filled LocalLog ─▶ Pipeline ─▶ Delta tables       (vs draining the log raw)
//!     ├─ 3 freshness : POST /v1/events at a steady rate ─▶ serve-like stack ─▶ GET /v1/metrics (accepted → visible)
//!     ├─ 4 query     : a busy tenant's /v1/metrics and SQL at concurrency 1, 16 (vs DuckDB on the same Parquet)
//!     └─ 5 tenants   : the same queries at 10, 1,000, 10,000 tenants
//! ```
//!
//! Scenario 1 (webhooks and batches next to the raw producer) is
//! `benches/ingest_load.rs`. Everything runs in this process on 127.0.0.1
//! and in temp dirs under the target dir. Progress goes to stderr; the
//! markdown goes to stdout and to BENCHMARKS.md. Any failed request, query
//! error or lost event ends the run with a non-zero status and no report.
//!
//! ```sh
//! cargo bench --bench system_load                                  # everything (release)
//! REVSTREAM_BENCH_SCENARIOS=pipeline,query cargo bench --bench system_load
//! # a debug smoke run in a couple of minutes:
//! REVSTREAM_BENCH_TENANTS=10 REVSTREAM_BENCH_EVENTS_PER_TENANT=2000 REVSTREAM_BENCH_BUSY_EVENTS=3000 \
//! REVSTREAM_BENCH_QUERY_REQUESTS=20 REVSTREAM_BENCH_TENANT_STEPS=10,100,300 REVSTREAM_BENCH_RATE=500 \
//! REVSTREAM_BENCH_FRESHNESS_SECS=10 REVSTREAM_BENCH_WARMUP_SECS=2 REVSTREAM_BENCH_OUT=/tmp/bench.md \
//!   cargo bench --bench system_load --profile dev
//! ```
//!
//! Knobs (environment, defaults in brackets): `REVSTREAM_BENCH_SCENARIOS`
//! [pipeline,freshness,query,tenants], `REVSTREAM_BENCH_SEED` [42],
//! `REVSTREAM_BENCH_DAYS` of history [365], `REVSTREAM_BENCH_PARTITIONS` of
//! the local log [4]; pipeline: `REVSTREAM_BENCH_TENANTS` [100],
//! `REVSTREAM_BENCH_EVENTS_PER_TENANT` [10000]; freshness:
//! `REVSTREAM_BENCH_RATE` events/s [5000], `REVSTREAM_BENCH_BATCH` [100],
//! `REVSTREAM_BENCH_FRESHNESS_TENANTS` [10], `REVSTREAM_BENCH_FRESHNESS_SECS`
//! [30], `REVSTREAM_BENCH_WARMUP_SECS` [5]; queries:
//! `REVSTREAM_BENCH_BUSY_EVENTS` [20000], `REVSTREAM_BENCH_SMALL_EVENTS` per
//! small tenant [4], `REVSTREAM_BENCH_QUERY_REQUESTS` per query and
//! concurrency [200], `REVSTREAM_BENCH_TENANT_STEPS` [10,1000,10000],
//! `REVSTREAM_BENCH_PYTHON` with the duckdb package [python3]; output:
//! `REVSTREAM_BENCH_OUT` [BENCHMARKS.md at the repo root]; diagnostics:
//! `REVSTREAM_BENCH_LOG` (a tracing filter for the services' logs on
//! stderr, e.g. `revstream_pipeline=debug`), `REVSTREAM_BENCH_FRESHNESS_TRACE`
//! (a CSV file of every measured batch: sent at, freshness).

// The report is this program's output: it prints markdown on stdout.
#![allow(clippy::print_stdout)]

/// The allocator `revstream` ships with (src/main.rs): the harness runs
/// the pipeline, ingest and query in this process, and should measure
/// them as users run them, not on glibc's malloc (which took a third of
/// the pipeline's time in a profile).
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[path = "common/cpu.rs"]
mod cpu;
#[path = "system_load/duckdb.rs"]
mod duckdb;
#[path = "common/env.rs"]
mod env;
#[path = "system_load/freshness.rs"]
mod freshness;
#[path = "common/generator.rs"]
mod generator;
#[path = "system_load/latency.rs"]
mod latency;
#[path = "common/loopback.rs"]
mod loopback;
#[path = "common/machine.rs"]
mod machine;
#[path = "system_load/pipeline_run.rs"]
mod pipeline_run;
#[path = "system_load/queries.rs"]
mod queries;
#[path = "system_load/report.rs"]
mod report;
#[path = "system_load/requests.rs"]
mod requests;
#[path = "system_load/settings.rs"]
mod settings;
#[path = "system_load/stack.rs"]
mod stack;
#[path = "system_load/tenants.rs"]
mod tenants;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use report::Outcome;
use settings::{Scenario, Settings};

fn main() -> ExitCode {
    // The services' own logs, for a closer look at a run:
    // REVSTREAM_BENCH_LOG=revstream_pipeline=debug shows every cycle.
    if let Ok(filter) = std::env::var("REVSTREAM_BENCH_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("system_load: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("system_load: cannot start tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&settings)) {
        Ok(markdown) => {
            println!("{markdown}");
            match std::fs::write(&settings.out, &markdown) {
                Ok(()) => {
                    eprintln!("system_load: wrote {}", settings.out.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("system_load: cannot write {}: {e}", settings.out.display());
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("system_load: FAILED: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(settings: &Settings) -> anyhow::Result<String> {
    // Whatever else runs on the machine competes for the same cores.
    let load_before = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let started = Instant::now();
    let bar = ProgressBar::with_draw_target(
        Some(settings.scenarios.len() as u64),
        ProgressDrawTarget::stderr(),
    );
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] scenario {pos}/{len} {wide_msg}",
        )
        .context("the progress bar template")?,
    );
    bar.enable_steady_tick(Duration::from_millis(200));

    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut query_stack = None;
    for &scenario in &settings.scenarios {
        bar.set_message(format!("{}: starting", scenario.name()));
        let outcome = match scenario {
            Scenario::Pipeline => pipeline_run::run(settings, &bar).await,
            Scenario::Freshness => freshness::run(settings, &bar).await,
            Scenario::Query => match queries::run(settings, &bar).await {
                Ok((outcome, stack)) => {
                    query_stack = Some(stack);
                    Ok(outcome)
                }
                Err(e) => Err(e),
            },
            // Scenario 4's tables are its first step when both run.
            Scenario::Tenants => tenants::run(settings, query_stack.take(), &bar).await,
        }
        .with_context(|| format!("scenario {}", scenario.name()));
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(e) => {
                bar.abandon_with_message(format!("{} failed", scenario.name()));
                return Err(e);
            }
        };
        for target in &outcome.targets {
            let line = format!("  {}: {}", target.name, target.measured);
            // A hidden bar (stderr not a terminal) drops its printlns.
            if bar.is_hidden() {
                eprintln!("{line}");
            } else {
                bar.println(line);
            }
        }
        outcomes.push(outcome);
        bar.inc(1);
    }
    if let Some(stack) = query_stack {
        stack.stop().await;
    }
    bar.finish_with_message("done");
    Ok(report::render(
        settings,
        &outcomes,
        load_before.trim(),
        started.elapsed(),
    ))
}

/// A fresh temp dir for one scenario, under the target dir (a real disk,
/// not a tmpfs that would flatter fsync).
pub(crate) fn bench_dir(name: &str) -> anyhow::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(&format!("revstream-system-load-{name}-"))
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .context("creating a bench temp dir")
}
