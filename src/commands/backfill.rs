//! `revstream backfill`: a provider pull or a file import into the log the
//! deployment uses, with a progress bar on a terminal.
//!
//! ```text
//!  revstream backfill --tenant acme --source stripe --pull          # the tenant's stored credential
//!  revstream backfill --tenant acme --source stripe pages.json      # list-API pages exported earlier
//!  revstream backfill --tenant acme --source ndjson events.ndjson   # canonical events
//!  revstream backfill --tenant acme --source csv deals.csv --mapping deals.json
//! ```
//!
//! The log: Kafka with `--kafka`, else the embedded log in `--data-dir`.
//! The embedded log takes a directory lock, so while `revstream serve` runs
//! on that data dir the CLI cannot append to it; it says so and points to
//! the server's routes instead (`POST /v1/admin/tenants/{t}/sync/{source}`
//! for pulls, `POST /v1/events` for NDJSON) rather than queueing anything.
//! The pipeline (`serve` or `pipeline`) turns the appended events into
//! tables the next time it runs.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use revstream_ingest::log::EventLog;
use revstream_ingest::log::local::OpenError;
use revstream_ingest::sync::{
    CsvMapping, Progress, Provider, PullOptions, SyncTarget, import_csv, import_ndjson,
    import_pages, run_pull,
};
use revstream_registry::{SyncCounts, SyncStatus};
use revstream_schemas::TenantId;

use super::output;
use crate::cli::BackfillArgs;

/// The progress bar: pages and records, on stderr, hidden unless a terminal.
struct Bar(ProgressBar);

impl Bar {
    fn new() -> Self {
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        if let Ok(style) = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}") {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(120));
        bar.set_message("starting");
        Self(bar)
    }
}

impl Progress for Bar {
    fn update(&self, pages: u64, c: &SyncCounts) {
        self.0.set_message(format!(
            "{pages} page(s), {} record(s): {} created, {} updated, {} unchanged, {} failed",
            c.seen, c.created, c.updated, c.unchanged, c.failed
        ));
    }
}

pub(super) async fn run(args: BackfillArgs) -> anyhow::Result<()> {
    let tenant = TenantId::parse(&args.tenant).map_err(|e| anyhow::anyhow!("--tenant {e}"))?;
    let provider = Provider::parse(&args.source);
    let file = args.file.clone();
    match (&file, args.pull, provider) {
        (Some(_), true, _) => bail!("give a FILE or --pull, not both"),
        (None, false, _) => bail!("give a FILE to import, or --pull to read the provider's API"),
        (None, true, None) => bail!(
            "--pull reads a provider's API: use --source stripe, whop or calendly \
             (csv and ndjson are files)"
        ),
        _ => {}
    }
    if !["stripe", "whop", "calendly", "csv", "ndjson"].contains(&args.source.as_str()) {
        bail!(
            "unknown --source {:?}: use stripe, whop, calendly, csv or ndjson",
            args.source
        );
    }
    let mapping = csv_mapping(&args)?;

    let registry = args.registry.open().await?;
    let log = open_log(&args, &tenant).await?;
    let target = SyncTarget {
        registry: registry.clone(),
        log,
        tenant,
    };
    let mode = if args.pull { "pull" } else { "file" };
    let run = target
        .start(&args.source, mode)
        .await
        .context("starting the sync run")?;
    let bar = Bar::new();
    let run = match (file, provider) {
        (None, Some(p)) => {
            let options = PullOptions {
                base_url: args.base_url.clone(),
                ..PullOptions::default()
            };
            run_pull(&target, p, &options, run, &bar).await
        }
        (Some(path), Some(p)) => import_pages(&target, p, &path, run, &bar).await,
        (Some(path), None) if args.source == "ndjson" => {
            import_ndjson(&target, &path, run, &bar).await
        }
        (Some(path), None) => import_csv(&target, &path, &mapping, run, &bar).await,
        (None, None) => bail!("--pull needs --source stripe, whop or calendly"),
    };
    bar.0.finish_and_clear();
    registry.close().await;
    output::result(serde_json::to_string(&run)?)?;
    let c = run.counts;
    output::note(format!(
        "backfill {} ({}): {} record(s) seen, {} created, {} updated, {} unchanged, {} deleted, {} failed",
        run.id,
        run.status.as_str(),
        c.seen,
        c.created,
        c.updated,
        c.unchanged,
        c.deleted,
        c.failed
    ));
    if run.status == SyncStatus::Failed {
        bail!(
            "{}",
            run.error
                .unwrap_or_else(|| "the sync run failed".to_owned())
        );
    }
    Ok(())
}

fn csv_mapping(args: &BackfillArgs) -> anyhow::Result<CsvMapping> {
    let mut mapping = match &args.mapping {
        Some(path) => CsvMapping::from_file(path)?,
        None => CsvMapping::default(),
    };
    for flag in &args.map {
        mapping.map_flag(flag)?;
    }
    for flag in &args.set {
        mapping.set_flag(flag)?;
    }
    let has_mapping = !mapping.columns.is_empty();
    match (args.source.as_str(), has_mapping) {
        ("csv", false) => bail!(
            "a CSV import needs a column mapping: --mapping FILE (JSON) or --map COLUMN=FIELD"
        ),
        ("csv", true) => Ok(mapping),
        (_, true) => bail!("--mapping, --map and --set apply to --source csv only"),
        (_, false) => Ok(mapping),
    }
}

async fn open_log(args: &BackfillArgs, tenant: &TenantId) -> anyhow::Result<Arc<dyn EventLog>> {
    if let Some(brokers) = &args.kafka.kafka {
        return args.kafka.connect(brokers).await;
    }
    match args.local_log.open(&args.registry.data_dir) {
        Ok(log) => Ok(log),
        Err(e)
            if e.downcast_ref::<OpenError>()
                .is_some_and(|o| matches!(o, OpenError::Locked { .. })) =>
        {
            bail!(
                "the event log in {} is in use by a running `revstream serve`; backfill through \
                 it instead: POST /v1/admin/tenants/{tenant}/sync/{} (a pull), or POST /v1/events \
                 with the NDJSON file — or stop the server and run this again",
                args.registry.data_dir.display(),
                args.source
            )
        }
        Err(e) => Err(e),
    }
}
