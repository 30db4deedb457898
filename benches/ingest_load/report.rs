//! The markdown report.

use std::path::Path;

use super::cpu::CpuUse;
use super::driver::Outcome;
use super::machine::{filesystem_of, machine, profile};
use super::{Backend, Settings};

pub(crate) struct Row {
    scenario: String,
    requests_per_sec: f64,
    events_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    vs_raw: String,
    cpu: CpuUse,
}

impl Row {
    pub(crate) fn new(scenario: &str, outcome: &Outcome, raw: Option<&Outcome>) -> Self {
        let events_per_sec = outcome.per_sec(outcome.events);
        let vs_raw = match raw {
            Some(raw) => format!(
                "{:.1} %",
                100.0 * events_per_sec / raw.per_sec(raw.events).max(1e-9)
            ),
            None => "100 % (ceiling)".to_owned(),
        };
        Self {
            scenario: scenario.to_owned(),
            requests_per_sec: outcome.per_sec(outcome.requests),
            events_per_sec,
            p50_ms: outcome.percentile_ms(0.50),
            p99_ms: outcome.percentile_ms(0.99),
            vs_raw,
            cpu: outcome.cpu,
        }
    }
}

pub(crate) fn print_report(
    settings: &Settings,
    backend: &Backend,
    dir: &Path,
    load_before: &str,
    rows: &[Row],
) {
    let log = backend.log().describe();
    println!();
    println!("## revstream ingest load: {log}");
    println!();
    println!("- machine: {}", machine());
    println!("- /proc/loadavg before the run: {load_before}");
    println!("- build profile: {}", profile());
    if let Backend::Local(_) = backend {
        println!(
            "- local log: {} partitions, fsync per group commit, data on {}",
            settings.local_partitions,
            filesystem_of(dir)
        );
    }
    println!(
        "- load: {} concurrent HTTP/1.1 clients (one connection each) in the same process as the server, \
         {} tenants, {} s per scenario after {} s warm-up; webhooks alternate a 6 kB subscription.updated \
         and a 3 kB charge.succeeded; batches mix subscription.updated / payment.succeeded / call.booked 2:2:1",
        settings.concurrency,
        settings.tenants,
        settings.duration.as_secs(),
        settings.warmup.as_secs()
    );
    println!();
    println!(
        "| scenario | concurrency | requests/s | events/s | p50 ms | p99 ms | vs raw log | cores busy: process / machine |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        println!(
            "| {} | {} | {:.0} | {:.0} | {:.2} | {:.2} | {} | {:.2} / {:.2} |",
            row.scenario,
            settings.concurrency,
            row.requests_per_sec,
            row.events_per_sec,
            row.p50_ms,
            row.p99_ms,
            row.vs_raw,
            row.cpu.process,
            row.cpu.machine
        );
    }
    println!();
    println!(
        "Cores busy near nproc for the machine but well below for this process mean other \
         programs shared the cores: read the rates as lower bounds."
    );
    println!();
}
