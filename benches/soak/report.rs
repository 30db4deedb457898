//! The soak's results: one row per window, the memory verdict and the end
//! checks, as markdown for SOAK.md and stdout.

use std::fmt::Write as _;
use std::time::Duration;

use super::latency::{Latencies, fmt_ms, thousands};
use super::machine::{filesystem_of, machine, os, profile, rustc};
use super::probe::{Counters, ProcSample};
use super::record::{RetryCounts, Route, Routes};
use super::settings::Settings;

const MIB: f64 = 1024.0 * 1024.0;

/// One window of the run.
#[derive(Debug, Clone)]
pub(crate) struct Window {
    /// Seconds since the load started, at the end of the window.
    pub(crate) at: f64,
    pub(crate) secs: f64,
    pub(crate) proc: ProcSample,
    /// Cores busy on average: the serve process, the load generator (this
    /// process) and the whole machine.
    pub(crate) serve_cpu: f64,
    pub(crate) bench_cpu: f64,
    pub(crate) machine_cpu: f64,
    pub(crate) counters: Counters,
    /// Events accepted in this window.
    pub(crate) accepted_delta: u64,
    pub(crate) disk_bytes: u64,
    pub(crate) routes: Routes,
    /// Pipeline freshness p50 and p99 in this window (bucket upper bounds, s).
    pub(crate) freshness: (Option<f64>, Option<f64>),
}

impl Window {
    /// The cells of the windows table.
    fn cells(&self) -> Vec<String> {
        let mut cells = vec![
            format!("{:.1}", self.at / 60.0),
            format!("{:.1}", self.proc.rss_bytes as f64 / MIB),
            format!("{:.1}", self.proc.hwm_bytes as f64 / MIB),
            format!(
                "{:.1} / {:.1}",
                self.counters.heap_allocated as f64 / MIB,
                self.counters.heap_resident as f64 / MIB
            ),
            thousands(self.counters.state_events),
            format!("{:.1}", self.counters.query_held_bytes as f64 / MIB),
            self.proc.fds.to_string(),
            self.proc.threads.to_string(),
            format!(
                "{:.2} / {:.2} / {:.2}",
                self.serve_cpu, self.bench_cpu, self.machine_cpu
            ),
            format!("{:.0}", self.accepted_delta as f64 / self.secs.max(1e-9)),
            thousands(self.counters.accepted),
            thousands(self.counters.committed),
            thousands(self.counters.lag),
            format!("{:.1}", self.disk_bytes as f64 / MIB),
        ];
        for stats in &self.routes {
            let l = Latencies::new(stats.latencies.clone());
            cells.push(format!("{} / {}", fmt_ms(l.p50()), fmt_ms(l.p99())));
        }
        cells.push(format!(
            "{} / {}",
            bucket(self.freshness.0),
            bucket(self.freshness.1)
        ));
        let failures: u64 = self.routes.iter().map(|r| r.failures).sum();
        let refused: u64 = self.routes.iter().map(|r| r.refused).sum();
        let skipped: u64 = self.routes.iter().map(|r| r.skipped).sum();
        cells.push(format!("{failures} / {refused} / {skipped}"));
        cells
    }

    /// A line for the log while the run goes on.
    pub(crate) fn progress_line(&self) -> String {
        let p99 = |r: Route| {
            let stats = &self.routes[r.index()];
            fmt_ms(Latencies::new(stats.latencies.clone()).p99())
        };
        let failures: u64 = self.routes.iter().map(|r| r.failures).sum();
        format!(
            "  {:>6.1} min  RSS {:.1} MiB (peak {:.1})  fds {}  threads {}  CPU {:.2}  \
             accepted {}  committed {}  p99 ms: webhooks {} batches {} metrics {} SQL {}  failures {}",
            self.at / 60.0,
            self.proc.rss_bytes as f64 / MIB,
            self.proc.hwm_bytes as f64 / MIB,
            self.proc.fds,
            self.proc.threads,
            self.serve_cpu,
            thousands(self.counters.accepted),
            thousands(self.counters.committed),
            p99(Route::Webhook),
            p99(Route::Batch),
            p99(Route::Dashboard),
            p99(Route::Sql),
            failures
        )
    }
}

fn bucket(seconds: Option<f64>) -> String {
    match seconds {
        None => "n/a".to_owned(),
        Some(s) if s.is_infinite() => "> max".to_owned(),
        Some(s) => format!("≤ {}", fmt_ms(s * 1000.0)),
    }
}

/// Whether memory stayed flat, and the numbers behind the answer.
#[derive(Debug, Clone)]
pub(crate) struct MemoryVerdict {
    /// `None`: too few windows after the warm-up to say.
    pub(crate) flat: Option<bool>,
    pub(crate) text: String,
}

