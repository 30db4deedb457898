//! The bounded load loops: N workers repeat a step until the deadline (or
//! a request cap), recording each latency.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;

use super::cpu::{CpuSnapshot, CpuUse};
use super::steps::Step;
use super::{Backend, REQUEST_TIMEOUT, Settings};

/// Hard bound on requests per scenario, whatever the duration.
const MAX_REQUESTS: u64 = 20_000_000;

#[derive(Default)]
pub(crate) struct Outcome {
    pub(crate) requests: u64,
    pub(crate) events: u64,
    pub(crate) elapsed: Duration,
    /// Sorted, microseconds.
    pub(crate) latencies_us: Vec<u64>,
    pub(crate) failures: u64,
    pub(crate) first_failures: Vec<String>,
    /// Cores busy during the measured run (not the warm-up).
    pub(crate) cpu: CpuUse,
}

impl Outcome {
    pub(crate) fn per_sec(&self, n: u64) -> f64 {
        n as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Nearest-rank percentile, in milliseconds.
    pub(crate) fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let rank = (p * self.latencies_us.len() as f64).ceil() as usize;
        let index = rank.clamp(1, self.latencies_us.len()) - 1;
        self.latencies_us[index] as f64 / 1000.0
    }
}

/// Warm-up, then the measured run; failures of both count.
pub(crate) async fn measure<S: Step>(
    settings: &Settings,
    backend: &Backend,
    index: usize,
    total: usize,
    name: &str,
    step: Arc<S>,
) -> anyhow::Result<Outcome> {
    eprintln!(
        "[{index}/{total}] {name}: {} s warm-up, then {} s with {} concurrent clients…",
        settings.warmup.as_secs(),
        settings.duration.as_secs(),
        settings.concurrency
    );
    let warm = if settings.warmup.is_zero() {
        Outcome::default()
    } else {
        drive(step.clone(), settings.concurrency, settings.warmup).await?
    };
    let fsyncs_before = backend.fsyncs();
    let cpu_before = CpuSnapshot::now();
    let mut outcome = drive(step, settings.concurrency, settings.duration).await?;
    outcome.cpu = CpuSnapshot::now().since(cpu_before, outcome.elapsed);
    outcome.failures += warm.failures;
    let mut failures = warm.first_failures;
    failures.append(&mut outcome.first_failures);
    failures.truncate(5);
    outcome.first_failures = failures;
    let fsyncs = match (fsyncs_before, backend.fsyncs()) {
        (Some(before), Some(after)) => format!(
            ", {} fsyncs ({:.0} events per fsync)",
            after - before,
            outcome.events as f64 / (after - before).max(1) as f64
        ),
        _ => String::new(),
    };
    eprintln!(
        "      {:.0} requests/s, {:.0} events/s, p50 {:.2} ms, p99 {:.2} ms, {} failures, \
         cores busy: {:.2} this process / {:.2} machine{fsyncs}",
        outcome.per_sec(outcome.requests),
        outcome.per_sec(outcome.events),
        outcome.percentile_ms(0.50),
        outcome.percentile_ms(0.99),
        outcome.failures,
        outcome.cpu.process,
        outcome.cpu.machine,
    );
    Ok(outcome)
}

/// Runs `concurrency` workers looping on `step` until `duration` has
/// passed (or [`MAX_REQUESTS`] were issued), and waits for them all.
async fn drive<S: Step>(
    step: Arc<S>,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<Outcome> {
    let start = Instant::now();
    let deadline = start + duration;
    let issued = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::with_capacity(concurrency);
    for worker in 0..concurrency {
        let step = step.clone();
        let issued = issued.clone();
        workers.push(tokio::spawn(async move {
            let mut out = Outcome::default();
            while Instant::now() < deadline && issued.fetch_add(1, Ordering::Relaxed) < MAX_REQUESTS
            {
                let sent = Instant::now();
                match tokio::time::timeout(REQUEST_TIMEOUT, step.run(worker)).await {
                    Ok(Ok(events)) => {
                        out.requests += 1;
                        out.events += events;
                        out.latencies_us.push(sent.elapsed().as_micros() as u64);
                    }
                    Ok(Err(why)) => {
                        out.failures += 1;
                        if out.first_failures.len() < 3 {
                            out.first_failures.push(why);
                        }
                    }
                    Err(_) => {
                        out.failures += 1;
                        out.first_failures
                            .push(format!("no answer within {REQUEST_TIMEOUT:?}"));
                    }
                }
            }
            out
        }));
    }
    let mut total = Outcome::default();
    // Every worker stops within REQUEST_TIMEOUT of the deadline; this is
    // only a backstop.
    let joined = tokio::time::timeout(duration + 2 * REQUEST_TIMEOUT, async {
        for worker in &mut workers {
            let out = worker.await?;
            total.requests += out.requests;
            total.events += out.events;
            total.failures += out.failures;
            total.latencies_us.extend(out.latencies_us);
            total.first_failures.extend(out.first_failures);
        }
        anyhow::Ok(())
    })
    .await;
    match joined {
        Ok(result) => result?,
        Err(_) => {
            for worker in &workers {
                worker.abort();
            }
            bail!(
                "workers did not stop within {:?} of the deadline",
                2 * REQUEST_TIMEOUT
            );
        }
    }
    total.elapsed = start.elapsed();
    total.latencies_us.sort_unstable();
    Ok(total)
}
