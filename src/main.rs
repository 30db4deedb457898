//! The `revstream` binary: every role and admin command behind one CLI.
//!
//! `serve` runs all roles in one process on embedded defaults; `ingest`,
//! `pipeline` and `query` run one role each for scale-out; the rest manage
//! the tenant registry. See `revstream --help`.

mod cli;
mod commands;
mod pipeline_task;
mod registry_args;
mod role_args;
mod shutdown;
mod telemetry;

use clap::Parser;

/// jemalloc instead of glibc's malloc or mimalloc. Buffers here are
/// often filled on one thread and freed on another (a log read on a
/// blocking thread, decoded on the pipeline's; a Parquet range read for a
/// query), and the allocators that keep a heap per thread held on to what
/// they freed: under the soak's load, glibc's arenas kept 3 GiB for 0.6 GiB
/// in use (session 4), and mimalloc's RSS was ~1 GiB after 5 minutes for a
/// live heap heaptrack put at 128 MiB. jemalloc's few shared arenas, which
/// give freed pages back on a decay timer, ended the same 5-minute soak at
/// 533 MiB (mimalloc: 728 MiB, both with the blocking pool below) with the
/// same CPU and latencies. The `jemalloc` feature is on by default; heap
/// profilers that hook malloc need it off (`--no-default-features`).
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Most threads tokio's blocking pool may run at once. The pool serves
/// file I/O: the local log's reads and appends, and every read and write of
/// the tables (object_store's local files). Short calls: on 2 cores a few
/// dozen threads are plenty, where tokio's default allows 512.
///
/// One kind of call waits on the pool itself: delta-rs builds a table's
/// snapshot on a blocking thread that waits for its file reads, run on
/// others. If such builds held every thread, the process would hang. At
/// most 16 run at once (one refresh of the query side's 8 tables at a time,
/// and the pipeline's commits, one per table), so half the pool stays free
/// for their reads.
const MAX_BLOCKING_THREADS: usize = 32;

/// How long an idle blocking thread waits for work before it exits (tokio's
/// default is 10 s). A buffer filled on a blocking thread (a log read, a
/// Parquet range) is freed on another thread; an allocator with per-thread
/// heaps takes such memory back only when the owning thread allocates
/// again, and never once the thread has exited. With tokio's defaults the
/// soak's serve process ran 94 threads, replaced as they idled out, and
/// (on mimalloc) grew 679 → 1057 MiB RSS over its first 5 minutes; with
/// this pool, 45 threads and 593 → 756 MiB.
const BLOCKING_KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(3600);

fn main() -> std::process::ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .thread_keep_alive(BLOCKING_KEEP_ALIVE)
        .build();
    match runtime {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    init_tracing(cli.log_format);
    // Before anything slow: a stop asked for during start-up is kept.
    shutdown::listen();
    match commands::run(cli.command).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` prints the whole context chain on one line: the
            // operator sees what failed and why.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_tracing(format: cli::LogFormat) {
    // The table libraries log every scan at info; keep their warnings only.
    let filter = tracing_subscriber::EnvFilter::try_from_env("REVSTREAM_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,buoyant_kernel=warn,delta_kernel=warn,deltalake=warn,deltalake_core=warn,datafusion=warn")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        cli::LogFormat::Json => builder.json().init(),
        cli::LogFormat::Text => builder.init(),
    }
}
