//! The soak test of issue #9: the real `revstream serve` binary under mixed
//! load for half an hour, with its memory, file descriptors, CPU and the
//! latency of every route reported window by window, and a verdict on
//! whether memory stays flat.
//!
//! ```text
//!  this bench ──spawn──▶ revstream serve (temp data dir, free port, embedded log + SQLite + Delta tables)
//!     │  admin API: tenants, webhook secrets, keys
//!     ├─ signed Stripe / Whop / Calendly webhooks (+ provider retries) ─▶ /v1/webhooks/…
//!     ├─ producer batches, realistic streams (+ producer retries) ──────▶ /v1/events
//!     ├─ dashboards ────────────────────────────────────────────────────▶ /v1/metrics
//!     ├─ ad-hoc SQL ────────────────────────────────────────────────────▶ /v1/query
//!     └─ every window: /proc/PID (RSS, VmHWM, fds, threads, CPU) + /metrics (accepted, committed, lag,
//!        freshness) + the window's latencies ─▶ one row of SOAK.md
//! ```
//!
//! At the end the load stops, the pipeline drains, and the run fails
//! (non-zero exit, the report still written) on any failed request — a
//! transport error, a timeout, a non-2xx answer other than 429/503, an
//! answer that does not add up — or any lost event: the pipeline must have
//! committed exactly the distinct events the load had accepted, and the
//! `events` tables must hold them. Memory is flat when the median RSS of
//! the last third of the windows after the warm-up is within a tolerance
//! of the first third's; the verdict is always printed, with the slope in
//! MiB/hour and in bytes per committed event, and fails the run only with
//! `REVSTREAM_SOAK_STRICT_MEMORY=1`.
//!
//! ```sh
//! cargo bench --bench soak                  # 30 minutes, release; writes SOAK.md
//! # a debug smoke run in about three minutes:
//! REVSTREAM_SOAK_MINUTES=2 REVSTREAM_SOAK_WINDOW_SECS=10 REVSTREAM_SOAK_OUT=/tmp/soak.md \
//!   cargo bench --bench soak --profile dev
//! ```
//!
//! Progress goes to stderr (a bar on a terminal, one line per window
//! otherwise); the markdown goes to stdout and to SOAK.md.
//!
//! Knobs (environment, defaults in brackets): `REVSTREAM_SOAK_MINUTES`
//! [30], `REVSTREAM_SOAK_WINDOW_SECS` [60], `REVSTREAM_SOAK_WARMUP_SECS`
//! [a sixth of the run, at most 300]; load: `REVSTREAM_SOAK_RATE` new
//! events/s [200], `REVSTREAM_SOAK_WEBHOOK_SHARE` % of them as webhooks
//! [25], `REVSTREAM_SOAK_BATCH` events per batch [50],
//! `REVSTREAM_SOAK_DUPLICATE_PCT` % of deliveries and batches retried [5],
//! `REVSTREAM_SOAK_QPS` [20], `REVSTREAM_SOAK_SQL_SHARE` % of them SQL
//! [25], `REVSTREAM_SOAK_TENANTS` [8], `REVSTREAM_SOAK_CUSTOMERS` per
//! tenant in webhooks [500], `REVSTREAM_SOAK_DAYS` of producer history
//! [730], `REVSTREAM_SOAK_SEED` [42], `REVSTREAM_SOAK_MAX_IN_FLIGHT` per
//! stream [32], `REVSTREAM_SOAK_MAX_RSS_MB` (the run stops and fails
//! when the server passes it) [8192]; verdict: `REVSTREAM_SOAK_RSS_TOLERANCE_PCT` [10],
//! `REVSTREAM_SOAK_STRICT_MEMORY` [0]; `REVSTREAM_SOAK_SERVE_LOG` (the
//! server's `REVSTREAM_LOG`) [warn]; output: `REVSTREAM_SOAK_OUT` [SOAK.md
//! at the repo root].
//!
//! Files: `soak/settings` (knobs), `soak/server` (the child process),
//! `soak/setup` (tenants over the admin API), `soak/webhooks` (fixtures as
//! signed deliveries), `soak/producer` (batches), `soak/load` (the
//! streams), `soak/record` (latencies and failures per window),
//! `soak/probe` (/proc and /metrics), `soak/report`; shared:
//! `common/generator.rs`, `common/machine.rs`, `common/cpu.rs`,
//! `system_load/latency.rs`.

// The report is this program's output: it prints markdown on stdout.
#![allow(clippy::print_stdout)]

