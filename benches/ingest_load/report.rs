//! The markdown report and the machine description.

use std::path::Path;

use super::cpu::CpuUse;
use super::driver::Outcome;
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
    println!(
        "- build profile: {}",
        if cfg!(debug_assertions) {
            "debug (numbers not representative; use cargo bench)"
        } else {
            "release (cargo bench)"
        }
    );
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

/// `nproc`, the CPU model and memory, from /proc where available.
fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim())
        .to_owned();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(String::new(), |kb| {
            format!(", {:.0} GiB RAM", kb / 1024.0 / 1024.0)
        });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("nproc {cpus}, {model}{mem_gib}, Linux {}", kernel.trim())
}

/// The filesystem type of the mount holding `dir`, from /proc/mounts.
fn filesystem_of(dir: &Path) -> String {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    mounts
        .lines()
        .filter_map(|l| {
            let mut fields = l.split_whitespace();
            let _device = fields.next()?;
            let mount = fields.next()?;
            let kind = fields.next()?;
            dir.starts_with(mount)
                .then(|| (mount.len(), kind.to_owned()))
        })
        .max_by_key(|(len, _)| *len)
        .map_or_else(|| "an unknown filesystem".to_owned(), |(_, kind)| kind)
}
