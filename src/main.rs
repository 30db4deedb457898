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

/// mimalloc instead of glibc's malloc: the query engine and the pipeline
/// allocate and free large short-lived buffers on many threads, and glibc's
/// per-thread arenas kept those pages (the soak measured 3 GiB held by
/// malloc for 0.6 GiB in use, growing with every minute of load). The
/// `mimalloc` feature is on by default; heap profilers need it off.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
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