/// Median RSS of the first and last third of the windows after the
/// warm-up, the slope over time and per committed event.
pub(crate) fn memory_verdict(settings: &Settings, windows: &[Window]) -> MemoryVerdict {
    let warm = settings.warmup.as_secs_f64();
    let measured: Vec<&Window> = windows.iter().filter(|w| w.at - w.secs >= warm).collect();
    if measured.len() < 3 {
        return MemoryVerdict {
            flat: None,
            text: format!(
                "not enough windows after the {:.0} s warm-up for a verdict ({} of at least 3)",
                warm,
                measured.len()
            ),
        };
    }
    let third = measured.len() / 3;
    let median = |ws: &[&Window]| {
        let mut rss: Vec<u64> = ws.iter().map(|w| w.proc.rss_bytes).collect();
        rss.sort_unstable();
        rss[rss.len() / 2] as f64
    };
    let first = median(&measured[..third]);
    let last = median(&measured[measured.len() - third..]);
    let growth_pct = (last - first) / first.max(1.0) * 100.0;
    let flat = growth_pct <= settings.rss_tolerance_pct;
    let per_hour = slope(
        measured
            .iter()
            .map(|w| (w.at, w.proc.rss_bytes as f64))
            .collect(),
    ) * 3600.0
        / MIB;
    let per_event = slope(
        measured
            .iter()
            .map(|w| (w.counters.committed as f64, w.proc.rss_bytes as f64))
            .collect(),
    );
    // The same over the live heap and the pipeline's state: RSS growth that
    // the heap does not show is the allocator holding freed pages.
    let heap_per_event = slope(
        measured
            .iter()
            .map(|w| {
                (
                    w.counters.committed as f64,
                    w.counters.heap_allocated as f64,
                )
            })
            .collect(),
    );
    let last_window = measured[measured.len() - 1];
    let (fds_first, fds_last) = (measured[0].proc.fds, measured[measured.len() - 1].proc.fds);
    let (threads_first, threads_last) = (
        measured[0].proc.threads,
        measured[measured.len() - 1].proc.threads,
    );
    let text = format!(
        "**{}**: median RSS {:.1} MiB over the first third of the {} windows after the {:.0} s warm-up, \
         {:.1} MiB over the last third: {:+.1} % (tolerance {:.0} %). Least-squares slope over those windows: \
         {:+.1} MiB/hour, {:+.0} bytes per committed event. The live heap (jemalloc `stats.allocated`): \
         {:.1} → {:.1} MiB over the same windows, {:+.0} bytes per committed event; the pipeline's state held \
         {} events at the end. File descriptors {} → {}, threads {} → {}.",
        if flat {
            "Memory is flat"
        } else {
            "Memory is NOT flat"
        },
        first / MIB,
        measured.len(),
        warm,
        last / MIB,
        growth_pct,
        settings.rss_tolerance_pct,
        per_hour,
        per_event,
        measured[0].counters.heap_allocated as f64 / MIB,
        last_window.counters.heap_allocated as f64 / MIB,
        heap_per_event,
        thousands(last_window.counters.state_events),
        fds_first,
        fds_last,
        threads_first,
        threads_last,
    );
    MemoryVerdict {
        flat: Some(flat),
        text,
    }
}

/// Least-squares slope of y over x (0 when x does not vary).
fn slope(points: Vec<(f64, f64)>) -> f64 {
    let n = points.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx == 0.0 { 0.0 } else { sxy / sxx }
}

/// Everything the report says beyond the windows.
#[derive(Debug, Clone)]
pub(crate) struct Summary {
    pub(crate) load_before: String,
    pub(crate) load_after: String,
    pub(crate) elapsed: Duration,
    pub(crate) tenants: u64,
    pub(crate) stream_customers: u64,
    pub(crate) stream_events: u64,
    pub(crate) start: ProcSample,
    pub(crate) after_drain: Option<ProcSample>,
    pub(crate) final_counters: Counters,
    pub(crate) expected_events: u64,
    /// Events of failed ingest requests, which may or may not be in.
    pub(crate) in_doubt_events: u64,
    pub(crate) stored_events: Option<u64>,
    pub(crate) drain: Option<Duration>,
    pub(crate) totals: Routes,
    pub(crate) retries: RetryCounts,
    pub(crate) shutdown: String,
    pub(crate) log_lines: (usize, usize),
    pub(crate) data_dir: std::path::PathBuf,
    pub(crate) passed: bool,
    /// Why the run failed, each reason on its own; empty when it passed.
    pub(crate) problems: Vec<String>,
    pub(crate) failure_samples: Vec<String>,
    pub(crate) memory: MemoryVerdict,
}