#[path = "common/cpu.rs"]
mod cpu;
#[path = "common/env.rs"]
mod env;
#[path = "common/generator.rs"]
mod generator;
#[path = "system_load/latency.rs"]
mod latency;
#[path = "soak/load.rs"]
mod load;
#[path = "common/machine.rs"]
mod machine;
#[path = "soak/probe.rs"]
mod probe;
#[path = "soak/producer.rs"]
mod producer;
#[path = "soak/record.rs"]
mod record;
#[path = "soak/report.rs"]
mod report;
#[path = "soak/server.rs"]
mod server;
#[path = "soak/settings.rs"]
mod settings;
#[path = "soak/setup.rs"]
mod setup;
#[path = "soak/webhooks.rs"]
mod webhooks;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use cpu::CpuSnapshot;
use latency::thousands;
use load::Load;
use probe::{Counters, ProcSample, Scrape, proc_sample, quantile_between};
use report::{Summary, Window};
use server::{Serve, disk_bytes};
use settings::Settings;

/// One request never waits longer than this; a stuck one is a failure.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// More failed requests than this end the run early.
const MAX_FAILURES: u64 = 1_000;
/// After the load, how long the pipeline may take to commit the rest.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(300);
/// Requests still out when the load stops get this long to finish.
const FINISH_TIMEOUT: Duration = Duration::from_secs(120);
const SHUTDOWN_GRACE: Duration = Duration::from_secs(60);
const MIB: f64 = 1024.0 * 1024.0;