pub(crate) fn render(settings: &Settings, windows: &[Window], s: &Summary) -> String {
    let mut md = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(md, "# revstream soak test\n");
    let _ = writeln!(
        md,
        "Written by `cargo bench --bench soak` (issue #9): the real `revstream serve` binary under mixed load for \
         {:.0} min, sampled every {:.0} s. The run took {:.0} s in all.\n",
        settings.duration.as_secs_f64() / 60.0,
        settings.window.as_secs_f64(),
        s.elapsed.as_secs_f64()
    );
    let _ = writeln!(
        md,
        "**Result: {}.**\n",
        if s.passed {
            "passed (no failed request, no lost event)".to_owned()
        } else {
            format!("FAILED — {}", s.problems.join("; "))
        }
    );
    let _ = writeln!(md, "{}\n", s.memory.text);

    let _ = writeln!(md, "## Setup\n");
    let _ = writeln!(md, "- machine: {}; {}", machine(), os());
    let _ = writeln!(md, "- toolchain: {}; profile: {}", rustc(), profile());
    let _ = writeln!(
        md,
        "- load average before the run: {}; after: {} (the machine was shared: other builds and tests may have \
         run beside the soak, see the machine CPU column)",
        s.load_before, s.load_after
    );
    let _ = writeln!(
        md,
        "- server: `revstream serve` with its defaults (embedded log, SQLite registry, local Delta tables) in a \
         temp data dir on {}, started by the bench and stopped with SIGTERM at the end",
        filesystem_of(&s.data_dir)
    );
    let _ = writeln!(
        md,
        "- {} tenants created through the admin API, each with Stripe, Whop and Calendly webhook secrets and \
         ingest, viewer and analyst keys",
        s.tenants
    );
    let _ = writeln!(
        md,
        "- new events: {:.0}/s offered — {:.1} signed webhook deliveries/s (half Stripe subscription updates and \
         charges, a quarter Whop payments, a quarter Calendly bookings; from the fixtures, about {} customers per \
         tenant) and {:.2} producer batches/s of {} events (each tenant's realistic stream from \
         `benches/common/generator.rs`: {} events, {} subscribed customers over {} days of history)",
        settings.rate,
        settings.webhook_rate(),
        thousands(settings.customers),
        settings.batch_rate(),
        settings.batch,
        thousands(s.stream_events),
        thousands(s.stream_customers),
        settings.days
    );
    let _ = writeln!(
        md,
        "- retries: {} % of webhooks delivered again 1–30 s later, {} % of batches sent twice",
        settings.duplicate_pct, settings.duplicate_pct
    );
    let _ = writeln!(
        md,
        "- queries: {:.1}/s `GET /v1/metrics` (two years by month, by day, by closer, the last 30 days) and \
         {:.1}/s ad-hoc SQL over `POST /v1/query` (MRR movements by month, cash by month, closer leaderboard, \
         top customers, events by type)",
        settings.dashboard_rate(),
        settings.sql_rate()
    );
    let _ = writeln!(
        md,
        "- open loop: every stream sends on a fixed clock whatever the answers take, at most {} requests of a \
         stream in flight\n",
        settings.max_in_flight
    );

    let _ = writeln!(md, "## Totals\n");
    let c = &s.final_counters;
    let _ = writeln!(
        md,
        "| route | requests answered 2xx | p50 ms | p99 ms | max ms | failed | refused (429/503) | skipped ticks |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for (route, stats) in Route::ALL.iter().zip(s.totals.iter()) {
        let l = Latencies::new(stats.latencies.clone());
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            route.name(),
            thousands(l.len() as u64),
            fmt_ms(l.p50()),
            fmt_ms(l.p99()),
            fmt_ms(l.max()),
            stats.failures,
            stats.refused,
            stats.skipped
        );
    }
    let _ = writeln!(md);
    let _ = writeln!(
        md,
        "- events: {} accepted by ingest (appended to the log), {} read by the pipeline, {} committed, {} dropped \
         by the pipeline's dedupe, {} undecodable; the load expected {} distinct events (and {} more of failed \
         requests may be in); {} rows in the `events` tables after the drain",
        thousands(c.accepted),
        thousands(c.records_read),
        thousands(c.committed),
        thousands(c.pipeline_duplicates),
        c.undecodable,
        thousands(s.expected_events),
        thousands(s.in_doubt_events),
        s.stored_events.map_or_else(|| "n/a".to_owned(), thousands)
    );
    let r = &s.retries;
    let _ = writeln!(
        md,
        "- retries: {} webhook re-deliveries ({} answered `duplicate` by ingest), {} batches re-sent ({} of their {} \
         rows answered as duplicates); {} events answered `duplicate` by ingest in all",
        thousands(r.webhooks),
        thousands(r.webhooks_duplicate),
        thousands(r.batches),
        thousands(r.batch_rows_duplicate),
        thousands(r.batch_rows),
        thousands(c.ingest_duplicates)
    );
    let _ = writeln!(
        md,
        "- pipeline: {} commits, {} failed commits; drain after the load: {}",
        thousands(c.commits),
        c.commit_failures,
        s.drain.map_or_else(
            || "did not finish".to_owned(),
            |d| format!("{:.1} s", d.as_secs_f64())
        )
    );
    let after = s.after_drain.unwrap_or_default();
    let _ = writeln!(
        md,
        "- serve process: RSS {:.1} MiB after start-up and tenant set-up, {:.1} MiB after the drain ({:.1} MiB of it \
         anonymous, i.e. heap), peak {:.1} MiB; {} → {} fds; {} → {} threads; {:.0} CPU s in all",
        s.start.rss_bytes as f64 / MIB,
        after.rss_bytes as f64 / MIB,
        after.anon_bytes as f64 / MIB,
        after.hwm_bytes as f64 / MIB,
        s.start.fds,
        after.fds,
        s.start.threads,
        after.threads,
        after.cpu_secs
    );
    let _ = writeln!(
        md,
        "- shutdown: {}; the server logged {} warnings and {} errors\n",
        s.shutdown, s.log_lines.0, s.log_lines.1
    );
    if !s.failure_samples.is_empty() {
        let _ = writeln!(md, "First failures:\n");
        for f in &s.failure_samples {
            let _ = writeln!(md, "- `{}`", f.replace('`', "'"));
        }
        let _ = writeln!(md);
    }

    let _ = writeln!(md, "## Windows\n");
    let _ = writeln!(
        md,
        "Each row covers the {:.0} s before it. RSS, peak (VmHWM), fds and threads of the serve process at the \
         end of the window; heap = jemalloc's `stats.allocated` (in use) and `stats.resident` (pages it holds, \
         in use or freed and not yet returned) from `/metrics`; state events = events held in the pipeline's \
         per-tenant state; indexes + cache = the query side's /v1/metrics indexes and result cache; CPU in cores busy on average (serve / load generator / whole machine); events/s \
         accepted in the window; counters since the start; lag = records behind the end of the log at the last \
         pipeline cycle; data = bytes in the data dir (log, registry, tables); latencies p50 / p99 in ms of the \
         requests answered 2xx in the window; freshness = the pipeline's `revstream_pipeline_freshness_seconds` \
         (ingest → commit) p50 / p99 in the window, as the upper bound of its histogram bucket; fail / refused / \
         skipped requests in the window. Windows before {:.0} s are the warm-up.\n",
        settings.window.as_secs_f64(),
        settings.warmup.as_secs_f64()
    );
    let header = [
        "min",
        "RSS MiB",
        "peak MiB",
        "heap MiB allocated / resident",
        "state events",
        "indexes + cache MiB",
        "fds",
        "threads",
        "CPU serve / gen / machine",
        "events/s",
        "accepted",
        "committed",
        "lag",
        "data MiB",
        "webhooks ms",
        "batches ms",
        "/v1/metrics ms",
        "SQL ms",
        "freshness ms",
        "fail / refused / skipped",
    ];
    let _ = writeln!(md, "| {} |", header.join(" | "));
    let _ = writeln!(
        md,
        "|{}",
        header.iter().map(|_| "---:|").collect::<String>()
    );
    for w in windows {
        let _ = writeln!(md, "| {} |", w.cells().join(" | "));
    }
    let _ = writeln!(md);
    let _ = writeln!(md, "## Reading it\n");
    let _ = writeln!(
        md,
        "- Flat memory means the median RSS of the last third of the windows after the warm-up is within \
         {:.0} % of that of the first third. Bounded by design and filling during a run: the ingest dedupe \
         cache of recent event ids (1,000,000 ids), the query result cache (64 MiB), DataFusion's Parquet \
         metadata cache (50 MiB). Growing with stored data by \
         design: the pipeline's per-tenant state (every distinct event without its raw payload), so bytes per \
         committed event is the figure to watch when the verdict is not flat.",
        settings.rss_tolerance_pct
    );
    let _ = writeln!(
        md,
        "- A failed request (transport error, timeout, non-2xx other than 429/503, an answer that does not add \
         up) or a lost event (the pipeline not committing every distinct event the load had accepted, after the \
         drain) fails the run{}.",
        if settings.strict_memory {
            ", and so does memory that is not flat (REVSTREAM_SOAK_STRICT_MEMORY=1)"
        } else {
            "; memory that is not flat is reported, and fails the run with REVSTREAM_SOAK_STRICT_MEMORY=1"
        }
    );
    md
}