fn main() -> ExitCode {
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("soak: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("soak: cannot start tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&settings)) {
        Ok((markdown, passed)) => {
            println!("{markdown}");
            if let Err(e) = std::fs::write(&settings.out, &markdown) {
                eprintln!("soak: cannot write {}: {e}", settings.out.display());
                return ExitCode::FAILURE;
            }
            eprintln!("soak: wrote {}", settings.out.display());
            if passed {
                ExitCode::SUCCESS
            } else {
                eprintln!("soak: FAILED (see the report)");
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("soak: FAILED: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The previous sample, for the deltas of the next window.
struct Previous {
    at: Instant,
    proc: ProcSample,
    cpu: CpuSnapshot,
    scrape: Scrape,
}

/// The markdown and whether the run passed.
async fn run(settings: &Settings) -> anyhow::Result<(String, bool)> {
    let load_before = loadavg();
    let started = Instant::now();

    let templates = webhooks::Templates::load()?;
    let batches_per_tenant = (settings.batch_rate() * settings.duration.as_secs_f64()
        / settings.tenants as f64)
        .ceil() as usize
        + 2;
    eprintln!(
        "soak: generating {} batches of {} events for {} tenants",
        thousands(batches_per_tenant as u64 * settings.tenants),
        settings.batch,
        settings.tenants
    );
    let (batches, facts) = producer::generate(
        settings.tenants,
        batches_per_tenant,
        settings.batch,
        settings.days,
        settings.seed,
    )?;

    let client = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        // Below the server's idle timeout, so a pooled connection is never
        // reused just as the server closes it.
        .pool_idle_timeout(Duration::from_secs(5))
        .timeout(REQUEST_TIMEOUT)
        .build()?;
    let mut serve = Serve::start()?;
    eprintln!(
        "soak: started revstream serve (pid {}) on {}",
        serve.pid(),
        serve.base
    );
    serve.wait_ready(&client).await?;
    let tenants = setup::tenants(&client, &serve.base, settings.tenants).await?;
    let pid = serve.pid();
    let start_proc = proc_sample(pid)?;

    let load = Arc::new(Load::new(
        client.clone(),
        serve.base.clone(),
        tenants,
        templates,
        batches,
        settings.clone(),
    ));
    let bar = ProgressBar::with_draw_target(
        Some(settings.duration.as_secs()),
        ProgressDrawTarget::stderr(),
    );
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} s {wide_msg}",
        )
        .context("the progress bar template")?,
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let say = |line: String| {
        // A hidden bar (stderr not a terminal) drops its printlns.
        if bar.is_hidden() {
            eprintln!("{line}");
        } else {
            bar.println(line);
        }
    };
    say(format!(
        "soak: {:.0} min of {:.0} new events/s and {:.0} queries/s on {} tenants; a row every {:.0} s",
        settings.duration.as_secs_f64() / 60.0,
        settings.rate,
        settings.qps,
        settings.tenants,
        settings.window.as_secs_f64()
    ));

    let stop = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let deadline = t0 + settings.duration;
    let load_task = tokio::spawn(load::run(load.clone(), deadline, stop.clone()));
    let mut problems: Vec<String> = Vec::new();
    let mut windows: Vec<Window> = Vec::new();
    let mut previous = Previous {
        at: t0,
        proc: start_proc,
        cpu: CpuSnapshot::now(),
        scrape: Scrape::fetch(&client, &serve.base).await?,
    };
    let mut boundary = (t0 + settings.window).min(deadline);
    'run: loop {
        // Every second: the bar, and whether the server is still there.
        loop {
            let now = Instant::now();
            if now >= boundary {
                break;
            }
            tokio::time::sleep_until((now + Duration::from_secs(1)).min(boundary).into()).await;
            bar.set_position(t0.elapsed().as_secs().min(settings.duration.as_secs()));
            if let Some(status) = serve.exited()? {
                problems.push(format!(
                    "revstream serve exited during the run ({status}); its log ends: {}",
                    serve.log_tail(10)
                ));
                break 'run;
            }
            if load.rec.failure_count() > MAX_FAILURES {
                problems.push(format!(
                    "more than {MAX_FAILURES} failed requests: stopped early"
                ));
                break 'run;
            }
            if let Ok(p) = proc_sample(pid) {
                if p.rss_bytes > settings.max_rss_bytes {
                    problems.push(format!(
                        "the server's RSS reached {:.0} MiB, above REVSTREAM_SOAK_MAX_RSS_MB: stopped early",
                        p.rss_bytes as f64 / MIB
                    ));
                    break 'run;
                }
                bar.set_message(format!(
                    "RSS {:.1} MiB · {} failures",
                    p.rss_bytes as f64 / MIB,
                    load.rec.failure_count()
                ));
            }
        }
        let window = match sample(&serve, &client, &load, t0, &mut previous).await {
            Ok(window) => window,
            Err(e) => {
                problems.push(format!("sampling the server failed: {e:#}"));
                break 'run;
            }
        };
        say(window.progress_line());
        windows.push(window);
        if boundary >= deadline {
            break;
        }
        boundary = (boundary + settings.window).min(deadline);
    }

    stop.store(true, Ordering::Relaxed);
    bar.set_message("waiting for the requests still out");
    if tokio::time::timeout(FINISH_TIMEOUT, load_task)
        .await
        .is_err()
    {
        problems.push(format!(
            "requests were still out {FINISH_TIMEOUT:?} after the load stopped"
        ));
    }
    // Retries and late answers after the last window count in the totals.
    let _ = load.rec.take_window();

    bar.set_message("draining the pipeline");
    let drain_started = Instant::now();
    let (final_counters, drained) = drain(&client, &serve.base).await;
    let drain = drained.then(|| drain_started.elapsed());
    let after_drain = proc_sample(pid).ok();
    let mut stored_events = Some(0);
    for tenant in &load.tenants {
        match load::stored_events(&load, tenant).await {
            Ok(n) => stored_events = stored_events.map(|s| s + n),
            Err(e) => {
                problems.push(format!("{e:#}"));
                stored_events = None;
                break;
            }
        }
    }

    bar.set_message("stopping the server");
    let shutdown = match serve.stop(SHUTDOWN_GRACE).await {
        Ok((Some(status), took)) if status.success() => {
            format!("SIGTERM → exit 0 in {:.1} s", took.as_secs_f64())
        }
        Ok((Some(status), took)) => {
            problems.push(format!("revstream serve ended with {status} on SIGTERM"));
            format!("SIGTERM → {status} in {:.1} s", took.as_secs_f64())
        }
        Ok((None, _)) => {
            problems.push(format!(
                "revstream serve did not stop within {SHUTDOWN_GRACE:?} of SIGTERM"
            ));
            format!("killed after {SHUTDOWN_GRACE:?} without exiting on SIGTERM")
        }
        Err(e) => {
            problems.push(format!("stopping revstream serve: {e:#}"));
            "unknown".to_owned()
        }
    };
    bar.finish_with_message("done");

    let failures = load.rec.failure_count();
    if failures > 0 {
        problems.push(format!("{failures} failed requests"));
    }
    let expected_events = load.rec.expected_events();
    let c = final_counters;
    if !drained {
        problems.push(format!(
            "the pipeline had not read and committed everything {DRAIN_TIMEOUT:?} after the load \
             ({} accepted, {} read, lag {})",
            c.accepted, c.records_read, c.lag
        ));
    }
    // A request that failed (a timeout above all) may have had its events
    // appended before it failed: those may or may not be committed.
    let in_doubt = load.rec.in_doubt_events();
    if c.committed < expected_events {
        problems.push(format!(
            "lost events: the load had {expected_events} distinct events accepted, the pipeline committed {}",
            c.committed
        ));
    } else if c.committed > expected_events + in_doubt {
        problems.push(format!(
            "the pipeline committed {} events, more than the {expected_events} accepted and the {in_doubt} \
             of failed requests together",
            c.committed
        ));
    }
    if c.records_read != c.accepted {
        problems.push(format!(
            "ingest appended {} events, the pipeline read {}",
            c.accepted, c.records_read
        ));
    }
    if c.undecodable > 0 {
        problems.push(format!("{} undecodable log records", c.undecodable));
    }
    if let Some(stored) = stored_events
        && stored != c.committed
    {
        problems.push(format!(
            "the events tables hold {stored} rows, the pipeline committed {}",
            c.committed
        ));
    }
    let memory = report::memory_verdict(settings, &windows);
    if settings.strict_memory && memory.flat == Some(false) {
        problems.push("memory is not flat (REVSTREAM_SOAK_STRICT_MEMORY=1)".to_owned());
    }
    eprintln!("soak: {}", memory.text.replace("**", ""));

    let summary = Summary {
        load_before,
        load_after: loadavg(),
        elapsed: started.elapsed(),
        tenants: settings.tenants,
        stream_customers: facts.customers,
        stream_events: facts.events,
        start: start_proc,
        after_drain,
        final_counters: c,
        expected_events,
        in_doubt_events: in_doubt,
        stored_events,
        drain,
        totals: load.rec.totals(),
        retries: load.rec.retries(),
        shutdown,
        log_lines: serve.log_counts(),
        data_dir: serve.data_dir.clone(),
        failure_samples: load.rec.failures(),
        passed: problems.is_empty(),
        problems,
        memory,
    };
    let passed = summary.passed;
    Ok((report::render(settings, &windows, &summary), passed))
}

/// One window: /proc, /metrics and the latencies since the last one.
async fn sample(
    serve: &Serve,
    client: &reqwest::Client,
    load: &Load,
    t0: Instant,
    previous: &mut Previous,
) -> anyhow::Result<Window> {
    let now = Instant::now();
    let proc = proc_sample(serve.pid())?;
    let cpu = CpuSnapshot::now();
    let routes = load.rec.take_window();
    let scrape = Scrape::fetch(client, &serve.base).await?;
    let counters = Counters::of(&scrape);
    let before = Counters::of(&previous.scrape);
    let elapsed = now - previous.at;
    let secs = elapsed.as_secs_f64().max(1e-9);
    let cpu_use = cpu.since(previous.cpu, elapsed);
    let freshness = {
        let name = "revstream_pipeline_freshness_seconds";
        let (a, b) = (previous.scrape.buckets(name), scrape.buckets(name));
        (
            quantile_between(&a, &b, 0.50),
            quantile_between(&a, &b, 0.99),
        )
    };
    let window = Window {
        at: (now - t0).as_secs_f64(),
        secs,
        proc,
        serve_cpu: (proc.cpu_secs - previous.proc.cpu_secs) / secs,
        bench_cpu: cpu_use.process,
        machine_cpu: cpu_use.machine,
        counters,
        accepted_delta: counters.accepted.saturating_sub(before.accepted),
        disk_bytes: disk_bytes(&serve.data_dir),
        routes,
        freshness,
    };
    *previous = Previous {
        at: now,
        proc,
        cpu,
        scrape,
    };
    Ok(window)
}

/// Waits until the pipeline has read everything ingest appended and its
/// counters stopped moving; the last counters and whether it got there.
async fn drain(client: &reqwest::Client, base: &str) -> (Counters, bool) {
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    let mut last: Option<Counters> = None;
    loop {
        if let Ok(scrape) = Scrape::fetch(client, base).await {
            let c = Counters::of(&scrape);
            let caught_up = c.records_read >= c.accepted && c.lag == 0;
            let settled = last
                .is_some_and(|l| l.committed == c.committed && l.records_read == c.records_read);
            if caught_up && settled {
                return (c, true);
            }
            last = Some(c);
        }
        if Instant::now() >= deadline {
            return (last.unwrap_or_default(), false);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}
